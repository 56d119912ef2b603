"""``josev-hal sim meter|can``: start a simulated peer for probing and bring-up, without a script.

``sim meter`` serves a simulated Modbus RTU meter of any known model (shipped or from a plugin)
on a serial port: ``--port /dev/ttyUSB1`` (a second USB-RS485 adapter wired to the board's bus),
or ``--pair`` (a pseudo-terminal pair on this machine: the command prints the port to give to
``josev-hal probe serial --port ...`` or a profile's ``[buses.<name>] port``). ``--tcp PORT``
serves it over Modbus TCP instead.

``sim can`` simulates a group of DC power modules (``--family infypower`` or ``winline``) on a
python-can channel: ``--interface socketcan --channel vcan0`` reaches other processes on this
machine (create vcan0 first: ``ip link add vcan0 type vcan && ip link set vcan0 up``).

Both run until SIGINT/SIGTERM and print one line saying where they serve.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from josev_hal.cli import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, non_negative_float

FAMILIES = ("infypower", "winline")


def _unit_id(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= value <= 247:
        raise argparse.ArgumentTypeError(f"Modbus unit id must be 1..247, got {value}")
    return value


def _baudrate(text: str) -> int:
    from josev_hal.buses.serial import STANDARD_BAUDRATES

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value not in STANDARD_BAUDRATES:
        raise argparse.ArgumentTypeError(f"{value} is not a standard baud rate")
    return value


def _value(text: str) -> tuple[str, float]:
    name, sep, number = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected QUANTITY=NUMBER (voltage_l1=230), got {text!r}") from None


def _modules(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part, 0) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected module addresses like 0,1,2, got {text!r}") from None
    if not values or any(not 0 <= v <= 62 for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"module addresses must be distinct, 0..62, got {text!r}")
    return values


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "sim",
        help="start a simulated meter or CAN power-module group for probing and bring-up",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 stopped by a signal, 2 usage error, 3 the peer could not be started.",
    )
    parser.set_defaults(_sim_parser=parser)
    kinds = parser.add_subparsers(dest="sim_kind", metavar="PEER")

    meter = kinds.add_parser("meter", help="a Modbus RTU (or TCP) energy meter", description=__doc__)
    meter.add_argument("--model", required=True, help="meter model (sdm630, em340, ... or a plugin's)")
    meter.add_argument("--unit", type=_unit_id, default=1, help="Modbus unit id (default 1)")
    where = meter.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serve on this serial device (e.g. /dev/ttyUSB1)")
    where.add_argument("--pair", action="store_true", help="create a pty pair and print the client port")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve Modbus TCP on 127.0.0.1:PORT (0: any)")
    meter.add_argument("--baudrate", type=_baudrate, default=9600, help="line speed (default 9600)")
    meter.add_argument("--parity", choices=("N", "E", "O"), default="N", help="parity (default N)")
    meter.add_argument(
        "--value",
        type=_value,
        action="append",
        default=[],
        metavar="QUANTITY=NUMBER",
        help="a value to serve, in V/A/W/Wh/Hz (repeatable; default a 230 V, 16 A, 3.7 kW meter)",
    )

    can_p = kinds.add_parser("can", help="a group of DC power modules on CAN", description=__doc__)
    can_p.add_argument("--family", choices=FAMILIES, required=True, help="module protocol")
    can_p.add_argument("--interface", default="virtual", help="python-can interface (default virtual)")
    can_p.add_argument("--channel", required=True, help="CAN channel (vcan0, can1, ...)")
    can_p.add_argument(
        "--modules", type=_modules, default=(0,), help="module addresses, e.g. 0,1 (default 0)"
    )
    can_p.add_argument("--group", type=int, default=None, help="group number (family default)")
    can_p.add_argument(
        "--watchdog-s",
        type=non_negative_float,
        default=10.0,
        help="modules switch off after this long without a command (default 10)",
    )
    return parser


def _stop_on_signal() -> threading.Event:
    """Installed before the peer starts (and before the "serving" line), so that a SIGTERM sent
    as soon as the line appears is a clean stop, not a kill."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def _wait(stop: threading.Event) -> None:
    while not stop.wait(3600.0):
        pass


DEFAULT_VALUES = {
    "voltage_l1": 230.0,
    "voltage_l2": 230.0,
    "voltage_l3": 230.0,
    "current_l1": 16.0,
    "power_total": 3680.0,
    "frequency": 50.0,
    "energy_import": 1000.0,
}


def _run_meter(args: argparse.Namespace) -> int:
    from josev_hal.errors import HalError
    from josev_hal.simulators.modbus_meter import ModbusPeer, ModbusTcpPeer, PtyLine, SimulatedMeter

    try:
        from josev_hal_modbus import available_models
    except ImportError:
        print("josev-hal sim meter: the modbus plugin (josev_hal_modbus) is not installed", file=sys.stderr)
        return EXIT_RUNTIME
    stop = _stop_on_signal()
    models = available_models()
    if args.model not in models:
        known = ", ".join(sorted(models))
        print(f"josev-hal sim meter: error: unknown model {args.model!r} (known: {known})", file=sys.stderr)
        return EXIT_USAGE
    registers = models[args.model].registers
    values = {k: v for k, v in DEFAULT_VALUES.items() if k in registers}
    for name, number in args.value:
        if name not in registers:
            known = ", ".join(sorted(registers))
            print(
                f"josev-hal sim meter: error: {args.model} has no {name!r} (it has: {known})", file=sys.stderr
            )
            return EXIT_USAGE
        values[name] = number
    try:
        meter = SimulatedMeter(args.model, unit=args.unit, values=values)
        if args.tcp is not None:
            with ModbusTcpPeer([meter], port=args.tcp) as tcp_peer:
                print(f"sim meter {args.model} unit {args.unit}: modbus tcp {tcp_peer.port}", flush=True)
                _wait(stop)
            return EXIT_OK
        line: PtyLine | None = None
        port = args.port
        if args.pair:
            line = PtyLine(baudrate=args.baudrate, parity=args.parity)
            port = line.peer_port
        try:
            with ModbusPeer(port, [meter], baudrate=args.baudrate, parity=args.parity):
                client = line.client_port if line is not None else port
                print(
                    f"sim meter {args.model} unit {args.unit}: serving on {port} "
                    f"({args.baudrate} 8{args.parity}1); connect to {client}",
                    flush=True,
                )
                _wait(stop)
        finally:
            if line is not None:
                line.close()
    except (HalError, OSError, RuntimeError) as exc:
        print(f"josev-hal sim meter: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK


def _run_can(args: argparse.Namespace) -> int:
    from josev_hal.simulators.can_power_module import InfyPowerGroupSim, WinlineGroupSim

    stop = _stop_on_signal()
    cls = InfyPowerGroupSim if args.family == "infypower" else WinlineGroupSim
    kwargs: dict[str, Any] = {
        "interface": args.interface,
        "channel": args.channel,
        "modules": args.modules,
        "watchdog_s": args.watchdog_s,
    }
    if args.group is not None:
        kwargs["group"] = args.group
    try:
        with cls(**kwargs):
            modules = ",".join(str(m) for m in args.modules)
            print(f"sim can {args.family} modules {modules}: on {args.interface} {args.channel}", flush=True)
            _wait(stop)
    except Exception as exc:  # python-can raises its own tree (no such interface/channel)
        print(f"josev-hal sim can: cannot open {args.interface} {args.channel}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    kind = getattr(args, "sim_kind", None)
    if kind is None:
        args._sim_parser.print_help()
        return EXIT_USAGE
    return _run_meter(args) if kind == "meter" else _run_can(args)
