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
import sys
from collections.abc import Sequence

from josev_hal import __version__

# Order here is the order in ``--help``.
COMMANDS: tuple[str, ...] = (
    "run",
    "demo",
    "emulate_josev",
    "check",
    "plugins",
    "probe",
    "validate",
    "schemas",
)

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="josev-hal",
        description="Hardware abstraction layer for EV charging stations: the CS side of the Josev API.",
        epilog="Exit codes: 0 ok, 1 problems found, 2 usage error, 3 runtime failure.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
