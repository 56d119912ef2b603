"""What every ``josev-hal probe`` tool shares: exit codes, the progress bar, printing findings,
the plugins' probe lines and merging into ``--draft-profile``.

The core's tools (``board``, ``relay``) and the plugins' (``serial`` in ``josev_hal_modbus``,
``i2c`` in ``josev_hal_i2c``, ``can`` in ``josev_hal_can``, ``linux`` in ``josev_hal_linux``) use
these helpers, so every probe prints, drafts and exits the same way. The ``probe`` command gives
each tool's sub-parser the options read here (``--json``, ``--draft-profile FILE``,
``--log-level``; :func:`common_options`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev_hal.cli import add_log_level_argument
from josev_hal.probe import Found

if TYPE_CHECKING:
    from josev_hal.board import Board
    from josev_hal.buses import Bus
    from josev_hal.plugins import HalPluginManager

__all__ = [
    "EXIT_CODES",
    "EXIT_FOUND",
    "EXIT_NOTHING",
    "EXIT_RUNTIME",
    "EXIT_USAGE",
    "Advance",
    "bus_board",
    "common_options",
    "draft",
    "emit",
    "error",
    "exit_code",
    "load_board",
    "plugin_lines",
    "print_found",
    "progress",
]

EXIT_FOUND, EXIT_NOTHING, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3

#: The epilog of ``josev-hal probe`` and of every tool's ``--help``.
EXIT_CODES = """\
Exit codes:
  0  something was found (relay: switched, and the mirror contact followed)
  1  nothing was found (relay: refused -- vehicle connected, RCD tripped, contactor already
     closed -- or the mirror contact did not follow; the profile given is invalid)
  2  usage error (bad option value, unknown EVSE, relay without --yes-i-know)
  3  runtime error (the port, adapter or interface cannot be opened, a device fails,
     the draft file exists but is not TOML)
"""

#: ``advance(completed, text=None)``: move the progress bar (``text`` replaces its label).
Advance = Callable[..., None]


def common_options() -> argparse.ArgumentParser:
    """The parent parser of every tool's sub-parser: ``--json``, ``--draft-profile``, ``--log-level``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document (a list of findings)")
    common.add_argument(
        "--draft-profile",
        type=Path,
        metavar="FILE",
        help="merge the findings into this board profile (created when missing) and check it",
    )
    add_log_level_argument(common, "WARNING")
    return common


def error(message: str) -> None:
    """One ``josev-hal probe: ...`` line on stderr."""
    print(f"josev-hal probe: {message}", file=sys.stderr)


@contextmanager
def progress(args: argparse.Namespace, description: str, total: float) -> Iterator[Advance]:
    """A rich progress bar on stderr (off with --json or when stderr is not a terminal); yields
    ``advance(completed, text=None)``."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    disabled = bool(args.json) or not sys.stderr.isatty()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=disabled,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)

        def update(completed: float, text: str | None = None) -> None:
            bar.update(task, completed=completed, description=text or description)

        yield update


def _summary(reading: Mapping[str, Any]) -> str:
    parts = []
    for key, value in reading.items():
        if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            value = "/".join("-" if v is None else str(v) for v in value) or "-"
        elif isinstance(value, dict | list):
            value = json.dumps(value, separators=(",", ":"))
        parts.append(f"{key}={value}")
    return "  ".join(parts)


def _where(f: Found) -> str:
    """Where a finding is, as a person reads it."""
    loc = f.location
    if f.bus == "serial":
        return f"serial {loc['port']} {loc['baudrate']} baud parity {loc.get('parity', 'N')} unit {f.address}"
    if f.bus == "i2c":
        return f"i2c {loc['port']} 0x{f.address or 0:02x}"
    if f.bus == "can":
        return f"can {loc['interface']}:{loc['channel']} module {f.address}"
    where = f"{loc.get('device') or 'evse'} [{loc.get('evse')}]"
    return f"{where} on {loc['port']}" if loc.get("port") else where


def print_found(found: list[Found], nothing: str) -> None:
    """The findings for a person: where, model (and driver), reading, notes; ``nothing`` when
    there are none."""
    if not found:
        print(nothing)
        return
    for f in found:
        driver = f"  (driver {f.driver})" if f.driver and f.driver != f.model else ""
        print(f"{_where(f)}: {f.model or 'unknown'}{driver}")
        if f.reading:
            print(f"    {_summary(f.reading)}")
        for note in f.notes:
            print(f"    note: {note}")


def emit(args: argparse.Namespace, found: list[Found], nothing: str) -> None:
    """``--json``: one JSON list of the findings; otherwise :func:`print_found`."""
    if args.json:
        print(json.dumps([f.to_json() for f in found], indent=2))
    else:
        print_found(found, nothing)


def plugin_lines(pm: HalPluginManager, board: Board) -> None:
    """Print every plugin's ``hal_probe_lines`` for ``board``, each under ``[plugin]``."""
    from josev_hal.plugins import call_each

    for plugin, lines in call_each(pm, "hal_probe_lines", board=board):
        if lines:
            print(f"[{plugin}]")
            for line in lines:
                print(f"  {line}")


def bus_board(buses: dict[str, Bus]) -> Board:
    """A board holding only the probed (set-up) buses, for the plugins' ``hal_probe_lines``."""
    from josev_hal.board import Board
    from josev_hal.profile import Profile, Protection, SafetyDeclaration, StationInfo

    profile = Profile(
        station=StationInfo(vendor="josev-hal probe", model="probe", sw_version="-", hw_version="-"),
        safety=SafetyDeclaration(
            rcd_trip=Protection.HAL, cp_loss_shutdown=Protection.HAL, welding_detection=Protection.HAL
        ),
    )
    return Board(profile, buses, [])


def draft(
    args: argparse.Namespace,
    pm: HalPluginManager,
    merge: Callable[[dict[str, Any]], list[str]],
    start: Callable[[], dict[str, Any]] | None = None,
) -> int | None:
    """Merge into ``--draft-profile`` (if given) with ``merge(draft) -> messages`` (see
    :mod:`josev_hal.probe.draft`), write it and report what ``josev-hal check`` says about it.
    ``start()`` makes the draft when the file does not exist (default: an empty draft).

    Returns an exit code on failure, ``None`` when fine (or nothing to do).
    """
    from josev_hal.errors import ConfigError, ProfileError
    from josev_hal.probe.draft import load_draft, write_draft
    from josev_hal.profile import load_profile

    path: Path | None = args.draft_profile
    if path is None:
        return None
    out = sys.stderr if args.json else sys.stdout
    try:
        data = start() if start is not None and not path.exists() else load_draft(path)
        messages = merge(data)
        if not messages:
            print(f"draft profile {path}: nothing to add", file=out)
            return None
        write_draft(path, data)
    except (ConfigError, OSError) as exc:
        error(f"draft not written: {exc}")
        return EXIT_RUNTIME
    print(f"draft profile {path}:", file=out)
    for message in messages:
        print(f"  {message}", file=out)
    try:
        load_profile(path, pm)
    except ProfileError as exc:
        print("  josev-hal check: not complete yet -- add what is missing (or probe more buses):", file=out)
        for problem in exc.problems:
            print(f"    {problem}", file=out)
    else:
        print(f"  josev-hal check: ok (review the lines marked REVIEW in {path})", file=out)
    return None


def exit_code(drafted: int | None, found: bool) -> int:
    """A tool's exit code: the draft's failure if any, else found (0) or nothing (1)."""
    if drafted is not None:
        return drafted
    return EXIT_FOUND if found else EXIT_NOTHING


def load_board(path: Path, pm: HalPluginManager) -> Board | int:
    """The built (not set up) board of the profile at ``path``, or an exit code after printing
    why not (the profile's problems: 1; a driver that cannot be built: 3)."""
    from josev_hal.board import Board
    from josev_hal.errors import HalError, ProfileError
    from josev_hal.profile import load_profile

    try:
        profile = load_profile(path, pm)
    except ProfileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_NOTHING
    try:
        return Board.build(profile, pm)
    except HalError as exc:
        error(str(exc))
        return EXIT_RUNTIME
