"""Issue #13 item 1: publishing never waits on MQTT, from any thread, whatever the broker does.

The bug this guards against: paho calls ``on_disconnect`` from inside ``publish()`` when the socket
write fails; with a lock held across that call the bridge deadlocked itself and every publisher
(CP sampling threads holding an EVSE lock among them) hung forever.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from josev_hal.bridge import Bridge
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.messages import payloads as p
from tests.support.broker import JosevPeer
from tests.support.contract import Contract
from tests.support.waiting import eventually
from tests.test_bridge import Recorder, example, example_payload

BridgeFactory = Callable[..., Bridge]


def _meter(contract: Contract, seq: int) -> p.MeterValuesUpdate:
    base = example_payload(contract, "meter_values", "update")
    return msgspec.structs.replace(base, total_active_energy_imported=float(seq))


class _Publishers:
    """``n`` threads publishing as fast as they can; records the longest single publish call."""

    def __init__(self, bridge: Bridge, contract: Contract, n: int) -> None:
        self.bridge = bridge
        self.stop = threading.Event()
        self.go = threading.Event()
        self.go.set()
        self.count = [0] * n
        self.longest_call_s = 0.0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self.payload = _meter(contract, 1)
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def _run(self, index: int) -> None:
        while not self.stop.is_set():
            if not self.go.wait(0.1):
                continue
            started = time.monotonic()
            try:
                self.bridge.publish_update(self.payload)
            except BaseException as exc:  # recorded, the test fails on it
                self.errors.append(exc)
                return
            took = time.monotonic() - started
            with self._lock:
                self.longest_call_s = max(self.longest_call_s, took)
            self.count[index] += 1
            time.sleep(0.0005)  # fast: the deadlock needed a publish racing the socket's death

    def finish(self, timeout: float = 10.0) -> list[str]:
        """Stop and join; names of threads that are still stuck inside publish."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self.threads if t.is_alive()]


def test_publishers_on_several_threads_never_hang_while_the_broker_is_killed_and_restarted(
    broker: EmbeddedBroker, bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    answer = example_payload(contract, "cs_status_and_limits", "response")
    handler = Recorder(answer)
    bridge = bridge_factory({("cs_status_and_limits", "request"): handler}, queue_size=100_000)
    pubs = _Publishers(bridge, contract, n=6)
    try:
        for round_ in range(6):
            pubs.go.set()
            time.sleep(0.3)
            broker.kill()  # while thousands of publishes per second race the socket's death
            time.sleep(0.2)
            before = sum(pubs.count)
            assert eventually(lambda b=before: sum(pubs.count) > b + 20, 5), "publishers stopped moving"
            # Pause the flood so the answer below is not stuck behind a backlog a real station
            # never produces (this test is about hangs, not throughput).
            pubs.go.clear()
            broker.start()
            assert bridge.wait_connected(10), f"no reconnect after kill {round_ + 1}"
            assert eventually(josev_peer.client.is_connected, 5)
            request = {**example(contract, "cs_status_and_limits", "request"), "id": str(uuid.uuid4())}
            josev_peer.send(request)
            # The HAL answers after every return (raw scan: thousands of updates arrive meanwhile).
            rid = request["id"].encode()
            assert eventually(lambda r=rid: any(r in raw for _, raw in josev_peer.received[-5000:]), 10)
    finally:
        stuck = pubs.finish()
    assert not pubs.errors
    assert stuck == [], f"threads stuck in publish_update: {stuck}"
    assert bridge.stats().reconnects == 6


def test_publish_returns_and_stop_finishes_while_the_network_thread_is_wedged_inside_paho(
    bridge_factory: BridgeFactory, contract: Contract
) -> None:
    """A test double at the paho boundary: the client's publish() never returns (a kernel send
    that blocks, a paho bug). Publishers must not notice, and stop() must still end."""
    bridge = bridge_factory(queue_size=50)
    client: Any = bridge._conn._client
    wedged = threading.Event()
    release = threading.Event()
    real_publish = client.publish

    def wedge(*args: Any, **kwargs: Any) -> Any:
        wedged.set()
        release.wait(30)
        return real_publish(*args, **kwargs)

    client.publish = wedge
    try:
        bridge.publish_update(_meter(contract, 0))
        assert wedged.wait(5)
        pubs = _Publishers(bridge, contract, n=3)
        assert eventually(lambda: sum(pubs.count) > 500, 10), "publishers block behind the wedged thread"
        assert pubs.finish() == []
        assert not pubs.errors
        stats = bridge.stats()
        assert stats.queue_depth == 50
        assert stats.queue_dropped == sum(pubs.count) - 50  # the newest 50 are kept
        done = threading.Event()
        threading.Thread(target=lambda: (bridge.stop(flush_s=0.5), done.set()), daemon=True).start()
        assert done.wait(5), "Bridge.stop() waits for a wedged network thread"
    finally:
        release.set()


def test_hostile_values_in_failing_handlers_are_logged_as_bounded_rate_limited_lines_without_traceback(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract, caplog: Any
) -> None:
    """Issue #13 item 6: 200 kB evse_ids used to reach the log in full, with a traceback each."""
    from josev_hal.errors import HalError

    def refuse(message: Any) -> Any:
        raise HalError(f"unknown evse_id {message.data.evse_id!r}")

    bridge = bridge_factory({("cs_contactor_status", "request"): refuse})
    huge = "E" * 200_000
    with caplog.at_level(logging.DEBUG, logger="josev_hal.bridge"):
        for _ in range(40):
            request = example(contract, "cs_contactor_status", "request")
            request = {**request, "id": str(uuid.uuid4()), "data": {**request["data"], "evse_id": huge}}
            josev_peer.send(request)
        assert eventually(lambda: bridge.stats().handler_errors == 40, 20)
    lines = [
        r for r in caplog.records if r.name.startswith("josev_hal.bridge") and r.levelno >= logging.WARNING
    ]
    assert lines, "the refusals were not logged at all"
    assert all(len(r.getMessage()) < 1000 for r in lines)
    assert all(r.exc_info is None for r in lines)
    # 10 lines per reason and minute, then one "more of" line; the counter keeps the exact number.
    assert len([r for r in lines if "handler for cs_contactor_status.request" in r.getMessage()]) == 10
    assert any("more of reason=handler_error:cs_contactor_status.request" in r.getMessage() for r in lines)
