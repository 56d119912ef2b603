"""Property tests of the simulated world over random sequences of EV actions, faults, board
commands and time steps: the physics stays consistent whatever happens, and no command payload
can crash SimControl."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from josev_hal_sim import ACTIONS, ManualClock, SimCommandError, SimControl, WorldRegistry
from josev_hal_sim.physics import EvRequest

from josev_hal.devices import CpMode

EVSE = "DE*PRP*E0001"

EV_ACTIONS = st.sampled_from(
    [
        {"action": "plug"},
        {"action": "plug", "cable_a": 13},
        {"action": "unplug"},
        {"action": "charge"},
        {"action": "ventilation"},
        {"action": "pause"},
        {"action": "diode_fault"},
        {"action": "rcd_trip"},
        {"action": "rcd_clear"},
        {"action": "meter_offline"},
        {"action": "meter_online"},
        {"action": "weld_contactor"},
        {"action": "unweld_contactor"},
        {"action": "contactor_stuck_open"},
        {"action": "contactor_stuck_open", "active": False},
        {"action": "current", "amps": 10},
        {"action": "current", "amps": 40},
    ]
)
BOARD_ACTIONS = st.sampled_from(["close", "open", "pwm16", "pwm32", "pwm5", "x1", "state_f"])
STEPS = st.lists(
    st.one_of(
        EV_ACTIONS.map(lambda a: ("ev", a)),
        BOARD_ACTIONS.map(lambda a: ("board", a)),
        st.floats(min_value=0.0, max_value=5.0).map(lambda s: ("time", s)),
    ),
    max_size=40,
)

BANDS = {EvRequest.IDLE: (8.0, 10.0), EvRequest.CHARGE: (5.0, 7.0), EvRequest.VENTILATION: (2.0, 4.0)}


@settings(max_examples=200, deadline=None)
@given(steps=STEPS)
def test_world_stays_physically_consistent(steps: list[tuple[str, Any]]) -> None:
    clock = ManualClock()
    registry = WorldRegistry(clock)
    world = registry.attach(f"{EVSE}/1", evse_id=EVSE, connector_id=1)
    control = SimControl(registry)
    last_energy = 0.0
    try:
        for kind, step in steps:
            if kind == "ev":
                assert control.handle_payload(json.dumps({"evse_id": EVSE, **step}).encode()) is None
            elif kind == "board":
                {
                    "close": lambda: world.command_relay(True),
                    "open": lambda: world.command_relay(False),
                    "pwm16": lambda: world.set_cp(CpMode.PWM, 26.67),
                    "pwm32": lambda: world.set_cp(CpMode.PWM, 53.33),
                    "pwm5": lambda: world.set_cp(CpMode.PWM, 5.0),
                    "x1": lambda: world.set_cp(CpMode.X1),
                    "state_f": lambda: world.set_cp(CpMode.STATE_F),
                }[step]()
            else:
                clock.advance(step)

            with world.lock:
                commanded, feedback = world.relay_state()
                relay, ev, gen = world.relay, world.ev, world.cp
                # Energy never goes back, and flows only through closed contacts to an EV that asks
                # for it under PWM.
                assert world.meter.energy_wh >= last_energy
                last_energy = world.meter.energy_wh
                values = world.meter_values()
                if values is not None and values[2] > 0:
                    assert feedback and ev.plugged and ev.request is not EvRequest.IDLE
                    assert gen.mode is CpMode.PWM
                    assert max(values[1].l1, values[1].l2, values[1].l3) <= ev.draw_a
                # Feedback closed needs a reason: a pulled-in coil (possibly still releasing) or a weld.
                if feedback and not relay.welded and not commanded:
                    assert world._due, "feedback closed with the coil off and nothing pending"
                # The CP plateau is the one the EV's resistors imply.
                positive, negative, _ = world.cp_plateaus()
                if gen.mode in (CpMode.PWM, CpMode.X1):
                    low, high = BANDS[ev.request] if ev.plugged else (11.0, 13.0)
                    assert low <= positive <= high
                    if gen.mode is CpMode.PWM:
                        assert negative is not None
                        assert (negative > -10.0) == (ev.plugged and ev.diode_shorted)

        # Once everything has settled, feedback is exactly the coil, unless welded closed.
        clock.advance(1.0)
        commanded, feedback = world.relay_state()
        if not world.relay.welded:
            assert feedback == world.relay.coil
    finally:
        registry.clear()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
COMMANDISH = st.fixed_dictionaries(
    {"evse_id": st.sampled_from([EVSE, "", "other"]), "action": st.sampled_from([*ACTIONS, "nope"])},
    optional={
        "connector_id": st.one_of(st.integers(-2, 3), st.text(max_size=3)),
        "amps": JSON,
        "uid": st.one_of(st.text(max_size=12), st.just("04a1b2c3")),
        "cable_a": st.sampled_from([13, 20, 32, 40, "32", None]),
        "active": JSON,
        "ohm": JSON,
        "extra": JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    payload=st.one_of(
        st.binary(max_size=64),
        JSON.map(lambda v: json.dumps(v).encode()),
        COMMANDISH.map(lambda v: json.dumps(v).encode()),
    )
)
def test_no_payload_crashes_sim_control(payload: bytes) -> None:
    registry = WorldRegistry(ManualClock())
    registry.attach(f"{EVSE}/1", evse_id=EVSE, connector_id=1)
    control = SimControl(registry)
    try:
        error = control.handle_payload(payload)
        if error is not None:
            path = error.split(":", 1)[0]
            assert path.startswith("$"), error
            try:
                control.handle(payload)
            except SimCommandError as exc:
                assert str(exc) == error
    finally:
        registry.clear()
