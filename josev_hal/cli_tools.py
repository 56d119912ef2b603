"""Sub-commands that plugins add to the CLI (:class:`~josev_hal.hookspecs.CliTool`), and what such
tools share.

``josev-hal sim PEER`` gets its peers from the hook ``hal_sim_peers`` (and ``josev-hal probe``
may get bus probes from ``hal_probe_tools`` the same way): the command loads the plugins,
:func:`collect_tools` gathers every plugin's mapping, attributed to the plugin that offered it (a
name two plugins offer is a :class:`ToolConflict` naming both), and :func:`add_tool_parsers` builds
one sub-parser per tool. The core never imports a plugin for this; plugins import this module for
the helpers below (a plugin may depend on the core, never the reverse):

* :func:`stop_on_signal` / :func:`wait_for_stop` -- serve until SIGINT/SIGTERM;
* :func:`modbus_unit_id`, :func:`baudrate` -- argparse ``type=`` functions, so a bad value is a
  one-line usage error (exit 2).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import signal
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pluggy

from josev_hal.errors import PluginError
from josev_hal.hookspecs import CliTool

__all__ = [
    "OfferedTool",
    "ToolConflict",
    "add_tool_parsers",
    "baudrate",
    "collect_tools",
    "modbus_unit_id",
    "stop_on_signal",
    "wait_for_stop",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OfferedTool:
    """One tool under the name a plugin offered it, with that plugin's name."""

    name: str
    plugin: str
    tool: CliTool


class ToolConflict(PluginError):
    """Two plugins offer a tool under the same name (the message names both)."""


def _problem(name: object, tool: object) -> str | None:
    """Why a contributed entry cannot become a sub-command, or ``None``."""
    if not isinstance(name, str) or not name or name.startswith("-") or any(c.isspace() for c in name):
        return f"{name!r} is not a sub-command name"
    # The contribution comes from a plugin we do not control: check the CliTool shape here, so a
    # broken tool is reported with its plugin's name instead of failing inside argparse.
    if not isinstance(getattr(tool, "help", None), str):
        return "its 'help' is not a string"
    for method in ("add_arguments", "run"):
        if not callable(getattr(tool, method, None)):
            return f"it has no {method}() method"
    return None


def collect_tools(pm: pluggy.PluginManager, hook_name: str) -> dict[str, OfferedTool]:
    """Every tool the registered plugins offer through ``hook_name`` (``hal_sim_peers`` or
    ``hal_probe_tools``), by name, sorted.

    Each implementation is called on its own so every name can be attributed to its plugin. A
    plugin whose hook raises, returns something other than a mapping, or offers an entry that is
    not a tool is left out with a warning naming it (one broken plugin must not take the others'
    tools away); a name offered by two plugins raises :class:`ToolConflict` naming both, because
    which one runs would otherwise depend on the order the plugins happened to load.
    """
    offered: dict[str, OfferedTool] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order
        plugin = impl.plugin_name
        try:
            contributed = impl.function()
        except Exception as exc:
            log.warning(
                "plugin %r: %s() failed, its tools are left out: %s: %s",
                plugin,
                hook_name,
                type(exc).__name__,
                exc,
            )
            continue
        if contributed is None:
            continue
        if not isinstance(contributed, Mapping):
            log.warning(
                "plugin %r: %s() must return a mapping of name -> tool, got %s; left out",
                plugin,
                hook_name,
                type(contributed).__name__,
            )
            continue
        for name, tool in contributed.items():
            problem = _problem(name, tool)
            if problem is not None:
                log.warning("plugin %r: %s(): entry %r left out: %s", plugin, hook_name, name, problem)
                continue
            first = offered.get(name)
            if first is not None:
                raise ToolConflict(
                    f"{name!r} is offered by two plugins: {first.plugin!r} and {plugin!r} "
                    f"({hook_name}); uninstall or rename one",
                    plugin=plugin,
                )
            offered[name] = OfferedTool(name=name, plugin=plugin, tool=tool)
    return dict(sorted(offered.items()))


def add_tool_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    tools: Mapping[str, OfferedTool],
    *,
    formatter_class: argparse._FormatterClass = argparse.RawDescriptionHelpFormatter,
    parents: Sequence[argparse.ArgumentParser] = (),
    epilog: str | None = None,
    own: str | None = None,
) -> None:
    """One sub-parser per tool: ``help`` is the tool's one-line help, the description its class
    docstring (or the help) and the plugin that offers it (not said for tools offered by ``own``,
    the host's own name); ``parents`` give options every tool shares. The tool adds its own
    options; the parsed namespace carries it as ``_tool`` (an :class:`OfferedTool`)."""
    from josev_hal.cli import plain_text

    for name, offered in tools.items():
        description = plain_text(inspect.getdoc(type(offered.tool)) or offered.tool.help)
        if offered.plugin != own:
            description += f"\n\n(offered by plugin {offered.plugin!r})"
        parser = sub.add_parser(
            name,
            parents=list(parents),
            help=offered.tool.help,
            description=description,
            epilog=epilog,
            formatter_class=formatter_class,
        )
        offered.tool.add_arguments(parser)
        parser.set_defaults(_tool=offered)


def stop_on_signal() -> threading.Event:
    """An event set by SIGINT or SIGTERM. Install it before the peer starts (and before it prints
    where it serves), so that a SIGTERM sent as soon as that line appears is a clean stop, not a
    kill."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def wait_for_stop(stop: threading.Event) -> None:
    """Block until ``stop`` is set (by the handler :func:`stop_on_signal` installed)."""
    while not stop.wait(3600.0):
        pass


def modbus_unit_id(text: str) -> int:
    """argparse ``type=``: a Modbus unit id 1..247 (decimal or 0x..)."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= value <= 247:
        raise argparse.ArgumentTypeError(f"Modbus unit id must be 1..247, got {value}")
    return value


def baudrate(text: str) -> int:
    """argparse ``type=``: a standard serial line speed."""
    from josev_hal.buses.serial import STANDARD_BAUDRATES

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value not in STANDARD_BAUDRATES:
        raise argparse.ArgumentTypeError(f"{value} is not a standard baud rate")
    return value
