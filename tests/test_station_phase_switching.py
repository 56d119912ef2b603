"""1p/3p switching on the sim board (issue #22): a PV-surplus limit in watts drives the station
3 -> 1 -> 3 phases through the energy supervisor; the sim's own log of every phase-contactor
command proves it never moved with the main contactor closed or current flowing, the
sequencer's timeline gives the order, the min interval holds and a stuck phase contactor
latches a fault that keeps the EVSE paused. Through a real mosquitto (the station's bridge)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from josev_hal_sim import RealClock, WorldRegistry, set_default_registry
from josev_hal_sim.physics import EvRequest

from josev_hal.board import Board
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from josev_hal.station.energy import EnergySettings, EnergySupervisor, EvseEnergy, energy_from_profile
from josev_hal.station.limits import STATION_SCOPE, LimitSource
from josev_hal.station.phases import PhaseSettings, PhaseStep, PhaseSwitcher
from josev_hal.station.station import Station
from tests.support.station import SimEvse
from tests.support.waiting import eventually

EVSE = "DE*TST*E0P1"

PROFILE = """
[station]
vendor = "josev-hal"
model = "1p/3p"
serial_number = "P-1"
sw_version = "0.1.0"
hw_version = "sim"

[mqtt]
broker = "@BROKER@"
client_id = "josev-hal-phases-test"

[safety]
rcd_trip = "hardware"
cp_loss_shutdown = "hal"
welding_detection = "hal"
open_on_meter_loss = false
open_on_board_link_loss = true
rcd_reset = "manual"

[contactor]
min_close_interval_s = 0.5     # the core's anti-chatter wait (default 10 s) kept short here

[meter]
interval_s = 0.2
stale_after_s = 1.0

[limits]
interval_s = 0.1

[[evse]]
id = "DE*TST*E0P1"
ocpp_id = 1
kind = "ac"
network_interface = "lo"
phases = 3
max_current_a = 16

  [evse.phase_switching]
  min_switch_interval_s = @INTERVAL@
  pause_timeout_s = 5.0
  contactor_timeout_s = 0.5
  settle_s = 0.3
  hysteresis_w = 300

  [[evse.connectors]]
  id = 1
  ocpp_type = "cType2"
  iso15118_type = "AC_three_phase_core"
  services = ["ac"]
  cable = "fixed"
  max_cable_current_a = 32

  [evse.devices.cp]
  driver = "sim-cp"
  options = { noise_v = 0.0, ev_draw_a = 16.0 }
  [evse.devices.contactor]
  driver = "sim-contactor"
  [evse.devices.meter]
  driver = "sim-meter"
  [evse.devices.phase_switch]
  driver = "sim-phase-contactor"
"""


@pytest.fixture
def rig(
    request: pytest.FixtureRequest, broker: Any, bridge_factory: Callable[..., Any]
) -> Iterator[tuple[Station, EnergySupervisor, Any]]:
    registry = WorldRegistry(RealClock())
    previous = set_default_registry(registry)
    interval = getattr(request, "param", 1.0)
    text = PROFILE.replace("@BROKER@", broker.url).replace("@INTERVAL@", str(interval))
    pm = get_plugin_manager()
    profile = load_profile_text(text, "boards/phases.toml", pm)
    board = Board.build(profile, pm)
    board.setup()
    bridge = bridge_factory(start=False, client_id="josev-hal-phases-test")
    station = Station(profile, board, bridge, free_charging=True)
    sup = energy_from_profile(profile, board, station.controllers, bridge=None)
    world = registry.find(EVSE)
    assert world is not None
    world.set_ev_pauses_on_x1(True)  # a polite EV: B while the PWM is withdrawn
    station.start()
    bridge.start(wait_s=10)
    sup.start()
    try:
        yield station, sup, world
    finally:
        sup.stop()
        station.stop()
        board.release()
        set_default_registry(previous)
        registry.clear()


def _charge(world: Any) -> None:
    world.plug()
    world.set_request(EvRequest.CHARGE)


def _phases_flowing(world: Any) -> int:
    c = world.phase_currents()
    return sum(1 for x in (c.l1, c.l2, c.l3) if x > 0.1)


def _never_under_load(world: Any) -> None:
    for at, closed, main_closed, amps in world.phase_log:
        assert not main_closed and amps == 0.0, (at, closed, main_closed, amps)


def test_pv_surplus_drives_three_to_one_to_three_phases_never_under_load(
    rig: tuple[Station, EnergySupervisor, Any],
) -> None:
    station, sup, world = rig
    switch = sup.phase_switches[EVSE][0]
    # the phase contactor starts open: the EVSE comes up on one phase and, with no power
    # limit, switches to three before the EV charges
    _charge(world)
    assert eventually(lambda: switch.phases == 3 and _phases_flowing(world) == 3, timeout_s=15.0)
    sup.set_local_limit(STATION_SCOPE, watts=3000.0, origin="pv")  # 3 phases would need 4140 W
    assert eventually(lambda: switch.phases == 1 and _phases_flowing(world) == 1, timeout_s=15.0)
    amps = world.phase_currents().l1
    assert amps == pytest.approx(3000.0 / 230.0, abs=0.2)  # the whole surplus on one phase
    ctl = station.controller(EVSE)
    # what Josev gets in cs_status_and_limits: the offer on L1 only
    one = ctl.status_and_limits_entry()["ac"].max_current
    assert (one.l1, one.l2, one.l3) == (pytest.approx(13.0, abs=0.1), 0.0, 0.0)
    sup.set_local_limit(STATION_SCOPE, watts=11040.0, origin="pv")  # 16 A on three phases
    assert eventually(lambda: switch.phases == 3 and _phases_flowing(world) == 3, timeout_s=15.0)
    _never_under_load(world)
    three = ctl.status_and_limits_entry()["ac"].max_current
    assert three.l1 == three.l2 == three.l3 == 16.0
    steps = [event.split(":")[0] for _, event in switch.timeline]
    # each switch: withdraw, open, switch, settle, back to idle -- in this order
    assert steps == ["withdraw", "open", "switch", "settle", "idle"] * 3
    assert LimitSource.PHASE_SWITCH not in {lim.source for lim in ctl.limits().limits}


@pytest.mark.parametrize("rig", [3600.0], indirect=True)
def test_the_min_switch_interval_holds_back_the_next_switch(
    rig: tuple[Station, EnergySupervisor, Any],
) -> None:
    _station, sup, world = rig
    switch = sup.phase_switches[EVSE][0]
    _charge(world)
    assert eventually(lambda: switch.phases == 3, timeout_s=15.0)  # first switch (1 -> 3)
    sup.set_local_limit(STATION_SCOPE, watts=3000.0)
    assert eventually(lambda: "min_switch_interval_s" in sup._phase_note.get(EVSE, ""), timeout_s=5.0)
    assert switch.phases == 3
    # meanwhile the EV is paused: 3000 W does not carry 6 A on three phases
    assert eventually(lambda: _phases_flowing(world) == 0, timeout_s=10.0)
    _never_under_load(world)


def test_a_stuck_phase_contactor_latches_a_fault_and_keeps_the_evse_paused(
    rig: tuple[Station, EnergySupervisor, Any],
) -> None:
    station, sup, world = rig
    switch = sup.phase_switches[EVSE][0]
    _charge(world)
    assert eventually(lambda: switch.phases == 3 and _phases_flowing(world) == 3, timeout_s=15.0)
    world.set_phase_relay_stuck(True)  # welded closed
    sup.set_local_limit(STATION_SCOPE, watts=3000.0)
    assert eventually(lambda: switch.step is PhaseStep.FAULT, timeout_s=15.0)
    assert "stuck" in (switch.fault or "")
    ctl = station.controller(EVSE)
    assert eventually(lambda: ctl.limits().binding == (LimitSource.PHASE_SWITCH,), timeout_s=5.0)
    assert eventually(lambda: _phases_flowing(world) == 0 and not ctl.contactor_closed, timeout_s=10.0)
    sup.set_local_limit(STATION_SCOPE, watts=11040.0)  # more power does not clear a fault
    assert eventually(lambda: switch.step is PhaseStep.FAULT and _phases_flowing(world) == 0, timeout_s=1.0)
    _never_under_load(world)


# -- random limit changes on a manual clock -------------------------------------------------------


ACTIONS = st.one_of(
    st.tuples(st.just("watts"), st.sampled_from([1000.0, 2000.0, 3000.0, 4000.0, 4500.0, 7000.0, 11040.0])),
    st.tuples(st.just("clear"), st.just(0.0)),
    st.tuples(st.just("pause"), st.just(0.0)),
    st.tuples(st.just("charge"), st.just(0.0)),
    st.tuples(st.just("wait"), st.sampled_from([0.1, 0.3, 1.0, 3.0, 6.0])),
)
SWITCH = PhaseSettings(min_switch_interval_s=5.0, pause_timeout_s=3.0, contactor_timeout_s=0.5, settle_s=0.3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(ACTIONS, min_size=1, max_size=25))
def test_random_limit_changes_never_switch_phases_under_load(steps: list[tuple[str, float]]) -> None:
    rig = SimEvse("ac", free_charging=True, min_close_interval_s=0.0)
    try:
        contactor = rig._make("sim-phase-contactor")
        world = rig.world
        world.set_ev_pauses_on_x1(True)
        switcher = PhaseSwitcher(SWITCH, phases=1)
        sup = EnergySupervisor(
            {rig.evse_id: rig.ctl},
            EnergySettings(evses={rig.evse_id: EvseEnergy(voltage_v=230.0, phases=3)}),
            clock=rig.clock.now,
            phase_switches={rig.evse_id: (switcher, contactor)},
        )
        rig.plug()
        rig.charge()
        for action, value in steps:
            if action == "watts":
                sup.set_local_limit(STATION_SCOPE, watts=value)
            elif action == "clear":
                sup.clear_local_limit(STATION_SCOPE)
            elif action == "pause":
                rig.pause()
            elif action == "charge":
                rig.charge()
            seconds = value if action == "wait" else 0.1
            for _ in range(max(1, round(seconds / 0.05))):
                rig.tick(0.05)
                rig.ctl.poll_meter()  # the meter thread of a running station
                sup.tick()
            # the physical invariant: the phase contactor only ever moved with the main contacts
            # open and no current flowing
            for at, closed, main_closed, amps in world.phase_log:
                assert not main_closed and amps == 0.0, (at, closed, main_closed, amps, switcher.timeline)
            if switcher.step in (PhaseStep.OPEN, PhaseStep.SWITCH, PhaseStep.SETTLE):
                assert not rig.ctl.contactor_closed
        ends = [t for t, e in switcher.timeline if e.startswith("idle: restore")]
        starts = [t for t, e in switcher.timeline if e.startswith("withdraw: request")]
        for end in ends:
            later = [s for s in starts if s > end]
            assert not later or later[0] - end >= SWITCH.min_switch_interval_s
        event(f"switches={len(ends)}")
    finally:
        rig.close()
