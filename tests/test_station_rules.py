"""The IEC 61851 edge rules of issue #14 (and #15 item 5), one test per rule, through the sim board.

Each test drives the simulated EV/hardware (``tests/support/station.py``: real sim drivers on a
manual clock, the real controller) and checks what reached the simulated relay, CP generator,
power module and RCD, not only the controller's bookkeeping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from josev_hal_sim.physics import EvRequest
from msgspec.structs import replace

from josev_hal.devices import CpMode
from josev_hal.messages import payloads as p
from josev_hal.station.config import CableCheckSettings, SafetySettings, WeldingDetection
from josev_hal.station.dc import CableCheckStep
from josev_hal.station.events import EventKind
from josev_hal.station.interlocks import Blocker
from tests.support.station import SimEvse, sim_evses


@pytest.fixture
def rigs() -> Iterator[list[SimEvse]]:
    with sim_evses() as made:
        yield made


def make(rigs: list[SimEvse], kind: str = "ac", **kwargs: object) -> SimEvse:
    rig = SimEvse(kind, **kwargs)  # type: ignore[arg-type]
    rigs.append(rig)
    return rig


@pytest.fixture
def ac(rigs: list[SimEvse]) -> SimEvse:
    return make(rigs)


@pytest.fixture
def dc(rigs: list[SimEvse]) -> SimEvse:
    return make(rigs, "dc")


def charging(rig: SimEvse) -> None:
    rig.plug()
    rig.tick()
    rig.charge()
    rig.settle(0.3)
    assert rig.ctl.contactor_closed and rig.world.relay.feedback


def blockers(rig: SimEvse) -> tuple[Blocker, ...]:
    assert rig.ctl.last_decision is not None
    return rig.ctl.last_decision.blockers


# -- DC: cable check and pre-charge ----------------------------------------------------------------


def setpoint(
    rig: SimEvse, volts: float, amps: float, *, precharge: bool = False
) -> p.PowerElectronicsSetpointRequest:
    return p.PowerElectronicsSetpointRequest(
        evse_id=rig.evse_id,
        is_precharge=precharge,
        dc=p.PowerElectronicsSetpointDc(charge_current=amps, voltage=volts),
        ev_limits=p.PowerElectronicsSetpointEvLimits(maximum_voltage=450.0),
    )


def hlc_session(rig: SimEvse) -> None:
    rig.ctl.handle_cp_pwm(p.CpPwmRequest(evse_id=rig.evse_id, hlc=True, error_state=False, fault_state=False))
    rig.ctl.on_slac_status(p.SlacStatus.MATCHED)
    rig.ctl.on_hlc_charging(True)
    rig.charge()
    rig.tick()


def cable_check(rig: SimEvse, seconds: float = 4.0) -> p.CableCheckResponse:
    start = rig.ctl.handle_cable_check(p.CableCheckAction.START)
    assert start.cable_check_status is p.CableCheckStatus.ONGOING
    for _ in range(round(seconds / 0.5)):
        rig.settle(0.5)
        rig.ctl.poll_meter()
        done = rig.ctl.handle_cable_check(p.CableCheckAction.STATUS)
        if done.cable_check_status is p.CableCheckStatus.FINISHED:
            return done
    return done


def energy_transfer(rig: SimEvse) -> None:
    ok = p.AcceptedRejected.ACCEPTED
    assert rig.ctl.handle_power_electronics_setpoint(setpoint(rig, 400.0, 2.0, precharge=True)).status is ok
    rig.settle(0.5)
    assert rig.ctl.handle_power_electronics_setpoint(setpoint(rig, 400.0, 100.0)).status is ok
    rig.settle(1.0)


def test_dc_cable_check_follows_iec_61851_23_order_at_the_test_voltage(dc: SimEvse) -> None:
    dc.world.imd.min_voltage_v = 400.0  # this IMD only measures with the cable at voltage
    voltages: list[tuple[CableCheckStep, float, bool]] = []
    dc.plug()
    dc.tick()
    hlc_session(dc)
    path = dc.ctl.dc_path
    dc.ctl.handle_cable_check(p.CableCheckAction.START)
    for _ in range(80):
        dc.tick(0.05)
        voltages.append((path.step, dc.world.cable_voltage(), bool(dc.world.relay.feedback)))
    done = dc.ctl.handle_cable_check(p.CableCheckAction.STATUS)
    assert done.cable_check_status is p.CableCheckStatus.FINISHED
    assert done.isolation_level is p.IsolationLevel.VALID
    steps = [s for s, _ in path.timeline]
    assert steps == [
        CableCheckStep.DISCHARGE_BEFORE,
        CableCheckStep.CLOSE,
        CableCheckStep.RAMP,
        CableCheckStep.SELF_TEST,
        CableCheckStep.MEASURE,
        CableCheckStep.DISCHARGE_AFTER,
        CableCheckStep.PASSED,
    ]
    times = [t for _, t in path.timeline]
    assert times == sorted(times)
    # the IMD measured with the cable at the test voltage (500 V: no EV maximum known yet)
    assert path.test_voltage_v == 500.0
    measuring = [v for s, v, closed in voltages if s is CableCheckStep.MEASURE]
    assert measuring and min(measuring) >= 490.0
    # below 60 V before pre-charge, the contactor still closed for it, and nothing delivered
    assert dc.world.cable_voltage() < 60.0 and dc.ctl.contactor_closed
    assert dc.world.pm.enabled is False
    assert blockers(dc) == (Blocker.NO_PRECHARGE,)
    assert dc.ctl.status_code() is p.EvseStatusCode.EVSE_READY
    energy_transfer(dc)
    assert dc.world.pm.enabled and dc.ctl.last_decision is not None and dc.ctl.last_decision.may_close


def test_dc_cable_check_voltage_is_the_lower_of_the_ev_and_evse_maximum(dc: SimEvse) -> None:
    dc.plug()
    dc.tick()
    hlc_session(dc)
    dc.ctl.on_ev_rated_limits(420.0)
    assert cable_check(dc).isolation_level is p.IsolationLevel.VALID
    assert dc.ctl.dc_path.test_voltage_v == 420.0


def test_dc_short_circuit_in_the_cable_check_is_a_fault(dc: SimEvse) -> None:
    dc.world.set_cable_short(0.05)
    dc.plug()
    dc.tick()
    hlc_session(dc)
    done = cable_check(dc)
    assert done.cable_check_status is p.CableCheckStatus.FINISHED
    assert done.isolation_level is p.IsolationLevel.INVALID
    assert dc.ctl.dc_path.timeline[-1][0] is CableCheckStep.FAILED
    assert "dc_short" in dc.ctl.faults
    assert dc.ctl.faults["dc_short"].fault_name is p.HardwareFaultName.OVERCURRENT_FAULT
    assert not dc.ctl.contactor_closed and dc.world.pm.enabled is False


def test_dc_cable_check_step_that_overruns_its_timeout_fails_the_check(rigs: list[SimEvse]) -> None:
    rig = make(rigs, "dc", cable_check=CableCheckSettings(measure_timeout_s=0.2))  # the IMD needs 0.5 s
    rig.plug()
    rig.tick()
    hlc_session(rig)
    done = cable_check(rig)
    assert done.isolation_level is p.IsolationLevel.INVALID
    assert rig.ctl.dc_path.failure is not None and "0.2s" in rig.ctl.dc_path.failure
    assert not rig.ctl.contactor_closed
    refused = rig.ctl.handle_power_electronics_setpoint(setpoint(rig, 400.0, 2.0, precharge=True))
    assert refused.status is p.AcceptedRejected.REJECTED


def test_dc_second_iso15118_session_on_one_plug_in_needs_its_own_cable_check_and_precharge(
    dc: SimEvse,
) -> None:
    dc.plug()
    dc.tick()
    hlc_session(dc)
    assert cable_check(dc).isolation_level is p.IsolationLevel.VALID
    energy_transfer(dc)
    assert dc.ctl.contactor_closed
    dc.ctl.on_hlc_charging(False)  # the first ISO 15118 session ends; the EV stays plugged
    assert not dc.ctl.contactor_closed
    dc.settle(0.5)
    dc.ctl.on_hlc_charging(True)  # a second session on the same plug-in, EV back in C
    dc.settle(12.0)  # past the closing interval too: only the missing checks may hold it open
    assert not dc.ctl.contactor_closed
    assert Blocker.CABLE_CHECK_PENDING in blockers(dc) and Blocker.NO_PRECHARGE in blockers(dc)
    rejected = p.AcceptedRejected.REJECTED
    assert (
        dc.ctl.handle_power_electronics_setpoint(setpoint(dc, 400.0, 2.0, precharge=True)).status is rejected
    )
    assert dc.ctl.handle_power_electronics_setpoint(setpoint(dc, 400.0, 100.0)).status is rejected
    assert dc.world.pm.enabled is False
    assert cable_check(dc).isolation_level is p.IsolationLevel.VALID  # its own cable check ...
    energy_transfer(dc)  # ... and its own pre-charge
    assert dc.ctl.contactor_closed and dc.world.pm.enabled


def test_dc_unplug_switches_the_pwm_off_and_the_next_plug_in_starts_clean(dc: SimEvse) -> None:
    dc.plug()
    dc.tick()
    hlc_session(dc)
    assert cable_check(dc).isolation_level is p.IsolationLevel.VALID
    energy_transfer(dc)
    dc.pause()
    dc.unplug()  # no message from Josev at all
    dc.settle(0.3)
    assert dc.ctl.cp_states[1] == "A1" and dc.world.cp.mode is CpMode.X1
    states = [m.state.value for m in dc.of(p.CpStatusUpdate)]
    assert states[-2:] == ["A2", "A1"]
    dc.plug()
    dc.settle(0.3)
    assert dc.ctl.cp_states[1] == "B1", "no PWM until Josev asks again"
    assert not dc.ctl.dc_path.cable_check_passed and not dc.ctl.dc_path.precharge_started


# -- AC: PP on a socket ----------------------------------------------------------------------------


def test_socket_with_pp_open_offers_no_current_and_raises_a_pp_fault_after_the_debounce(ac: SimEvse) -> None:
    ac.plug()
    ac.world.set_pp_fault("open")
    ac.charge()
    ac.tick()
    assert ac.world.cp.mode is CpMode.X1, "no PWM without a cable coding"
    assert "pp_missing1" not in ac.ctl.faults, "debounced"
    ac.settle(1.0)
    assert not ac.ctl.contactor_closed and ac.world.relay.commanded is False
    assert Blocker.PP_INVALID in blockers(ac)
    fault = ac.ctl.faults["pp_missing1"]
    assert fault.component == "pp" and fault.blocks
    assert [(f.component_name, f.fault_name) for f in ac.of(p.HardwareFaultUpdate)] == [
        ("pp", p.HardwareFaultName.OTHER)
    ]
    ac.world.set_pp_fault(None)  # the cable is good again: the rating it codes is offered
    ac.settle(11.0)
    assert "pp_missing1" not in ac.ctl.faults
    assert ac.ctl.contactor_closed and ac.world.cp.duty_percent == pytest.approx(53.33)


# -- RCD self-test ---------------------------------------------------------------------------------


def test_rcd_self_test_runs_before_each_session_with_the_contactor_open(ac: SimEvse) -> None:
    charging(ac)
    ac.pause()
    ac.unplug()
    ac.settle(10.0)  # past the closing interval
    charging(ac)
    tests = ac.world.rcd.self_tests
    assert len(tests) == 2, "one per plug-in"
    assert all(closed is False for _, closed in tests), "always with the contactor open"
    results = ac.events_of(EventKind.RCD_SELF_TEST)
    assert [e.detail["passed"] for e in results] == [True, True]


def test_a_failed_rcd_self_test_latches_a_fault_and_blocks_sessions(ac: SimEvse) -> None:
    ac.world.set_rcd_self_test(False)
    ac.plug()
    ac.charge()
    ac.settle(1.0)
    assert not ac.ctl.contactor_closed and ac.world.cp.mode is CpMode.X1
    assert Blocker.RCD_SELF_TEST_FAILED in blockers(ac)
    fault = ac.ctl.faults["rcd_self_test"]
    assert fault.component == "rcd" and fault.latched and fault.blocks
    assert ac.ctl.clear_faults() == [], "only a passing test clears it"
    ac.unplug()
    ac.settle(0.3)
    ac.plug()
    ac.charge()
    ac.settle(1.0)
    assert not ac.ctl.contactor_closed, "still blocked in the next session"
    ac.world.set_rcd_self_test(True)
    ac.unplug()
    ac.settle(0.3)
    assert ac.ctl.run_rcd_self_test() == (True, "passed")  # the operator re-tests
    assert "rcd_self_test" not in ac.ctl.faults
    charging(ac)


def test_rcd_self_test_policy_off_never_tests(rigs: list[SimEvse]) -> None:
    rig = make(rigs, safety=SafetySettings(rcd_self_test="off"))
    charging(rig)
    assert rig.world.rcd.self_tests == []


def test_daily_rcd_self_test_runs_again_only_after_24_hours(rigs: list[SimEvse]) -> None:
    rig = make(rigs, safety=SafetySettings(rcd_self_test="daily"), min_close_interval_s=0.0)
    for _ in range(3):
        charging(rig)
        rig.pause()
        rig.unplug()
        rig.settle(0.3)
    assert len(rig.world.rcd.self_tests) == 1
    rig.clock.advance(24 * 3600.0)
    charging(rig)
    assert len(rig.world.rcd.self_tests) == 2


def test_operator_rcd_self_test_is_refused_while_the_contactor_is_closed(ac: SimEvse) -> None:
    charging(ac)
    before = len(ac.world.rcd.self_tests)
    passed, detail = ac.ctl.run_rcd_self_test()
    assert not passed and detail.startswith("refused")
    assert len(ac.world.rcd.self_tests) == before and "rcd_self_test" not in ac.ctl.faults


# -- C2 -> C1: withdrawing the PWM -----------------------------------------------------------------


def test_withdrawing_the_pwm_sets_x1_and_opens_when_the_ev_reaches_b(ac: SimEvse) -> None:
    charging(ac)
    ac.ctl.poll_meter()
    ac.ctl.set_derating_limit(4.0)  # below 6 A: the PWM cannot express it -> X1
    assert ac.world.cp.mode is CpMode.X1 and ac.ctl.cp_states[1] == "C1"
    assert ac.ctl.contactor_closed, "not under load: the EV gets time to ramp down"
    ac.settle(2.0)
    assert ac.ctl.contactor_closed
    ac.pause()  # the EV opens S2
    assert not ac.ctl.contactor_closed and ac.world.relay.commanded is False
    opened = ac.events_of(EventKind.CONTACTOR_OPENED)[-1]
    assert opened.detail["reason"].startswith("cp C1->B1")


def test_an_ev_staying_in_c_after_the_pwm_was_withdrawn_is_forced_open_after_6_s(ac: SimEvse) -> None:
    charging(ac)
    ac.ctl.handle_stop_charging()
    assert ac.ctl.contactor_closed and ac.world.cp.mode is CpMode.X1
    ac.settle(5.8)
    assert ac.ctl.contactor_closed
    ac.settle(0.4)
    assert not ac.ctl.contactor_closed
    reason = ac.events_of(EventKind.CONTACTOR_OPENED)[-1].detail["reason"]
    assert "stayed in C 6s" in reason


@pytest.mark.parametrize("fault", ["rcd", "unplug", "cp_short", "inoperative"])
def test_faults_still_open_at_once_while_the_ev_ramps_down(ac: SimEvse, fault: str) -> None:
    charging(ac)
    ac.ctl.handle_stop_charging()
    ac.settle(1.0)
    assert ac.ctl.contactor_closed
    {
        "rcd": ac.world.rcd_trip,
        "unplug": ac.world.unplug,
        "cp_short": ac.world.set_cp_shorted,
        "inoperative": lambda: ac.ctl.set_available(False),
    }[fault]()
    ac.tick()
    assert not ac.ctl.contactor_closed and ac.world.relay.commanded is False


# -- minimum interval between closings -------------------------------------------------------------


def test_min_close_interval_holds_back_a_new_closing_and_reports_the_wait(ac: SimEvse) -> None:
    charging(ac)
    for _ in range(6):  # an EV toggling B/C: 6 toggles in 0.9 s
        ac.world.set_request(EvRequest.IDLE)
        ac.tick(0.075)
        ac.world.set_request(EvRequest.CHARGE)
        ac.tick(0.075)
    assert ac.world.relay.closings == 1, "closed once, not six times"
    assert Blocker.CLOSE_INTERVAL in blockers(ac)
    ac.settle(10.0)
    assert ac.ctl.contactor_closed and ac.world.relay.closings == 2


# -- only the CP driver's own push is confirmed ----------------------------------------------------


def test_only_the_cp_drivers_own_push_skips_the_debounce(rigs: list[SimEvse]) -> None:
    rig = make(rigs, cp_debounce_samples=3)
    cp = rig.devices.cp[1]
    rig.world.unsubscribe("cp", cp.notify)  # a polled CP (an ADS1115 has no interrupt)
    rig.plug()
    rig.settle(0.3)
    assert rig.ctl.cp_states[1] == "B2"
    rig.charge()  # nothing pushes this
    rig.world.set_stuck_open(False)  # the contactor driver pushes (its own change) ...
    assert rig.devices.contactor is not None
    rig.devices.contactor.notify()  # ... twice
    assert rig.ctl.cp_states[1] == "B2", "a contactor notification must not confirm a CP sample"
    assert not rig.ctl.contactor_closed
    rig.settle(0.3)  # three agreeing samples
    assert rig.ctl.cp_states[1] == "C2" and rig.ctl.contactor_closed


# -- soft overcurrent ------------------------------------------------------------------------------


def test_soft_overcurrent_opens_and_raises_an_overcurrent_fault(ac: SimEvse) -> None:
    set_ignores = getattr(ac.world, "set_ev_ignores_pwm", None)
    if set_ignores is None:
        pytest.skip("the sim EV cannot overdraw yet (world.set_ev_ignores_pwm missing)")
    charging(ac)
    ac.ctl.set_derating_limit(10.0)  # offers 10 A; a broken EV keeps drawing 16 A
    set_ignores(True)
    ac.settle(1.0)
    ac.ctl.poll_meter()
    assert ac.ctl.contactor_closed, "within the grace period after the PWM change"
    ac.settle(5.0)
    ac.ctl.poll_meter()
    assert not ac.ctl.contactor_closed
    fault = ac.ctl.faults["overcurrent"]
    assert fault.fault_name is p.HardwareFaultName.OVERCURRENT_FAULT
    ac.settle(11.0)
    assert not ac.ctl.contactor_closed, "held until the EV unplugs"
    ac.pause()
    ac.unplug()
    ac.settle(0.3)
    assert "overcurrent" not in ac.ctl.faults


def test_soft_overcurrent_accepts_current_within_the_tolerance(ac: SimEvse) -> None:
    charging(ac)
    for _ in range(8):
        ac.settle(1.0)
        ac.ctl.poll_meter()
    assert ac.ctl.contactor_closed and "overcurrent" not in ac.ctl.faults


# -- welding detection "none" ----------------------------------------------------------------------


def test_welding_detection_none_still_reports_a_contactor_that_fails_to_close(rigs: list[SimEvse]) -> None:
    rig = make(
        rigs,
        contactor={"close_delay_ms": 2000.0},
        safety=SafetySettings(welding_detection=WeldingDetection.NONE),
    )
    rig.plug()
    rig.tick()
    rig.charge()
    rig.settle(0.6)
    assert "contactor_feedback" in rig.ctl.faults and not rig.ctl.contactor_closed


def test_welding_detection_none_does_not_report_welding(rigs: list[SimEvse]) -> None:
    rig = make(rigs, safety=SafetySettings(welding_detection=WeldingDetection.NONE))
    charging(rig)
    rig.world.set_welded(True)
    rig.pause()
    rig.settle(0.5)
    assert "contactor_welded" not in rig.ctl.faults


# -- availability waits for the end of the transaction ---------------------------------------------


def test_a_pause_is_not_the_end_of_the_transaction(ac: SimEvse) -> None:
    heard: list[str] = []
    ac.ctl.add_transaction_listener(lambda evse, tx, status: heard.append(status))
    charging(ac)
    ac.pause()
    ac.settle(0.3)
    assert not ac.ctl.contactor_closed and ac.ctl.is_transaction_active()
    ac.unplug()
    ac.settle(0.3)
    assert not ac.ctl.is_transaction_active()
    assert heard == ["started", "ended"]


def test_stop_charging_ends_a_basic_transaction(ac: SimEvse) -> None:
    charging(ac)
    ac.ctl.handle_stop_charging()
    ac.pause()
    ac.settle(0.3)
    assert not ac.ctl.is_transaction_active()


def test_settings_defaults_are_the_documented_ones() -> None:
    from josev_hal.station.config import EvseSettings

    s = EvseSettings(evse_id="X")
    assert s.min_close_interval_s == 10.0 and s.safety.rcd_self_test == "before_each_session"
    assert replace(s.safety).overcurrent_tolerance_a == 2.0 and s.safety.overcurrent_grace_s == 5.0


def test_the_profile_keys_reach_the_station_core() -> None:
    from pathlib import Path

    from josev_hal.plugins import get_plugin_manager
    from josev_hal.profile import load_profile_text
    from josev_hal.station.station import settings_from_profile

    board = Path(__file__).resolve().parents[1] / "boards" / "sim.toml"
    text = board.read_text()
    for old, new in [
        ('rcd_self_test = "before_each_session"', 'rcd_self_test = "daily"'),
        ("overcurrent_tolerance_a = 2.0", "overcurrent_tolerance_a = 3.5"),
        ("min_close_interval_s = 10.0", "min_close_interval_s = 4.0"),
        ("measure_timeout_s = 20.0", "measure_timeout_s = 15.0"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    profile = load_profile_text(text, str(board), get_plugin_manager())
    ac = settings_from_profile(profile, profile.evse[0])
    dc = settings_from_profile(profile, next(e for e in profile.evse if e.kind.value == "dc"))
    assert ac.safety.rcd_self_test == "daily" and ac.safety.overcurrent_tolerance_a == 3.5
    assert ac.min_close_interval_s == 4.0 and ac.pp_fault_after_s == 0.5
    assert dc.cable_check.measure_timeout_s == 15.0 and dc.cable_check.current_limit_a == 2.0


def test_an_unknown_rcd_self_test_policy_is_a_profile_error_with_its_line() -> None:
    from pathlib import Path

    from josev_hal.errors import HalError
    from josev_hal.plugins import get_plugin_manager
    from josev_hal.profile import load_profile_text

    board = Path(__file__).resolve().parents[1] / "boards" / "sim.toml"
    text = board.read_text().replace('rcd_self_test = "before_each_session"', 'rcd_self_test = "weekly"')
    with pytest.raises(HalError) as info:
        load_profile_text(text, str(board), get_plugin_manager())
    assert "rcd_self_test" in str(info.value) and "sim.toml:" in str(info.value)


def test_a_withdrawal_that_is_taken_back_does_not_shorten_the_next_one(ac: SimEvse) -> None:
    charging(ac)
    ac.ctl.set_derating_limit(4.0)  # X1: the EV ramps down in C1
    ac.settle(4.0)
    ac.ctl.set_derating_limit(None)  # the offer is back before the EV left C
    ac.settle(1.0)
    assert ac.ctl.contactor_closed and ac.ctl.cp_states[1] == "C2"
    ac.ctl.set_derating_limit(4.0)  # a new withdrawal gets its full 6 s
    ac.settle(5.0)
    assert ac.ctl.contactor_closed
    ac.settle(1.2)
    assert not ac.ctl.contactor_closed


def test_dc_cable_check_voltage_never_goes_below_what_the_module_can_regulate(dc: SimEvse) -> None:
    dc.plug()
    dc.tick()
    hlc_session(dc)
    dc.ctl.on_ev_rated_limits(100.0)  # below the sim module's 150 V minimum
    assert cable_check(dc).isolation_level is p.IsolationLevel.VALID
    assert dc.ctl.dc_path.test_voltage_v == 150.0


def test_deauthorization_withdraws_even_josevs_pwm_so_the_ev_can_ramp_down(rigs: list[SimEvse]) -> None:
    rig = make(rigs, free_charging=False)
    rig.plug()
    rig.tick()
    rig.ctl.set_authorized(True)
    pwm = p.CpPwmRequest(evse_id=rig.evse_id, hlc=False, current=16.0, error_state=False, fault_state=False)
    assert rig.ctl.handle_cp_pwm(pwm).status is p.CpPwmStatus.VALID
    rig.charge()
    rig.settle(0.3)
    assert rig.ctl.contactor_closed and rig.world.cp.duty_percent == pytest.approx(26.67)
    rig.ctl.on_transaction_status("tx-9", p.TransactionState.STARTED)
    rig.ctl.on_transaction_status("tx-9", p.TransactionState.ENDED)  # the transaction ends
    assert rig.world.cp.mode is CpMode.X1, "the offer is withdrawn, not kept until the forced opening"
    assert rig.ctl.contactor_closed
    rig.pause()
    assert not rig.ctl.contactor_closed
