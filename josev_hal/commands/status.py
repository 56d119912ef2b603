"""``josev-hal status [--json]``: one look at the running daemon (through its operations endpoint).

Shows every EVSE: state, CP (state, voltages, duty, PP, lock), contactor, meter, active faults,
why the contactor may not close, the wear counters, and the bridge counters. Exit codes: 0 shown,
3 no daemon found or reachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from josev_hal.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_RUNTIME


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from josev_hal.operations.client import add_endpoint_arguments

    parser: argparse.ArgumentParser = sub.add_parser(
        "status",
        help="show the running daemon's state (EVSEs, faults, counters, bridge)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the /status JSON instead of a table")
    add_endpoint_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from josev_hal.operations.client import EndpointError, find_endpoint, request
    from josev_hal.operations.render import status_view

    try:
        endpoint = find_endpoint(args)
        code, body = request(endpoint, "GET", "/status", timeout=args.timeout)
    except EndpointError as exc:
        print(f"josev-hal status: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    if code != 200 or not isinstance(body, dict):
        reason = body.get("reason") if isinstance(body, dict) else body
        print(f"josev-hal status: {endpoint.url}/status answered {code}: {reason}", file=sys.stderr)
        return EXIT_PROBLEMS if code in (401, 403) else EXIT_RUNTIME
    if args.json:
        print(json.dumps(body, indent=2, sort_keys=True))
    else:
        # A pipe or a log gets the full table, not 80 columns of wrapped cells.
        console = Console() if sys.stdout.isatty() else Console(width=160)
        console.print(status_view(body))
    return EXIT_OK
