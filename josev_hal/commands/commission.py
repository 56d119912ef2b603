"""``josev-hal commission``: a signed commissioning report of the station's safety functions.

Runs every EVSE of the board step by step through the station core (the daemon must be stopped):
RCD self-test, connector lock cycle, CP levels per state, PWM duty at a few currents, contactor
close/open times and the welding check from the mirror contact, the reaction to CP C->B, meter
plausibility (AC); IMD self-test and CP levels (DC). On the simulated board the command drives the
EVs itself (a plugin offers the EV side through the ``hal_ev_side`` hook); on a real station it
prompts for the test adapter ("set the adapter to state C").

Writes DIR/report.json (signed with the station's Ed25519 key from the keystore in the state
dir) and DIR/report.html. ``--verify report.json`` checks a report's signature (and with
``--state-dir``, that this station's key made it).

Exit codes: 0 every check passed / signature valid, 1 a check failed / signature invalid,
2 usage error, 3 runtime failure (board could not be set up, daemon running, key store).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from josev_hal.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_RUNTIME, EXIT_USAGE


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "commission",
        help="run the safety functions and write a signed commissioning report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--board", type=Path, help="board profile (TOML); default: the built-in sim board")
    parser.add_argument("--out", type=Path, help="directory for report.json and report.html")
    parser.add_argument("--state-dir", type=Path, help="state dir with the station's key store")
    parser.add_argument("--verify", type=Path, metavar="REPORT", help="verify the signature of a report.json")
    parser.add_argument(
        "--prompt",
        action="store_true",
        help="ask for the test adapter even on the simulated board (training, rehearsing a visit)",
    )
    parser.add_argument(
        "--inject-sim",
        action="append",
        default=[],
        metavar="JSON",
        help="sim board only: apply a sim command first (a fault to inject), e.g. "
        '\'{"evse_id": "...", "action": "weld_contactor"}\'',
    )
    return parser


def _state_dir(args: argparse.Namespace, profile: Any) -> Path:
    from josev_hal.functions.config import resolve_state_dir

    if args.board is None and args.state_dir is None and not os.environ.get("JOSEV_HAL_STATE_DIR"):
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / "josev-hal-sim"  # the same per-user dir `run` uses for the sim board
    return resolve_state_dir(args.state_dir, profile)


def _daemon_running(state_dir: Path) -> int | None:
    from josev_hal.operations.auth import pid_alive, read_endpoint

    info = read_endpoint(state_dir)
    pid = info.get("pid") if info else None
    if not isinstance(pid, int) or pid == os.getpid() or not pid_alive(pid):
        return None
    return pid


def _verify(args: argparse.Namespace) -> int:
    from josev_hal.functions.keystore import FileKeyStore, KeyStoreError
    from josev_hal.operations.report import ReportError, load, verify

    expected = None
    if args.state_dir is not None:
        try:
            key = FileKeyStore(args.state_dir / "keys").signing_key()
        except KeyStoreError as exc:
            print(f"josev-hal commission: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        expected = key.public_key().public_bytes_raw()
    try:
        report = load(args.verify)
        fp = verify(report, expected)
    except ReportError as exc:
        print(f"INVALID {args.verify}: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    verdict = "passed" if report.get("passed") else "FAILED"
    print(f"valid {args.verify}: signed by key {fp}; commissioning {verdict}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.verify is not None:
        return _verify(args)
    if args.out is None:
        print("josev-hal commission: --out DIR is required (or --verify REPORT)", file=sys.stderr)
        return EXIT_USAGE

    from josev_hal.daemon import load_board_profile
    from josev_hal.errors import ConfigError, HalError, ProfileError
    from josev_hal.functions.keystore import FileKeyStore
    from josev_hal.operations.commission import Commissioning
    from josev_hal.operations.report import render_html, sign
    from josev_hal.plugins import get_plugin_manager

    try:
        pm = get_plugin_manager()
        profile, source = load_board_profile(args.board, pm)
    except ProfileError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_PROBLEMS
    except HalError as exc:
        print(f"josev-hal commission: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS if isinstance(exc, ConfigError) else EXIT_RUNTIME
    if args.board is not None:
        profile_bytes = args.board.read_bytes()
    else:
        # The text load_board_profile just built the profile from (it checked that a plugin has it).
        builtin: str = pm.hook.hal_builtin_board(name="sim")
        profile_bytes = builtin.encode()
    state_dir = _state_dir(args, profile)
    pid = _daemon_running(state_dir)
    if pid is not None:
        print(
            f"josev-hal commission: the daemon (pid {pid}) is running on this state dir; stop it first "
            "(commissioning drives the contactors itself)",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    try:
        key = FileKeyStore(state_dir / "keys").signing_key()
    except HalError as exc:
        print(f"josev-hal commission: {exc}", file=sys.stderr)
        return EXIT_RUNTIME

    from josev_hal.operations.commission import OperatorAdapter

    ev = OperatorAdapter() if args.prompt else None
    job = Commissioning(profile, pm, source=source, profile_bytes=profile_bytes, ev=ev)
    for command in args.inject_sim:
        job.inject_sim(command)
    try:
        report = job.run()
    except (HalError, ValueError) as exc:
        print(f"josev-hal commission: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    signed = sign(report, key)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(
            json.dumps(signed, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        (args.out / "report.html").write_text(render_html(signed), encoding="utf-8")
    except OSError as exc:
        print(f"josev-hal commission: cannot write the report to {args.out}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    failed = [c for c in report["checks"] if not c["passed"]]
    total = len(report["checks"])
    print(
        f"{'PASSED' if not failed else 'FAILED'}: {total - len(failed)}/{total} "
        f"checks passed; report {args.out / 'report.json'} (signed, key "
        f"{signed['signature']['public_key_fingerprint']}) and {args.out / 'report.html'}"
    )
    for check in failed:
        print(f"  failed: {check['evse_id']} {check['name']}: {check['detail']}")
    return EXIT_OK if not failed else EXIT_PROBLEMS
