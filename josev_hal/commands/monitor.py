"""``josev-hal monitor``: a live terminal view of the running daemon (refreshes 2-5 times a second).

The same table as ``josev-hal status``, with message rates; Ctrl-C ends it. ``--frames N`` stops
after N frames (for scripts and tests). Exit codes: 0 ended, 3 no daemon found or reachable.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from josev_hal.cli import EXIT_OK, EXIT_RUNTIME


def _rate(value: str) -> float:
    hz = float(value)
    if not 2.0 <= hz <= 5.0:
        raise argparse.ArgumentTypeError("--hz must be within 2..5")
    return hz


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from josev_hal.operations.client import add_endpoint_arguments

    parser: argparse.ArgumentParser = sub.add_parser(
        "monitor",
        help="live terminal view of the running daemon",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--hz", type=_rate, default=4.0, help="refresh rate, 2..5 (default 4)")
    parser.add_argument("--frames", type=int, default=0, metavar="N", help="stop after N frames")
    add_endpoint_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from josev_hal.operations.client import EndpointError, find_endpoint, request
    from josev_hal.operations.render import status_view

    try:
        endpoint = find_endpoint(args)
    except EndpointError as exc:
        print(f"josev-hal monitor: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    period = 1.0 / args.hz
    previous: tuple[float, int, int] | None = None
    frames = 0
    console = Console()
    with Live(Text("connecting ..."), console=console, refresh_per_second=args.hz, screen=False) as live:
        try:
            while True:
                started = time.monotonic()
                try:
                    code, body = request(endpoint, "GET", "/status", timeout=args.timeout)
                except EndpointError as exc:
                    live.update(Text(f"{exc} (retrying)", style="red"))
                else:
                    if code == 200 and isinstance(body, dict):
                        rates = None
                        b = body.get("bridge")
                        if b:
                            now = time.monotonic()
                            if previous is not None and now > previous[0]:
                                dt = now - previous[0]
                                rates = {
                                    "in": (b["messages_in"] - previous[1]) / dt,
                                    "out": (b["messages_out"] - previous[2]) / dt,
                                }
                            previous = (now, b["messages_in"], b["messages_out"])
                        live.update(status_view(body, rates), refresh=True)
                    else:
                        live.update(Text(f"/status answered {code}: {body}", style="red"))
                frames += 1
                if args.frames and frames >= args.frames:
                    break
                time.sleep(max(0.0, period - (time.monotonic() - started)))
        except KeyboardInterrupt:
            pass
    return EXIT_OK
