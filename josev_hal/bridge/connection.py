"""The one place that knows paho-mqtt: a persistent-session client driven by its own network thread.

**Only the network thread touches the paho client** (connect, publish, subscribe, disconnect,
the loop). Other threads hand finished messages to the :class:`~josev_hal.bridge.outbox.Outbox`
and return at once; the network thread drains it whenever the session is up. paho runs its
callbacks (``on_disconnect`` even from inside ``publish()``) on the thread that called into it,
which is therefore always this one, and no lock of the bridge is held while paho runs. See
docs/architecture.md "Threads and locks".

Why not ``loop_start()``: paho resends a persistent session's unacknowledged QoS 1 messages only
*after* ``on_connect`` returns, so flushing the offline queue from ``on_connect`` would put newer
updates on the wire before older ones. Running the network loop ourselves (paho's external-loop
API: ``socket()``, ``loop_read/write/misc``) lets the bridge flush after the CONNACK has been
fully processed, wake up the moment something is queued, bound the wait for a CONNACK from a
broker that accepts TCP and never answers, and end within a deadline on stop().

**Sessions** (issue #13 item 4): the first connection of a process starts from a *clean* session,
so requests and ``sim/cs`` commands the broker kept for an earlier run of the HAL are discarded
and never move hardware; from then on the session is persistent, so QoS 1 messages sent to the HAL
while the broker restarts are still delivered. MQTT 3.1.1 has no "clean now, persistent later"
flag: a clean session ends with its connection. So the network thread first connects once with
``clean_session=True`` and disconnects (the broker drops whatever it kept), then connects with
``clean_session=False`` for the rest of the process.

Every callback from paho is wrapped: an exception in bridge code is logged and never reaches
paho's loop, so the network thread cannot die.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from josev_hal.bridge.config import Backoff, BrokerAddress, read_password
from josev_hal.bridge.outbox import Outbox, Outgoing
from josev_hal.errors import BridgeError
from josev_hal.mqtt_settings import MqttSettings

if TYPE_CHECKING:
    from josev_hal.liveness import Heartbeat, Liveness

__all__ = ["NETWORK_LOOP_LIMIT_S", "MqttConnection", "topic_matches"]

log = logging.getLogger(__name__)

# How often the network thread wakes up when idle (also bounds how quickly stop() takes effect).
_LOOP_TIMEOUT_S = 0.2
# TCP connect / TLS handshake timeout (paho blocks in reconnect() for at most this long) and how
# long a broker may take to answer CONNECT before the attempt counts as failed.
_CONNECT_TIMEOUT_S = 5.0
# Messages handed to paho per loop turn before incoming traffic is read again.
_DRAIN_BATCH = 500
#: How long the network loop may go without turning before the watchdog calls it stuck: a
#: blocking connect/TLS handshake plus a CONNACK wait, with room for a loaded machine.
NETWORK_LOOP_LIMIT_S = 3 * _CONNECT_TIMEOUT_S
_OK_RCS = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN, MQTTErrorCode.MQTT_ERR_CONN_LOST)


def topic_matches(subscription: str, topic: str) -> bool:
    """MQTT wildcard match (``+``, ``#``)."""
    return bool(mqtt.topic_matches_sub(subscription, topic))


def set_tcp_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """Disable Nagle's algorithm: MQTT sends many small packets (PUBLISH, then PUBACK ...) and
    with Nagle plus the peer's delayed ACK a response can sit in the kernel for 40 ms."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def disconnect_reason(flags: Any, reason_code: Any) -> str:
    """What an operator should read for paho's ``on_disconnect``: paho reports a socket that
    closed without a DISCONNECT packet (a killed or restarting broker, a cut network) as
    "Unspecified error", which reads like a broker-side error code."""
    text = str(reason_code)
    if getattr(flags, "is_disconnect_packet_from_server", False):
        return f"broker sent DISCONNECT: {text}"
    if text == "Unspecified error":
        return "connection lost (closed without a DISCONNECT)"
    if text == "Keep alive timeout":
        return "keep-alive timeout (no answer from the broker)"
    if text in ("Success", "Normal disconnection"):  # paho names code 0 of DISCONNECT so
        return "disconnected by the HAL"
    return text


class MqttConnection:
    """A paho client with QoS 1, a clean-then-persistent session and a self-driven network thread.

    Callbacks (all on the network thread, all must be quick and must not block):

    * ``on_message(topic, payload)`` for every incoming message;
    * ``on_connected()`` inside paho's CONNACK handling (subscribe here);
    * ``on_session_ready()`` after the CONNACK and paho's resends are queued; the outbox is
      drained right after it returns;
    * ``on_disconnected(reason)`` when the connection is lost.

    Other threads use :meth:`submit`, :meth:`request_subscribe` and :meth:`stop` only.
    """

    def __init__(
        self,
        settings: MqttSettings,
        address: BrokerAddress,
        *,
        outbox: Outbox,
        will_topic: str,
        will_payload: bytes,
        on_message: Callable[[str, bytes], None],
        on_connected: Callable[[], None],
        on_session_ready: Callable[[], None],
        on_disconnected: Callable[[str], None],
        on_connect_failed: Callable[[BridgeError], None],
        liveness: Liveness | None = None,
    ) -> None:
        self.settings = settings
        self.address = address
        self.outbox = outbox
        self._on_message_cb = on_message
        self._on_connected_cb = on_connected
        self._on_session_ready_cb = on_session_ready
        self._on_disconnected_cb = on_disconnected
        self._on_connect_failed_cb = on_connect_failed
        self._liveness = liveness
        self._heartbeat: Heartbeat | None = None
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._stopping = threading.Event()
        self._stop_deadline = 0.0
        self._final: Outgoing | None = None
        self._thread: threading.Thread | None = None
        self._session_ready_pending = False
        self._connack_failed: BridgeError | None = None
        self._connected = False
        #: The broker has accepted a CONNECT from this process before (see _closed_hint).
        self._answered_before = False
        self._may_publish = False
        self._disconnect_reported = True
        self._stale_session_cleared = False
        self._subs_lock = threading.Lock()
        self._pending_subs: deque[str] = deque()
        self.last_disconnect_monotonic: float | None = None
        #: Messages still in the outbox when stop() ended (no session, or past its deadline).
        self.unsent_at_stop = 0
        self._client = self._new_client(clean_session=False)
        self._client.will_set(will_topic, will_payload, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.connect_async(address.host, address.port, keepalive=settings.keepalive_s)

    def _new_client(self, *, clean_session: bool) -> mqtt.Client:
        settings = self.settings
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=clean_session,
            protocol=mqtt.MQTTv311,
        )
        # The bridge bounds the outbox itself; paho's own in-flight window must not reorder or
        # hold back anything, so it is unlimited (mosquitto acknowledges at wire speed).
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        client.suppress_exceptions = True
        client.connect_timeout = _CONNECT_TIMEOUT_S
        if settings.username is not None:
            client.username_pw_set(settings.username, read_password(settings))
        if self.address.tls:
            self._configure_tls(client)
        client.on_socket_open = set_tcp_nodelay
        return client

    def _configure_tls(self, client: mqtt.Client) -> None:
        s = self.settings
        if (s.cert_file is None) != (s.key_file is None):
            raise BridgeError("mqtt: cert_file and key_file must be given together (client certificate)")
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=s.ca_file)
            if s.cert_file and s.key_file:
                context.load_cert_chain(s.cert_file, s.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise BridgeError(f"mqtt: cannot load TLS files (ca_file/cert_file/key_file): {exc}") from None
        # create_default_context verifies the chain and the host name: a station must never send
        # its traffic to a broker that merely answers on the right address.
        client.tls_set_context(context)

    # -- lifecycle (any thread) ----------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        if self._liveness is not None:
            self._heartbeat = self._liveness.register("bridge network loop", NETWORK_LOOP_LIMIT_S)
        self._thread = threading.Thread(target=self._run, name="josev-hal-mqtt", daemon=True)
        self._thread.start()

    def stop(self, final: Outgoing | None = None, timeout: float = 1.0) -> bool:
        """End the network thread within about ``timeout`` seconds, whatever the broker does.

        When the session is up, the network thread first hands the outbox and then ``final``
        (the retained presence) to the broker, waits for the broker's acknowledgement of
        ``final`` and disconnects cleanly - all within the deadline. Without a session (broker
        down, or accepting TCP but never answering) it ends at once. Returns True when the
        thread ended; False when it is stuck inside a blocking connect (it is a daemon thread
        and dies with the process).
        """
        thread = self._thread
        if thread is None:
            return True
        self._final = final
        self._stop_deadline = time.monotonic() + timeout
        self._stopping.set()
        self.outbox.wake()
        thread.join(timeout + _LOOP_TIMEOUT_S * 2)
        if thread.is_alive():
            log.warning(
                "mqtt network thread did not end within %.1fs (blocked in connect); leaving it", timeout
            )
            return False
        self._thread = None
        if self._heartbeat is not None:
            self._heartbeat.close()
            self._heartbeat = None
        return True

    @property
    def connected(self) -> bool:
        return self._connected

    def submit(self, item: Outgoing) -> bool:
        """Queue ``item`` for the network thread; never blocks. True when the oldest was dropped."""
        return self.outbox.put(item)

    def request_subscribe(self, topic: str) -> None:
        """Subscribe to ``topic`` now if connected (done by the network thread); after every
        reconnect ``on_connected`` subscribes again anyway."""
        with self._subs_lock:
            self._pending_subs.append(topic)
        self.outbox.wake()

    # -- network thread --------------------------------------------------------------------------

    def subscribe(self, topic: str) -> None:
        """Network thread only (from ``on_connected``)."""
        self._client.subscribe(topic, qos=1)

    def publish_now(self, item: Outgoing) -> mqtt.MQTTMessageInfo:
        """Network thread only: hand ``item`` to paho (QoS 1). A connection that drops at this
        very moment keeps the message in paho's session state; it is resent after the reconnect,
        ahead of anything published later."""
        info = self._client.publish(item.topic, item.body, qos=1, retain=item.retain)
        if info.rc not in _OK_RCS:
            log.error(
                "mqtt publish to %s refused by paho: %s; dropped", item.topic, mqtt.error_string(info.rc)
            )
        return info

    def _beat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.beat()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._beat()
            try:
                if not self._stale_session_cleared:
                    self._clear_stale_session()
                    self._stale_session_cleared = True
                self._connect_once()
            except BridgeError as exc:
                if self._stopping.is_set():
                    break
                self._report_failure(exc)
                self._wait_backoff()
                continue
            attempt_started = time.monotonic()
            failure: BridgeError | None = None
            while not self._stopping.is_set():
                self._beat()
                try:
                    rc = self._turn(_LOOP_TIMEOUT_S)
                except Exception:  # paho or TLS internals; never let the thread die
                    log.exception("mqtt network loop failed; reconnecting")
                    rc = MQTTErrorCode.MQTT_ERR_UNKNOWN
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
                if not self._connected and time.monotonic() - attempt_started > _CONNECT_TIMEOUT_S:
                    # TCP accepted, CONNECT sent, no CONNACK: a wedged or black-holing broker.
                    failure = BridgeError(
                        f"mqtt: {self.address.url} accepted the connection but did not answer "
                        f"CONNECT within {_CONNECT_TIMEOUT_S:g}s"
                    )
                    self._drop_socket()
                    break
            if self._stopping.is_set():
                break
            failure = failure or self._connack_failed
            self._connack_failed = None
            if failure is None and not self._connected and self._disconnect_reported:
                # Closed after CONNECT but before any CONNACK: a refused TLS client certificate
                # (TLS 1.3 reports it only then) or a broker that is not speaking MQTT here.
                failure = BridgeError(
                    f"mqtt: {self.address.url} closed the connection before answering CONNECT"
                    f"{self._closed_hint()}"
                )
            self._mark_disconnected(failure.args[0] if failure else "connection lost")
            if failure is not None:
                self._report_failure(failure)
            self._wait_backoff()
        self._finish()

    def _turn(self, timeout: float) -> MQTTErrorCode:
        """One turn of the network loop: wait for the socket or the outbox, read, publish, write."""
        client = self._client
        sock = client.socket()
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        # TLS may hold decrypted bytes that select() cannot see.
        pending = sock.pending() if hasattr(sock, "pending") else 0
        if pending or (self._may_publish and len(self.outbox)):
            timeout = 0.0
        wlist = [sock] if client.want_write() else []
        rlist: list[Any] = [sock, self.outbox]
        try:
            readable, _, _ = select.select(rlist, wlist, [], timeout)
        except (OSError, ValueError, TypeError):
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if sock in readable or pending:
            rc = client.loop_read()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        if self.outbox in readable:
            self.outbox.ack_wake()
        if self._session_ready_pending:
            self._session_ready_pending = False
            self._guard("on_session_ready", self._on_session_ready_cb)
            self._may_publish = self._connected
        if self._connected:
            self._subscribe_pending()
        if self._may_publish:
            self._drain(_DRAIN_BATCH)
        if client.socket() is None:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if client.want_write():
            rc = client.loop_write()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        return client.loop_misc()

    def _drain(self, limit: int) -> None:
        for _ in range(limit):
            if not self._may_publish:
                return  # the connection dropped inside publish(): the rest waits for the session
            item = self.outbox.take()
            if item is None:
                return
            self.publish_now(item)

    def _subscribe_pending(self) -> None:
        while True:
            with self._subs_lock:
                if not self._pending_subs:
                    return
                topic = self._pending_subs.popleft()
            self._client.subscribe(topic, qos=1)

    def _finish(self) -> None:
        """stop(): flush and say goodbye within the deadline when the session is up."""
        deadline = self._stop_deadline
        final = self._final
        if self._connected and self._may_publish:
            info = None
            try:
                while len(self.outbox) and time.monotonic() < deadline:
                    self._drain(_DRAIN_BATCH)
                    if self._client.want_write():
                        self._client.loop_write()
                if final is not None and self._connected:
                    info = self.publish_now(final)
                while self._connected and time.monotonic() < deadline:
                    if info is None or info.is_published():
                        break
                    if self._turn(0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                        break
                if self._connected:
                    # Nothing more is handed to paho after DISCONNECT (paho would keep it and never
                    # send it); what is still queued is counted as unsent below.
                    self._may_publish = False
                    self._client.disconnect()
                    while self._client.socket() is not None and time.monotonic() < deadline:
                        if self._turn(0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                            break
            except Exception:
                log.exception("mqtt: error while disconnecting; closing the socket")
        unsent = self.outbox.clear()
        self.unsent_at_stop += unsent
        if unsent:
            log.warning(
                "mqtt stopped with %d messages not handed to the broker (no session or deadline)", unsent
            )
        self._drop_socket()
        self._mark_disconnected("stopped")

    def _drop_socket(self) -> None:
        sock = self._client.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _clear_stale_session(self) -> None:
        """Connect once with ``clean_session=True`` and disconnect: the broker discards the
        session an earlier run of this HAL left behind, with every request and command queued
        in it (see the module docstring)."""
        client = self._new_client(clean_session=True)
        acked = threading.Event()
        refused: list[str] = []

        def on_connect(c: mqtt.Client, u: Any, flags: Any, reason_code: Any, props: Any) -> None:
            if reason_code.is_failure:
                refused.append(str(reason_code))
            acked.set()

        client.on_connect = on_connect
        self._connect_client(client)
        try:
            deadline = time.monotonic() + _CONNECT_TIMEOUT_S
            while not acked.is_set() and not self._stopping.is_set():
                self._beat()
                if client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
                if time.monotonic() > deadline:
                    break
            if refused:
                hint = ""
                if any("authori" in r.lower() or "password" in r.lower() for r in refused):
                    hint = " (check mqtt.username and mqtt.password_file)"
                raise BridgeError(
                    f"mqtt: broker {self.address.url} refused the connection: {refused[0]}{hint}"
                )
            if not acked.is_set():
                raise BridgeError(
                    f"mqtt: {self.address.url} did not answer CONNECT within {_CONNECT_TIMEOUT_S:g}s"
                    f"{self._closed_hint()}"
                )
            client.disconnect()
            for _ in range(20):
                if client.loop(timeout=0.01) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            log.info(
                "mqtt cleared any session an earlier run left at the broker client_id=%s",
                self.settings.client_id,
            )
        finally:
            sock = client.socket()
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass

    def _connect_once(self) -> None:
        self._connect_client(self._client, reconnect=True)

    def _connect_client(self, client: mqtt.Client, *, reconnect: bool = False) -> None:
        where = self.address.url
        try:
            if reconnect:
                rc = client.reconnect()
            else:
                rc = client.connect(self.address.host, self.address.port, keepalive=self.settings.keepalive_s)
        except ssl.SSLCertVerificationError as exc:
            raise BridgeError(
                f"mqtt: TLS certificate of {where} rejected ({exc.verify_message}); "
                "the broker's certificate must be signed by mqtt.ca_file and name this host"
            ) from None
        except ssl.SSLError as exc:
            raise BridgeError(f"mqtt: TLS handshake with {where} failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise BridgeError(f"mqtt: cannot reach broker {where}: {exc.strerror or exc}") from None
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise BridgeError(
                f"mqtt: connecting to {where} failed: {mqtt.error_string(rc)}{self._closed_hint()}"
            )

    def _closed_hint(self) -> str:
        if self._answered_before:
            # Same address, same settings, and it accepted them before: not a TLS mismatch but a
            # broker that is going down or coming up (a restart closes half-open connections).
            return " (it accepted this client before: is the broker restarting or overloaded?)"
        if self.address.tls:
            return (
                " (the broker closed the TLS connection: does it require a client certificate "
                "signed by its CA? check mqtt.cert_file / mqtt.key_file)"
            )
        return " (the broker closed the connection: is this a TLS port? then use mqtts://)"

    def _wait_backoff(self) -> None:
        delay = self._backoff.next_delay()
        log.debug("mqtt reconnect in %.2fs (attempt %d)", delay, self._backoff.attempt)
        end = time.monotonic() + delay
        # Waiting is turning: beat in slices so a long backoff is not mistaken for a hang.
        while not self._stopping.is_set():
            self._beat()
            left = end - time.monotonic()
            if left <= 0:
                return
            self._stopping.wait(min(left, 1.0))

    def _report_failure(self, exc: BridgeError) -> None:
        log.error("%s (retrying with backoff, attempt %d)", exc, self._backoff.attempt + 1)
        self._guard("on_connect_failed", self._on_connect_failed_cb, exc)

    def _mark_disconnected(self, reason: str) -> None:
        self._may_publish = False
        if self._disconnect_reported:
            return
        self._disconnect_reported = True
        self._connected = False
        self.last_disconnect_monotonic = time.monotonic()
        self._guard("on_disconnected", self._on_disconnected_cb, reason)

    def _guard(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("bridge callback %s raised; the connection keeps running", what)

    # -- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            hint = ""
            if "authori" in str(reason_code).lower() or "password" in str(reason_code).lower():
                hint = " (check mqtt.username and mqtt.password_file)"
            self._connack_failed = BridgeError(
                f"mqtt: broker {self.address.url} refused the connection: {reason_code}{hint}"
            )
            return
        self._backoff.reset()
        self._connected = True
        self._answered_before = True
        self._disconnect_reported = False
        offline = ""
        if self.last_disconnect_monotonic is not None:
            offline = f" offline_for={time.monotonic() - self.last_disconnect_monotonic:.3f}s"
        log.info(
            "mqtt connected broker=%s client_id=%s session_present=%s%s",
            self.address.url,
            self.settings.client_id,
            bool(getattr(flags, "session_present", False)),
            offline,
        )
        self._guard("on_connected", self._on_connected_cb)
        self._session_ready_pending = True

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        reason = disconnect_reason(flags, reason_code)
        if self._connected:
            level = logging.INFO if self._stopping.is_set() else logging.WARNING
            log.log(level, "mqtt disconnected broker=%s reason=%s", self.address.url, reason)
        self._mark_disconnected(reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._guard("on_message", self._on_message_cb, message.topic, message.payload)
