"""``josev-hal demo``: a complete charging session on the simulated board, with nothing else running.

By default it starts a private broker on a free port (mosquitto when the binary exists, otherwise
amqtt in-process) and never touches any other broker: on a station, the broker on 127.0.0.1:1883
is the production one, and a simulated Josev conversation there would reach the real charging
stack. Only ``--broker URL`` makes it publish to an existing broker (it says so before it does).
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

from josev_hal.cli import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_RUNTIME,
    add_log_level_argument,
    broker_url,
    stderr_logging,
)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run a full charging session on the simulated board (on a private broker)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 the session completed and no message broke the contract, 1 otherwise, "
        "2 usage error, 3 the broker given could not be reached or a private one could not be started.",
    )
    parser.add_argument(
        "--broker",
        type=broker_url,
        metavar="URL",
        help="publish the simulated conversation to this existing broker instead of a private one "
        "(mqtt://host:port or mqtts://host:port)",
    )
    parser.add_argument(
        "--embedded-broker",
        action="store_true",
        help="start a private broker (the default; kept so that older scripts keep working)",
    )
    parser.add_argument("--fast", action="store_true", help="compress time: the demo takes well under 20 s")
    parser.add_argument("--dc", action="store_true", help="run the DC (ISO 15118) session instead of AC")
    parser.add_argument(
        "--scenario",
        choices=("ac", "dc", "pv-surplus"),
        help="the session to run (default ac; --dc means dc). pv-surplus: a local energy manager "
        "limits the power and the AC EVSE switches 3 -> 1 -> 3 phases",
    )
    parser.add_argument(
        "--everest",
        action="store_true",
        help="serve the board under EVerest's external MQTT API and play EVerest's side instead of Josev's",
    )
    add_log_level_argument(parser, "WARNING")
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
    from josev_hal.errors import ConfigError, HalError
    from josev_hal.plugins import get_plugin_manager

    stderr_logging(args.log_level, logging.WARNING)
    # Wide lines when piped (CI logs): the timeline is one message per line.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    t0 = time.monotonic()
    broker: EmbeddedBroker | None = None
    try:
        if args.broker and not args.embedded_broker:
            url = args.broker
            # Never fall back silently: the user named a broker, so a private one would hide that
            # the named one is down.
            if not _reachable(url):
                print(f"josev-hal demo: no broker answers at {url}", file=sys.stderr)
                return EXIT_RUNTIME
            console.print(
                f"[yellow]--broker given: publishing a simulated Josev conversation to {url} "
                "(every client of that broker will see it)[/]"
            )
        else:
            broker = EmbeddedBroker().start()
            url = broker.url
            kind = "amqtt (in-process)" if broker.is_fallback else "mosquitto"
            console.print(f"[dim]private broker: {kind} at {url} (use --broker URL for another)[/]")
        pm = get_plugin_manager()
        scenario = args.scenario or ("dc" if args.dc else "ac")
        profile, source = load_board_profile(None, pm)
        if scenario == "pv-surplus":  # the built-in board with a 1p/3p switch on its AC EVSE
            from josev_hal.profile import load_profile_text

            pv_board: str | None = pm.hook.hal_builtin_board(name="sim-pv")
            if pv_board is None:
                raise ConfigError("no plugin provides the built-in board 'sim-pv' (the sim plugin's)")
            source = "built-in sim board + phase switch"
            profile = load_profile_text(pv_board, source, pm)
        # A unique client id: several demos (or a daemon) may share one broker.
        profile.mqtt.client_id = f"josev-hal-demo-{uuid.uuid4().hex[:8]}"
        # Private like the broker: never the station's operations port (a running daemon owns it).
        profile.operations.listen = "127.0.0.1:0"
        # --- EVerest (#20): the same board under EVerest's API, EVerest's side emulated
        if args.everest:
            from josev_hal.commands.emulate_everest import demo_everest

            return demo_everest(profile, pm, source, url, dc=args.dc, fast=args.fast)
        # --- end EVerest
        with tempfile.TemporaryDirectory(prefix="josev-hal-demo-") as state_dir:
            daemon = Daemon(profile, pm, source=source, broker_url=url, state_dir=state_dir)
            daemon.start(wait_s=10.0)
            try:
                console.rule(f"josev-hal demo: {scenario.upper()} session on the simulated board")
                emulator = JosevEmulator(url, on_event=TimelinePrinter(console), timeout_s=5.0)
                with emulator:
                    if args.inject_violation:
                        _inject(url, profile.mqtt.publish_topic)
                    result = run_scenario(
                        emulator,
                        scenario,
                        fast=args.fast,
                        step_timeout_s=5.0,
                        client_id=profile.mqtt.client_id,
                    )
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


def _inject(url: str, topic: str) -> None:
    """Publish, on the CS's topic, a cp_status with a state the contract does not know.

    A separate client (not the HAL's bridge, whose strict encoder would refuse the message) is
    the simplest honest way to put a contract-breaking message where the CS's messages go.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from josev_hal.bridge import parse_broker_url

    addr = parse_broker_url(url)
    raw = (
        f'{{"id":"{uuid.uuid4()}","name":"cp_status","type":"update",'
        '"data":{"evse_id":"DE*JHL*E0001","connector_id":1,"state":"X9"}}'
    ).encode()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"josev-hal-demo-inject-{uuid.uuid4().hex[:6]}"
    )
    if addr.tls:
        client.tls_set()
    client.connect(addr.host, addr.port)
    client.loop_start()
    try:
        client.publish(topic, raw, qos=1).wait_for_publish(timeout=5.0)
    finally:
        client.loop_stop()
        client.disconnect()
