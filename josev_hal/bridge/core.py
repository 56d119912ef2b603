"""The bridge between the Josev API on MQTT and the HAL's handlers.

Threads and who does what:

* **network thread** (:class:`~josev_hal.bridge.connection.MqttConnection`): reads the socket,
  checks the size limit, decodes (msgspec, microseconds), resolves responses to the CS's own
  requests, and hands everything else on. It never runs a handler.
* **request workers** (a thread pool): run request handlers concurrently, so one slow handler
  (a firmware download starting) never delays a power-path answer.
* **update worker** (one thread): runs update handlers and raw-topic callbacks in arrival order,
  because updates such as ``authorization`` or ``transaction_status`` only make sense in order.
* **watchdog**: answers a request with an error response when its handler misses
  ``handler_deadline_s``; the late result is then dropped (Josev already has its answer).

Publishing (:meth:`Bridge.publish_update`, responses, requests) works from any thread and never
blocks: the message is encoded on the caller's thread and put into the bounded
:class:`~josev_hal.bridge.outbox.Outbox` (oldest dropped first, counted); only the network thread
hands messages to paho. While the broker is away the outbox is the offline queue; after the
reconnect it is drained in order - after paho's own resends of unacknowledged QoS 1 messages, so
the order on the wire is the order in which the HAL produced them. No lock of the bridge is held
while paho or a handler runs (docs/architecture.md, "Threads and locks").
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import msgspec

from josev_hal.bridge.config import parse_broker_url, resolve_broker_url
from josev_hal.bridge.connection import MqttConnection, topic_matches
from josev_hal.bridge.outbox import Outbox, Outgoing
from josev_hal.bridge.stats import BridgeStats, StatsSnapshot, format_stats
from josev_hal.errors import (
    BridgeError,
    ConfigError,
    HalError,
    MessageError,
    RequestTimeout,
    UnknownMessageError,
)
from josev_hal.messages import (
    SPECS,
    Message,
    MessageType,
    Payload,
    decode,
    encode,
    error_response,
    invalid_request_response,
)
from josev_hal.mqtt_settings import MqttSettings

if TYPE_CHECKING:
    from josev_hal.liveness import Liveness

__all__ = ["Bridge", "RawCallback", "RequestHandler", "SnapshotProvider", "UpdateHandler", "status_topic"]

log = logging.getLogger(__name__)

RequestHandler = Callable[[Message], Payload]
UpdateHandler = Callable[[Message], None]
RawCallback = Callable[[str, bytes], None]
SnapshotProvider = Callable[[], Sequence[Payload]]

# Rejected input is logged at most this many times per reason and window; the counters keep the
# exact numbers. A flood of garbage must not turn into a flood of log lines.
_REJECT_LOG_BURST = 10
_REJECT_LOG_WINDOW_S = 60.0


def _excerpt(text: str, limit: int) -> str:
    text = text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def status_topic(client_id: str) -> str:
    """The HAL's presence topic: retained ``{"state":"online"}`` while connected, and the last
    will ``{"state":"offline"}`` when the HAL goes away. A separate topic because the Josev API
    forbids unknown message names on ``cs/josev``."""
    return f"josev-hal/{client_id}/status"


def _status_payload(state: str, client_id: str) -> bytes:
    return json.dumps({"state": state, "client_id": client_id}, separators=(",", ":")).encode()


class _Pending(msgspec.Struct):
    """A CS -> Josev request waiting for its response."""

    name: str
    future: Future[Message] = msgspec.field(default_factory=Future)


class _InFlight(msgspec.Struct):
    """A Josev request being handled; whoever takes it out of ``Bridge._inflight`` answers it."""

    request: Message
    started: float


class _RejectLog:
    """Per-reason log rate limit with a count of what was suppressed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def log(self, reason: str, text: str, level: int = logging.WARNING) -> bool:
        """Log ``text`` unless this reason's burst is used up; True when it was logged."""
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(reason, (now, 0))
            if now - start > _REJECT_LOG_WINDOW_S:
                if count > _REJECT_LOG_BURST:
                    log.warning(
                        "rejected %d more messages reason=%s (not logged)", count - _REJECT_LOG_BURST, reason
                    )
                start, count = now, 0
            count += 1
            self._windows[reason] = (start, count)
        if count <= _REJECT_LOG_BURST:
            log.log(level, "%s", text)
            return True
        if count == _REJECT_LOG_BURST + 1:
            log.log(level, "more of reason=%s; logging them again in %.0fs", reason, _REJECT_LOG_WINDOW_S)
        return False


class Bridge:
    """The CS side of the Josev conversation over one MQTT connection.

    >>> bridge = Bridge(MqttSettings(broker="mqtt://127.0.0.1:1883"))
    >>> bridge.register("cs_parameters", "request", answer_cs_parameters)
    >>> bridge.start(wait_s=5)
    >>> bridge.publish_update(p.CpStatusUpdate(evse_id="DE*ACM*E0001", connector_id=1, state=p.CpState.A1))

    ``broker_url`` overrides ``settings.broker`` (see :func:`resolve_broker_url` for ``--broker``
    and ``$JOSEV_HAL_BROKER``). ``workers`` is the number of request handlers that may run at once.
    ``liveness``: the network loop beats a heartbeat there (the daemon's watchdog checks it).
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        broker_url: str | None = None,
        workers: int = 8,
        liveness: Liveness | None = None,
    ) -> None:
        self.settings = settings
        self.address = parse_broker_url(broker_url or resolve_broker_url(settings))
        self._status_topic = status_topic(settings.client_id)
        self._stats = BridgeStats(settings.queue_size)
        self._rejects = _RejectLog()
        self._request_handlers: dict[str, RequestHandler] = {}
        self._update_handlers: dict[str, UpdateHandler] = {}
        self._raw: list[tuple[str, RawCallback]] = []
        self._snapshot_providers: list[SnapshotProvider] = []
        self._pending: dict[str, _Pending] = {}
        self._pending_lock = threading.Lock()
        # Every outgoing message goes through the outbox; only the network thread drains it.
        self._outbox = Outbox(settings.queue_size)
        self._online = False
        self._closed = False  # stop() finished: nothing is sent any more
        self._connected_event = threading.Event()
        self._last_error: BridgeError | None = None
        # Handler deadline bookkeeping.
        self._inflight: dict[int, _InFlight] = {}
        self._inflight_lock = threading.Lock()
        self._tokens = itertools.count()
        self._deadlines: list[tuple[float, int]] = []
        self._deadline_cv = threading.Condition()
        self._worker_count = workers
        self._workers: ThreadPoolExecutor | None = self._new_pool(workers, "josev-hal-handler")
        self._serial: ThreadPoolExecutor | None = self._new_pool(1, "josev-hal-updates")
        self._watchdog: threading.Thread | None = None
        self._running = False
        self._conn = MqttConnection(
            settings,
            self.address,
            outbox=self._outbox,
            liveness=liveness,
            will_topic=self._status_topic,
            will_payload=_status_payload("offline", settings.client_id),
            on_message=self._on_message,
            on_connected=self._on_connected,
            on_session_ready=self._on_session_ready,
            on_disconnected=self._on_disconnected,
            on_connect_failed=self._on_connect_failed,
        )

    @staticmethod
    def _new_pool(size: int, name: str) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)

    @staticmethod
    def _submit(pool: ThreadPoolExecutor | None, fn: Callable[..., None], *args: Any) -> None:
        if pool is None:
            return  # stopping: the message is not handled (Josev retries or times out)
        try:
            pool.submit(fn, *args)
        except RuntimeError:
            pass  # the pool shut down between the check and the submit (stop() in progress)

    # -- registration ------------------------------------------------------------------------

    def register(self, name: str, type: str | MessageType, handler: Callable[[Message], Any]) -> None:
        """Register the handler for incoming ``(name, type)``.

        A request handler returns the response payload Struct (``<Name>Response``); an update
        handler returns None. One handler per pair: registering a second one is a ConfigError
        (two features answering the same request would race).
        """
        type_ = MessageType(type)
        spec = SPECS.get((name, type_.value))
        if spec is None:
            raise ConfigError(f"bridge: ({name!r}, {type_.value!r}) is not a message of the Josev API")
        if type_ is MessageType.RESPONSE:
            raise ConfigError(f"bridge: responses are matched by request(); cannot register {name}.response")
        if not spec.incoming:
            raise ConfigError(f"bridge: {name}.{type_.value} is published by the CS, Josev never sends it")
        table = self._request_handlers if type_ is MessageType.REQUEST else self._update_handlers
        if name in table:
            raise ConfigError(f"bridge: a handler for {name}.{type_.value} is already registered")
        table[name] = handler

    def subscribe_raw(self, topic: str, callback: RawCallback) -> None:
        """Also receive ``topic`` (wildcards allowed) outside the Josev API, e.g. ``sim/cs``.

        ``callback(topic, payload_bytes)`` runs on the update worker, in arrival order.
        """
        if topic_matches(topic, self.settings.request_topic):
            raise ConfigError(f"bridge: {topic!r} overlaps the Josev request topic; use register()")
        self._raw.append((topic, callback))
        if self._conn.connected:
            self._conn.request_subscribe(topic)

    def add_snapshot_provider(self, provider: SnapshotProvider) -> None:
        """``provider()`` returns update payloads that describe the current state (cp_status per
        connector, cs_status_and_limits, cs_contactor_status ...); they are published after every
        (re)connect, after the offline queue. Called on a worker thread (never the network thread,
        so a provider that waits for a station lock cannot stall the connection)."""
        self._snapshot_providers.append(provider)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, wait_s: float | None = None) -> None:
        """Connect in the background (retrying forever with backoff).

        With ``wait_s``, block until the first connection; if it does not come in time, raise
        the BridgeError of the last attempt (bad credentials, untrusted certificate, ...).
        """
        if not self._running:
            self._running = True
            self._closed = False
            if self._workers is None:  # started again after stop()
                self._workers = self._new_pool(self._worker_count, "josev-hal-handler")
                self._serial = self._new_pool(1, "josev-hal-updates")
            self._watchdog = threading.Thread(
                target=self._watch_deadlines, name="josev-hal-deadlines", daemon=True
            )
            self._watchdog.start()
            self._conn.start()
        if wait_s is not None and not self.wait_connected(wait_s):
            raise self._last_error or BridgeError(
                f"mqtt: not connected to {self.address.url} after {wait_s}s"
            )

    def stop(self, flush_s: float = 1.0) -> None:
        """Hand what is queued to the broker, announce ``offline`` (retained), disconnect, stop
        the workers - all bounded by about ``flush_s`` seconds whether the broker is up, down or
        accepting TCP without answering (the rest is dropped and logged)."""
        if not self._running:
            return
        self._running = False
        final = Outgoing(self._status_topic, _status_payload("offline", self.settings.client_id), True)
        before = self._conn.unsent_at_stop
        self._conn.stop(final, timeout=flush_s)
        # What could not be handed over counts as dropped: the totals stay honest.
        self._stats.add("queue_dropped", self._conn.unsent_at_stop - before)
        self._closed = True
        # Put between the network thread's last look and the line above: dropped too.
        self._stats.add("queue_dropped", self._outbox.clear())
        with self._deadline_cv:
            self._deadline_cv.notify_all()
        if self._watchdog is not None:
            self._watchdog.join(2)
        for pool in (self._workers, self._serial):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._workers = self._serial = None
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for p in pending.values():
            p.future.set_exception(BridgeError("bridge stopped before the response arrived"))

    def __enter__(self) -> Bridge:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        """True once the session is up and the offline queue has been flushed."""
        return self._online

    @property
    def last_error(self) -> BridgeError | None:
        """The most recent connection failure (kept after a later success, for diagnostics)."""
        return self._last_error

    @property
    def status_topic(self) -> str:
        return self._status_topic

    def wait_connected(self, timeout: float) -> bool:
        return self._connected_event.wait(timeout)

    def stats(self) -> StatsSnapshot:
        self._stats.queue_depth = len(self._outbox)
        return self._stats.snapshot()

    def format_stats(self) -> str:
        return format_stats(self.stats())

    # -- publishing --------------------------------------------------------------------------

    def publish_update(self, payload: Payload) -> Message:
        """Publish an update on ``cs/josev``; thread-safe, never blocks on the network.

        Raises MessageError when the payload violates the contract (a bug in the caller: the
        message is not sent).
        """
        if payload.TYPE is not MessageType.UPDATE:
            raise MessageError(f"{type(payload).__name__} is not an update payload", name=payload.NAME)
        message = Message.update(payload)
        self._send(message)
        return message

    def publish(self, message: Message) -> None:
        """Publish any outgoing message (validated) on ``cs/josev``."""
        self._send(message)

    def request(self, payload: Payload, timeout: float | None = None) -> Message:
        """Send a CS -> Josev request and block for the matching response (by id).

        Raises RequestTimeout when no response arrives within ``timeout`` (default
        ``settings.request_timeout_s``). Queued like an update while the broker is away.
        """
        if payload.TYPE is not MessageType.REQUEST:
            raise MessageError(f"{type(payload).__name__} is not a request payload", name=payload.NAME)
        message = Message.request(payload)
        pending = _Pending(message.name)
        with self._pending_lock:
            self._pending[message.id] = pending
        try:
            self._send(message)
            wait = self.settings.request_timeout_s if timeout is None else timeout
            try:
                return pending.future.result(wait)
            except TimeoutError:
                self._stats.add("request_timeouts")
                raise RequestTimeout(
                    f"no response to {message.name} request id={message.id} within {wait:g}s"
                ) from None
        finally:
            with self._pending_lock:
                self._pending.pop(message.id, None)

    def _send(self, message: Message) -> None:
        body = encode(message)
        key = f"{message.name}.{message.type.value}"
        self._publish_or_queue(self.settings.publish_topic, body)
        self._stats.count_out(key)

    def _publish_or_queue(self, topic: str, body: bytes) -> None:
        # Never blocks and never touches paho: safe while holding any lock, from any thread.
        if self._closed:
            # After stop() nothing drains the outbox any more: count it as dropped, honestly.
            self._stats.add("queue_dropped")
            log.info("message to %s published after the bridge stopped; dropped", topic)
            return
        full = self._conn.submit(Outgoing(topic, body))
        if self._closed:
            # stop() ran between the check above and the submit: its last clear() may have come
            # before this message, and nothing drains the outbox any more. clear() hands each
            # message to exactly one caller, so it is counted as dropped once (by stop or here).
            self._stats.add("queue_dropped", self._outbox.clear())
        if full:
            self._stats.add("queue_dropped")
            dropped = self._outbox.dropped
            if dropped == 1 or dropped % 1000 == 0:  # a full queue must not flood the log as well
                log.warning(
                    "outbound queue full (%d); dropped the oldest message (total dropped=%d)",
                    self.settings.queue_size,
                    dropped,
                )

    # -- connection events (network thread) ------------------------------------------------

    def _on_connected(self) -> None:
        self._conn.subscribe(self.settings.request_topic)
        for topic, _ in self._raw:
            self._conn.subscribe(topic)

    def _on_session_ready(self) -> None:
        # Network thread. paho has queued its resends of unacknowledged messages by now; the
        # outbox is drained right after this returns, and the snapshot of the current state is
        # computed on a worker and queued behind it.
        queued = len(self._outbox)
        self._conn.publish_now(
            Outgoing(self._status_topic, _status_payload("online", self.settings.client_id), True)
        )
        self._online = True
        self._stats.connected = True
        self._stats.add("connects")
        if queued:
            log.info("mqtt sending %d messages queued while offline", queued)
        if self._snapshot_providers and self._workers is not None:
            self._submit(self._workers, self._publish_snapshots)
        else:
            self._connected_event.set()

    def _publish_snapshots(self) -> None:
        for provider in list(self._snapshot_providers):
            try:
                payloads = list(provider())
            except Exception:
                log.exception("snapshot provider %r failed; its state is not republished", provider)
                continue
            for payload in payloads:
                try:
                    self.publish_update(payload)
                except Exception:
                    log.exception("snapshot provider %r returned an invalid payload", provider)
        self._connected_event.set()

    def _on_disconnected(self, reason: str) -> None:
        self._online = False
        self._stats.connected = False
        self._connected_event.clear()
        if self._running:
            log.warning(
                "mqtt offline (%s); updates are queued (capacity %d)", reason, self.settings.queue_size
            )

    def _on_connect_failed(self, error: BridgeError) -> None:
        self._last_error = error
        self._stats.add("connect_failures")

    # -- incoming (network thread) -----------------------------------------------------------

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic != self.settings.request_topic:
            for sub, callback in self._raw:
                if topic_matches(sub, topic):
                    self._submit(self._serial, self._run_raw, callback, topic, payload)
            return
        if len(payload) > self.settings.max_payload_bytes:
            self._reject(
                "too_large", f"{len(payload)} bytes > max_payload_bytes={self.settings.max_payload_bytes}"
            )
            return
        try:
            message = decode(payload)
        except MessageError as exc:
            self._reject(self._classify(exc), f"{exc.path}: {exc.reason}", exc)
            # A readable request with unreadable data is answered at once with the response's
            # "invalid"/"rejected"/"error" status where it has one (Josev would otherwise wait for
            # its timeout); envelope errors and wrong-direction requests stay unanswered.
            answer = invalid_request_response(payload, exc)
            if answer is not None:
                try:
                    self._send(answer)
                except Exception:
                    log.exception("could not answer the invalid %s request id=%s", exc.name, exc.msg_id)
            return
        except RecursionError:
            # msgspec gives up on absurd nesting before the codec can turn it into a MessageError.
            self._reject("malformed_json", "$: nesting too deep")
            return
        except Exception as exc:  # a decoder bug must not take the network thread's message down
            # One rate-limited line (hostile input can trigger it at wire speed); the traceback
            # only at debug level.
            log.debug("decoder failed on a %d-byte message", len(payload), exc_info=True)
            self._reject(
                "malformed_json", f"$: undecodable ({type(exc).__name__}: {_excerpt(str(exc), 120)})"
            )
            return
        key = f"{message.name}.{message.type.value}"
        spec = SPECS[(message.name, message.type.value)]
        if not spec.incoming:
            self._reject("wrong_direction", f"{key} is published by the CS, not by Josev", message=message)
            return
        if message.type is MessageType.RESPONSE:
            self._resolve_response(message)
            return
        self._stats.count_in(key)
        if message.type is MessageType.REQUEST:
            handler = self._request_handlers.get(message.name)
            if handler is None:
                self._reject("no_handler", f"no handler registered for {key}", message=message)
                self._answer_with_error(message, "not supported by this charging station")
                return
            token = next(self._tokens)
            now = time.monotonic()
            with self._inflight_lock:
                self._inflight[token] = _InFlight(message, now)
            with self._deadline_cv:
                heapq.heappush(self._deadlines, (now + self.settings.handler_deadline_s, token))
                if len(self._deadlines) == 1:
                    self._deadline_cv.notify()
            self._submit(self._workers, self._run_request, token, handler, message)
        else:
            update_handler = self._update_handlers.get(message.name)
            if update_handler is not None:
                self._submit(self._serial, self._run_update, update_handler, message)

    def _resolve_response(self, message: Message) -> None:
        with self._pending_lock:
            pending = self._pending.get(message.id)
        if pending is None or pending.name != message.name:
            self._reject(
                "unexpected_response", f"response id={message.id} matches no open request", message=message
            )
            return
        self._stats.count_in(f"{message.name}.response")
        if not pending.future.done():
            pending.future.set_result(message)

    @staticmethod
    def _classify(exc: MessageError) -> str:
        if isinstance(exc, UnknownMessageError):
            return "unknown_message"
        if exc.reason.startswith("malformed JSON"):
            return "malformed_json"
        if exc.path == "$.data" and "missing" in exc.reason:
            return "invalid_envelope"  # no data key at all: the envelope is broken
        if exc.path.startswith("$.data"):
            return "schema_violation"
        return "invalid_envelope"

    def _reject(
        self, reason: str, detail: str, exc: MessageError | None = None, *, message: Message | None = None
    ) -> None:
        self._stats.count_reject(reason)
        name = (message.name if message else exc.name if exc else None) or "?"
        msg_id = (message.id if message else exc.msg_id if exc else None) or "?"
        # Hostile input can carry megabyte names or ids: log a bounded, printable excerpt.
        self._rejects.log(
            reason,
            f"rejected message reason={reason} name={_excerpt(name, 64)} id={_excerpt(msg_id, 40)}: "
            f"{_excerpt(detail, 300)}",
        )

    # -- handlers (worker threads) -------------------------------------------------------------

    def _run_request(self, token: int, handler: RequestHandler, request: Message) -> None:
        with self._inflight_lock:
            expired = token not in self._inflight
        if expired:
            # Every worker was busy until the deadline passed and Josev already has an error
            # response: running the handler now could actuate something Josev believes failed.
            self._stats.add("late_results_dropped")
            log.warning(
                "%s.request id=%s not handled: its deadline passed in the queue", request.name, request.id
            )
            return
        try:
            result = handler(request)
            if not isinstance(result, Payload) or result.TYPE is not MessageType.RESPONSE:
                raise TypeError(
                    f"handler returned {type(result).__name__}, not a {request.name} response payload"
                )
            response = Message.response_to(request, result)
            body = encode(response)
        except Exception as exc:
            entry = self._take_inflight(token)
            if entry is None:
                return
            self._stats.add("handler_errors")
            self._log_handler_failure(f"{request.name}.request id={request.id}", exc)
            self._answer_with_error(request, f"internal error: {type(exc).__name__}")
            return
        entry = self._take_inflight(token)
        if entry is None:
            self._stats.add("late_results_dropped")
            log.warning(
                "handler for %s.request id=%s answered after its deadline; dropped", request.name, request.id
            )
            return
        self._stats.record_latency(time.monotonic() - entry.started)
        self._publish_or_queue(self.settings.publish_topic, body)
        self._stats.count_out(f"{request.name}.response")

    def _take_inflight(self, token: int) -> _InFlight | None:
        with self._inflight_lock:
            return self._inflight.pop(token, None)

    def _answer_with_error(self, request: Message, reason: str) -> None:
        payload = error_response(request, reason)
        if payload is None:
            log.error(
                "cannot answer %s.request id=%s with an error: the response schema has no error status; "
                "Josev will time out",
                request.name,
                request.id,
            )
            return
        try:
            self._send(Message.response_to(request, payload))
        except Exception:
            log.exception("could not publish the error response to %s id=%s", request.name, request.id)

    def _run_update(self, handler: UpdateHandler, message: Message) -> None:
        try:
            handler(message)
        except Exception as exc:
            self._stats.add("handler_errors")
            self._log_handler_failure(f"{message.name}.update id={message.id}", exc)

    def _run_raw(self, callback: RawCallback, topic: str, payload: bytes) -> None:
        try:
            callback(topic, payload)
        except Exception as exc:
            self._stats.add("handler_errors")
            self._log_handler_failure(f"raw subscriber for {_excerpt(topic, 80)}", exc)

    def _log_handler_failure(self, what: str, exc: Exception) -> None:
        """One bounded, rate-limited line per failure. A HalError is a refusal the handler chose
        (unknown evse_id, invalid value ...): no traceback, and its text - which may quote hostile
        input - is cut to an excerpt. Anything else is a bug: the traceback is kept."""
        logged = self._rejects.log(
            f"handler_error:{what.split(' ', 1)[0]}",
            f"handler for {what} failed: {type(exc).__name__}: {_excerpt(str(exc), 300)}",
            logging.ERROR,
        )
        if logged and not isinstance(exc, HalError):
            log.error("traceback of the failed handler for %s", what, exc_info=exc)

    def _watch_deadlines(self) -> None:
        while self._running:
            with self._deadline_cv:
                while self._running and not self._deadlines:
                    self._deadline_cv.wait()
                if not self._running:
                    return
                due, token = self._deadlines[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._deadline_cv.wait(delay)
                    continue
                heapq.heappop(self._deadlines)
            entry = self._take_inflight(token)
            if entry is None:
                continue  # answered in time
            self._stats.add("handler_timeouts")
            log.error(
                "handler for %s.request id=%s exceeded handler_deadline_s=%g; answering with an error",
                entry.request.name,
                entry.request.id,
                self.settings.handler_deadline_s,
            )
            self._answer_with_error(entry.request, f"no answer within {self.settings.handler_deadline_s:g} s")
