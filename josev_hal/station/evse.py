"""One EVSE: CP state machine, interlocks, contactor supervision, meter, DC power path.

:class:`EvseController` owns the devices of one EVSE and every decision about them. Its core is
:meth:`EvseController.evaluate`: read the inputs (RCD, CP per connector, PP, contactor feedback,
DC module), update the state, run the interlock (:mod:`josev_hal.station.interlocks`), actuate
(open first, then CP output, then close) and publish what changed. The sampling thread is a thin
loop around it; a driver's ``notify()`` calls it at once on the driver's own thread, so a safety
reaction never waits for the next sample and never waits on MQTT (``publish`` must not block -- the
bridge's ``publish_update`` queues).

Concurrency: one non-reentrant lock guards the state. A notification that finds the lock taken
sets a flag instead of waiting, and whoever holds the lock evaluates again before releasing it.
That keeps drivers that notify from inside their own locks deadlock-free, and the reaction is
still immediate (the holder is already running). Slow I/O -- the meter's Modbus round trip --
happens outside the lock.

Time: every method takes ``now`` from the injected ``clock`` (``time.monotonic`` by default), so
tests drive the feedback timeout and meter staleness without sleeping.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
from msgspec import UNSET

from josev_hal.devices import (
    ConnectorLock,
    Contactor,
    ControlPilot,
    CpMode,
    CpOutput,
    DcPowerModule,
    Driver,
    IsolationMonitor,
    Meter,
    MeterReading,
    ProximityPilot,
    Rcd,
)
from josev_hal.errors import DeviceError, DeviceOffline, HalError
from josev_hal.liveness import Heartbeat, Liveness
from josev_hal.messages import Payload
from josev_hal.messages import payloads as p
from josev_hal.station import reporting
from josev_hal.station.config import EvseKind, EvseSettings, RcdResetPolicy, WeldingDetection
from josev_hal.station.cp import CpClassifier, CpLetter, state_name
from josev_hal.station.dc import DcPath
from josev_hal.station.events import EventKind, EventListener, StationEvent
from josev_hal.station.interlocks import Decision, InterlockInputs, decide
from josev_hal.station.outbox import Outbox, TransactionChange, TransactionListener
from josev_hal.station.plug_lock import LOCK_FAULT, PlugLock
from josev_hal.station.pp import CableReading, cable_from_sample
from josev_hal.station.pwm import (
    HLC_DUTY_PERCENT,
    MAX_BASIC_CURRENT_A,
    MIN_BASIC_CURRENT_A,
    duty_from_current,
)

__all__ = ["EvseController", "EvseDevices", "Fault", "Publisher"]

log = logging.getLogger(__name__)

#: Where outgoing updates go (the bridge's ``publish_update``). Must not block.
Publisher = Callable[[Payload], None]


@dataclass
class EvseDevices:
    """The drivers of one EVSE. ``cp``/``pp`` are keyed by connector id."""

    cp: Mapping[int, ControlPilot]
    contactor: Contactor | None = None
    pp: Mapping[int, ProximityPilot] = field(default_factory=dict)
    rcd: Rcd | None = None
    meter: Meter | None = None
    power_module: DcPowerModule | None = None
    isolation_monitor: IsolationMonitor | None = None
    #: the connector lock (socket outlets); its ``config.connector_id`` says which connector
    lock: ConnectorLock | None = None

    def all(self) -> list[Driver]:
        """Every driver, each once."""
        out: list[Driver] = [*self.cp.values(), *self.pp.values()]
        out += [
            d
            for d in (
                self.contactor,
                self.rcd,
                self.meter,
                self.power_module,
                self.isolation_monitor,
                self.lock,
            )
            if d is not None
        ]
        return out


@dataclass(frozen=True, slots=True)
class Fault:
    """An active hardware fault. ``latched`` faults stay until :meth:`EvseController.clear_faults`;
    the others go away when the condition does. ``blocks``: forbids closing the contactor."""

    key: str
    component: str
    fault_name: p.HardwareFaultName
    detail: str
    latched: bool
    blocks: bool


# What Josev (or the auto basic-charging logic) asked the CP generator to do.
_PWM_X1 = ("x1", None)

#: Above this current [A] an opening counts as "under load" for the wear counters.
UNDER_LOAD_A = 0.5


class _Faults:
    """The controller's fault table as the DC path sees it."""

    def __init__(self, controller: EvseController) -> None:
        self._c = controller

    def set_fault(self, key: str, component: str, name: p.HardwareFaultName, detail: str) -> None:
        self._c._set_fault(key, component, name, detail)

    def clear_fault(self, key: str) -> None:
        self._c._clear_fault(key)

    def link_fault(self, what: str, exc: DeviceError) -> None:
        self._c._link_fault(what, exc)


class _LockFaults(_Faults):
    """The lock's faults do not block by themselves: the interlock's ``plug_not_locked`` already
    keeps the contactor open, and a blocking fault would release the lock and retry endlessly."""

    def set_fault(self, key: str, component: str, name: p.HardwareFaultName, detail: str) -> None:
        self._c._set_fault(key, component, name, detail, blocks=False)


class EvseController:
    """The station core for one EVSE (see the module docstring)."""

    def __init__(
        self,
        settings: EvseSettings,
        devices: EvseDevices,
        publish: Publisher,
        *,
        clock: Callable[[], float] = time.monotonic,
        liveness: Liveness | None = None,
    ) -> None:
        if not devices.cp:
            raise HalError(f"evse {settings.evse_id}: a control pilot device is required")
        self.settings = settings
        self.evse_id = settings.evse_id
        self.devices = devices
        self._clock = clock
        self._liveness = liveness
        self._heartbeats: list[Heartbeat] = []
        #: everything that leaves the core (updates, events, transaction changes) goes through
        #: here and is delivered after the lock is released (see :mod:`.outbox`)
        self._outbox = Outbox(settings.evse_id, publish)
        #: stop() began: nothing may close or start a PWM any more; _stopped: stop() finished,
        #: drivers may be released, so nothing touches them any more
        self._stopping = False
        self._stopped = False
        self._dc = settings.kind is EvseKind.DC

        self._lock = threading.Lock()
        self._dirty = False  # a notification arrived while the lock was held
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._subscribed = False

        # CP / PP per connector
        self._cp = {
            cid: CpClassifier(settings.cp_thresholds, settings.cp_debounce_samples) for cid in devices.cp
        }
        self._cp_state: dict[int, str | None] = {cid: None for cid in devices.cp}
        self._cp_sent: dict[int, str | None] = {cid: None for cid in devices.cp}
        self._cable: dict[int, CableReading] = {}
        self._cable_sent: dict[int, tuple[str, int | None, str | None] | None] = {}
        self._connectors = {c.id: c for c in settings.connectors}

        # requests and session state
        self._available = True
        self._authorized = settings.free_charging
        self._stop_requested = False
        self._hlc_active = False
        self._slac_busy = False  # SLAC matching or matched: HLC is coming, do not start basic PWM
        self._pwm_request: tuple[str, float | None] = _PWM_X1
        self._pwm_from_josev = False
        self._forced: str | None = None  # "e" / "f" forced by cp_pwm
        self._session = False
        self._transactions: dict[str, str] = {}
        self._last_tx_id = ""
        self._tx_was_active = False
        self._derating_a: float | None = None
        self._applied: CpOutput | None = None

        # DC
        self._dc_path = DcPath(
            settings.evse_id,
            devices.power_module,
            devices.isolation_monitor,
            _Faults(self),
            precharge_current_a=settings.precharge_current_a,
            limits=settings.dc_limits,
        )
        self._dc_reported: tuple[float, float] | None = None

        # connector lock (socket outlets only: a fixed cable has nothing to lock)
        self._plug_lock = self._make_plug_lock(clock())
        #: an explicit lock/unlock from Josev (cs_connector) that wins over the session logic
        #: until the session begins or ends or a new authorization arrives
        self._lock_override: bool | None = None

        # contactor supervision
        self._cmd_closed = False
        self._cmd_at = clock()
        self._feedback: bool | None = None
        self._mismatch_since: float | None = None
        self._awaiting_confirmation = False  # a command whose mirror-contact echo is due
        self._contactor_sent: str | None = None
        self._last_decision: Decision | None = None

        # faults
        self._faults: dict[str, Fault] = {}
        self._rcd_latched = False
        self._rcd_now = False

        # meter
        self._meter_reading: MeterReading | None = None
        self._meter_ok_at: float | None = None
        self._meter_failures = 0
        self._meter_offline = False

        self._limits_sent: Any = None
        self._created_at = clock()

    def _make_plug_lock(self, now: float) -> PlugLock | None:
        device = self.devices.lock
        if device is None:
            return None
        sockets = [c.id for c in self.settings.connectors if c.cable == "socket"]
        served = device.config.connector_id
        connector_id = served if served is not None else (sockets[0] if sockets else None)
        if connector_id is None or connector_id not in sockets:
            return None  # the lock serves a fixed cable: nothing to interlock
        return PlugLock(
            self.evse_id,
            device,
            connector_id,
            _LockFaults(self),
            timeout_s=self.settings.lock_timeout_s,
            settle_s=self.settings.lock_settle_s,
            now=now,
            on_command=lambda cid, locked: self._emit(EventKind.LOCK, connector_id=cid, locked=locked),
        )

    # ==========================================================================================
    # lifecycle
    # ==========================================================================================
    def start(self) -> None:
        """Subscribe to driver notifications and start the sampling (and meter) threads."""
        self.subscribe_notifications()
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._sample_loop, name=f"cp-{self.evse_id}", daemon=True),
        ]
        if self.devices.meter is not None:
            self._threads.append(
                threading.Thread(target=self._meter_loop, name=f"meter-{self.evse_id}", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop for good and leave the hardware safe: contactor open and confirmed (or a fault
        reported), CP at X1 (F while the EVSE is unavailable), the final state published within
        ``timeout``. Returns even while the publisher is wedged."""
        self.begin_stop()
        self.finish_stop(timeout)

    def begin_stop(self) -> None:
        """Phase 1 of :meth:`stop` (the station runs it for every EVSE first): from here on
        nothing closes or starts a PWM; the contactor is commanded open and the CP set to X1/F."""
        self._stopping = True  # read under the lock by every evaluation from now on
        self._stop.set()
        with self._lock:
            self._shutdown_step(self._clock())
        self._outbox.flush_within(0.0)  # hand the news to a helper; never wait here

    def finish_stop(self, timeout: float = 2.0) -> None:
        """Phase 2: join the loops, confirm the contactor opened, publish the final state."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, min(0.5, deadline - time.monotonic())))
            if thread.is_alive():
                log.error("evse=%s %s did not stop (stuck in a call); leaving it", self.evse_id, thread.name)
        self._threads = []
        for hb in self._heartbeats:
            hb.close()
        self._heartbeats = []
        self._confirm_open(min(self.settings.contactor_feedback_timeout_s * 2, 1.0))
        with self._lock:
            self._shutdown_step(self._clock())
            self._stopped = True  # nothing touches a driver after this: the board may release them
        self._outbox.flush_within(max(0.0, deadline - time.monotonic()))

    def _shutdown_step(self, now: float) -> None:
        """The only evaluation once stopping: open, X1/F, unlock when safe, report."""
        self._open_contactor("station stopping", now)
        final = CpOutput(CpMode.STATE_F) if not self._available else CpOutput(CpMode.X1)
        if self._applied != final:
            self._apply_output(final)
        if self._plug_lock is not None:
            # release the plug unless the contacts may still be closed (welded, unreadable)
            self._plug_lock.drive(False, self._contactor_may_be_closed(), now)
        self._read_contactor(now)
        self._publish_changes()

    def _confirm_open(self, timeout_s: float) -> None:
        """Wait (bounded, wall time) for the mirror contact to read open; a contactor that does
        not is reported as welded (latched hardware fault) so the final state says ``error``."""
        contactor = self.devices.contactor
        if contactor is None or not contactor.has_feedback:
            return
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                closed = contactor.read().feedback_closed
            except DeviceError as exc:
                with self._lock:
                    self._link_fault("contactor", exc)
                return
            if not closed:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.005)
        with self._lock:
            self._set_fault(
                "contactor_welded",
                "contactor",
                p.HardwareFaultName.OTHER,
                f"contacts still closed {timeout_s:g}s after the open command at shutdown",
                latched=True,
            )

    def subscribe_notifications(self) -> None:
        """Have every driver's ``notify()`` trigger an immediate evaluation (idempotent)."""
        if self._subscribed:
            return
        self._subscribed = True
        for driver in self.devices.all():
            if driver is self.devices.meter:
                continue  # meter changes come through the meter thread
            driver.subscribe(self._on_notify)

    def add_event_listener(self, fn: EventListener) -> None:
        """Receive every :class:`~josev_hal.station.events.StationEvent` of this EVSE, called
        after the EVSE lock is released on the thread that evaluated (must be quick)."""
        self._outbox.event_listeners.append(fn)

    def _beat(self, name: str, limit_s: float) -> Heartbeat | None:
        if self._liveness is None:
            return None
        hb = self._liveness.register(name, limit_s)
        self._heartbeats.append(hb)
        return hb

    def _sample_loop(self) -> None:
        interval = self.settings.cp_sample_interval_s
        # generous: a slow bus read under the lock is legitimate; a loop that does not turn for
        # seconds is not (the watchdog then restarts the process, and the board fails safe)
        hb = self._beat(f"station.cp.{self.evse_id}", max(5.0, 20 * interval))
        while not self._stop.wait(interval):
            if hb is not None:
                hb.beat()
            try:
                self.evaluate()
            except Exception:  # the sampling thread must survive any driver bug
                log.exception("evse=%s evaluate failed", self.evse_id)

    def _meter_loop(self) -> None:
        interval = self.settings.meter_interval_s
        # a Modbus meter may time out and retry for a few seconds before it is declared offline
        hb = self._beat(f"station.meter.{self.evse_id}", max(15.0, 3 * interval + 10.0))
        next_at = time.monotonic()
        while not self._stop.is_set():
            if hb is not None:
                hb.beat()
            try:
                self.poll_meter()
            except Exception:
                log.exception("evse=%s meter poll failed", self.evse_id)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (slow meter): do not burst to catch up
                next_at, delay = time.monotonic(), 0.0
            if self._stop.wait(delay):
                break

    # ==========================================================================================
    # evaluation
    # ==========================================================================================
    def _on_notify(self) -> None:
        """Driver push: evaluate now on this thread, or hand over to the current lock holder."""
        if self._stopped:
            return  # drivers may be released already
        self._dirty = True
        self._after_release()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The state lock; on release, run any evaluation a notification left pending meanwhile
        (a notification never waits for the lock, so whoever holds it must catch up) and deliver
        what the core produced (never under the lock)."""
        with self._lock:
            yield
        self._after_release()

    def _after_release(self) -> None:
        self._drain(confirmed=True)
        self._outbox.flush()

    def _drain(self, *, confirmed: bool = False) -> None:
        while self._dirty:
            if not self._lock.acquire(blocking=False):
                return  # the holder re-checks _dirty before it lets go
            try:
                self._dirty = False
                self._evaluate_locked(self._clock(), confirmed=confirmed)
            finally:
                self._lock.release()

    def evaluate(self, now: float | None = None, *, confirmed: bool = False) -> None:
        """One control step: read inputs, decide, actuate, publish. ``confirmed=True`` accepts the
        CP reading without debounce (used for driver notifications)."""
        with self._lock:
            self._dirty = False
            self._evaluate_locked(self._clock() if now is None else now, confirmed=confirmed)
        self._after_release()

    def _run(self, fn: Callable[[float], Any], now: float | None = None) -> Any:
        """Run ``fn(now)`` under the lock followed by an evaluation (for request handlers)."""
        with self._lock:
            t = self._clock() if now is None else now
            result = fn(t)
            self._evaluate_locked(t)
        self._after_release()
        return result

    def _evaluate_locked(self, now: float, *, confirmed: bool = False) -> None:
        if self._stopped:
            return  # the drivers may be released: touch nothing
        if self._stopping:
            self._shutdown_step(now)
            return
        self._read_rcd(now)
        self._read_cp(now, confirmed)
        self._read_pp()
        self._track_session()
        self._read_contactor(now)
        if self._plug_lock is not None:
            self._plug_lock.read(now)
        if self._dc:
            self._dc_path.read()
        self._check_meter_age(now)
        # Safety first: open before anything else is touched.
        decision = self._decide()
        if self._cmd_closed and not decision.may_close:
            self._open_contactor(decision.why(), now)
        self._update_output()
        decision = self._decide()
        if not self._cmd_closed and decision.may_close:
            self._close_contactor(now)
        if self._plug_lock is not None:
            # after the contactor step: an unlock is only ever commanded with the contactor open
            self._plug_lock.drive(self._want_plug_locked(), self._contactor_may_be_closed(), now)
        self._last_decision = decision
        self._publish_changes()
        self._note_transaction()

    def _note_transaction(self) -> None:
        active = self.is_transaction_active()
        if active != self._tx_was_active:
            self._tx_was_active = active
            status = "started" if active else "ended"
            self._outbox.put(TransactionChange(self.evse_id, self._last_tx_id, status))

    # -- inputs --------------------------------------------------------------------------------
    def _read_rcd(self, now: float) -> None:
        rcd = self.devices.rcd
        if rcd is None:
            return
        try:
            sample = rcd.read()
        except DeviceError as exc:
            self._link_fault("rcd", exc)
            return
        self._clear_fault("link:rcd")
        self._rcd_now = sample.tripped
        if sample.tripped and not self._rcd_latched:
            self._rcd_latched = True
            log.warning("evse=%s rcd tripped residual_ma=%s", self.evse_id, sample.residual_ma)
            self._emit(EventKind.RCD_TRIP, now, dc_6ma=None, residual_ma=sample.residual_ma)
            # Open right here: the hardware path should already have opened (safety declaration),
            # this is the second channel.
            self._open_contactor("rcd tripped", now)
            self._set_fault(
                "rcd", "rcd", p.HardwareFaultName.GROUND_FAULT, "residual current trip", latched=True
            )
        if (
            self._rcd_latched
            and not sample.tripped
            and self.settings.safety.rcd_reset is RcdResetPolicy.AUTO
            and self._all_unplugged()
        ):
            self._do_rcd_reset()

    def _read_cp(self, now: float, confirmed: bool) -> None:
        for cid, cp in self.devices.cp.items():
            try:
                sample = cp.read()
                output = cp.output
            except DeviceError as exc:
                self._link_fault(f"cp{cid}", exc)
                if self.settings.safety.open_on_board_link_loss and self._cmd_closed:
                    self._open_contactor(f"control pilot {cid} unreadable", now)
                continue
            self._clear_fault(f"link:cp{cid}")
            reading = self._cp[cid].update(sample, output, confirmed=confirmed)
            previous = self._cp_state[cid]
            self._set_cp_state(cid, reading.state, now)
            if reading.changed and self._cmd_closed and reading.state not in ("C2", "D2"):
                # React on the very sample that shows the change (the 100 ms budget).
                self._open_contactor(f"cp {previous}->{reading.state}", now)
            key = f"diode{cid}"
            if reading.diode_fault:
                self._set_fault(key, "cp", p.HardwareFaultName.OTHER, "EV diode check failed")
            else:
                self._clear_fault(key)

    def _read_pp(self) -> None:
        for cid, pp in self.devices.pp.items():
            try:
                sample = pp.read()
            except DeviceError as exc:
                self._link_fault(f"pp{cid}", exc)
                continue
            self._clear_fault(f"link:pp{cid}")
            cable = cable_from_sample(sample, self.settings.phases, self.settings.pp_windows)
            self._cable[cid] = cable
            if cable.fault:
                self._set_fault(f"pp{cid}", "pp", p.HardwareFaultName.OTHER, "PP out of range")
            else:
                self._clear_fault(f"pp{cid}")

    def _track_session(self) -> None:
        # E/F say nothing about the plug (the EVSE may be driving them itself): only B/C/D start a
        # session and only A everywhere ends it.
        letters = [c.letter for c in self._cp.values()]
        plugged = any(x in (CpLetter.B, CpLetter.C, CpLetter.D) for x in letters)
        if plugged and not self._session:
            self._session = True
            self._lock_override = None
            log.info("evse=%s session begins (ev connected)", self.evse_id)
        elif self._session and self._all_unplugged():
            self._session = False
            self._end_session()

    def _end_session(self) -> None:
        log.info("evse=%s session ends (ev unplugged)", self.evse_id)
        self._authorized = self.settings.free_charging
        self._stop_requested = False
        self._hlc_active = False
        self._slac_busy = False
        self._pwm_from_josev = False
        self._pwm_request = _PWM_X1
        self._lock_override = None
        self._dc_path.end_session()

    def _read_contactor(self, now: float) -> None:
        contactor = self.devices.contactor
        if contactor is None:
            return
        try:
            sample = contactor.read()
        except DeviceError as exc:
            self._link_fault("contactor", exc)
            return
        self._clear_fault("link:contactor")
        self._feedback = sample.feedback_closed
        if self._awaiting_confirmation and sample.feedback_closed == self._cmd_closed:
            self._awaiting_confirmation = False
            self._emit(
                EventKind.CONTACTOR_CONFIRMED,
                now,
                closed=self._cmd_closed,
                switch_time_s=max(0.0, now - self._cmd_at),
            )
        if (
            not contactor.has_feedback
            or sample.feedback_closed is None
            or self.settings.safety.welding_detection is WeldingDetection.NONE
        ):
            self._mismatch_since = None
            return
        if sample.feedback_closed == self._cmd_closed:
            self._mismatch_since = None
            return
        if self._mismatch_since is None:
            self._mismatch_since = now
        if now - self._mismatch_since < self.settings.contactor_feedback_timeout_s:
            return
        if self._cmd_closed:
            self._open_contactor("contactor did not close (feedback stayed open)", now)
            self._set_fault(
                "contactor_feedback",
                "contactor",
                p.HardwareFaultName.OTHER,
                "feedback did not follow the close command",
                latched=True,
            )
        else:
            self._set_fault(
                "contactor_welded",
                "contactor",
                p.HardwareFaultName.OTHER,
                "contacts welded: feedback closed after the open command",
                latched=True,
            )

    def _check_meter_age(self, now: float) -> None:
        if self.devices.meter is None:
            return
        # A meter that never answered yet gets one stale period from start-up before it is offline.
        last_ok = self._created_at if self._meter_ok_at is None else self._meter_ok_at
        stale = now - last_ok > self.settings.meter_stale_after_s
        if stale or self._meter_offline:
            self._set_fault(
                "meter",
                "meter",
                p.HardwareFaultName.OTHER,
                "meter not answering (readings stale)",
                blocks=self.settings.safety.open_on_meter_loss,
            )

    # -- decision and actuation ----------------------------------------------------------------
    def _inputs(self) -> InterlockInputs:
        return InterlockInputs(
            cp_states=tuple(s or "E" for s in self._cp_state.values()),
            dc=self._dc,
            available=self._available,
            rcd_tripped=self._rcd_latched or self._rcd_now,
            blocking_faults=frozenset(k for k, f in self._faults.items() if f.blocks),
            stop_requested=self._stop_requested,
            authorized=self._authorized,
            hlc_active=self._hlc_active,
            cable_check_passed=self._dc_path.cable_check_passed,
            precharge_started=self._dc_path.precharge_started,
            plug_locked=self._plug_lock is None or self._plug_lock.confirmed,
            hlc_pwm=self._applied is not None
            and self._applied.mode is CpMode.PWM
            and self._applied.duty_percent == HLC_DUTY_PERCENT,
        )

    def _decide(self) -> Decision:
        return decide(self._inputs())

    def _open_contactor(self, why: str, now: float | None = None) -> None:
        """Open now. Never raises: a failing driver is logged and reported, not propagated."""
        if self._stopped:
            return  # opened and confirmed by stop(); the driver may be released
        if self._cmd_closed:
            self._dc_path.disable()
        contactor = self.devices.contactor
        if contactor is not None:
            try:
                contactor.open()
            except Exception as exc:  # opening is sacred: report, never propagate
                log.error("evse=%s contactor open FAILED: %s", self.evse_id, exc)
        if self._cmd_closed:
            log.info("evse=%s contactor open reason=%s", self.evse_id, why)
            t = self._clock() if now is None else now
            current = self._present_current_a()
            self._cmd_closed = False
            self._cmd_at = t
            self._mismatch_since = None
            self._awaiting_confirmation = True
            self._emit(
                EventKind.CONTACTOR_OPENED,
                t,
                reason=why,
                under_load=current is not None and current > UNDER_LOAD_A,
                current_a=current,
            )

    def _present_current_a(self) -> float | None:
        """The highest current flowing as far as the core knows (meter phases or DC output)."""
        if self._dc and self._dc_path.sample is not None:
            return abs(self._dc_path.sample.current_a)
        reading = self._meter_reading
        if reading is None or reading.current_a is None:
            return None
        c = reading.current_a
        return max(abs(c.l1), abs(c.l2), abs(c.l3))

    def _close_contactor(self, now: float) -> None:
        contactor = self.devices.contactor
        if contactor is None or self._stopping:
            return
        try:
            contactor.close()
        except DeviceError as exc:
            log.error("evse=%s contactor close failed: %s", self.evse_id, exc)
            self._link_fault("contactor", exc)
            return
        log.info("evse=%s contactor close", self.evse_id)
        self._cmd_closed = True
        self._cmd_at = now
        self._mismatch_since = None
        self._awaiting_confirmation = True
        self._emit(EventKind.CONTACTOR_CLOSED, now, reason="interlock clear")

    def _desired_output(self) -> CpOutput:
        if not self._available or self._forced == "f":
            return CpOutput(CpMode.STATE_F)
        if self._forced == "e":
            return CpOutput(CpMode.STATE_E)
        if self._blocking_fault_active() or self._stop_requested or not self._session:
            return CpOutput(CpMode.X1)
        kind, value = self._pwm_request
        if self._pwm_from_josev:
            if kind == "hlc":
                return CpOutput(CpMode.PWM, HLC_DUTY_PERCENT)
            if kind == "basic" and value is not None:
                return self._basic_output(value)
            return CpOutput(CpMode.X1)
        if (
            not self._dc
            and self.settings.auto_basic_pwm
            and self._authorized
            and not self._hlc_active
            and not self._slac_busy
        ):
            return self._basic_output(self.settings.max_current_a)
        return CpOutput(CpMode.X1)

    def _basic_output(self, current_a: float) -> CpOutput:
        limit = min(current_a, self.ac_limit_a(), MAX_BASIC_CURRENT_A)
        if limit < MIN_BASIC_CURRENT_A:
            return CpOutput(CpMode.X1)
        return CpOutput(CpMode.PWM, round(duty_from_current(limit), 2))

    def _update_output(self) -> None:
        desired = self._desired_output()
        if desired != self._applied:
            # Announce the state seen under the old output first (A1 -> B1 -> B2, never A1 -> B2:
            # some consumers mishandle the jump, and every observed state gets its cp_status).
            self._publish_cp()
            self._apply_output(desired)
            # The suffix follows the applied output at once (x1 <-> x2); no new sample needed.
            for cid, classifier in self._cp.items():
                if classifier.letter is not None:
                    self._set_cp_state(cid, state_name(classifier.letter, self._output_of(cid)))
                    classifier.state = self._cp_state[cid]

    def _set_cp_state(self, cid: int, state: str | None, now: float | None = None) -> None:
        previous = self._cp_state[cid]
        self._cp_state[cid] = state
        if state is not None and state != previous:
            self._emit(EventKind.CP_STATE, now, connector_id=cid, state=state, previous=previous)

    def _output_of(self, cid: int) -> CpOutput:
        try:
            return self.devices.cp[cid].output
        except DeviceError:
            return self._applied or CpOutput(CpMode.X1)

    def _apply_output(self, out: CpOutput) -> None:
        for cid, cp in self.devices.cp.items():
            try:
                if out.mode is CpMode.STATE_F:
                    cp.set_state_f()
                elif out.mode is CpMode.STATE_E:
                    cp.set_state_e()
                elif out.mode is CpMode.PWM and out.duty_percent is not None:
                    cp.set_pwm(out.duty_percent)
                else:
                    cp.set_x1()
            except DeviceError as exc:
                self._link_fault(f"cp{cid}", exc)
                return
        log.info("evse=%s cp output %s duty=%s", self.evse_id, out.mode.value, out.duty_percent)
        self._applied = out

    def _want_plug_locked(self) -> bool:
        """The plug stays locked while a session runs: EV plugged, not stopped, authorized (or an
        ISO 15118 session), EVSE available and no blocking fault -- so the driver can take the
        cable after a stop, an RCD trip or a fault. Josev's explicit cs_connector wins."""
        if self._lock_override is not None:
            return self._lock_override
        return (
            self._session
            and not self._stop_requested
            and self._available
            and (self._authorized or self._hlc_active)
            and not self._blocking_fault_active()
        )

    def _lock_status(self, cid: int) -> p.CableLockStatus | None:
        """The lock state of connector ``cid`` for cable_info (None: the connector has no lock)."""
        lock = self._plug_lock
        if lock is None or lock.connector_id != cid:
            return None
        return lock.status(LOCK_FAULT in self._faults)

    def _contactor_may_be_closed(self) -> bool:
        """Commanded closed, mirror contact closed (welded), or state unknown: never unlock then."""
        return bool(self._cmd_closed or self._feedback or "link:contactor" in self._faults)

    # -- faults --------------------------------------------------------------------------------
    def _set_fault(
        self,
        key: str,
        component: str,
        name: p.HardwareFaultName,
        detail: str,
        *,
        latched: bool = False,
        blocks: bool = True,
    ) -> None:
        if key in self._faults:
            return
        fault = Fault(key, component, name, detail, latched, blocks)
        self._faults[key] = fault
        self._emit(
            EventKind.FAULT_SET, key=key, component=component, name=name.value, detail=detail, blocks=blocks
        )
        log.warning(
            "evse=%s hardware_fault component=%s fault=%s latched=%s detail=%s",
            self.evse_id,
            component,
            name.value,
            latched,
            detail,
        )
        self._send(p.HardwareFaultUpdate(evse_id=self.evse_id, component_name=component, fault_name=name))

    def _clear_fault(self, key: str) -> None:
        fault = self._faults.get(key)
        if fault is not None and not fault.latched:
            self._drop_fault(key)

    def _drop_fault(self, key: str) -> None:
        """Remove a fault (latched or not) and tell the observers."""
        fault = self._faults.pop(key, None)
        if fault is not None:
            log.info("evse=%s fault cleared component=%s key=%s", self.evse_id, fault.component, key)
            self._emit(EventKind.FAULT_CLEARED, key=key)

    def _link_fault(self, what: str, exc: DeviceError) -> None:
        """A device stopped answering: the board (or bus) link is lost for it."""
        self._set_fault(
            f"link:{what}",
            what.rstrip("0123456789"),
            p.HardwareFaultName.OTHER,
            f"device link lost: {exc}",
            blocks=self.settings.safety.open_on_board_link_loss,
        )

    def _blocking_fault_active(self) -> bool:
        return self._rcd_latched or self._rcd_now or any(f.blocks for f in self._faults.values())

    # -- publishing ----------------------------------------------------------------------------
    def _send(self, payload: Payload) -> None:
        """Queue an update; it is published after the lock is released (never under it)."""
        self._outbox.put(payload)

    def _emit(self, kind: EventKind, now: float | None = None, **detail: Any) -> None:
        """Queue a :class:`StationEvent`; listeners run after the lock is released."""
        at = self._clock() if now is None else now
        self._outbox.put(StationEvent(self.evse_id, kind, at, detail))

    def _publish_cp(self) -> None:
        for cid in self._cp:
            state = self._cp_state[cid]
            if state is not None and state != self._cp_sent[cid]:
                self._cp_sent[cid] = state
                self._send(self._cp_status_payload(cid))

    def _publish_changes(self) -> None:
        self._publish_cp()
        status = self.contactor_status()
        if status != self._contactor_sent:
            self._contactor_sent = status
            self._send(p.CsContactorStatusUpdate(evse_id=self.evse_id, status=p.ContactorStatus(status)))
        for cid, cable in self._cable.items():
            conn = self._connectors.get(cid)
            if conn is not None and conn.cable == "fixed":
                continue
            lock = self._lock_status(cid)
            key = (
                "connected" if cable.present else "disconnected",
                None if cable.ampacity_a is None else int(cable.ampacity_a),
                None if lock is None else lock.value,
            )
            if key != self._cable_sent.get(cid):
                self._cable_sent[cid] = key
                self._send(reporting.cable_info(self.evse_id, cable, lock))
        entry = self.status_and_limits_entry()
        if entry != self._limits_sent and (not self._dc or self._limits_changed(entry)):
            self._limits_sent = entry
            if self._dc_path.sample is not None:
                self._dc_reported = (self._dc_path.sample.voltage_v, self._dc_path.sample.current_a)
            self._send(p.CsStatusAndLimitsUpdate(evses=[p.CsStatusAndLimitsUpdateEvse(**entry)]))

    def _limits_changed(self, entry: dict[str, Any]) -> bool:
        """DC: anything but the present values changed, or those moved past the deadband (a
        module reports every few ms; each millivolt is not a change worth a message)."""
        if self._limits_sent is None or _without_present(entry) != _without_present(self._limits_sent):
            return True
        if self._dc_path.sample is None or self._dc_reported is None:
            return False
        v, a = self._dc_path.sample.voltage_v, self._dc_path.sample.current_a
        return (
            abs(v - self._dc_reported[0]) > self.settings.dc_report_deadband_v
            or abs(a - self._dc_reported[1]) > self.settings.dc_report_deadband_a
        )

    def _cp_status_payload(self, cid: int) -> p.CpStatusUpdate:
        return reporting.cp_status(
            self.evse_id, cid, self._cp_state[cid] or "E", self._cp[cid].last_sample, self._applied
        )

    # ==========================================================================================
    # read-only views (used by Station, tests, other station functions)
    # ==========================================================================================
    @property
    def connector_ids(self) -> tuple[int, ...]:
        return tuple(self._connectors) or tuple(self.devices.cp)

    @property
    def contactor_closed(self) -> bool:
        """What the core has *commanded* (the interlock's output)."""
        return self._cmd_closed

    @property
    def cp_states(self) -> dict[int, str | None]:
        return dict(self._cp_state)

    @property
    def faults(self) -> dict[str, Fault]:
        return dict(self._faults)

    @property
    def available(self) -> bool:
        return self._available

    @property
    def rcd_tripped(self) -> bool:
        return self._rcd_latched or self._rcd_now

    @property
    def last_decision(self) -> Decision | None:
        return self._last_decision

    @property
    def derating_limit_a(self) -> float | None:
        """The derating set with :meth:`set_derating_limit` (None: none)."""
        return self._derating_a

    def pending_updates(self) -> int:
        """Updates and events produced but not yet delivered (a stalled publisher)."""
        return self._outbox.pending()

    def contactor_status(self) -> str:
        """``closed`` / ``opened`` from the feedback (or the command without feedback), ``error``
        while a contactor fault is active or the feedback disagrees past the timeout."""
        if any(k in self._faults for k in ("contactor_welded", "contactor_feedback", "link:contactor")):
            return "error"
        closed = self._feedback if self._feedback is not None else self._cmd_closed
        return "closed" if closed else "opened"

    def ac_limit_a(self) -> float:
        """Per-phase current limit: EVSE rating, reduced by the cable and the derating."""
        limit = self.settings.max_current_a
        for cid, conn in self._connectors.items():
            if conn.cable == "fixed" and conn.max_cable_current_a is not None:
                limit = min(limit, conn.max_cable_current_a)
            cable = self._cable.get(cid)
            if cable is not None and cable.present and cable.ampacity_a is not None:
                limit = min(limit, cable.ampacity_a)
        if self._derating_a is not None:
            limit = min(limit, self._derating_a)
        return max(0.0, limit)

    def status_code(self) -> p.EvseStatusCode:
        if self._rcd_latched or self._rcd_now:
            return p.EvseStatusCode.EVSE_EMERGENCY_SHUTDOWN
        if any(f.blocks for f in self._faults.values()):
            return p.EvseStatusCode.EVSE_MALFUNCTION
        if not self._available:
            return p.EvseStatusCode.EVSE_NOT_READY
        if self._dc_path.cable_check_running:
            return p.EvseStatusCode.EVSE_ISOLATION_MONITORING_ACTIVE
        if self._stop_requested:
            return p.EvseStatusCode.EVSE_SHUTDOWN
        return p.EvseStatusCode.EVSE_READY

    def status_and_limits_entry(self) -> dict[str, Any]:
        """Keyword arguments for one ``evses[]`` item of cs_status_and_limits."""
        entry: dict[str, Any] = {"evse_id": self.evse_id, "status_code": self.status_code()}
        if self._dc:
            entry["dc"] = self._dc_limits()
        else:
            entry["ac"] = reporting.ac_limits(
                self.ac_limit_a(),
                self.settings.phases,
                self.settings.nominal_voltage_v,
                self._rcd_latched or self._rcd_now,
            )
        return entry

    def _dc_limits(self) -> p.CsStatusAndLimitsDc:
        return reporting.dc_limits(
            self._dc_path.capabilities,
            self._dc_path.sample,
            derating_a=self._derating_a,
            isolation=self._dc_path.isolation,
            peak_current_ripple_a=self.settings.dc_peak_current_ripple_a,
            current_reg_tolerance_a=self.settings.dc_current_reg_tolerance_a,
        )

    def snapshot(self) -> list[Payload]:
        """The current state as updates, for after a (re)connect."""
        with self._locked():
            out: list[Payload] = [self._cp_status_payload(cid) for cid in self._cp if self._cp_state[cid]]
            out.append(
                p.CsContactorStatusUpdate(
                    evse_id=self.evse_id, status=p.ContactorStatus(self.contactor_status())
                )
            )
            out.append(
                p.CsStatusAndLimitsUpdate(
                    evses=[p.CsStatusAndLimitsUpdateEvse(**self.status_and_limits_entry())]
                )
            )
            for cid, cable in self._cable.items():
                conn = self._connectors.get(cid)
                if conn is None or conn.cable != "fixed":
                    out.append(reporting.cable_info(self.evse_id, cable, self._lock_status(cid)))
            return out

    # ==========================================================================================
    # requests from Josev (called by Station handlers on bridge worker threads)
    # ==========================================================================================
    def handle_cp_pwm(self, req: p.CpPwmRequest) -> p.CpPwmResponse:
        """Apply a ``cp_pwm`` request (see MESSAGES.md: fault_state > error_state > hlc/basic)."""

        def invalid(info: str) -> p.CpPwmResponse:
            log.warning("evse=%s cp_pwm invalid: %s", self.evse_id, info)
            return p.CpPwmResponse(evse_id=self.evse_id, status=p.CpPwmStatus.INVALID, info=info)

        current = None if req.current is UNSET else float(req.current)
        if req.fault_state:
            return self._run(lambda now: self._set_forced("f"))
        if req.error_state:
            return self._run(lambda now: self._set_forced("e"))
        if req.hlc and current is not None:
            return invalid("current must be absent when hlc is true")
        if not req.hlc:
            if current is None:
                return invalid("current is required when hlc is false")
            if (
                not math.isfinite(current)
                or (0 < current < MIN_BASIC_CURRENT_A)
                or current > MAX_BASIC_CURRENT_A
            ):
                return invalid(
                    f"current {current} A outside 0 or {MIN_BASIC_CURRENT_A:g}..{MAX_BASIC_CURRENT_A:g} A"
                )

        def apply(now: float) -> p.CpPwmResponse:
            wants_pwm = req.hlc or (current is not None and current > 0)
            if wants_pwm:
                reason = self._pwm_refusal()
                if reason is not None:
                    return p.CpPwmResponse(evse_id=self.evse_id, status=p.CpPwmStatus.ERROR, info=reason)
            self._forced = None
            self._pwm_from_josev = True
            if req.hlc:
                self._pwm_request = ("hlc", None)
            elif current is not None and current > 0:
                self._pwm_request = ("basic", current)
            else:
                self._pwm_request = _PWM_X1
            return p.CpPwmResponse(evse_id=self.evse_id, status=p.CpPwmStatus.VALID)

        return self._run(apply)

    def _set_forced(self, which: str) -> p.CpPwmResponse:
        self._forced = which
        return p.CpPwmResponse(evse_id=self.evse_id, status=p.CpPwmStatus.VALID)

    def _pwm_refusal(self) -> str | None:
        if self._stopping:
            return "station stopping"
        if not self._available:
            return "evse unavailable"
        if self._rcd_latched or self._rcd_now:
            return "rcd tripped"
        blocking = [f.key for f in self._faults.values() if f.blocks]
        if blocking:
            return "hardware fault active: " + ",".join(sorted(blocking))
        return None

    def handle_stop_charging(self) -> p.StopChargingResponse:
        """Stop the energy transfer: contactor open now, PWM off; latched until the EV unplugs or
        a new authorization arrives."""

        def apply(now: float) -> p.StopChargingResponse:
            self._open_contactor("stop_charging", now)
            self._stop_requested = True
            return p.StopChargingResponse(evse_id=self.evse_id, status=p.AcceptedRejected.ACCEPTED)

        return self._run(apply)

    def handle_contactor_status(self) -> p.CsContactorStatusResponse:
        def apply(now: float) -> p.CsContactorStatusResponse:
            status = self.contactor_status()
            kwargs: dict[str, Any] = {}
            if status == "error":
                kwargs["info"] = (
                    "; ".join(f.detail for f in self._faults.values() if f.component == "contactor")[:200]
                    or "contactor fault"
                )
            return p.CsContactorStatusResponse(
                evse_id=self.evse_id, status=p.ContactorStatus(status), **kwargs
            )

        with self._lock:
            t = self._clock()
            self._evaluate_locked(t)
            result = apply(t)
        self._after_release()
        return result

    def handle_cable_check(self, action: p.CableCheckAction) -> p.CableCheckResponse:
        """DC cable check: start the isolation monitor; report ongoing / finished + level."""

        def apply(now: float) -> p.CableCheckResponse:
            if not self._dc or self._stopping:
                log.warning("evse=%s cable_check refused (AC EVSE or stopping)", self.evse_id)
                return p.CableCheckResponse(
                    evse_id=self.evse_id,
                    cable_check_status=p.CableCheckStatus.FINISHED,
                    isolation_level=p.IsolationLevel.INVALID,
                )
            return self._dc_path.cable_check(action, self._pwm_refusal())

        result: p.CableCheckResponse = self._run(apply)
        return result

    def handle_power_electronics_setpoint(
        self, req: p.PowerElectronicsSetpointRequest
    ) -> p.PowerElectronicsSetpointResponse:
        """DC: pre-charge lets the interlock close, then the module follows the set-point;
        current demand needs the contactor closed. AC set-points are accepted and recorded."""

        def reply(ok: bool, why: str = "") -> p.PowerElectronicsSetpointResponse:
            if not ok:
                log.warning("evse=%s power_electronics_setpoint rejected: %s", self.evse_id, why)
            status = p.AcceptedRejected.ACCEPTED if ok else p.AcceptedRejected.REJECTED
            return p.PowerElectronicsSetpointResponse(evse_id=self.evse_id, status=status)

        def apply(now: float) -> p.PowerElectronicsSetpointResponse:
            refusal = self._pwm_refusal()
            if refusal is not None:
                return reply(False, refusal)
            if not self._dc:
                ok = req.ac is not UNSET
                return reply(ok, "" if ok else "DC set-point for an AC EVSE")
            setpoint = self._dc_path.validate(req)
            if isinstance(setpoint, str):
                return reply(False, setpoint)
            if setpoint.precharge:
                self._dc_path.precharge_started = True
                self._evaluate_locked(now)  # the interlock closes now if it may
            if not self._cmd_closed:
                why = self._last_decision.why() if self._last_decision else "contactor open"
                return reply(False, f"contactor may not close: {why}")
            error = self._dc_path.apply(setpoint, self._derating_a)
            return reply(error is None, error or "")

        result: p.PowerElectronicsSetpointResponse = self._run(apply)
        return result

    def meter_values(self, now: float | None = None) -> MeterReading:
        """The latest reading if it is fresh; raises DeviceError when it is not (never a stale
        value with a fresh timestamp)."""
        with self._locked():
            t = self._clock() if now is None else now
            reading, ok_at = self._meter_reading, self._meter_ok_at
        if self.devices.meter is None:
            raise DeviceError(f"evse {self.evse_id} has no meter", device=f"{self.evse_id}.meter")
        if reading is None or ok_at is None or t - ok_at > self.settings.meter_stale_after_s:
            raise DeviceError(
                "no fresh meter reading (meter not answering)", device=self.devices.meter.device_id
            )
        return reading

    def meter_payload(self, reading: MeterReading, cls: type[reporting.M]) -> reporting.M:
        """A MeterValuesResponse/Update built from ``reading`` with the reading's own timestamp."""
        offered = None if self._dc else self.ac_limit_a()
        return reporting.meter_values(cls, self.evse_id, reading, max_current_offered_a=offered)

    def poll_meter(self, now: float | None = None) -> None:
        """Read the meter once (outside the lock), then record and publish the reading or the
        failure. Called by the meter thread at the profile interval."""
        meter = self.devices.meter
        if meter is None or self._stopping:
            return
        try:
            reading = meter.read()
            error: DeviceError | None = None
        except DeviceError as exc:
            reading, error = None, exc
        with self._lock:
            t = self._clock() if now is None else now
            if reading is None:
                self._meter_failures += 1
                if isinstance(error, DeviceOffline) or self._meter_failures >= 2:
                    if not self._meter_offline:
                        log.warning("evse=%s meter offline: %s", self.evse_id, error)
                    self._meter_offline = True
                self._evaluate_locked(t)
            else:
                self._meter_failures = 0
                self._meter_offline = False
                self._meter_reading = reading
                self._meter_ok_at = t
                self._clear_fault("meter")
                self._evaluate_locked(t)
                self._send(self.meter_payload(reading, p.MeterValuesUpdate))
        self._after_release()

    # ==========================================================================================
    # listen-only updates and station functions
    # ==========================================================================================
    def on_hlc_charging(self, status: bool) -> None:
        """``hlc_charging``: an ISO 15118 session does (not) control this EVSE."""

        def apply(now: float) -> None:
            self._hlc_active = status
            if status:
                self._slac_busy = True

        self._run(apply)

    def on_slac_status(self, status: p.SlacStatus) -> None:
        """``slac_status``: while SLAC matches, the auto basic PWM waits; when SLAC gives up, basic
        charging may go on (AC) and an HLC session is over."""

        def apply(now: float) -> None:
            if status in (p.SlacStatus.MATCHING, p.SlacStatus.MATCHED):
                self._slac_busy = True
            else:
                self._slac_busy = False
                if status in (p.SlacStatus.FAILED, p.SlacStatus.BASIC_CHARGING, p.SlacStatus.UNMATCHED):
                    self._hlc_active = False

        self._run(apply)

    def set_authorized(self, authorized: bool, *, id_token: str | None = None) -> None:
        """AC basic charging may (not) deliver energy. A new authorization also lifts a previous
        ``stop_charging`` of the same plug-in session."""

        def apply(now: float) -> None:
            self._authorized = authorized or self.settings.free_charging
            if authorized:
                self._stop_requested = False
                self._lock_override = None  # a new authorization locks the plug again
            log.info("evse=%s authorized=%s token=%s", self.evse_id, authorized, id_token or "-")

        self._run(apply)

    def on_authorization(self, status: p.AuthorizationStatus) -> None:
        self.set_authorized(status is p.AuthorizationStatus.ACCEPTED)

    def on_transaction_status(self, transaction_id: str, status: p.TransactionState) -> None:
        """Track Josev's OCPP transactions on this EVSE; ``ended`` ends the authorization."""

        def apply(now: float) -> None:
            if status is p.TransactionState.ENDED:
                self._transactions.pop(transaction_id, None)
                if not self._transactions:
                    self._authorized = self.settings.free_charging
            else:
                self._transactions[transaction_id] = status.value
            self._last_tx_id = transaction_id

        self._run(apply)

    def has_transaction(self, transaction_id: str) -> bool:
        return transaction_id in self._transactions

    def is_transaction_active(self) -> bool:
        """True while a session runs: Josev reported an open OCPP transaction on this EVSE, or
        the contactor is commanded closed (basic charging without OCPP serves an EV too)."""
        return bool(self._transactions) or self._cmd_closed

    def add_transaction_listener(self, fn: TransactionListener) -> None:
        """``fn(evse_id, transaction_id, "started" | "ended")`` whenever
        :meth:`is_transaction_active` changed. ``transaction_id`` is Josev's OCPP id when one is
        known, else ``""`` (basic charging without OCPP). Called outside the core's lock, so it
        may call back into the controller (e.g. ``set_available``)."""
        self._outbox.transaction_listeners.append(fn)

    def set_available(self, available: bool) -> None:
        """Operative / inoperative (change_availability). Inoperative opens at once and drives F."""

        def apply(now: float) -> None:
            if not available:
                # open before the flag flips, so no reader ever sees "unavailable and closed"
                self._open_contactor("evse made unavailable", now)
            if available != self._available:
                self._emit(EventKind.AVAILABILITY, now, available=available)
            self._available = available

        self._run(apply)

    def request_lock(self, connector_id: int, locked: bool) -> str | None:
        """An explicit lock/unlock (Josev's ``cs_connector``). Returns why it is refused, else
        ``None`` (the lock was commanded; the caller waits for the feedback).

        An unlock is refused while the contactor may be closed. Otherwise the request wins over
        the session logic until the session begins or ends or a new authorization arrives: an
        unlocked plug then keeps the contactor open (``plug_not_locked``) rather than being
        locked again under the driver's hand."""

        def apply(now: float) -> str | None:
            lock = self._plug_lock
            if self._stopping:
                return "station stopping"
            if lock is None or lock.connector_id != connector_id:
                return f"connector {connector_id} has no lock the core drives"
            if not locked and self._contactor_may_be_closed():
                return "unlock refused: contactor closed"
            self._lock_override = locked
            lock.drive(locked, self._contactor_may_be_closed(), now)
            if not lock.readable:
                return "lock not readable"
            return None

        result: str | None = self._run(apply)
        return result

    @property
    def lock_connector_id(self) -> int | None:
        """The socket connector whose lock the core drives (None: it drives no lock)."""
        return None if self._plug_lock is None else self._plug_lock.connector_id

    def set_derating_limit(self, amps: float | None) -> None:
        """Reduce the current limit (thermal or grid derating); ``None`` lifts it."""
        self._run(lambda now: setattr(self, "_derating_a", amps))

    def reset_rcd(self) -> bool:
        """Manual RCD reset (operator action). True when the RCD reads clear afterwards."""
        return bool(self._run(lambda now: self._do_rcd_reset()))

    def _do_rcd_reset(self) -> bool:
        if self._stopping:
            return False
        rcd = self.devices.rcd
        if rcd is None:
            self._rcd_latched = False
            return True
        try:
            rcd.reset()
            tripped = rcd.read().tripped
        except DeviceError as exc:
            log.error("evse=%s rcd reset failed: %s", self.evse_id, exc)
            return False
        if tripped:
            return False
        self._rcd_latched = False
        self._rcd_now = False
        self._drop_fault("rcd")
        log.info("evse=%s rcd reset", self.evse_id)
        return True

    def clear_faults(self) -> list[str]:
        """Clear latched faults whose cause is gone (operator action). Returns the cleared keys.

        A contactor that still reads closed while commanded open stays "welded"."""

        def apply(now: float) -> list[str]:
            if self._stopping:
                return []
            still_welded = False
            contactor = self.devices.contactor
            if contactor is not None and contactor.has_feedback and not self._cmd_closed:
                try:
                    still_welded = bool(contactor.read().feedback_closed)
                except DeviceError:
                    still_welded = True
            cleared = []
            for key, fault in list(self._faults.items()):
                if not fault.latched or key == "rcd":
                    continue
                if key == "contactor_welded" and still_welded:
                    continue
                self._drop_fault(key)
                cleared.append(key)
            self._mismatch_since = None
            return cleared

        result: list[str] = self._run(apply)
        return result

    def restart(self) -> None:
        """Per-EVSE reset (OCPP Reset of one EVSE): contactor open, CP back to X1, the session,
        authorization and Josev's PWM/stop requests forgotten, non-latched faults re-detected from
        scratch, and every state published again. Latched faults (welding, RCD) survive: a reset
        must not clear what only an operator may clear."""

        def apply(now: float) -> None:
            if self._stopping:
                return
            self._open_contactor("evse restart", now)
            self._end_session()
            self._session = False
            self._forced = None
            self._lock_override = None
            self._transactions.clear()
            for key in [k for k, f in self._faults.items() if not f.latched]:
                self._drop_fault(key)
            for cid in self._cp:
                self._cp[cid] = CpClassifier(self.settings.cp_thresholds, self.settings.cp_debounce_samples)
                self._cp_state[cid] = None
                self._cp_sent[cid] = None
            self._cable_sent.clear()
            self._applied = None
            self._contactor_sent = None
            self._limits_sent = None
            log.info("evse=%s restarted", self.evse_id)

        self._run(apply)

    def _all_unplugged(self) -> bool:
        letters = [c.letter for c in self._cp.values()]
        return all(letter is CpLetter.A for letter in letters)


def _without_present(entry: Any) -> Any:
    """A cs_status_and_limits entry with the DC present values zeroed (to compare the rest)."""
    if not isinstance(entry, dict) or "dc" not in entry:
        return entry
    dc = entry["dc"]
    return {**entry, "dc": msgspec.structs.replace(dc, present_voltage=0.0, present_current=0.0)}
