"""The EVerest side, for ``josev-hal emulate-everest``, ``demo --everest`` and the tests.

:class:`EverestEmulator` is one paho client that plays EVerest's API modules and an
EvseManager-like session logic:

* the entry point: publishes ``everest_api/ready_beacon``, answers ``everest_api/discover`` and
  ``everest_api/query-modules/<type>`` with one reply per module (with its communication
  monitoring parameters);
* a heartbeat per module every ``heartbeat_ms`` (``stop_heartbeats()`` simulates a dead EVerest);
* commands (``e2m``) and requests with a ``replyTo`` (``request()`` waits for the reply).

:class:`EverestChecker` checks every ``m2e`` message the board side sends:

* the payload against the Structs (which ``tests/test_everest_codec.py`` proves equal to the
  spec's schemas), and that the message exists for that API type;
* ordering: ``PowerOn`` only after ``allow_power_on = true`` and while the last CP event is C or
  D (never in B); once the CP leaves C/D or ``allow_power_on = false`` is sent, ``PowerOff``
  must follow within ``power_off_within_s``; errors are raised and cleared pairwise;
* timing: ``communication_check`` at least every ``cfg_communication_check_to_s`` per module once
  the module has started sending; powermeter timestamps and the import register never go back.

Scenarios (:func:`run_scenario`): ``startup``, ``ac`` and ``dc``. The AC and DC sessions drive the
simulated EV on ``sim/cs``, so the board side must run a simulated board.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from josev_hal.bridge.config import parse_broker_url
from josev_hal.bridge.connection import set_tcp_nodelay
from josev_hal.errors import BridgeError, MessageError
from josev_hal.everest import codec
from josev_hal.everest import messages as m

__all__ = [
    "EmulatedModules",
    "EverestChecker",
    "EverestEmulator",
    "Received",
    "ScenarioResult",
    "run_scenario",
]

SIM_TOPIC = "sim/cs"


@dataclass(frozen=True)
class EmulatedModules:
    """The API modules EVerest would have loaded for one EVSE (its config's module ids)."""

    evse_id: str
    evse_board_support: str
    powermeter: str | None = None
    isolation_monitor: str | None = None
    power_supply_DC: str | None = None
    auth_token_provider: str | None = None

    def items(self) -> list[tuple[str, str]]:
        out = [(codec.ApiType.EVSE_BOARD_SUPPORT.value, self.evse_board_support)]
        for api in codec.ApiType:
            if api is codec.ApiType.EVSE_BOARD_SUPPORT:
                continue
            module_id = getattr(self, api.value)
            if module_id:
                out.append((api.value, module_id))
        return out


@dataclass(frozen=True)
class Received:
    at: float
    topic: str
    api_type: str
    module_id: str
    name: str
    value: Any  # decoded (None when it failed to decode)
    raw: bytes


@dataclass
class _BspTrack:
    letter: str | None = None
    allowed: bool = False
    power_on: bool = False
    off_deadline: float | None = None
    off_reason: str = ""


class EverestChecker:
    """Checks board-side messages (see the module docstring). Thread-safe."""

    def __init__(self, *, communication_check_to_s: float = 5.0, power_off_within_s: float = 1.0) -> None:
        self.check_to_s = communication_check_to_s
        self.power_off_within_s = power_off_within_s
        self.violations: list[str] = []
        self._lock = threading.Lock()
        self._bsp: dict[str, _BspTrack] = {}
        self._errors: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._last_check: dict[tuple[str, str], float] = {}
        self._meter: dict[str, tuple[datetime, float]] = {}

    def _violate(self, text: str) -> str:
        self.violations.append(text)
        return text

    def sent_allow(self, module_id: str, allow: bool, now: float) -> None:
        with self._lock:
            track = self._bsp.setdefault(module_id, _BspTrack())
            track.allowed = allow
            if not allow and track.power_on and track.off_deadline is None:
                track.off_deadline, track.off_reason = now + self.power_off_within_s, "allow_power_on false"

    def ready_beacon_sent(self) -> None:
        """EVerest restarted: the board side re-raises its active errors."""
        with self._lock:
            self._errors.clear()

    def check(self, topic: str, payload: bytes, now: float) -> tuple[Received | None, str | None]:
        parsed = codec.parse_topic(topic)
        if parsed is None or parsed.direction != "m2e":
            return None, None
        key = (parsed.api_type, "m2e", parsed.name)
        with self._lock:
            if key not in codec.PAYLOADS:
                rec = Received(now, topic, parsed.api_type, parsed.module_id, parsed.name, None, payload)
                return rec, self._violate(f"{topic}: {parsed.api_type} has no m2e message {parsed.name!r}")
            try:
                value = codec.decode(key, payload)
            except MessageError as exc:
                rec = Received(now, topic, parsed.api_type, parsed.module_id, parsed.name, None, payload)
                return rec, self._violate(f"{topic}: payload violates the schema: {exc}")
            rec = Received(now, topic, parsed.api_type, parsed.module_id, parsed.name, value, payload)
            return rec, self._rules(rec, now)

    def _rules(self, rec: Received, now: float) -> str | None:
        module = (rec.api_type, rec.module_id)
        value = rec.value
        self._deadlines(now)
        if rec.name == "communication_check":
            last = self._last_check.get(module)
            self._last_check[module] = now
            if last is not None and now - last > self.check_to_s:
                return self._violate(
                    f"{rec.module_id}: communication_check gap {now - last:.2f} s > {self.check_to_s} s"
                )
            return None
        if rec.name in ("raise_error", "clear_error"):
            active = self._errors.setdefault(module, set())
            err = (str(value.type), value.sub_type if isinstance(value.sub_type, str) else "")
            if rec.name == "raise_error":
                if err in active:
                    return self._violate(f"{rec.module_id}: error {err} raised twice without a clear")
                active.add(err)
            else:
                if err not in active:
                    return self._violate(f"{rec.module_id}: error {err} cleared but never raised")
                active.discard(err)
            return None
        if rec.api_type == codec.ApiType.POWERMETER.value and rec.name == "powermeter_values":
            previous = self._meter.get(rec.module_id)
            stamp = datetime.fromisoformat(value.timestamp.replace("z", "Z").replace("Z", "+00:00"))
            energy = value.energy_Wh_import.total
            self._meter[rec.module_id] = (stamp, energy)
            if previous is not None and (stamp < previous[0] or energy < previous[1] - 1e-6):
                return self._violate(
                    f"{rec.module_id}: powermeter went back ({previous} -> {(stamp, energy)})"
                )
            return None
        if rec.api_type == codec.ApiType.EVSE_BOARD_SUPPORT.value and rec.name == "event":
            return self._bsp_event(rec.module_id, str(value.event.value), now)
        return None

    def _bsp_event(self, module_id: str, event: str, now: float) -> str | None:
        track = self._bsp.setdefault(module_id, _BspTrack())
        if event == "Disconnected":
            return self._violate(f"{module_id}: event Disconnected is EV-side only")
        if event == "PowerOn":
            if not track.allowed:
                return self._violate(f"{module_id}: PowerOn without allow_power_on = true")
            if track.letter not in ("C", "D"):
                return self._violate(f"{module_id}: PowerOn in CP state {track.letter}")
            track.power_on = True
            return None
        if event == "PowerOff":
            track.power_on = False
            track.off_deadline = None
            return None
        track.letter = event
        if track.power_on and event not in ("C", "D") and track.off_deadline is None:
            track.off_deadline, track.off_reason = now + self.power_off_within_s, f"CP {event}"
        return None

    def _deadlines(self, now: float) -> None:
        for module_id, track in self._bsp.items():
            if track.off_deadline is not None and now > track.off_deadline:
                self._violate(
                    f"{module_id}: no PowerOff within {self.power_off_within_s} s after {track.off_reason}"
                )
                track.off_deadline = None

    def finish(self, now: float) -> None:
        """Deadline checks that need no further message (call at the end of a scenario)."""
        with self._lock:
            self._deadlines(now)
            for (_, module_id), last in self._last_check.items():
                if now - last > self.check_to_s:
                    self._violate(f"{module_id}: no communication_check for {now - last:.2f} s")


EventSink = Callable[[str, str, str | None], None]  # (direction, text, violation)


class EverestEmulator:
    """The EVerest side on one broker (see the module docstring)."""

    def __init__(
        self,
        broker_url: str,
        modules: list[EmulatedModules],
        *,
        heartbeat_ms: int = 250,
        communication_check_to_s: int = 5,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        self.address = parse_broker_url(broker_url)
        self.modules = modules
        self.heartbeat_ms = heartbeat_ms
        self.check_to_s = communication_check_to_s
        self.checker = EverestChecker(communication_check_to_s=communication_check_to_s)
        self.on_event = on_event
        self.received: list[Received] = []
        self.replies: dict[str, bytes] = {}
        self._cond = threading.Condition()
        self._reply_prefix = f"everest_api/emulator/{uuid.uuid4().hex[:8]}"
        self._heartbeats = threading.Event()
        self._stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self._subscribed = threading.Event()
        self.t0 = time.monotonic()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"everest-emulator-{uuid.uuid4().hex[:8]}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if self.address.tls:
            client.tls_set_context(ssl.create_default_context(cafile=ca_file))
        client.on_socket_open = set_tcp_nodelay
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = lambda *a: self._subscribed.set()
        self.client = client

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> EverestEmulator:
        try:
            self.client.connect(self.address.host, self.address.port, keepalive=30)
        except OSError as exc:
            raise BridgeError(f"emulator: cannot reach broker {self.address.url}: {exc}") from None
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.client.loop_stop()
            raise BridgeError(f"emulator: no subscription acknowledged by {self.address.url}")
        self._heartbeats.set()
        self._hb_thread = threading.Thread(
            target=self._heartbeat_loop, name="emulator-heartbeat", daemon=True
        )
        self._hb_thread.start()
        self.ready_beacon()
        return self

    def close(self) -> None:
        self._stop.set()
        self._heartbeats.set()
        if self._hb_thread is not None:
            self._hb_thread.join(2)
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> EverestEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _event(self, direction: str, text: str, violation: str | None = None) -> None:
        if self.on_event is not None:
            self.on_event(direction, text, violation)

    # -- EVerest's side --------------------------------------------------------------------------

    def ready_beacon(self) -> None:
        self.checker.ready_beacon_sent()
        self._publish(codec.READY_BEACON_TOPIC, b"{}")
        self._event("everest->", "ready_beacon")

    def stop_heartbeats(self) -> None:
        """EVerest hangs: heartbeats stop (the board side must fail safe)."""
        self._heartbeats.clear()
        self._event("step", "heartbeats stopped")

    def resume_heartbeats(self) -> None:
        self._heartbeats.set()

    def send(self, api: str, module_id: str, name: str, payload: Any = None) -> None:
        """Publish ``e2m/<name>`` (Structs and plain values are JSON-encoded; None sends ``{}``)."""
        body = b"{}" if payload is None else codec.encode(payload)
        if api == codec.ApiType.EVSE_BOARD_SUPPORT.value and name == "allow_power_on":
            self.checker.sent_allow(module_id, bool(payload.allow_power_on), time.monotonic())
        self._publish(codec.topic(api, module_id, "e2m", name), body)
        self._event("everest->", f"{module_id}/{name} {body.decode()[:120]}")

    def send_raw(self, topic: str, body: bytes) -> None:
        self._publish(topic, body)

    def request(self, api: str, module_id: str, name: str, payload: Any = None, timeout: float = 10.0) -> Any:
        """Send a request with a ``replyTo`` and return the decoded reply."""
        reply_to = f"{self._reply_prefix}/{module_id}/{name}/{uuid.uuid4().hex[:8]}"
        doc: dict[str, Any] = {"headers": {"replyTo": reply_to}}
        if payload is not None:
            doc["payload"] = json.loads(codec.encode(payload))
        self._publish(codec.topic(api, module_id, "e2m", name), json.dumps(doc).encode())
        self._event("everest->", f"{module_id}/{name} (request)")
        deadline = time.monotonic() + timeout
        with self._cond:
            while reply_to not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no reply to {module_id}/{name} within {timeout} s")
                self._cond.wait(left)
            raw = self.replies.pop(reply_to)
        try:
            value = codec.decode((api, "reply", name), raw)
        except MessageError as exc:
            self.checker.violations.append(f"{module_id}/{name} reply violates the schema: {exc}")
            raise
        self._event("->everest", f"{module_id}/{name} reply {raw.decode()[:120]}")
        return value

    def sim(self, evse_id: str, action: str, **fields: Any) -> None:
        """Drive the simulated EV of ``evse_id`` (the board side must run the sim board)."""
        self._publish(SIM_TOPIC, json.dumps({"evse_id": evse_id, "action": action, **fields}).encode())
        self._event("sim", f"{evse_id} {action} {fields or ''}".strip())

    # -- waiting ---------------------------------------------------------------------------------

    def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 5.0, *, after: float | None = None
    ) -> Received:
        """The first message (received after ``after``, default: any) for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for rec in self.received:
                    if (after is None or rec.at >= after) and rec.value is not None and predicate(rec):
                        return rec
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not met within {timeout} s")
                self._cond.wait(left)

    def messages(self, module_id: str, name: str) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.module_id == module_id and r.name == name]

    # -- paho ------------------------------------------------------------------------------------

    def _publish(self, topic: str, body: bytes) -> None:
        self.client.publish(topic, body, qos=1)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe(
            [
                ("everest_api/1/+/+/m2e/#", 1),
                (codec.DISCOVER_TOPIC, 1),
                (f"{codec.QUERY_MODULES_PREFIX}/+", 1),
                (f"{self._reply_prefix}/#", 1),
            ]
        )

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        topic, payload, now = message.topic, bytes(message.payload), time.monotonic()
        if topic.startswith(self._reply_prefix):
            with self._cond:
                self.replies[topic] = payload
                self._cond.notify_all()
            return
        if topic == codec.DISCOVER_TOPIC or topic.startswith(codec.QUERY_MODULES_PREFIX + "/"):
            self._answer_discovery(topic, payload)
            return
        rec, violation = self.checker.check(topic, payload, now)
        if rec is None:
            return
        with self._cond:
            self.received.append(rec)
            self._cond.notify_all()
        if rec.name not in ("communication_check", "rcd_current", "voltage_current", "powermeter_values"):
            self._event(
                "->everest", f"{rec.module_id}/{rec.name} {payload.decode(errors='replace')[:120]}", violation
            )
        elif violation:
            self._event("->everest", f"{rec.module_id}/{rec.name}", violation)

    def _answer_discovery(self, topic: str, payload: bytes) -> None:
        try:
            request = codec.decode_as(m.Reply, payload)
        except MessageError:
            return
        reply_to = request.headers.replyTo if isinstance(request.headers, m.Headers) else None
        if not isinstance(reply_to, str):
            return
        wanted = topic.rsplit("/", 1)[-1] if topic.startswith(codec.QUERY_MODULES_PREFIX) else None
        monitoring = m.CommunicationParameters(
            heartbeat_period_ms=self.heartbeat_ms,
            communication_check_period_s=self.check_to_s,
            request_reply_timeout_s=5,
        )
        for mods in self.modules:
            for api, module_id in mods.items():
                if wanted is not None and api != wanted:
                    continue
                reply = m.ApiDiscoverResponse(
                    apis=[
                        m.ApiParameter(
                            type=api, module_id=module_id, version=1, communication_monitoring=monitoring
                        )
                    ]
                )
                self._publish(reply_to, codec.encode(reply))

    def _heartbeat_loop(self) -> None:
        counter = 0
        while not self._stop.is_set():
            self._heartbeats.wait()
            if self._stop.is_set():
                return
            counter += 1
            for mods in self.modules:
                for api, module_id in mods.items():
                    self._publish(codec.topic(api, module_id, "e2m", "heartbeat"), str(counter).encode())
            self._stop.wait(self.heartbeat_ms / 1000.0)


# ----------------------------------------------------------------------------------------------
# scenarios
# ----------------------------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    scenario: str
    steps: list[tuple[str, bool, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.steps) and not self.violations


class _Failed(Exception):
    pass


EvDriver = Callable[[str, str], None]  # (evse_id, action: plug|charge|pause|unplug)


class _Run:
    def __init__(self, emu: EverestEmulator, result: ScenarioResult, timeout: float, ev: EvDriver) -> None:
        self.emu, self.result, self.timeout, self.ev = emu, result, timeout, ev

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        self.emu._event("step", name)
        try:
            value = fn()
        except (TimeoutError, MessageError, AssertionError) as exc:
            self.result.steps.append((name, False, str(exc) or type(exc).__name__))
            raise _Failed(name) from exc
        self.result.steps.append((name, True, ""))
        return value

    def event(self, module_id: str, event: str, after: float) -> Received:
        return self.emu.wait_for(
            lambda r: r.module_id == module_id and r.name == "event" and r.value.event.value == event,
            self.timeout,
            after=after,
        )


BSP = codec.ApiType.EVSE_BOARD_SUPPORT.value
PM = codec.ApiType.POWERMETER.value
IMD = codec.ApiType.ISOLATION_MONITOR.value
PSU = codec.ApiType.POWER_SUPPLY_DC.value


def _alive(run: _Run, mods: EmulatedModules) -> None:
    emu = run.emu

    def checked(module_id: str) -> Callable[[], Received]:
        return lambda: emu.wait_for(
            lambda r: r.module_id == module_id and r.name == "communication_check", run.timeout
        )

    for _, module_id in mods.items():
        run.step(f"{module_id}: communication_check", checked(module_id))
    run.step(
        f"{mods.evse_board_support}: capabilities",
        lambda: emu.wait_for(
            lambda r: r.module_id == mods.evse_board_support and r.name == "capabilities", run.timeout
        ),
    )


def startup(run: _Run, mods: EmulatedModules) -> None:
    _alive(run, mods)
    run.step(
        f"{mods.evse_board_support}: CP event",
        lambda: run.emu.wait_for(
            lambda r: r.module_id == mods.evse_board_support and r.name == "event", run.timeout
        ),
    )


def _energy_rises(run: _Run, module_id: str, charge_s: float) -> None:
    emu = run.emu
    first = emu.wait_for(
        lambda r: r.module_id == module_id and r.name == "powermeter_values",
        run.timeout,
        after=time.monotonic(),
    )
    start = first.value.energy_Wh_import.total
    time.sleep(charge_s)
    emu.wait_for(
        lambda r: (
            r.module_id == module_id
            and r.name == "powermeter_values"
            and r.value.energy_Wh_import.total > start
        ),
        run.timeout,
        after=time.monotonic(),
    )


def ac_session(run: _Run, mods: EmulatedModules, charge_s: float) -> None:
    emu, bsp, evse = run.emu, mods.evse_board_support, mods.evse_id
    _alive(run, mods)
    t = time.monotonic()
    emu.send(BSP, bsp, "enable", True)
    run.ev(evse, "plug")
    run.step("EV plugged: event B", lambda: run.event(bsp, "B", t))
    emu.send(BSP, bsp, "pwm_on", 26.7)  # 16 A
    emu.send(BSP, bsp, "lock")
    t = time.monotonic()
    run.ev(evse, "charge")
    run.step("EV requests power: event C", lambda: run.event(bsp, "C", t))
    if mods.powermeter:
        tx = m.StartTransactionRequest(
            evse_id=evse,
            transaction_id=str(uuid.uuid4()),
            identification_status=m.OcmfIdentificationStatus.ASSIGNED,
            identification_flags=[m.OcmfIdentificationFlag.RFID_PLAIN],
            identification_type=m.OcmfIdentificationType.ISO14443,
            identification_data="04a2b3c4",
        )
        reply = run.step(
            "powermeter start_transaction",
            lambda: emu.request(PM, mods.powermeter or "", "start_transaction", tx),
        )
        run.step(
            "start reply OK or NOT_SUPPORTED",
            lambda: _assert(
                reply.status in (m.TransactionStatus.OK, m.TransactionStatus.NOT_SUPPORTED), str(reply.status)
            ),
        )
    t = time.monotonic()
    emu.send(
        BSP,
        bsp,
        "allow_power_on",
        m.PowerOnOff(allow_power_on=True, reason=m.PowerOnReason.FULL_POWER_CHARGING),
    )
    run.step("PowerOn confirmed", lambda: run.event(bsp, "PowerOn", t))
    if mods.powermeter:
        run.step("energy rises", lambda: _energy_rises(run, mods.powermeter or "", charge_s))
    t = time.monotonic()
    emu.send(BSP, bsp, "allow_power_on", m.PowerOnOff(allow_power_on=False, reason=m.PowerOnReason.POWER_OFF))
    run.step("PowerOff confirmed", lambda: run.event(bsp, "PowerOff", t))
    if mods.powermeter:
        stop = m.StopTransactionId(transaction_id=tx.transaction_id)
        reply2 = run.step(
            "powermeter stop_transaction",
            lambda: emu.request(PM, mods.powermeter or "", "stop_transaction", stop),
        )
        run.step(
            "stop reply OK or NOT_SUPPORTED",
            lambda: _assert(
                reply2.status in (m.TransactionStatus.OK, m.TransactionStatus.NOT_SUPPORTED),
                str(reply2.status),
            ),
        )
    emu.send(BSP, bsp, "cp_state_X1")
    emu.send(BSP, bsp, "unlock")
    t = time.monotonic()
    run.ev(evse, "unplug")
    run.step("EV unplugged: event A", lambda: run.event(bsp, "A", t))


def _assert(condition: bool, detail: str) -> None:
    if not condition:
        raise AssertionError(detail)


def dc_session(run: _Run, mods: EmulatedModules, charge_s: float) -> None:
    emu, bsp, evse = run.emu, mods.evse_board_support, mods.evse_id
    imd, psu = mods.isolation_monitor, mods.power_supply_DC
    if imd is None or psu is None:
        raise _Failed("the DC session needs isolation_monitor and power_supply_DC modules")
    _alive(run, mods)
    run.step(
        f"{psu}: capabilities",
        lambda: emu.wait_for(lambda r: r.module_id == psu and r.name == "capabilities", run.timeout),
    )
    t = time.monotonic()
    emu.send(BSP, bsp, "enable", True)
    run.ev(evse, "plug")
    run.step("EV plugged: event B", lambda: run.event(bsp, "B", t))
    emu.send(BSP, bsp, "pwm_on", 5.0)
    t = time.monotonic()
    run.ev(evse, "charge")
    run.step("EV ready: event C", lambda: run.event(bsp, "C", t))
    t = time.monotonic()
    emu.send(IMD, imd, "start_self_test", 500.0)
    result = run.step(
        "isolation self test result",
        lambda: emu.wait_for(
            lambda r: r.module_id == imd and r.name == "self_test_result", run.timeout, after=t
        ),
    )
    run.step("self test passed", lambda: _assert(result.value is True, "self_test_result false"))
    # Cable check: output on at the test voltage, contactor closed, IMD measuring.
    emu.send(PSU, psu, "export_voltage_current", m.VoltageCurrent(voltage_V=500.0, current_A=2.0))
    emu.send(PSU, psu, "mode", m.ModeRequest(mode=m.Mode.EXPORT, charging_phase=m.ChargingPhase.CABLE_CHECK))
    t = time.monotonic()
    emu.send(
        BSP, bsp, "allow_power_on", m.PowerOnOff(allow_power_on=True, reason=m.PowerOnReason.DC_CABLE_CHECK)
    )
    run.step("PowerOn for the cable check", lambda: run.event(bsp, "PowerOn", t))
    t = time.monotonic()
    emu.send(IMD, imd, "start")
    meas = run.step(
        "isolation measurement",
        lambda: emu.wait_for(
            lambda r: r.module_id == imd and r.name == "isolation_measurement", run.timeout, after=t
        ),
    )
    run.step(
        "isolation >= 100 ohm/V at 500 V",
        lambda: _assert(meas.value.resistance_F_Ohm >= 50_000, f"{meas.value.resistance_F_Ohm} ohm"),
    )
    run.step(
        "supply at the test voltage",
        lambda: emu.wait_for(
            lambda r: (
                r.module_id == psu and r.name == "voltage_current" and abs(r.value.voltage_V - 500) < 10
            ),
            run.timeout,
        ),
    )
    emu.send(IMD, imd, "stop")
    # Pre-charge to the EV's battery voltage, then full power.
    emu.send(PSU, psu, "mode", m.ModeRequest(mode=m.Mode.EXPORT, charging_phase=m.ChargingPhase.PRE_CHARGE))
    emu.send(PSU, psu, "export_voltage_current", m.VoltageCurrent(voltage_V=400.0, current_A=2.0))
    run.step(
        "pre-charged to 400 V",
        lambda: emu.wait_for(
            lambda r: (
                r.module_id == psu and r.name == "voltage_current" and abs(r.value.voltage_V - 400) < 10
            ),
            run.timeout,
            after=time.monotonic(),
        ),
    )
    emu.send(
        BSP,
        bsp,
        "allow_power_on",
        m.PowerOnOff(allow_power_on=True, reason=m.PowerOnReason.FULL_POWER_CHARGING),
    )
    emu.send(PSU, psu, "mode", m.ModeRequest(mode=m.Mode.EXPORT, charging_phase=m.ChargingPhase.CHARGING))
    emu.send(PSU, psu, "export_voltage_current", m.VoltageCurrent(voltage_V=410.0, current_A=100.0))
    run.step(
        "current flows",
        lambda: emu.wait_for(
            lambda r: r.module_id == psu and r.name == "voltage_current" and r.value.current_A > 50,
            run.timeout,
            after=time.monotonic(),
        ),
    )
    if mods.powermeter:
        run.step("energy rises", lambda: _energy_rises(run, mods.powermeter or "", charge_s))
    # Stop: current down, supply off, contactor open, CP X1, unplug.
    emu.send(PSU, psu, "export_voltage_current", m.VoltageCurrent(voltage_V=410.0, current_A=0.0))
    emu.send(PSU, psu, "mode", m.ModeRequest(mode=m.Mode.OFF, charging_phase=m.ChargingPhase.OTHER))
    run.step(
        "supply reports Off",
        lambda: emu.wait_for(
            lambda r: r.module_id == psu and r.name == "mode" and r.value is m.Mode.OFF, run.timeout, after=t
        ),
    )
    t = time.monotonic()
    emu.send(BSP, bsp, "allow_power_on", m.PowerOnOff(allow_power_on=False, reason=m.PowerOnReason.POWER_OFF))
    run.step("PowerOff confirmed", lambda: run.event(bsp, "PowerOff", t))
    emu.send(BSP, bsp, "cp_state_X1")
    t = time.monotonic()
    run.ev(evse, "unplug")
    run.step("EV unplugged: event A", lambda: run.event(bsp, "A", t))


SCENARIOS = ("startup", "ac", "dc")


def run_scenario(
    emu: EverestEmulator,
    scenario: str,
    mods: EmulatedModules,
    *,
    step_timeout_s: float = 5.0,
    charge_s: float = 1.5,
    ev: EvDriver | None = None,
) -> ScenarioResult:
    """Run one scenario for one EVSE's modules; violations are collected, not raised.

    ``ev(evse_id, action)`` moves the EV (``plug``, ``charge``, ``pause``, ``unplug``); the
    default publishes the simulated board's ``sim/cs`` commands. A test on another simulated
    board (register-level I2C, say) passes its own."""
    result = ScenarioResult(scenario)
    run = _Run(emu, result, step_timeout_s, ev or (lambda evse_id, action: emu.sim(evse_id, action)))
    try:
        if scenario == "startup":
            startup(run, mods)
        elif scenario == "ac":
            ac_session(run, mods, charge_s)
        elif scenario == "dc":
            dc_session(run, mods, charge_s)
        else:
            raise ValueError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    except _Failed:
        pass
    time.sleep(0.3)  # late messages (a PowerOff, an error clear) still get checked
    emu.checker.finish(time.monotonic())
    result.violations = list(emu.checker.violations)
    return result
