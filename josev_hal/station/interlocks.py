"""The contactor interlock: one pure function that says whether the contactor may be closed.

Everything the decision needs is in :class:`InterlockInputs`; :func:`decide` returns every reason
that forbids closing (an empty tuple means "close"). The controller calls it after every change it
observes and opens the contactor at once when a reason appears while it is closed. Keeping the
decision pure makes it exhaustively testable (``tests/test_interlocks.py``) and keeps it
independent of Josev and of the broker: no input here comes from MQTT *timing*; MQTT only
contributes requests (authorization, stop, set-points) that can *add* a reason or remove one.

When the contactor closes (documented in the README, "Station behaviour"):

* CP is C2 or D2 (EV requests power, PWM on). With ISO 15118 the PWM is 5 %, which is still
  "PWM on": the EV only switches to C after PowerDeliveryReq, so C2/D2 at 5 % is the HLC
  equivalent of basic charging's C2/D2.
* D2 only when the installation provides ventilation (profile ``[evse] ventilation = true``):
  IEC 61851-1 says an EVSE without ventilation must not supply energy to an EV that asks for it
  (state D); the default is "no ventilation", so D2 is refused unless the board says otherwise;
* a socket outlet (no fixed cable): the PP reads a valid cable coding (a plug with PP open or an
  unreadable PP must not get the EVSE's full rating: nothing says what the cable carries);
* no failed or still pending RCD self-test, no soft overcurrent trip;
* the last closing is at least ``min_close_interval_s`` ago (an EV toggling B/C must not chatter
  the contactor); this only holds back a *new* closing, it never opens a closed contactor;
* the EVSE is available and no latched stop is pending (``stop_charging``);
* no RCD trip and no blocking hardware fault;
* a socket outlet with a connector lock: the lock's feedback confirms the plug is locked (pulling
  a plug under load draws an arc; the lock must hold for as long as the contactor is closed);
* AC basic charging: the session is authorized (``authorization`` accepted, a running
  transaction, or free charging); HLC: an ISO 15118 session is active (Josev authorizes inside
  the protocol before it sends PowerDelivery). At 5 % PWM only an HLC session may close;
* DC: an ISO 15118 session is active, the cable check passed (isolation valid or warning) and
  Josev has started pre-charge with a ``power_electronics_setpoint`` -- both *in this session*:
  a second ISO 15118 session on the same plug-in needs its own cable check and pre-charge
  (``hlc_session`` counts sessions; a cable check or pre-charge of an earlier one is stale).

New inputs default to the value that keeps an older caller's behaviour *and* is safe: no
ventilation (D2 refused), no socket PP requirement unless the caller says the connector is a
socket, session counters that agree, no minimum interval.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import msgspec

__all__ = ["Blocker", "Decision", "InterlockInputs", "decide"]


class Blocker(enum.StrEnum):
    """A reason that forbids closing (and forces opening)."""

    CP_NOT_CHARGING = "cp_not_c2_d2"
    CP_AMBIGUOUS = "more_than_one_connector_requests_power"
    UNAVAILABLE = "evse_unavailable"
    RCD_TRIPPED = "rcd_tripped"
    HARDWARE_FAULT = "hardware_fault"
    STOP_REQUESTED = "stop_requested"
    NOT_AUTHORIZED = "not_authorized"
    NO_HLC_SESSION = "no_hlc_session"
    CABLE_CHECK_PENDING = "cable_check_not_passed"
    NO_PRECHARGE = "precharge_not_started"
    PLUG_NOT_LOCKED = "plug_not_locked"
    NO_VENTILATION = "state_d_without_ventilation"
    PP_INVALID = "pp_no_valid_cable"
    RCD_SELF_TEST_FAILED = "rcd_self_test_failed"
    RCD_SELF_TEST_PENDING = "rcd_self_test_pending"
    OVERCURRENT = "overcurrent"
    CLOSE_INTERVAL = "min_close_interval"


#: States in which the EV requests power with the PWM running.
_CHARGING_STATES = frozenset({"C2", "D2"})


class InterlockInputs(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of everything the interlock looks at."""

    cp_states: tuple[str, ...]  #: accepted CP state per connector (``"C2"`` ...)
    dc: bool  #: the EVSE is a DC EVSE
    available: bool
    rcd_tripped: bool  #: tripped now or latched (reset policy)
    blocking_faults: frozenset[str]  #: active hardware faults that forbid closing
    stop_requested: bool
    authorized: bool  #: AC basic: authorization accepted / transaction / free charging
    hlc_active: bool  #: an ISO 15118 / DIN session controls the EVSE
    cable_check_passed: bool
    precharge_started: bool
    #: the generator runs the 5 % "use digital communication" duty: only an HLC session may then
    #: draw power (a basic EV that goes to C at 5 % misreads the PWM)
    hlc_pwm: bool = False
    #: the plug is confirmed locked, or the connector needs no lock (fixed cable, no lock device)
    plug_locked: bool = True
    #: the installation ventilates the charging area (profile ``[evse] ventilation``); without
    #: it, state D (EV asks for ventilation) must not be supplied
    ventilation: bool = False
    #: the connector is a socket outlet: the cable's PP coding must be read before closing
    pp_required: bool = False
    #: a socket's PP reads a valid cable coding (debounced by the caller); ignored without
    #: ``pp_required``
    pp_valid: bool = False
    #: the RCD self-test failed (latched until cleared by an operator)
    rcd_self_test_failed: bool = False
    #: the self-test policy wants a test before this session and it has not passed yet
    rcd_self_test_pending: bool = False
    #: the soft overcurrent check tripped (meter current above what the PWM offers)
    overcurrent: bool = False
    #: DC: counter of ISO 15118 sessions on this EVSE (the caller increments it on every new
    #: session, also on the same plug-in) and the session in which the cable check passed and
    #: pre-charge started; equal defaults keep a caller that does not count sessions working
    hlc_session: int = 0
    cable_check_session: int = 0
    precharge_session: int = 0
    #: the contactor is commanded closed now (the minimum interval only holds back closing)
    contactor_closed: bool = False
    #: seconds since the contactor was last commanded closed (``None``: never)
    since_last_close_s: float | None = None
    #: ``[contactor] min_close_interval_s``; 0 disables the rule
    min_close_interval_s: float = 0.0


class Decision(msgspec.Struct, frozen=True):
    """``may_close`` is True exactly when ``blockers`` is empty."""

    blockers: tuple[Blocker, ...]

    @property
    def may_close(self) -> bool:
        return not self.blockers

    def why(self) -> str:
        """The reasons as one log-friendly string."""
        return ",".join(b.value for b in self.blockers) or "ok"


def decide(i: InterlockInputs) -> Decision:
    """Every reason the contactor must be (or stay) open; empty = it may close."""
    blockers: list[Blocker] = []
    charging = [s for s in i.cp_states if s in _CHARGING_STATES]
    if not charging:
        blockers.append(Blocker.CP_NOT_CHARGING)
    elif len(charging) > 1:
        blockers.append(Blocker.CP_AMBIGUOUS)
    if any(s in ("E", "F") for s in i.cp_states) and Blocker.CP_NOT_CHARGING not in blockers:
        # another connector of the same EVSE shows a CP error: the EVSE is not in a safe state
        blockers.append(Blocker.CP_NOT_CHARGING)
    if not i.available:
        blockers.append(Blocker.UNAVAILABLE)
    if i.rcd_tripped:
        blockers.append(Blocker.RCD_TRIPPED)
    if i.blocking_faults:
        blockers.append(Blocker.HARDWARE_FAULT)
    if i.stop_requested:
        blockers.append(Blocker.STOP_REQUESTED)
    if not i.plug_locked:
        blockers.append(Blocker.PLUG_NOT_LOCKED)
    if "D2" in charging and not i.ventilation:
        blockers.append(Blocker.NO_VENTILATION)
    if i.pp_required and not i.pp_valid:
        blockers.append(Blocker.PP_INVALID)
    if i.rcd_self_test_failed:
        blockers.append(Blocker.RCD_SELF_TEST_FAILED)
    elif i.rcd_self_test_pending:
        blockers.append(Blocker.RCD_SELF_TEST_PENDING)
    if i.overcurrent:
        blockers.append(Blocker.OVERCURRENT)
    if not i.contactor_closed and _too_soon(i.since_last_close_s, i.min_close_interval_s):
        blockers.append(Blocker.CLOSE_INTERVAL)
    if i.dc:
        if not i.hlc_active:
            blockers.append(Blocker.NO_HLC_SESSION)
        if not (i.cable_check_passed and i.cable_check_session == i.hlc_session):
            blockers.append(Blocker.CABLE_CHECK_PENDING)
        if not (i.precharge_started and i.precharge_session == i.hlc_session):
            blockers.append(Blocker.NO_PRECHARGE)
    elif i.hlc_pwm and not i.hlc_active:
        blockers.append(Blocker.NO_HLC_SESSION)
    elif not (i.authorized or i.hlc_active):
        blockers.append(Blocker.NOT_AUTHORIZED)
    return Decision(tuple(_unique(blockers)))


def _too_soon(since_last_close_s: float | None, min_interval_s: float) -> bool:
    """A new closing would come within the minimum interval of the last one."""
    if since_last_close_s is None or min_interval_s <= 0:
        return False
    # A negative age (clock stepped back) or NaN counts as "just closed": wait, never chatter.
    return not since_last_close_s >= min_interval_s


def _unique(items: Iterable[Blocker]) -> list[Blocker]:
    seen: list[Blocker] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
