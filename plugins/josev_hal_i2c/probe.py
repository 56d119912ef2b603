"""``josev-hal probe i2c``: find and identify the chips on an I2C adapter, show live CP/PP values.

The I2C plugin offers it through ``hal_probe_tools`` (:class:`I2cProbe`), so the core never
imports this module. Every address 0x03-0x77 is asked with a one-byte read; answering chips are
named by :func:`josev_hal_i2c.identify.identify` (ADS1115/ADS1015, MCP23017, PCA9555, PCA9685,
PN532), which never writes to a GPIO expander or the PWM chip. Live readings are reads too: the
ADC runs single-shot conversions of its four inputs (the CP is converted to volts through the
level shifter given in :class:`FrontEnd`, the reference one by default, and classified with the
station core's :func:`josev_hal.station.cp.classify_level`); the PP node is turned into the
cable's Rc and ampacity as the ``ads1x15-pp`` driver and the core do it.

The probe never generates a CP or switches an output: the CP state shown is what the line
carries right now (a board whose PCA9685 was never configured shows F, -12 V, or a fault).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from josev_hal.buses.i2c import I2cBus, I2cBusOptions, I2cDevice
from josev_hal.devices import DeviceConfig, PpSample
from josev_hal.errors import DeviceError
from josev_hal.probe import Found
from josev_hal.probe.draft import REFERENCE_CP_GAIN, REFERENCE_CP_OFFSET_V
from josev_hal.station.cp import CpThresholds, classify_level
from josev_hal.station.pp import cable_from_sample

from .ads1x15 import Ads1x15, Ads1x15Pp, Ads1x15PpOptions
from .identify import scan
from .pca9685 import achieved_frequency_hz
from .pn532 import CMD_GET_FIRMWARE_VERSION, pn532_command

if TYPE_CHECKING:
    from josev_hal.buses.i2c_sim import SimI2cBus
    from josev_hal.plugins import HalPluginManager

__all__ = ["SCAN_ADDRESSES", "FrontEnd", "I2cProbe", "probe_i2c", "sim_chips_bus"]

log = logging.getLogger(__name__)

#: The 7-bit addresses a scan asks (0x00-0x02 and 0x78-0x7F are reserved).
SCAN_ADDRESSES = range(0x03, 0x78)

#: Called once per address asked.
Progress = Callable[[int], None]


@dataclass(frozen=True)
class FrontEnd:
    """How CP and PP reach the ADC (defaults: the reference board, hardware-facts §6.5)."""

    cp_channel: int = 0
    cp_negative_channel: int | None = 1
    cp_gain: float = REFERENCE_CP_GAIN
    cp_offset_v: float = REFERENCE_CP_OFFSET_V
    pp_channel: int | None = 2
    pp_pull_up_ohm: float = 1000.0
    pp_reference_v: float = 3.3


def _hex(value: int, digits: int = 4) -> str:
    return f"0x{value:0{digits}x}"


def _adc_reading(bus: I2cBus, dev: I2cDevice, chip: str, front: FrontEnd) -> dict[str, Any]:
    adc_chip: Literal["ads1115", "ads1015"] = "ads1015" if chip == "ads1015" else "ads1115"
    adc = Ads1x15(dev, adc_chip, 4.096, None)
    ain = [round(adc.read_volts(ch)[0], 4) for ch in range(4)]
    reading: dict[str, Any] = {"ain_v": ain}
    cp_v = (ain[front.cp_channel] - front.cp_offset_v) / front.cp_gain
    reading["cp_v"] = round(cp_v, 2)
    if front.cp_negative_channel is not None:
        reading["cp_negative_v"] = round(
            (ain[front.cp_negative_channel] - front.cp_offset_v) / front.cp_gain, 2
        )
    letter = classify_level(cp_v, None, CpThresholds())
    # Outside every band is what the station core reports as a pilot fault (state E).
    reading["cp_state"] = letter.value if letter is not None else "fault"
    if front.pp_channel is not None:
        pp = Ads1x15Pp(
            DeviceConfig(
                "probe.pp",
                Ads1x15PpOptions(
                    adc=adc_chip,
                    channel=front.pp_channel,
                    pull_up_ohm=front.pp_pull_up_ohm,
                    reference_v=front.pp_reference_v,
                ),
                bus=bus,
                address=dev.address,
            )
        )
        node_v = ain[front.pp_channel]
        ohm = pp.resistance_from_volts(node_v)
        cable = cable_from_sample(PpSample(resistance_ohm=ohm), phases=3)
        reading["pp_v"] = node_v
        reading["pp_ohm"] = None if ohm is None else round(ohm, 1)
        reading["cable_a"] = cable.ampacity_a
        reading["pp_fault"] = cable.fault
    return reading


def _expander_reading(dev: I2cDevice, chip: str) -> dict[str, Any]:
    def pair(low: int, high: int) -> int:
        return dev.read_u8(low) | dev.read_u8(high) << 8

    if chip == "mcp23017":
        return {
            "iodir": _hex(pair(0x00, 0x01)),
            "inputs": _hex(pair(0x12, 0x13)),
            "outputs": _hex(pair(0x14, 0x15)),
        }
    return {
        "config": _hex(pair(0x06, 0x07)),
        "inputs": _hex(pair(0x00, 0x01)),
        "outputs": _hex(pair(0x02, 0x03)),
    }


def _pwm_reading(dev: I2cDevice) -> dict[str, Any]:
    mode1, prescale = dev.read_u8(0x00), dev.read_u8(0xFE)
    return {
        "mode1": _hex(mode1, 2),
        "sleeping": bool(mode1 & 0x10),
        "prescale": prescale,
        "frequency_hz": round(achieved_frequency_hz(prescale), 2),
    }


def _pn532_reading(dev: I2cDevice) -> dict[str, Any]:
    firmware = pn532_command(dev, CMD_GET_FIRMWARE_VERSION, timeout_s=0.2)
    return (
        {"ic": _hex(firmware[0], 2), "firmware": f"{firmware[1]}.{firmware[2]}"} if len(firmware) >= 3 else {}
    )


def _reading(bus: I2cBus, address: int, chip: str, front: FrontEnd) -> dict[str, Any]:
    dev = bus.device(address, device_id=f"probe@0x{address:02x}")
    try:
        if chip.startswith("ads1"):
            return _adc_reading(bus, dev, chip, front)
        if chip in ("mcp23017", "pca9555"):
            return _expander_reading(dev, chip)
        if chip == "pca9685":
            return _pwm_reading(dev)
        if chip == "pn532":
            return _pn532_reading(dev)
    except DeviceError as exc:
        return {"error": str(exc)}
    return {}


_DRIVERS = {
    "ads1115": "ads1x15-cp",
    "ads1015": "ads1x15-cp",
    "ads1x15": "ads1x15-cp",
    "mcp23017": "mcp23017-contactor",
    "pca9555": "pca9555-contactor",
    "pn532": "pn532-reader",
}


def probe_i2c(
    smbus_like: Any,
    bus_number: int | str,
    *,
    addresses: Iterable[int] = SCAN_ADDRESSES,
    front_end: FrontEnd | None = None,
    progress: Progress | None = None,
) -> list[Found]:
    """Scan ``smbus_like`` (an open ``smbus2.SMBus`` or anything with its API, such as
    :class:`josev_hal.buses.i2c_sim.SimI2cBus`) and identify what answers.

    ``bus_number`` is the adapter (``1`` = ``/dev/i2c-1``), reported and drafted as the bus.
    The caller owns ``smbus_like`` (opens and closes it).
    """
    front = front_end or FrontEnd()
    bus = I2cBus("probe", I2cBusOptions(bus=bus_number), smbus_factory=lambda _adapter: smbus_like)
    bus.setup()  # hands out smbus_like; never released here, the caller closes it
    adapter = bus_number if isinstance(bus_number, str) else f"/dev/i2c-{bus_number}"
    found: list[Found] = []
    for address in addresses:
        if progress is not None:
            progress(address)
        hits = scan(bus, [address])
        if address not in hits:
            continue
        chip = hits[address]
        log.info("probe i2c found address=0x%02x chip=%s", address, chip)
        found.append(
            Found(
                bus="i2c",
                location={"port": adapter, "adapter": bus_number},
                address=address,
                model=chip,
                reading=_reading(bus, address, chip, front) if chip else {},
                driver=_DRIVERS.get(chip or ""),
                notes=[] if chip else ["answers, but is not a supported chip"],
            )
        )
    return found


# --------------------------------------------------------------------------------------------
# josev-hal probe i2c
# --------------------------------------------------------------------------------------------

_SIM_CHIPS = ("ads1115", "ads1015", "mcp23017", "pca9555", "pca9685", "pn532")


def sim_chips_bus(spec: str) -> SimI2cBus:
    """A simulated adapter with the chips of ``--sim-chips`` (``ads1115@0x48,mcp23017@0x20``).
    A simulated ADC reads CP state A and no cable. Raises ValueError for a bad ``spec``."""
    from . import sim

    makers: dict[str, Callable[[], sim.SimChip]] = {
        "ads1115": sim.SimAds1115,
        "ads1015": sim.SimAds1015,
        "mcp23017": sim.SimMcp23017,
        "pca9555": sim.SimPca9555,
        "pca9685": sim.SimPca9685,
        "pn532": sim.SimPn532,
    }
    bus = sim.SimI2cBus()
    for item in spec.split(","):
        name, sep, where = item.strip().partition("@")
        if not sep or name not in makers:
            raise ValueError(
                f"--sim-chips: {item.strip()!r} is not CHIP@ADDRESS with CHIP in {', '.join(makers)}"
            )
        try:
            address = int(where, 0)
        except ValueError:
            raise ValueError(f"--sim-chips: bad address {where!r} (use 0x48)") from None
        if not 0x03 <= address <= 0x77 or address in bus.chips:
            raise ValueError(f"--sim-chips: address {where} outside 0x03-0x77 or used twice")
        chip = makers[name]()
        if isinstance(chip, sim.SimAds1x15):
            # Nothing plugged in: CP at +12 V (state A) on both peak detectors, PP open.
            chip.connect(0, sim.REFERENCE_CP_SHIFTER.adc_v(12.0))
            chip.connect(1, sim.REFERENCE_CP_SHIFTER.adc_v(12.0))
            chip.connect(2, 3.3)
        bus.attach(address, chip)
    return bus


class I2cProbe:
    """Scan every address of an I2C adapter and identify the supported chips by their registers
    (ADS1115/ADS1015, MCP23017, PCA9555, PCA9685, PN532) without switching anything. An ADS1x15
    shows its inputs, the CP/PP voltages behind the reference front end (override with the
    --cp-*/--pp-* options) and the CP state they imply."""

    help = "scan an I2C adapter and identify CP/PP ADCs, GPIO expanders, PWM chip, RFID reader"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--bus", required=True, help="adapter number (1 = /dev/i2c-1) or device path")
        parser.add_argument(
            "--cp-channel", type=int, default=0, help="ADC input of the positive CP plateau (0)"
        )
        parser.add_argument(
            "--cp-negative-channel",
            default="1",
            help="ADC input of the negative CP plateau, or 'none' (default 1)",
        )
        parser.add_argument(
            "--cp-gain", type=float, default=None, help="level shifter ADC V per CP V (0.122)"
        )
        parser.add_argument("--cp-offset", type=float, default=None, help="ADC volts at CP = 0 V (1.7132)")
        parser.add_argument("--pp-channel", type=int, default=2, help="ADC input of the PP node (2)")
        parser.add_argument("--pp-pull-up-ohm", type=float, default=1000.0, help="PP pull-up resistor (1000)")
        parser.add_argument(
            "--sim-chips",
            metavar="SPEC",
            help="try the probe without hardware: scan simulated chips instead of the adapter, e.g. "
            f"'ads1115@0x48,mcp23017@0x20,pca9685@0x40' ({', '.join(_SIM_CHIPS)}; a simulated ADC reads "
            "CP state A and no cable). Everything above the adapter is the production code path.",
        )

    def run(self, args: argparse.Namespace, pm: HalPluginManager) -> int:
        from josev_hal.errors import HalError
        from josev_hal.probe.draft import merge_i2c
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

        adapter: int | str = int(args.bus) if str(args.bus).isdigit() else str(args.bus)
        negative: int | None = None
        if str(args.cp_negative_channel).lower() != "none":
            try:
                negative = int(args.cp_negative_channel)
            except ValueError:
                error(f"--cp-negative-channel: not an ADC input: {args.cp_negative_channel!r}")
                return EXIT_USAGE
        channels = [c for c in (args.cp_channel, negative, args.pp_channel) if c is not None]
        if not all(0 <= c <= 3 for c in channels) or len(set(channels)) != len(channels):
            error("--cp-channel, --cp-negative-channel and --pp-channel must be different ADC inputs 0..3")
            return EXIT_USAGE
        if (args.cp_gain is not None and args.cp_gain <= 0) or args.pp_pull_up_ohm <= 0:
            error("--cp-gain and --pp-pull-up-ohm must be > 0")
            return EXIT_USAGE
        front = FrontEnd(
            cp_channel=args.cp_channel,
            cp_negative_channel=negative,
            cp_gain=args.cp_gain or REFERENCE_CP_GAIN,
            cp_offset_v=REFERENCE_CP_OFFSET_V if args.cp_offset is None else args.cp_offset,
            pp_channel=args.pp_channel,
            pp_pull_up_ohm=args.pp_pull_up_ohm,
        )
        handle: Any
        if args.sim_chips:
            try:
                handle = sim_chips_bus(args.sim_chips)
            except ValueError as exc:
                error(str(exc))
                return EXIT_USAGE
        else:
            import smbus2

            try:
                handle = smbus2.SMBus(adapter)
            except (OSError, ValueError) as exc:
                error(f"cannot open I2C adapter {adapter}: {exc}")
                return EXIT_RUNTIME
        try:
            with progress(args, f"i2c {adapter}", len(SCAN_ADDRESSES)) as advance:
                try:
                    found = probe_i2c(
                        handle,
                        adapter,
                        front_end=front,
                        progress=lambda a: advance(a - SCAN_ADDRESSES.start + 1, f"i2c {adapter} 0x{a:02x}"),
                    )
                except HalError as exc:
                    error(str(exc))
                    return EXIT_RUNTIME
            emit(args, found, f"no chip answers on I2C adapter {adapter}")
            if not args.json:
                bus = I2cBus(f"i2c{adapter}", I2cBusOptions(bus=adapter), smbus_factory=lambda _a: handle)
                bus.setup()
                plugin_lines(pm, bus_board({bus.name: bus}))
        finally:
            handle.close()
        drafted_front = {
            "positive_channel": front.cp_channel,
            "negative_channel": front.cp_negative_channel,
            "adc_v_per_cp_v": front.cp_gain,
            "adc_offset_v": front.cp_offset_v,
            "pp_channel": front.pp_channel,
            "pull_up_ohm": front.pp_pull_up_ohm,
        }
        return exit_code(draft(args, pm, lambda data: merge_i2c(data, found, drafted_front)), bool(found))
