"""External control of the simulated world: the command table (valid and invalid, each invalid one
with its JSON path and reason), routing to the right world, and the scripted EV session."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from josev_hal_sim import (
    ACTIONS,
    EvRequest,
    ManualClock,
    SimCommandError,
    SimControl,
    SimEvScript,
    WorldRegistry,
)
from josev_hal_sim.control import (
    MAX_PAYLOAD_BYTES,
    Charge,
    Current,
    DiodeFault,
    Plug,
    Rfid,
    Unplug,
)
from josev_hal_sim.world import SimWorld

from josev_hal.errors import HalError

EVSE = "DE*TST*E0001"


@pytest.fixture
def registry() -> Iterator[WorldRegistry]:
    registry = WorldRegistry(ManualClock())
    registry.attach(f"{EVSE}/1", evse_id=EVSE, connector_id=1)
    yield registry
    registry.clear()


@pytest.fixture
def control(registry: WorldRegistry) -> SimControl:
    return SimControl(registry)


@pytest.fixture
def world(registry: WorldRegistry) -> SimWorld:
    found = registry.find(EVSE)
    assert found is not None
    return found


def cmd(action: str, **fields: Any) -> bytes:
    return json.dumps({"evse_id": EVSE, "action": action, **fields}).encode()


def test_every_action_of_the_issue_is_supported() -> None:
    required = {
        "plug", "unplug", "charge", "ventilation", "pause", "diode_fault", "rcd_trip", "rcd_clear",
        "meter_offline", "meter_online", "weld_contactor", "rfid", "current",
    }  # fmt: skip
    assert required <= set(ACTIONS)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (cmd("plug"), Plug(evse_id=EVSE, connector_id=1)),
        (cmd("plug", cable_a=13, connector_id=2), Plug(evse_id=EVSE, connector_id=2, cable_a=13)),
        (cmd("unplug"), Unplug(evse_id=EVSE)),
        (cmd("charge"), Charge(evse_id=EVSE)),
        (cmd("diode_fault"), DiodeFault(evse_id=EVSE, active=True)),
        (cmd("diode_fault", active=False), DiodeFault(evse_id=EVSE, active=False)),
        (cmd("rfid", uid="04A2B3C4D5E6F7"), Rfid(evse_id=EVSE, uid="04A2B3C4D5E6F7")),
        (cmd("current", amps=16), Current(evse_id=EVSE, amps=16.0)),
        (cmd("current", amps=6.5), Current(evse_id=EVSE, amps=6.5)),
    ],
)
def test_valid_commands_parse_into_their_struct(payload: bytes, expected: object) -> None:
    assert SimControl.parse(payload) == expected


@pytest.mark.parametrize(
    ("payload", "path", "reason"),
    [
        (b"not json", "$", "invalid JSON: JSON is malformed"),
        (b"", "$", "invalid JSON"),
        (b"\xff\xfe", "$", "invalid JSON"),
        (b'{"action": "plug", "evse_id": "\xff"}', "$", "invalid JSON"),  # invalid UTF-8 in a string
        (b"[]", "$", "Expected `object`, got `array`"),
        (json.dumps({"evse_id": EVSE}).encode(), "$.action", "missing required field"),
        (cmd("fly"), "$.action", "Invalid value 'fly' (known actions: plug, unplug"),
        (json.dumps({"evse_id": EVSE, "action": 5}).encode(), "$.action", "Expected `str`"),
        (json.dumps({"action": "plug"}).encode(), "$.evse_id", "missing required field"),
        (
            json.dumps({"evse_id": "", "action": "plug"}).encode(),
            "$.evse_id",
            "Expected `str` of length >= 1",
        ),
        (cmd("plug", connector_id=0), "$.connector_id", "Expected `int` >= 1"),
        (cmd("plug", connector_id="1"), "$.connector_id", "Expected `int`, got `str`"),
        (cmd("plug", cable_a=40), "$.cable_a", "Invalid enum value 40"),
        (cmd("plug", colour="red"), "$.colour", "unknown field"),
        (cmd("rfid"), "$.uid", "missing required field"),
        (cmd("rfid", uid="xyz"), "$.uid", "Expected `str` matching regex"),
        (cmd("rfid", uid="04a2"), "$.uid", "Expected `str` matching regex"),
        (cmd("current"), "$.amps", "missing required field"),
        (cmd("current", amps="16"), "$.amps", "Expected `float`, got `str`"),
        (cmd("current", amps=-1), "$.amps", "Expected `float` >= 0.0"),
        (cmd("current", amps=1000), "$.amps", "Expected `float` <= 500.0"),
        (cmd("isolation", ohm=0), "$.ohm", "Expected `float` > 0.0"),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "$", "exceeds"),
    ],
)
def test_invalid_commands_name_the_json_path_and_reason(payload: bytes, path: str, reason: str) -> None:
    with pytest.raises(SimCommandError) as info:
        SimControl.parse(payload)
    assert info.value.path == path
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{path}: ")
    assert isinstance(info.value, HalError)


def test_unknown_evse_and_connector_are_rejected_with_their_path(control: SimControl) -> None:
    with pytest.raises(SimCommandError) as info:
        control.handle(json.dumps({"evse_id": "DE*XXX*E9", "action": "plug"}))
    assert info.value.path == "$.evse_id"
    assert f"unknown EVSE 'DE*XXX*E9' (simulated: {EVSE})" in str(info.value)
    with pytest.raises(SimCommandError) as info:
        control.handle(cmd("plug", connector_id=2))
    assert info.value.path == "$.connector_id"


def test_handle_payload_logs_and_returns_the_error_instead_of_raising(
    control: SimControl, world: SimWorld, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="josev_hal_sim.control"):
        error = control.handle_payload(cmd("current", amps="lots"))
    assert error == "$.amps: Expected `float`, got `str`"
    assert "sim command rejected: $.amps" in caplog.text
    assert world.ev.draw_a == 32.0  # nothing applied


def test_commands_change_the_world(control: SimControl, world: SimWorld) -> None:
    assert control.handle_payload(cmd("plug", cable_a=20)) is None
    assert world.ev.plugged and world.ev.cable_a == 20
    control.handle(cmd("ventilation"))
    assert world.ev.request is EvRequest.VENTILATION
    control.handle(cmd("pause"))
    assert world.ev.request is EvRequest.IDLE
    control.handle(cmd("diode_fault"))
    assert world.ev.diode_shorted
    control.handle(cmd("rcd_trip"))
    assert world.rcd.tripped
    control.handle(cmd("rcd_clear"))
    assert not world.rcd.tripped
    control.handle(cmd("meter_offline"))
    assert world.meter_values() is None
    control.handle(cmd("meter_online"))
    assert world.meter_values() is not None
    control.handle(cmd("weld_contactor"))
    assert world.relay.welded
    control.handle(cmd("rfid", uid="DEADBEEF"))
    assert world.pop_token() == "deadbeef"
    control.handle(cmd("current", amps=13))
    assert world.ev.draw_a == 13.0
    control.handle(cmd("unplug"))
    assert not world.ev.plugged and not world.ev.diode_shorted


def test_scripted_session_plugs_charges_pauses_and_unplugs(control: SimControl, world: SimWorld) -> None:
    seen: list[tuple[bool, EvRequest, float]] = []
    world.subscribe("cp", lambda: seen.append((world.ev.plugged, world.ev.request, world.ev.draw_a)))
    script = SimEvScript.basic_session(EVSE, amps=16, step_s=0, charge_s=0, uid="04a2b3c4")
    assert script.run(control) == []
    assert seen == [
        (True, EvRequest.IDLE, 32.0),  # plug
        (True, EvRequest.CHARGE, 32.0),  # charge
        (True, EvRequest.IDLE, 16.0),  # pause (after current 16, which the CP driver is not told about)
        (False, EvRequest.IDLE, 16.0),  # unplug
    ]
    actions = [json.loads(p)["action"] for _, p in script.payloads()]
    assert actions == ["plug", "rfid", "charge", "current", "pause", "unplug"]


def test_scripted_session_stops_when_asked(control: SimControl, world: SimWorld) -> None:
    stop = threading.Event()
    world.subscribe("cp", stop.set)  # stop as soon as the EV has plugged in
    script = SimEvScript.basic_session(EVSE, step_s=30)
    assert script.run(control, stop=stop) == []  # returns at once instead of waiting 30 s
    assert world.ev.plugged and world.ev.request is EvRequest.IDLE  # only "plug" ran


def test_scripted_session_reports_rejected_steps(control: SimControl) -> None:
    script = SimEvScript.basic_session("DE*NOPE*E1", step_s=0, charge_s=0)
    errors = script.run(control)
    assert len(errors) == 5 and all(e.startswith("$.evse_id: unknown EVSE") for e in errors)


def test_raw_mqtt_callback_applies_good_commands_and_swallows_bad_ones(
    control: SimControl, world: SimWorld, caplog: pytest.LogCaptureFixture
) -> None:
    control.on_message("sim/cs", cmd("plug"))
    assert world.ev.plugged
    with caplog.at_level(logging.WARNING, logger="josev_hal_sim.control"):
        control.on_message("sim/cs", b"{oops")
    assert "sim command rejected: $: invalid JSON" in caplog.text
