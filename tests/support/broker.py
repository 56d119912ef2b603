"""Fixtures: private MQTT brokers (mosquitto on a free port, never the system broker).

* ``broker`` - a fresh :class:`~josev_hal.embedded_broker.EmbeddedBroker` per test; the test may
  ``stop()``, ``kill()`` and ``restart()`` it (same port, same persistence).
* ``session_broker`` - one broker shared by the whole session, for tests that only need a
  working broker (do not stop it).
* ``broker_factory`` - ``broker_factory(tls=..., users=...)`` for brokers with TLS listeners or
  password files; all are closed at the end of the test.

Without mosquitto the fixtures fall back to the in-process amqtt broker (and say so in the test
report header); with ``CI=true`` a missing mosquitto is a failure, because CI must prove the
bridge against the broker stations actually run.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from josev_hal.embedded_broker import EmbeddedBroker, find_mosquitto

BrokerFactory = Callable[..., EmbeddedBroker]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def _require_mosquitto_in_ci() -> None:
    if find_mosquitto() is None and _in_ci():
        pytest.fail("mosquitto is not installed but CI=true: CI must run the MQTT tests against mosquitto")


def pytest_report_header(config: pytest.Config) -> str:
    exe = find_mosquitto()
    return (
        f"mqtt broker: {exe}" if exe else "mqtt broker: mosquitto NOT found, using in-process amqtt fallback"
    )


def _make(**kwargs: Any) -> EmbeddedBroker:
    _require_mosquitto_in_ci()
    if kwargs.get("users") and find_mosquitto() is None:
        pytest.skip("password files need mosquitto (the amqtt fallback is anonymous only)")
    return EmbeddedBroker(**kwargs).start()


@pytest.fixture
def broker_factory() -> Iterator[BrokerFactory]:
    started: list[EmbeddedBroker] = []

    def factory(**kwargs: Any) -> EmbeddedBroker:
        instance = _make(**kwargs)
        started.append(instance)
        return instance

    yield factory
    for instance in started:
        instance.close()


@pytest.fixture
def broker(broker_factory: BrokerFactory) -> EmbeddedBroker:
    """A private broker for one test; restartable."""
    return broker_factory()


@pytest.fixture(scope="session")
def session_broker() -> Iterator[EmbeddedBroker]:
    """One private broker for the whole session (do not stop or restart it)."""
    instance = _make()
    yield instance
    instance.close()


class JosevPeer:
    """The Josev side of the conversation, for tests: a plain paho client on the broker.

    It subscribes to ``cs/josev`` (and ``extra_topics``) with a persistent session by default
    (``clean_session=False``, fixed client id, QoS 1), records every message it receives in
    arrival order (``received``: list of ``(topic, raw_bytes)``) and can send requests and wait
    for the response with the same id.
    """

    def __init__(
        self,
        broker: EmbeddedBroker,
        *,
        client_id: str | None = None,
        clean_session: bool = False,
        extra_topics: tuple[str, ...] = (),
    ) -> None:
        self.received: list[tuple[str, bytes]] = []
        # Per entry of ``received``: whether the broker flagged it as a redelivery (MQTT DUP).
        self.dup_flags: list[bool] = []
        self._cond = threading.Condition()
        self._topics = ("cs/josev", *extra_topics)
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"josev-{uuid.uuid4().hex[:8]}",
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(5):
            raise TimeoutError("Josev peer could not subscribe")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        for topic in self._topics:
            client.subscribe(topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.received.append((message.topic, bytes(message.payload)))
            self.dup_flags.append(bool(message.dup))
            self._cond.notify_all()

    def send(self, payload: bytes | str | dict[str, Any], topic: str = "josev/cs") -> None:
        raw = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        self.client.publish(topic, raw, qos=1).wait_for_publish(5)

    def application_messages(self, topic: str = "cs/josev") -> list[dict[str, Any]]:
        """Like :meth:`messages`, without QoS 1 redeliveries of messages already received.

        MQTT 3.1.1 QoS 1 is *at least once*: when the broker stops after sending a message but
        before it processed the subscriber's PUBACK, it sends the message again after the restart
        with the DUP flag. A subscriber recognises those by DUP + an id it has already seen; any
        other repeat is a real duplicate and stays in the list.
        """
        seen: set[str] = set()
        out = []
        with self._cond:
            for (t, raw), dup in zip(self.received, self.dup_flags, strict=True):
                if t != topic:
                    continue
                doc = json.loads(raw)
                if dup and doc.get("id") in seen:
                    continue
                seen.add(doc.get("id"))
                out.append(doc)
        return out

    def messages(self, topic: str = "cs/josev") -> list[dict[str, Any]]:
        """Received JSON messages on ``topic`` (parsed), in arrival order."""
        with self._cond:
            return [json.loads(raw) for t, raw in self.received if t == topic]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until ``predicate(messages on cs/josev)`` holds; return those messages."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                msgs = [json.loads(raw) for t, raw in self.received if t == "cs/josev"]
                if predicate(msgs):
                    return msgs
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s; got {len(msgs)} messages")
                self._cond.wait(left)

    def request(self, message: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send a request (a dict with id/name/type/data) and return the response with its id."""
        self.send(message)
        msgs = self.wait_for(
            lambda ms: any(m.get("id") == message["id"] and m.get("type") == "response" for m in ms), timeout
        )
        return next(m for m in msgs if m.get("id") == message["id"] and m.get("type") == "response")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def josev_peer(broker: EmbeddedBroker) -> Iterator[JosevPeer]:
    """A Josev stand-in on ``broker`` (persistent session, subscribed to ``cs/josev``)."""
    peer = JosevPeer(broker)
    yield peer
    peer.close()


@pytest.fixture
def bridge_factory(broker: EmbeddedBroker) -> Iterator[Callable[..., Any]]:
    """``bridge_factory(register=..., **mqtt_settings)`` -> a started, connected Bridge on ``broker``.

    ``register`` maps ``(name, type)`` to handlers and is applied before the bridge connects.
    Every bridge gets its own client id unless one is given. All are stopped after the test.
    """
    from josev_hal.bridge import Bridge
    from josev_hal.mqtt_settings import MqttSettings

    bridges: list[Bridge] = []

    def factory(
        register: dict[tuple[str, str], Callable[..., Any]] | None = None,
        *,
        start: bool = True,
        broker_url: str | None = None,
        workers: int = 8,
        **settings: Any,
    ) -> Bridge:
        settings.setdefault("client_id", f"josev-hal-test-{uuid.uuid4().hex[:8]}")
        settings.setdefault("broker", broker_url or broker.url)
        settings.setdefault("reconnect_min_s", 0.05)
        settings.setdefault("reconnect_max_s", 0.5)
        bridge = Bridge(MqttSettings(**settings), workers=workers)
        for (name, type_), handler in (register or {}).items():
            bridge.register(name, type_, handler)
        bridges.append(bridge)
        if start:
            bridge.start(wait_s=10)
        return bridge

    yield factory
    for bridge in bridges:
        bridge.stop()
