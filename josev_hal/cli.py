"""The ``josev-hal`` console script.

Each sub-command lives in its own module under :mod:`josev_hal.commands` and exposes
``add_parser(subparsers) -> argparse.ArgumentParser`` and ``run(args) -> int``; this module only
wires them together, so commands stay small and load their heavy imports lazily.

Exit codes (all commands): 0 success, 1 the command ran and found problems (invalid message,
invalid profile, failed session), 2 usage error, 3 a runtime failure (broker unreachable,
hardware error).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
import typing
from collections.abc import Sequence

import msgspec

from josev_hal import __version__

# Order here is the order in ``--help``.
COMMANDS: tuple[str, ...] = (
    "run",
    "demo",
    "emulate_josev",
    "emulate_everest",
    "check",
    "plugins",
    "probe",
    "validate",
    "schemas",
    "sim",
    # operations (#19): the running daemon's endpoint, and the commissioning report
    "status",
    "monitor",
    "ctl",
    "commission",
)

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3

LOG_LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL_HELP = (
    "log level: LEVEL or LEVEL,LOGGER=LEVEL,... (e.g. info,josev_hal.bridge=debug); "
    "levels: " + ", ".join(n.lower() for n in LOG_LEVEL_NAMES)
)


class LogLevels(msgspec.Struct, frozen=True):
    """A parsed ``--log-level``: the root level (``None``: the command's default) plus per-logger
    levels."""

    root: int | None
    loggers: dict[str, int] = msgspec.field(default_factory=dict)

    def root_or(self, default: int) -> int:
        return default if self.root is None else self.root

    def apply(self) -> None:
        """Set the per-logger levels (the root level is set by whoever installs the handlers)."""
        for name, level in self.loggers.items():
            logging.getLogger(name).setLevel(level)


def _level(text: str, where: str) -> int:
    name = text.strip().upper()
    if name == "WARN":
        name = "WARNING"
    if name not in LOG_LEVEL_NAMES:
        choices = ", ".join(n.lower() for n in LOG_LEVEL_NAMES)
        raise argparse.ArgumentTypeError(f"{where}: unknown level {text.strip()!r} (choose from {choices})")
    return int(logging.getLevelName(name))


def parse_log_levels(text: str) -> LogLevels:
    """``"info,josev_hal.bridge=debug"`` -> :class:`LogLevels`; an argparse ``type=`` so that a bad
    value is a usage error (exit 2, one line)."""
    root: int | None = None
    loggers: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise argparse.ArgumentTypeError(f"empty entry in {text!r}")
        name, sep, value = part.partition("=")
        if not sep:
            if root is not None:
                raise argparse.ArgumentTypeError(f"two root levels in {text!r}")
            root = _level(name, "root")
            continue
        logger = name.strip()
        if not logger or any(c.isspace() for c in logger):
            raise argparse.ArgumentTypeError(f"invalid logger name {name!r} in {text!r}")
        loggers[logger] = _level(value, logger)
    return LogLevels(root=root, loggers=loggers)


def non_negative_float(text: str) -> float:
    """argparse ``type=`` for durations: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse ``type=`` for timeouts: a finite number > 0."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def broker_url(text: str) -> str:
    """argparse ``type=`` for ``--broker``: a parseable mqtt:// or mqtts:// URL."""
    from josev_hal.bridge import parse_broker_url
    from josev_hal.errors import HalError

    try:
        parse_broker_url(text)
    except HalError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("mqtt.broker: ")) from None
    return text


def add_log_level_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """``--log-level`` with per-logger levels, validated at parse time (a typo is exit 2)."""
    parser.add_argument(
        "--log-level",
        type=parse_log_levels,
        default=LogLevels(root=None),
        metavar="LEVELS",
        help=f"{LOG_LEVEL_HELP} (default {default.lower()})",
    )


def stderr_logging(levels: LogLevels, default: int) -> None:
    """Plain stderr logging for the interactive commands (``run`` has its own journald setup)."""
    logging.basicConfig(level=levels.root_or(default), format="%(levelname)s %(name)s: %(message)s")
    levels.apply()


# ``:func:`josev_hal.x.y` `` -> ``josev_hal.x.y``; ````josev-hal run```` -> ``josev-hal run``.
_RST_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`]+)`")
_RST_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(text: str) -> str:
    """Help text without reST markup (command docstrings double as ``--help`` descriptions)."""
    text = _RST_ROLE.sub(lambda m: m.group(1), text)
    text = _RST_LITERAL.sub(lambda m: m.group(1), text)
    return text.replace("::\n", ":\n")


class _PlainHelp(argparse.HelpFormatter):
    def _format_text(self, text: str) -> str:
        return super()._format_text(plain_text(text))

    def _expand_help(self, action: argparse.Action) -> str:
        return plain_text(super()._expand_help(action))


class _PlainRawHelp(argparse.RawDescriptionHelpFormatter, _PlainHelp):
    pass


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit 2 (no usage block, never a traceback)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _plain_formatters(parser: argparse.ArgumentParser) -> None:
    raw = issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter)  # type: ignore[arg-type]
    parser.formatter_class = _PlainRawHelp if raw else _PlainHelp
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _plain_formatters(child)


def _module_name(command: str) -> str:
    """``emulate-josev`` -> ``emulate_josev`` (module names cannot carry a dash)."""
    return command.replace("-", "_")


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line, or ``None`` (no command, top-level help or
    version, a misspelt name). The top-level parser has no option that takes a value, so the
    first word not starting with ``-`` is the command."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if "_" not in word and _module_name(word) in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; with ``only`` (a command module name from :data:`COMMANDS`) just that
    sub-command. Importing a command module pulls in what its ``add_parser`` needs (the emulator
    for its scenario list, for instance), so ``main`` imports only the chosen one: that keeps
    ``josev-hal run``'s start-up free of every other command's imports. The full parser (the
    top-level ``--help``, an unknown command) still imports and lists all of them."""
    parser = _Parser(
        prog="josev-hal",
        description="Hardware abstraction layer for EV charging stations: the CS side of the Josev API.",
        epilog="Exit codes: 0 ok, 1 problems found, 2 usage error, 3 runtime failure.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"josev_hal.commands.{name}")
        except ModuleNotFoundError as exc:
            # A command whose module is not there yet (or whose optional dependency is missing)
            # must not take the whole CLI down.
            if exc.name and exc.name.startswith("josev_hal.commands"):
                continue
            raise
        sub_parser = module.add_parser(sub)
        sub_parser.set_defaults(_run=module.run)
        _plain_formatters(sub_parser)
    if only is not None and not sub.choices:
        return build_parser()  # the chosen module is missing: the full parser says what exists
    _plain_formatters(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    chosen = _chosen_command(words)
    parser = build_parser(None if chosen is None else _module_name(chosen))
    args = parser.parse_args(words)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
