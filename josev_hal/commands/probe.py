"""``josev-hal probe KIND``: discover the hardware on a board and draft its profile.

Kinds: ``serial`` (Modbus meters: baud-rate and unit-id sweep, model by registers, live
reading), ``i2c`` (chips by their registers, live CP/PP values and the CP state they imply),
``can`` (DC power-module families), ``relay`` (switch one EVSE's contactor without a vehicle
and time its mirror contact; only with ``--yes-i-know``).

``--json`` prints one JSON document: a list of ``{"bus", "port"|"channel", ..., "address",
"model", "driver", "reading"}``. ``--draft-profile FILE`` merges what was found into a board
profile (created when missing), so ``probe i2c`` then ``probe serial`` on the same FILE build
one profile; placeholders are marked ``REVIEW`` and ``josev-hal check`` is run on the result.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev_hal.cli import add_log_level_argument, stderr_logging

if TYPE_CHECKING:
    from josev_hal.board import Board
    from josev_hal.buses import Bus
    from josev_hal.plugins import HalPluginManager
    from josev_hal.probe import Found

EXIT_FOUND, EXIT_NOTHING, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3

DESCRIPTION = """\
Discover the hardware of a board and draft its profile.

  serial  Modbus energy meters: baud-rate and unit-id sweep, model by registers, live reading
  i2c     CP/PP ADCs, GPIO expanders, PWM chip, RFID reader by their registers; live CP/PP
          voltages and the CP state they imply
  can     DC power-module families (InfyPower, Winline) with their limits and status
  relay   switch one EVSE's contactor without a vehicle and time its mirror contact
          (only with --yes-i-know; refused while a vehicle is connected)

Only relay switches anything; the other probes read. --json prints one JSON document (a list of
{"bus", "port"|"channel", ..., "address", "model", "driver", "reading"}). --draft-profile FILE
merges the findings into a board profile (created when missing): probe i2c then probe serial on
the same FILE build one profile. Placeholders are marked REVIEW; josev-hal check runs on the
result and names what is still missing.
"""

EXIT_CODES = """\
Exit codes:
  0  something was found (relay: switched, and the mirror contact followed)
  1  nothing was found (relay: refused -- vehicle connected, RCD tripped, contactor already
     closed -- or the mirror contact did not follow; the profile given is invalid)
  2  usage error (bad option value, unknown EVSE, relay without --yes-i-know)
  3  runtime error (the port, adapter or interface cannot be opened, a device fails,
     the draft file exists but is not TOML)
"""

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document (a list of findings)")
    common.add_argument(
        "--draft-profile",
        type=Path,
        metavar="FILE",
        help="merge the findings into this board profile (created when missing) and check it",
    )
    add_log_level_argument(common, "WARNING")
    return common


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "probe",
        help="discover hardware (meters, I2C chips, CAN modules, relays) and draft a board profile",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(_probe_parser=parser)
    kinds = parser.add_subparsers(dest="probe_kind", metavar="KIND")
    common = _common()
    fmt = argparse.RawDescriptionHelpFormatter

    serial = kinds.add_parser(
        "serial",
        parents=[common],
        help="sweep baud rates and Modbus unit ids for energy meters",
        description="Sweep baud rates and Modbus unit ids on a serial port, identify meter models by "
        "their registers (read-only) and show a live reading of each meter. A unit identified at one rate "
        "is not asked again at the later ones.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    serial.add_argument("--port", required=True, help="serial device (/dev/ttyUSB0) or pyserial URL")
    serial.add_argument(
        "--bauds",
        default="9600,19200,38400,57600,115200,4800,2400",
        help="baud rates to try, in order (default: %(default)s)",
    )
    serial.add_argument(
        "--ids", default="1-10", help="unit ids, e.g. 1-10,20 (default %(default)s; all: 1-247)"
    )
    serial.add_argument("--parity", default="N", choices=("N", "E", "O"), help="parity (default N)")
    serial.add_argument(
        "--timeout-s", type=float, default=0.1, help="answer timeout per request (default %(default)s s)"
    )

    i2c = kinds.add_parser(
        "i2c",
        parents=[common],
        help="scan an I2C adapter and identify CP/PP ADCs, GPIO expanders, PWM chip, RFID reader",
        description="Scan every address of an I2C adapter and identify the supported chips by their "
        "registers (ADS1115/ADS1015, MCP23017, PCA9555, PCA9685, PN532) without switching anything. "
        "An ADS1x15 shows its inputs, the CP/PP voltages behind the reference front end (override with "
        "the --cp-*/--pp-* options) and the CP state they imply.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    i2c.add_argument("--bus", required=True, help="adapter number (1 = /dev/i2c-1) or device path")
    i2c.add_argument("--cp-channel", type=int, default=0, help="ADC input of the positive CP plateau (0)")
    i2c.add_argument(
        "--cp-negative-channel",
        default="1",
        help="ADC input of the negative CP plateau, or 'none' (default 1)",
    )
    i2c.add_argument("--cp-gain", type=float, default=None, help="level shifter ADC V per CP V (0.122)")
    i2c.add_argument("--cp-offset", type=float, default=None, help="ADC volts at CP = 0 V (1.7132)")
    i2c.add_argument("--pp-channel", type=int, default=2, help="ADC input of the PP node (2)")
    i2c.add_argument("--pp-pull-up-ohm", type=float, default=1000.0, help="PP pull-up resistor (1000)")
    i2c.add_argument(
        "--sim-chips",
        metavar="SPEC",
        help="try the probe without hardware: scan simulated chips instead of the adapter, e.g. "
        "'ads1115@0x48,mcp23017@0x20,pca9685@0x40' (ads1115, ads1015, mcp23017, pca9555, pca9685, "
        "pn532; a simulated ADC reads CP state A and no cable). Everything above the adapter is the "
        "production code path.",
    )

    can_p = kinds.add_parser(
        "can",
        parents=[common],
        help="listen on a CAN channel and identify DC power-module families",
        description="Listen on a CAN channel, send every supported family's read-only status requests "
        "(InfyPower V1.13, Winline) to their broadcast addresses and identify the modules that answer, "
        "with their reported limits and status.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    can_p.add_argument(
        "--channel", required=True, help="CAN channel (can0, PCAN_USBBUS1, any name for virtual)"
    )
    can_p.add_argument("--interface", default="socketcan", help="python-can interface (default socketcan)")
    can_p.add_argument(
        "--bitrate", type=int, default=None, help="bit rate for USB adapters (socketcan: ip link)"
    )
    can_p.add_argument(
        "--listen-s", type=float, default=2.0, help="how long to listen (default %(default)s s)"
    )
    can_p.add_argument("--listen-only", action="store_true", help="send nothing, only overhear traffic")

    board_p = kinds.add_parser(
        "board",
        parents=[common],
        help="set up a board profile and show each device's identification and one reading",
        description="Set up every bus and device of a board profile and print, per device, what its "
        "driver reports (describe), one reading (the RFID reader is not polled), for modbus-meter "
        "devices the model the meter's registers match next to the configured one, and the plugins' "
        "probe lines. Read-only: contactors stay open, the CP stays at its idle output.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    board_p.add_argument("--board", required=True, type=Path, metavar="PROFILE", help="board profile (TOML)")

    relay = kinds.add_parser(
        "relay",
        parents=[common],
        help="switch one EVSE's contactor without a vehicle and time its feedback (--yes-i-know)",
        description="Close and open the contactor of one EVSE of a board profile and measure how long "
        "its mirror contact takes to follow. This switches mains contacts: it runs only with "
        "--yes-i-know, and refuses while the CP is not in state A (a vehicle is connected), while an "
        "RCD reports a trip, or when the contactor already reads closed. With --draft-profile the "
        "measured time sets [contactor] feedback_timeout_ms (the FILE starts as a copy of the board "
        "profile when it does not exist).",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    relay.add_argument("--board", required=True, type=Path, metavar="PROFILE", help="board profile (TOML)")
    relay.add_argument(
        "--evse", required=True, metavar="ID", help="EVSE id (as in the profile's [[evse]] id)"
    )
    relay.add_argument(
        "--yes-i-know", action="store_true", help="confirm that switching the contactor is safe"
    )
    relay.add_argument("--cycles", type=int, default=1, help="close/open cycles (default 1)")
    relay.add_argument(
        "--timeout-ms",
        type=float,
        default=None,
        help="feedback wait (default 4x the profile's feedback_timeout_ms)",
    )

    # Linux SoC I/O (#21): listing and drafting live in the josev_hal_linux plugin.
    linux = kinds.add_parser(
        "linux",
        parents=[common],
        help="list GPIO chips and lines, PWM chips, IIO channels and 1-wire sensors of this machine",
        description="List what the kernel offers for a Linux charge controller: every GPIO chip with "
        "its line names and who holds them (libgpiod), the PWM chips, the IIO ADC channels and the "
        "1-wire temperature sensors. Read-only: nothing is requested or exported. With "
        "--draft-profile the devices guessed from the line names go into the profile.",
        epilog=EXIT_CODES,
        formatter_class=fmt,
    )
    linux.add_argument("--gpio-dev-dir", default="/dev", help="where gpiochipN devices are (default /dev)")
    linux.add_argument("--sysfs-root", default="/sys", help="root of the sysfs tree (default /sys)")
    return parser


# --------------------------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------------------------


def _err(message: str) -> None:
    print(f"josev-hal probe: {message}", file=sys.stderr)


@contextmanager
def _progress(args: argparse.Namespace, description: str, total: float) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr (off with --json or when stderr is not a terminal); yields
    ``advance(completed)``."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    disabled = bool(args.json) or not sys.stderr.isatty()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=disabled,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)

        def update(completed: float, text: str | None = None) -> None:
            progress.update(task, completed=completed, description=text or description)

        yield update


def _summary(reading: dict[str, Any]) -> str:
    parts = []
    for key, value in reading.items():
        if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            value = "/".join("-" if v is None else str(v) for v in value) or "-"
        elif isinstance(value, dict | list):
            value = json.dumps(value, separators=(",", ":"))
        parts.append(f"{key}={value}")
    return "  ".join(parts)


def _where(f: Found) -> str:
    """Where a finding is, as a person reads it."""
    loc = f.location
    if f.bus == "serial":
        return f"serial {loc['port']} {loc['baudrate']} baud parity {loc.get('parity', 'N')} unit {f.address}"
    if f.bus == "i2c":
        return f"i2c {loc['port']} 0x{f.address or 0:02x}"
    if f.bus == "can":
        return f"can {loc['interface']}:{loc['channel']} module {f.address}"
    where = f"{loc.get('device') or 'evse'} [{loc.get('evse')}]"
    return f"{where} on {loc['port']}" if loc.get("port") else where


def _print_found(found: list[Found], nothing: str) -> None:
    if not found:
        print(nothing)
        return
    for f in found:
        driver = f"  (driver {f.driver})" if f.driver and f.driver != f.model else ""
        print(f"{_where(f)}: {f.model or 'unknown'}{driver}")
        if f.reading:
            print(f"    {_summary(f.reading)}")
        for note in f.notes:
            print(f"    note: {note}")


def _plugin_lines(pm: HalPluginManager, board: Board) -> None:
    from josev_hal.plugins import call_each

    for plugin, lines in call_each(pm, "hal_probe_lines", board=board):
        if lines:
            print(f"[{plugin}]")
            for line in lines:
                print(f"  {line}")


def _probe_board(buses: dict[str, Bus]) -> Board:
    """A board holding only the probed buses, for the plugins' ``hal_probe_lines``."""
    from josev_hal.board import Board
    from josev_hal.profile import Profile, Protection, SafetyDeclaration, StationInfo

    profile = Profile(
        station=StationInfo(vendor="josev-hal probe", model="probe", sw_version="-", hw_version="-"),
        safety=SafetyDeclaration(
            rcd_trip=Protection.HAL, cp_loss_shutdown=Protection.HAL, welding_detection=Protection.HAL
        ),
    )
    return Board(profile, buses, [])


def _draft(
    args: argparse.Namespace,
    pm: HalPluginManager,
    merge: Callable[[dict[str, Any]], list[str]],
    start: Callable[[], dict[str, Any]] | None = None,
) -> int | None:
    """Merge into ``--draft-profile`` (if given), write it and report what ``check`` says.
    Returns an exit code on failure, ``None`` when fine."""
    from josev_hal.errors import ConfigError, ProfileError
    from josev_hal.probe.draft import load_draft, write_draft
    from josev_hal.profile import load_profile

    path: Path | None = args.draft_profile
    if path is None:
        return None
    out = sys.stderr if args.json else sys.stdout
    try:
        draft = start() if start is not None and not path.exists() else load_draft(path)
        messages = merge(draft)
        if not messages:
            print(f"draft profile {path}: nothing to add", file=out)
            return None
        write_draft(path, draft)
    except (ConfigError, OSError) as exc:
        _err(f"draft not written: {exc}")
        return EXIT_RUNTIME
    print(f"draft profile {path}:", file=out)
    for message in messages:
        print(f"  {message}", file=out)
    try:
        load_profile(path, pm)
    except ProfileError as exc:
        print("  josev-hal check: not complete yet -- add what is missing (or probe more buses):", file=out)
        for problem in exc.problems:
            print(f"    {problem}", file=out)
    else:
        print(f"  josev-hal check: ok (review the lines marked REVIEW in {path})", file=out)
    return None


def _emit(args: argparse.Namespace, found: list[Found], nothing: str) -> None:
    if args.json:
        print(json.dumps([f.to_json() for f in found], indent=2))
    else:
        _print_found(found, nothing)


# --------------------------------------------------------------------------------------------
# Kinds
# --------------------------------------------------------------------------------------------


def _run_serial(args: argparse.Namespace, pm: HalPluginManager) -> int:
    from josev_hal.buses.serial import SerialBus, SerialBusOptions
    from josev_hal.errors import HalError
    from josev_hal.probe.draft import merge_serial
    from josev_hal.probe.serial import parse_bauds, parse_ids, probe_serial

    try:
        bauds, ids = parse_bauds(args.bauds), parse_ids(args.ids)
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    if args.timeout_s <= 0:
        _err("--timeout-s must be > 0")
        return EXIT_USAGE
    total = len(bauds) * len(ids)
    with _progress(args, f"serial {args.port}", total) as advance:
        done = [0]

        def step(baud: int, unit: int) -> None:
            done[0] += 1
            advance(done[0], f"{args.port} {baud} baud unit {unit}")

        try:
            found = probe_serial(
                args.port, bauds, ids, parity=args.parity, timeout_s=args.timeout_s, progress=step
            )
        except HalError as exc:
            _err(str(exc))
            return EXIT_RUNTIME
    _emit(args, found, f"no Modbus device answers on {args.port} (bauds {args.bauds}, ids {args.ids})")
    if not args.json:
        baud = found[0].location["baudrate"] if found else bauds[0]
        bus = SerialBus("probe", SerialBusOptions(port=args.port, baudrate=baud, parity=args.parity))
        try:
            bus.setup()
            _plugin_lines(pm, _probe_board({"probe": bus}))
        except HalError as exc:
            log.warning("plugin lines skipped: %s", exc)
        finally:
            bus.release()
    failed = _draft(args, pm, lambda draft: merge_serial(draft, found))
    if failed is not None:
        return failed
    return EXIT_FOUND if found else EXIT_NOTHING


def _sim_bus(spec: str) -> Any:
    """A :class:`SimI2cBus` with the chips of ``--sim-chips``. Raises ValueError."""
    import josev_hal_i2c.sim as sim

    from josev_hal.pilots_sim import REFERENCE_CP_SHIFTER

    makers: dict[str, Callable[[], Any]] = {
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
            chip.connect(0, REFERENCE_CP_SHIFTER.adc_v(12.0))
            chip.connect(1, REFERENCE_CP_SHIFTER.adc_v(12.0))
            chip.connect(2, 3.3)
        bus.attach(address, chip)
    return bus


def _run_i2c(args: argparse.Namespace, pm: HalPluginManager) -> int:
    from josev_hal.buses.i2c import I2cBus, I2cBusOptions
    from josev_hal.errors import HalError
    from josev_hal.probe.draft import REFERENCE_CP_GAIN, REFERENCE_CP_OFFSET_V, merge_i2c
    from josev_hal.probe.i2c import SCAN_ADDRESSES, FrontEnd, probe_i2c

    adapter: int | str = int(args.bus) if str(args.bus).isdigit() else str(args.bus)
    negative: int | None = None
    if str(args.cp_negative_channel).lower() != "none":
        try:
            negative = int(args.cp_negative_channel)
        except ValueError:
            _err(f"--cp-negative-channel: not an ADC input: {args.cp_negative_channel!r}")
            return EXIT_USAGE
    channels = [c for c in (args.cp_channel, negative, args.pp_channel) if c is not None]
    if not all(0 <= c <= 3 for c in channels) or len(set(channels)) != len(channels):
        _err("--cp-channel, --cp-negative-channel and --pp-channel must be different ADC inputs 0..3")
        return EXIT_USAGE
    if (args.cp_gain is not None and args.cp_gain <= 0) or args.pp_pull_up_ohm <= 0:
        _err("--cp-gain and --pp-pull-up-ohm must be > 0")
        return EXIT_USAGE
    front = FrontEnd(
        cp_channel=args.cp_channel,
        cp_negative_channel=negative,
        cp_gain=args.cp_gain or REFERENCE_CP_GAIN,
        cp_offset_v=REFERENCE_CP_OFFSET_V if args.cp_offset is None else args.cp_offset,
        pp_channel=args.pp_channel,
        pp_pull_up_ohm=args.pp_pull_up_ohm,
    )
    if args.sim_chips:
        try:
            handle = _sim_bus(args.sim_chips)
        except ValueError as exc:
            _err(str(exc))
            return EXIT_USAGE
    else:
        import smbus2

        try:
            handle = smbus2.SMBus(adapter)
        except (OSError, ValueError) as exc:
            _err(f"cannot open I2C adapter {adapter}: {exc}")
            return EXIT_RUNTIME
    try:
        total = len(SCAN_ADDRESSES)
        with _progress(args, f"i2c {adapter}", total) as advance:
            try:
                found = probe_i2c(
                    handle,
                    adapter,
                    front_end=front,
                    progress=lambda a: advance(a - SCAN_ADDRESSES.start + 1, f"i2c {adapter} 0x{a:02x}"),
                )
            except HalError as exc:
                _err(str(exc))
                return EXIT_RUNTIME
        _emit(args, found, f"no chip answers on I2C adapter {adapter}")
        if not args.json:
            bus = I2cBus(f"i2c{adapter}", I2cBusOptions(bus=adapter), smbus_factory=lambda _a: handle)
            bus.setup()
            _plugin_lines(pm, _probe_board({bus.name: bus}))
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
    failed = _draft(args, pm, lambda draft: merge_i2c(draft, found, drafted_front))
    if failed is not None:
        return failed
    return EXIT_FOUND if found else EXIT_NOTHING


def _run_can(args: argparse.Namespace, pm: HalPluginManager) -> int:
    import msgspec

    from josev_hal.buses.can import CanBus, CanBusOptions
    from josev_hal.errors import HalError
    from josev_hal.probe.can import probe_can
    from josev_hal.probe.draft import merge_can

    if args.listen_s <= 0:
        _err("--listen-s must be > 0")
        return EXIT_USAGE
    options = {"interface": args.interface, "channel": args.channel, "bitrate": args.bitrate}
    bus = CanBus(args.channel, msgspec.convert(options, CanBusOptions))
    try:
        bus.setup()
    except HalError as exc:
        _err(str(exc))
        return EXIT_RUNTIME
    try:
        with _progress(args, f"can {args.interface}:{args.channel}", args.listen_s) as advance:
            try:
                found = probe_can(
                    bus, listen_s=args.listen_s, send_requests=not args.listen_only, progress=advance
                )
            except HalError as exc:
                _err(str(exc))
                return EXIT_RUNTIME
        _emit(args, found, f"no supported power module answers on {args.interface}:{args.channel}")
        if not args.json:
            _plugin_lines(pm, _probe_board({bus.name: bus}))
    finally:
        bus.release()
    failed = _draft(args, pm, lambda draft: merge_can(draft, found))
    if failed is not None:
        return failed
    return EXIT_FOUND if found else EXIT_NOTHING


def _load_board(args: argparse.Namespace, pm: HalPluginManager) -> Board | int:
    """The built (not set up) board of ``--board``, or an exit code after printing why not."""
    from josev_hal.board import Board
    from josev_hal.errors import HalError, ProfileError
    from josev_hal.profile import load_profile

    try:
        profile = load_profile(args.board, pm)
    except ProfileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_NOTHING
    try:
        return Board.build(profile, pm)
    except HalError as exc:
        _err(str(exc))
        return EXIT_RUNTIME


def _run_board(args: argparse.Namespace, pm: HalPluginManager) -> int:
    from josev_hal.errors import HalError
    from josev_hal.probe.board import probe_board

    if args.draft_profile is not None:
        _err("--draft-profile: probe board reads an existing profile, there is nothing to draft")
        return EXIT_USAGE
    board = _load_board(args, pm)
    if isinstance(board, int):
        return board
    try:
        board.setup()
    except HalError as exc:
        _err(f"board setup failed: {exc}")
        return EXIT_RUNTIME
    try:
        found = probe_board(board)
        _emit(args, found, f"{args.board} has no devices")
        if not args.json:
            _plugin_lines(pm, board)
    finally:
        board.release()
    return EXIT_NOTHING if any(f.notes for f in found) else EXIT_FOUND


def _run_relay(args: argparse.Namespace, pm: HalPluginManager) -> int:
    import tomllib

    from josev_hal.board import Board, BoardEvse
    from josev_hal.devices import Driver, Role
    from josev_hal.errors import HalError
    from josev_hal.probe import ProbeRefused
    from josev_hal.probe.draft import merge_relay, new_draft
    from josev_hal.probe.relay import probe_relay

    if not args.yes_i_know:
        _err(
            "relay switches the contactor (mains contacts): make sure nothing is connected to the output "
            "and nobody works on it, then add --yes-i-know"
        )
        return EXIT_USAGE
    if args.cycles < 1 or (args.timeout_ms is not None and args.timeout_ms <= 0):
        _err("--cycles must be >= 1 and --timeout-ms > 0")
        return EXIT_USAGE
    draft_path = args.draft_profile
    same = draft_path is not None and draft_path.exists() and args.board.exists()
    if same and draft_path.resolve() == args.board.resolve():
        _err("--draft-profile must not be the board profile itself (its comments would be lost)")
        return EXIT_USAGE
    full = _load_board(args, pm)
    if isinstance(full, int):
        return full
    profile = full.profile
    try:
        evse = full.evse(args.evse)
    except KeyError:
        _err(f"no EVSE {args.evse!r} in {args.board} (EVSEs: {', '.join(e.id for e in full.evses)})")
        return EXIT_USAGE
    # Only what the probe needs is set up: a meter on a missing port must not stop a relay test.
    roles = [r for r in (Role.CONTROL_PILOT, Role.CONTACTOR, Role.RCD) if r in evse.devices]
    devices: dict[Role, Driver] = {r: evse.devices[r] for r in roles}
    buses = {
        name: bus for name, bus in full.buses.items() if any(d.config.bus is bus for d in devices.values())
    }
    board = Board(profile, buses, [BoardEvse(evse.index, evse.spec, devices)])
    try:
        board.setup()
    except HalError as exc:
        _err(f"board setup failed: {exc}")
        return EXIT_RUNTIME
    try:
        try:
            found = probe_relay(board, args.evse, cycles=args.cycles, timeout_ms=args.timeout_ms)
        except ProbeRefused as exc:
            _err(f"refused: {exc}")
            return EXIT_NOTHING
        except HalError as exc:
            _err(str(exc))
            return EXIT_RUNTIME
        _emit(args, [found], "")
        if not args.json:
            _plugin_lines(pm, board)
    finally:
        board.release()

    def start() -> dict[str, Any]:
        draft = new_draft()
        draft.update(tomllib.loads(args.board.read_text(encoding="utf-8")))
        return draft

    failed = _draft(args, pm, lambda draft: merge_relay(draft, found), start=start)
    if failed is not None:
        return failed
    return EXIT_NOTHING if found.notes and found.reading["has_feedback"] else EXIT_FOUND


def _run_linux(args: argparse.Namespace, pm: HalPluginManager) -> int:
    try:
        from josev_hal_linux.probe import inventory, inventory_lines, merge_linux
    except ImportError:
        _err("the josev_hal_linux plugin is not installed")
        return EXIT_RUNTIME
    # libgpiod's bindings are optional (without them the probe reads sysfs); imported by name so
    # the type checker is content with or without them installed.
    gpiod: Any
    try:
        gpiod = importlib.import_module("gpiod")
    except ImportError:
        gpiod = None
    inv = inventory(args.gpio_dev_dir, args.sysfs_root, gpiod)
    if args.json:
        print(json.dumps(dataclasses.asdict(inv), indent=2))
    else:
        for line in inventory_lines(inv):
            print(line)
    failed = _draft(
        args,
        pm,
        lambda draft: merge_linux(draft, inv, gpio_dev_dir=args.gpio_dev_dir, sysfs_root=args.sysfs_root),
    )
    if failed is not None:
        return failed
    found = inv.gpio_chips or inv.pwm_chips or inv.iio_devices or inv.w1_sensors
    return EXIT_FOUND if found else EXIT_NOTHING


_KINDS: dict[str, Callable[[argparse.Namespace, Any], int]] = {
    "serial": _run_serial,
    "i2c": _run_i2c,
    "can": _run_can,
    "relay": _run_relay,
    "board": _run_board,
    "linux": _run_linux,
}


def run(args: argparse.Namespace) -> int:
    from josev_hal.errors import PluginError
    from josev_hal.plugins import get_plugin_manager

    kind = getattr(args, "probe_kind", None)
    if kind is None:
        args._probe_parser.print_help()
        return EXIT_USAGE
    stderr_logging(args.log_level, logging.WARNING)
    try:
        pm = get_plugin_manager()
    except PluginError as exc:
        _err(f"plugin error: {exc}")
        return EXIT_RUNTIME
    # Discovery asks every plugin (identification tables, probe lines), not only the ones a
    # board would use.
    pm.load_all()
    return _KINDS[kind](args, pm)
