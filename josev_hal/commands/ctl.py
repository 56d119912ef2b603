"""``josev-hal ctl ACTION EVSE ...``: operator actions on the running daemon.

Every action goes through the station core's own path and interlocks (the same as Josev's
requests) and is logged by the daemon with who and when::

    josev-hal ctl clear-faults EVSE          clear latched faults whose cause is gone
    josev-hal ctl reset-rcd EVSE             reset a tripped RCD (refused while it still trips)
    josev-hal ctl rcd-test EVSE              run the RCD self-test
    josev-hal ctl available EVSE on|off      operative / inoperative (off waits for a running
                                             session to end; --now stops it)
    josev-hal ctl unlock EVSE [CONNECTOR]    unlock the socket (refused while the contactor may be closed)
    josev-hal ctl lock EVSE [CONNECTOR]      lock the socket

Needs the token (``<state dir>/operations.token``, readable by root or the service user).
Exit codes: 0 done, 1 refused by the core (the reason is printed) or not authorized, 2 usage,
3 no daemon found or reachable.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from josev_hal.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_RUNTIME, EXIT_USAGE


def _on_off(text: str) -> bool:
    value = text.lower()
    if value in ("on", "true", "1", "yes", "operative"):
        return True
    if value in ("off", "false", "0", "no", "inoperative"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, not {text!r}")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from josev_hal.operations.client import add_endpoint_arguments

    parser: argparse.ArgumentParser = sub.add_parser(
        "ctl",
        help="operator actions: clear faults, reset/test the RCD, (in)operative, lock/unlock",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_endpoint_arguments(parser)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    for name, text in (
        ("clear-faults", "clear latched faults whose cause is gone"),
        ("reset-rcd", "reset a tripped RCD"),
        ("rcd-test", "run the RCD self-test"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("evse_id", metavar="EVSE")
        add_endpoint_arguments(p, nested=True)
    p = actions.add_parser("available", help="set the EVSE operative (on) or inoperative (off)")
    p.add_argument("evse_id", metavar="EVSE")
    p.add_argument("state", type=_on_off, metavar="on|off")
    p.add_argument(
        "--now", action="store_true", help="off: stop a running session now (default: when it ends)"
    )
    add_endpoint_arguments(p, nested=True)
    for name in ("unlock", "lock"):
        p = actions.add_parser(name, help=f"{name} the connector")
        p.add_argument("evse_id", metavar="EVSE")
        p.add_argument("connector_id", type=int, nargs="?", metavar="CONNECTOR")
        add_endpoint_arguments(p, nested=True)
    return parser


def _request(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    body: dict[str, Any] = {"evse_id": args.evse_id}
    if args.action == "available":
        return "available", {**body, "available": args.state, "force": args.now}
    if args.action in ("lock", "unlock"):
        body["locked"] = args.action == "lock"
        if args.connector_id is not None:
            body["connector_id"] = args.connector_id
        return "lock", body
    return args.action, body


def run(args: argparse.Namespace) -> int:
    from josev_hal.operations.client import EndpointError, find_endpoint, request

    if not args.action:
        print("josev-hal ctl: an ACTION is required (see josev-hal ctl --help)", file=sys.stderr)
        return EXIT_USAGE
    route, body = _request(args)
    try:
        endpoint = find_endpoint(args)
        code, answer = request(endpoint, "POST", f"/actions/{route}", body, timeout=args.timeout)
    except EndpointError as exc:
        print(f"josev-hal ctl: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    answer = answer if isinstance(answer, dict) else {"reason": str(answer)}
    if code == 200:
        extra = {k: v for k, v in answer.items() if k not in ("ok", "action", "evse_id")}
        details = " ".join(f"{k}={v}" for k, v in extra.items())
        print(f"ok {args.action} {args.evse_id}{(' ' + details) if details else ''}")
        return EXIT_OK
    print(f"refused {args.action} {args.evse_id}: {answer.get('reason', code)}", file=sys.stderr)
    return EXIT_PROBLEMS if code in (400, 401, 404, 409) else EXIT_RUNTIME
