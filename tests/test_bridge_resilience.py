"""The bridge across broker restarts and HAL crashes: nothing lost, nothing reordered."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from josev_hal.bridge import Bridge, status_topic
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.messages import Message
from josev_hal.messages import payloads as p
from tests.support.broker import JosevPeer
from tests.support.contract import Contract
from tests.test_bridge import (  # noqa: F401 - the autouse fixture applies here too
    Recorder,
    assert_all_valid,
    every_published_message_satisfies_the_contract,
    example,
    example_payload,
)

BridgeFactory = Callable[..., Bridge]
log = logging.getLogger(__name__)


def meter_update(contract: Contract, seq: int) -> p.MeterValuesUpdate:
    """A meter_values update whose energy register carries the sequence number."""
    base = example_payload(contract, "meter_values", "update")
    return msgspec.structs.replace(base, total_active_energy_imported=float(seq))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def needs_persistent_sessions(broker: EmbeddedBroker) -> None:
    if not broker.sessions_survive_restart:
        pytest.skip("the amqtt fallback forgets sessions (subscriptions, queued messages) on restart")


def test_updates_survive_five_broker_restarts_complete_in_order_and_never_duplicated_by_the_hal(
    broker: EmbeddedBroker, bridge_factory: BridgeFactory, contract: Contract
) -> None:
    needs_persistent_sessions(broker)
    # The updates are built from the official example: without the contract this skips here,
    # not inside the producer thread (where a skip would only end the thread).
    meter_update(contract, 0)
    peer = JosevPeer(broker, client_id="josev-persistent", clean_session=False)
    bridge = bridge_factory()
    produced: list[str] = []
    stop = threading.Event()

    def produce() -> None:  # 10 Hz, like a meter poller, regardless of the broker's state
        seq = 0
        while not stop.is_set():
            produced.append(bridge.publish_update(meter_update(contract, seq)).id)
            seq += 1
            stop.wait(0.1)

    producer = threading.Thread(target=produce)
    producer.start()
    reconnect_times = []
    try:
        for _ in range(5):
            time.sleep(0.5)
            broker.stop()
            assert wait_until(lambda: not bridge.connected, 5)
            time.sleep(0.3)  # updates produced now go to the offline queue
            broker.start()
            back = time.monotonic()
            assert bridge.wait_connected(10), "bridge did not reconnect"
            reconnect_times.append(time.monotonic() - back)
        time.sleep(0.3)
    finally:
        stop.set()
        producer.join()
    log.info("reconnect after broker restart took %s s", ", ".join(f"{t:.3f}" for t in reconnect_times))

    peer.wait_for(lambda ms: len({m["id"] for m in ms if m["name"] == "meter_values"}) >= len(produced), 15)
    time.sleep(0.2)  # a duplicate would arrive right behind
    delivered = [m["id"] for m in peer.application_messages() if m["name"] == "meter_values"]
    redeliveries = sum(peer.dup_flags)
    log.info("broker redelivered %d message(s) flagged DUP (QoS 1 at-least-once)", redeliveries)
    peer.close()

    assert len(produced) >= 30
    assert delivered == produced, (
        f"produced {len(produced)}, delivered {len(delivered)}, "
        f"duplicates={len(delivered) - len(set(delivered))}, missing={len(set(produced) - set(delivered))}"
    )
    stats = bridge.stats()
    assert stats.reconnects == 5
    assert stats.queue_dropped == 0
    assert_all_valid(peer, contract)


def test_offline_queue_keeps_the_newest_updates_and_counts_the_dropped_oldest(
    broker: EmbeddedBroker, bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    needs_persistent_sessions(broker)
    bridge = bridge_factory(queue_size=20)
    broker.stop()
    assert wait_until(lambda: not bridge.connected, 5)

    ids = [bridge.publish_update(meter_update(contract, i)).id for i in range(25)]
    stats = bridge.stats()
    assert (stats.queue_depth, stats.queue_dropped) == (20, 5)

    broker.start()
    assert bridge.wait_connected(10)
    josev_peer.wait_for(lambda ms: len(ms) >= 20)
    time.sleep(0.1)

    assert [m["id"] for m in josev_peer.application_messages()] == ids[5:]
    assert bridge.stats().queue_depth == 0


def test_state_snapshot_is_published_after_every_connect_behind_the_queued_updates(
    broker: EmbeddedBroker, bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    needs_persistent_sessions(broker)
    state = {"cp": p.CpState.A1}
    bridge = bridge_factory(start=False)
    bridge.add_snapshot_provider(
        lambda: [p.CpStatusUpdate(evse_id="DE*ACM*E0001", connector_id=1, state=state["cp"])]
    )
    bridge.start(wait_s=10)
    josev_peer.wait_for(lambda ms: len(ms) == 1)

    broker.stop()
    assert wait_until(lambda: not bridge.connected, 5)
    queued = bridge.publish_update(meter_update(contract, 1)).id
    state["cp"] = p.CpState.B1
    broker.start()
    assert bridge.wait_connected(10)
    josev_peer.wait_for(lambda ms: len({m["id"] for m in ms}) == 3)
    msgs = josev_peer.application_messages()  # without QoS 1 redeliveries across the restart

    assert [(m["name"], m["data"].get("state")) for m in msgs] == [
        ("cp_status", "A1"),
        ("meter_values", None),
        ("cp_status", "B1"),
    ]
    assert msgs[1]["id"] == queued
    assert_all_valid(josev_peer, contract)


def test_a_request_queued_by_the_broker_before_the_hal_started_is_never_handled(
    broker: EmbeddedBroker, bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    """Issue #13 item 4: a fresh HAL starts from a clean session; what an earlier run left queued
    at the broker (a cp_pwm, a sim/cs command) must not move hardware now."""
    needs_persistent_sessions(broker)
    client_id = f"josev-hal-{uuid.uuid4().hex[:6]}"
    answer = example_payload(contract, "cs_status_and_limits", "response")
    first = bridge_factory({("cs_status_and_limits", "request"): Recorder(answer)}, client_id=client_id)
    first.stop()
    stale = example(contract, "cs_status_and_limits", "request")
    josev_peer.send(stale)  # queued by the broker for the old persistent session

    handler = Recorder(answer)
    bridge_factory({("cs_status_and_limits", "request"): handler}, client_id=client_id)
    fresh = {**example(contract, "cs_status_and_limits", "request"), "id": str(uuid.uuid4())}
    josev_peer.send(fresh)
    msgs = josev_peer.wait_for(lambda ms: any(m["id"] == fresh["id"] for m in ms))
    time.sleep(0.2)  # a stale delivery would have arrived before the fresh one; give it a margin

    assert [m.id for m in handler.calls] == [fresh["id"]]
    assert stale["id"] not in {m["id"] for m in josev_peer.messages()}
    assert [m["id"] for m in msgs if m["type"] == "response"] == [fresh["id"]]


def test_a_request_sent_while_the_broker_restarts_is_handled_after_the_reconnect(
    broker: EmbeddedBroker, bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    """The clean start is per process: within one run the session stays persistent (QoS 1)."""
    needs_persistent_sessions(broker)
    answer = example_payload(contract, "cs_status_and_limits", "response")
    handler = Recorder(answer)
    bridge = bridge_factory(
        {("cs_status_and_limits", "request"): handler}, reconnect_min_s=1.5, reconnect_max_s=1.5
    )
    broker.stop()
    assert wait_until(lambda: not bridge.connected, 5)
    broker.start()
    # The peer reconnects faster than the HAL's backoff: the broker queues this for the HAL.
    assert wait_until(lambda: josev_peer.client.is_connected(), 5)
    request = example(contract, "cs_status_and_limits", "request")
    josev_peer.send(request)
    sent_while_hal_away = not bridge.connected

    josev_peer.wait_for(lambda ms: any(m["id"] == request["id"] for m in ms), timeout=10)
    assert sent_while_hal_away
    assert [m.id for m in handler.calls] == [request["id"]]


def test_presence_topic_is_online_while_connected_and_offline_after_a_clean_stop(
    broker: EmbeddedBroker, bridge_factory: BridgeFactory
) -> None:
    bridge = bridge_factory(client_id="hal-presence")
    topic = status_topic("hal-presence")
    watcher = JosevPeer(broker, clean_session=True, extra_topics=(topic,))
    try:
        assert wait_until(lambda: bool(watcher.messages(topic)), 5)
        assert watcher.messages(topic)[-1] == {"state": "online", "client_id": "hal-presence"}
        bridge.stop()
        assert wait_until(lambda: watcher.messages(topic)[-1]["state"] == "offline", 5)
    finally:
        watcher.close()


_HAL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from josev_hal.bridge import Bridge
    from josev_hal.mqtt_settings import MqttSettings
    bridge = Bridge(MqttSettings(broker=sys.argv[1], client_id="hal-crash", keepalive_s=5))
    bridge.start(wait_s=10)
    print("up", flush=True)
    time.sleep(60)
    """
)


def test_last_will_marks_the_hal_offline_when_its_process_dies(broker: EmbeddedBroker) -> None:
    topic = status_topic("hal-crash")
    watcher = JosevPeer(broker, clean_session=True, extra_topics=(topic,))
    proc = subprocess.Popen(
        [sys.executable, "-c", _HAL_SCRIPT, broker.url],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
        assert wait_until(lambda: any(m["state"] == "online" for m in watcher.messages(topic)), 5)
        proc.send_signal(signal.SIGKILL)  # no clean disconnect: only the broker's will can tell
        proc.wait(5)
        assert wait_until(lambda: watcher.messages(topic)[-1]["state"] == "offline", 5)
        # The will is retained: a subscriber that arrives later learns it too.
        late = JosevPeer(broker, clean_session=True, extra_topics=(topic,))
        assert wait_until(lambda: bool(late.messages(topic)), 5)
        assert late.messages(topic)[-1] == {"state": "offline", "client_id": "hal-crash"}
        late.close()
    finally:
        proc.kill()
        watcher.close()


def test_bridge_survives_exceptions_in_every_kind_of_callback(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    def bad_update(message: Message) -> None:
        raise ValueError("update handler bug")

    def bad_raw(topic: str, payload: bytes) -> None:
        raise KeyError("raw callback bug")

    def bad_snapshot() -> list[Any]:
        raise RuntimeError("snapshot bug")

    answer = example_payload(contract, "reset", "response")
    bridge = bridge_factory(
        {("websocket_status", "update"): bad_update, ("reset", "request"): Recorder(answer)}, start=False
    )
    bridge.subscribe_raw("sim/cs", bad_raw)
    bridge.add_snapshot_provider(bad_snapshot)
    bridge.start(wait_s=10)
    time.sleep(0.1)
    josev_peer.send(example(contract, "websocket_status", "update"))
    josev_peer.send(json.dumps({"x": 1}), topic="sim/cs")

    request = example(contract, "reset", "request")
    response = josev_peer.request(request)

    assert response["id"] == request["id"]
    assert wait_until(lambda: bridge.stats().handler_errors == 2, 5)
    assert bridge.connected


def test_an_update_published_while_the_bridge_stops_is_counted_dropped_exactly_once(
    broker: EmbeddedBroker, bridge_factory: BridgeFactory, contract: Contract
) -> None:
    # A publisher that passed the "stopped?" check just before stop() cleared the outbox for the
    # last time would leave its message in an outbox nothing drains: neither sent nor dropped.
    bridge = bridge_factory()
    broker.stop()
    assert wait_until(lambda: not bridge.connected, 5)
    submit = bridge._conn.submit

    def stop_in_between(item: Any) -> bool:
        bridge.stop()  # runs between the publisher's check and its submit
        return submit(item)

    bridge._conn.submit = stop_in_between  # type: ignore[method-assign]
    bridge.publish_update(meter_update(contract, 0))
    stats = bridge.stats()
    assert len(bridge._outbox) == 0
    assert stats.queue_dropped == 1
