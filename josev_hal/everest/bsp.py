"""``evse_board_support`` (with its ``ac_rcd`` and ``connector_lock`` parts) for one EVSE.

EVerest's EvseManager owns the IEC 61851 state machine; this adapter executes its commands on
the drivers and reports what the hardware says. It keeps the board-level duties and the
hardware-side second channel (docs/architecture.md, "Second northbound"):

* **One actuating thread per EVSE.** Commands from EVerest (worker thread) only record an
  *intent* under a short lock and wake the EVSE's supervision thread; that thread alone calls
  ``set_pwm``/``set_x1``/``close``/``open``/``lock``/``unlock``. So the reaction to a CP, RCD
  or feedback change never waits on MQTT or on a command in flight, and no lock is held across a
  bus call.
* **Never close** unless: EVerest enabled the EVSE and allowed power (``allow_power_on``), its
  heartbeat is alive, CP is C or D (debounced), no RCD trip, no pilot/diode fault, no contactor
  fault, and a socket's lock confirms locked.
* **Open on its own** on an RCD trip, on CP leaving C/D (A, B, E, F, pilot or diode fault), on a
  contactor feedback fault, when EVerest's heartbeat stops (then the PWM stops too: X1), and on
  ``enable(false)`` (then CP F). ``allow_power_on`` is withdrawn by every one of these except B
  (a pause: EvseManager may resume with C); EVerest must allow again after A, E, F, an RCD trip,
  a contactor fault or a heartbeat loss.
* ``PowerOn`` is published only when the mirror contact confirms closed; ``PowerOff`` only when
  it confirms open (opened and not welded). A feedback that does not follow within
  ``[contactor] feedback_timeout_ms`` is ``MREC17EVSEContactorFault`` (``welded`` or
  ``failed_to_close``); a contactor without a mirror contact reports on command.
* Unlocking waits until the contactor is confirmed open (never unlock under load).
* Board rules from the profile that protect the hardware still apply: a new closing waits
  ``[contactor] min_close_interval_s`` after the last one (no chatter when an EV toggles B/C);
  with the limit EVerest sends in ``ac_overcurrent_limit``, a meter current above it by more than
  ``[safety] overcurrent_tolerance_a`` for ``overcurrent_grace_s`` opens the contactor and raises
  ``MREC4OverCurrentFailure`` until the EV leaves (the soft overcurrent trip of boards whose
  hardware has none).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from josev_hal.board import BoardEvse
from josev_hal.devices import (
    ConnectorLock,
    Contactor,
    ControlPilot,
    ProximityPilot,
    Rcd,
    Role,
)
from josev_hal.errors import DeviceError, HalError
from josev_hal.everest import codec
from josev_hal.everest import messages as m
from josev_hal.everest.link import EverestLink
from josev_hal.everest.loop import AdapterLoop
from josev_hal.everest.monitor import ErrorRegistry, ModuleMonitor
from josev_hal.station.config import EvseSettings
from josev_hal.station.cp import CpClassifier, CpLetter
from josev_hal.station.phases import PhaseInputs, PhaseSettings, PhaseSwitcher
from josev_hal.station.pp import cable_from_sample

__all__ = ["BoardSupport", "BspState"]

log = logging.getLogger(__name__)

API = codec.ApiType.EVSE_BOARD_SUPPORT.value
E = m.BspErrorType

_POWER = frozenset({CpLetter.C, CpLetter.D})
_AMPACITY = {
    13.0: m.Ampacity.A_13,
    20.0: m.Ampacity.A_20,
    32.0: m.Ampacity.A_32,
    63.0: m.Ampacity.A_63_3PH_70_1PH,
}
_RCD_REPORT_S = 1.0
# A meter reading older than this does not count for "no current flows" (phase switching).
_METER_FRESH_S = 3.0
# Contactor faults that end with the session (CP A, contacts open); "welded" ends only when the
# mirror contact reads open again.
_SESSION_FAULTS = frozenset({"failed_to_close", "opened_unexpectedly", "feedback_read"})


@dataclass
class BspState:
    """What the supervision thread knows; read by tests and ``snapshot()`` under ``lock``."""

    enabled: bool = False
    enable_seen: bool = False  # EVerest sent enable at least once (before that: X1, not F)
    allow_power_on: bool = False
    allow_reason: str = ""
    cp_request: tuple[str, float | None] = ("x1", None)  # ("pwm", duty) | ("x1"|"e"|"f", None)
    cp_applied: tuple[str, float | None] | None = None
    lock_request: bool | None = None
    lock_applied: bool | None = None
    lock_deadline: float | None = None
    letter: CpLetter | None = None
    event_sent: str | None = None
    rcd_tripped: bool = False
    contactor_commanded: bool = False
    contactor_confirmed: bool = False  # the last PowerOn/PowerOff said "on"
    contactor_fault: str | None = None
    feedback_deadline: float | None = None
    overcurrent_limit_a: float | None = None
    overcurrent: bool = False  # soft overcurrent tripped this session (cleared on CP A)
    last_close: float | None = None  # monotonic time of the last closing
    ampacity: m.Ampacity | None = None
    alive: bool = False
    closings: int = 0
    pending: list[Any] = field(default_factory=list)  # one-shot jobs for the supervision thread


def device(board_evse: BoardEvse, role: Role, cls: type[Any]) -> Any:
    """The EVSE's driver for ``role`` (None when absent); a driver of the wrong role base class
    is a configuration error, not something to discover at the first command."""
    driver = board_evse.devices.get(role)
    if driver is not None and not isinstance(driver, cls):
        raise HalError(f"evse {board_evse.id}: device {driver.device_id} is not a {cls.__name__}")
    return driver


class BoardSupport(AdapterLoop):
    """The evse_board_support API module ``module_id`` served from one :class:`BoardEvse`."""

    thread_kind: ClassVar[str] = "bsp"

    def __init__(
        self,
        link: EverestLink,
        board_evse: BoardEvse,
        settings: EvseSettings,
        module_id: str,
        monitor: ModuleMonitor,
    ) -> None:
        super().__init__(module_id, settings.cp_sample_interval_s)
        self.link = link
        self.evse = board_evse
        self.settings = settings
        self.monitor = monitor
        cp: ControlPilot | None = device(board_evse, Role.CONTROL_PILOT, ControlPilot)
        if cp is None:
            raise HalError(f"evse {board_evse.id}: evse_board_support needs a cp device")
        self.cp = cp
        self.contactor: Contactor | None = device(board_evse, Role.CONTACTOR, Contactor)
        self.rcd: Rcd | None = device(board_evse, Role.RCD, Rcd)
        self.pp: ProximityPilot | None = device(board_evse, Role.PROXIMITY_PILOT, ProximityPilot)
        self.lock_dev: ConnectorLock | None = device(board_evse, Role.CONNECTOR_LOCK, ConnectorLock)
        connector = settings.connectors[0]
        self.socket = connector.cable == "socket"
        self.classifier = CpClassifier(settings.cp_thresholds, settings.cp_debounce_samples)
        self.phase_dev: Contactor | None = device(board_evse, Role.PHASE_SWITCH, Contactor)
        self.phases = self._phase_switcher(board_evse)
        self._phase_command: bool | None = None
        self._phases_sent: int | None = None
        self.errors = ErrorRegistry(link, API, module_id, m.BspError)
        self.state = BspState()
        self.lock = threading.Lock()
        self._notified = threading.Event()
        self._last_rcd_report = 0.0
        self._last_rcd_ma: float | None = None
        self._meter_current: tuple[float, float] | None = None  # (max phase A, monotonic time)
        self._over_since: float | None = None
        self._hold_logged = False
        self._unlock_deferred_logged = False

    def _phase_switcher(self, board_evse: BoardEvse) -> PhaseSwitcher | None:
        """The 1p/3p sequencer (josev_hal.station.phases, pure) when the EVSE has a
        ``phase_switch`` contactor and ``[evse.phase_switching]``; it starts with the phase count
        the contactor's mirror contact shows."""
        cfg = board_evse.spec.phase_switching
        if cfg is None or self.phase_dev is None:
            return None
        try:
            closed = bool(self.phase_dev.read().feedback_closed)
        except DeviceError as exc:
            log.warning(
                "evse %s: phase contactor unreadable at start (%s): assuming one phase", self.evse.id, exc
            )
            closed = False
        settings = PhaseSettings(
            min_switch_interval_s=cfg.min_switch_interval_s,
            pause_timeout_s=cfg.pause_timeout_s,
            contactor_timeout_s=cfg.contactor_timeout_s,
            settle_s=cfg.settle_s,
        )
        return PhaseSwitcher(settings, phases=3 if closed else 1)

    # -- wiring ----------------------------------------------------------------------------------

    def register(self) -> None:
        r = self.link.route
        r(API, self.module_id, "enable", self._on_enable)
        r(API, self.module_id, "pwm_on", self._on_pwm_on)
        r(API, self.module_id, "cp_state_X1", lambda _: self._request_cp(("x1", None)))
        r(API, self.module_id, "cp_state_E", lambda _: self._request_cp(("e", None)))
        r(API, self.module_id, "cp_state_F", lambda _: self._request_cp(("f", None)))
        r(API, self.module_id, "allow_power_on", self._on_allow_power_on)
        r(API, self.module_id, "ac_switch_three_phases_while_charging", self._on_switch_phases)
        r(API, self.module_id, "ac_overcurrent_limit", self._on_overcurrent_limit)
        r(API, self.module_id, "self_test", lambda _: self._queue("self_test"))
        r(API, self.module_id, "reset", self._on_reset)
        r(API, self.module_id, "lock", lambda _: self._request_lock(True))
        r(API, self.module_id, "unlock", lambda _: self._request_lock(False))
        for device in self.evse.devices.values():
            device.subscribe(self._on_device_change)

    def stop(self) -> None:
        """Stop supervising; contactor opened and CP at X1 (the safe state without a controller)."""
        self._halt_loop()
        self._open("stopping")
        try:
            self.cp.set_x1()
        except DeviceError as exc:
            log.error("evse %s: CP X1 on stop failed: %s", self.evse.id, exc)

    # -- commands from EVerest (worker thread): record intent, wake the supervision thread ------

    def _on_enable(self, enabled: bool) -> None:
        with self.lock:
            self.state.enabled = enabled
            self.state.enable_seen = True
            if not enabled:
                self.state.allow_power_on = False
        log.info("everest evse=%s enable=%s", self.evse.id, enabled)
        self._wake.set()

    def _on_pwm_on(self, duty: float) -> None:
        if duty <= 0.0:
            self._request_cp(("f", None))  # 0 % is a constant low level: state F
        elif duty >= 100.0:
            self._request_cp(("x1", None))
        else:
            self._request_cp(("pwm", float(duty)))

    def _request_cp(self, request: tuple[str, float | None]) -> None:
        with self.lock:
            self.state.cp_request = request
        self._wake.set()

    def _on_allow_power_on(self, value: m.PowerOnOff) -> None:
        with self.lock:
            self.state.allow_power_on = value.allow_power_on
            self.state.allow_reason = value.reason.value
        log.info(
            "everest evse=%s allow_power_on=%s reason=%s", self.evse.id, value.allow_power_on, value.reason
        )
        self._wake.set()

    def _on_switch_phases(self, mode: m.AcPhaseMode) -> None:
        if self.phases is None:
            # No phase_switch device: the capabilities say so; never act on it.
            log.warning(
                "everest evse=%s ac_switch_three_phases_while_charging(%s) ignored: the board cannot "
                "switch phases (capabilities.supports_changing_phases_during_charging = false)",
                self.evse.id,
                mode,
            )
            return
        self._queue(("phases", 3 if mode is m.AcPhaseMode.THREE_PHASES else 1))

    def _on_overcurrent_limit(self, amps: float) -> None:
        # The boards' overcurrent shutdown is in hardware with a fixed setting; the value is
        # kept for status only (the spec: "if the hardware does not have this, ignore it").
        with self.lock:
            self.state.overcurrent_limit_a = float(amps)
        log.info("everest evse=%s ac_overcurrent_limit=%.1f A (recorded)", self.evse.id, amps)

    def _on_reset(self, request: m.Reply) -> None:
        reply_to = request.headers.replyTo if isinstance(request.headers, m.Headers) else None
        self._queue(("reset", reply_to if isinstance(reply_to, str) else None))

    def _request_lock(self, locked: bool) -> None:
        with self.lock:
            self.state.lock_request = locked
        self._wake.set()

    def _queue(self, job: Any) -> None:
        with self.lock:
            self.state.pending.append(job)
        self._wake.set()

    def _on_device_change(self) -> None:
        self._notified.set()
        self._wake.set()

    def on_meter_reading(self, reading: Any) -> None:
        """From the powermeter adapter's thread: the latest AC phase currents (record only)."""
        currents = getattr(reading, "current_a", None)
        if currents is None:
            return
        peak = max(abs(currents.l1), abs(currents.l2), abs(currents.l3))
        with self.lock:
            self._meter_current = (peak, reading.taken_at)

    def on_alive_change(self, alive: bool) -> None:
        """From the monitor thread: EVerest's heartbeat was found or lost."""
        with self.lock:
            self.state.alive = alive
            if not alive:
                self.state.allow_power_on = False
        self._wake.set()

    # -- state for EVerest after (re)connect or a ready beacon ------------------------------------

    def publish_capabilities(self) -> None:
        s = self.settings
        phases = s.phases
        switching = self.phases is not None
        caps = m.HardwareCapabilities(
            max_current_A_import=s.max_current_a,
            min_current_A_import=min(6.0, s.max_current_a),
            max_phase_count_import=phases,
            min_phase_count_import=1 if switching else phases,
            max_current_A_export=0.0,
            min_current_A_export=0.0,
            max_phase_count_export=phases,
            min_phase_count_export=1 if switching else phases,
            supports_changing_phases_during_charging=switching,
            supports_cp_state_E=True,
            connector_type=m.ConnectorType.SOCKET if self.socket else m.ConnectorType.CABLE,
        )
        self.link.publish(API, self.module_id, "capabilities", caps)

    def publish_state(self) -> None:
        """Capabilities, phases, the current CP event, the confirmed relay state and PP, sent by
        the supervision thread: it alone publishes events, so a re-published state can never
        overtake a newer event (a stale ``PowerOn`` after a ``PowerOff``)."""
        self._queue("publish_state")

    def _publish_state_now(self) -> None:
        self.publish_capabilities()
        self.link.publish(API, self.module_id, "ac_nr_of_phases", self._phase_count())
        with self.lock:
            letter, confirmed, ampacity = (
                self.state.letter,
                self.state.contactor_confirmed,
                self.state.ampacity,
            )
        if letter is not None:
            self.link.publish(API, self.module_id, "event", m.BspEvent(event=m.BspEventKind(letter.value)))
        if confirmed:
            self.link.publish(API, self.module_id, "event", m.BspEvent(event=m.BspEventKind.POWER_ON))
        if ampacity is not None and self.socket:
            self.link.publish(API, self.module_id, "ac_pp_ampacity", m.ProximityPilot(ampacity=ampacity))

    def _phase_count(self) -> int:
        if self.phases is not None and self.phases.phases is not None:
            return self.phases.phases
        return self.settings.phases

    def request_stop_transaction(self, reason: str = "Local") -> None:
        """Ask EVerest to end the session gracefully (a stop button, a plugin)."""
        self.link.publish(
            API, self.module_id, "request_stop_transaction", m.StopTransactionRequest(reason=reason)
        )

    def snapshot(self) -> BspState:
        with self.lock:
            return BspState(**{k: getattr(self.state, k) for k in BspState.__dataclass_fields__})

    # -- the supervision thread ------------------------------------------------------------------

    def _step(self) -> None:
        try:
            self._cycle()
        except Exception:  # the loop must keep supervising; open as the fail-safe reaction
            log.exception("evse %s: everest supervision cycle failed; opening", self.evse.id)
            self._open("supervision error")

    def _cycle(self) -> None:
        notified = self._notified.is_set()
        self._notified.clear()
        with self.lock:
            pending, self.state.pending = self.state.pending, []
            st = self.state
            enabled, allow, alive, enable_seen = st.enabled, st.allow_power_on, st.alive, st.enable_seen
            cp_request, lock_request = st.cp_request, st.lock_request

        letter, cp_fault = self._sample_cp(notified)
        rcd_tripped = self._sample_rcd()
        self._sample_pp()

        # What the CP generator must output: disabled -> F; EVerest gone -> X1 (PWM stopped).
        # Before EVerest's first enable the CP stays at X1 (not F): the station is not
        # unavailable, its controller is just not there yet.
        if not enabled and enable_seen:
            cp_target: tuple[str, float | None] = ("f", None)
        elif not alive:
            cp_target = ("x1", None)
        else:
            cp_target = cp_request
        hold_open = False
        if self.phases is not None:
            withdraw_pwm, hold_open = self._phase_step()
            if withdraw_pwm and cp_target[0] == "pwm":
                cp_target = ("x1", None)  # the EV pauses while the supply changes
        self._apply_cp(cp_target)

        # Withdraw the permission where EVerest must decide again (not on a B pause).
        withdraw = (
            rcd_tripped
            or cp_fault
            or letter in (CpLetter.A, CpLetter.E, CpLetter.F)
            or self.state.contactor_fault is not None
            or self.state.overcurrent
            or not alive
            or not enabled
        )
        if withdraw and allow:
            with self.lock:
                self.state.allow_power_on = False
            allow = False

        lock_ok = self._lock_ok()
        may_close = (
            enabled
            and allow
            and alive
            and letter in _POWER
            and not cp_fault
            and not rcd_tripped
            and self.state.contactor_fault is None
            and not self.state.overcurrent
            and lock_ok
            and not hold_open
            and not self._overcurrent_trips()
        )
        if may_close:
            self._close()
        else:
            self._open(self._open_reason(enabled, allow, alive, letter, cp_fault, rcd_tripped, lock_ok))
        self._supervise_contactor()
        self._apply_lock(lock_request)
        for job in pending:
            self._run_job(job)

    def _open_reason(
        self,
        enabled: bool,
        allow: bool,
        alive: bool,
        letter: CpLetter | None,
        cp_fault: bool,
        rcd: bool,
        lock_ok: bool,
    ) -> str:
        if rcd:
            return "rcd_trip"
        if self.state.overcurrent:
            return "overcurrent"
        if cp_fault:
            return "cp_fault"
        if not alive:
            return "heartbeat_lost"
        if not enabled:
            return "disabled"
        if letter not in _POWER:
            return f"cp_{letter.value if letter else 'unknown'}"
        if not allow:
            return "allow_power_on_false"
        if not lock_ok:
            return "lock_not_locked"
        return "contactor_fault"

    # -- CP --------------------------------------------------------------------------------------

    def _sample_cp(self, notified: bool) -> tuple[CpLetter | None, bool]:
        try:
            sample = self.cp.read()
            output = self.cp.output
        except DeviceError as exc:
            self.errors.raise_(E.MREC14_PILOT_FAULT, "cp_read", f"CP measurement failed: {exc}")
            return self.state.letter, True
        self.errors.clear(E.MREC14_PILOT_FAULT, "cp_read")
        reading = self.classifier.update(sample, output, confirmed=notified)
        self.errors.set(
            reading.pilot_fault, E.MREC14_PILOT_FAULT, "out_of_band", f"{sample.positive_v:.2f} V"
        )
        self.errors.set(reading.diode_fault, E.DIODE_FAULT, "", "negative plateau above the diode limit")
        letter = reading.letter
        with self.lock:
            self.state.letter = letter
            send = self.state.event_sent != letter.value
            if send:
                self.state.event_sent = letter.value
        if send:
            self.link.publish(API, self.module_id, "event", m.BspEvent(event=m.BspEventKind(letter.value)))
            if letter is CpLetter.A:
                self._on_unplugged()
        return letter, reading.pilot_fault or reading.diode_fault

    def _phase_step(self) -> tuple[bool, bool]:
        """Advance the 1p/3p sequencer; move the phase contactor when it says so (only ever with
        the main contactor open and the EV paused: the sequencer's invariant). Returns
        (withdraw the PWM, hold the main contactor open)."""
        assert self.phases is not None and self.phase_dev is not None
        now = time.monotonic()
        main: bool | None = self.state.contactor_commanded
        phase: bool | None = None
        try:
            if self.contactor is not None and self.contactor.has_feedback:
                main = self.contactor.read().feedback_closed
            phase = self.phase_dev.read().feedback_closed if self.phase_dev.has_feedback else None
        except DeviceError as exc:
            log.error("evse %s: phase switching inputs unreadable: %s", self.evse.id, exc)
            return True, True
        with self.lock:
            measured = self._meter_current
        current = measured[0] if measured is not None and now - measured[1] < _METER_FRESH_S else None
        before = (self.phases.step, self.phases.phases)
        cmd = self.phases.advance(
            PhaseInputs(
                now=now,
                cp_state=self.classifier.state,
                current_a=current,
                main_closed=main,
                phase_closed=phase,
            )
        )
        if cmd.phase_closed != self._phase_command:
            try:
                self.phase_dev.close() if cmd.phase_closed else self.phase_dev.open()
                self._phase_command = cmd.phase_closed
            except DeviceError as exc:
                log.error("evse %s: phase contactor command failed: %s", self.evse.id, exc)
        if (self.phases.step, self.phases.phases) != before:
            log.info("everest evse=%s phase switch %s", self.evse.id, self.phases.timeline[-1][1])
        self.errors.set(
            self.phases.fault is not None, E.VENDOR_ERROR, "phase_switch", self.phases.fault or ""
        )
        count = self._phase_count()
        if count != self._phases_sent:
            self._phases_sent = count
            self.link.publish(API, self.module_id, "ac_nr_of_phases", count)
        return cmd.withdraw_pwm, cmd.hold_open

    def _overcurrent_trips(self) -> bool:
        """The soft overcurrent rule (see the module docstring); True when it trips now."""
        st = self.state
        limit = st.overcurrent_limit_a
        with self.lock:
            measured = self._meter_current
        if limit is None or measured is None or not st.contactor_commanded:
            self._over_since = None
            return False
        peak, taken_at = measured
        now = time.monotonic()
        if peak <= limit + self.settings.safety.overcurrent_tolerance_a:
            self._over_since = None
            return False
        if self._over_since is None:
            self._over_since = max(taken_at, st.last_close or taken_at)
        if now - self._over_since < self.settings.safety.overcurrent_grace_s:
            return False
        with self.lock:
            st.overcurrent = True
            st.allow_power_on = False
        self.errors.raise_(E.MREC4_OVER_CURRENT_FAILURE, "", f"{peak:.1f} A > {limit:g} A limit")
        return True

    def _on_unplugged(self) -> None:
        if self.state.overcurrent:
            with self.lock:
                self.state.overcurrent = False
            self._over_since = None
            self.errors.clear(E.MREC4_OVER_CURRENT_FAILURE)
        # A contactor fault latched during the session ends with it once the contacts are open;
        # a welded contact stays a fault until its feedback reads open (_supervise_contactor).
        fault = self.state.contactor_fault
        if fault in _SESSION_FAULTS and not self.state.contactor_commanded:
            with self.lock:
                self.state.contactor_fault = None
            self.errors.clear(E.MREC17_EVSE_CONTACTOR_FAULT, fault)

    def _apply_cp(self, target: tuple[str, float | None]) -> None:
        if self.state.cp_applied == target:
            return
        kind, duty = target
        try:
            if kind == "pwm" and duty is not None:
                self.cp.set_pwm(duty)
            elif kind == "e":
                self.cp.set_state_e()
            elif kind == "f":
                self.cp.set_state_f()
            else:
                self.cp.set_x1()
        except DeviceError as exc:
            log.error("evse %s: CP output %s failed: %s", self.evse.id, target, exc)
            return
        with self.lock:
            self.state.cp_applied = target
        log.info("everest evse=%s cp output=%s%s", self.evse.id, kind, f" duty={duty:.1f}" if duty else "")

    # -- RCD, PP ---------------------------------------------------------------------------------

    def _sample_rcd(self) -> bool:
        if self.rcd is None:
            return False
        try:
            sample = self.rcd.read()
        except DeviceError as exc:
            # An RCD we cannot read is treated as tripped: the second channel fails closed.
            self.errors.raise_(E.PERMANENT_FAULT, "rcd_read", f"RCD not readable: {exc}")
            return True
        self.errors.clear(E.PERMANENT_FAULT, "rcd_read")
        tripped = sample.tripped
        residual = sample.residual_ma
        if tripped and not self.state.rcd_tripped:
            # RDC-DD: below 30 mA only the 6 mA DC path can have tripped.
            kind = E.DC if residual is not None and 0 < residual < 30.0 else E.AC
            self.errors.raise_(kind, "", f"residual current {residual} mA")
        elif not tripped and self.state.rcd_tripped:
            self.errors.clear(E.DC)
            self.errors.clear(E.AC)
        with self.lock:
            self.state.rcd_tripped = tripped
        now = time.monotonic()
        ma = residual if residual is not None else 0.0
        if ma != self._last_rcd_ma or now - self._last_rcd_report >= _RCD_REPORT_S:
            self._last_rcd_ma, self._last_rcd_report = ma, now
            self.link.publish(API, self.module_id, "rcd_current", float(ma))
        return tripped

    def _sample_pp(self) -> None:
        if self.pp is None or not self.socket:
            return
        try:
            cable = cable_from_sample(self.pp.read(), self.settings.phases, self.settings.pp_windows)
        except DeviceError as exc:
            self.errors.raise_(E.MREC23_PROXIMITY_FAULT, "pp_read", str(exc))
            return
        self.errors.clear(E.MREC23_PROXIMITY_FAULT, "pp_read")
        self.errors.set(cable.fault, E.MREC23_PROXIMITY_FAULT, "", "PP resistance out of range")
        ampacity = m.Ampacity.NONE
        if cable.present and cable.ampacity_a is not None:
            ampacity = _AMPACITY.get(min(cable.ampacity_a, 63.0), m.Ampacity.NONE)
        if ampacity != self.state.ampacity:
            with self.lock:
                self.state.ampacity = ampacity
            self.link.publish(API, self.module_id, "ac_pp_ampacity", m.ProximityPilot(ampacity=ampacity))

    # -- contactor -------------------------------------------------------------------------------

    def _close(self) -> None:
        if self.contactor is None or self.state.contactor_commanded:
            return
        last, interval = self.state.last_close, self.settings.min_close_interval_s
        if last is not None and interval > 0 and time.monotonic() - last < interval:
            if not self._hold_logged:
                log.info(
                    "everest evse=%s closing held back: last close %.1f s ago (min_close_interval_s=%g)",
                    self.evse.id,
                    time.monotonic() - last,
                    interval,
                )
                self._hold_logged = True
            return
        self._hold_logged = False
        try:
            self.contactor.close()
        except DeviceError as exc:
            log.error("evse %s: contactor close failed: %s", self.evse.id, exc)
            self._contactor_fault("failed_to_close", str(exc))
            self._open("close failed")
            return
        with self.lock:
            self.state.contactor_commanded = True
            self.state.closings += 1
            self.state.last_close = time.monotonic()
            self.state.feedback_deadline = time.monotonic() + self.settings.contactor_feedback_timeout_s
        log.info("everest evse=%s contactor close reason=%s", self.evse.id, self.state.allow_reason)

    def _open(self, reason: str) -> None:
        if self.contactor is None:
            return
        commanded = self.state.contactor_commanded
        try:
            self.contactor.open()  # always: cheap, and the hardware may have been closed behind us
        except DeviceError as exc:
            log.error("evse %s: contactor open failed (%s): %s", self.evse.id, reason, exc)
        if commanded:
            with self.lock:
                self.state.contactor_commanded = False
                self.state.feedback_deadline = time.monotonic() + self.settings.contactor_feedback_timeout_s
            log.info("everest evse=%s contactor open reason=%s", self.evse.id, reason)

    def _contactor_fault(self, kind: str, message: str) -> None:
        with self.lock:
            self.state.contactor_fault = kind
        self.errors.raise_(E.MREC17_EVSE_CONTACTOR_FAULT, kind, message)

    def _supervise_contactor(self) -> None:
        if self.contactor is None:
            return
        st = self.state
        commanded = st.contactor_commanded
        if not self.contactor.has_feedback:
            if commanded != st.contactor_confirmed:
                self._confirm(commanded)
            return
        try:
            feedback = self.contactor.read().feedback_closed
        except DeviceError as exc:
            self._contactor_fault("feedback_read", str(exc))
            self._open("feedback unreadable")
            return
        now = time.monotonic()
        if feedback == commanded:
            if st.contactor_fault == "welded" and not feedback:
                with self.lock:
                    st.contactor_fault = None
                self.errors.clear(E.MREC17_EVSE_CONTACTOR_FAULT, "welded")
            with self.lock:
                st.feedback_deadline = None
            if feedback != st.contactor_confirmed:
                self._confirm(bool(feedback))
            return
        deadline = st.feedback_deadline
        if deadline is not None and now < deadline:
            return  # still moving
        if commanded and not feedback:
            self._contactor_fault(
                "failed_to_close" if deadline is not None else "opened_unexpectedly",
                "mirror contact open while commanded closed",
            )
            self._open("feedback open while commanded closed")
            if st.contactor_confirmed:
                self._confirm(False)
        elif feedback and not commanded:
            if st.contactor_fault != "welded":
                self._contactor_fault("welded", "mirror contact still closed after opening")
            with self.lock:
                st.feedback_deadline = None

    def _confirm(self, on: bool) -> None:
        with self.lock:
            self.state.contactor_confirmed = on
        event = m.BspEventKind.POWER_ON if on else m.BspEventKind.POWER_OFF
        self.link.publish(API, self.module_id, "event", m.BspEvent(event=event))

    # -- connector lock --------------------------------------------------------------------------

    def _lock_ok(self) -> bool:
        if self.lock_dev is None or not self.socket:
            return True
        try:
            sample = self.lock_dev.read()
        except DeviceError:
            return False
        return sample.locked if sample.locked is not None else sample.commanded_locked

    def _apply_lock(self, request: bool | None) -> None:
        lock = self.lock_dev
        if lock is None or request is None:
            return
        st = self.state
        if request != st.lock_applied:
            if not request and (st.contactor_commanded or st.contactor_confirmed):
                if not self._unlock_deferred_logged:
                    log.warning("everest evse=%s unlock deferred: contactor not confirmed open", self.evse.id)
                    self._unlock_deferred_logged = True
                return
            self._unlock_deferred_logged = False
            try:
                lock.lock() if request else lock.unlock()
            except DeviceError as exc:
                self.errors.raise_(
                    E.CONNECTOR_LOCK_FAILED_LOCK if request else E.CONNECTOR_LOCK_FAILED_UNLOCK, "", str(exc)
                )
                return
            with self.lock:
                st.lock_applied = request
                st.lock_deadline = time.monotonic() + self.settings.lock_timeout_s
            return
        try:
            sample = lock.read()
        except DeviceError as exc:
            self.errors.raise_(E.MREC1_CONNECTOR_LOCK_FAILURE, "read", str(exc))
            return
        self.errors.clear(E.MREC1_CONNECTOR_LOCK_FAILURE, "read")
        if sample.locked is None:
            return
        settled = st.lock_deadline is None or time.monotonic() >= st.lock_deadline
        failed_lock = request and not sample.locked
        failed_unlock = (not request) and sample.locked
        if st.lock_deadline is not None and not settled and (failed_lock or failed_unlock):
            return  # still moving
        if st.lock_deadline is not None and settled:
            self.errors.set(failed_lock, E.CONNECTOR_LOCK_FAILED_LOCK, "", "feedback still open")
            self.errors.set(failed_unlock, E.CONNECTOR_LOCK_FAILED_UNLOCK, "", "feedback still closed")
            if not (failed_lock or failed_unlock):
                with self.lock:
                    st.lock_deadline = None
            return
        # Steady state: the lock moved without a command.
        self.errors.set(failed_lock, E.CONNECTOR_LOCK_UNEXPECTED_OPEN, "", "lock opened while locked")
        self.errors.set(failed_unlock, E.CONNECTOR_LOCK_UNEXPECTED_CLOSE, "", "lock closed while unlocked")

    # -- one-shot jobs ---------------------------------------------------------------------------

    def _run_job(self, job: Any) -> None:
        if isinstance(job, tuple) and job[0] == "phases" and self.phases is not None:
            accepted, why = self.phases.request(job[1], time.monotonic())
            level = logging.INFO if accepted else logging.WARNING
            log.log(level, "everest evse=%s switch to %d phases: %s", self.evse.id, job[1], why)
        elif job == "publish_state":
            self._publish_state_now()
        elif job == "self_test":
            self._self_test()
        elif isinstance(job, tuple) and job[0] == "reset":
            self._reset(job[1])

    def _self_test(self) -> None:
        if self.rcd is None:
            log.warning("everest evse=%s RCD self_test requested but the board has no RCD", self.evse.id)
            return
        if self.state.contactor_commanded or self.state.contactor_confirmed:
            log.warning("everest evse=%s RCD self_test refused: contactor closed", self.evse.id)
            return
        try:
            passed = self.rcd.self_test()
        except DeviceError as exc:
            passed = False
            log.error("evse %s: RCD self test failed: %s", self.evse.id, exc)
        self.errors.set(not passed, E.SELFTEST, "rcd", "RCD self test failed")
        log.info("everest evse=%s rcd self_test passed=%s", self.evse.id, passed)

    def _reset(self, reply_to: str | None) -> None:
        ok = False
        if self.rcd is not None:
            try:
                self.rcd.reset()
                ok = not self.rcd.read().tripped
            except DeviceError as exc:
                log.error("evse %s: RCD reset failed: %s", self.evse.id, exc)
        if reply_to:
            self.link.publish_raw(reply_to, codec.encode(ok))
