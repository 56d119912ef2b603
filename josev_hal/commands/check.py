"""``josev-hal check PROFILE...``: everything setup would check, without the hardware.

Prints ``ok <file>`` for every valid profile and every problem of every invalid one (one per line,
``file:line: key.path: reason``): syntax, unknown keys, types and ranges, installed drivers and
their options, each driver's own configuration rules (a Modbus unit id, a second chip's
address), bus address ranges, standard baud and CAN bit rates, and the board-wide cross-checks
(duplicate ids, two devices on one address, pin or channel). Placeholders a draft left
(``CHANGE-ME``, ``XXX``) and EVSE ids that are not ISO 15118 EVSE IDs are warnings:
``file:line: key.path: warning: ...``; ``--strict`` makes them fail the check (use it before a
station ships). Exit codes: 0 all valid, 1 any profile invalid (or, with ``--strict``, any
warning), 3 the plugins could not be loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from josev_hal.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_RUNTIME


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="validate board profiles (TOML)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("profiles", nargs="+", type=Path, metavar="PROFILE", help="board profile file(s)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    parser.add_argument(
        "--strict", action="store_true", help="warnings (placeholders, malformed EVSE ids) fail the check"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from josev_hal.errors import PluginError, ProfileError
    from josev_hal.plugins import get_plugin_manager
    from josev_hal.profile import load_profile

    try:
        pm = get_plugin_manager()
    except PluginError as exc:
        print(f"josev-hal check: plugin error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    failed = 0
    for path in args.profiles:
        warnings: list[str] = []
        try:
            load_profile(path, pm, warnings=warnings)
        except ProfileError as exc:
            failed += 1
            # Errors and warnings of one file together, in line order.
            for line in sorted([*exc.problems, *warnings], key=_line_number):
                print(line)
            continue
        for line in warnings:
            print(line)
        if warnings and args.strict:
            failed += 1
        elif not args.quiet:
            print(
                f"ok {path}" + (f" ({len(warnings)} warning(s); --strict fails on them)" if warnings else "")
            )
    return EXIT_PROBLEMS if failed else EXIT_OK


def _line_number(problem: str) -> int:
    # "file:42: key: reason" -> 42 (a file path may hold colons; the line is the first number field)
    for part in problem.split(":")[1:]:
        if part.isdigit():
            return int(part)
    return 0
