"""The per-sample decision is decided again only when its inputs moved (#17 CPU per sample).

``EvseController._evaluate_locked`` decides, may open, steps the CP output, and decides again
only when the contactor opened or the CP output changed. These tests hold the result to the
definition: after every step the decision the core acted on equals ``decide()`` of the inputs
it sees now, in random sequences through the real sim drivers (AC and DC).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from josev_hal_sim.physics import EvRequest

from josev_hal.messages import payloads as p
from josev_hal.station.interlocks import decide
from tests.support.station import SimEvse, sim_evses

AC_ACTIONS = [
    "plug",
    "unplug",
    "charge",
    "pause",
    "ventilation",
    "pwm_basic",
    "pwm_hlc",
    "pwm_off",
    "rcd_trip",
    "rcd_clear",
    "reset_rcd",
    "inoperative",
    "operative",
    "derate",
    "no_derate",
    "tick",
    "long_tick",
]


@pytest.fixture
def rigs() -> Iterator[list[SimEvse]]:
    with sim_evses() as made:
        yield made


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
    elif action.startswith("pwm_"):
        current = {"pwm_basic": 16.0, "pwm_hlc": 0.0, "pwm_off": 0.0}[action]
        ctl.handle_cp_pwm(
            p.CpPwmRequest(
                evse_id=rig.evse_id,
                hlc=action == "pwm_hlc",
                current=current,
                error_state=False,
                fault_state=False,
            )
        )
    elif action == "rcd_trip":
        world.rcd_trip()
    elif action == "rcd_clear":
        world.rcd_clear()
    elif action == "reset_rcd":
        ctl.reset_rcd()
    elif action == "inoperative":
        ctl.set_available(False)
    elif action == "operative":
        ctl.set_available(True)
    elif action == "derate":
        ctl.set_derating_limit(8.0)
    elif action == "no_derate":
        ctl.set_derating_limit(None)
    elif action == "long_tick":
        rig.tick(0.5, steps=4)


def _acted_on_current_inputs(rig: SimEvse) -> None:
    ctl = rig.ctl
    assert ctl.last_decision is not None
    assert ctl.last_decision == decide(ctl._inputs()), (ctl.last_decision, ctl._inputs())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(AC_ACTIONS), min_size=1, max_size=30), free=st.booleans())
def test_ac_decision_after_every_sample_is_the_decision_of_the_current_inputs(
    rigs: list[SimEvse], steps: list[str], free: bool
) -> None:
    rig = SimEvse("ac", free_charging=free)
    rigs.append(rig)
    rig.tick()
    for action in steps:
        _apply(rig, action)  # most actions evaluate at once (driver notification, request)
        _acted_on_current_inputs(rig)
        rig.tick()
        _acted_on_current_inputs(rig)


def test_a_steady_charging_sample_does_not_decide_again(rigs: list[SimEvse]) -> None:
    # The saving itself, counted: with nothing changing, a periodic sample reads its inputs and
    # stops there (was one decision per sample, two before that); the decision it keeps is still
    # the one of the current inputs.
    rig = SimEvse("ac", free_charging=True)
    rigs.append(rig)
    rig.world.plug()
    rig.world.set_request(EvRequest.CHARGE)
    rig.tick(0.05, steps=40)
    assert rig.ctl.contactor_closed
    calls = 0
    original = rig.ctl._decide

    def counting(now: float) -> object:
        nonlocal calls
        calls += 1
        return original(now)

    rig.ctl._decide = counting  # type: ignore[method-assign]
    rig.tick(0.05, steps=10)
    assert rig.ctl.contactor_closed
    assert calls == 0
    _acted_on_current_inputs(rig)


def test_an_opening_on_the_same_sample_is_decided_again(rigs: list[SimEvse]) -> None:
    # RCD trip while charging: the contactor opens in step 1, so the decision the core keeps
    # must be the one of the opened state (not the stale first one).
    rig = SimEvse("ac", free_charging=True)
    rigs.append(rig)
    rig.world.plug()
    rig.world.set_request(EvRequest.CHARGE)
    rig.tick(0.05, steps=40)
    assert rig.ctl.contactor_closed
    rig.world.rcd_trip()
    rig.tick()
    assert not rig.ctl.contactor_closed
    _acted_on_current_inputs(rig)
