"""``josev-hal run``: the daemon.

Without ``--board`` it runs the built-in simulated board (two EVSEs; drive the EVs on
``sim/cs``). The broker comes from ``--broker``, else ``$JOSEV_HAL_BROKER``, else the profile's
``[mqtt] broker``. SIGINT/SIGTERM stop it cleanly: contactors open first, the final state is
published, then the connection closes. Logs go to stderr (journald-friendly under systemd) and,
with ``--log-file`` or a state dir, to rotating files.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from josev_hal.cli import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_RUNTIME,
    add_log_level_argument,
    broker_url,
    non_negative_float,
)

log = logging.getLogger("josev_hal.run")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run the HAL daemon (built-in simulated board without --board)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 clean shutdown, 1 invalid board profile, 3 runtime failure "
        "(hardware could not be set up, broker refused the credentials, shutdown deadline passed), "
        "4 watchdog (a loop hung), 128+N a second signal N during the shutdown.",
    )
    parser.add_argument("--board", type=Path, help="board profile (TOML); default: the built-in sim board")
    parser.add_argument(
        "--broker", type=broker_url, metavar="URL", help="broker URL (mqtt://host:port or mqtts://host:port)"
    )
    add_log_level_argument(parser, "INFO")
    parser.add_argument("--log-file", type=Path, help="also log to this rotating file")
    parser.add_argument("--state-dir", type=Path, help="state directory (availability, logs, firmware, keys)")
    parser.add_argument(
        "--stats-interval",
        type=non_negative_float,
        default=0.0,
        metavar="S",
        help="log bridge counters every S s",
    )
    parser.add_argument(
        "--free-charging", action="store_true", help="AC sessions start without authorization"
    )
    parser.add_argument(
        "--wait-broker",
        type=non_negative_float,
        default=None,
        metavar="S",
        help="fail when the broker is not up within S s",
    )
    return parser


def _setup_logging(args: argparse.Namespace, state_dir: Path | None) -> None:
    from josev_hal.logging_setup import setup_logging

    setup_logging(state_dir, level=args.log_level.root_or(logging.INFO))
    args.log_level.apply()
    if args.log_file:
        from logging.handlers import RotatingFileHandler

        from josev_hal.logging_setup import UtcFormatter

        args.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(args.log_file, maxBytes=5 * 1024 * 1024, backupCount=5)
        handler.setFormatter(UtcFormatter())
        logging.getLogger().addHandler(handler)


def run(args: argparse.Namespace) -> int:
    from josev_hal.daemon import Daemon, install_signal_handlers, load_board_profile
    from josev_hal.errors import ConfigError, HalError, ProfileError
    from josev_hal.functions.config import resolve_state_dir
    from josev_hal.plugins import get_plugin_manager

    warnings: list[str] = []
    try:
        pm = get_plugin_manager()
        profile, source = load_board_profile(args.board, pm, warnings=warnings)
    except ProfileError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_PROBLEMS
    except HalError as exc:
        print(f"josev-hal run: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS if isinstance(exc, ConfigError) else EXIT_RUNTIME
    state_dir = resolve_state_dir(args.state_dir, profile)
    if args.board is None and args.state_dir is None and not os.environ.get("JOSEV_HAL_STATE_DIR"):
        # The built-in sim board is for trying things out as a normal user: keep its state in the
        # user's state directory instead of /var/lib.
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        state_dir = Path(base) / "josev-hal-sim"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"josev-hal run: state dir {state_dir}: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    _setup_logging(args, state_dir)
    for warning in warnings:  # placeholders, malformed EVSE ids: `josev-hal check --strict` fails on them
        log.warning("profile %s", warning)

    daemon = Daemon(profile, pm, source=source, broker_url=args.broker, state_dir=state_dir,
                    free_charging=args.free_charging)  # fmt: skip
    # runtime (#13): SIGTERM/SIGINT stop within a deadline; a second one exits at once
    install_signal_handlers(daemon)
    try:
        daemon.start(wait_s=args.wait_broker)
    except HalError as exc:
        log.error("startup failed: %s", exc)
        return EXIT_RUNTIME
    try:
        code = daemon.serve(stats_interval=args.stats_interval)
    finally:
        daemon.stop()
    log.info("stopped" if code == EXIT_OK else f"stopped (exit code {code})")
    return code
