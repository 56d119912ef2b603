"""``josev-hal check PROFILE...``: validate board profiles.

Prints ``ok <file>`` for every valid profile and every problem of every invalid one (one per line,
``file:line: key.path: reason``). Exit codes: 0 all valid, 1 any profile invalid, 3 the plugins
could not be loaded (then no profile can be judged).
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
        description=(
            "Validate board profiles: TOML syntax, unknown keys, types, driver and bus options, "
            "installed drivers, required device roles per EVSE, unique ids and addresses. Every "
            "problem of a file is reported. Exit 1 when any profile is invalid."
        ),
    )
    parser.add_argument("profiles", nargs="+", type=Path, metavar="PROFILE", help="board profile file(s)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only problems")
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
        try:
            load_profile(path, pm)
        except ProfileError as exc:
            failed += 1
            for problem in exc.problems:
                print(problem)
        else:
            if not args.quiet:
                print(f"ok {path}")
    return EXIT_PROBLEMS if failed else EXIT_OK
