"""``josev-hal sim PEER``: start a simulated peer for probing and bring-up, without a script.

The peers come from the installed plugins (hook ``hal_sim_peers``); each speaks its bus protocol
with the plugin's own protocol code. Those of josev-hal's first-party plugins:

``sim meter`` (plugin ``modbus``) serves a simulated Modbus RTU meter of any known model (shipped
or from a plugin) on a serial port: ``--port /dev/ttyUSB1`` (a second USB-RS485 adapter wired to
the board's bus), or ``--pair`` (a pseudo-terminal pair on this machine: the command prints the
port to give to ``josev-hal probe serial --port ...`` or a profile's ``[buses.<name>] port``).
``--tcp PORT`` serves it over Modbus TCP instead.

``sim can`` (plugin ``can``) simulates a group of DC power modules (``--family infypower`` or
``winline``) on a python-can channel: ``--interface socketcan --channel vcan0`` reaches other
processes on this machine (create vcan0 first: ``ip link add vcan0 type vcan && ip link set vcan0
up``).

Each runs until SIGINT/SIGTERM and prints one line saying where it serves. ``josev-hal sim
--help`` lists the peers the installed plugins offer.
"""

from __future__ import annotations

import argparse
import sys
import typing
from collections.abc import Sequence
from typing import Any

from josev_hal.cli import EXIT_RUNTIME, EXIT_USAGE

if typing.TYPE_CHECKING:
    import pluggy

HOOK = "hal_sim_peers"

EPILOG = (
    "Exit codes: 0 stopped by a signal, 2 usage error, 3 the peer could not be started, no "
    "installed plugin offers a peer, or two plugins offer the same peer name."
)


class _PeersHelp(argparse.Action):
    """``josev-hal sim --help``: the help of the parser with every plugin's peer in it (the plugins
    are loaded only now, when ``sim`` is the command being run)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        built = _peers_parser(parser)
        if isinstance(built, str):
            parser.exit(EXIT_RUNTIME, built + "\n")
        built[0].print_help()
        parser.exit(0)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    # The peers' options are parsed in ``run`` against a second parser built from the plugins:
    # building it here would load every plugin whenever the full CLI parser is built (the
    # top-level --help), not only when ``sim`` is the command.
    parser: argparse.ArgumentParser = sub.add_parser(
        "sim",
        help="start a simulated peer (Modbus meter, CAN power-module group, ...) for probing and bring-up",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        add_help=False,
    )
    parser.add_argument(
        "-h", "--help", action=_PeersHelp, nargs=0, help="show this help with the available peers and exit"
    )
    parser.add_argument(
        "peer",
        nargs=argparse.REMAINDER,
        metavar="PEER [OPTIONS]",
        help="the peer to start and its options (see josev-hal sim PEER --help)",
    )
    parser.set_defaults(_sim_parser=parser)
    return parser


def _peers_parser(
    outer: argparse.ArgumentParser,
) -> tuple[argparse.ArgumentParser, pluggy.PluginManager] | str:
    """The ``sim`` parser with one sub-command per peer of the loaded plugins, and the plugin
    manager; or the error to print (two plugins offer the same name, no plugin offers a peer)."""
    from josev_hal.cli_tools import ToolConflict, add_tool_parsers, collect_tools
    from josev_hal.plugins import get_plugin_manager

    pm = get_plugin_manager()
    pm.load_all()  # a peer may come from any installed plugin, loaded or deferred
    try:
        tools = collect_tools(pm, HOOK)
    except ToolConflict as exc:
        return f"{outer.prog}: error: {exc}"
    if not tools:
        return (
            f"{outer.prog}: no installed plugin offers a simulated peer (hook {HOOK}); "
            "see josev-hal plugins for what is installed"
        )
    # Same parser class as the CLI's (one-line usage errors, exit 2) and the same help layout.
    parser = type(outer)(
        prog=outer.prog,
        description=outer.description,
        epilog=outer.epilog,
        formatter_class=outer.formatter_class,
    )
    kinds = parser.add_subparsers(dest="sim_peer", metavar="PEER")
    add_tool_parsers(kinds, tools, formatter_class=outer.formatter_class)
    return parser, pm


def run(args: argparse.Namespace) -> int:
    outer: argparse.ArgumentParser = args._sim_parser
    built = _peers_parser(outer)
    if isinstance(built, str):
        print(built, file=sys.stderr)
        return EXIT_RUNTIME
    parser, pm = built
    if not args.peer:
        parser.print_help()
        return EXIT_USAGE
    peer_args = parser.parse_args(args.peer)
    return int(peer_args._tool.tool.run(peer_args, pm))
