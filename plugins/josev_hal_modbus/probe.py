"""``josev-hal probe serial``: find Modbus RTU meters on a line by sweeping baud rates and unit
ids; and the meter-model check of ``josev-hal probe board``.

The modbus plugin offers both through hooks (``hal_probe_tools``: :class:`SerialProbe`;
``hal_probe_device``: :func:`device_notes`), so the core never imports this module.

For each baud rate the line is opened with the given parity and every unit id not yet identified
is asked by :func:`josev_hal_modbus.identify.scan` (model identification by registers). A unit
identified at one rate is not asked again at the later ones (a meter answers at its own rate
only; a silent unit costs one timeout). Every identified meter then gets one live reading
through the real ``modbus-meter`` driver.

Reading registers is all this probe does: nothing is written to a meter.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, Driver, MeterReading
from josev_hal.errors import ConfigError, DeviceError
from josev_hal.probe import Found

from .driver import ModbusMeter, ModbusMeterOptions
from .identify import identify, scan

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = [
    "DEFAULT_BAUDS",
    "SerialProbe",
    "device_notes",
    "meter_reading_json",
    "parse_bauds",
    "parse_ids",
    "probe_serial",
]

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
    :class:`~josev_hal.errors.ConfigError` for line settings the serial bus refuses.
    """
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


# --------------------------------------------------------------------------------------------
# josev-hal probe serial / probe board
# --------------------------------------------------------------------------------------------


class SerialProbe:
    """Sweep baud rates and Modbus unit ids on a serial port, identify meter models by their
    registers (read-only) and show a live reading of each meter. A unit identified at one rate
    is not asked again at the later ones."""

    help = "sweep baud rates and Modbus unit ids for energy meters"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", required=True, help="serial device (/dev/ttyUSB0) or pyserial URL")
        parser.add_argument(
            "--bauds",
            default="9600,19200,38400,57600,115200,4800,2400",
            help="baud rates to try, in order (default: %(default)s)",
        )
        parser.add_argument(
            "--ids", default="1-10", help="unit ids, e.g. 1-10,20 (default %(default)s; all: 1-247)"
        )
        parser.add_argument("--parity", default="N", choices=("N", "E", "O"), help="parity (default N)")
        parser.add_argument(
            "--timeout-s", type=float, default=0.1, help="answer timeout per request (default %(default)s s)"
        )

    def run(self, args: argparse.Namespace, pm: HalPluginManager) -> int:
        from josev_hal.errors import HalError
        from josev_hal.probe.draft import merge_serial
        from josev_hal.probe.tool import (
            EXIT_RUNTIME,
            EXIT_USAGE,
            bus_board,
            draft,
            emit,
            error,
            exit_code,
            plugin_lines,
            progress,
        )

        try:
            bauds, ids = parse_bauds(args.bauds), parse_ids(args.ids)
        except ValueError as exc:
            error(str(exc))
            return EXIT_USAGE
        if args.timeout_s <= 0:
            error("--timeout-s must be > 0")
            return EXIT_USAGE
        with progress(args, f"serial {args.port}", len(bauds) * len(ids)) as advance:
            done = [0]

            def step(baud: int, unit: int) -> None:
                done[0] += 1
                advance(done[0], f"{args.port} {baud} baud unit {unit}")

            try:
                found = probe_serial(
                    args.port, bauds, ids, parity=args.parity, timeout_s=args.timeout_s, progress=step
                )
            except HalError as exc:
                error(str(exc))
                return EXIT_RUNTIME
        emit(args, found, f"no Modbus device answers on {args.port} (bauds {args.bauds}, ids {args.ids})")
        if not args.json:
            baud = found[0].location["baudrate"] if found else bauds[0]
            bus = SerialBus("probe", SerialBusOptions(port=args.port, baudrate=baud, parity=args.parity))
            try:
                bus.setup()
                plugin_lines(pm, bus_board({"probe": bus}))
            except HalError as exc:
                log.warning("plugin lines skipped: %s", exc)
            finally:
                bus.release()
        return exit_code(draft(args, pm, lambda data: merge_serial(data, found)), bool(found))


def device_notes(device: Driver) -> list[str] | None:
    """For ``probe board``: a note when a ``modbus-meter`` (RTU or TCP) is silent or its registers
    match another model than the profile configured; ``None`` for other devices."""
    if not isinstance(device, ModbusMeter):
        return None
    try:
        found = identify(device.bus, device.unit)
    except DeviceError as exc:
        return [f"identification failed: {exc}"]
    if found is None:
        return [f"unit {device.unit} is silent or its registers match no shipped model"]
    configured = device.opts.model
    if configured is not None and found.name != configured and not configured.startswith(found.name):
        return [f"registers match {found.name}, the profile says {configured}"]
    return None
