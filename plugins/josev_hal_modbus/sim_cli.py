"""``josev-hal sim meter``: this plugin's simulated meter as a command (offered through the hook
``hal_sim_peers``, see :func:`josev_hal_modbus.hal_sim_peers`)."""

from __future__ import annotations

import argparse
import sys

import pluggy

from josev_hal.cli import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE
from josev_hal.cli_tools import baudrate, modbus_unit_id, stop_on_signal, wait_for_stop

__all__ = ["DEFAULT_VALUES", "SimMeter"]

#: What a meter serves unless ``--value`` says otherwise (quantities the model has).
DEFAULT_VALUES = {
    "voltage_l1": 230.0,
    "voltage_l2": 230.0,
    "voltage_l3": 230.0,
    "current_l1": 16.0,
    "power_total": 3680.0,
    "frequency": 50.0,
    "energy_import": 1000.0,
}

_PROG = "josev-hal sim meter"


def _value(text: str) -> tuple[str, float]:
    name, sep, number = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected QUANTITY=NUMBER (voltage_l1=230), got {text!r}") from None


class SimMeter:
    """Serve a simulated Modbus RTU meter of any known model (shipped or from a plugin) on a
    serial port: --port /dev/ttyUSB1 (a second USB-RS485 adapter wired to the board's bus), or
    --pair (a pseudo-terminal pair on this machine: the command prints the port to give to
    josev-hal probe serial --port ... or a profile's [buses.<name>] port). --tcp PORT serves it
    over Modbus TCP instead. Runs until SIGINT/SIGTERM."""

    help = "a Modbus RTU (or TCP) energy meter"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", required=True, help="meter model (sdm630, em340, ... or a plugin's)")
        parser.add_argument("--unit", type=modbus_unit_id, default=1, help="Modbus unit id (default 1)")
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument("--port", help="serve on this serial device (e.g. /dev/ttyUSB1)")
        where.add_argument("--pair", action="store_true", help="create a pty pair and print the client port")
        where.add_argument(
            "--tcp", type=int, metavar="PORT", help="serve Modbus TCP on 127.0.0.1:PORT (0: any)"
        )
        parser.add_argument("--baudrate", type=baudrate, default=9600, help="line speed (default 9600)")
        parser.add_argument("--parity", choices=("N", "E", "O"), default="N", help="parity (default N)")
        parser.add_argument(
            "--value",
            type=_value,
            action="append",
            default=[],
            metavar="QUANTITY=NUMBER",
            help="a value to serve, in V/A/W/Wh/Hz (repeatable; default a 230 V, 16 A, 3.7 kW meter)",
        )

    def run(self, args: argparse.Namespace, pm: pluggy.PluginManager) -> int:
        from josev_hal.buses.pty_line import PtyLine
        from josev_hal.errors import HalError

        from .model import available_models
        from .sim import ModbusPeer, ModbusTcpPeer, SimulatedMeter

        stop = stop_on_signal()
        models = available_models()
        if args.model not in models:
            known = ", ".join(sorted(models))
            print(f"{_PROG}: error: unknown model {args.model!r} (known: {known})", file=sys.stderr)
            return EXIT_USAGE
        registers = models[args.model].registers
        values = {k: v for k, v in DEFAULT_VALUES.items() if k in registers}
        for name, number in args.value:
            if name not in registers:
                known = ", ".join(sorted(registers))
                print(f"{_PROG}: error: {args.model} has no {name!r} (it has: {known})", file=sys.stderr)
                return EXIT_USAGE
            values[name] = number
        try:
            meter = SimulatedMeter(args.model, unit=args.unit, values=values)
            if args.tcp is not None:
                with ModbusTcpPeer([meter], port=args.tcp) as tcp_peer:
                    print(f"sim meter {args.model} unit {args.unit}: modbus tcp {tcp_peer.port}", flush=True)
                    wait_for_stop(stop)
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
                    wait_for_stop(stop)
            finally:
                if line is not None:
                    line.close()
        except (HalError, OSError, RuntimeError) as exc:
            print(f"{_PROG}: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        return EXIT_OK
