"""1p/3p switching sequencer (issue #22): the order of the steps, the bounded wait for the EV's
pause, the minimum interval, a stuck phase contactor latching a fault, and -- under random EV
behaviour, relay delays and requests -- the invariant that the phase contactor is never moved
while the main contactor is closed, the EV is in C/D or current flows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from josev_hal.station.phases import PhaseInputs, PhaseSettings, PhaseStep, PhaseSwitcher

SETTINGS = PhaseSettings(
    min_switch_interval_s=60.0, pause_timeout_s=5.0, contactor_timeout_s=0.5, settle_s=1.0
)


@dataclass
class Plant:
    """A tiny model of what the sequencer drives: an EV that pauses when the PWM is withdrawn
    (after ``pause_delay_s``), a main contactor the interlock opens when the EV leaves C or
    the sequencer holds it open, and a phase contactor that follows after ``relay_delay_s``
    (or never, when stuck)."""

    now: float = 0.0
    ev_wants: bool = True  # the EV wants to charge
    pause_delay_s: float = 0.3
    pwm_withdrawn_at: float | None = None
    main_closed: bool = True
    phase_closed: bool = True
    phase_cmd: bool = True
    phase_cmd_at: float = 0.0
    relay_delay_s: float = 0.1
    stuck: bool = False
    moves_while_unsafe: int = 0

    def cp(self) -> str:
        if not self.ev_wants:
            return "B2" if self.pwm_withdrawn_at is None else "B1"
        if self.pwm_withdrawn_at is not None and self.now - self.pwm_withdrawn_at >= self.pause_delay_s:
            return "B1"
        return "C2" if self.pwm_withdrawn_at is None else "C1"

    def current(self) -> float:
        return 16.0 if self.main_closed and self.cp() == "C2" else 0.0

    def inputs(self) -> PhaseInputs:
        if not self.stuck and self.now - self.phase_cmd_at >= self.relay_delay_s:
            self.phase_closed = self.phase_cmd
        return PhaseInputs(self.now, self.cp(), self.current(), self.main_closed, self.phase_closed)

    def apply(self, sw: PhaseSwitcher) -> None:
        i = self.inputs()
        cmd = sw.advance(i)
        if cmd.phase_closed is not self.phase_cmd:
            if self.main_closed or i.cp_state[:1] in "CD" or self.current() > 0:  # type: ignore[index]
                self.moves_while_unsafe += 1
            self.phase_cmd, self.phase_cmd_at = cmd.phase_closed, self.now
        if cmd.withdraw_pwm and self.pwm_withdrawn_at is None:
            self.pwm_withdrawn_at = self.now
        if not cmd.withdraw_pwm:
            self.pwm_withdrawn_at = None
        # the ordinary interlock: closed only in C2 and when not held open
        self.main_closed = self.cp() == "C2" and not cmd.hold_open

    def run(self, sw: PhaseSwitcher, seconds: float, dt: float = 0.05) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now += dt
            self.apply(sw)


def events(sw: PhaseSwitcher) -> list[str]:
    return [e.split(":")[0] for _, e in sw.timeline]


def test_a_switch_follows_withdraw_pause_open_switch_settle_restore() -> None:
    plant, sw = Plant(), PhaseSwitcher(SETTINGS)
    plant.run(sw, 0.2)
    assert sw.request(1, plant.now) == (True, "switching")
    plant.run(sw, 3.0)
    assert sw.phases == 1 and sw.step is PhaseStep.IDLE
    assert events(sw) == ["withdraw", "open", "switch", "settle", "idle"]
    assert plant.moves_while_unsafe == 0
    assert plant.phase_closed is False
    assert plant.main_closed and plant.cp() == "C2"  # charging again after the restore
    times = [t for t, _ in sw.timeline]
    assert times == sorted(times)
    settle_at, restored_at = times[3], times[4]
    assert restored_at - settle_at >= SETTINGS.settle_s - 1e-9


def test_the_switch_waits_for_the_pause_and_then_back_to_three_phases() -> None:
    plant, sw = Plant(pause_delay_s=2.0), PhaseSwitcher(SETTINGS, phases=1)
    plant.phase_cmd = plant.phase_closed = False
    sw._phase_command = False
    sw.request(3, 0.0)
    plant.run(sw, 1.9)
    assert sw.step is PhaseStep.WITHDRAW and plant.phase_cmd is False  # EV still in C: nothing moves
    plant.run(sw, 3.0)
    assert sw.phases == 3 and plant.phase_closed is True
    assert plant.moves_while_unsafe == 0


def test_an_ev_that_does_not_pause_abandons_the_switch_without_a_fault() -> None:
    plant, sw = Plant(pause_delay_s=1e9), PhaseSwitcher(SETTINGS)
    sw.request(1, 0.0)
    plant.run(sw, SETTINGS.pause_timeout_s + 0.5)
    assert sw.step is PhaseStep.IDLE and sw.phases == 3 and sw.fault is None
    assert "did not pause" in sw.last_outcome
    assert plant.phase_closed is True and plant.moves_while_unsafe == 0
    assert plant.pwm_withdrawn_at is None  # PWM restored


def test_the_min_switch_interval_is_respected() -> None:
    plant, sw = Plant(), PhaseSwitcher(SETTINGS)
    sw.request(1, 0.0)
    plant.run(sw, 3.0)
    ok, why = sw.request(3, plant.now)
    assert not ok and why.startswith("min_switch_interval_s")
    plant.run(sw, SETTINGS.min_switch_interval_s)
    assert sw.request(3, plant.now) == (True, "switching")


def test_a_stuck_phase_contactor_latches_a_fault_and_keeps_the_evse_paused() -> None:
    plant, sw = Plant(stuck=True), PhaseSwitcher(SETTINGS)
    sw.request(1, 0.0)
    plant.run(sw, 3.0)
    assert sw.step is PhaseStep.FAULT and "stuck" in (sw.fault or "")
    assert sw.phases is None
    cmd = sw.command()
    assert cmd.withdraw_pwm and cmd.hold_open
    assert not plant.main_closed
    assert sw.request(3, plant.now)[0] is False
    # repaired: the operator clears it, the count is what the mirror contact reads
    assert sw.clear_fault(plant.phase_closed, plant.now)
    assert sw.phases == 3 and sw.step is PhaseStep.IDLE


def test_a_phase_contactor_that_moves_on_its_own_is_a_fault() -> None:
    plant, sw = Plant(), PhaseSwitcher(SETTINGS)
    plant.run(sw, 1.0)
    plant.stuck, plant.phase_closed = True, False  # drops out by itself
    plant.run(sw, 1.0)
    assert sw.step is PhaseStep.FAULT and sw.phases is None


def test_requests_that_make_no_sense_are_refused_and_change_nothing() -> None:
    sw = PhaseSwitcher(SETTINGS)
    assert sw.request(2, 0.0)[0] is False
    assert sw.request(3, 0.0) == (False, "already 3 phases")
    assert sw.request(1, 0.0)[0] is True
    assert sw.request(1, 0.1)[0] is False  # in progress
    assert events(sw) == ["withdraw"]


def test_invalid_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"^settle_s"):
        PhaseSettings(settle_s=-1.0).validate()
    with pytest.raises(ValueError, match="pause_timeout_s"):
        PhaseSettings(pause_timeout_s=0.0).validate()
    with pytest.raises(ValueError, match="phases"):
        PhaseSwitcher(SETTINGS, phases=2)


ACTIONS = st.sampled_from(["request1", "request3", "ev_on", "ev_off", "tick", "long", "stuck", "unstick"])


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(ACTIONS, min_size=1, max_size=40),
    pause=st.floats(min_value=0.0, max_value=8.0),
    relay=st.floats(min_value=0.0, max_value=0.8),
)
def test_random_requests_never_move_the_phase_contactor_under_load(
    steps: list[str], pause: float, relay: float
) -> None:
    plant = Plant(pause_delay_s=pause, relay_delay_s=relay)
    sw = PhaseSwitcher(SETTINGS)
    switches = []
    for action in steps:
        if action == "request1":
            sw.request(1, plant.now)
        elif action == "request3":
            sw.request(3, plant.now)
        elif action == "ev_on":
            plant.ev_wants = True
        elif action == "ev_off":
            plant.ev_wants = False
        elif action == "stuck":
            plant.stuck = True
        elif action == "unstick":
            plant.stuck = False
        plant.run(sw, 2.0 if action == "long" else 0.2)
        assert plant.moves_while_unsafe == 0, sw.timeline
        if sw.step in (PhaseStep.OPEN, PhaseStep.SWITCH, PhaseStep.SETTLE, PhaseStep.FAULT):
            assert not plant.main_closed
        if sw.phases is not None and sw.step is PhaseStep.IDLE and not plant.stuck:
            assert plant.phase_closed is (sw.phases == 3)
        ends = [t for t, e in sw.timeline if e.startswith("idle: restore")]
        switches = ends
    for a, b in itertools.pairwise(switches):
        assert b - a >= SETTINGS.min_switch_interval_s
    event(f"switches={len(switches)} fault={sw.step is PhaseStep.FAULT}")
