"""A periodic sample that reads nothing new stops after its reads (#17 CPU per sample).

``EvseController.sample`` skips deciding, actuating and reporting when its reads moved nothing
(fault set, CP states, cables, RCD, contactor, lock), no other entry changed the state since the
last full evaluation, and none of the clocks of that part (minimum closing interval, meter
staleness, a daily RCD test) ran out. These tests hold the skip to its promise: an EVSE whose
samples may skip publishes, emits, commands and decides exactly what the same EVSE evaluating in
full on every sample does; a change that only the sampling sees (a board whose drivers never push)
is acted on; the timers still fire on time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from josev_hal_sim.physics import EvRequest

from josev_hal.messages import payloads as p
from josev_hal.station.config import SafetySettings
from josev_hal.station.events import EventKind
from tests.support.station import SimEvse, sim_evses

ACTIONS = [
    "plug",
    "unplug",
    "charge",
    "pause",
    "ventilation",
    "rcd_trip",
    "rcd_clear",
    "reset_rcd",
    "weld",
    "unweld",
    "stuck_open",
    "pp_fault",
    "pp_ok",
    "diode_short",
    "diode_ok",
    "meter_offline",
    "meter_online",
    "poll_meter",
    "inoperative",
    "operative",
    "derate",
    "no_derate",
    "pwm_basic",
    "pwm_zero",
    "pwm_hlc",
    "josev_lock",
    "josev_unlock",
    "tick",
    "tick",
    "long_tick",
    "jump_4s",
    "jump_11s",
]


@pytest.fixture
def rigs() -> Iterator[list[SimEvse]]:
    with sim_evses() as made:
        yield made


def _polled_only(rig: SimEvse) -> None:
    """A board whose drivers never push a change: only the periodic sample can see it."""
    for driver in rig.drivers:
        with driver._listeners_lock:
            driver._listeners.clear()


def _apply(rig: SimEvse, action: str) -> None:
    ctl, world = rig.ctl, rig.world
    if action == "plug":
        world.plug()
    elif action == "unplug":
        world.unplug()
    elif action == "charge":
        world.set_request(EvRequest.CHARGE)
    elif action == "pause":
        world.set_request(EvRequest.IDLE)
    elif action == "ventilation":
        world.set_request(EvRequest.VENTILATION)
    elif action == "rcd_trip":
        world.rcd_trip()
    elif action == "rcd_clear":
        world.rcd_clear()
    elif action == "reset_rcd":
        ctl.reset_rcd()
    elif action == "weld":
        world.set_welded(True)
    elif action == "unweld":
        world.set_welded(False)
    elif action == "stuck_open":
        world.set_stuck_open(True)
    elif action == "pp_fault":
        world.set_pp_fault("open")
    elif action == "pp_ok":
        world.set_pp_fault(None)
    elif action == "diode_short":
        world.set_diode_shorted(True)
    elif action == "diode_ok":
        world.set_diode_shorted(False)
    elif action == "meter_offline":
        world.set_meter_online(False)
    elif action == "meter_online":
        world.set_meter_online(True)
    elif action == "poll_meter":
        ctl.poll_meter()
    elif action == "inoperative":
        ctl.set_available(False)
    elif action == "operative":
        ctl.set_available(True)
    elif action == "derate":
        ctl.set_derating_limit(8.0)
    elif action == "no_derate":
        ctl.set_derating_limit(None)
    elif action.startswith("pwm_"):
        ctl.handle_cp_pwm(
            p.CpPwmRequest(
                evse_id=rig.evse_id,
                hlc=action == "pwm_hlc",
                current={"pwm_basic": 16.0, "pwm_zero": 0.0, "pwm_hlc": 0.0}[action],
                error_state=False,
                fault_state=False,
            )
        )
    elif action == "josev_lock":
        ctl.request_lock(1, True)
    elif action == "josev_unlock":
        ctl.request_lock(1, False)
    elif action == "tick":
        rig.tick()
    elif action == "long_tick":
        rig.tick(0.5, steps=4)
    elif action == "jump_4s":  # past the meter's staleness (3 s) in one sample
        rig.tick(4.0)
    elif action == "jump_11s":  # past the minimum closing interval (10 s) in one sample
        rig.tick(11.0)


def _observable(rig: SimEvse) -> tuple[object, ...]:
    ctl = rig.ctl
    return (
        # Meter updates are left out: a poll always evaluates in full, and whether its update goes
        # out depends on the wall clock (one per millisecond stamp; two polls back to back may
        # share one). What the polls did shows in the events below.
        [m for m in rig.published if not isinstance(m, p.MeterValuesUpdate)],
        # (a meter poll's duration is wall time: not part of the behaviour)
        [(e.kind, e.at, {k: v for k, v in e.detail.items() if k != "duration_s"}) for e in rig.events],
        rig.world.relay.commanded,
        ctl._applied,
        ctl.last_decision,
        ctl.contactor_status(),
        tuple(sorted(ctl.faults)),
        ctl.withdrawal.waiting,
    )


def _never_skipping(rig: SimEvse) -> SimEvse:
    """The same rig with the skip disabled: every sample evaluates in full (the reference)."""
    rig.ctl._quiet_until = lambda now, decision: -math.inf  # type: ignore[method-assign]
    return rig


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=40),
    free=st.booleans(),
    pushed=st.booleans(),
    lock=st.booleans(),
    feedback=st.booleans(),
)
def test_periodic_samples_that_skip_do_exactly_what_full_evaluations_do(
    rigs: list[SimEvse], steps: list[str], free: bool, pushed: bool, lock: bool, feedback: bool
) -> None:
    # Two identical EVSEs (own worlds, own clocks) get the same actions; one never skips. After
    # every step both published, emitted, commanded and decided the same.
    options = {"lock": {} if lock else None, "contactor": {"has_feedback": feedback}}
    skipping = SimEvse("ac", free_charging=free, **options)  # type: ignore[arg-type]
    rigs.append(skipping)
    full = _never_skipping(SimEvse("ac", free_charging=free, **options))  # type: ignore[arg-type]
    rigs.append(full)
    for rig in (skipping, full):
        if not pushed:
            _polled_only(rig)
        rig.tick()
    for action in steps:
        for rig in (skipping, full):
            _apply(rig, action)
            rig.tick()  # the periodic sample (skipped or not)
        assert _observable(skipping) == _observable(full), action


def _steady_charging(rig: SimEvse) -> None:
    rig.world.plug()
    rig.world.set_request(EvRequest.CHARGE)
    for _ in range(40):
        rig.tick()
        rig.ctl.poll_meter()
    assert rig.ctl.contactor_closed


def _count_decisions(rig: SimEvse) -> list[float]:
    calls: list[float] = []
    original = rig.ctl._decide

    def counting(now: float) -> object:
        calls.append(now)
        return original(now)

    rig.ctl._decide = counting  # type: ignore[method-assign]
    return calls


@pytest.mark.parametrize("pushed", [True, False])
def test_a_cp_change_between_samples_is_evaluated_and_opens(rigs: list[SimEvse], pushed: bool) -> None:
    rig = SimEvse("ac", free_charging=True)
    rigs.append(rig)
    if not pushed:
        _polled_only(rig)
    _steady_charging(rig)
    decisions = _count_decisions(rig)
    rig.tick(steps=3)
    assert decisions == []  # steady: skipped
    rig.world.set_request(EvRequest.IDLE)  # C2 -> B2
    rig.tick(steps=2)  # the CP debounce takes two samples when nobody pushed
    assert not rig.ctl.contactor_closed
    assert rig.ctl.cp_states[1] == "B2"
    assert decisions, "the change was decided on"


@pytest.mark.parametrize("pushed", [True, False])
def test_an_rcd_trip_between_samples_opens_on_the_next_sample(rigs: list[SimEvse], pushed: bool) -> None:
    rig = SimEvse("ac", free_charging=True)
    rigs.append(rig)
    if not pushed:
        _polled_only(rig)
    _steady_charging(rig)
    rig.tick(steps=3)
    rig.world.rcd_trip()
    rig.tick()
    assert not rig.ctl.contactor_closed
    assert rig.ctl.rcd_tripped
    assert any(f.fault_name is p.HardwareFaultName.GROUND_FAULT for f in rig.of(p.HardwareFaultUpdate))


def test_a_feedback_mismatch_seen_only_by_sampling_raises_its_fault_after_the_timeout(
    rigs: list[SimEvse],
) -> None:
    rig = SimEvse("ac", free_charging=True)
    rigs.append(rig)
    _polled_only(rig)
    _steady_charging(rig)
    rig.tick(steps=3)
    rig.world.set_welded(True)
    rig.world.set_request(EvRequest.IDLE)  # C2 -> B2: opens; the welded contact stays closed
    rig.tick(steps=10)  # 0.5 s > the 0.25 s feedback timeout
    assert "contactor_welded" in rig.ctl.faults
    assert rig.ctl.contactor_status() == "error"


def test_a_pp_fault_seen_only_by_sampling_withdraws_the_offer(rigs: list[SimEvse]) -> None:
    rig = SimEvse("ac", free_charging=True)
    rigs.append(rig)
    _polled_only(rig)
    _steady_charging(rig)
    rig.tick(steps=3)
    rig.world.set_pp_fault("short")
    rig.tick()
    assert any(f.key.startswith("pp") for f in rig.ctl.faults.values())
    assert rig.ctl._applied is not None and rig.ctl._applied.mode.value == "x1"


def test_a_stale_meter_is_faulted_on_the_first_sample_after_the_staleness_with_nothing_else_changing(
    rigs: list[SimEvse],
) -> None:
    rig = SimEvse("ac", free_charging=True)
    rigs.append(rig)
    _steady_charging(rig)
    last_poll = rig.clock.now()
    faults_before = len(rig.of(p.HardwareFaultUpdate))
    stale_after = rig.settings.meter_stale_after_s
    while rig.clock.now() - last_poll <= stale_after:
        assert "meter" not in rig.ctl.faults
        rig.tick()
    # the first sample past the staleness raised it, although no reading changed
    assert "meter" in rig.ctl.faults
    assert len(rig.of(p.HardwareFaultUpdate)) == faults_before + 1


def test_the_next_closing_waits_out_the_minimum_interval_and_then_happens_without_any_change(
    rigs: list[SimEvse],
) -> None:
    rig = SimEvse("ac", free_charging=True, min_close_interval_s=5.0)
    rigs.append(rig)
    _steady_charging(rig)
    closed_at = [e.at for e in rig.events_of(EventKind.CONTACTOR_CLOSED)][-1]
    rig.world.set_request(EvRequest.IDLE)
    rig.tick(steps=2)
    assert not rig.ctl.contactor_closed
    rig.world.set_request(EvRequest.CHARGE)
    closings = len(rig.events_of(EventKind.CONTACTOR_CLOSED))
    assert rig.clock.now() < closed_at + 4.0
    while rig.clock.now() < closed_at + 5.0 - 1e-9:
        rig.ctl.poll_meter()  # keep the meter fresh: only the interval holds the contactor
        assert not rig.ctl.contactor_closed
        rig.tick()
    rig.tick()
    assert rig.ctl.contactor_closed
    assert len(rig.events_of(EventKind.CONTACTOR_CLOSED)) == closings + 1


def test_a_notification_left_for_the_lock_holder_makes_the_next_sample_a_full_one(
    rigs: list[SimEvse],
) -> None:
    rig = SimEvse("ac", free_charging=True)
    rigs.append(rig)
    _steady_charging(rig)
    rig.tick(steps=3)
    decisions = _count_decisions(rig)
    rig.ctl._dirty = True  # a push whose thread found the lock taken (the holder evaluates)
    rig.tick()
    assert len(decisions) == 1
    rig.tick()
    assert len(decisions) == 1  # steady again


def test_a_daily_rcd_test_falls_due_by_the_clock_exactly_where_the_skip_stops(rigs: list[SimEvse]) -> None:
    rig = SimEvse("ac", free_charging=True, safety=SafetySettings(rcd_self_test="daily"))
    rigs.append(rig)
    rcd = rig.ctl.rcd
    rcd.last_pass_at = 1000.0
    at = rcd.due_changes_at(True)
    assert at < math.inf
    assert not rcd.due(True, at - 1e-3)
    assert rcd.due(True, at)
    assert rcd.due_changes_at(False) == math.inf  # no session: nothing falls due


def test_a_second_push_announcing_what_the_first_push_already_read_is_not_evaluated_again(
    rigs: list[SimEvse],
) -> None:
    # A plug-in changes CP and PP at once; both drivers push. The CP push's evaluation reads the
    # PP too, so the PP push finds nothing new: its reads run, the rest is skipped.
    rig = SimEvse("ac", free_charging=False)
    rigs.append(rig)
    rig.tick(steps=3)
    full: list[float] = []
    original = rig.ctl._publish_changes

    def counting() -> None:
        full.append(rig.clock.now())
        original()

    rig.ctl._publish_changes = counting  # type: ignore[method-assign]
    rig.world.plug()
    assert rig.ctl.cp_states[1] == "B1"
    assert len(full) == 1
    assert [m.state.value for m in rig.of(p.CpStatusUpdate)][-1] == "B1"


def test_an_offer_withdrawn_while_charging_is_followed_through_on_the_next_samples(
    rigs: list[SimEvse],
) -> None:
    # cp_pwm 0 A while charging: that evaluation steps the CP to X1 with the contactor still
    # closed; the withdrawal wait starts on the next sample and the contactor opens after it,
    # with nothing else changing -- exactly as when every sample evaluates in full.
    skipping = SimEvse("ac", free_charging=True)
    rigs.append(skipping)
    full = _never_skipping(SimEvse("ac", free_charging=True))
    rigs.append(full)
    for rig in (skipping, full):
        _steady_charging(rig)
        rig.ctl.handle_cp_pwm(
            p.CpPwmRequest(evse_id=rig.evse_id, hlc=False, current=0.0, error_state=False, fault_state=False)
        )
    for _ in range(200):  # 10 s
        for rig in (skipping, full):
            rig.tick()
            rig.ctl.poll_meter()
        assert _observable(skipping) == _observable(full)
    assert not skipping.ctl.contactor_closed


def test_a_contactor_without_a_mirror_contact_does_not_keep_every_sample_full(rigs: list[SimEvse]) -> None:
    # Nothing can confirm its command, so nothing is awaited: charging is steady as with feedback.
    rig = SimEvse("ac", free_charging=True, contactor={"has_feedback": False})
    rigs.append(rig)
    _steady_charging(rig)
    decisions = _count_decisions(rig)
    rig.tick(steps=5)
    assert decisions == []
    rig.world.set_request(EvRequest.IDLE)  # and a change is still acted on
    rig.tick(steps=2)
    assert not rig.ctl.contactor_closed
