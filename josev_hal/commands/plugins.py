"""``josev-hal plugins``: list loaded plugins with their distribution, version, hooks and drivers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from josev_hal.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_RUNTIME

#: The declared test files per message (the coverage table's Test column): a source-tree file, as
#: the table is made for the README.
COVERAGE_TESTS = Path(__file__).resolve().parents[2] / "tests" / "data" / "coverage_tests.toml"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "plugins",
        help="list plugins, their versions, hooks and drivers",
        description=(
            "List every plugin the HAL can load (built-ins and entry points of group 'josev_hal'; "
            "this imports them all, while run and check import only what a board uses), with "
            "distribution, version, implemented hooks, drivers and bus kinds. A plugin that fails "
            "to load is listed as FAILED with its error (and disables only itself): exit 1."
        ),
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--routes",
        action="store_true",
        help="print the routing table instead: which component answers each message Josev sends "
        "(josev_hal/routing.py; plugins may claim only the rows marked 'ignored')",
    )
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="print the README's API coverage table instead (Markdown): every message of the "
        "contract with its directions, the CS's obligation, the component that answers or sends "
        "it (the routing and publisher tables of josev_hal/routing.py) and its tests",
    )
    parser.add_argument(
        "--coverage-tests",
        type=Path,
        default=None,
        metavar="FILE",
        help="the TOML file naming the test files of each message, for --coverage "
        "(default: tests/data/coverage_tests.toml of the josev-hal checkout, or of the current "
        "directory)",
    )
    parser.add_argument(
        "--board-schema",
        type=Path,
        metavar="FILE",
        help="also write a board-profile JSON Schema that knows the installed drivers' and bus kinds' "
        "options (for editor completion)",
    )
    return parser


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _default_coverage_tests() -> Path | None:
    """The checkout's mapping: next to the package when run from a checkout (editable install),
    else in the current directory; ``None`` when neither has one (an installed wheel)."""
    for candidate in (COVERAGE_TESTS, Path.cwd() / "tests" / "data" / "coverage_tests.toml"):
        if candidate.is_file():
            return candidate
    return None


def coverage_tests(path: Path) -> dict[str, tuple[str, ...]]:
    """The TOML ``message name = ["test file", ...]`` as a dict; ValueError says what is wrong."""
    import tomllib

    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    out: dict[str, tuple[str, ...]] = {}
    for name, files in doc.items():
        if not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
            raise ValueError(f"{path}: {name} must be a list of test file names")
        out[name] = tuple(files)
    return out


def run(args: argparse.Namespace) -> int:
    from josev_hal.errors import PluginError
    from josev_hal.plugins import get_plugin_manager

    if args.routes:  # the table is static: no plugin needs to load for it
        from josev_hal.routing import format_routes

        print(format_routes())
        return EXIT_OK
    if args.coverage:  # static too
        from josev_hal.routing import coverage_markdown

        path = args.coverage_tests or _default_coverage_tests()
        if path is None:
            print(
                "josev-hal plugins: --coverage needs tests/data/coverage_tests.toml, which is part "
                "of a josev-hal checkout, not of the installed package: run it in a checkout or "
                "pass --coverage-tests FILE",
                file=sys.stderr,
            )
            return EXIT_RUNTIME
        try:
            tests = coverage_tests(path)
        except ValueError as exc:
            print(f"josev-hal plugins: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        print(coverage_markdown(tests))
        return EXIT_OK
    try:
        pm = get_plugin_manager()
    except PluginError as exc:
        print(f"josev-hal plugins: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    pm.load_all()
    infos = pm.plugin_info()
    if args.board_schema is not None:
        from josev_hal.profile import board_json_schema

        text = json.dumps(board_json_schema(pm), indent=2, ensure_ascii=False) + "\n"
        args.board_schema.write_text(text, encoding="utf-8")
        print(f"wrote {args.board_schema}", file=sys.stderr)
    status = EXIT_PROBLEMS if pm.failures else EXIT_OK
    for failure in pm.failures:
        print(f"josev-hal plugins: {failure.message()}", file=sys.stderr)
    if args.json:
        docs = [info.to_dict() for info in infos]
        docs += [
            {
                "name": f.name,
                "distribution": f.distribution,
                "version": f.version,
                "entry_point": f.entry_point,
                "failed": f.error,
            }
            for f in pm.failures
        ]
        print(json.dumps(docs, indent=2))
        return status
    rows = [["PLUGIN", "DISTRIBUTION", "VERSION", "HOOKS", "DRIVERS / BUS KINDS"]]
    for info in infos:
        provides = info.drivers + [f"bus:{kind}" for kind in info.bus_kinds]
        rows.append(
            [
                info.name,
                info.distribution or "-",
                info.version or "-",
                ",".join(h.removeprefix("hal_") for h in info.hooks) or "-",
                ", ".join(provides) or "-",
            ]
        )
    for f in pm.failures:
        rows.append([f.name, f.distribution or "-", f.version or "-", "FAILED", f.error])
    print(_table(rows))
    return status
