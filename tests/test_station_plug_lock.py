"""The connector-lock interlock of a socket outlet, on the sim board with a manual clock.

The sim lock's feedback follows its command after ``delay_ms``; the core must lock, see the
feedback confirm, and only then close; keep the plug locked while the contactor is (or may be)
closed; and release it once the session is over."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest

from josev_hal.messages import payloads as p
from josev_hal.station.config import ConnectorSettings
from josev_hal.station.interlocks import Blocker
from tests.support.station import SimEvse, sim_evses


@pytest.fixture
def rigs() -> Iterator[list[SimEvse]]:
    with sim_evses() as made:
        yield made


def locked_rig(rigs: list[SimEvse], **lock: object) -> SimEvse:
    rig = SimEvse("ac", lock={"delay_ms": 200.0, **lock})
    rigs.append(rig)
    return rig


@pytest.fixture
def ac(rigs: list[SimEvse]) -> SimEvse:
    return locked_rig(rigs)


def lock_states(rig: SimEvse) -> list[str]:
    return [str(m.lock) for m in rig.of(p.CableInfoUpdate) if m.lock is not msgspec.UNSET]


def test_socket_plug_is_locked_and_confirmed_before_the_contactor_closes(ac: SimEvse) -> None:
    ac.plug()
    ac.charge()
    ac.tick()
    assert ac.world.lock_state() == (True, False), "commanded at once, feedback still travelling"
    assert not ac.ctl.contactor_closed
    decision = ac.ctl.last_decision
    assert decision is not None and decision.blockers == (Blocker.PLUG_NOT_LOCKED,)
    ac.settle(0.1)
    assert not ac.ctl.contactor_closed  # 150 ms in: the lock has not confirmed yet
    ac.settle(0.2)
    assert ac.world.lock_state() == (True, True)
    assert ac.ctl.contactor_closed and ac.world.relay.feedback
    assert lock_states(ac)[-1] == "locked"


def test_plug_stays_locked_through_a_pause_and_unlocks_after_unplug(ac: SimEvse) -> None:
    ac.plug()
    ac.charge()
    ac.settle(0.5)
    assert ac.ctl.contactor_closed
    ac.pause()
    ac.settle(0.3)
    assert not ac.ctl.contactor_closed
    assert ac.world.lock_state() == (True, True), "the session still runs: the plug stays locked"
    ac.unplug()
    ac.settle(0.5)
    assert ac.world.lock_state() == (False, False)
    assert lock_states(ac)[-1] == "unlocked"


def test_stop_charging_unlocks_the_plug_only_after_the_contactor_opened(ac: SimEvse) -> None:
    ac.plug()
    ac.charge()
    ac.settle(0.5)
    assert ac.ctl.contactor_closed
    ac.ctl.handle_stop_charging()
    assert ac.world.lock_state()[0] is True, "still locked while the EV ramps down in C1"
    ac.pause()  # the EV goes to B after the PWM was withdrawn: the contactor opens
    assert not ac.ctl.contactor_closed
    # the contacts take 20 ms to part: no unlock command before the mirror contact reads open
    assert ac.world.lock_state()[0] is True
    ac.settle(0.5)
    assert ac.world.relay.feedback is False and ac.world.lock_state() == (False, False)


def test_the_plug_is_never_unlocked_while_the_contactor_may_be_closed(ac: SimEvse) -> None:
    ac.plug()
    ac.charge()
    ac.settle(0.5)
    ac.world.set_welded(True)
    ac.unplug()  # session over, but the contacts stay welded
    ac.settle(1.0)
    assert "contactor_welded" in ac.ctl.faults
    assert ac.world.lock_state() == (True, True)


def test_lock_feedback_lost_while_charging_opens_the_contactor(ac: SimEvse) -> None:
    ac.plug()
    ac.charge()
    ac.settle(0.5)
    assert ac.ctl.contactor_closed
    with ac.world.lock:
        ac.world.door.locked = False  # the bolt was forced back
    ac.tick()
    assert not ac.ctl.contactor_closed
    decision = ac.ctl.last_decision
    assert decision is not None and Blocker.PLUG_NOT_LOCKED in decision.blockers


def test_a_lock_that_does_not_engage_is_a_lock_hardware_fault_and_the_contactor_stays_open(
    rigs: list[SimEvse],
) -> None:
    rig = locked_rig(rigs, delay_ms=10_000.0)  # a jammed actuator
    rig.plug()
    rig.charge()
    rig.settle(2.5)
    assert not rig.ctl.contactor_closed and rig.world.relay.closings == 0
    faults = [(f.component_name, f.fault_name) for f in rig.of(p.HardwareFaultUpdate)]
    assert faults == [("lock", p.HardwareFaultName.OTHER)]
    assert lock_states(rig)[-1] == "error"
    rig.settle(8.0)  # the bolt finally arrives: the fault clears and charging starts
    assert "lock" not in rig.ctl.faults
    assert rig.ctl.contactor_closed


def test_a_lock_without_feedback_counts_as_locked_after_its_settle_time(rigs: list[SimEvse]) -> None:
    rig = locked_rig(rigs, has_feedback=False)
    rig.plug()
    rig.charge()
    rig.settle(0.5)
    assert not rig.ctl.contactor_closed
    rig.settle(1.0)
    assert rig.ctl.contactor_closed


def test_explicit_unlock_is_refused_while_closed_and_works_without_a_session(ac: SimEvse) -> None:
    assert ac.ctl.lock_connector_id == 1
    assert ac.ctl.request_lock(1, True) is None
    ac.settle(0.3)
    assert ac.world.lock_state() == (True, True), "no session: the explicit lock holds"
    assert ac.ctl.request_lock(1, False) is None
    ac.settle(0.3)
    assert ac.world.lock_state() == (False, False)
    ac.plug()
    ac.charge()
    ac.settle(0.5)
    assert ac.ctl.contactor_closed
    assert ac.ctl.request_lock(1, False) == "unlock refused: contactor closed"
    ac.settle(0.3)
    assert ac.world.lock_state() == (True, True) and ac.ctl.contactor_closed


def test_a_fixed_cable_lock_is_not_interlocked(rigs: list[SimEvse]) -> None:
    rig = SimEvse(
        "ac",
        lock={"delay_ms": 10_000.0},
        connectors=(ConnectorSettings(1, cable="fixed", max_cable_current_a=32.0),),
    )
    rigs.append(rig)
    assert rig.ctl.lock_connector_id is None
    rig.plug()
    rig.charge()
    rig.settle(0.5)
    assert rig.ctl.contactor_closed
