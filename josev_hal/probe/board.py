"""``probe board``: set up a board profile's devices and show what each one says, read-only.

For every device: its driver's :meth:`~josev_hal.devices.Driver.describe`, one reading (the
role's ``read()``; the RFID reader is not polled, a poll would consume a presented token), and
for ``modbus-meter`` devices the model the meter's registers match next to the configured one.
Nothing is switched: setting up the board leaves contactors open and the CP at its idle output,
as the daemon's start-up does.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from datetime import datetime
from typing import Any

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
        f.name: _plain(getattr(reading, f.name))
        for f in dataclasses.fields(reading)
        if f.name not in ("taken_at", "utc") and getattr(reading, f.name) is not None
    }


def _meter_check(driver: Driver) -> str | None:
    """For a ``modbus-meter``: a note when the registers do not match the configured model."""
    try:
        from josev_hal_modbus import ModbusMeter, identify
    except ImportError:  # pragma: no cover - shipped with josev-hal
        return None
    if not isinstance(driver, ModbusMeter):
        return None
    found = identify(driver.bus, driver.unit)
    if found is None:
        return f"unit {driver.unit} is silent or its registers match no shipped model"
    configured = driver.opts.model
    if configured is not None and found.name != configured and not configured.startswith(found.name):
        return f"registers match {found.name}, the profile says {configured}"
    return None


def probe_board(board: Board) -> list[Found]:
    """One :class:`Found` per device of the set-up ``board`` (``notes`` name every problem)."""
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
            try:
                note = _meter_check(driver)
            except DeviceError as exc:
                note = f"identification failed: {exc}"
            if note:
                notes.append(note)
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
