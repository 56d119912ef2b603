"""The charging session of one EVSE: plug-in, authorization, Josev's requests, transactions.

:class:`Session` is plain state (no devices, no lock of its own; it lives under the EVSE lock).
It answers "is an EV plugged in", "may it be served" and "what did Josev ask for", and counts
ISO 15118 sessions so the DC path can tell a cable check of *this* session from a stale one
(issue #14 item 1: a second ISO 15118 session on the same plug-in needs its own cable check and
pre-charge).

A plug-in session begins when any connector shows B, C or D and ends when every connector shows A
(E/F say nothing about the plug: the EVSE may be driving them itself). Ending it forgets the
authorization (unless free charging), a ``stop_charging``, the HLC/SLAC state and Josev's PWM
request, so the next plug-in starts clean.

"Transaction active" (what availability changes wait for, OCPP G03/G04) is *not* "contactor
closed": an EV that pauses (C2 -> B2) is still in its transaction. It is active while Josev
reports an open OCPP transaction, or -- basic charging without OCPP -- from the first closing of
the contactor in a plug-in session until the EV unplugs or the session is stopped (issue #14
item 14).
"""

from __future__ import annotations

import logging

import msgspec

from josev_hal.messages import payloads as p

__all__ = ["PWM_X1", "PwmRequest", "Session"]

log = logging.getLogger(__name__)

#: What Josev asked the CP generator to do: ("x1" | "hlc" | "basic", current or None)
PwmRequest = tuple[str, float | None]
PWM_X1: PwmRequest = ("x1", None)


class Session(msgspec.Struct):
    evse_id: str
    free_charging: bool = False
    plugged: bool = False
    authorized: bool = False
    stop_requested: bool = False
    hlc_active: bool = False
    #: SLAC matching or matched: HLC is coming, do not start basic PWM
    slac_busy: bool = False
    pwm_request: PwmRequest = PWM_X1
    pwm_from_josev: bool = False
    #: "e" / "f" forced by cp_pwm
    forced: str | None = None
    #: an explicit lock/unlock from Josev (cs_connector) that wins over the session logic until
    #: the session begins or ends or a new authorization arrives
    lock_override: bool | None = None
    #: ISO 15118 sessions seen (+1 on every hlc_charging false -> true, also on one plug-in)
    hlc_session: int = 0
    #: the contactor closed in this plug-in session (basic charging's "transaction")
    energy_delivered: bool = False
    transactions: dict[str, str] = msgspec.field(default_factory=dict)
    last_tx_id: str = ""

    def __post_init__(self) -> None:
        self.authorized = self.authorized or self.free_charging

    # -- plug-in -------------------------------------------------------------------------------
    def track(self, plugged_now: bool, all_unplugged: bool) -> str | None:
        """Follow the CP: "began" / "ended" when the plug-in session did, else None."""
        if plugged_now and not self.plugged:
            self.plugged = True
            self.lock_override = None
            log.info("evse=%s session begins (ev connected)", self.evse_id)
            return "began"
        if self.plugged and all_unplugged:
            self.plugged = False
            self.end()
            return "ended"
        return None

    def end(self) -> None:
        """Forget everything of the plug-in session (unplug, restart)."""
        log.info("evse=%s session ends (ev unplugged)", self.evse_id)
        self.authorized = self.free_charging
        self.stop_requested = False
        self.hlc_active = False
        self.slac_busy = False
        self.pwm_from_josev = False
        self.pwm_request = PWM_X1
        self.lock_override = None
        self.energy_delivered = False

    # -- updates from Josev --------------------------------------------------------------------
    def on_hlc_charging(self, status: bool) -> bool:
        """True when a new ISO 15118 session began (the DC path then needs a new cable check)."""
        began = status and not self.hlc_active
        if began:
            self.hlc_session += 1
        self.hlc_active = status
        if status:
            self.slac_busy = True
        return began

    def on_slac_status(self, status: p.SlacStatus) -> None:
        if status in (p.SlacStatus.MATCHING, p.SlacStatus.MATCHED):
            self.slac_busy = True
        else:
            self.slac_busy = False
            if status in (p.SlacStatus.FAILED, p.SlacStatus.BASIC_CHARGING, p.SlacStatus.UNMATCHED):
                self.hlc_active = False

    def set_authorized(self, authorized: bool) -> None:
        self.authorized = authorized or self.free_charging
        if not self.authorized:
            self.energy_delivered = False  # basic charging without OCPP: deauthorized = ended
        if authorized:
            self.stop_requested = False
            self.lock_override = None  # a new authorization locks the plug again

    def on_transaction_status(self, transaction_id: str, status: p.TransactionState) -> None:
        if status is p.TransactionState.ENDED:
            self.transactions.pop(transaction_id, None)
            if not self.transactions:
                self.authorized = self.free_charging
                self.energy_delivered = False
        else:
            self.transactions[transaction_id] = status.value
        self.last_tx_id = transaction_id

    def stop(self) -> None:
        """``stop_charging``: latched until the EV unplugs or a new authorization arrives."""
        self.stop_requested = True
        self.energy_delivered = False

    # -- views ---------------------------------------------------------------------------------
    def transaction_active(self, contactor_closed: bool) -> bool:
        return bool(self.transactions) or contactor_closed or (self.energy_delivered and self.plugged)

    def may_be_served(self) -> bool:
        """Authorized for basic charging or inside an ISO 15118 session."""
        return self.authorized or self.hlc_active
