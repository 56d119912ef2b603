"""Issue #13, station side: the safety path never waits on the publisher, shutdown is final, the
sampling loops beat the liveness watchdog.

The "wedged bridge" is a publisher that blocks until the test lets it go (``publish_gate``), the
shape paho gave the bridge when the broker died mid-publish. Everything else is the real core on
the sim board."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest
from josev_hal_sim.physics import EvRequest

from josev_hal.devices import CpMode
from josev_hal.liveness import Liveness
from josev_hal.messages import payloads as p
from josev_hal.station.events import EventKind
from tests.support.station import SimEvse
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    event.set()
    yield event
    event.set()  # never leave a thread blocked behind the test


@pytest.fixture
def rig(gate: threading.Event) -> Iterator[SimEvse]:
    made = SimEvse("ac", publish_gate=gate)
    yield made
    gate.set()
    stopper = threading.Thread(target=lambda: made.ctl.stop(timeout=1.0), daemon=True)
    stopper.start()
    advance_clock_while(made, stopper)
    made.close()


def charging(rig: SimEvse) -> None:
    rig.plug()
    rig.charge()
    rig.settle(0.3)
    assert rig.ctl.contactor_closed and rig.world.relay.feedback


def wedge_publisher(rig: SimEvse, gate: threading.Event) -> threading.Thread:
    """Close the gate and make a worker thread publish into it (it blocks inside the publisher)."""
    gate.clear()
    worker = threading.Thread(target=lambda: rig.ctl.set_derating_limit(10.0), daemon=True)
    worker.start()
    assert eventually(lambda: rig.ctl.derating_limit_a == 10.0)
    # the worker, or a sampling thread that took the delivery over, is now stuck in the publisher
    assert eventually(lambda: rig.blocked_publishers >= 1), "nobody got stuck in the publisher"
    return worker


def advance_clock_while(rig: SimEvse, busy: threading.Thread, step_s: float = 0.005) -> None:
    """Let simulated time run (the relay's mirror contact follows it) while ``busy`` works."""
    while busy.is_alive():
        rig.clock.advance(step_s)
        time.sleep(0.001)


def test_a_wedged_publisher_does_not_stop_an_unplug_from_opening_the_contactor(
    rig: SimEvse, gate: threading.Event
) -> None:
    charging(rig)
    wedge_publisher(rig, gate)
    rig.unplug()  # the CP driver's notify() evaluates on this thread
    assert not rig.ctl.contactor_closed
    assert rig.world.relay.commanded is False
    gate.set()
    rig.settle(0.1)  # the mirror contact follows the relay's 20 ms open delay
    assert eventually(lambda: rig.ctl.pending_updates() == 0)
    assert [m.status.value for m in rig.of(p.CsContactorStatusUpdate)][-1] == "opened"


def test_a_wedged_publisher_does_not_stop_an_rcd_trip_from_opening_the_contactor(
    rig: SimEvse, gate: threading.Event
) -> None:
    charging(rig)
    wedge_publisher(rig, gate)
    rig.world.rcd_trip()
    rig.tick()  # the sampling step runs on this thread, the publisher is still wedged
    assert not rig.ctl.contactor_closed and rig.world.relay.commanded is False
    assert rig.ctl.rcd_tripped


def test_updates_keep_their_order_when_delivery_is_handed_over(rig: SimEvse, gate: threading.Event) -> None:
    charging(rig)
    wedge_publisher(rig, gate)
    rig.pause()  # C2 -> B2: cp_status and contactor updates queue behind the wedged one
    rig.settle(0.2)
    rig.unplug()
    rig.settle(0.2)
    gate.set()
    assert eventually(lambda: rig.ctl.pending_updates() == 0)
    states = [m.state.value for m in rig.of(p.CpStatusUpdate)]
    assert states[-3:] == ["B2", "A2", "A1"] or states[-2:] == ["A2", "A1"]
    assert [m.status.value for m in rig.of(p.CsContactorStatusUpdate)][-1] == "opened"


def test_stop_while_charging_never_closes_again_and_publishes_opened_last(rig: SimEvse) -> None:
    charging(rig)
    rig.ctl.start()  # the real sampling thread keeps evaluating while we stop
    keep_going = threading.Event()

    def josev() -> None:  # requests keep arriving during the shutdown
        while not keep_going.is_set():
            rig.ctl.handle_cp_pwm(
                p.CpPwmRequest(
                    evse_id=rig.evse_id, hlc=False, error_state=False, fault_state=False, current=16.0
                )
            )
            rig.ctl.set_authorized(True)
            rig.world.set_request(EvRequest.CHARGE)

    worker = threading.Thread(target=josev, daemon=True)
    worker.start()
    time.sleep(0.2)
    stopper = threading.Thread(target=rig.ctl.stop, daemon=True)
    stopper.start()
    # stop() waits up to 1 s of wall time for the mirror contact, which opens after 20 ms of
    # simulated time: one 20 ms step per turn, so a starved test thread (the request loop above
    # competes for the GIL on a loaded machine) still lets it open in time.
    advance_clock_while(rig, stopper, step_s=0.02)
    keep_going.set()
    worker.join(5)

    kinds = [(e.kind, e.detail.get("reason")) for e in rig.events]
    stop_at = kinds.index((EventKind.CONTACTOR_OPENED, "station stopping"))
    assert EventKind.CONTACTOR_CLOSED not in [k for k, _ in kinds[stop_at:]]
    assert not rig.ctl.contactor_closed and rig.world.relay.commanded is False
    assert rig.world.relay.feedback is False, "the opening was confirmed"
    assert rig.world.cp.mode is CpMode.X1
    assert [m.status.value for m in rig.of(p.CsContactorStatusUpdate)][-1] == "opened"


def test_requests_after_stop_are_refused_and_touch_no_driver(
    rig: SimEvse, caplog: pytest.LogCaptureFixture
) -> None:
    charging(rig)
    stopper = threading.Thread(target=rig.ctl.stop, daemon=True)
    stopper.start()
    advance_clock_while(rig, stopper)
    for driver in rig.drivers:  # what the daemon does after station.stop()
        driver.release()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        response = rig.ctl.handle_cp_pwm(
            p.CpPwmRequest(evse_id=rig.evse_id, hlc=False, error_state=False, fault_state=False, current=16.0)
        )
        assert response.status is p.CpPwmStatus.ERROR and "stopping" in str(response.info)
        rig.ctl.set_available(False)
        assert rig.ctl.request_lock(1, True) is not None
        assert rig.ctl.clear_faults() == []
        rig.ctl.evaluate()
    touched = [
        r.getMessage()
        for r in caplog.records
        if "before setup" in r.getMessage() or "not set up" in r.getMessage()
    ]
    assert touched == []
    assert not rig.ctl.contactor_closed


def test_stop_finishes_while_the_publisher_is_wedged(rig: SimEvse, gate: threading.Event) -> None:
    charging(rig)
    rig.ctl.start()
    wedge_publisher(rig, gate)
    stopper = threading.Thread(target=lambda: rig.ctl.stop(timeout=1.0), daemon=True)
    stopper.start()
    stopper.join(1.0)  # simulated time stands still: confirmation waits its bounded time
    advance_clock_while(rig, stopper)
    stopper.join(10)
    assert not stopper.is_alive(), "stop() hung behind the wedged publisher"
    assert not rig.ctl.contactor_closed and rig.world.relay.commanded is False
    assert rig.world.cp.mode is CpMode.X1


def test_a_contactor_that_does_not_open_at_stop_is_reported_welded(rig: SimEvse) -> None:
    charging(rig)
    rig.world.set_welded(True)
    stopper = threading.Thread(target=rig.ctl.stop, daemon=True)
    stopper.start()
    advance_clock_while(rig, stopper)
    assert "contactor_welded" in rig.ctl.faults
    assert [m.status.value for m in rig.of(p.CsContactorStatusUpdate)][-1] == "error"


def test_the_sampling_loops_beat_their_heartbeats_and_stop_watching_at_stop() -> None:
    liveness = Liveness()
    rig = SimEvse("ac")
    try:
        from josev_hal.station.evse import EvseController

        ctl = EvseController(
            rig.settings, rig.devices, lambda payload: None, clock=rig.clock.now, liveness=liveness
        )
        ctl.start()
        assert eventually(lambda: len(liveness.names()) == 2)
        assert liveness.names() == [f"station.cp.{rig.evse_id}", f"station.meter.{rig.evse_id}"]
        assert liveness.overdue() == []
        ctl.stop(timeout=1.0)
        assert liveness.names() == []
    finally:
        rig.close()


def test_a_loop_stuck_in_the_publisher_is_reported_overdue_with_its_stack(gate: threading.Event) -> None:
    fake_now = [100.0]
    liveness = Liveness(clock=lambda: fake_now[0])
    rig = SimEvse("ac")
    from josev_hal.station.evse import EvseController

    def publish(payload: object) -> None:
        gate.wait()

    ctl = EvseController(rig.settings, rig.devices, publish, clock=rig.clock.now, liveness=liveness)
    try:
        gate.clear()
        ctl.start()  # the meter loop's first reading is published at once and gets stuck there
        assert eventually(lambda: len(liveness.names()) == 2)
        time.sleep(0.3)
        fake_now[0] += 60.0
        time.sleep(0.3)  # a healthy loop has beaten at the new time by now
        late = {o.name: o for o in liveness.overdue()}
        assert list(late) == [f"station.meter.{rig.evse_id}"], "the CP loop keeps turning"
        assert (
            "def publish" in late[f"station.meter.{rig.evse_id}"].stack
            or "gate.wait()" in late[f"station.meter.{rig.evse_id}"].stack
        )
    finally:
        gate.set()
        ctl.stop(timeout=1.0)
        rig.close()
