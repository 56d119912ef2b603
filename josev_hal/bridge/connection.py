"""The one place that knows paho-mqtt: a persistent-session client with its own network thread.

Why not ``loop_start()``: paho resends a persistent session's unacknowledged QoS 1 messages only
*after* ``on_connect`` returns, so publishing the offline queue from ``on_connect`` would put newer
updates on the wire before older ones. Running the network loop ourselves lets the bridge flush
its queue right after the CONNACK has been fully processed (:attr:`MqttConnection.on_session_ready`),
and gives us capped, jittered backoff and a clear error for TLS and credential failures.

Every callback from paho is wrapped: an exception in bridge code is logged and never reaches
paho's loop, so the network thread cannot die.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from josev_hal.bridge.config import Backoff, BrokerAddress, read_password
from josev_hal.errors import BridgeError
from josev_hal.mqtt_settings import MqttSettings

__all__ = ["MqttConnection", "topic_matches"]

log = logging.getLogger(__name__)

# How often the network thread wakes up when idle (also bounds how quickly stop() takes effect).
_LOOP_TIMEOUT_S = 0.2


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


class MqttConnection:
    """A paho client with ``clean_session=False``, QoS 1 and a self-driven network thread.

    Callbacks (all on the network thread, all must be quick):

    * ``on_message(topic, payload)`` for every incoming message;
    * ``on_connected()`` inside paho's CONNACK handling (subscribe here);
    * ``on_session_ready()`` after the CONNACK and paho's resends are queued (flush here);
    * ``on_disconnected(reason)`` when the connection is lost.
    """

    def __init__(
        self,
        settings: MqttSettings,
        address: BrokerAddress,
        *,
        will_topic: str,
        will_payload: bytes,
        on_message: Callable[[str, bytes], None],
        on_connected: Callable[[], None],
        on_session_ready: Callable[[], None],
        on_disconnected: Callable[[str], None],
        on_connect_failed: Callable[[BridgeError], None],
    ) -> None:
        self.settings = settings
        self.address = address
        self._on_message_cb = on_message
        self._on_connected_cb = on_connected
        self._on_session_ready_cb = on_session_ready
        self._on_disconnected_cb = on_disconnected
        self._on_connect_failed_cb = on_connect_failed
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._session_ready_pending = False
        self._connack_failed: BridgeError | None = None
        self._connected = False
        self._disconnect_reported = True
        self.last_disconnect_monotonic: float | None = None

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        # The bridge bounds the offline queue itself; paho's own in-flight window must not reorder
        # or hold back anything, so it is unlimited (mosquitto acknowledges at wire speed).
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        client.suppress_exceptions = True
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        if settings.username is not None:
            client.username_pw_set(settings.username, read_password(settings))
        if address.tls:
            self._configure_tls(client)
        client.on_socket_open = set_tcp_nodelay
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.connect_async(address.host, address.port, keepalive=settings.keepalive_s)
        self._client = client

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

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="josev-hal-mqtt", daemon=True)
        self._thread.start()

    def stop(
        self, final_topic: str | None = None, final_payload: bytes | None = None, timeout: float = 2.0
    ) -> None:
        """Publish ``final_payload`` (retained) if connected, disconnect cleanly, end the thread."""
        thread = self._thread
        if thread is None:
            return
        if self._connected and final_topic is not None and final_payload is not None:
            info = self._client.publish(final_topic, final_payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                pass
        self._stopping.set()
        if self._connected:
            self._client.disconnect()
        thread.join(timeout + _LOOP_TIMEOUT_S * 2)
        self._thread = None

    @property
    def connected(self) -> bool:
        return self._connected

    # -- publishing --------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Hand a QoS 1 message to paho. Safe from any thread; the caller checks ``connected``.

        If the connection drops at this very moment paho keeps the message and resends it after
        the reconnect, ahead of anything queued later, so nothing is lost or reordered.
        """
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise BridgeError(f"mqtt publish to {topic} failed: {mqtt.error_string(info.rc)}")

    def subscribe(self, topic: str) -> None:
        self._client.subscribe(topic, qos=1)

    # -- network thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._connect_once()
            except BridgeError as exc:
                self._report_failure(exc)
                self._wait_backoff()
                continue
            while not self._stopping.is_set():
                try:
                    rc = self._client.loop(timeout=_LOOP_TIMEOUT_S)
                except Exception:  # paho or TLS internals; never let the thread die
                    log.exception("mqtt network loop failed; reconnecting")
                    rc = MQTTErrorCode.MQTT_ERR_UNKNOWN
                if self._session_ready_pending:
                    self._session_ready_pending = False
                    self._guard("on_session_ready", self._on_session_ready_cb)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            if self._stopping.is_set():
                break
            failure, self._connack_failed = self._connack_failed, None
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
        # stop(): keep the loop turning until the final status and the DISCONNECT are written.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                if self._client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            except Exception:
                break
        self._mark_disconnected("stopped")

    def _connect_once(self) -> None:
        where = self.address.url
        try:
            rc = self._client.reconnect()
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
        if self.address.tls:
            return (
                " (the broker closed the TLS connection: does it require a client certificate "
                "signed by its CA? check mqtt.cert_file / mqtt.key_file)"
            )
        return " (the broker closed the connection: is this a TLS port? then use mqtts://)"

    def _wait_backoff(self) -> None:
        delay = self._backoff.next_delay()
        log.debug("mqtt reconnect in %.2fs (attempt %d)", delay, self._backoff.attempt)
        self._stopping.wait(delay)

    def _report_failure(self, exc: BridgeError) -> None:
        log.error("%s (retrying with backoff, attempt %d)", exc, self._backoff.attempt + 1)
        self._guard("on_connect_failed", self._on_connect_failed_cb, exc)

    def _mark_disconnected(self, reason: str) -> None:
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
        if self._connected:
            level = logging.INFO if self._stopping.is_set() else logging.WARNING
            log.log(level, "mqtt disconnected broker=%s reason=%s", self.address.url, reason_code)
        self._mark_disconnected(str(reason_code))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._guard("on_message", self._on_message_cb, message.topic, message.payload)
