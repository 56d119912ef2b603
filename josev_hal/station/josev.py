"""Josev's power-path requests to one EVSE: ``cp_pwm``, ``stop_charging``, ``cs_contactor_status``,
``cable_check``, ``power_electronics_setpoint``.

:class:`JosevRequests` validates a request, changes the session state it concerns and lets the
controller's evaluate step act (every handler runs as ``core.run(apply)``: under the EVSE lock,
followed by an evaluation, with the resulting updates published after release). No handler
switches anything itself: a request can only *ask*; the interlock decides.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from msgspec import UNSET

from josev_hal.messages import payloads as p
from josev_hal.station.pwm import MAX_BASIC_CURRENT_A, MIN_BASIC_CURRENT_A
from josev_hal.station.session import PWM_X1

if TYPE_CHECKING:
    from josev_hal.station.evse import EvseController

__all__ = ["JosevRequests"]

log = logging.getLogger(__name__)


class JosevRequests:
    """Request handlers of one EVSE (see the module docstring)."""

    def __init__(self, core: EvseController) -> None:
        self.core = core
        self.evse_id = core.evse_id

    # -- cp_pwm --------------------------------------------------------------------------------
    def cp_pwm(self, req: p.CpPwmRequest) -> p.CpPwmResponse:
        """Apply a ``cp_pwm`` request (see MESSAGES.md: fault_state > error_state > hlc/basic)."""
        core = self.core

        def invalid(info: str) -> p.CpPwmResponse:
            log.warning("evse=%s cp_pwm invalid: %s", self.evse_id, info)
            return p.CpPwmResponse(evse_id=self.evse_id, status=p.CpPwmStatus.INVALID, info=info)

        current = None if req.current is UNSET else float(req.current)
        if req.fault_state or req.error_state:
            forced = "f" if req.fault_state else "e"

            def force(now: float) -> p.CpPwmResponse:
                core.session.forced = forced
                return p.CpPwmResponse(evse_id=self.evse_id, status=p.CpPwmStatus.VALID)

            result: p.CpPwmResponse = core.run(force)
            return result
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
            s = core.session
            wants_pwm = req.hlc or (current is not None and current > 0)
            if wants_pwm:
                reason = core.pwm_refusal()
                if reason is not None:
                    return p.CpPwmResponse(evse_id=self.evse_id, status=p.CpPwmStatus.ERROR, info=reason)
            s.forced = None
            s.pwm_from_josev = True
            if req.hlc:
                s.pwm_request = ("hlc", None)
            elif current is not None and current > 0:
                s.pwm_request = ("basic", current)
            else:
                s.pwm_request = PWM_X1
            return p.CpPwmResponse(evse_id=self.evse_id, status=p.CpPwmStatus.VALID)

        answer: p.CpPwmResponse = core.run(apply)
        return answer

    # -- stop_charging -------------------------------------------------------------------------
    def stop_charging(self) -> p.StopChargingResponse:
        """Stop the energy transfer: the PWM goes off at once; the contactor opens once the EV is
        in B (at the latest 6 s later, see :mod:`josev_hal.station.ac`; DC: at once). Latched
        until the EV unplugs or a new authorization arrives."""
        core = self.core

        def apply(now: float) -> p.StopChargingResponse:
            core.session.stop()
            if core.dc:
                core.open_contactor("stop_charging", now)
            return p.StopChargingResponse(evse_id=self.evse_id, status=p.AcceptedRejected.ACCEPTED)

        result: p.StopChargingResponse = core.run(apply)
        return result

    # -- cs_contactor_status -------------------------------------------------------------------
    def contactor_status(self) -> p.CsContactorStatusResponse:
        core = self.core

        def apply(now: float) -> p.CsContactorStatusResponse:
            status = core.contactor_status()
            kwargs: dict[str, Any] = {}
            if status == "error":
                kwargs["info"] = (
                    "; ".join(f.detail for f in core.fault_book.of_component("contactor"))[:200]
                    or "contactor fault"
                )
            return p.CsContactorStatusResponse(
                evse_id=self.evse_id, status=p.ContactorStatus(status), **kwargs
            )

        result: p.CsContactorStatusResponse = core.run(apply)
        return result

    # -- DC --------------------------------------------------------------------------------
    def cable_check(self, action: p.CableCheckAction) -> p.CableCheckResponse:
        """DC cable check: start the IEC 61851-23 sequence; report ongoing / finished + level."""
        core = self.core

        def apply(now: float) -> p.CableCheckResponse:
            if not core.dc:
                log.warning("evse=%s cable_check on an AC EVSE", self.evse_id)
                return p.CableCheckResponse(
                    evse_id=self.evse_id,
                    cable_check_status=p.CableCheckStatus.FINISHED,
                    isolation_level=p.IsolationLevel.INVALID,
                )
            refusal = core.pwm_refusal()
            if refusal is None and not core.session.hlc_active:
                refusal = "no ISO 15118 session (hlc_charging)"
            return core.dc_path.cable_check(action, refusal, now)

        result: p.CableCheckResponse = core.run(apply)
        return result

    def power_electronics_setpoint(
        self, req: p.PowerElectronicsSetpointRequest
    ) -> p.PowerElectronicsSetpointResponse:
        """DC: pre-charge (after a cable check of this session) lets the interlock close, then
        the module follows the set-point; current demand needs the contactor closed for energy
        transfer. AC set-points are accepted and recorded."""
        core = self.core

        def reply(ok: bool, why: str = "") -> p.PowerElectronicsSetpointResponse:
            if not ok:
                log.warning("evse=%s power_electronics_setpoint rejected: %s", self.evse_id, why)
            status = p.AcceptedRejected.ACCEPTED if ok else p.AcceptedRejected.REJECTED
            return p.PowerElectronicsSetpointResponse(evse_id=self.evse_id, status=status)

        def apply(now: float) -> p.PowerElectronicsSetpointResponse:
            refusal = core.pwm_refusal()
            if refusal is not None:
                return reply(False, refusal)
            if not core.dc:
                ok = req.ac is not UNSET
                return reply(ok, "" if ok else "DC set-point for an AC EVSE")
            dc = core.dc_path
            setpoint = dc.validate(req)
            if isinstance(setpoint, str):
                return reply(False, setpoint)
            if setpoint.precharge:
                if not (dc.cable_check_passed and dc.cable_check_session == dc.session):
                    return reply(False, "pre-charge before a passed cable check of this session")
                dc.start_precharge()
                core.evaluate_locked(now)  # the interlock closes now if it may
            decision = core.last_decision
            if not core.contactor_closed or decision is None or not decision.may_close:
                why = decision.why() if decision is not None else "contactor open"
                return reply(False, f"contactor may not close for energy transfer: {why}")
            error = dc.apply(setpoint, core.derating_limit_a)
            return reply(error is None, error or "")

        result: p.PowerElectronicsSetpointResponse = core.run(apply)
        return result
