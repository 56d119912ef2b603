"""``josev-hal sim can``: this plugin's simulated power-module group as a command (offered through
the hook ``hal_sim_peers``, see :func:`josev_hal_can.hal_sim_peers`)."""

from __future__ import annotations

import argparse
import sys

import pluggy

from josev_hal.cli import EXIT_OK, EXIT_RUNTIME, non_negative_float
from josev_hal.cli_tools import stop_on_signal, wait_for_stop

__all__ = ["FAMILIES", "SimCan"]

#: Module protocols the group simulator speaks.
FAMILIES = ("infypower", "winline")


def _modules(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part, 0) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected module addresses like 0,1,2, got {text!r}") from None
    if not values or any(not 0 <= v <= 62 for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"module addresses must be distinct, 0..62, got {text!r}")
    return values


class SimCan:
    """Simulate a group of DC power modules (--family infypower or winline) on a python-can
    channel: --interface socketcan --channel vcan0 reaches other processes on this machine
    (create vcan0 first: ip link add vcan0 type vcan && ip link set vcan0 up); python-can's
    virtual interface only reaches the same process. Runs until SIGINT/SIGTERM."""

    help = "a group of DC power modules on CAN"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--family", choices=FAMILIES, required=True, help="module protocol")
        parser.add_argument("--interface", default="virtual", help="python-can interface (default virtual)")
        parser.add_argument("--channel", required=True, help="CAN channel (vcan0, can1, ...)")
        parser.add_argument(
            "--modules", type=_modules, default=(0,), help="module addresses, e.g. 0,1 (default 0)"
        )
        parser.add_argument("--group", type=int, default=None, help="group number (family default)")
        parser.add_argument(
            "--watchdog-s",
            type=non_negative_float,
            default=10.0,
            help="modules switch off after this long without a command (default 10)",
        )

    def run(self, args: argparse.Namespace, pm: pluggy.PluginManager) -> int:
        from .sim import InfyPowerGroupSim, WinlineGroupSim

        stop = stop_on_signal()
        cls = InfyPowerGroupSim if args.family == "infypower" else WinlineGroupSim
        try:
            # Without --group each family keeps its own default group number.
            sim = (
                cls(
                    interface=args.interface,
                    channel=args.channel,
                    modules=args.modules,
                    watchdog_s=args.watchdog_s,
                )
                if args.group is None
                else cls(
                    interface=args.interface,
                    channel=args.channel,
                    modules=args.modules,
                    watchdog_s=args.watchdog_s,
                    group=args.group,
                )
            )
            with sim:
                modules = ",".join(str(m) for m in args.modules)
                print(
                    f"sim can {args.family} modules {modules}: on {args.interface} {args.channel}", flush=True
                )
                wait_for_stop(stop)
        except Exception as exc:  # python-can raises its own tree (no such interface/channel)
            print(f"josev-hal sim can: cannot open {args.interface} {args.channel}: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        return EXIT_OK
