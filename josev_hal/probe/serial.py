"""``probe serial``: find Modbus RTU meters on a line by sweeping baud rates and unit ids.

For each baud rate the line is opened with the given parity and every unit id not yet identified
is asked by the modbus plugin's :func:`josev_hal_modbus.scan` (model identification by
registers). A unit identified at one rate is not asked again at the later ones (a meter answers
at its own rate only; a silent unit costs one timeout). Every identified meter then gets one
live reading through the real ``modbus-meter`` driver.

Reading registers is all this probe does: nothing is written to a meter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, MeterReading
from josev_hal.errors import ConfigError, DeviceError
from josev_hal.probe import Found

__all__ = ["DEFAULT_BAUDS", "meter_reading_json", "parse_bauds", "parse_ids", "probe_serial"]

log = logging.getLogger(__name__)

#: The rates meters ship with, most common first (Eastron/Carlo Gavazzi 9600, ABB 19200 ...).
DEFAULT_BAUDS: tuple[int, ...] = (9600, 19200, 38400, 57600, 115200, 4800, 2400)

#: Called once per (baud rate, unit id) tried: ``(baudrate, unit)``.
Progress = Callable[[int, int], None]


def parse_ids(text: str) -> list[int]:
    """``"1-10,20"`` -> ``[1, ..., 10, 20]`` (Modbus unit ids 1..247). Raises ValueError."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            first, last = (int(low), int(high)) if sep else (int(low), int(low))
        except ValueError:
            raise ValueError(f"not a unit id or range: {part!r}") from None
        if not 1 <= first <= last <= 247:
            raise ValueError(f"unit ids must be 1..247 (low <= high), got {part!r}")
        ids += [i for i in range(first, last + 1) if i not in ids]
    if not ids:
        raise ValueError("no unit ids given")
    return ids


def parse_bauds(text: str) -> list[int]:
    """``"9600,19200"`` -> ``[9600, 19200]``. Raises ValueError."""
    bauds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) <= 0:
            raise ValueError(f"not a baud rate: {part!r}")
        if int(part) not in bauds:
            bauds.append(int(part))
    if not bauds:
        raise ValueError("no baud rates given")
    return bauds


def meter_reading_json(reading: MeterReading) -> dict[str, Any]:
    """The values of a meter reading that the meter provided, JSON-ready (V, A, W, Wh, Hz)."""
    out: dict[str, Any] = {}
    for name in ("voltage_v", "current_a"):
        phases = getattr(reading, name)
        if phases is not None:
            out[name] = [round(phases.l1, 3), round(phases.l2, 3), round(phases.l3, 3)]
    for name in (
        "power_w",
        "energy_import_wh",
        "energy_export_wh",
        "frequency_hz",
        "power_factor",
        "dc_voltage_v",
        "dc_current_a",
    ):
        value = getattr(reading, name)
        if value is not None:
            out[name] = round(float(value), 3)
    return out


def _live_reading(bus: SerialBus, unit: int, model: str) -> dict[str, Any]:
    from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions

    options = ModbusMeterOptions(model=model, retries=1, backoff_s=0.01)
    meter = ModbusMeter(DeviceConfig(f"probe.unit{unit}", options, bus=bus, address=unit, plugin="modbus"))
    try:
        return meter_reading_json(meter.read())
    except DeviceError as exc:
        return {"error": str(exc)}


def probe_serial(
    port: str,
    bauds: Sequence[int],
    units: Sequence[int],
    *,
    parity: str = "N",
    timeout_s: float = 0.1,
    progress: Progress | None = None,
) -> list[Found]:
    """Sweep ``bauds`` x ``units`` on ``port``; every unit that answers, with its model (``None``
    for a device no shipped model matches) and a live reading.

    Raises :class:`~josev_hal.errors.BusError` when the port cannot be opened and
    :class:`~josev_hal.errors.ConfigError` when the modbus plugin is not installed.
    """
    try:
        from josev_hal_modbus import scan
    except ImportError as exc:  # pragma: no cover - shipped with josev-hal
        raise ConfigError(f"the modbus plugin (josev_hal_modbus) is not installed: {exc}") from exc

    identified: list[Found] = []
    # Units that answered without matching a model are asked again at the later rates: at a
    # wrong rate a meter may answer garbage, and that must not hide it at its own rate.
    unknown: dict[int, Found] = {}
    for baud in bauds:
        options = {"port": port, "baudrate": baud, "parity": parity, "timeout_s": timeout_s}
        try:
            bus = SerialBus("probe", msgspec.convert(options, SerialBusOptions))
        except msgspec.ValidationError as exc:
            raise ConfigError(f"serial line settings: {exc}") from exc
        bus.setup()
        try:
            for unit in units:
                if progress is not None:
                    progress(baud, unit)
                if any(f.address == unit for f in identified):
                    continue
                results = scan(bus, [unit], timeout_s=timeout_s)
                if not results:
                    continue
                model = results[0].model
                log.info("probe serial found unit=%d baud=%d model=%s", unit, baud, model and model.name)
                location = {"port": port, "baudrate": baud, "parity": parity}
                if model is None:
                    note = "answers, but matches no shipped meter model"
                    unknown.setdefault(unit, Found("serial", location, unit, None, notes=[note]))
                    continue
                unknown.pop(unit, None)
                reading = _live_reading(bus, unit, model.name)
                identified.append(Found("serial", location, unit, model.name, reading, driver="modbus-meter"))
        finally:
            bus.release()
    return sorted([*identified, *unknown.values()], key=lambda f: f.address or 0)
