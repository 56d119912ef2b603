"""StationEvents: every contactor operation, CP change, RCD trip, lock command, fault change and
availability change reaches the listeners, after the EVSE lock is released (a listener may call
back into the controller)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from josev_hal.station.events import EventKind, StationEvent
from tests.support.station import SimEvse, sim_evses

pytestmark = pytest.mark.timeout(30)  # a listener called under the lock would deadlock here


@pytest.fixture
def rigs() -> Iterator[list[SimEvse]]:
    with sim_evses() as made:
        yield made


@pytest.fixture
def ac(rigs: list[SimEvse]) -> SimEvse:
    rig = SimEvse("ac")
    rigs.append(rig)
    return rig


def test_a_session_emits_cp_changes_and_every_contactor_operation_with_its_confirmation(ac: SimEvse) -> None:
    ac.plug()
    ac.tick()  # the RCD self-test of the session, then the PWM
    ac.charge()
    ac.settle(0.3)
    ac.ctl.poll_meter()  # the meter sees the EV's 16 A
    ac.pause()
    ac.settle(0.3)
    ac.unplug()
    ac.settle(0.3)
    cp = [(e.detail["previous"], e.detail["state"]) for e in ac.events_of(EventKind.CP_STATE)]
    assert [s for _, s in cp] == ["A1", "B1", "B2", "C2", "B2", "A2", "A1"]
    assert cp[0][0] is None and all(prev == cp[i][1] for i, (prev, _) in enumerate(cp[1:]))
    closed = ac.events_of(EventKind.CONTACTOR_CLOSED)
    opened = ac.events_of(EventKind.CONTACTOR_OPENED)
    confirmed = ac.events_of(EventKind.CONTACTOR_CONFIRMED)
    assert len(closed) == 1 and len(opened) == 1
    assert "cp C2->B2" in opened[0].detail["reason"]
    assert opened[0].detail["under_load"] is True and opened[0].detail["current_a"] == pytest.approx(
        16.0, abs=1
    )
    assert [e.detail["closed"] for e in confirmed] == [True, False]
    # the sim relay closes after 30 ms and opens after 20 ms; sampled every 50 ms
    assert all(0.0 < e.detail["switch_time_s"] <= 0.1 for e in confirmed)


def test_listeners_run_outside_the_lock_and_may_call_back_into_the_controller(ac: SimEvse) -> None:
    seen: list[str] = []

    def listener(event: StationEvent) -> None:
        ac.ctl.snapshot()  # takes the EVSE lock: would deadlock if called under it
        seen.append(event.kind.value)

    ac.ctl.add_event_listener(listener)
    ac.plug()
    ac.charge()
    ac.settle(0.3)
    assert "contactor_closed" in seen and "cp_state" in seen


def test_a_failing_listener_does_not_affect_the_control_step(ac: SimEvse) -> None:
    def broken(event: StationEvent) -> None:
        raise RuntimeError("observer bug")

    ac.ctl.add_event_listener(broken)
    ac.plug()
    ac.charge()
    ac.settle(0.3)
    assert ac.ctl.contactor_closed
    assert ac.events_of(EventKind.CONTACTOR_CLOSED)


def test_rcd_trip_and_fault_changes_are_events(ac: SimEvse) -> None:
    ac.plug()
    ac.charge()
    ac.settle(0.3)
    ac.world.rcd_trip(residual_ma=31.0)
    ac.tick()
    trip = ac.events_of(EventKind.RCD_TRIP)
    assert len(trip) == 1 and trip[0].detail["residual_ma"] == 31.0
    fault = [e for e in ac.events_of(EventKind.FAULT_SET) if e.detail["key"] == "rcd"]
    assert fault and fault[0].detail["component"] == "rcd" and fault[0].detail["blocks"] is True
    ac.world.rcd_clear()
    ac.unplug()
    ac.tick()
    assert ac.ctl.reset_rcd()
    assert [e.detail["key"] for e in ac.events_of(EventKind.FAULT_CLEARED)] == ["rcd"]


def test_availability_changes_are_events_once_per_change(ac: SimEvse) -> None:
    ac.ctl.set_available(False)
    ac.ctl.set_available(False)
    ac.ctl.set_available(True)
    assert [e.detail["available"] for e in ac.events_of(EventKind.AVAILABILITY)] == [False, True]


def test_lock_commands_are_events(rigs: list[SimEvse]) -> None:
    rig = SimEvse("ac", lock={"delay_ms": 100.0})
    rigs.append(rig)
    rig.plug()
    rig.charge()
    rig.settle(0.5)
    rig.unplug()
    rig.settle(0.5)
    assert [e.detail["locked"] for e in rig.events_of(EventKind.LOCK)] == [True, False]
    assert {e.detail["connector_id"] for e in rig.events_of(EventKind.LOCK)} == {1}
