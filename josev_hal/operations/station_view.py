"""The one place where operations touches the station core.

Everything the endpoint, the counters and the commissioning run read from or ask of the station
goes through :class:`StationView`, using only the public controller API the station owner keeps
stable (see /work/coord notes: ``evse_id``, ``cp_states``, ``faults``, ``last_decision``,
``snapshot()``, ``clear_faults()`` ...). When the core is renamed or split, this file is the only
one to follow it.

Operator actions call the same controller methods Josev's requests end in, so the interlocks
decide exactly as they do for Josev: an action never sets a flag or drives a device itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET

from josev_hal.errors import DeviceError, HalError
from josev_hal.messages import payloads as p
from josev_hal.station.events import StationEvent

if TYPE_CHECKING:
    from josev_hal.functions import Functions
    from josev_hal.station import EvseController, Station

__all__ = ["ActionResult", "StationView", "UnknownEvse"]

log = logging.getLogger(__name__)


class UnknownEvse(HalError):
    """An action or a query named an EVSE (or connector) this station does not have."""


class ActionResult(msgspec.Struct, frozen=True):
    """What an operator action did: ``ok`` False with ``reason`` when the core refused it."""

    ok: bool
    reason: str = ""
    detail: dict[str, Any] | None = None


def _unset(value: Any) -> Any:
    return None if value is UNSET else value


class StationView:
    """Read the station's state as plain data and run operator actions through its core."""

    def __init__(self, station: Station, functions: Functions | None = None) -> None:
        self._station = station
        # The station functions own availability (persisted, announced to Josev, never cutting a
        # session unless forced) and cs_connector (waits for the lock's feedback): operator
        # actions use them when the daemon has them, like Josev's requests do.
        self._functions = functions

    # -- structure -----------------------------------------------------------------------------
    def evse_ids(self) -> list[str]:
        return list(self._station.controllers)

    def controller(self, evse_id: str) -> EvseController:
        try:
            return self._station.controller(evse_id)
        except HalError as exc:
            raise UnknownEvse(str(exc)) from None

    def is_dc(self, evse_id: str) -> bool:
        return str(self.controller(evse_id).settings.kind.value) == "dc"

    def add_event_listener(self, fn: Callable[[StationEvent], None]) -> None:
        """Subscribe ``fn`` to every EVSE's station events (called outside the core's lock)."""
        for controller in self._station.controllers.values():
            controller.add_event_listener(fn)

    def bus_stats(self) -> dict[str, dict[str, int]]:
        """Counters of the buses that keep them (CAN: frames and errors), by bus name."""
        out: dict[str, dict[str, int]] = {}
        for name, bus in self._station.board.buses.items():
            stats = getattr(bus, "stats", None)
            if not callable(stats):
                continue
            try:
                out[name] = {str(k): int(v) for k, v in stats().items()}
            except Exception:  # a bus's counters must never break /status or /metrics
                log.exception("bus %s: stats failed", name)
        return out

    # -- state ---------------------------------------------------------------------------------
    def evse_status(self, evse_id: str) -> dict[str, Any]:
        """One EVSE as JSON-ready data (the ``evses[]`` entry of ``GET /status``)."""
        c = self.controller(evse_id)
        connectors: dict[int, dict[str, Any]] = {
            cid: {"id": cid, "cp_state": state} for cid, state in c.cp_states.items()
        }
        for cid in c.connector_ids:
            connectors.setdefault(cid, {"id": cid, "cp_state": None})
        limits: dict[str, Any] = {}
        # snapshot() gives what Josev sees after a reconnect: the measured CP plateaus and duty,
        # the cable (PP ampacity, lock) and the limits -- the same numbers, never a second path.
        for payload in c.snapshot():
            if isinstance(payload, p.CpStatusUpdate):
                entry = connectors.setdefault(payload.connector_id, {"id": payload.connector_id})
                entry["cp_high_v"] = _unset(payload.max_voltage)
                entry["cp_low_v"] = _unset(payload.min_voltage)
                entry["pwm_duty_percent"] = _unset(payload.duty_cycle)
            elif isinstance(payload, p.CableInfoUpdate):
                # cable_info has no connector id: it is the EVSE's socket (one per EVSE here)
                cid = c.lock_connector_id or next(iter(c.connector_ids), 1)
                entry = connectors.setdefault(cid, {"id": cid})
                status = _unset(payload.connection_status)
                lock = _unset(payload.lock)
                entry["cable"] = {
                    "connected": None if status is None else str(status.value) == "connected",
                    "ampacity_a": _unset(payload.rated_cable_current),
                    "lock": None if lock is None else str(lock.value),
                }
            elif isinstance(payload, p.CsStatusAndLimitsUpdate):
                for item in payload.evses:
                    if item.evse_id == evse_id:
                        limits = _limits(item)
        decision = c.last_decision
        faults = [
            {
                "key": f.key,
                "component": f.component,
                "name": str(f.fault_name.value),
                "detail": f.detail,
                "latched": f.latched,
                "blocks": f.blocks,
            }
            for f in c.faults.values()
        ]
        return {
            "evse_id": evse_id,
            "kind": "dc" if self.is_dc(evse_id) else "ac",
            "status_code": str(c.status_code().value),
            "available": c.available,
            "rcd_tripped": c.rcd_tripped,
            "contactor": {"commanded_closed": c.contactor_closed, "status": c.contactor_status()},
            "may_close": bool(decision.may_close) if decision is not None else False,
            "blockers": [str(b.value) for b in decision.blockers] if decision is not None else [],
            "faults": faults,
            "limit_a": round(c.ac_limit_a(), 1),
            # every limit on the current and which one binds (rating, cable, derating, grid, local, Josev)
            "current_limit": c.limits().as_dict(),
            "limits": limits,
            "connectors": [connectors[k] for k in sorted(connectors)],
            "meter": self._meter(c),
        }

    @staticmethod
    def _meter(c: EvseController) -> dict[str, Any] | None:
        if c.devices.meter is None:
            return None
        try:
            reading = c.meter_values()
        except DeviceError as exc:
            return {"ok": False, "error": str(exc)}
        out: dict[str, Any] = {
            "ok": True,
            "age_s": round(max(0.0, time.monotonic() - reading.taken_at), 3),
            "power_w": reading.power_w,
            "energy_wh": reading.energy_import_wh,
        }
        if reading.voltage_v is not None:
            out["voltage_v"] = [reading.voltage_v.l1, reading.voltage_v.l2, reading.voltage_v.l3]
        if reading.current_a is not None:
            out["current_a"] = [reading.current_a.l1, reading.current_a.l2, reading.current_a.l3]
        if reading.dc_voltage_v is not None:
            out["dc_voltage_v"] = reading.dc_voltage_v
        if reading.dc_current_a is not None:
            out["dc_current_a"] = reading.dc_current_a
        return out

    def energy_wh(self, evse_id: str) -> float | None:
        """The meter's import register now, or None (no meter, no fresh reading)."""
        c = self.controller(evse_id)
        if c.devices.meter is None:
            return None
        try:
            return c.meter_values().energy_import_wh
        except DeviceError:
            return None

    # -- operator actions ----------------------------------------------------------------------
    def clear_faults(self, evse_id: str) -> ActionResult:
        c = self.controller(evse_id)
        cleared = c.clear_faults()
        remaining = [k for k, f in c.faults.items() if f.latched]
        detail = {"cleared": cleared, "still_latched": remaining}
        if remaining:
            reasons = ", ".join(f"{k}: {c.faults[k].detail}" for k in remaining if k in c.faults)
            return ActionResult(False, f"cause still present ({reasons})", detail)
        return ActionResult(True, "", detail)

    def reset_rcd(self, evse_id: str) -> ActionResult:
        c = self.controller(evse_id)
        if c.reset_rcd():
            return ActionResult(True)
        return ActionResult(False, "the RCD still reads tripped (residual current present or module fault)")

    def rcd_self_test(self, evse_id: str) -> ActionResult:
        c = self.controller(evse_id)
        passed, detail = c.run_rcd_self_test()
        if passed:
            return ActionResult(True, "", {"passed": True, "detail": detail})
        if detail.startswith("refused"):  # the core did not run it (contactor closed, stopping ...)
            return ActionResult(False, detail)
        return ActionResult(False, f"RCD self-test failed: {detail}", {"passed": False, "detail": detail})

    def set_available(self, evse_id: str, available: bool, *, force: bool = False) -> ActionResult:
        """Operative / inoperative. Through the availability manager when there is one: persisted,
        announced to Josev, and a change to inoperative waits for a running session to end
        unless ``force``."""
        c = self.controller(evse_id)
        if self._functions is None:
            c.set_available(available)
        else:
            try:
                self._functions.availability.set_local(available, evse_id, force=force)
            except ValueError as exc:
                return ActionResult(False, str(exc))
        detail: dict[str, Any] = {"available": c.available}
        if c.available != available:
            if not available and not force:
                detail["scheduled"] = True
                return ActionResult(
                    True, "", {**detail, "info": "takes effect when the running session ends"}
                )
            return ActionResult(False, "the core kept the previous availability", detail)
        return ActionResult(True, "", detail)

    def set_lock(self, evse_id: str, connector_id: int | None, locked: bool) -> ActionResult:
        """Lock / unlock through the core (``request_lock``: never unlocks under load); with the
        station functions, the cs_connector path that also waits for the lock's feedback."""
        c = self.controller(evse_id)
        cid = connector_id if connector_id is not None else c.lock_connector_id
        if cid is None:
            return ActionResult(False, f"evse {evse_id} has no connector lock the core drives")
        if self._functions is not None:
            state, info = self._functions.connector.act(evse_id, cid, "lock" if locked else "unlock")
            wanted = "locked" if locked else "unlocked"
            if state != wanted or info:
                return ActionResult(False, info or f"lock is {state}", {"connector_id": cid, "lock": state})
            return ActionResult(True, "", {"connector_id": cid, "lock": state})
        refusal = c.request_lock(cid, locked)
        if refusal is not None:
            return ActionResult(False, refusal)
        return ActionResult(True, "", {"connector_id": cid, "locked": locked})

    # -- commissioning (the command owns the station: no daemon runs) ---------------------------
    def profile_cp_bands(self, evse_id: str) -> dict[str, tuple[float, float]]:
        """The profile's CP voltage band per state letter (``"A"`` -> (11.0, 13.0) ...)."""
        profile = self._station.profile
        cp = profile.cp_settings(profile.evse_by_id(evse_id))
        bands: dict[str, tuple[float, float]] = {}
        for letter in ("A", "B", "C", "D", "E", "F"):
            low, high = getattr(cp, f"state_{letter.lower()}_v")
            bands[letter] = (float(low), float(high))
        return bands

    def station_info(self) -> dict[str, str]:
        info = self._station.profile.station
        return {
            "vendor": info.vendor,
            "model": info.model,
            "serial_number": info.serial_number,
            "hw_version": info.hw_version,
        }

    def timing_limits(self, evse_id: str) -> dict[str, float]:
        settings = self.controller(evse_id).settings
        return {
            "contactor_feedback_timeout_s": settings.contactor_feedback_timeout_s,
            "lock_timeout_s": settings.lock_timeout_s,
        }

    def has_rcd(self, evse_id: str) -> bool:
        return self.controller(evse_id).devices.rcd is not None

    def has_imd(self, evse_id: str) -> bool:
        return self.controller(evse_id).devices.isolation_monitor is not None

    def lock_connector(self, evse_id: str) -> int | None:
        return self.controller(evse_id).lock_connector_id

    def commissioning_rcd_self_test(self, evse_id: str) -> tuple[bool, str]:
        """The RCD's self-test through the core (refused while the contactor may be closed; a
        failed test blocks closing until a test passes)."""
        c = self.controller(evse_id)
        if c.devices.rcd is None:
            return False, "no RCD configured"
        passed, detail = c.run_rcd_self_test()
        return bool(passed), str(detail)

    def imd_self_test(self, evse_id: str) -> tuple[bool, str]:
        """The insulation monitor's self-test (DC), with the output off (EVSE idle)."""
        c = self.controller(evse_id)
        imd = c.devices.isolation_monitor
        if imd is None:
            return False, "no isolation monitor configured"
        if c.contactor_closed:
            return False, "not run: the contactor is closed"
        try:
            passed = bool(imd.self_test())
        except DeviceError as exc:
            return False, f"IMD did not answer: {exc}"
        return passed, "self-test passed" if passed else "IMD self-test failed"

    def cp_line(self, evse_id: str, connector_id: int) -> dict[str, Any]:
        """What the CP generator applies and what the board measures on the line right now."""
        cp = self.controller(evse_id).devices.cp[connector_id]
        try:
            sample, output = cp.read(), cp.output
        except DeviceError as exc:
            return {"error": str(exc)}
        return {
            "positive_v": sample.positive_v,
            "negative_v": sample.negative_v,
            "measured_duty_percent": sample.duty_percent,
            "output_mode": str(output.mode.value),
            "output_duty_percent": output.duty_percent,
        }

    def request_basic_pwm(self, evse_id: str, current_a: float) -> tuple[bool, str]:
        """Josev's ``cp_pwm`` path (basic charging at ``current_a``)."""
        c = self.controller(evse_id)
        req = p.CpPwmRequest(
            evse_id=evse_id, hlc=False, current=current_a, error_state=False, fault_state=False
        )
        resp = c.handle_cp_pwm(req)
        return str(resp.status.value) == "valid", str(_unset(resp.info) or "")

    # -- DC session steps, through the same handlers as Josev's messages ------------------------
    def dc_begin_hlc(self, evse_id: str) -> tuple[bool, str]:
        """5 % PWM (``cp_pwm`` hlc), SLAC matched and ``hlc_charging`` true: an ISO 15118 session."""
        c = self.controller(evse_id)
        resp = c.handle_cp_pwm(
            p.CpPwmRequest(evse_id=evse_id, hlc=True, error_state=False, fault_state=False)
        )
        if str(resp.status.value) != "valid":
            return False, f"cp_pwm hlc answered {resp.status.value}: {_unset(resp.info) or ''}"
        c.on_slac_status(p.SlacStatus.MATCHING)
        c.on_slac_status(p.SlacStatus.MATCHED)
        c.on_hlc_charging(True)
        return True, ""

    def dc_end_hlc(self, evse_id: str) -> None:
        self.controller(evse_id).on_hlc_charging(False)

    def dc_cable_check(self, evse_id: str, timeout_s: float) -> tuple[str | None, str]:
        """Start the cable check and poll it like Josev; (isolation level, detail)."""
        c = self.controller(evse_id)
        resp = c.handle_cable_check(p.CableCheckAction.START)
        deadline = time.monotonic() + timeout_s
        while str(resp.cable_check_status.value) != "finished":
            if time.monotonic() > deadline:
                return None, f"not finished within {timeout_s:g} s"
            time.sleep(0.2)
            resp = c.handle_cable_check(p.CableCheckAction.STATUS)
        level = _unset(resp.isolation_level)
        return (None if level is None else str(level.value)), "finished"

    def dc_setpoint(self, evse_id: str, *, precharge: bool, voltage_v: float, current_a: float) -> bool:
        c = self.controller(evse_id)
        req = p.PowerElectronicsSetpointRequest(
            evse_id=evse_id,
            is_precharge=precharge,
            dc=p.PowerElectronicsSetpointDc(voltage=voltage_v, charge_current=current_a),
            ev_limits=p.PowerElectronicsSetpointEvLimits(
                maximum_voltage=voltage_v + 70.0, minimum_voltage=0.0
            ),
        )
        return str(c.handle_power_electronics_setpoint(req).status.value) == "accepted"

    def request_lock_core(self, evse_id: str, connector_id: int, locked: bool) -> str | None:
        return self.controller(evse_id).request_lock(connector_id, locked)


def _limits(item: p.CsStatusAndLimitsUpdateEvse) -> dict[str, Any]:
    ac, dc = _unset(getattr(item, "ac", UNSET)), _unset(getattr(item, "dc", UNSET))
    if ac is not None:
        mc = ac.max_current
        return {"max_current_a": [mc.l1, mc.l2, mc.l3], "nominal_voltage_v": ac.nominal_voltage}
    if dc is not None:
        return {
            "present_voltage_v": dc.present_voltage,
            "present_current_a": dc.present_current,
            "max_current_a": dc.max_current,
            "max_power_w": dc.max_power,
        }
    return {}
