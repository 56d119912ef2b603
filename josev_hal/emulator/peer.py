"""The emulator's MQTT side: one paho client that speaks for Josev.

Publishes requests and updates on ``josev/cs``, listens on ``cs/josev``, checks every message the
CS publishes (:class:`~josev_hal.emulator.checker.ContractChecker`), answers the requests a CS may
send (authorization, service_status, websocket_status, data_transfer, device_model_reset, ...)
like a healthy Josev would, and reports every message as a :class:`TimelineEvent`.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from msgspec import UNSET
from paho.mqtt.enums import CallbackAPIVersion

from josev_hal.bridge.config import parse_broker_url
from josev_hal.bridge.connection import set_tcp_nodelay
from josev_hal.errors import BridgeError
from josev_hal.messages import Message, MessageType, Payload, encode
from josev_hal.messages import payloads as p

__all__ = ["JosevEmulator", "TimelineEvent"]


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One line of the timeline: ``direction`` is ``"josev->cs"``, ``"cs->josev"``, ``"sim"`` or
    ``"step"``; ``summary`` is a one-line description; ``violation`` is set when the message broke
    the contract."""

    at: float
    direction: str
    title: str
    summary: str
    violation: str | None = None
    data: Any = None


def summarize(data: Any) -> str:
    """A one-line summary of a payload: its most telling fields."""
    if data is None:
        return ""
    keys = (
        "evse_id", "connector_id", "state", "status", "status_code", "hlc", "current", "cable_check_status",
        "isolation_level", "action", "total_active_energy_imported", "is_precharge", "token_type",
        "number_of_evses", "fault_name", "component_name",
    )  # fmt: skip
    parts = []
    for key in keys:
        value = getattr(data, key, UNSET)
        if value is UNSET:
            continue
        if hasattr(value, "value"):
            value = value.value
        if not isinstance(value, str | int | float | bool):
            continue
        parts.append(f"{key}={value}")
    if isinstance(data, p.CsStatusAndLimitsResponse | p.CsStatusAndLimitsUpdate):
        for evse in data.evses:
            dc = evse.dc
            extra = ""
            if dc is not UNSET:
                extra = f" {dc.present_voltage:.0f}V/{dc.present_current:.0f}A"
            parts.append(f"{evse.evse_id}:{evse.status_code.value}{extra}")
    if isinstance(data, p.PowerElectronicsSetpointRequest) and data.dc is not UNSET:
        parts.append(f"dc={data.dc.voltage}V/{data.dc.charge_current}A")
    return " ".join(parts)


@dataclass
class _Waiter:
    predicate: Callable[[Message], bool]
    event: threading.Event = field(default_factory=threading.Event)
    message: Message | None = None


class JosevEmulator:
    """Josev's side of the conversation (see the module docstring)."""

    def __init__(
        self,
        broker_url: str,
        *,
        request_topic: str = "josev/cs",
        publish_topic: str = "cs/josev",
        sim_topic: str = "sim/cs",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        timeout_s: float = 5.0,
        on_event: Callable[[TimelineEvent], None] | None = None,
        authorize: bool = True,
    ) -> None:
        from josev_hal.emulator.checker import ContractChecker

        self.address = parse_broker_url(broker_url)
        self.to_cs, self.from_cs, self.sim_topic = request_topic, publish_topic, sim_topic
        self.timeout_s = timeout_s
        self.checker = ContractChecker()
        self.authorize = authorize
        self._on_event = on_event
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._responses: dict[str, _Waiter] = {}
        self._waiters: list[_Waiter] = []
        self.received: list[Message] = []
        self._connected = threading.Event()
        client_id = f"josev-emulator-{uuid.uuid4().hex[:8]}"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if username:
            self._client.username_pw_set(username, password)
        if self.address.tls:
            self._client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_socket_open = set_tcp_nodelay

    # -- connection ------------------------------------------------------------------------------
    def connect(self) -> None:
        try:
            self._client.connect(self.address.host, self.address.port, keepalive=30)
        except OSError as exc:
            raise BridgeError(f"cannot reach the broker at {self.address.url}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(self.timeout_s):
            self.close()
            raise BridgeError(f"the broker at {self.address.url} did not accept the connection/subscription")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> JosevEmulator:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self.from_cs, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        # Ready only once the broker confirmed the subscription: nothing the CS publishes from
        # now on can be missed.
        self._connected.set()

    # -- events ------------------------------------------------------------------------------------
    def emit(
        self, direction: str, title: str, summary: str = "", violation: str | None = None, data: Any = None
    ) -> None:
        if self._on_event is not None:
            at = time.monotonic() - self._t0
            self._on_event(TimelineEvent(at, direction, title, summary, violation, data))

    def step(self, text: str) -> None:
        self.emit("step", text)

    # -- receiving ---------------------------------------------------------------------------------
    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        raw = bytes(msg.payload)
        decoded, violation = self.checker.check(raw)
        title = f"{decoded.name}.{decoded.type.value}" if decoded else (violation.where if violation else "?")
        self.emit(
            "cs->josev",
            title,
            summarize(decoded.data) if decoded else raw[:80].decode("utf-8", "replace"),
            str(violation) if violation else None,
            decoded.data if decoded else None,
        )
        if decoded is None:
            return
        with self._lock:
            self.received.append(decoded)
            waiter = self._responses.pop(decoded.id, None) if decoded.type is MessageType.RESPONSE else None
            matched = [w for w in self._waiters if not w.event.is_set() and w.predicate(decoded)]
        if waiter is not None:
            waiter.message = decoded
            waiter.event.set()
        for w in matched:
            w.message = decoded
            w.event.set()
        if decoded.type is MessageType.REQUEST:
            threading.Thread(target=self._answer, args=(decoded,), daemon=True).start()

    def _answer(self, request: Message) -> None:
        """Answer a CS request as a healthy Josev would."""
        data = request.data
        reply: Payload | None = None
        if isinstance(data, p.AuthorizationRequest):
            status = p.AuthorizationStatus.ACCEPTED if self.authorize else p.AuthorizationStatus.REJECTED
            evse_id = getattr(data, "evse_id", UNSET)
            reply = (
                p.AuthorizationResponse(status=status)
                if evse_id is UNSET
                else p.AuthorizationResponse(status=status, evse_id=evse_id)
            )
        elif isinstance(data, p.ServiceStatusRequest):
            service = p.JosevService.OCPP if data.service is UNSET else data.service
            reply = p.ServiceStatusResponse(
                service=service, status=p.ServiceRunStatus.READY, software_version="emulator",
                api_version="3.10.0",
            )  # fmt: skip
        elif isinstance(data, p.WebsocketStatusRequest):
            reply = p.WebsocketStatusResponse(status=p.WebsocketState.CONNECTED)
        elif isinstance(data, p.DataTransferRequest):
            reply = p.DataTransferResponse(status=p.DataTransferStatus.UNKNOWN_VENDOR_ID)
        elif isinstance(data, p.DeviceModelResetRequest):
            reply = p.DeviceModelResetResponse(status=p.AcceptedRejected.ACCEPTED)
        if reply is None:
            self.emit("step", f"(no emulator answer for {request.name}.request)")
            return
        self.publish(Message.response_to(request, reply))

    # -- sending -----------------------------------------------------------------------------------
    def publish(self, message: Message, topic: str | None = None) -> None:
        self._client.publish(topic or self.to_cs, encode(message), qos=1).wait_for_publish(self.timeout_s)
        self.emit(
            "josev->cs", f"{message.name}.{message.type.value}", summarize(message.data), data=message.data
        )

    def update(self, payload: Payload) -> None:
        self.publish(Message.update(payload))

    def request(self, payload: Payload, timeout: float | None = None) -> Message | None:
        """Send a request; the CS's response, or None (recorded as a violation) on timeout."""
        msg = Message.request(payload)
        waiter = _Waiter(lambda m: False)
        with self._lock:
            self._responses[msg.id] = waiter
        self.checker.expect_response(msg)
        self.publish(msg)
        if waiter.event.wait(self.timeout_s if timeout is None else timeout):
            return waiter.message
        with self._lock:
            self._responses.pop(msg.id, None)
        self.checker.forget(msg.id)
        v = self.checker.violation(
            f"{msg.name}.request", f"no response within {timeout or self.timeout_s:.1f} s"
        )
        self.emit("step", f"{msg.name}.response missing", violation=str(v))
        return None

    def expect(
        self, predicate: Callable[[Message], bool], timeout: float | None = None, *, seen: bool = True
    ) -> Message | None:
        """Wait until the CS publishes a message satisfying ``predicate`` (optionally one already
        received, most recent first)."""
        with self._lock:
            if seen:
                for m in reversed(self.received):
                    if predicate(m):
                        return m
            waiter = _Waiter(predicate)
            self._waiters.append(waiter)
        try:
            waiter.event.wait(self.timeout_s if timeout is None else timeout)
            return waiter.message
        finally:
            with self._lock:
                self._waiters.remove(waiter)

    def mark(self) -> int:
        """A position in the received list; ``expect_after(mark, ...)`` ignores older messages."""
        with self._lock:
            return len(self.received)

    def expect_after(
        self, mark: int, predicate: Callable[[Message], bool], timeout: float | None = None
    ) -> Message | None:
        with self._lock:
            for m in self.received[mark:]:
                if predicate(m):
                    return m
        return self.expect(predicate, timeout, seen=False)

    def publish_json(self, topic: str, document: dict[str, Any], title: str) -> None:
        """Publish a JSON document outside the Josev API (a local energy manager's limit ...)."""
        self._client.publish(topic, json.dumps(document), qos=1).wait_for_publish(self.timeout_s)
        self.emit("sim", title, json.dumps(document))

    def sim(self, evse_id: str, action: str, connector_id: int = 1, **extra: Any) -> None:
        """Drive the simulated board (topic ``sim/cs``)."""
        command = {"evse_id": evse_id, "connector_id": connector_id, "action": action, **extra}
        self._client.publish(self.sim_topic, json.dumps(command), qos=1).wait_for_publish(self.timeout_s)
        detail = " ".join(f"{k}={v}" for k, v in extra.items())
        self.emit("sim", f"EV {action}", f"{evse_id} {detail}".strip())
