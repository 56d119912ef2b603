"""``josev-hal demo``: a complete charging session on the simulated board, with nothing else running.

It connects to the broker given (default ``mqtt://127.0.0.1:1883``); when none answers it starts
an embedded broker (mosquitto on a free port when the binary exists, otherwise amqtt in-process).
Then it runs the HAL on the built-in simulated board and the built-in Josev emulator, which plays
Josev's side of the session while the simulated EV plugs in, charges and leaves. Every message is
printed on a timeline and checked against the contract.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from typing import Any

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_RUNTIME = 0, 1, 2, 3
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run a full charging session on the simulated board (embedded broker if needed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 the session completed and no message broke the contract, 1 otherwise, "
        "3 no broker could be reached or started.",
    )
    parser.add_argument("--broker", help=f"broker URL (default {DEFAULT_BROKER}, else an embedded broker)")
    parser.add_argument("--embedded-broker", action="store_true", help="always start a private broker")
    parser.add_argument("--fast", action="store_true", help="compress time: the demo takes well under 20 s")
    parser.add_argument("--dc", action="store_true", help="run the DC (ISO 15118) session instead of AC")
    parser.add_argument("--log-level", default="WARNING", help="HAL log level on stderr (default WARNING)")
    parser.add_argument(
        "--inject-violation",
        action="store_true",
        help="publish one contract-breaking message as the CS (proves that the checker catches it)",
    )
    return parser


def _reachable(url: str) -> bool:
    """Whether a broker answers at ``url``: a real MQTT CONNACK for mqtt://; for mqtts:// (whose
    handshake needs certificates) an open port."""
    from josev_hal.bridge import parse_broker_url
    from josev_hal.embedded_broker import answers_mqtt, port_open

    addr = parse_broker_url(url)
    return port_open(addr.host, addr.port) if addr.tls else answers_mqtt(addr.host, addr.port)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from josev_hal.daemon import Daemon, load_board_profile
    from josev_hal.embedded_broker import EmbeddedBroker
    from josev_hal.emulator import JosevEmulator, run_scenario
    from josev_hal.emulator.timeline import TimelinePrinter, print_summary
    from josev_hal.errors import HalError
    from josev_hal.plugins import get_plugin_manager

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    # Wide lines when piped (CI logs): the timeline is one message per line.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    t0 = time.monotonic()
    broker: EmbeddedBroker | None = None
    url = args.broker or DEFAULT_BROKER
    try:
        if args.embedded_broker or not _reachable(url):
            if args.broker and not args.embedded_broker:
                console.print(f"[yellow]no broker answers at {url}; starting an embedded one[/]")
            broker = EmbeddedBroker().start()
            url = broker.url
            kind = "amqtt (in-process)" if broker.is_fallback else "mosquitto"
            console.print(f"[dim]embedded broker: {kind} at {url}[/]")
        pm = get_plugin_manager()
        profile, source = load_board_profile(None, pm)
        # A unique client id: several demos (or a daemon) may share one broker.
        profile.mqtt.client_id = f"josev-hal-demo-{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory(prefix="josev-hal-demo-") as state_dir:
            daemon = Daemon(profile, pm, source=source, broker_url=url, state_dir=state_dir)
            daemon.start(wait_s=10.0)
            try:
                scenario = "dc" if args.dc else "ac"
                console.rule(f"josev-hal demo: {scenario.upper()} session on the simulated board")
                emulator = JosevEmulator(url, on_event=TimelinePrinter(console), timeout_s=5.0)
                with emulator:
                    if args.inject_violation:
                        _inject(daemon)
                    result = run_scenario(emulator, scenario, fast=args.fast, step_timeout_s=5.0)
            finally:
                daemon.stop()
    except HalError as exc:
        print(f"josev-hal demo: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    finally:
        if broker is not None:
            broker.close()
    print_summary(console, result, time.monotonic() - t0, {"broker": url, "board": source})
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def _inject(daemon: Any) -> None:
    """Publish, as the CS, a cp_status with a state the contract does not know."""
    bridge = daemon.bridge
    raw = (
        f'{{"id":"{uuid.uuid4()}","name":"cp_status","type":"update",'
        '"data":{"evse_id":"DE*JHL*E0001","connector_id":1,"state":"X9"}}'
    ).encode()
    bridge._conn.publish(bridge.settings.publish_topic, raw)  # bypasses the strict encoder on purpose
