"""The DC power path of one EVSE: cable check, pre-charge and current demand, present values.

:class:`DcPath` holds the DC session state the interlock needs (cable check passed and pre-charge
started, each *in which* ISO 15118 session) and talks to the power module and the isolation
monitor. It takes no locks and makes no safety decision of its own: the controller calls it under
its lock and decides with :func:`~josev_hal.station.interlocks.decide`. Faults go back through
:class:`FaultSink`.

**Per session** (issue #14 item 1): every ISO 15118 session (``hlc_charging`` false -> true, also
a second one on the same plug-in) needs its own cable check and pre-charge; the results carry the
session number and a result of an earlier session is stale for the interlock.

**The cable check** (item 3) follows IEC 61851-23 (2023), one step at a time, each with its own
timeout from the profile's ``[cable_check]`` table (:class:`CableCheckSettings`):

1. ``discharge_before`` -- the output is below 60 V before anything closes;
2. ``close`` -- the DC contactor closes with the module switched on at its cable-check current
   limit only (no energy transfer: the interlock lets it close for the test alone, see
   :func:`test_may_close`);
3. ``ramp`` -- the module ramps to the cable-check voltage: the lower of the EV's maximum voltage
   (``ev_rated_limits``; the profile's ``voltage_v`` while it is unknown) and the EVSE's maximum.
   Current at the limit while the voltage stays below 60 V is a short circuit: a fault;
4. ``self_test`` -- the IMD self-test (run outside the EVSE lock by the sampling thread; skipped,
   with a log line, for an IMD that cannot test);
5. ``measure`` -- the insulation measurement at that voltage: >= 500 ohm/V valid, 100..500
   warning (charging may go on), < 100 fault;
6. ``discharge_after`` -- the module off and the cable below 60 V before pre-charge. The
   contactor stays closed for pre-charge (a re-close would only wear it).

Every step is recorded in :attr:`DcPath.timeline` (step, time) so a test can check the order. A
DC path without a power module (an IMD with its own test source) only runs the measurement.
"""

from __future__ import annotations

import enum
import logging
from typing import Protocol

import msgspec
from msgspec import UNSET, UnsetType

from josev_hal.devices import DcCapabilities, DcPowerModule, DcSample, IsolationMonitor, IsolationStatus
from josev_hal.errors import DeviceError, DeviceOffline
from josev_hal.messages import payloads as p
from josev_hal.station.config import CableCheckSettings
from josev_hal.station.fault_names import contract_fault_name_of
from josev_hal.station.interlocks import Blocker, Decision

__all__ = ["CableCheckSettings", "CableCheckStep", "DcPath", "FaultSink", "Setpoint", "test_may_close"]

log = logging.getLogger(__name__)

#: Isolation results that let the session go on (IEC 61851-23: warning still allows charging).
PASSING = (IsolationStatus.VALID, IsolationStatus.WARNING)

#: IEC 61851-23: below this the DC output counts as discharged (safe to touch, safe to switch).
SAFE_VOLTAGE_V = 60.0

#: Current at the limit with the output still below 60 V this long into the ramp is a short
#: circuit (a healthy cable passes 60 V within tens of ms at any usual ramp rate).
SHORT_DETECT_S = 0.5

#: The only reasons to open that a contactor closed *for the cable check* may ignore.
_TEST_BLOCKERS = frozenset({Blocker.CABLE_CHECK_PENDING, Blocker.NO_PRECHARGE})


def test_may_close(decision: Decision) -> bool:
    """The contactor may be (or stay) closed for the cable check or while pre-charge is awaited:
    everything but "no cable check / no pre-charge in this session" allows closing. The module
    then runs current-limited at the cable-check limit, so this is never an energy transfer."""
    return bool(decision.blockers) and set(decision.blockers) <= _TEST_BLOCKERS


class CableCheckStep(enum.StrEnum):
    IDLE = "idle"
    DISCHARGE_BEFORE = "discharge_before"
    CLOSE = "close"
    RAMP = "ramp"
    SELF_TEST = "self_test"
    MEASURE = "measure"
    DISCHARGE_AFTER = "discharge_after"
    PASSED = "passed"
    FAILED = "failed"


_RUNNING = frozenset(
    {
        CableCheckStep.DISCHARGE_BEFORE,
        CableCheckStep.CLOSE,
        CableCheckStep.RAMP,
        CableCheckStep.SELF_TEST,
        CableCheckStep.MEASURE,
        CableCheckStep.DISCHARGE_AFTER,
    }
)


#: Steps in which the contactor is closed and the cable may be live.
_AT_VOLTAGE = frozenset(
    {CableCheckStep.RAMP, CableCheckStep.SELF_TEST, CableCheckStep.MEASURE, CableCheckStep.DISCHARGE_AFTER}
)


class FaultSink(Protocol):
    """How the DC path reports faults to its controller."""

    def set_fault(self, key: str, component: str, name: p.HardwareFaultName, detail: str) -> None: ...

    def clear_fault(self, key: str) -> None: ...

    def link_fault(self, what: str, exc: DeviceError) -> None: ...


class Setpoint(msgspec.Struct, frozen=True):
    """A validated DC set-point: target voltage, current limit, pre-charge or not."""

    voltage_v: float
    current_a: float
    precharge: bool


class DcPath:
    """DC session state and the power module / isolation monitor of one EVSE."""

    def __init__(
        self,
        evse_id: str,
        module: DcPowerModule | None,
        imd: IsolationMonitor | None,
        faults: FaultSink,
        *,
        precharge_current_a: float,
        limits: DcCapabilities | None = None,
        cable_check: CableCheckSettings | None = None,
    ) -> None:
        self.evse_id = evse_id
        self.module = module
        self.imd = imd
        self._faults = faults
        self.precharge_current_a = precharge_current_a
        self.limits = limits
        self.cc = cable_check or CableCheckSettings()
        self.cable_check_passed = False
        self.isolation: IsolationStatus | None = None
        self.precharge_started = False
        self.sample: DcSample | None = None
        #: the ISO 15118 session the results belong to (see the module docstring)
        self.session = 0
        self.cable_check_session = 0
        self.precharge_session = 0
        self.step = CableCheckStep.IDLE
        self.step_since = 0.0
        self.timeline: list[tuple[CableCheckStep, float]] = []
        self.test_voltage_v = 0.0
        self.ev_max_voltage_v: float | None = None
        self.failure: str | None = None
        #: the IMD self-test is due and runs outside the lock (see the controller); one at a time
        self.imd_self_test_due = False
        self.imd_testing = False

    @property
    def cable_check_running(self) -> bool:
        return self.step in _RUNNING

    @property
    def wants_closed(self) -> bool:
        """The cable check needs the contactor closed (from ``close`` until pre-charge)."""
        return self.step in _RUNNING - {CableCheckStep.DISCHARGE_BEFORE} or self.step is CableCheckStep.PASSED

    @property
    def capabilities(self) -> DcCapabilities | None:
        """What the EVSE can deliver: the module's capabilities within the EVSE's own limits."""
        caps = self.module.capabilities if self.module is not None else None
        lim = self.limits
        if caps is None or lim is None:
            return caps or lim
        return DcCapabilities(
            max_voltage_v=min(caps.max_voltage_v, lim.max_voltage_v),
            min_voltage_v=max(caps.min_voltage_v, lim.min_voltage_v),
            max_current_a=min(caps.max_current_a, lim.max_current_a),
            min_current_a=max(caps.min_current_a, lim.min_current_a),
            max_power_w=min(caps.max_power_w, lim.max_power_w),
        )

    # -- session -----------------------------------------------------------------------------
    def new_session(self, session: int) -> None:
        """A new ISO 15118 session began: its cable check and pre-charge are still to come."""
        self.session = session
        self._forget()

    def end_session(self) -> None:
        """The ISO 15118 session or the plug-in ended: forget the results, stop monitoring."""
        self._forget()
        self.ev_max_voltage_v = None

    def _forget(self) -> None:
        self.cable_check_passed = False
        self.precharge_started = False
        self.step = CableCheckStep.IDLE
        self.imd_self_test_due = False
        self.failure = None
        self._faults.clear_fault("isolation")
        if self.imd is not None:
            try:
                self.imd.stop()
            except DeviceError as exc:
                log.warning("evse=%s isolation monitor stop failed: %s", self.evse_id, exc)

    def start_precharge(self) -> None:
        self.precharge_started = True
        self.precharge_session = self.session

    def disable(self) -> None:
        """Switch the module output off (called together with opening the contactor)."""
        if self.module is None:
            return
        try:
            self.module.enable(False)
        except DeviceError as exc:
            log.error("evse=%s power module disable failed: %s", self.evse_id, exc)

    # -- inputs ------------------------------------------------------------------------------
    def read(self) -> None:
        """Read the module's present output and faults, and the isolation monitor while it
        measures or monitors (it keeps monitoring during the session)."""
        self._read_module()
        monitoring = self.step is CableCheckStep.DISCHARGE_AFTER or self.cable_check_passed
        if self.imd is not None and monitoring:
            self._read_imd(self.imd)

    def _read_module(self) -> None:
        module = self.module
        if module is None:
            return
        try:
            sample = module.read()
        except DeviceOffline as exc:
            self._faults.set_fault("power_module", "power_module", p.HardwareFaultName.OTHER, str(exc))
            self.sample = None
            return
        except DeviceError as exc:
            self._faults.link_fault("power_module", exc)
            return
        self._faults.clear_fault("link:power_module")
        self.sample = sample
        if sample.faults:
            name = contract_fault_name_of(sample.faults)
            self._faults.set_fault("power_module", "power_module", name, ",".join(sorted(sample.faults)))
        else:
            self._faults.clear_fault("power_module")

    def _read_imd(self, imd: IsolationMonitor) -> None:
        try:
            iso = imd.read()
        except DeviceError as exc:
            self._faults.link_fault("isolation_monitor", exc)
            return
        self._faults.clear_fault("link:isolation_monitor")
        # An IMD reports "measuring" with status invalid and no resistance until its first
        # result is in; after that it keeps monitoring until stopped. The status, not the
        # resistance, decides: an IMD with digital outputs never reports a resistance.
        if iso.measuring and iso.resistance_ohm is None and iso.status is IsolationStatus.INVALID:
            return
        self.isolation = iso.status
        if iso.status is IsolationStatus.FAULT:
            self.cable_check_passed = False
            self._faults.set_fault(
                "isolation", "isolation_monitor", p.HardwareFaultName.GROUND_FAULT, "isolation fault"
            )

    # -- cable check -------------------------------------------------------------------------
    def _response(self, level: p.IsolationLevel | None) -> p.CableCheckResponse:
        if level is None:
            return p.CableCheckResponse(evse_id=self.evse_id, cable_check_status=p.CableCheckStatus.ONGOING)
        return p.CableCheckResponse(
            evse_id=self.evse_id, cable_check_status=p.CableCheckStatus.FINISHED, isolation_level=level
        )

    def cable_check(
        self, action: p.CableCheckAction, refusal: str | None, now: float = 0.0
    ) -> p.CableCheckResponse:
        """``start`` (or a ``status`` before any start) starts the sequence unless ``refusal``
        says why the EVSE cannot; ``status`` reports ongoing / finished with the level.

        A refused or impossible check is answered ``finished``/``invalid`` (or ``no_imd``):
        Josev then ends the session, where silence would only make it time out."""
        if self.imd is None:
            return self._response(p.IsolationLevel.NO_IMD)
        start = action is p.CableCheckAction.START or self.step is CableCheckStep.IDLE
        if not start:
            if self.module is None:
                self.advance(now, contactor_closed=False)  # nobody else drives a module-less check
            return self.status()
        if refusal is not None:
            log.warning("evse=%s cable check refused: %s", self.evse_id, refusal)
            return self._response(p.IsolationLevel.INVALID)
        self.cable_check_passed = False
        self.isolation = None
        self.failure = None
        self.timeline = []
        log.info("evse=%s cable check started", self.evse_id)
        if self.module is None:
            self._enter(CableCheckStep.MEASURE, now)
        else:
            self._enter(CableCheckStep.DISCHARGE_BEFORE, now)
            self.disable()
        if self.step is CableCheckStep.FAILED:
            return self._response(p.IsolationLevel.INVALID)
        return self._response(None)

    def status(self) -> p.CableCheckResponse:
        if self.step is CableCheckStep.PASSED:
            level = self.isolation if self.isolation in PASSING else IsolationStatus.VALID
            assert level is not None
            return self._response(p.IsolationLevel(level.value))
        if self.step is CableCheckStep.FAILED:
            if self.isolation is IsolationStatus.FAULT:
                return self._response(p.IsolationLevel.FAULT)
            return self._response(p.IsolationLevel.INVALID)
        if self.step is CableCheckStep.IDLE:
            return self._response(p.IsolationLevel.INVALID)
        return self._response(None)

    def set_ev_max_voltage(self, volts: float | None) -> None:
        self.ev_max_voltage_v = volts

    def _enter(self, step: CableCheckStep, now: float) -> None:
        self.step = step
        self.step_since = now
        self.timeline.append((step, now))
        log.info("evse=%s cable check step=%s", self.evse_id, step.value)
        if step is CableCheckStep.MEASURE:
            assert self.imd is not None
            try:
                self.imd.start()
            except DeviceError as exc:
                self._faults.link_fault("isolation_monitor", exc)
                self._fail(f"isolation monitor did not start: {exc}", now)
        elif step is CableCheckStep.SELF_TEST:
            imd = self.imd
            if imd is None or not getattr(imd, "supports_self_test", True):
                log.warning("evse=%s isolation monitor cannot self-test: step skipped", self.evse_id)
                self._enter(CableCheckStep.MEASURE, now)
            else:
                self.imd_self_test_due = True

    def _fail(self, why: str, now: float) -> None:
        log.error("evse=%s cable check FAILED at %s: %s", self.evse_id, self.step.value, why)
        self.failure = why
        self.cable_check_passed = False
        self.imd_self_test_due = False
        self.step = CableCheckStep.FAILED
        self.step_since = now
        self.timeline.append((CableCheckStep.FAILED, now))
        self.disable()

    def _timed_out(self, now: float, limit_s: float, what: str) -> bool:
        if now - self.step_since >= limit_s:
            self._fail(f"{what} within {limit_s:g}s", now)
            return True
        return False

    def _voltage(self) -> float:
        return self.sample.voltage_v if self.sample is not None else 0.0

    def advance(self, now: float, *, contactor_closed: bool) -> None:
        """One step of the cable check (called by every evaluation while it runs; never waits)."""
        step, cc, v = self.step, self.cc, self._voltage()
        if step in _AT_VOLTAGE and self.module is not None and not contactor_closed:
            self._fail("the contactor opened during the cable check", now)
            return
        if step is CableCheckStep.DISCHARGE_BEFORE:
            if v < SAFE_VOLTAGE_V:
                self._enter(CableCheckStep.CLOSE, now)
            else:
                self._timed_out(now, cc.discharge_timeout_s, f"output {v:.0f} V did not fall below 60 V")
        elif step is CableCheckStep.CLOSE:
            if contactor_closed:
                self._start_ramp(now)
            else:
                self._timed_out(now, cc.close_timeout_s, "the contactor did not close for the cable check")
        elif step is CableCheckStep.RAMP:
            self._check_ramp(now, v)
        elif step is CableCheckStep.SELF_TEST:
            if self.imd_self_test_due:
                self._timed_out(now, cc.self_test_timeout_s, "the isolation monitor self-test did not finish")
        elif step is CableCheckStep.MEASURE:
            self._check_measurement(now)
        elif step is CableCheckStep.DISCHARGE_AFTER:
            if v < SAFE_VOLTAGE_V:
                self.cable_check_passed = True
                self.cable_check_session = self.session
                self._enter(CableCheckStep.PASSED, now)
                log.info("evse=%s cable check passed isolation=%s", self.evse_id, self.isolation)
            else:
                self._timed_out(now, cc.discharge_timeout_s, f"output {v:.0f} V did not fall below 60 V")

    def _start_ramp(self, now: float) -> None:
        assert self.module is not None
        caps = self.capabilities
        top = caps.max_voltage_v if caps is not None else self.cc.voltage_v
        ev = self.ev_max_voltage_v if self.ev_max_voltage_v is not None else self.cc.voltage_v
        floor = caps.min_voltage_v if caps is not None else 0.0
        # never above what the EV or the EVSE is rated for; a module cannot regulate below its minimum
        self.test_voltage_v = max(floor, min(ev, top))
        try:
            self.module.set_target(self.test_voltage_v, self.cc.current_limit_a)
            self.module.enable(True)
        except DeviceError as exc:
            self._faults.link_fault("power_module", exc)
            self._fail(f"power module did not take the cable-check set-point: {exc}", now)
            return
        self._enter(CableCheckStep.RAMP, now)

    def _check_ramp(self, now: float, v: float) -> None:
        current = self.sample.current_a if self.sample is not None else 0.0
        shorted = current >= 0.9 * self.cc.current_limit_a and v < SAFE_VOLTAGE_V
        if shorted and now - self.step_since >= SHORT_DETECT_S:
            detail = f"short circuit on the DC output: {current:.1f} A at {v:.0f} V during the cable check"
            self._faults.set_fault("dc_short", "power_module", p.HardwareFaultName.OVERCURRENT_FAULT, detail)
            self._fail(detail, now)
            return
        if v >= self.test_voltage_v - self.cc.ramp_tolerance_v:
            self._enter(CableCheckStep.SELF_TEST, now)
            return
        self._timed_out(now, self.cc.ramp_timeout_s, f"output did not reach {self.test_voltage_v:.0f} V")

    def run_imd_self_test(self) -> bool:
        """The IMD self-test (no lock held: it may take seconds)."""
        imd = self.imd
        if imd is None:
            return False
        try:
            return bool(imd.self_test())
        except DeviceError as exc:
            log.error("evse=%s isolation monitor self-test failed to run: %s", self.evse_id, exc)
            return False

    def imd_self_test_done(self, passed: bool, now: float) -> None:
        self.imd_testing = False
        if self.step is not CableCheckStep.SELF_TEST or not self.imd_self_test_due:
            return  # the check ended meanwhile
        self.imd_self_test_due = False
        if passed:
            self._enter(CableCheckStep.MEASURE, now)
        else:
            self._faults.set_fault(
                "imd_self_test",
                "isolation_monitor",
                p.HardwareFaultName.OTHER,
                "isolation monitor self-test failed",
            )
            self._fail("isolation monitor self-test failed", now)

    def _check_measurement(self, now: float) -> None:
        imd = self.imd
        assert imd is not None
        self._read_imd(imd)
        status = self.isolation
        if status is None or status is IsolationStatus.INVALID:
            self._timed_out(now, self.cc.measure_timeout_s, "no valid insulation measurement")
            return
        if status in PASSING:
            if self.module is None:
                self.cable_check_passed = True
                self.cable_check_session = self.session
                self._enter(CableCheckStep.PASSED, now)
                return
            self.disable()  # discharge before pre-charge
            self._enter(CableCheckStep.DISCHARGE_AFTER, now)
        elif status is IsolationStatus.FAULT:
            self._fail("insulation fault (< 100 ohm/V)", now)
        else:
            self._fail(f"insulation measurement {status.value}", now)

    # -- set-points --------------------------------------------------------------------------
    def validate(self, req: p.PowerElectronicsSetpointRequest) -> Setpoint | str:
        """The set-point the module can follow, or the reason it cannot (a string)."""
        dc = req.dc
        if not isinstance(dc, p.PowerElectronicsSetpointDc):
            return "no DC set-point for a DC EVSE"
        if self.module is None:
            return "no power module"
        if dc.discharge_current is not UNSET or dc.discharge_power is not UNSET:
            return "bidirectional power transfer not supported"
        if isinstance(dc.voltage, UnsetType):
            return "no target voltage"
        voltage = float(dc.voltage)
        caps = self.capabilities
        assert caps is not None
        top = min(caps.max_voltage_v, float(req.ev_limits.maximum_voltage))
        if not caps.min_voltage_v <= voltage <= top:
            return f"target {voltage} V outside {caps.min_voltage_v}..{top} V (EVSE and EV limits)"
        if not isinstance(dc.charge_current, UnsetType):
            current = float(dc.charge_current)
        elif not isinstance(dc.charge_power, UnsetType):
            current = float(dc.charge_power) / voltage
        else:  # pragma: no cover - the message layer enforces exactly one set-point
            return "no charge current or power"
        precharge = req.is_precharge is True
        if precharge:
            current = min(current, self.precharge_current_a)
        current = max(0.0, min(current, caps.max_current_a, caps.max_power_w / voltage))
        return Setpoint(voltage, current, precharge)

    def apply(self, setpoint: Setpoint, derating_a: float | None) -> str | None:
        """Command the module (contactor already closed); the error text, or None."""
        assert self.module is not None
        current = setpoint.current_a if derating_a is None else min(setpoint.current_a, derating_a)
        try:
            self.module.set_target(setpoint.voltage_v, current)
            self.module.enable(True)
        except DeviceError as exc:
            self._faults.link_fault("power_module", exc)
            return str(exc)
        return None
