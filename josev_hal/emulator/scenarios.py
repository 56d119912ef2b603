"""Scenarios: Josev's side of MESSAGES.md section 2.4, step by step.

``startup`` works against any CS. ``ac`` and ``dc`` also drive the simulated EV through the
simulator's control topic (``sim/cs``), so they need a CS running the simulated board (or a
board whose EVs are driven by hand — then give each step time with ``step_timeout_s``).

A step that does not happen in time is a *failed expectation* and ends the scenario; every
message is still contract-checked. :class:`ScenarioResult` says whether the session completed and
how many messages were checked and broke the contract.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from msgspec import UNSET

from josev_hal.emulator.checker import Violation
from josev_hal.emulator.peer import JosevEmulator
from josev_hal.messages import Message, MessageType, utc_timestamp
from josev_hal.messages import payloads as p

__all__ = ["SCENARIOS", "ScenarioFailed", "ScenarioResult", "run_scenario"]


class ScenarioFailed(Exception):
    """An expected step did not happen."""


@dataclass
class ScenarioResult:
    scenario: str
    completed: bool
    checked: int
    violations: list[Violation]
    failure: str | None = None
    energy_wh: float | None = None
    evse_id: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.completed and not self.violations


@dataclass
class _Ctx:
    emu: JosevEmulator
    fast: bool
    timeout: float
    params: p.CsParametersResponse | None = None
    energy_start: float | None = None
    energy_end: float | None = None
    evse_id: str | None = None
    client_id: str = ""  # the CS's MQTT client id (josev-hal/<client_id>/... topics)


def _is(name: str, type_: MessageType = MessageType.UPDATE, **fields: object) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        if m.name != name or m.type is not type_:
            return False
        return all(getattr(m.data, k, UNSET) == v for k, v in fields.items())

    return match


def _need(msg: Message | None, what: str) -> Message:
    if msg is None:
        raise ScenarioFailed(what)
    return msg


def _cp_state(evse_id: str, prefixes: str) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        return m.name == "cp_status" and m.data.evse_id == evse_id and str(m.data.state.value)[0] in prefixes

    return match


def _contactor(evse_id: str, status: str) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        return m.name == "cs_contactor_status" and m.data.evse_id == evse_id and m.data.status.value == status

    return match


# -- steps --------------------------------------------------------------------------------------


def startup(ctx: _Ctx) -> None:
    """Josev's start-up: service status, cs_parameters (twice, as SLAC and ISO 15118 do),
    cs_status_and_limits, device_model."""
    emu = ctx.emu
    emu.step("Josev starts: services announce themselves, then ask for the station description")
    for service in (
        p.ServiceStatusService.SLAC,
        p.ServiceStatusService.ISO15118,
        p.ServiceStatusService.OCPP,
    ):
        emu.update(
            p.ServiceStatusUpdate(
                service=service,
                software_version="emulator",
                api_version="3.10.0",
                status=p.ServiceRunStatus.READY,
            )
        )
    first = emu.request(p.CsParametersRequest())
    second = emu.request(p.CsParametersRequest())
    resp = _need(first or second, "cs_parameters was not answered")
    ctx.params = resp.data
    # Independent of each other: a missing answer is recorded as a violation and the next
    # request is still tried, so one run reports every gap.
    emu.request(p.CsStatusAndLimitsRequest())
    emu.request(p.DeviceModelRequest())


def _pick(ctx: _Ctx, service: str) -> str:
    assert ctx.params is not None
    for evse in ctx.params.parameters:
        for conn in evse.connectors:
            if getattr(conn.services, service, UNSET) is not UNSET:
                return evse.evse_id
    raise ScenarioFailed(f"cs_parameters declares no EVSE with the {service!r} service")


def _energy(msg: Message | None) -> float | None:
    if msg is None:
        return None
    value = getattr(msg.data, "total_active_energy_imported", UNSET)
    return None if value is UNSET else float(value)


def _charge_for(ctx: _Ctx, evse_id: str, seconds: float) -> None:
    """Let energy flow, polling meter_values like OCPP does."""
    emu = ctx.emu
    deadline = time.monotonic() + seconds
    while True:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        resp = emu.request(p.MeterValuesRequest(evse_id=evse_id, timestamp=utc_timestamp()))
        energy = _energy(resp) if resp is not None and resp.name == "meter_values" else None
        if energy is not None:
            ctx.energy_start = energy if ctx.energy_start is None else ctx.energy_start
            ctx.energy_end = energy
        if time.monotonic() >= deadline:
            break


def ac_session(ctx: _Ctx) -> None:
    """AC basic charging: plug, authorize (RFID), PWM, charge, meter, stop, unplug."""
    emu, t = ctx.emu, ctx.timeout
    startup(ctx)
    evse = ctx.evse_id = _pick(ctx, "ac")
    emu.step(f"AC basic charging on {evse}")
    mark = emu.mark()
    emu.sim(evse, "plug")
    _need(emu.expect_after(mark, _cp_state(evse, "B"), t), "no cp_status B after the EV plugged in")
    mark = emu.mark()
    emu.sim(evse, "rfid", uid="04a2b3c4d5e6f7")
    auth = emu.expect_after(mark, _is("authorization", MessageType.REQUEST), t)
    if auth is None:
        emu.step("no authorization request after the card: authorizing as a CSMS remote start")
        emu.update(
            p.AuthorizationUpdate(
                evse_id=evse, id_token="remote-start", token_type=p.TokenType.CENTRAL,
                status=p.AuthorizationStatus.ACCEPTED,
            )
        )  # fmt: skip
    mark = emu.mark()
    resp = _need(
        emu.request(
            p.CpPwmRequest(evse_id=evse, hlc=False, current=16.0, error_state=False, fault_state=False)
        ),
        "cp_pwm was not answered",
    )
    if resp.data.status is not p.CpPwmStatus.VALID:
        raise ScenarioFailed(f"cp_pwm 16 A answered {resp.data.status.value}")
    _need(emu.expect(_cp_state(evse, "B"), t), "no cp_status after the PWM started")
    mark = emu.mark()
    emu.sim(evse, "charge")
    _need(emu.expect_after(mark, lambda m: _cp_state(evse, "C")(m) and m.data.state.value == "C2", t),
          "no cp_status C2 after the EV requested power")  # fmt: skip
    _need(emu.expect_after(mark, _contactor(evse, "closed"), t), "the contactor did not close in C2")
    _charge_for(ctx, evse, 0.0)  # the meter when power starts to flow
    emu.sim(evse, "current", amps=16)
    _charge_for(ctx, evse, 3.0 if ctx.fast else 20.0)
    _need(emu.request(p.CsContactorStatusRequest(evse_id=evse)), "cs_contactor_status was not answered")
    mark = emu.mark()
    stop = _need(emu.request(p.StopChargingRequest(evse_id=evse)), "stop_charging was not answered")
    if stop.data.status is not p.AcceptedRejected.ACCEPTED:
        raise ScenarioFailed(f"stop_charging answered {stop.data.status.value}")
    # IEC 61851-1 (Table A.6, 10.2): the EVSE withdraws the PWM (C1); the EV ends the draw and
    # opens S2 (B); only then does the contactor open (or after 6 s if the EV stays in C)
    _need(
        emu.expect_after(mark, lambda m: _cp_state(evse, "C")(m) and m.data.state.value == "C1", t),
        "the PWM was not withdrawn (C1) after stop_charging",
    )
    mark = emu.mark()
    emu.sim(evse, "pause")
    _need(
        emu.expect_after(mark, _contactor(evse, "opened"), t),
        "the contactor did not open after stop_charging once the EV was in B",
    )
    mark = emu.mark()
    emu.sim(evse, "unplug")
    _need(emu.expect_after(mark, _cp_state(evse, "A"), t), "no cp_status A after the EV left")


def dc_session(ctx: _Ctx) -> None:
    """DC with ISO 15118: plug, 5 %, SLAC, cable check, pre-charge, current demand, stop."""
    emu, t = ctx.emu, ctx.timeout
    startup(ctx)
    evse = ctx.evse_id = _pick(ctx, "dc")
    emu.step(f"DC charging (ISO 15118) on {evse}")
    mark = emu.mark()
    emu.sim(evse, "plug")
    _need(emu.expect_after(mark, _cp_state(evse, "B"), t), "no cp_status B after the EV plugged in")
    resp = _need(
        emu.request(p.CpPwmRequest(evse_id=evse, hlc=True, error_state=False, fault_state=False)),
        "cp_pwm (5 %) was not answered",
    )
    if resp.data.status is not p.CpPwmStatus.VALID:
        raise ScenarioFailed(f"cp_pwm hlc answered {resp.data.status.value}")
    run_id = uuid.uuid4().hex[:16]
    emu.update(p.SlacStatusUpdate(evse_id=evse, run_id=run_id, status=p.SlacStatus.MATCHING))
    emu.update(p.SlacStatusUpdate(evse_id=evse, run_id=run_id, status=p.SlacStatus.MATCHED))
    emu.update(p.HlcChargingUpdate(evse_id=evse, status=True))
    mark = emu.mark()
    emu.sim(evse, "charge")
    _need(emu.expect_after(mark, lambda m: _cp_state(evse, "C")(m) and m.data.state.value == "C2", t),
          "no cp_status C2 after the EV closed S2")  # fmt: skip
    closing = emu.mark()  # IEC 61851-23: the contactor closes in the cable check and stays closed
    check = _need(
        emu.request(p.CableCheckRequest(evse_id=evse, cable_check_action=p.CableCheckAction.START)),
        "cable_check start was not answered",
    )
    deadline = time.monotonic() + max(t, 15.0)
    while check.data.cable_check_status is not p.CableCheckStatus.FINISHED:
        if time.monotonic() > deadline:
            raise ScenarioFailed("cable_check did not finish")
        time.sleep(0.25)
        check = _need(
            emu.request(p.CableCheckRequest(evse_id=evse, cable_check_action=p.CableCheckAction.STATUS)),
            "cable_check status was not answered",
        )
    level = check.data.isolation_level
    if level not in (p.IsolationLevel.VALID, p.IsolationLevel.WARNING):
        raise ScenarioFailed(f"cable_check finished with isolation {level}")
    limits = p.PowerElectronicsSetpointEvLimits(maximum_voltage=450.0, minimum_voltage=200.0)
    mark = emu.mark()
    precharge = p.PowerElectronicsSetpointDc(voltage=380.0, charge_current=2.0)
    pre = _need(
        emu.request(
            p.PowerElectronicsSetpointRequest(evse_id=evse, is_precharge=True, dc=precharge, ev_limits=limits)
        ),
        "power_electronics_setpoint (pre-charge) was not answered",
    )
    if pre.data.status is not p.AcceptedRejected.ACCEPTED:
        raise ScenarioFailed("pre-charge set-point rejected")
    _need(
        emu.expect_after(closing, _contactor(evse, "closed"), t),
        "the contactor did not close for the cable check and pre-charge",
    )
    status = _need(
        emu.request(p.CsContactorStatusRequest(evse_id=evse)), "cs_contactor_status was not answered"
    )
    if status.data.status.value != "closed":
        raise ScenarioFailed(f"cs_contactor_status says {status.data.status.value} after pre-charge")
    _charge_for(ctx, evse, 0.0)  # the meter before current demand: energy is counted from here
    emu.step("current demand: 100 A at 380 V")
    end = time.monotonic() + (3.0 if ctx.fast else 20.0)
    while time.monotonic() < end:
        r = emu.request(
            p.PowerElectronicsSetpointRequest(
                evse_id=evse,
                dc=p.PowerElectronicsSetpointDc(voltage=380.0, charge_current=100.0),
                ev_limits=limits,
            )
        )
        if r is None or r.data.status is not p.AcceptedRejected.ACCEPTED:
            raise ScenarioFailed("current-demand set-point not accepted")
        time.sleep(0.25)
    _charge_for(ctx, evse, 1.0)
    mark = emu.mark()
    emu.step("the EV ends the session (ISO 15118 SessionStop)")
    emu.update(p.HlcChargingUpdate(evse_id=evse, status=False))
    emu.sim(evse, "pause")
    _need(emu.expect_after(mark, _contactor(evse, "opened"), t), "the contactor did not open at the end")
    mark = emu.mark()
    emu.sim(evse, "unplug")
    _need(emu.expect_after(mark, _cp_state(evse, "A"), t), "no cp_status A after the EV left")


def _ac_limit(evse_id: str, check: Callable[[float, float, float], bool]) -> Callable[[Message], bool]:
    """A cs_status_and_limits update whose AC max_current (l1, l2, l3) of ``evse_id`` passes."""

    def match(m: Message) -> bool:
        if m.name != "cs_status_and_limits" or m.type is not MessageType.UPDATE:
            return False
        for e in m.data.evses:
            ac = getattr(e, "ac", UNSET)
            if e.evse_id == evse_id and ac is not UNSET:
                mc = ac.max_current
                return check(mc.l1, mc.l2, mc.l3)
        return False

    return match


def pv_surplus(ctx: _Ctx) -> None:
    """PV surplus (issue #22): a local energy manager sets the station's power on
    ``josev-hal/<client>/limits/set``; 3000 W does not carry 6 A on three phases, so the EVSE
    pauses the EV, switches to one phase and charges with the whole surplus; 11 kW switches it
    back to three phases. The board needs a phase switch (``sim_pv_board_text``)."""
    emu, t = ctx.emu, ctx.timeout
    startup(ctx)
    evse = ctx.evse_id = _pick(ctx, "ac")
    topic = f"josev-hal/{ctx.client_id}/limits/set"
    emu.step(f"PV surplus on {evse}: an energy manager limits the station's power")
    emu.sim(evse, "ev_pauses_on_x1", active=True)  # a polite EV: B while the PWM is withdrawn
    mark = emu.mark()
    emu.sim(evse, "plug")
    _need(emu.expect_after(mark, _cp_state(evse, "B"), t), "no cp_status B after the EV plugged in")
    emu.update(
        p.AuthorizationUpdate(
            evse_id=evse, id_token="remote-start", token_type=p.TokenType.CENTRAL,
            status=p.AuthorizationStatus.ACCEPTED,
        )
    )  # fmt: skip
    mark = emu.mark()
    emu.sim(evse, "charge")
    emu.sim(evse, "current", amps=16)
    _need(emu.expect_after(mark, _contactor(evse, "closed"), max(t, 10.0)), "the contactor did not close")
    _charge_for(ctx, evse, 0.0)
    for watts, phases in ((3000, 1), (11040, 3)):
        mark = emu.mark()
        emu.publish_json(topic, {"scope": "*", "watts": watts, "ttl_s": 600}, f"energy manager: {watts} W")
        _need(
            emu.expect_after(mark, lambda m: _cp_state(evse, "B")(m), max(t, 10.0)),
            f"the EV was not paused (B) for the switch to {phases} phase(s)",
        )
        if phases == 1:
            want = _ac_limit(evse, lambda l1, l2, l3: 12.0 < l1 <= 13.1)
        else:
            want = _ac_limit(evse, lambda l1, l2, l3: l1 >= 15.9)
        _need(emu.expect_after(mark, want, max(t, 15.0)), f"no {watts} W limit in cs_status_and_limits")
        _need(
            emu.expect_after(
                mark, lambda m: _cp_state(evse, "C")(m) and m.data.state.value == "C2", max(t, 15.0)
            ),
            f"the EV did not resume (C2) on {phases} phase(s)",
        )
        _need(
            emu.expect_after(mark, _contactor(evse, "closed"), max(t, 15.0)),
            "the contactor did not close again",
        )
        _charge_for(ctx, evse, 2.0 if ctx.fast else 10.0)
    emu.publish_json(topic, {"scope": "*", "clear": True}, "energy manager: limit cleared")
    mark = emu.mark()
    stop = _need(emu.request(p.StopChargingRequest(evse_id=evse)), "stop_charging was not answered")
    if stop.data.status is not p.AcceptedRejected.ACCEPTED:
        raise ScenarioFailed(f"stop_charging answered {stop.data.status.value}")
    _need(emu.expect_after(mark, _contactor(evse, "opened"), max(t, 10.0)), "the contactor did not open")
    mark = emu.mark()
    emu.sim(evse, "unplug")
    _need(emu.expect_after(mark, _cp_state(evse, "A"), t), "no cp_status A after the EV left")


SCENARIOS: dict[str, Callable[[_Ctx], None]] = {
    "startup": startup,
    "ac": ac_session,
    "dc": dc_session,
    "pv-surplus": pv_surplus,
}


#: Scenarios in which energy must flow: PASSED needs a meter that counted some.
CHARGING_SCENARIOS = frozenset({"ac", "dc", "pv-surplus"})


def _delivered(ctx: _Ctx) -> float | None:
    if ctx.energy_start is None or ctx.energy_end is None:
        return None
    return ctx.energy_end - ctx.energy_start


def run_scenario(
    emu: JosevEmulator, name: str, *, fast: bool = True, step_timeout_s: float = 5.0, client_id: str = ""
) -> ScenarioResult:
    """Run one scenario and collect the verdict (never raises for CS misbehaviour).
    ``client_id``: the CS's MQTT client id, for scenarios that use its own topics."""
    ctx = _Ctx(emu=emu, fast=fast, timeout=step_timeout_s, client_id=client_id)
    failure = None
    try:
        SCENARIOS[name](ctx)
        if name in CHARGING_SCENARIOS and ctx.evse_id is not None:
            # The meter once the session is over (contactor open): the energy delivered is the
            # whole session's, not just the polling window's. A request may be answered from the
            # CS's last periodic reading (taken before the contactor opened), so the next
            # meter_values update is the one to count; a CS without updates is asked.
            mark = emu.mark()
            update = emu.expect_after(mark, _is("meter_values", evse_id=ctx.evse_id), ctx.timeout)
            energy = _energy(update)
            if energy is not None and ctx.energy_start is not None:
                ctx.energy_end = energy
            else:
                _charge_for(ctx, ctx.evse_id, 0.0)
            delivered = _delivered(ctx)
            if delivered is None or delivered <= 0.0:
                seen = "no meter value" if delivered is None else f"{delivered:.3f} Wh"
                raise ScenarioFailed(
                    f"the session delivered no energy ({seen} between contactor close and open)"
                )
    except ScenarioFailed as exc:
        failure = str(exc)
        emu.emit("step", "scenario failed", violation=failure)
    time.sleep(0.3)  # let in-flight updates arrive and be checked
    for rid, rname in emu.checker.unanswered().items():
        emu.checker.violation(f"{rname}.request", f"request {rid} never answered")
    energy = _delivered(ctx)
    return ScenarioResult(
        scenario=name,
        completed=failure is None,
        checked=emu.checker.checked,
        violations=list(emu.checker.violations),
        failure=failure,
        energy_wh=energy,
        evse_id=ctx.evse_id,
    )
