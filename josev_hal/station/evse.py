"""One EVSE: the evaluate step that ties the station core's collaborators together.

:class:`EvseController` owns the devices of one EVSE. Each rule has one home; the controller only
orders them in :meth:`EvseController.evaluate`:

1. read the inputs -- RCD (:mod:`.rcd`), CP and PP (:mod:`.inputs`), the plug-in session
   (:mod:`.session`), the contactor's mirror contact (:mod:`.contactor`), the connector lock
   (:mod:`.plug_lock`), the DC module and IMD (:mod:`.dc`), the meter's age;
2. decide with the pure interlock (:func:`.interlocks.decide`) -- *when the contactor may close*;
3. actuate, opening first: open if the decision forbids closing (unless the AC path lets an EV
   ramp down after the PWM was withdrawn, :mod:`.ac` -- *what happens on C2 -> C1*; or the DC
   cable check holds it closed for the test, :mod:`.dc`), then the CP output, then close;
4. report what changed (:mod:`.reporting`), queued in the outbox (:mod:`.outbox`) and delivered
   after the lock is released.

The sampling thread is a thin loop around it; a driver's ``notify()`` calls it at once on the
driver's own thread, so a safety reaction never waits for the next sample and never waits on MQTT.

Steady state (#17): a sample or a push always does step 1 with its hard reactions (RCD trip, CP
leaving C/D, an unreadable CP open at once). Steps 2-4 are skipped when step 1 moved nothing they
look at (:meth:`EvseController._read_state`), no request changed the state since the last full
evaluation (every other entry evaluates in full), that evaluation left a fixed point, and none of
the clocks of steps 2-4 can have run out (:meth:`EvseController._quiet_until`): then they would do
exactly what they did last time, i.e. nothing. A 32-EVSE board spends most of its CPU here.

Concurrency: one non-reentrant lock guards the state. A notification that finds the lock taken
sets a flag instead of waiting, and whoever holds the lock evaluates again before releasing it
(drivers that notify from inside their own locks stay deadlock-free, and the reaction is still
immediate). Nothing leaves the core under the lock: not the bridge, not a listener. Slow I/O --
the meter's Modbus round trip, the RCD and IMD self-tests -- runs outside it.

Time: every method takes ``now`` from the injected ``clock`` (``time.monotonic`` by default), so
tests drive timeouts without sleeping.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

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
from josev_hal.station.ac import Overcurrent, PwmWithdrawal, desired_output
from josev_hal.station.config import EvseKind, EvseSettings, RcdResetPolicy
from josev_hal.station.contactor import ContactorSupervisor
from josev_hal.station.dc import DcPath, test_may_close
from josev_hal.station.events import EventKind, EventListener, StationEvent
from josev_hal.station.faults import Fault, FaultBook, NonBlockingFaults
from josev_hal.station.inputs import PilotInputs
from josev_hal.station.interlocks import Blocker, Decision, InterlockInputs, decide
from josev_hal.station.josev import JosevRequests
from josev_hal.station.limits import EffectiveLimit, Limit, LimitSource, effective_limit
from josev_hal.station.outbox import Outbox, TransactionChange, TransactionListener
from josev_hal.station.plug_lock import LOCK_FAULT, PlugLock
from josev_hal.station.pwm import HLC_DUTY_PERCENT
from josev_hal.station.rcd import RcdGuard, RcdSelfTestPolicy
from josev_hal.station.scheduler import Job, Scheduler
from josev_hal.station.session import Session

__all__ = ["EvseController", "EvseDevices", "Fault", "Publisher"]

log = logging.getLogger(__name__)

#: How often the slow scheduler asks whether a self-test fell due (a cheap check under the lock).
SELF_TEST_CHECK_S = 0.1

#: Where outgoing updates go (the bridge's ``publish_update``). Called outside every station lock.
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
        self.dc = settings.kind is EvseKind.DC
        self._clock = clock
        self._liveness = liveness
        self._heartbeats: list[Heartbeat] = []
        now = clock()

        self._lock = threading.Lock()
        self._dirty = False  # a notification arrived while the lock was held
        self._dirty_confirmed = False  # ... and it came from a CP driver (no debounce)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._subscribed = False
        self._jobs: list[tuple[Scheduler, Job]] = []  # when attached to the board's schedulers
        #: stop() began: nothing may close or start a PWM any more
        self._stopping = False
        #: stop() finished: the drivers may be released, nothing touches them any more
        self._stopped = False

        # what leaves the core (updates, events, transaction changes), after the lock is released
        self._outbox = Outbox(settings.evse_id, publish)
        self._reporter = reporting.ChangeReporter(self._send)
        self.fault_book = FaultBook(
            self.evse_id,
            self._send,
            self._emit,
            link_loss_blocks=settings.safety.open_on_board_link_loss,
        )
        self.session = Session(self.evse_id, free_charging=settings.free_charging)
        self.pilots = PilotInputs(settings, devices.cp, devices.pp, self.fault_book, self._emit)
        self.rcd = RcdGuard(
            self.evse_id,
            devices.rcd,
            self.fault_book,
            self._emit,
            auto_reset=settings.safety.rcd_reset is RcdResetPolicy.AUTO,
            self_test=RcdSelfTestPolicy(settings.safety.rcd_self_test),
        )
        self.dc_path = DcPath(
            settings.evse_id,
            devices.power_module,
            devices.isolation_monitor,
            self.fault_book,
            precharge_current_a=settings.precharge_current_a,
            limits=settings.dc_limits,
            cable_check=settings.cable_check,
        )
        self.contactor = ContactorSupervisor(
            self.evse_id,
            devices.contactor,
            self.fault_book,
            self._emit,
            feedback_timeout_s=settings.contactor_feedback_timeout_s,
            welding_detection=settings.safety.welding_detection,
            min_close_interval_s=settings.min_close_interval_s,
            now=now,
            before_open=self.dc_path.disable,
            present_current_a=self._present_current_a,
        )
        self.withdrawal = PwmWithdrawal(self.evse_id)
        self.overcurrent = Overcurrent(
            self.evse_id,
            self.fault_book,
            tolerance_a=settings.safety.overcurrent_tolerance_a,
            grace_s=settings.safety.overcurrent_grace_s,
        )
        self.requests = JosevRequests(self)
        # connector lock (socket outlets only: a fixed cable has nothing to lock)
        self._plug_lock = self._make_plug_lock(now)
        self._connectors = {c.id: c for c in settings.connectors}

        self._available = True
        self._derating_a: float | None = None
        # station-wide limits handed down by the energy supervisor (#22): source -> (A, detail)
        self._external_limits: dict[LimitSource, tuple[float, str]] = {}
        # phases supplied now (1p/3p switching, #22); None: the profile's phases
        self._active_phases: int | None = None
        self._binding_logged = ""
        self._applied: CpOutput | None = None
        self._applied_at = now
        self._last_decision: Decision | None = None
        self._refusal_logged: tuple[Blocker, ...] = ()
        self._tx_was_active = False
        # steady-state skip (#17): what the reads of the last full evaluation left (None: not
        # steady) and until when no timer of the decide/actuate/report part can move
        self._steady_key: tuple[object, ...] | None = None
        self._steady_until = -math.inf

        # meter
        self._meter_reading: MeterReading | None = None
        self._meter_ok_at: float | None = None
        self._meter_failures = 0
        self._meter_offline = False
        self._meter_stamp_sent: str | None = None  # timestamp of the last meter_values update
        self._created_at = now

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
            NonBlockingFaults(self.fault_book),
            timeout_s=self.settings.lock_timeout_s,
            settle_s=self.settings.lock_settle_s,
            now=now,
            on_command=lambda cid, locked: self._emit(EventKind.LOCK, connector_id=cid, locked=locked),
        )

    # ==========================================================================================
    # lifecycle
    # ==========================================================================================
    def attach(self, sampler: Scheduler, slow: Scheduler) -> None:
        """Run this EVSE's periodic work on the board's schedulers instead of threads of its own
        (:class:`~josev_hal.station.station.Station` does this): the CP step on ``sampler``, the
        meter poll and due self-tests on ``slow``. Notifications still evaluate at once."""
        self.subscribe_notifications()
        self._stop.clear()
        self._jobs = [
            (
                sampler,
                sampler.every(
                    self.settings.cp_sample_interval_s, self._scheduled_sample, name=f"cp {self.evse_id}"
                ),
            )
        ]
        if self.devices.meter is not None:
            job = slow.every(
                self.settings.meter_interval_s, self._scheduled_meter, name=f"meter {self.evse_id}"
            )
            self._jobs.append((slow, job))
        if self.devices.rcd is not None or self.dc:
            job = slow.every(SELF_TEST_CHECK_S, self.run_due_self_tests, name=f"self-tests {self.evse_id}")
            self._jobs.append((slow, job))

    def _scheduled_sample(self) -> None:
        if not self._stopping:
            self.sample()

    def _scheduled_meter(self) -> None:
        if not self._stopping:
            self.poll_meter()

    def start(self) -> None:
        """Stand-alone: subscribe to driver notifications and start this EVSE's own sampling (and
        meter) threads. (A :class:`Station` uses :meth:`attach` instead.)"""
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
        if self._stopped:
            return  # stopped already (idempotent: the drivers may be released)
        self._stopping = True  # read under the lock by every evaluation from now on
        self.contactor.frozen = True
        self._stop.set()
        for scheduler, job in self._jobs:
            scheduler.cancel(job)
        self._jobs = []
        with self._lock:
            self._shutdown_step(self._clock())
        self._outbox.flush_within(0.0)  # hand the news to a helper; never wait here

    def finish_stop(self, timeout: float = 2.0) -> None:
        """Phase 2: join the loops, confirm the contactor opened, publish the final state."""
        if self._stopped:
            return
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, min(0.5, deadline - time.monotonic())))
            if thread.is_alive():
                log.error("evse=%s %s did not stop (stuck in a call); leaving it", self.evse_id, thread.name)
        self._threads = []
        for hb in self._heartbeats:
            hb.close()
        self._heartbeats = []
        wait_s = min(self.settings.contactor_feedback_timeout_s * 2, 1.0)
        outcome = self.contactor.confirm_open(wait_s)  # sleeps: outside the lock
        with self._lock:
            self.contactor.report_shutdown(outcome, wait_s)
            self._shutdown_step(self._clock())
            self._stopped = True  # nothing touches a driver after this: the board may release them
            self.contactor.released = True
        self._outbox.flush_within(max(0.0, deadline - time.monotonic()))

    def _shutdown_step(self, now: float) -> None:
        """The only evaluation once stopping: open, X1/F, unlock when safe, report."""
        self.contactor.open("station stopping", now)
        final = CpOutput(CpMode.STATE_F) if not self._available else CpOutput(CpMode.X1)
        if self._applied != final:
            self._apply_output(final, now)
        if self._plug_lock is not None:
            # release the plug unless the contacts may still be closed (welded, unreadable)
            self._plug_lock.drive(False, self.contactor.may_be_closed(), now)
        self.contactor.read(now)
        self._publish_changes()

    def subscribe_notifications(self) -> None:
        """Have every driver's ``notify()`` trigger an immediate evaluation (idempotent). Only a
        CP driver's own push counts as a confirmed CP reading (issue #14 item 9): a power module
        or lock notifying must not let a polled CP sample skip its debounce."""
        if self._subscribed:
            return
        self._subscribed = True
        cps = {id(d) for d in self.devices.cp.values()}
        for driver in self.devices.all():
            if driver is self.devices.meter:
                continue  # meter changes come through the meter thread
            driver.subscribe(self._on_cp_notify if id(driver) in cps else self._on_notify)

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
    def _on_cp_notify(self) -> None:
        """A CP driver pushed a change: its reading counts as confirmed (no second debounce)."""
        if self._stopped:
            return
        self._dirty_confirmed = True
        self._dirty = True
        self._after_release()

    def _on_notify(self) -> None:
        """Another driver pushed: evaluate now on this thread, or hand over to the lock holder."""
        if self._stopped:
            return  # drivers may be released already
        self._dirty = True
        self._after_release()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The state lock; on release, catch up on pending notifications and deliver."""
        with self._lock:
            yield
        self._after_release()

    def _after_release(self) -> None:
        self._drain()
        self._outbox.flush()

    def _drain(self) -> None:
        while self._dirty:
            if not self._lock.acquire(blocking=False):
                return  # the holder re-checks _dirty before it lets go
            try:
                self._dirty = False
                confirmed, self._dirty_confirmed = self._dirty_confirmed, False
                # A push makes the reads run now (the reaction time); when they show nothing new
                # (a second driver announcing the change the first push's evaluation already
                # read, e.g. CP and PP on a plug-in), the rest is skipped as on a periodic sample.
                self._evaluate_locked(self._clock(), confirmed=confirmed, steady_skip=True)
            finally:
                self._lock.release()

    def evaluate(self, now: float | None = None, *, confirmed: bool = False) -> None:
        """One control step (:meth:`sample`), then a self-test that fell due (RCD, the cable
        check's IMD) -- outside the lock, on this thread. ``confirmed=True`` accepts the CP
        reading without debounce. The station's schedulers split the two (:meth:`attach`)."""
        self.sample(now, confirmed=confirmed)
        self.run_due_self_tests()

    def sample(self, now: float | None = None, *, confirmed: bool = False) -> None:
        """One control step: read inputs, decide, actuate, publish (never a slow self-test).

        When its reads moved nothing and no timer of the rest can have run out, the rest is
        skipped (:meth:`_read_state`, :meth:`_quiet_until`); so are a driver push's. Requests and
        every other change of the state evaluate in full."""
        with self._lock:
            # a notification nobody evaluated yet (its thread found the lock taken) makes this
            # sample a full one: it stands in for that evaluation
            steady_skip, self._dirty = not self._dirty, False
            # a CP push that arrived meanwhile confirms this (later) sample too
            confirmed, self._dirty_confirmed = confirmed or self._dirty_confirmed, False
            self._evaluate_locked(
                self._clock() if now is None else now, confirmed=confirmed, steady_skip=steady_skip
            )
        self._after_release()

    def run(self, fn: Callable[[float], Any], now: float | None = None) -> Any:
        """Run ``fn(now)`` under the lock followed by an evaluation (request handlers)."""
        with self._lock:
            t = self._clock() if now is None else now
            result = fn(t)
            self._evaluate_locked(t)
        self._after_release()
        return result

    def evaluate_locked(self, now: float) -> None:
        """An evaluation from inside :meth:`run` (the caller holds the lock)."""
        self._evaluate_locked(now)

    def _evaluate_locked(self, now: float, *, confirmed: bool = False, steady_skip: bool = False) -> None:
        if self._stopped:
            return  # the drivers may be released: touch nothing
        if self._stopping:
            self._shutdown_step(now)
            return
        # 1. inputs; the hard reactions (RCD trip, CP leaving C/D for A/B/E/F, a dead CP) open on
        #    the very sample that shows them
        if self.rcd.read(now, self.pilots.all_unplugged):  # asked only for an auto-reset
            self.contactor.open("rcd tripped", now)
        changes, unreadable = self.pilots.read_cp(now, confirmed)
        for change in changes:
            if self.contactor.closed and change.state not in ("C2", "D2", "C1", "D1"):
                self.contactor.open(f"cp {change.previous}->{change.state}", now)
        if unreadable and self.settings.safety.open_on_board_link_loss and self.contactor.closed:
            self.contactor.open(f"control pilot {unreadable[0]} unreadable", now)
        self.pilots.read_pp(now)
        self._track_session()
        self.contactor.read(now)
        if self._plug_lock is not None:
            self._plug_lock.read(now)
        if self.dc:
            self.dc_path.read()
            if self.dc_path.cable_check_running:
                self.dc_path.advance(now, contactor_closed=self._contactor_really_closed())
        if steady_skip and now < self._steady_until and self._steady_key == self._read_state():
            # Steady state (#17): the reads above moved nothing the rest looks at, nothing else
            # changed it since the last full evaluation (every other entry evaluates in full), and
            # none of its timers ran out: deciding, actuating and reporting again would do nothing.
            return
        self._steady_key = None
        self._check_meter(now)
        # 2.-3. decide and actuate, opening first
        decision = self._decide(now)
        was_closed = self.contactor.closed
        if was_closed and not decision.may_close and not self._may_stay_closed(decision, now):
            self.contactor.open(self.withdrawal.reason(decision, now), now)
        if not self.contactor.closed or decision.may_close:
            self.withdrawal.reset()  # over: opened, or the offer is back before the EV left C
        if self._update_output(now) or self.contactor.closed != was_closed:
            # Only an opening or a CP output step (new output, CP suffix, a CP link fault) moves
            # the inputs since the first decision; in the steady state it stands (decide() is a
            # pure function of the inputs), which halves the decision cost per sample (#17).
            decision = self._decide(now)
        if not self.contactor.closed and (decision.may_close or self._test_closing(decision)):
            if self.contactor.close(now) and decision.may_close:
                self.session.energy_delivered = True
        elif self.contactor.closed and decision.may_close:
            self.session.energy_delivered = True
        if self._plug_lock is not None:
            # after the contactor step: an unlock is only ever commanded with the contactor open
            self._plug_lock.drive(self._want_plug_locked(), self.contactor.may_be_closed(), now)
        self._last_decision = decision
        self._log_refusal(decision)
        # 4. report
        self._publish_changes()
        self._note_transaction()
        self._steady_until = self._quiet_until(now, decision)
        self._steady_key = self._read_state() if now < self._steady_until else None

    def _read_state(self) -> tuple[object, ...]:
        """What a sample's reads can move that the decide/actuate/report part looks at: the
        fault set, the accepted CP states and cables, the RCD, the contactor, the lock."""
        c, lock, rcd = self.contactor, self._plug_lock, self.rcd
        return (
            self.fault_book.version,
            self.pilots.version,
            rcd.latched,
            rcd.now_tripped,
            rcd.testing,
            c.closed,
            c.feedback,
            c.settled,
            None if lock is None else (lock.commanded, lock.feedback, lock.confirmed, lock.settled),
        )

    def _quiet_until(self, now: float, decision: Decision) -> float:
        """Until when the decide/actuate/report part, given the same state, would do exactly
        what it just did (-inf: it may act on the next sample without any change). Its clocks:
        the minimum closing interval, the meter's staleness, a daily RCD test falling due; a PWM
        withdrawal, a running self-test, DC (cable check, pre-charge) and a supervision under way
        never count as steady. The reads' own timers (feedback, lock and PP timeouts) run in the
        reads, which every sample does; what they raise moves :meth:`_read_state`."""
        if (
            self.dc
            or self._stopping
            or self.rcd.testing
            or self.withdrawal.waiting
            or not self.contactor.settled
            or (self._plug_lock is not None and not self._plug_lock.settled)
        ):
            return -math.inf
        # Not a fixed point yet: the next evaluation would act with nothing else changing -- a
        # closed contactor the final decision refuses (the withdrawal starts on the next one), an
        # open one it allows (a closing refused by the driver is retried), a CP output or a lock
        # command that did not take (retried).
        if self.contactor.closed != decision.may_close or self._desired_output(now) != self._applied:
            return -math.inf
        lock = self._plug_lock
        if (
            lock is not None
            and (self._want_plug_locked() or self.contactor.may_be_closed()) != lock.commanded
        ):
            return -math.inf
        # 1 us early: at the exact edge a float comparison in the rule may already flip
        margin = 1e-6
        until = self.rcd.due_changes_at(self.session.plugged) - margin
        last_close = self.contactor.last_close_at
        interval = self.settings.min_close_interval_s
        if not self.contactor.closed and last_close is not None and interval > 0:
            until = min(until, last_close + interval - margin)
        if self.devices.meter is not None:
            last_ok = self._created_at if self._meter_ok_at is None else self._meter_ok_at
            # the same test as _check_meter: once stale, only a poll (a full evaluation) changes it
            if not now - last_ok > self.settings.meter_stale_after_s:
                until = min(until, last_ok + self.settings.meter_stale_after_s - margin)
        return until

    def _may_stay_closed(self, decision: Decision, now: float) -> bool:
        if self._test_closing(decision):
            return True
        if self.dc:
            return False
        return self.withdrawal.hold(decision, self._cp_states_tuple(), now)

    def _test_closing(self, decision: Decision) -> bool:
        """DC: closed for the cable check or while pre-charge is awaited (current-limited)."""
        return self.dc and self.dc_path.wants_closed and test_may_close(decision)

    def _contactor_really_closed(self) -> bool:
        c = self.contactor
        if not c.closed:
            return False
        return c.feedback if c.feedback is not None else True

    def _track_session(self) -> None:
        change = self.session.track(*self.pilots.presence())
        if change == "began":
            self.rcd.session_began()
        elif change == "ended":
            self.dc_path.end_session()
            self.overcurrent.end_session()
            self.withdrawal.reset()

    def _check_meter(self, now: float) -> None:
        if self.devices.meter is None:
            return
        # A meter that never answered yet gets one stale period from start-up before it is offline.
        last_ok = self._created_at if self._meter_ok_at is None else self._meter_ok_at
        stale = now - last_ok > self.settings.meter_stale_after_s
        if stale or self._meter_offline:
            self.fault_book.set_fault(
                "meter",
                "meter",
                p.HardwareFaultName.OTHER,
                "meter not answering (readings stale)",
                blocks=self.settings.safety.open_on_meter_loss,
            )
        if not self.dc:
            settled = max(self._applied_at, self.contactor.last_close_at or self._created_at)
            why = self.overcurrent.check(
                self._meter_reading, self._meter_ok_at, self._applied, settled, self.contactor.closed
            )
            if why is not None:
                self.contactor.open(why, now)

    # -- decision ------------------------------------------------------------------------------
    def _inputs(self, now: float | None = None) -> InterlockInputs:
        t = self._clock() if now is None else now
        s, dc = self.session, self.dc_path
        return InterlockInputs(
            cp_states=self._cp_states_tuple(),
            dc=self.dc,
            available=self._available,
            rcd_tripped=self.rcd.tripped,
            blocking_faults=self.fault_book.blocking(),
            stop_requested=s.stop_requested,
            authorized=s.authorized,
            hlc_active=s.hlc_active,
            cable_check_passed=dc.cable_check_passed,
            precharge_started=dc.precharge_started,
            plug_locked=self._plug_lock is None or self._plug_lock.confirmed,
            hlc_pwm=self._applied is not None
            and self._applied.mode is CpMode.PWM
            and self._applied.duty_percent == HLC_DUTY_PERCENT,
            ventilation=self.settings.ventilation,
            pp_required=self.pilots.pp_required,
            pp_valid=self.pilots.pp_valid(),
            rcd_self_test_failed=self.rcd.failed,
            rcd_self_test_pending=self.rcd.due(s.plugged, t) or self.rcd.testing,
            overcurrent=self.overcurrent.tripped,
            hlc_session=s.hlc_session,
            cable_check_session=dc.cable_check_session,
            precharge_session=dc.precharge_session,
            contactor_closed=self.contactor.closed,
            since_last_close_s=self.contactor.since_last_close(t),
            min_close_interval_s=self.settings.min_close_interval_s,
        )

    def _decide(self, now: float) -> Decision:
        return decide(self._inputs(now))

    def _log_refusal(self, decision: Decision) -> None:
        """While the EV asks for energy (C2/D2) and the interlock says no, log why - once per
        change of the reasons, not per sample (e.g. D2 without ventilation, a failed RCD test)."""
        blockers = decision.blockers
        if blockers and not any(s in ("C2", "D2") for s in self.pilots.states.values()):
            blockers = ()  # the EV does not ask: nothing is being refused (the common idle sample)
        if blockers and blockers != self._refusal_logged:
            # info, not warning: most refusals are normal waits (the lock engaging, the closing
            # interval); the faults behind the others are logged as warnings where they are raised
            log.info("evse=%s ev asks for energy; contactor held open: %s", self.evse_id, decision.why())
        self._refusal_logged = blockers

    def _cp_states_tuple(self) -> tuple[str, ...]:
        return tuple(s or "E" for s in self.pilots.states.values())

    # -- actuation -----------------------------------------------------------------------------
    def open_contactor(self, why: str, now: float) -> None:
        """Open at once (request handlers, e.g. DC stop_charging, inoperative)."""
        self.contactor.open(why, now)

    def _present_current_a(self) -> float | None:
        """The highest current flowing as far as the core knows (meter phases or DC output)."""
        if self.dc and self.dc_path.sample is not None:
            return abs(self.dc_path.sample.current_a)
        reading = self._meter_reading
        if reading is None or reading.current_a is None:
            return None
        c = reading.current_a
        return max(abs(c.l1), abs(c.l2), abs(c.l3))

    def _blocked(self, now: float) -> bool:
        """Nothing may be offered: RCD, blocking fault, RCD self-test failed or due, overcurrent."""
        return (
            self.rcd.tripped
            or self.fault_book.any_blocking()
            or self.overcurrent.tripped
            or self.rcd.due(self.session.plugged, now)
            or self.rcd.testing
        )

    def _desired_output(self, now: float) -> CpOutput:
        return desired_output(
            self.session,
            available=self._available,
            blocked=self._blocked(now),
            dc=self.dc,
            auto_basic_pwm=self.settings.auto_basic_pwm,
            max_current_a=self.settings.max_current_a,
            limit_a=self.ac_limit_a(),
            pp_ok=self.pilots.pp_valid(),
        )

    def _update_output(self, now: float) -> bool:
        """Apply the CP output the state asks for; True when it differed from the applied one
        (then the inputs of the decision may have moved: output, CP suffix, a CP link fault)."""
        desired = self._desired_output(now)
        if desired == self._applied:
            return False
        # Announce the state seen under the old output first (A1 -> B1 -> B2, never A1 -> B2:
        # some consumers mishandle the jump, and every observed state gets its cp_status).
        self._publish_cp()
        self._apply_output(desired, now)
        # The suffix follows the applied output at once (x1 <-> x2); no new sample needed.
        self.pilots.follow_output({cid: self._output_of(cid) for cid in self.devices.cp})
        return True

    def _output_of(self, cid: int) -> CpOutput:
        try:
            return self.devices.cp[cid].output
        except DeviceError:
            return self._applied or CpOutput(CpMode.X1)

    def _apply_output(self, out: CpOutput, now: float) -> None:
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
                self.fault_book.link_fault(f"cp{cid}", exc)
                return
        log.info("evse=%s cp output %s duty=%s", self.evse_id, out.mode.value, out.duty_percent)
        self._applied = out
        self._applied_at = now

    def _want_plug_locked(self) -> bool:
        """The plug stays locked while a session runs: EV plugged, not stopped, authorized (or an
        ISO 15118 session), EVSE available and no blocking fault -- so the driver can take the
        cable after a stop, an RCD trip or a fault. Josev's explicit cs_connector wins."""
        s = self.session
        if s.lock_override is not None:
            return s.lock_override
        return (
            s.plugged
            and not s.stop_requested
            and self._available
            and s.may_be_served()
            and not self.rcd.tripped
            and not self.fault_book.any_blocking()
        )

    def _lock_status(self, cid: int) -> p.CableLockStatus | None:
        """The lock state of connector ``cid`` for cable_info (None: the connector has no lock)."""
        lock = self._plug_lock
        if lock is None or lock.connector_id != cid:
            return None
        return lock.status(LOCK_FAULT in self.fault_book)

    # -- self-tests (outside the lock) ---------------------------------------------------------
    def run_due_self_tests(self) -> None:
        """Run a self-test that fell due (seconds: never on the sampling path of other EVSEs)."""
        # Checked ten times a second per EVSE and nearly always nothing is due: look first without
        # the lock (a read racing a change only defers the test to the next check; whether it
        # runs is decided under the lock below).
        if not (
            self.rcd.due(self.session.plugged, self._clock()) or (self.dc and self.dc_path.imd_self_test_due)
        ):
            return
        with self._lock:
            now = self._clock()
            rcd_due = (
                not self._stopping
                and not self.contactor.may_be_closed()
                and self.rcd.due(self.session.plugged, now)
            )
            if rcd_due:
                self.rcd.testing = True
            imd_due = (
                self.dc
                and not self._stopping
                and self.dc_path.imd_self_test_due
                and not self.dc_path.imd_testing
            )
            if imd_due:
                self.dc_path.imd_testing = True
        if rcd_due:
            self._rcd_self_test()
        if imd_due:
            passed = self.dc_path.run_imd_self_test()
            with self._locked():
                self.dc_path.imd_self_test_done(passed, self._clock())

    def _rcd_self_test(self) -> tuple[bool, str]:
        """Run the RCD test (``rcd.testing`` already set under the lock, contactor open)."""
        try:
            passed, detail = self.rcd.run()
        except Exception as exc:  # a driver bug must not leave the guard in "testing"
            passed, detail = False, f"self-test raised: {exc}"
        with self._locked():
            self.rcd.finish(passed, detail, self._clock())
            self._evaluate_locked(self._clock())
        return passed, detail

    def run_rcd_self_test(self) -> tuple[bool, str]:
        """Operator action: run the RCD self-test now. Refused (``(False, "refused: ...")``, no
        fault) while the contactor may be closed, the station stops, or another test runs."""
        with self._lock:
            refusal = None
            if self.devices.rcd is None:
                refusal = "no rcd device"
            elif self._stopping:
                refusal = "station stopping"
            elif self.contactor.may_be_closed():
                refusal = "contactor closed"
            elif self.rcd.testing:
                refusal = "a self-test is running"
            else:
                self.rcd.testing = True
        if refusal is not None:
            return False, f"refused: {refusal}"
        return self._rcd_self_test()

    # -- reporting -----------------------------------------------------------------------------
    def _send(self, payload: Payload) -> None:
        """Queue an update; it is published after the lock is released (never under it)."""
        self._outbox.put(payload)

    def _emit(self, kind: EventKind, now: float | None = None, **detail: Any) -> None:
        """Queue a :class:`StationEvent`; listeners run after the lock is released."""
        at = self._clock() if now is None else now
        self._outbox.put(StationEvent(self.evse_id, kind, at, detail))

    def _publish_cp(self) -> None:
        for cid, state in self.pilots.states.items():
            self._reporter.cp(cid, state, partial(self._cp_status_payload, cid))

    def _publish_changes(self) -> None:
        self._publish_cp()
        self._reporter.contactor(self.evse_id, self.contactor_status())
        for cid, cable in self.pilots.cables.items():
            conn = self._connectors.get(cid)
            if conn is not None and conn.cable == "fixed":
                continue
            self._reporter.cable(self.evse_id, cid, cable, self._lock_status(cid))
        deadband = (
            (self.settings.dc_report_deadband_v, self.settings.dc_report_deadband_a) if self.dc else None
        )
        self._reporter.limits(self.status_and_limits_entry(), self.dc_path.sample, deadband)

    def _note_transaction(self) -> None:
        active = self.is_transaction_active()
        if active != self._tx_was_active:
            self._tx_was_active = active
            status = "started" if active else "ended"
            self._outbox.put(TransactionChange(self.evse_id, self.session.last_tx_id, status))

    def _cp_status_payload(self, cid: int) -> p.CpStatusUpdate:
        return reporting.cp_status(
            self.evse_id,
            cid,
            self.pilots.states[cid] or "E",
            self.pilots.classifiers[cid].last_sample,
            self._applied,
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
        return self.contactor.closed

    @property
    def cp_states(self) -> dict[int, str | None]:
        return dict(self.pilots.states)

    @property
    def _cp_state(self) -> dict[int, str | None]:
        """The accepted-state table itself (the interlock property test swaps in a logging one)."""
        return self.pilots.states

    @_cp_state.setter
    def _cp_state(self, table: dict[int, str | None]) -> None:
        self.pilots.states = table

    @property
    def faults(self) -> dict[str, Fault]:
        return self.fault_book.snapshot()

    @property
    def available(self) -> bool:
        return self._available

    @property
    def authorized(self) -> bool:
        """The session may draw energy as far as authorization goes (Josev accepted a token, a
        local token hook did, or the EVSE charges free)."""
        return self.session.authorized

    @property
    def rcd_tripped(self) -> bool:
        return self.rcd.tripped

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
        while a contactor fault is active."""
        return self.contactor.status()

    def ac_limit_a(self) -> float:
        """Per-phase current limit: EVSE rating, reduced by the cable and the derating."""
        limit = self.settings.max_current_a
        for cid, conn in self._connectors.items():
            if conn.cable == "fixed" and conn.max_cable_current_a is not None:
                limit = min(limit, conn.max_cable_current_a)
            cable = self.pilots.cables.get(cid)
            if cable is not None and cable.present and cable.ampacity_a is not None:
                limit = min(limit, cable.ampacity_a)
        if self._derating_a is not None:
            limit = min(limit, self._derating_a)
        for amps, _ in self._external_limits.values():
            limit = min(limit, amps)
        return max(0.0, limit)

    def status_code(self) -> p.EvseStatusCode:
        if self.rcd.tripped:
            return p.EvseStatusCode.EVSE_EMERGENCY_SHUTDOWN
        if self.fault_book.any_blocking():
            return p.EvseStatusCode.EVSE_MALFUNCTION
        if not self._available:
            return p.EvseStatusCode.EVSE_NOT_READY
        if self.dc_path.cable_check_running:
            return p.EvseStatusCode.EVSE_ISOLATION_MONITORING_ACTIVE
        if self.session.stop_requested:
            return p.EvseStatusCode.EVSE_SHUTDOWN
        return p.EvseStatusCode.EVSE_READY

    def status_and_limits_entry(self) -> dict[str, Any]:
        """Keyword arguments for one ``evses[]`` item of cs_status_and_limits."""
        entry: dict[str, Any] = {"evse_id": self.evse_id, "status_code": self.status_code()}
        if self.dc:
            entry["dc"] = reporting.dc_limits(
                self.dc_path.capabilities,
                self.dc_path.sample,
                derating_a=self._derating_a,
                isolation=self.dc_path.isolation,
                peak_current_ripple_a=self.settings.dc_peak_current_ripple_a,
                current_reg_tolerance_a=self.settings.dc_current_reg_tolerance_a,
            )
        else:
            phases = self._active_phases or self.settings.phases
            entry["ac"] = reporting.ac_limits(
                self.ac_limit_a(), phases, self.settings.nominal_voltage_v, self.rcd.tripped
            )
        return entry

    def snapshot(self) -> list[Payload]:
        """The current state as updates, for after a (re)connect."""
        with self._locked():
            states = self.pilots.states
            out: list[Payload] = [self._cp_status_payload(cid) for cid in states if states[cid]]
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
            for cid, cable in self.pilots.cables.items():
                conn = self._connectors.get(cid)
                if conn is None or conn.cable != "fixed":
                    out.append(reporting.cable_info(self.evse_id, cable, self._lock_status(cid)))
            return out

    # ==========================================================================================
    # requests from Josev (Station handlers, bridge worker threads): see josev.py
    # ==========================================================================================
    def handle_cp_pwm(self, req: p.CpPwmRequest) -> p.CpPwmResponse:
        return self.requests.cp_pwm(req)

    def handle_stop_charging(self) -> p.StopChargingResponse:
        return self.requests.stop_charging()

    def handle_contactor_status(self) -> p.CsContactorStatusResponse:
        return self.requests.contactor_status()

    def handle_cable_check(self, action: p.CableCheckAction) -> p.CableCheckResponse:
        return self.requests.cable_check(action)

    def handle_power_electronics_setpoint(
        self, req: p.PowerElectronicsSetpointRequest
    ) -> p.PowerElectronicsSetpointResponse:
        return self.requests.power_electronics_setpoint(req)

    def pwm_refusal(self) -> str | None:
        """Why no PWM (and no DC set-point) may be started now, or None."""
        if self._stopping:
            return "station stopping"
        if not self._available:
            return "evse unavailable"
        if self.rcd.tripped:
            return "rcd tripped"
        blocking = sorted(self.fault_book.blocking())
        if blocking:
            return "hardware fault active: " + ",".join(blocking)
        return None

    # -- meter ---------------------------------------------------------------------------------
    def meter_values(self, now: float | None = None) -> MeterReading:
        """The latest reading if it is fresh; raises DeviceError when it is not (never a stale
        value with a fresh timestamp)."""
        with self._locked():
            t = self._clock() if now is None else now
            reading, ok_at = self._meter_reading, self._meter_ok_at
        if self.devices.meter is None:
            raise DeviceError(f"evse {self.evse_id} has no meter", device=f"{self.evse_id}.meter")
        if reading is None and ok_at is None and not self._stopping:
            # No poll has finished yet (the EVSE started moments ago): a meter that has not been
            # asked is not "not answering". Read it now, on the caller's thread (never under the
            # lock), instead of leaving Josev's request unanswered until the first scheduled poll.
            self.poll_meter()
            with self._locked():
                t = self._clock() if now is None else now
                reading, ok_at = self._meter_reading, self._meter_ok_at
        if reading is None or ok_at is None or t - ok_at > self.settings.meter_stale_after_s:
            raise DeviceError(
                "no fresh meter reading (meter not answering)", device=self.devices.meter.device_id
            )
        return reading

    def meter_payload(self, reading: MeterReading, cls: type[reporting.M]) -> reporting.M:
        """A MeterValuesResponse/Update built from ``reading`` with the reading's own timestamp."""
        offered = None if self.dc else self.ac_limit_a()
        return reporting.meter_values(cls, self.evse_id, reading, max_current_offered_a=offered)

    def poll_meter(self, now: float | None = None) -> None:
        """Read the meter once (outside the lock), then record and publish the reading or the
        failure. Called by the meter thread at the profile interval."""
        meter = self.devices.meter
        if meter is None or self._stopping:
            return
        started = time.monotonic()
        try:
            reading = meter.read()
            error: DeviceError | None = None
        except DeviceError as exc:
            reading, error = None, exc
        took_s = time.monotonic() - started  # wall time of the bus round trip, whatever the clock
        with self._lock:
            t = self._clock() if now is None else now
            self._emit(EventKind.METER_POLL, t, duration_s=took_s, ok=reading is not None)
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
                self.fault_book.clear_fault("meter")
                last = self._meter_reading
                if last is not None and reading.taken_at <= last.taken_at:
                    # Two reads crossed (a caller that found no reading yet read on its own thread
                    # while the scheduled poll was in the meter): the older one neither replaces
                    # the newer nor goes out after it - Josev's meter timestamps never go back.
                    self._evaluate_locked(t)
                else:
                    self._meter_reading = reading
                    self._meter_ok_at = t
                    self._evaluate_locked(t)
                    update = self.meter_payload(reading, p.MeterValuesUpdate)
                    # Two polls back to back (a scheduler catching up) may fall into the same
                    # millisecond, the timestamp's resolution: one update per stamp, or Josev
                    # sees time stand still. (A wall clock set back still shows: that is honest.)
                    if update.timestamp != self._meter_stamp_sent:
                        self._meter_stamp_sent = update.timestamp
                        self._send(update)
        self._after_release()

    # ==========================================================================================
    # listen-only updates and station functions
    # ==========================================================================================
    def on_hlc_charging(self, status: bool) -> None:
        """``hlc_charging``: an ISO 15118 session does (not) control this EVSE. Each new one
        needs its own DC cable check and pre-charge."""

        def apply(now: float) -> None:
            was = self.session.hlc_active
            if self.session.on_hlc_charging(status):
                self.dc_path.new_session(self.session.hlc_session)
            elif was and not status:
                self.dc_path.end_session()

        self.run(apply)

    def on_slac_status(self, status: p.SlacStatus) -> None:
        """``slac_status``: while SLAC matches, the auto basic PWM waits; when SLAC gives up, basic
        charging may go on (AC) and an HLC session is over."""
        self.run(lambda now: self.session.on_slac_status(status))

    def on_ev_rated_limits(self, max_voltage_v: float | None) -> None:
        """``ev_rated_limits``: the EV's maximum DC voltage bounds the cable-check voltage."""
        self.run(lambda now: self.dc_path.set_ev_max_voltage(max_voltage_v))

    def set_authorized(self, authorized: bool, *, id_token: str | None = None) -> None:
        """AC basic charging may (not) deliver energy. A new authorization also lifts a previous
        ``stop_charging`` of the same plug-in session."""

        def apply(now: float) -> None:
            self.session.set_authorized(authorized)
            log.info("evse=%s authorized=%s token=%s", self.evse_id, authorized, id_token or "-")

        self.run(apply)

    def on_authorization(self, status: p.AuthorizationStatus) -> None:
        self.set_authorized(status is p.AuthorizationStatus.ACCEPTED)

    def on_transaction_status(self, transaction_id: str, status: p.TransactionState) -> None:
        """Track Josev's OCPP transactions on this EVSE; ``ended`` ends the authorization."""
        self.run(lambda now: self.session.on_transaction_status(transaction_id, status))

    def has_transaction(self, transaction_id: str) -> bool:
        return transaction_id in self.session.transactions

    def is_transaction_active(self) -> bool:
        """True while a transaction runs: Josev reported an open OCPP transaction on this EVSE, or
        (basic charging without OCPP) the contactor closed in this plug-in session and the EV has
        neither unplugged nor been stopped -- a pause (C2 -> B2) does not end it."""
        return self.session.transaction_active(self.contactor.closed)

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
                self.contactor.open("evse made unavailable", now)
            if available != self._available:
                self._emit(EventKind.AVAILABILITY, now, available=available)
            self._available = available

        self.run(apply)

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
            if not locked and self.contactor.may_be_closed():
                return "unlock refused: contactor closed"
            self.session.lock_override = locked
            lock.drive(locked, self.contactor.may_be_closed(), now)
            if not lock.readable:
                return "lock not readable"
            return None

        result: str | None = self.run(apply)
        return result

    @property
    def lock_connector_id(self) -> int | None:
        """The socket connector whose lock the core drives (None: it drives no lock)."""
        return None if self._plug_lock is None else self._plug_lock.connector_id

    def set_derating_limit(self, amps: float | None) -> None:
        """Reduce the current limit (thermal or grid derating); ``None`` lifts it."""
        self.run(lambda now: setattr(self, "_derating_a", amps))

    # -- energy limits (#22, josev_hal.station.limits / energy) ---------------------------------
    def set_limit(self, source: LimitSource, amps: float | None, detail: str = "") -> None:
        """Set (or lift, ``None``) a station-wide limit on this EVSE: grid input, site share,
        local limit. A value that is not a finite number >= 0 counts as 0 A (safe side)."""

        def apply(now: float) -> None:
            if amps is None:
                self._external_limits.pop(source, None)
            else:
                value = float(amps) if math.isfinite(amps) and amps >= 0 else 0.0
                self._external_limits[source] = (value, detail)
            described = self.limits_locked().describe()
            if described != self._binding_logged:
                self._binding_logged = described
                log.info("evse=%s current limit %s", self.evse_id, described)

        self.run(apply)

    def limits(self) -> EffectiveLimit:
        """Every limit on this EVSE's current and which one binds (logs, status)."""
        with self._locked():
            return self.limits_locked()

    def limits_locked(self) -> EffectiveLimit:
        entries: list[Limit | None] = [Limit(LimitSource.EVSE_RATING, self.settings.max_current_a)]
        cables = [
            conn.max_cable_current_a
            for conn in self._connectors.values()
            if conn.cable == "fixed" and conn.max_cable_current_a is not None
        ]
        cables += [
            c.ampacity_a for c in self.pilots.cables.values() if c.present and c.ampacity_a is not None
        ]
        if cables:
            entries.append(Limit(LimitSource.CABLE, min(cables)))
        if self._derating_a is not None:
            entries.append(Limit(LimitSource.TEMPERATURE, self._derating_a))
        entries += [Limit(src, amps, detail) for src, (amps, detail) in self._external_limits.items()]
        kind, value = self.session.pwm_request
        if self.session.pwm_from_josev and kind == "basic" and value is not None:
            entries.append(Limit(LimitSource.JOSEV, value, "cp_pwm"))
        return effective_limit(entries)

    def set_active_phases(self, phases: int | None) -> None:
        """The phases the EVSE supplies now (the energy supervisor after a 1p/3p switch):
        cs_status_and_limits offers 0 A on the others. ``None``: the profile's phases."""
        self.run(lambda now: setattr(self, "_active_phases", phases))

    @property
    def hlc_active(self) -> bool:
        """An ISO 15118 / DIN session controls this EVSE."""
        return bool(self.session.hlc_active)

    def reset_rcd(self) -> bool:
        """Manual RCD reset (operator action). True when the RCD reads clear afterwards."""
        return bool(self.run(lambda now: False if self._stopping else self.rcd.reset()))

    def clear_faults(self) -> list[str]:
        """Clear latched faults whose cause is gone (operator action). Returns the cleared keys.

        A contactor that still reads closed while commanded open stays "welded"; an RCD trip
        needs :meth:`reset_rcd`, a failed RCD self-test a passing one."""

        def apply(now: float) -> list[str]:
            if self._stopping:
                return []
            still_welded = self.contactor.still_welded()
            cleared = []
            for fault in self.fault_book:
                if not fault.latched or fault.key in ("rcd", "rcd_self_test"):
                    continue
                if fault.key == "contactor_welded" and still_welded:
                    continue
                self.fault_book.drop(fault.key)
                cleared.append(fault.key)
            self.contactor.forget_mismatch()
            return cleared

        result: list[str] = self.run(apply)
        return result

    def restart(self) -> None:
        """Per-EVSE reset (OCPP Reset of one EVSE): contactor open, CP back to X1, the session,
        authorization and Josev's PWM/stop requests forgotten, non-latched faults re-detected from
        scratch, and every state published again. Latched faults (welding, RCD) survive: a reset
        must not clear what only an operator may clear."""

        def apply(now: float) -> None:
            if self._stopping:
                return
            self.contactor.open("evse restart", now)
            self.session.end()
            self.session.plugged = False
            self.session.forced = None
            self.session.transactions.clear()
            self.dc_path.end_session()
            self.overcurrent.end_session()
            self.withdrawal.reset()
            for fault in self.fault_book:
                if not fault.latched:
                    self.fault_book.drop(fault.key)
            self.pilots.reset()
            self._reporter.forget()
            self._applied = None
            log.info("evse=%s restarted", self.evse_id)

        self.run(apply)
