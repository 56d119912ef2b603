"""EvseController behaviour on the simulated board with a manual clock (no broker, no sleeps).

Each test drives the sim EV / faults and checks what the core commanded and published."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from josev_hal_sim.physics import EvRequest

from josev_hal.devices import CpMode
from josev_hal.errors import DeviceError
from josev_hal.messages import payloads as p
from josev_hal.station.config import RcdResetPolicy, SafetySettings
from josev_hal.station.interlocks import Blocker
from tests.support.contract import Contract
from tests.support.station import SimEvse, sim_evses


@pytest.fixture
def rigs() -> Iterator[list[SimEvse]]:
    with sim_evses() as made:
        yield made


@pytest.fixture
def ac(rigs: list[SimEvse]) -> SimEvse:
    rig = SimEvse("ac")
    rigs.append(rig)
    return rig


@pytest.fixture
def dc(rigs: list[SimEvse]) -> SimEvse:
    rig = SimEvse("dc")
    rigs.append(rig)
    return rig


#: past ``[contactor] min_close_interval_s`` (10 s): a test that closes again waits this long
INTERVAL_S = 10.0


def charging(rig: SimEvse) -> None:
    rig.plug()
    rig.tick()  # the sampling step runs the RCD self-test of the new session
    rig.charge()
    rig.settle(0.3)
    assert rig.ctl.contactor_closed and rig.world.relay.feedback


def charging_again(rig: SimEvse) -> None:
    """The next closing, once the minimum interval since the last one has passed."""
    rig.charge()
    rig.settle(INTERVAL_S)
    assert rig.ctl.contactor_closed and rig.world.relay.feedback


def states(rig: SimEvse) -> list[str]:
    return [m.state.value for m in rig.of(p.CpStatusUpdate)]


def contactor_updates(rig: SimEvse) -> list[str]:
    return [m.status.value for m in rig.of(p.CsContactorStatusUpdate)]


def pwm(rig: SimEvse, **fields: object) -> p.CpPwmResponse:
    base: dict[str, object] = {"hlc": False, "error_state": False, "fault_state": False}
    return rig.ctl.handle_cp_pwm(p.CpPwmRequest(evse_id=rig.evse_id, **{**base, **fields}))  # type: ignore[arg-type]


# -- AC basic charging ---------------------------------------------------------------------------


def test_free_ac_session_reports_every_state_and_closes_only_in_c2(ac: SimEvse) -> None:
    charging(ac)
    ac.pause()
    ac.settle(0.3)
    ac.unplug()
    ac.settle(0.3)
    assert states(ac) == ["A1", "B1", "B2", "C2", "B2", "A2", "A1"]
    assert contactor_updates(ac) == ["opened", "closed", "opened"]
    assert not ac.ctl.contactor_closed


def test_contactor_opens_when_cp_drops_to_b_on_the_notifying_thread(ac: SimEvse) -> None:
    charging(ac)
    ac.world.set_request(EvRequest.IDLE)  # no tick: the driver's notify() alone must open it
    assert not ac.ctl.contactor_closed
    assert ac.world.relay.commanded is False


@pytest.mark.parametrize("action", ["unplug", "cp_short", "diode_fault"])
def test_contactor_opens_on_a_and_e(ac: SimEvse, action: str) -> None:
    charging(ac)
    {
        "unplug": ac.world.unplug,
        "cp_short": ac.world.set_cp_shorted,
        "diode_fault": ac.world.set_diode_shorted,
    }[action]()
    ac.tick()
    assert not ac.ctl.contactor_closed
    assert ac.ctl.cp_states[1] in ("A1", "A2", "E")


def test_without_authorization_there_is_no_pwm_and_no_closing(rigs: list[SimEvse]) -> None:
    rig = SimEvse("ac", free_charging=False)
    rigs.append(rig)
    rig.plug()
    rig.tick()
    rig.charge()
    rig.settle(0.3)
    assert rig.ctl.cp_states[1] == "C1" and not rig.ctl.contactor_closed
    assert rig.ctl.last_decision is not None and Blocker.NOT_AUTHORIZED in rig.ctl.last_decision.blockers
    rig.ctl.on_authorization(p.AuthorizationStatus.ACCEPTED)
    rig.settle(0.3)
    assert rig.ctl.cp_states[1] == "C2" and rig.ctl.contactor_closed
    rig.ctl.on_authorization(p.AuthorizationStatus.DEAUTHORIZED)
    assert rig.world.cp.mode is CpMode.X1, "the offer is withdrawn at once"
    rig.pause()  # the EV follows (C1 -> B1)
    assert not rig.ctl.contactor_closed


def test_hlc_session_closes_at_5_percent_without_basic_authorization(rigs: list[SimEvse]) -> None:
    rig = SimEvse("ac", free_charging=False)
    rigs.append(rig)
    rig.plug()
    rig.tick()
    assert pwm(rig, hlc=True).status is p.CpPwmStatus.VALID
    rig.ctl.on_slac_status(p.SlacStatus.MATCHED)
    rig.ctl.on_hlc_charging(True)
    rig.charge()
    rig.settle(0.3)
    assert rig.world.cp.duty_percent == 5.0
    assert rig.ctl.cp_states[1] == "C2" and rig.ctl.contactor_closed
    rig.ctl.on_hlc_charging(False)
    assert not rig.ctl.contactor_closed


def test_stop_charging_withdraws_the_pwm_opens_in_b_and_holds_until_a_new_authorization(ac: SimEvse) -> None:
    charging(ac)
    assert ac.ctl.handle_stop_charging().status is p.AcceptedRejected.ACCEPTED
    assert ac.ctl.cp_states[1] == "C1" and ac.world.cp.mode is CpMode.X1  # PWM withdrawn at once
    ac.pause()  # the EV ramps down and goes to B: now the contactor opens without load
    assert not ac.ctl.contactor_closed
    ac.charge()
    ac.settle(0.5)
    assert not ac.ctl.contactor_closed and ac.ctl.cp_states[1] == "C1"  # stop holds
    ac.ctl.set_authorized(True)
    ac.settle(INTERVAL_S)
    assert ac.ctl.contactor_closed


def test_inoperative_opens_at_once_drives_f_and_refuses_pwm(ac: SimEvse) -> None:
    charging(ac)
    ac.ctl.set_available(False)
    assert not ac.ctl.contactor_closed
    ac.tick()
    assert ac.world.cp.mode is CpMode.STATE_F and ac.ctl.cp_states[1] == "F"
    assert pwm(ac, current=16.0).status is p.CpPwmStatus.ERROR
    ac.ctl.set_available(True)
    ac.settle(INTERVAL_S)
    assert ac.ctl.contactor_closed


# -- cp_pwm ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "mode", "duty"),
    [
        ({"hlc": True}, CpMode.PWM, 5.0),
        ({"current": 16.0}, CpMode.PWM, 26.67),
        ({"current": 6.0}, CpMode.PWM, 10.0),
        ({"current": 0.0}, CpMode.X1, None),
        ({"current": 16.0, "error_state": True}, CpMode.STATE_E, None),
        ({"hlc": True, "error_state": True, "fault_state": True}, CpMode.STATE_F, None),
    ],
)
def test_cp_pwm_sets_the_generator(
    ac: SimEvse, fields: dict[str, object], mode: CpMode, duty: float | None
) -> None:
    ac.plug()
    ac.tick()
    assert pwm(ac, **fields).status is p.CpPwmStatus.VALID
    ac.tick()
    assert ac.world.cp.mode is mode
    assert ac.world.cp.duty_percent == duty


@pytest.mark.parametrize(
    ("fields", "info"),
    [
        ({"hlc": True, "current": 16.0}, "absent"),
        ({}, "required"),
        ({"current": 3.0}, "outside"),
        ({"current": 81.0}, "outside"),
    ],
)
def test_invalid_cp_pwm_combinations_are_answered_invalid_and_change_nothing(
    ac: SimEvse, fields: dict[str, object], info: str
) -> None:
    ac.plug()
    ac.tick()
    before = (ac.world.cp.mode, ac.world.cp.duty_percent)
    response = pwm(ac, **fields)
    assert response.status is p.CpPwmStatus.INVALID and info in str(response.info)
    assert (ac.world.cp.mode, ac.world.cp.duty_percent) == before


def test_advertised_current_is_capped_by_the_cable_and_the_derating(ac: SimEvse) -> None:
    ac.world.plug(cable_a=13)
    ac.tick()
    assert ac.world.cp.duty_percent == pytest.approx(21.67)
    limits = ac.of(p.CsStatusAndLimitsUpdate)[-1].evses[0].ac
    assert isinstance(limits, p.CsStatusAndLimitsAc) and limits.max_current.l1 == 13.0
    assert ac.of(p.CableInfoUpdate)[-1].rated_cable_current == 13
    ac.ctl.set_derating_limit(10.0)
    assert ac.world.cp.duty_percent == pytest.approx(16.67)
    last = ac.of(p.CsStatusAndLimitsUpdate)[-1].evses[0].ac
    assert isinstance(last, p.CsStatusAndLimitsAc) and last.max_current.l1 == 10.0


# -- faults ----------------------------------------------------------------------------------------


def test_rcd_trip_opens_reports_ground_fault_and_needs_a_manual_reset(ac: SimEvse) -> None:
    charging(ac)
    ac.world.rcd_trip()
    ac.tick()
    assert not ac.ctl.contactor_closed
    faults = ac.of(p.HardwareFaultUpdate)
    assert [(f.component_name, f.fault_name) for f in faults] == [("rcd", p.HardwareFaultName.GROUND_FAULT)]
    entry = ac.of(p.CsStatusAndLimitsUpdate)[-1].evses[0]
    assert entry.status_code is p.EvseStatusCode.EVSE_EMERGENCY_SHUTDOWN
    assert isinstance(entry.ac, p.CsStatusAndLimitsAc) and entry.ac.rcd_error
    ac.world.rcd_clear()
    ac.settle(0.5)
    assert not ac.ctl.contactor_closed, "manual policy: a cleared RCD still needs a reset"
    assert ac.ctl.reset_rcd()
    ac.settle(INTERVAL_S)
    assert ac.ctl.contactor_closed


def test_auto_rcd_reset_happens_after_unplug(rigs: list[SimEvse]) -> None:
    rig = SimEvse("ac", safety=SafetySettings(rcd_reset=RcdResetPolicy.AUTO))
    rigs.append(rig)
    charging(rig)
    rig.world.rcd_trip()
    rig.world.rcd_clear()
    rig.settle(0.3)
    assert rig.ctl.rcd_tripped, "auto reset waits for the EV to leave"
    rig.unplug()
    rig.settle(0.2)
    assert not rig.ctl.rcd_tripped
    rig.settle(INTERVAL_S)
    charging(rig)


def test_welded_contactor_is_a_latched_fault_that_blocks_new_sessions(ac: SimEvse) -> None:
    charging(ac)
    ac.world.set_welded(True)
    ac.pause()
    ac.settle(0.5)
    assert "contactor_welded" in ac.ctl.faults
    assert contactor_updates(ac)[-1] == "error"
    assert ac.ctl.handle_contactor_status().status is p.ContactorStatus.ERROR
    closings = ac.world.relay.closings
    ac.unplug()
    ac.settle(0.2)
    ac.plug()
    ac.charge()
    ac.settle(0.5)
    assert ac.world.relay.closings == closings and not ac.ctl.contactor_closed
    assert ac.ctl.clear_faults() == [], "still welded: the fault stays"
    ac.world.set_welded(False)
    ac.world.command_relay(False)
    ac.settle(0.2)
    assert ac.ctl.clear_faults() == ["contactor_welded"]
    ac.settle(INTERVAL_S)
    assert ac.ctl.contactor_closed


def test_a_contactor_that_does_not_follow_the_close_command_is_a_fault(rigs: list[SimEvse]) -> None:
    rig = SimEvse("ac", contactor={"close_delay_ms": 2000.0})
    rigs.append(rig)
    rig.plug()
    rig.charge()
    rig.settle(0.5)
    assert "contactor_feedback" in rig.ctl.faults and not rig.ctl.contactor_closed
    assert rig.ctl.contactor_status() == "error"


def test_meter_offline_is_reported_once_and_values_are_never_refreshed(ac: SimEvse) -> None:
    ac.ctl.poll_meter()
    first = ac.ctl.meter_values()
    ac.world.set_meter_online(False)
    for _ in range(10):
        ac.tick(0.5)
        ac.ctl.poll_meter()
    assert len(ac.of(p.MeterValuesUpdate)) == 1, "no update while the meter is away"
    assert [f.component_name for f in ac.of(p.HardwareFaultUpdate)] == ["meter"]
    with pytest.raises(DeviceError, match="no fresh meter reading"):
        ac.ctl.meter_values()
    ac.world.set_meter_online(True)
    ac.ctl.poll_meter()
    # A new reading, not the old one refreshed. (Its update is left out when the wall clock has
    # not moved on by a millisecond since the first one's - this rig's clock is manual, the
    # sim meter's stamp is not: one meter_values update per timestamp.)
    resumed = ac.ctl.meter_values()
    assert resumed is not first and resumed.taken_at > first.taken_at
    assert "meter" not in ac.ctl.faults


def test_a_meter_values_request_before_the_first_poll_reads_the_meter_now(ac: SimEvse) -> None:
    """Josev may ask right after start-up, before the first scheduled poll: the meter has not been
    asked yet, so it is read on demand instead of being called "not answering"."""
    assert not ac.of(p.MeterValuesUpdate)
    reading = ac.ctl.meter_values()
    assert reading is not None
    assert len(ac.of(p.MeterValuesUpdate)) == 1, "the on-demand read is published like a poll"
    assert "meter" not in ac.ctl.faults


def test_a_meter_that_never_answered_is_not_answering_on_request(ac: SimEvse) -> None:
    ac.world.set_meter_online(False)
    with pytest.raises(DeviceError, match="no fresh meter reading"):
        ac.ctl.meter_values()
    assert not ac.of(p.MeterValuesUpdate)


def test_a_failing_publisher_never_stops_the_safety_reaction(rigs: list[SimEvse]) -> None:
    rig = SimEvse("ac", publish_error=True)
    rigs.append(rig)
    charging(rig)
    rig.pause()
    assert not rig.ctl.contactor_closed


def test_transaction_listener_hears_start_and_end(ac: SimEvse) -> None:
    heard: list[tuple[str, str, str]] = []
    ac.ctl.add_transaction_listener(lambda *args: heard.append(args))
    ac.ctl.on_transaction_status("tx-1", p.TransactionState.STARTED)
    assert ac.ctl.is_transaction_active()
    ac.ctl.on_transaction_status("tx-1", p.TransactionState.ENDED)
    assert heard == [(ac.evse_id, "tx-1", "started"), (ac.evse_id, "tx-1", "ended")]


# -- DC --------------------------------------------------------------------------------------------


def setpoint(
    rig: SimEvse, volts: float, amps: float, *, precharge: bool = False
) -> p.PowerElectronicsSetpointRequest:
    return p.PowerElectronicsSetpointRequest(
        evse_id=rig.evse_id,
        is_precharge=precharge,
        dc=p.PowerElectronicsSetpointDc(charge_current=amps, voltage=volts),
        ev_limits=p.PowerElectronicsSetpointEvLimits(maximum_voltage=450.0),
    )


def dc_until_precharge(rig: SimEvse) -> None:
    rig.plug()
    rig.tick()
    assert pwm(rig, hlc=True).status is p.CpPwmStatus.VALID
    rig.ctl.on_hlc_charging(True)
    rig.charge()
    rig.tick()
    start = rig.ctl.handle_cable_check(p.CableCheckAction.START)
    assert start.cable_check_status is p.CableCheckStatus.ONGOING
    rig.tick(0.2)
    assert (
        rig.ctl.handle_cable_check(p.CableCheckAction.STATUS).cable_check_status is p.CableCheckStatus.ONGOING
    )
    for _ in range(3):  # ramp to 500 V, measure, discharge below 60 V (test_station_dc_cable_check.py)
        rig.settle(1.0)
        rig.ctl.poll_meter()  # the meter thread's job (no thread in this rig)
    done = rig.ctl.handle_cable_check(p.CableCheckAction.STATUS)
    assert done.cable_check_status is p.CableCheckStatus.FINISHED
    assert done.isolation_level is p.IsolationLevel.VALID


def test_dc_session_cable_check_precharge_and_current_demand(dc: SimEvse) -> None:
    dc_until_precharge(dc)
    assert dc.ctl.contactor_closed, "closed for the cable check, held for pre-charge"
    assert dc.world.pm.enabled is False and dc.world.cable_voltage() < 60.0, "discharged"
    assert dc.ctl.last_decision is not None and not dc.ctl.last_decision.may_close, "no energy transfer"
    assert dc.ctl.handle_power_electronics_setpoint(setpoint(dc, 400.0, 2.0, precharge=True)).status is (
        p.AcceptedRejected.ACCEPTED
    )
    assert dc.ctl.contactor_closed
    dc.settle(1.0)
    assert (
        dc.ctl.handle_power_electronics_setpoint(setpoint(dc, 400.0, 100.0)).status
        is p.AcceptedRejected.ACCEPTED
    )
    dc.settle(1.5)
    present = dc.of(p.CsStatusAndLimitsUpdate)[-1].evses[0].dc
    assert isinstance(present, p.CsStatusAndLimitsDc)
    assert present.present_voltage == pytest.approx(400.0, abs=1.0)
    assert present.present_current == pytest.approx(100.0, abs=1.0)
    dc.pause()
    assert not dc.ctl.contactor_closed
    assert dc.world.pm.enabled is False


def test_dc_precharge_before_the_cable_check_is_rejected(dc: SimEvse) -> None:
    dc.plug()
    pwm(dc, hlc=True)
    dc.ctl.on_hlc_charging(True)
    dc.charge()
    dc.tick()
    response = dc.ctl.handle_power_electronics_setpoint(setpoint(dc, 400.0, 2.0, precharge=True))
    assert response.status is p.AcceptedRejected.REJECTED and not dc.ctl.contactor_closed


def test_dc_isolation_fault_fails_the_cable_check(dc: SimEvse) -> None:
    dc.world.set_isolation(10_000.0)  # 20 ohm/V at 500 V: a fault
    dc.plug()
    pwm(dc, hlc=True)
    dc.ctl.on_hlc_charging(True)
    dc.charge()
    dc.ctl.handle_cable_check(p.CableCheckAction.START)
    dc.settle(2.5)
    done = dc.ctl.handle_cable_check(p.CableCheckAction.STATUS)
    assert done.isolation_level is p.IsolationLevel.FAULT
    assert [(f.component_name, f.fault_name) for f in dc.of(p.HardwareFaultUpdate)] == [
        ("isolation_monitor", p.HardwareFaultName.GROUND_FAULT)
    ]
    response = dc.ctl.handle_power_electronics_setpoint(setpoint(dc, 400.0, 2.0, precharge=True))
    assert response.status is p.AcceptedRejected.REJECTED


# -- the wire --------------------------------------------------------------------------------------


def test_everything_the_controller_publishes_satisfies_the_contract(
    ac: SimEvse, dc: SimEvse, contract: Contract
) -> None:
    charging(ac)
    ac.world.rcd_trip()
    ac.ctl.poll_meter()
    ac.pause()
    ac.settle(0.3)
    dc_until_precharge(dc)
    dc.ctl.handle_power_electronics_setpoint(setpoint(dc, 400.0, 2.0, precharge=True))
    dc.settle(0.5)
    dc.ctl.poll_meter()
    names = set()
    for raw in ac.wire + dc.wire:
        contract.validate(raw)
        names.add(raw.split(b'"name":"')[1].split(b'"')[0])
    assert {
        b"cp_status",
        b"cs_contactor_status",
        b"cs_status_and_limits",
        b"hardware_fault",
        b"meter_values",
    } <= names


@pytest.mark.parametrize("policy", [True, False])
def test_losing_the_cp_device_opens_only_when_the_safety_declaration_says_so(
    rigs: list[SimEvse], policy: bool
) -> None:
    rig = SimEvse("ac", safety=SafetySettings(open_on_board_link_loss=policy))
    rigs.append(rig)
    charging(rig)
    rig.devices.cp[1].release()  # the device stops answering (reads raise DeviceError)
    rig.tick()
    assert rig.ctl.contactor_closed is (not policy)
    assert [(f.component_name, f.fault_name) for f in rig.of(p.HardwareFaultUpdate)] == [
        ("cp", p.HardwareFaultName.OTHER)
    ]


def test_meter_payload_fills_what_the_meter_does_not_measure_honestly() -> None:
    from josev_hal.devices import MeterReading, PhaseValues, SignedMeterValue
    from josev_hal.station import reporting

    reading = MeterReading(
        voltage_v=PhaseValues(230.0, 0.0, 0.0),
        current_a=PhaseValues(10.0, 0.0, 0.0),
        power_w=2070.0,
        energy_import_wh=1234.5678,
        signed=(SignedMeterValue("Not.A.Measurand", "ZGF0YQ==", "ECDSA", "OCMF", "a2V5"),),
    )
    payload = reporting.meter_values(p.MeterValuesUpdate, "DE*X", reading)
    assert payload.power_factor == pytest.approx(0.9)  # 2070 W / 2300 VA
    assert payload.frequency == 0.0 and payload.total_reactive_energy_imported == 0.0
    assert payload.total_active_energy_imported == 1234.568
    assert payload.timestamp.endswith("Z")
    signed = payload.signed_meter_values
    assert isinstance(signed, list) and signed[0].signing_method == "ECDSA"


def test_concurrent_notifications_requests_and_sampling_neither_deadlock_nor_break_the_interlock(
    ac: SimEvse,
) -> None:
    import threading

    ac.ctl.settings = ac.settings  # sampling thread at the profile's 50 ms
    ac.ctl.start()
    ac.plug()
    stop = threading.Event()
    violations: list[str] = []

    def ev() -> None:
        while not stop.is_set():
            ac.world.set_request(EvRequest.CHARGE)
            ac.world.set_request(EvRequest.IDLE)

    def josev() -> None:
        while not stop.is_set():
            pwm(ac, current=16.0)
            ac.ctl.handle_contactor_status()
            ac.ctl.set_authorized(True)

    def observer() -> None:
        while not stop.is_set():
            available = ac.ctl.available  # read the flag first: the core opens before it flips
            if ac.ctl.contactor_closed and not available:
                violations.append("closed while unavailable")

    workers = [threading.Thread(target=f, daemon=True) for f in (ev, ev, josev, observer)]
    for w in workers:
        w.start()
    time.sleep(1.0)
    ac.ctl.set_available(False)
    assert not ac.ctl.contactor_closed
    stop.set()
    for w in workers:
        w.join(5)
        assert not w.is_alive(), "a worker is stuck: deadlock"
    ac.ctl.stop()
    assert not violations


def test_restart_opens_forgets_the_session_and_republishes_but_keeps_latched_faults(
    rigs: list[SimEvse],
) -> None:
    rig = SimEvse("ac", free_charging=False)
    rigs.append(rig)
    rig.plug()
    rig.ctl.set_authorized(True)
    rig.charge()
    rig.settle(0.3)
    assert rig.ctl.contactor_closed
    rig.world.set_welded(True)
    sent_before = len(rig.of(p.CpStatusUpdate))
    rig.ctl.restart()
    rig.settle(0.5)
    assert not rig.ctl.contactor_closed
    assert rig.ctl.cp_states[1] == "C1", "not authorized any more: no PWM"
    assert len(rig.of(p.CpStatusUpdate)) > sent_before
    assert "contactor_welded" in rig.ctl.faults
    rig.ctl.restart()
    assert "contactor_welded" in rig.ctl.faults


@pytest.mark.parametrize(
    ("volts", "limit"),
    [(100.0, 450.0), (500.0, 450.0)],
    ids=["below-module-minimum", "above-ev-maximum"],
)
def test_dc_setpoints_outside_the_limits_are_rejected_without_a_fault(
    dc: SimEvse, volts: float, limit: float
) -> None:
    dc_until_precharge(dc)
    request = p.PowerElectronicsSetpointRequest(
        evse_id=dc.evse_id,
        is_precharge=True,
        dc=p.PowerElectronicsSetpointDc(charge_current=2.0, voltage=volts),
        ev_limits=p.PowerElectronicsSetpointEvLimits(maximum_voltage=limit),
    )
    assert dc.ctl.handle_power_electronics_setpoint(request).status is p.AcceptedRejected.REJECTED
    assert not dc.ctl.faults
    assert dc.ctl.last_decision is not None and not dc.ctl.last_decision.may_close, "no energy transfer"
    assert dc.world.pm.enabled is False


def test_dc_limits_are_the_module_capabilities_within_the_evse_limits(rigs: list[SimEvse]) -> None:
    from josev_hal.devices import DcCapabilities

    rig = SimEvse(
        "dc",
        dc_limits=DcCapabilities(
            max_voltage_v=500.0,
            min_voltage_v=200.0,
            max_current_a=80.0,
            min_current_a=0.0,
            max_power_w=40_000.0,
        ),
    )
    rigs.append(rig)
    limits = rig.ctl.status_and_limits_entry()["dc"]
    assert (limits.max_voltage, limits.min_voltage, limits.max_current, limits.max_power) == (
        500.0,
        200.0,
        80.0,
        40_000.0,
    )
