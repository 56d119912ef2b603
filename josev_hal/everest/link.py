"""The MQTT side of the EVerest northbound: one :class:`~josev_hal.bridge.connection.MqttConnection`
(the bridge's paho owner), topic routing, strict decoding and one worker thread for commands.

Why a worker thread: a command such as ``allow_power_on`` ends in a bus transaction (I2C, Modbus,
CAN). Running it on the network thread would stall MQTT for everyone; running several at once
would reorder commands EVerest sent in order (``pwm_on`` then ``allow_power_on``). One FIFO worker
keeps EVerest's order and leaves the network thread free.

Publishing never blocks and never raises into the caller: messages go to the bridge's
:class:`~josev_hal.bridge.outbox.Outbox` (bounded, drop-oldest), which only the network thread
drains into paho; while the broker is away they wait there. Every adapter also re-publishes its
state after a reconnect and after EVerest's ready beacon (EVerest may have restarted).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from josev_hal.bridge.config import parse_broker_url
from josev_hal.bridge.connection import MqttConnection, topic_matches
from josev_hal.bridge.core import status_topic
from josev_hal.bridge.outbox import Outbox, Outgoing
from josev_hal.errors import BridgeError, MessageError
from josev_hal.everest import codec
from josev_hal.mqtt_settings import MqttSettings

__all__ = ["EverestLink", "Handler", "LinkStats"]

log = logging.getLogger(__name__)

#: ``handler(value, headers_reply_to)``: value decoded per :data:`codec.PAYLOADS`.
Handler = Callable[[Any], None]
RawHandler = Callable[[str, bytes], None]

_STOP = object()


@dataclass
class LinkStats:
    received: int = 0
    rejected: int = 0
    published: int = 0
    queued_offline: int = 0
    dropped: int = 0
    handler_errors: int = 0
    rejects: list[str] = field(default_factory=list)  # the last few reasons, for logs and tests


class EverestLink:
    """Routes ``everest_api/1/<type>/<module_id>/e2m/<name>`` to handlers; publishes m2e."""

    def __init__(self, settings: MqttSettings, broker_url: str | None = None) -> None:
        self.settings = settings
        self.address = parse_broker_url(broker_url or settings.broker)
        self._routes: dict[str, tuple[codec.MessageKey, Handler, bool]] = {}
        self._raw: list[tuple[str, RawHandler, bool]] = []  # (subscription, fn, on worker?)
        self._session_listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._connected = threading.Event()
        self.stats = LinkStats()
        self._status = status_topic(settings.client_id)
        self._outbox = Outbox(settings.queue_size)
        self._conn = MqttConnection(
            settings,
            self.address,
            outbox=self._outbox,
            will_topic=self._status,
            will_payload=self._presence("offline"),
            on_message=self._on_message,
            on_connected=self._on_connected,
            on_session_ready=self._on_session_ready,
            on_disconnected=self._on_disconnected,
            on_connect_failed=lambda exc: None,
        )

    # -- wiring (before start) -------------------------------------------------------------------

    def route(
        self, api_type: str, module_id: str, name: str, handler: Handler, *, inline: bool = False
    ) -> None:
        """Call ``handler(decoded)`` on the worker for ``e2m/<name>`` of this module.

        ``inline=True`` calls it on the network thread instead; only for handlers that merely
        record (the heartbeat: its age must not grow because a bus transaction is slow)."""
        key = (api_type, "e2m", name)
        if key not in codec.PAYLOADS:
            raise ValueError(f"{api_type} has no e2m message {name!r}")
        with self._lock:
            self._routes[codec.topic(api_type, module_id, "e2m", name)] = (key, handler, inline)

    def subscribe_raw(self, subscription: str, handler: RawHandler, *, on_worker: bool = True) -> None:
        """Raw ``handler(topic, payload)`` for a topic filter (entry point, replies, ``sim/cs``).
        ``on_worker=False`` runs it on the network thread (only for handlers that just record)."""
        with self._lock:
            self._raw.append((subscription, handler, on_worker))
        self._conn.request_subscribe(subscription)

    def on_session(self, listener: Callable[[], None]) -> None:
        """``listener()`` (on the worker) after every (re)connect: re-publish state."""
        with self._lock:
            self._session_listeners.append(listener)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, wait_s: float | None = None) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="everest-worker", daemon=True)
            self._worker.start()
        self._conn.start()
        if wait_s is not None and not self._connected.wait(wait_s):
            self.stop()
            raise BridgeError(f"mqtt: no connection to {self.address.url} within {wait_s:g} s")

    def _presence(self, state: str) -> bytes:
        return b'{"state":"' + state.encode() + b'","client_id":"' + self.settings.client_id.encode() + b'"}'

    def stop(self) -> None:
        """Deliver what is queued, publish the retained ``offline`` presence, disconnect."""
        self._conn.stop(Outgoing(self._status, self._presence("offline"), retain=True), timeout=1.0)
        worker, self._worker = self._worker, None
        if worker is not None:
            self._jobs.put(_STOP)
            worker.join(1.0)

    @property
    def connected(self) -> bool:
        return self._conn.connected

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the worker, after what is queued already."""
        self._jobs.put((fn, args))

    # -- publishing ------------------------------------------------------------------------------

    def publish(self, api_type: str, module_id: str, name: str, payload: Any) -> bool:
        """Encode and publish ``m2e/<name>``. Never blocks; False when it was dropped offline."""
        return self.publish_raw(codec.topic(api_type, module_id, "m2e", name), codec.encode(payload))

    def publish_raw(self, topic: str, payload: bytes) -> bool:
        """Queue for the network thread. False when the outbox was full and dropped its oldest."""
        if not self._conn.connected:
            self.stats.queued_offline += 1
        self.stats.published += 1
        if self._conn.submit(Outgoing(topic, payload)):
            self.stats.dropped += 1
            return False
        return True

    # -- network thread --------------------------------------------------------------------------

    def _on_connected(self) -> None:
        with self._lock:
            topics = list(self._routes) + [sub for sub, _, _ in self._raw]
        for t in topics:
            self._conn.subscribe(t)

    def _on_session_ready(self) -> None:
        self._connected.set()
        self._conn.publish_now(Outgoing(self._status, self._presence("online"), retain=True))
        with self._lock:
            listeners = list(self._session_listeners)
        for listener in listeners:
            self._jobs.put((listener, ()))

    def _on_disconnected(self, reason: str) -> None:
        self._connected.clear()

    def _on_message(self, topic: str, payload: bytes) -> None:
        self.stats.received += 1
        with self._lock:
            route = self._routes.get(topic)
            raw = [(fn, on_worker) for sub, fn, on_worker in self._raw if topic_matches(sub, topic)]
        if len(payload) > self.settings.max_payload_bytes:
            self._reject(topic, f"{len(payload)} bytes > max_payload_bytes={self.settings.max_payload_bytes}")
            return
        for fn, on_worker in raw:
            if on_worker:
                self._jobs.put((fn, (topic, payload)))
            else:
                fn(topic, payload)
        if route is None:
            return
        key, handler, inline = route
        try:
            value = codec.decode(key, payload)
        except MessageError as exc:
            # Bad input never actuates: log with the JSON path, count, drop.
            self._reject(topic, str(exc))
            return
        if inline:
            handler(value)
        else:
            self._jobs.put((handler, (value,)))

    def _reject(self, topic: str, reason: str) -> None:
        self.stats.rejected += 1
        self.stats.rejects = [*self.stats.rejects[-9:], f"{topic}: {reason}"]
        log.warning("everest message rejected topic=%s %s", topic, reason)

    # -- worker ----------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            fn, args = job
            try:
                fn(*args)
            except Exception:  # one failing command must not stop the next ones
                self.stats.handler_errors += 1
                log.exception("everest handler %s failed", getattr(fn, "__qualname__", fn))
