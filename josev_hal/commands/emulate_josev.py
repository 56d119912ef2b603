"""``josev-hal emulate-josev``: play Josev against a running CS and report every contract violation.

Scenarios: ``startup`` (any CS: service status, cs_parameters, cs_status_and_limits,
device_model), ``ac`` and ``dc`` (a full session; they drive the simulated EV on ``sim/cs``, so
the CS must run the simulated board, e.g. ``josev-hal run``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from josev_hal.cli import broker_url, positive_float

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from josev_hal.emulator import SCENARIOS

    parser: argparse.ArgumentParser = sub.add_parser(
        "emulate-josev",
        help="play Josev's side against a CS over MQTT and report contract violations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 session completed with no violation, 1 violations or failed steps, "
        "2 usage error, 3 broker unreachable.",
    )
    parser.add_argument(
        "--broker",
        required=True,
        type=broker_url,
        metavar="URL",
        help="broker URL, mqtt://host:port or mqtts://host:port",
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="startup", help="default: startup")
    parser.add_argument(
        "--timeout", type=positive_float, default=5.0, help="seconds to wait for each step (default 5)"
    )
    parser.add_argument("--slow", action="store_true", help="charge for 20 s instead of 3 s")
    parser.add_argument("--username", help="broker user name")
    parser.add_argument("--password-file", type=Path, help="file holding the broker password")
    parser.add_argument("--ca-file", help="CA certificate for mqtts://")
    parser.add_argument(
        "--request-topic", default="josev/cs", help="topic Josev publishes on (default josev/cs)"
    )
    parser.add_argument(
        "--publish-topic", default="cs/josev", help="topic the CS publishes on (default cs/josev)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from josev_hal.emulator import JosevEmulator, run_scenario
    from josev_hal.emulator.timeline import TimelinePrinter, print_summary
    from josev_hal.errors import HalError

    # Wide lines when piped (CI logs): the timeline is one message per line.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    password = args.password_file.read_text().strip() if args.password_file else None
    try:
        emulator = JosevEmulator(
            args.broker,
            request_topic=args.request_topic,
            publish_topic=args.publish_topic,
            username=args.username,
            password=password,
            ca_file=args.ca_file,
            timeout_s=args.timeout,
            on_event=TimelinePrinter(console),
        )
        t0 = time.monotonic()
        with emulator:
            result = run_scenario(emulator, args.scenario, fast=not args.slow, step_timeout_s=args.timeout)
    except HalError as exc:
        print(f"josev-hal emulate-josev: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    print_summary(console, result, time.monotonic() - t0, {"broker": args.broker})
    return EXIT_OK if result.ok else EXIT_PROBLEMS
