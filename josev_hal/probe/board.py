"""``probe board``: set up a board profile's devices and show what each one says, read-only.

For every device: its driver's :meth:`~josev_hal.devices.Driver.describe`, one reading (the
role's ``read()``; the RFID reader is not polled, a poll would consume a presented token), and
what the plugins note on it through ``hal_probe_device`` (the modbus plugin: the model a
``modbus-meter``'s registers match next to the configured one).
Nothing is switched: setting up the board leaves contactors open and the CP at its idle output,
as the daemon's start-up does.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from datetime import datetime
from typing import Any

import msgspec
import pluggy

from josev_hal.board import Board
from josev_hal.devices import Driver, Reading, Role
from josev_hal.errors import DeviceError
from josev_hal.probe import Found

__all__ = ["probe_board", "reading_json"]

log = logging.getLogger(__name__)

_READABLE = frozenset(Role) - {Role.ID_TOKEN_READER}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, msgspec.Struct):  # readings and their value types (josev_hal.devices)
        return {name: _plain(getattr(value, name)) for name in value.__struct_fields__}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def reading_json(reading: Reading) -> dict[str, Any]:
    """A reading's values, JSON-ready, without its timestamps."""
    return {
        name: _plain(getattr(reading, name))
        for name in reading.__struct_fields__
        if name not in ("taken_at", "utc") and getattr(reading, name) is not None
    }


def _plugin_notes(pm: pluggy.PluginManager, driver: Driver) -> list[str]:
    """What the plugins say about ``driver`` (``hal_probe_device``), in plugin order."""
    from josev_hal.plugins import call_each

    notes: list[str] = []
    for _plugin, said in call_each(pm, "hal_probe_device", device=driver):
        notes.extend(said or ())
    return notes


def probe_board(board: Board, pm: pluggy.PluginManager) -> list[Found]:
    """One :class:`Found` per device of the set-up ``board`` (``notes`` name every problem: a
    failed read, and what the plugins of ``pm`` note through ``hal_probe_device``)."""
    found: list[Found] = []
    for evse in board.evses:
        for role, driver in evse.devices.items():
            spec = evse.spec.devices[role]
            bus = driver.config.bus
            notes: list[str] = []
            reading: dict[str, Any] = {"describe": _plain(driver.describe())}
            if role in _READABLE and callable(getattr(driver, "read", None)):
                try:
                    reading["read"] = reading_json(driver.read())  # type: ignore[attr-defined]
                except DeviceError as exc:
                    notes.append(f"read failed: {exc}")
            notes += _plugin_notes(pm, driver)
            found.append(
                Found(
                    bus=bus.kind if bus is not None else "none",
                    location={
                        "port": bus.describe() if bus is not None else None,
                        "evse": evse.id,
                        "device": driver.device_id,
                    },
                    address=driver.config.address,
                    model=spec.driver,
                    reading=reading,
                    driver=spec.driver,
                    notes=notes,
                )
            )
    return found
