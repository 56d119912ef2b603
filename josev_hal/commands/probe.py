"""``josev-hal probe KIND``: discover the hardware on a board and draft its profile.

Each kind is a tool (:class:`~josev_hal.hookspecs.CliTool`). ``board`` and ``relay`` are the
core's (:mod:`josev_hal.commands.probe_board`, :mod:`josev_hal.commands.probe_relay`): they need
only a board profile and the device roles. The bus probes come from the plugins through the hook
``hal_probe_tools``, each reusing its plugin's protocol code: ``serial`` (Modbus meters,
``josev_hal_modbus``), ``i2c`` (chips by their registers, ``josev_hal_i2c``), ``can`` (DC power
modules, ``josev_hal_can``), ``linux`` (GPIO/PWM/IIO of the SoC, ``josev_hal_linux``). A name
offered twice (by two plugins, or by a plugin and the core) is an error naming both.

The plugins are loaded only when ``probe`` is the command being run: the parser built for the
CLI takes ``KIND [OPTIONS]`` as it stands, and :func:`probe` parses it against a second parser
with one sub-command per tool (building that one for the top-level ``--help`` would import every
plugin).

Every tool's sub-parser gets ``--json`` (one JSON document: a list of ``{"bus",
"port"|"channel", ..., "address", "model", "driver", "reading"}``), ``--draft-profile FILE``
(merge what was found into a board profile, created when missing, so ``probe i2c`` then ``probe
serial`` on the same FILE build one profile; placeholders are marked ``REVIEW`` and ``josev-hal
check`` is run on the result) and ``--log-level``; :mod:`josev_hal.probe.tool` has the helpers
that honour them.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from josev_hal.cli import stderr_logging
from josev_hal.probe.tool import EXIT_CODES, EXIT_RUNTIME, EXIT_USAGE, common_options, error

if TYPE_CHECKING:
    from josev_hal.cli_tools import OfferedTool
    from josev_hal.hookspecs import CliTool
    from josev_hal.plugins import HalPluginManager

HOOK = "hal_probe_tools"

#: Who offers the core's tools, in messages.
CORE = "josev-hal"

DESCRIPTION = """\
Discover the hardware of a board and draft its profile.

KIND is one of the probes below: board and relay are josev-hal's own, the bus probes come from
the installed plugins (josev-hal's: serial -- Modbus energy meters, i2c -- CP/PP ADCs, GPIO
expanders, PWM chip, RFID reader, can -- DC power modules, linux -- the SoC's GPIO/PWM/IIO).
Only relay switches anything (with --yes-i-know; refused while a vehicle is connected); the
other probes josev-hal ships read.

--json prints one JSON document (a list of {"bus", "port"|"channel", ..., "address", "model",
"driver", "reading"}). --draft-profile FILE merges the findings into a board profile (created
when missing): probe i2c then probe serial on the same FILE build one profile. Placeholders are
marked REVIEW; josev-hal check runs on the result and names what is still missing.
"""


def core_tools() -> dict[str, CliTool]:
    """The probes of the core: they use only a board profile and the device roles."""
    from josev_hal.commands.probe_board import BoardProbe
    from josev_hal.commands.probe_relay import RelayProbe

    return {"board": BoardProbe(), "relay": RelayProbe()}


class _KindsHelp(argparse.Action):
    """``josev-hal probe --help``: the help with every installed probe in it (the plugins are
    loaded only now, when ``probe`` is the command being run)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        built = _loaded(parser)
        if isinstance(built, str):
            parser.exit(EXIT_RUNTIME, f"josev-hal probe: {built}\n")
        built[0].print_help()
        parser.exit(0)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "probe",
        help="discover hardware (meters, I2C chips, CAN modules, relays) and draft a board profile",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument(
        "-h", "--help", action=_KindsHelp, nargs=0, help="show this help with the available probes and exit"
    )
    parser.add_argument(
        "kind",
        nargs=argparse.REMAINDER,
        metavar="KIND [OPTIONS]",
        help="the probe to run and its options (see josev-hal probe KIND --help)",
    )
    parser.set_defaults(_probe_parser=parser)
    return parser


def offered_tools(pm: HalPluginManager) -> dict[str, OfferedTool]:
    """The core's probes and every plugin's ``hal_probe_tools``, by name.

    Raises :class:`~josev_hal.cli_tools.ToolConflict` naming both offerers when two offer the
    same name (two plugins, or a plugin and the core).
    """
    from josev_hal.cli_tools import OfferedTool, ToolConflict, collect_tools

    tools = {name: OfferedTool(name=name, plugin=CORE, tool=tool) for name, tool in core_tools().items()}
    for name, offered in collect_tools(pm, HOOK).items():
        if name in tools:
            raise ToolConflict(
                f"{name!r} is offered by {CORE} and by plugin {offered.plugin!r} ({HOOK}); "
                "uninstall or rename the plugin's",
                plugin=offered.plugin,
            )
        tools[name] = offered
    return dict(sorted(tools.items()))


def kinds_parser(
    tools: Mapping[str, OfferedTool],
    *,
    prog: str = "josev-hal probe",
    parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
    formatter_class: type[argparse.HelpFormatter] = argparse.RawDescriptionHelpFormatter,
) -> argparse.ArgumentParser:
    """The ``probe`` parser with one sub-command per tool
    (:func:`~josev_hal.cli_tools.add_tool_parsers`), each with the shared options
    (:func:`~josev_hal.probe.tool.common_options`) and the exit codes before its own options."""
    from josev_hal.cli_tools import add_tool_parsers

    parser = parser_class(
        prog=prog, description=DESCRIPTION, epilog=EXIT_CODES, formatter_class=formatter_class
    )
    kinds = parser.add_subparsers(dest="probe_kind", metavar="KIND")
    add_tool_parsers(
        kinds, tools, formatter_class=formatter_class, parents=[common_options()], epilog=EXIT_CODES, own=CORE
    )
    return parser


def _loaded(outer: argparse.ArgumentParser) -> tuple[argparse.ArgumentParser, HalPluginManager] | str:
    """Every installed plugin loaded and the kinds parser built like ``outer`` (the CLI's parser
    class and help layout); or the error to print."""
    from josev_hal.errors import PluginError
    from josev_hal.plugins import get_plugin_manager

    try:
        pm = get_plugin_manager()
        # Discovery asks every plugin (probe tools, identification, probe lines), not only the
        # ones a board would use.
        pm.load_all()
        tools = offered_tools(pm)
    except PluginError as exc:
        return f"plugin error: {exc}"
    # The CLI made the formatter a HelpFormatter subclass (plain text, raw description).
    formatter = cast("type[argparse.HelpFormatter]", outer.formatter_class)
    return kinds_parser(tools, prog=outer.prog, parser_class=type(outer), formatter_class=formatter), pm


def probe(parser: argparse.ArgumentParser, words: Sequence[str], pm: HalPluginManager) -> int:
    """Parse ``KIND [OPTIONS]`` with the kinds ``parser`` and run that tool."""
    if not words:
        parser.print_help()
        return EXIT_USAGE
    args = parser.parse_args(list(words))
    stderr_logging(args.log_level, logging.WARNING)
    offered: OfferedTool = args._tool
    return int(offered.tool.run(args, pm))


def run(args: argparse.Namespace) -> int:
    built = _loaded(args._probe_parser)
    if isinstance(built, str):
        error(built)
        return EXIT_RUNTIME
    parser, pm = built
    return probe(parser, args.kind, pm)
