"""change_availability: requests over mosquitto fed into the real controllers, scheduling around
running transactions, persistence across a restart of the HAL, and -- as a property on the sim
board -- that an EVSE made inoperative never closes its contactor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.functions.availability import STATE_FILE, AvailabilityManager
from josev_hal.functions.ports import StationEvse
from josev_hal.messages import payloads as p
from tests.support.broker import JosevPeer
from tests.support.contract import Contract
from tests.support.functions_rig import AC, DC, FunctionsRig, request_doc, wait_until
from tests.support.station import SimEvse


@pytest.fixture
def rig(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[FunctionsRig]:
    (tmp_path / "state").mkdir()
    instance = FunctionsRig(broker, tmp_path / "state")
    yield instance
    instance.close()


def _change(rig: FunctionsRig, contract: Contract, **data: object) -> str:
    response = rig.request("change_availability", data)
    contract.validate(response)
    return str(response["data"]["status"])


def test_inoperative_evse_is_unavailable_and_stays_so_after_a_restart(
    rig: FunctionsRig, contract: Contract
) -> None:
    assert _change(rig, contract, operational_status="inoperative", evse_id=AC) == "accepted"
    assert not rig.controller(AC).available
    assert rig.controller(DC).available
    saved = json.loads((rig.state_dir / STATE_FILE).read_text())
    assert saved["inoperative_evses"] == [AC]

    rig.restart()
    assert not rig.controller(AC).available  # restored before Josev said anything
    assert rig.controller(DC).available
    # After the reconnect Josev is told again which scopes are inoperative.
    msgs = rig.peer.wait_for(
        lambda ms: any(m["name"] == "change_availability" and m["data"].get("evse_id") == AC for m in ms)
    )
    announced = [m for m in msgs if m["name"] == "change_availability" and m["type"] == "update"]
    for message in announced:
        contract.validate(message)
    assert announced[-1]["data"] == {"operational_status": "inoperative", "evse_id": AC}

    assert _change(rig, contract, operational_status="operative", evse_id=AC) == "accepted"
    assert rig.controller(AC).available
    rig.restart()
    assert rig.controller(AC).available


def test_change_during_a_transaction_is_scheduled_until_it_ends(
    rig: FunctionsRig, contract: Contract
) -> None:
    rig.start_transaction(AC)
    assert _change(rig, contract, operational_status="inoperative", evse_id=AC) == "accepted"
    # The running session is not cut ...
    assert rig.controller(AC).available
    assert rig.functions.availability.pending() == {AC}
    # ... but the decision is already persisted, so a restart would not lose it.
    assert json.loads((rig.state_dir / STATE_FILE).read_text())["inoperative_evses"] == [AC]
    rig.end_transaction(AC)
    wait_until(lambda: not rig.controller(AC).available)
    # Josev learns when the scheduled change took effect.
    msgs = rig.peer.wait_for(
        lambda ms: any(m["name"] == "change_availability" and m["type"] == "update" for m in ms)
    )
    update = next(m for m in msgs if m["name"] == "change_availability" and m["type"] == "update")
    contract.validate(update)
    assert update["data"] == {"operational_status": "inoperative", "evse_id": AC}


def test_connector_and_station_scopes(rig: FunctionsRig, contract: Contract) -> None:
    assert _change(rig, contract, operational_status="inoperative", evse_id=AC, connector_id=1) == "accepted"
    assert not rig.controller(AC).available  # the connectors of an EVSE share one contactor
    assert _change(rig, contract, operational_status="inoperative", evse_id=AC, connector_id=7) == "rejected"
    assert _change(rig, contract, operational_status="inoperative") == "accepted"
    assert not rig.controller(DC).available
    # Station operative makes everything operative again (OCPP G03).
    assert _change(rig, contract, operational_status="operative") == "accepted"
    assert rig.controller(AC).available and rig.controller(DC).available
    assert json.loads((rig.state_dir / STATE_FILE).read_text()) == {
        "version": 1,
        "station": "operative",
        "inoperative_evses": [],
        "inoperative_connectors": {},
    }


def test_the_stations_own_change_is_published_and_can_stop_a_session(
    rig: FunctionsRig, contract: Contract
) -> None:
    rig.start_transaction(AC)
    rig.functions.notify.change_availability(False, AC, force=True)
    assert not rig.controller(AC).available  # forced: applied during the session
    msgs = rig.peer.wait_for(lambda ms: any(m["name"] == "change_availability" for m in ms))
    update = next(m for m in msgs if m["name"] == "change_availability")
    contract.validate(update)
    assert update["data"] == {"operational_status": "inoperative", "evse_id": AC}


@pytest.mark.parametrize("content", ["{not json", '{"version": 1, "station": "maybe"}', "[]"])
def test_a_corrupt_state_file_is_kept_aside_and_the_station_starts_operative(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / STATE_FILE).write_text(content)
    sim = SimEvse()
    try:
        manager = AvailabilityManager([StationEvse(sim.ctl)], tmp_path, lambda payload: None)
        assert manager.applied(sim.evse_id) is True
        assert (tmp_path / (STATE_FILE + ".corrupt")).read_text() == content
    finally:
        sim.close()


# ------------------------------------------------------------------------------------------------
# property: inoperative never closes
# ------------------------------------------------------------------------------------------------

ACTIONS = st.lists(
    st.sampled_from(
        [
            "plug",
            "unplug",
            "charge",
            "pause",
            "authorize",
            "deauthorize",
            "inoperative",
            "operative",
            "tx_start",
            "tx_end",
            "connector_inoperative",
            "station_inoperative",
            "station_operative",
            "tick",
        ]
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(charging_first=st.booleans(), actions=ACTIONS)
def test_an_evse_made_inoperative_never_closes_its_contactor(
    charging_first: bool, actions: list[str]
) -> None:
    sim = SimEvse(free_charging=False)
    if charging_first:
        # Start half of the runs from a charging EV, so "inoperative during a session" is common.
        actions = ["plug", "charge", "authorize", *actions]
    published: list[object] = []
    with tempfile.TemporaryDirectory() as state_dir:
        port = StationEvse(sim.ctl)
        manager = AvailabilityManager([port], Path(state_dir), published.append)
        try:
            for action in actions:
                if action == "plug":
                    sim.plug()
                elif action == "unplug":
                    sim.unplug()
                elif action == "charge":
                    sim.charge()
                elif action == "pause":
                    sim.pause()
                elif action in ("authorize", "deauthorize"):
                    sim.ctl.set_authorized(action == "authorize")
                elif action == "inoperative":
                    manager.change(False, sim.evse_id)
                elif action == "operative":
                    manager.change(True, sim.evse_id)
                elif action == "connector_inoperative":
                    manager.change(False, sim.evse_id, 1)
                elif action == "station_inoperative":
                    manager.change(False)
                elif action == "station_operative":
                    manager.change(True)
                elif action == "tx_start":
                    sim.ctl.on_transaction_status("tx", p.TransactionState.STARTED)
                elif action == "tx_end":
                    sim.ctl.on_transaction_status("tx", p.TransactionState.ENDED)
                manager.apply()  # what the watcher thread does
                sim.settle(0.3)
                if sim.ctl.contactor_closed:
                    event("contactor closed at least once")
                if manager.applied(sim.evse_id) is False:
                    assert not sim.ctl.available
                    assert not sim.ctl.contactor_closed, f"contactor closed while inoperative after {action}"
                    assert sim.world.relay_state()[1] is False  # the real (sim) contact is open too
                if not manager.effective(sim.evse_id) and not sim.ctl.is_transaction_active():
                    # without a session there is nothing to wait for: applied at once
                    assert manager.applied(sim.evse_id) is False
        finally:
            manager.close()
            sim.close()


def test_inoperative_waits_for_the_ev_to_stop_then_the_contactor_never_closes_again(tmp_path: Path) -> None:
    """The property above is not vacuous: the same EVSE does close while operative."""
    sim = SimEvse(free_charging=False)
    try:
        manager = AvailabilityManager([StationEvse(sim.ctl)], tmp_path, lambda payload: None)
        sim.plug()
        sim.charge()
        sim.ctl.set_authorized(True)
        sim.settle(1.0)
        assert sim.ctl.contactor_closed and sim.world.relay_state() == (True, True)
        manager.change(False, sim.evse_id)  # an EV is charging: scheduled, not cut
        sim.settle(0.3)
        assert sim.ctl.contactor_closed and manager.pending() == {sim.evse_id}
        sim.pause()  # a pause (C2 -> B2) is not the end of the transaction (issue #14 item 14)
        sim.settle(0.5)
        manager.apply()
        assert manager.pending() == {sim.evse_id} and sim.ctl.available
        sim.unplug()  # the EV leaves: the transaction is over, the change takes effect
        sim.settle(0.5)
        manager.apply()
        assert manager.applied(sim.evse_id) is False and not sim.ctl.available
        sim.plug()
        sim.ctl.set_authorized(True)
        sim.charge()  # the next EV asks: refused
        sim.settle(1.0)
        assert not sim.ctl.contactor_closed and sim.world.relay_state() == (False, False)
        manager.close()
    finally:
        sim.close()


# ------------------------------------------------------------------------------------------------
# a real process restart
# ------------------------------------------------------------------------------------------------


def _run_hal(broker: EmbeddedBroker, state_dir: Path) -> subprocess.Popen[bytes]:
    """``josev-hal run`` on the built-in sim board as a child process."""
    env = {**os.environ, "JOSEV_HAL_DISABLE_PLUGIN_AUTOLOAD": ""}
    argv = [
        sys.executable,
        "-m",
        "josev_hal.cli",
        "run",
        "--broker",
        broker.url,
        "--state-dir",
        str(state_dir),
    ]
    # stderr to a file, not a pipe: nobody reads the pipe, and a full one would block the HAL.
    with (state_dir / "stderr.txt").open("ab") as stderr:
        return subprocess.Popen(
            [*argv, "--wait-broker", "10"], stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )


def _stop_hal(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_availability_survives_a_restart_of_the_hal_process(
    broker: EmbeddedBroker, tmp_path: Path, contract: Contract
) -> None:
    peer = JosevPeer(broker)
    proc = _run_hal(broker, tmp_path)
    try:
        first = wait_until(
            lambda: _try_request(
                peer, "change_availability", {"operational_status": "inoperative", "evse_id": AC}
            ),
            30,
        )
        contract.validate(first)
        assert first["data"] == {"status": "accepted"}
        _stop_hal(proc)
        assert json.loads((tmp_path / STATE_FILE).read_text())["inoperative_evses"] == [AC]
        seen = len(peer.messages())
        proc = _run_hal(broker, tmp_path)
        # The new process restores the state and re-announces it when it connects.
        msgs = peer.wait_for(
            lambda ms: any(
                m["name"] == "change_availability"
                and m["type"] == "update"
                and m["data"].get("evse_id") == AC
                for m in ms[seen:]
            ),
            30,
        )
        update = next(m for m in msgs[seen:] if m["name"] == "change_availability" and m["type"] == "update")
        contract.validate(update)
        assert update["data"] == {"operational_status": "inoperative", "evse_id": AC}

        # And the EVSE really is unavailable: its CP settles in state F (EVSE not available).
        # (The old process's last snapshot, A1, may still arrive after ``seen``.)
        def last_ac_state() -> str | None:
            states = [
                m["data"]["state"]
                for m in peer.messages()[seen:]
                if m["name"] == "cp_status" and m["data"]["evse_id"] == AC
            ]
            return states[-1] if states else None

        wait_until(lambda: last_ac_state() == "F", 15)
    finally:
        _stop_hal(proc)
        peer.close()


def _try_request(peer: JosevPeer, name: str, data: dict[str, object]) -> dict[str, object] | None:
    try:
        return peer.request(request_doc(name, data), timeout=1.0)
    except TimeoutError:
        return None
