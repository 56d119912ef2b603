"""Full charging sessions on the simulated board through a real mosquitto broker.

A test Josev client (a plain paho client, :class:`tests.support.broker.JosevPeer`) follows
MESSAGES.md §2.4; the EV is driven over MQTT on ``sim/cs`` exactly as any external tool would.
Every message the station publishes on ``cs/josev`` is validated against the shared contract's
JSON Schemas at the end of each test.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from josev_hal_sim import SimControl, WorldRegistry, set_default_registry

from josev_hal.board import Board
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from josev_hal.station import Station
from tests.support.broker import JosevPeer
from tests.support.contract import Contract

BOARD = Path(__file__).resolve().parents[1] / "boards" / "sim.toml"
AC = "DE*JHL*E0001"
DC = "DE*JHL*E0002"

Msgs = list[dict[str, Any]]


class Rig:
    """Station + board + bridge on the test broker, and a Josev peer."""

    def __init__(
        self, bridge: Any, station: Station, peer: JosevPeer, board: Board, registry: WorldRegistry
    ) -> None:
        self.bridge, self.station, self.peer, self.board = bridge, station, peer, board
        self.registry = registry

    def request(self, name: str, data: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        msg = {"id": str(uuid.uuid4()), "name": name, "type": "request", "data": data}
        return self.peer.request(msg, timeout)["data"]  # type: ignore[no-any-return]

    def update(self, name: str, data: dict[str, Any]) -> None:
        self.peer.send({"id": str(uuid.uuid4()), "name": name, "type": "update", "data": data})

    def sim(self, evse_id: str, action: str, **extra: Any) -> None:
        self.peer.send({"evse_id": evse_id, "connector_id": 1, "action": action, **extra}, topic="sim/cs")

    def wait(self, predicate: Callable[[Msgs], bool], timeout: float = 5.0) -> Msgs:
        return self.peer.wait_for(predicate, timeout)

    def updates(self, name: str, evse_id: str | None = None) -> Msgs:
        return [
            m
            for m in self.peer.messages()
            if m["name"] == name and m["type"] == "update" and (evse_id is None or _evse(m) == evse_id)
        ]

    def wait_cp(self, evse_id: str, state: str, timeout: float = 5.0) -> None:
        self.wait(
            lambda ms: any(_is(m, "cp_status", evse_id) and m["data"]["state"] == state for m in ms), timeout
        )

    def wait_contactor(self, evse_id: str, status: str, timeout: float = 5.0) -> None:
        self.wait(lambda ms: _last(ms, "cs_contactor_status", evse_id) == status, timeout)


def _evse(m: dict[str, Any]) -> str | None:
    data = m["data"]
    if "evse_id" in data:
        return str(data["evse_id"])
    if data.get("evses"):
        return str(data["evses"][0]["evse_id"])
    return None


def _is(m: dict[str, Any], name: str, evse_id: str) -> bool:
    return bool(m["name"] == name and m["type"] == "update" and _evse(m) == evse_id)


def _last(ms: Msgs, name: str, evse_id: str) -> str | None:
    found = [m["data"]["status"] for m in ms if _is(m, name, evse_id)]
    return found[-1] if found else None


def board_text(**replacements: str) -> str:
    text = BOARD.read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def station_rig(
    broker: EmbeddedBroker, bridge_factory: Callable[..., Any], request: pytest.FixtureRequest
) -> Iterator[Rig]:
    replacements: dict[str, str] = getattr(request, "param", {})
    registry = WorldRegistry()
    previous = set_default_registry(registry)
    pm = get_plugin_manager()
    profile = load_profile_text(board_text(**replacements), str(BOARD), pm)
    board = Board.build(profile, pm)
    board.setup()
    peer = JosevPeer(broker)
    bridge = bridge_factory(start=False)
    station = Station(profile, board, bridge)
    station.register()
    bridge.subscribe_raw("sim/cs", SimControl(registry).on_message)
    bridge.start(wait_s=10)
    station.start()
    rig = Rig(bridge, station, peer, board, registry)
    try:
        yield rig
    finally:
        station.stop()
        bridge.stop()
        peer.close()
        board.release()
        set_default_registry(previous)
        registry.clear()


def validate_all(rig: Rig, contract: Contract) -> None:
    sent = [raw for topic, raw in rig.peer.received if topic == "cs/josev"]
    assert sent
    for raw in sent:
        contract.validate(raw)


pytestmark = pytest.mark.timeout(60)


def test_startup_answers_and_announces_every_connector(station_rig: Rig, contract: Contract) -> None:
    rig = station_rig
    params = rig.request("cs_parameters", {})
    assert params["number_of_evses"] == 2
    assert [e["evse_id"] for e in params["parameters"]] == [AC, DC]
    assert params["parameters"][0]["connectors"][0]["services"]["ac"]["nominal_voltage"] == 230
    assert "dc" in params["parameters"][1]["connectors"][0]["services"]
    limits = rig.request("cs_status_and_limits", {})
    by_id = {e["evse_id"]: e for e in limits["evses"]}
    assert by_id[AC]["ac"]["max_current"] == {"l1": 32.0, "l2": 32.0, "l3": 32.0}
    assert by_id[DC]["dc"]["max_power"] == 50000.0
    rig.wait_cp(AC, "A1")
    rig.wait_cp(DC, "A1")
    validate_all(rig, contract)


def test_ac_basic_charging_session(station_rig: Rig, contract: Contract) -> None:
    rig = station_rig
    rig.wait_cp(AC, "A1")
    rig.sim(AC, "plug", cable_a=32)
    rig.wait_cp(AC, "B1")
    # CSMS remote start: OCPP announces the authorization; Josev sets the basic-charging current
    rig.update("authorization", {"evse_id": AC, "token_type": "central", "status": "accepted"})
    pwm = rig.request(
        "cp_pwm", {"evse_id": AC, "hlc": False, "current": 16.0, "error_state": False, "fault_state": False}
    )
    assert pwm["status"] == "valid"
    rig.wait_cp(AC, "B2")
    rig.sim(AC, "charge")
    rig.wait_cp(AC, "C2")
    c2 = next(m for m in rig.updates("cp_status", AC) if m["data"]["state"] == "C2")
    assert c2["data"]["duty_cycle"] == 26.67  # 16 A, IEC 61851 duty
    rig.wait_contactor(AC, "closed")
    assert rig.request("cs_contactor_status", {"evse_id": AC})["status"] == "closed"
    # OCPP polls the meter: a fresh reading with its own timestamp
    rig.wait(
        lambda ms: any(_is(m, "meter_values", AC) and m["data"]["current"]["l1"] > 15 for m in ms), timeout=5
    )
    meter = rig.request("meter_values", {"evse_id": AC, "timestamp": "2026-01-01T00:00:00.000Z"})
    assert meter["current"]["l1"] == pytest.approx(16.0, abs=0.1)
    assert meter["timestamp"] != "2026-01-01T00:00:00.000Z"
    # remote stop: the PWM goes off at once (C1); the contactor opens once the EV is in B
    assert rig.request("stop_charging", {"evse_id": AC})["status"] == "accepted"
    rig.wait_cp(AC, "C1")
    rig.sim(AC, "pause")
    rig.wait_contactor(AC, "opened")
    rig.sim(AC, "unplug")
    rig.wait(lambda ms: [m["data"]["state"] for m in ms if _is(m, "cp_status", AC)][-1] == "A1")
    rig.update("transaction_status", {"transaction_id": "tx-1", "evse_id": AC, "status": "ended"})
    states = [m["data"]["state"] for m in rig.updates("cp_status", AC)]
    assert states[:6] == ["A1", "B1", "B2", "C2", "C1", "B1"]
    validate_all(rig, contract)


def test_dc_session(station_rig: Rig, contract: Contract) -> None:
    rig = station_rig
    rig.wait_cp(DC, "A1")
    rig.sim(DC, "plug")
    rig.wait_cp(DC, "B1")
    # SLAC starts: 5 % PWM, matching; ISO 15118 takes over
    assert (
        rig.request("cp_pwm", {"evse_id": DC, "hlc": True, "error_state": False, "fault_state": False})[
            "status"
        ]
        == "valid"
    )
    rig.update("slac_status", {"evse_id": DC, "run_id": "0xAAD2BB1357FF0001", "status": "matched"})
    rig.update("hlc_charging", {"evse_id": DC, "status": True})
    rig.wait_cp(DC, "B2")
    rig.sim(DC, "charge")
    rig.wait_cp(DC, "C2")
    # CableCheck
    assert (
        rig.request("cable_check", {"evse_id": DC, "cable_check_action": "start"})["cable_check_status"]
        == "ongoing"
    )
    deadline = time.monotonic() + 10
    while True:
        status = rig.request("cable_check", {"evse_id": DC, "cable_check_action": "status"})
        if status["cable_check_status"] == "finished":
            break
        assert time.monotonic() < deadline, "cable check never finished"
        time.sleep(0.2)
    assert status["isolation_level"] == "valid"
    # PreCharge, then PowerDelivery and CurrentDemand
    precharge = {
        "evse_id": DC,
        "is_precharge": True,
        "dc": {"charge_current": 2.0, "voltage": 400.0},
        "ev_limits": {"maximum_voltage": 450.0},
    }
    assert rig.request("power_electronics_setpoint", precharge)["status"] == "accepted"
    rig.wait_contactor(DC, "closed")
    assert rig.request("cs_contactor_status", {"evse_id": DC})["status"] == "closed"
    demand = {**precharge, "is_precharge": False, "dc": {"charge_current": 100.0, "voltage": 400.0}}
    assert rig.request("power_electronics_setpoint", demand)["status"] == "accepted"
    rig.wait(
        lambda ms: any(
            _is(m, "cs_status_and_limits", DC) and m["data"]["evses"][0]["dc"]["present_current"] >= 99.0
            for m in ms
        ),
        timeout=10,
    )
    # SessionStop: the EV opens S2 and ISO 15118 ends
    rig.sim(DC, "pause")
    rig.wait_contactor(DC, "opened")
    rig.update("hlc_charging", {"evse_id": DC, "status": False})
    rig.sim(DC, "unplug")
    rig.wait(lambda ms: [m["data"]["state"] for m in ms if _is(m, "cp_status", DC)][-1] == "A1")
    validate_all(rig, contract)


FAST_METER = {"interval_s = 1.0": "interval_s = 0.2", "stale_after_s = 3.0": "stale_after_s = 0.6"}


@pytest.mark.parametrize("station_rig", [{}, FAST_METER], indirect=True, ids=["sim-toml-meter", "fast-meter"])
def test_stale_meter_gives_hardware_fault_and_no_fresh_values(station_rig: Rig, contract: Contract) -> None:
    rig = station_rig
    stale_after = rig.station.controller(AC).settings.meter_stale_after_s
    rig.sim(AC, "plug")
    rig.update("authorization", {"evse_id": AC, "token_type": "central", "status": "accepted"})
    rig.sim(AC, "charge")
    rig.wait_contactor(AC, "closed")
    rig.wait(lambda ms: any(_is(m, "meter_values", AC) and m["data"]["current"]["l1"] > 0 for m in ms))
    rig.sim(AC, "meter_offline")
    offline_at = time.monotonic()
    rig.wait(lambda ms: any(_is(m, "hardware_fault", AC) for m in ms), timeout=5)
    assert time.monotonic() - offline_at < 2.0 + 1.0  # 2 s target, generous bound for a busy CI box
    fault = next(m for m in rig.peer.messages() if _is(m, "hardware_fault", AC))
    assert fault["data"]["component_name"] == "meter"
    count = len(rig.updates("meter_values", AC))
    time.sleep(stale_after + 0.5)
    after = rig.updates("meter_values", AC)
    assert len(after) <= count + 1, "at most the one reading in flight when the meter went away"
    with pytest.raises(TimeoutError):  # no answer is honest; an old value with a new stamp is not
        rig.request("meter_values", {"evse_id": AC, "timestamp": "2026-01-01T00:00:00Z"}, timeout=1.0)
    rig.sim(AC, "meter_online")
    rig.wait(lambda ms: len([m for m in ms if _is(m, "meter_values", AC)]) > len(after), timeout=5)
    fresh = rig.request("meter_values", {"evse_id": AC, "timestamp": "2026-01-01T00:00:00Z"})
    assert fresh["timestamp"] > after[-1]["data"]["timestamp"]
    # While energy flows, a later timestamp always carries a larger energy register: no reading
    # was ever re-sent under a fresh timestamp (identical stamps are the same reading).
    readings = sorted(
        {
            (m["data"]["timestamp"], m["data"]["total_active_energy_imported"])
            for m in rig.peer.messages()
            if m["name"] == "meter_values"
            and m["type"] != "request"
            and _evse(m) == AC
            and m["data"]["current"]["l1"] > 0
        }
    )
    assert len(readings) >= 2
    for (t1, e1), (t2, e2) in itertools.pairwise(readings):
        assert t1 == t2 or e2 > e1, f"reading at {t2} repeats the energy of {t1}"
    validate_all(rig, contract)


def test_unknown_evse_and_bad_requests_get_error_shaped_answers(station_rig: Rig, contract: Contract) -> None:
    rig = station_rig
    bad = rig.request(
        "cp_pwm", {"evse_id": "DE*NOPE", "hlc": True, "error_state": False, "fault_state": False}
    )
    assert bad["status"] == "invalid"
    assert rig.request("stop_charging", {"evse_id": "DE*NOPE"})["status"] == "rejected"
    assert rig.request("cs_contactor_status", {"evse_id": "DE*NOPE"})["status"] == "error"
    invalid = rig.request(
        "cp_pwm", {"evse_id": AC, "hlc": True, "current": 16, "error_state": False, "fault_state": False}
    )
    assert invalid["status"] == "invalid"
    validate_all(rig, contract)


def test_snapshot_is_republished_after_a_broker_restart(station_rig: Rig, broker: EmbeddedBroker) -> None:
    rig = station_rig
    rig.sim(AC, "plug")
    rig.wait_cp(AC, "B1")  # not authorized yet: no PWM
    before = len(rig.updates("cp_status", AC))
    broker.restart()
    rig.wait(lambda ms: len([m for m in ms if _is(m, "cp_status", AC)]) > before, timeout=15)
    assert rig.updates("cp_status", AC)[-1]["data"]["state"] == "B1"
    assert json.loads(json.dumps(rig.updates("cs_contactor_status", AC)[-1]))["data"]["status"] == "opened"


def test_contactor_opens_while_the_broker_is_down_and_josev_learns_it_afterwards(
    station_rig: Rig, broker: EmbeddedBroker, contract: Contract
) -> None:
    rig = station_rig
    rig.sim(AC, "plug")
    rig.wait_cp(AC, "B1")
    rig.update(
        "authorization",
        {"evse_id": AC, "token_type": "ISO14443", "id_token": "04a2b3c4", "status": "accepted"},
    )
    rig.sim(AC, "charge")
    rig.wait_contactor(AC, "closed")
    controller = rig.station.controller(AC)
    broker.stop()
    world = rig.registry.find(AC)
    assert world is not None
    world.rcd_trip()  # the EV side cannot reach us over MQTT now; the fault still must act
    # The trip is evaluated on the notifying thread, or - when the sampler holds the EVSE lock at
    # that instant - by the sampler before it lets go: either way while the broker is still down.
    deadline = time.monotonic() + 2.0
    while controller.contactor_closed and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not controller.contactor_closed, "opening must not wait for the broker"
    broker.start()
    rig.wait_contactor(AC, "opened", timeout=15)
    rig.wait(lambda ms: any(_is(m, "hardware_fault", AC) for m in ms), timeout=15)
    validate_all(rig, contract)


def test_station_stop_opens_stops_the_schedulers_and_touches_nothing_afterwards(station_rig: Rig) -> None:
    rig = station_rig
    rig.sim(AC, "plug")
    rig.wait_cp(AC, "B1")
    rig.update("authorization", {"evse_id": AC, "token_type": "central", "status": "accepted"})
    rig.sim(AC, "charge")
    rig.wait_contactor(AC, "closed")
    names = {t.name for t in threading.enumerate()}
    assert {"station-sampler", "station-slow"} <= names
    assert not any(n.startswith(("cp-DE", "meter-DE")) for n in names), "no threads per EVSE"
    rig.station.stop()
    world = rig.registry.find(AC)
    assert world is not None and world.relay.commanded is False
    assert not any(t.name in ("station-sampler", "station-slow") for t in threading.enumerate())
    evaluations = rig.station.controller(AC).last_decision
    time.sleep(0.3)
    assert rig.station.controller(AC).last_decision is evaluations, "no evaluation after stop"
    rig.station.stop()  # idempotent
