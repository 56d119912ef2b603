"""The AC power path of one EVSE: what the CP generator offers, and the two AC-only rules about
an opening -- withdrawing the PWM under load, and soft overcurrent.

**What happens on C2 -> C1** (issue #14 item 7; IEC 61851-1 Table A.6, sequence 10.2): when the
EVSE withdraws its offer while the EV draws current (``stop_charging``, deauthorization, the end
of the transaction, a derating below 6 A), opening at once would break load current. Instead the
generator goes to X1 (the EV reads "no current available"), the contactor stays closed while the
EV is in C1/D1 so it can ramp down and open its own S2 (state B), and it is opened when the EV
reaches B -- or forcibly :data:`WITHDRAW_TIMEOUT_S` (6 s) after the withdrawal if the EV stays
in C. Only these "polite" reasons wait (:data:`POLITE`); every fault (RCD, CP A/E/F, feedback,
link loss, inoperative, overcurrent) still opens at once.

**Soft overcurrent** (item 10; EVerest and OpenEVSE have it): the meter's phase currents are
compared with the current the PWM actually signals (:func:`~josev_hal.station.pwm.current_from_duty`
of the applied duty, not what was asked for). The EV gets ``[safety] overcurrent_grace_s`` after
every PWM change and after closing to follow; a phase above the offer by more than
``overcurrent_tolerance_a`` after that opens the contactor and raises ``hardware_fault``
(``overcurrent_fault``), held until the EV unplugs. At 5 % (ISO 15118) the limit is negotiated
digitally, not signalled, so the rule does not apply.
"""

from __future__ import annotations

import logging

from josev_hal.devices import CpMode, CpOutput, MeterReading
from josev_hal.messages import payloads as p
from josev_hal.station.faults import FaultBook
from josev_hal.station.interlocks import Blocker, Decision
from josev_hal.station.pwm import (
    HLC_DUTY_PERCENT,
    MAX_BASIC_CURRENT_A,
    MIN_BASIC_CURRENT_A,
    current_from_duty,
    duty_from_current,
)
from josev_hal.station.session import Session

__all__ = ["POLITE", "WITHDRAW_TIMEOUT_S", "Overcurrent", "PwmWithdrawal", "basic_output", "desired_output"]

log = logging.getLogger(__name__)

#: IEC 61851-1 Table A.6 (sequence 10.2): after the EVSE withdraws the PWM, an EV that stays in C
#: is disconnected by the EVSE after 6 s.
WITHDRAW_TIMEOUT_S = 6.0

#: Reasons to open that allow the EV to ramp down first (the offer was withdrawn, nothing is wrong).
POLITE = frozenset({Blocker.CP_NOT_CHARGING, Blocker.STOP_REQUESTED, Blocker.NOT_AUTHORIZED})

_POWER_STATES = frozenset({"C1", "D1", "C2", "D2"})

OVERCURRENT_FAULT = "overcurrent"


def basic_output(current_a: float, limit_a: float) -> CpOutput:
    """The basic-charging PWM for ``current_a`` within ``limit_a`` (X1 below 6 A)."""
    amps = min(current_a, limit_a, MAX_BASIC_CURRENT_A)
    if amps < MIN_BASIC_CURRENT_A:
        return CpOutput(CpMode.X1)
    return CpOutput(CpMode.PWM, round(duty_from_current(amps), 2))


def desired_output(
    s: Session,
    *,
    available: bool,
    blocked: bool,
    dc: bool,
    auto_basic_pwm: bool,
    max_current_a: float,
    limit_a: float,
    pp_ok: bool,
) -> CpOutput:
    """What the CP generator should output now (pure; AC and DC alike).

    ``blocked``: an RCD trip, blocking fault, failed/pending RCD self-test or overcurrent trip
    forbids offering energy. ``pp_ok``: a socket's PP codes a cable (else nothing is offered)."""
    if not available or s.forced == "f":
        return CpOutput(CpMode.STATE_F)
    if s.forced == "e":
        return CpOutput(CpMode.STATE_E)
    if blocked or s.stop_requested or not s.plugged or not pp_ok:
        return CpOutput(CpMode.X1)
    kind, value = s.pwm_request
    if s.pwm_from_josev:
        if kind == "hlc":
            return CpOutput(CpMode.PWM, HLC_DUTY_PERCENT)
        if kind == "basic" and value is not None and s.may_be_served():
            # an offer nobody may take is withdrawn: without an authorization the interlock keeps
            # the contactor open, so a PWM would only invite the EV into C to wait (and it is
            # how a deauthorization or the end of the transaction reaches the EV, see above)
            return basic_output(value, limit_a)
        return CpOutput(CpMode.X1)
    if not dc and auto_basic_pwm and s.authorized and not s.hlc_active and not s.slac_busy:
        return basic_output(max_current_a, limit_a)
    return CpOutput(CpMode.X1)


class PwmWithdrawal:
    """Keeps the contactor closed while an EV ramps down after the PWM was withdrawn."""

    def __init__(self, evse_id: str, timeout_s: float = WITHDRAW_TIMEOUT_S) -> None:
        self.evse_id = evse_id
        self.timeout_s = timeout_s
        self.since: float | None = None

    def hold(self, decision: Decision, cp_states: tuple[str, ...], now: float) -> bool:
        """True: keep the (closed) contactor closed for now despite ``decision``."""
        polite = set(decision.blockers) <= POLITE and all(s in _POWER_STATES for s in cp_states)
        if not polite:
            self.since = None
            return False
        if self.since is None:
            self.since = now
            log.info(
                "evse=%s offer withdrawn (%s): X1, waiting up to %gs for the EV to go to B",
                self.evse_id,
                decision.why(),
                self.timeout_s,
            )
        return now - self.since < self.timeout_s

    def reason(self, decision: Decision, now: float) -> str:
        if self.since is not None and now - self.since >= self.timeout_s:
            return f"EV stayed in C {self.timeout_s:g}s after the PWM was withdrawn ({decision.why()})"
        return decision.why()

    def reset(self) -> None:
        self.since = None

    @property
    def waiting(self) -> bool:
        return self.since is not None


class Overcurrent:
    """Soft overcurrent supervision (see the module docstring)."""

    def __init__(self, evse_id: str, faults: FaultBook, *, tolerance_a: float, grace_s: float) -> None:
        self.evse_id = evse_id
        self._faults = faults
        self.tolerance_a = tolerance_a
        self.grace_s = grace_s
        self.tripped = False

    def check(
        self,
        reading: MeterReading | None,
        reading_at: float | None,
        applied: CpOutput | None,
        settled_since: float,
        contactor_closed: bool,
    ) -> str | None:
        """The reason to open (and the fault raised), or None. ``settled_since``: the later of the
        last PWM change and the last closing; readings taken before it + grace are not judged."""
        if self.tripped or not contactor_closed or reading is None or reading_at is None:
            return None
        if applied is None or applied.mode is not CpMode.PWM or applied.duty_percent is None:
            return None
        if applied.duty_percent == HLC_DUTY_PERCENT:
            return None  # ISO 15118: the limit is negotiated, not signalled
        offered = current_from_duty(applied.duty_percent)
        if offered is None or reading.current_a is None:
            return None
        if reading_at < settled_since + self.grace_s:
            return None
        c = reading.current_a
        worst = max(abs(c.l1), abs(c.l2), abs(c.l3))
        if worst <= offered + self.tolerance_a:
            return None
        self.tripped = True
        detail = f"phase current {worst:.1f} A above the offered {offered:.1f} A (+{self.tolerance_a:g} A)"
        log.error("evse=%s soft overcurrent: %s", self.evse_id, detail)
        self._faults.set_fault(OVERCURRENT_FAULT, "evse", p.HardwareFaultName.OVERCURRENT_FAULT, detail)
        return f"overcurrent: {detail}"

    def end_session(self) -> None:
        self.tripped = False
        self._faults.clear_fault(OVERCURRENT_FAULT)
