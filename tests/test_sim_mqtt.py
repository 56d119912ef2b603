"""Sim commands over a real broker: SimControl wired to ``sim/cs`` through the bridge's raw
subscription, as the station does it; a bad command is dropped and the next one still works."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from josev_hal_sim import CONTROL_TOPIC, EvRequest, ManualClock, SimControl, WorldRegistry

from tests.support.broker import JosevPeer

EVSE = "DE*TST*E0001"


@pytest.fixture
def registry() -> Iterator[WorldRegistry]:
    registry = WorldRegistry(ManualClock())
    registry.attach(f"{EVSE}/1", evse_id=EVSE, connector_id=1)
    yield registry
    registry.clear()


def test_commands_published_on_sim_cs_reach_the_world(
    registry: WorldRegistry,
    bridge_factory: Callable[..., Any],
    josev_peer: JosevPeer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="josev_hal_sim.control")
    world = registry.find(EVSE)
    assert world is not None
    control = SimControl(registry)
    changed = threading.Event()
    world.subscribe("cp", changed.set)
    bridge = bridge_factory(start=False)
    bridge.subscribe_raw(CONTROL_TOPIC, control.on_message)
    bridge.start(wait_s=10)

    josev_peer.send(b'{"evse_id": "DE*TST*E0001", "action": "plug", "cable_a": 20', topic=CONTROL_TOPIC)
    josev_peer.send({"evse_id": EVSE, "action": "teleport"}, topic=CONTROL_TOPIC)
    josev_peer.send({"evse_id": EVSE, "action": "plug", "cable_a": 20}, topic=CONTROL_TOPIC)
    assert changed.wait(10), "plug command did not arrive"
    assert world.ev.plugged and world.ev.cable_a == 20
    # Raw callbacks run in arrival order, so both bad commands were handled (and logged) first.
    assert "sim command rejected: $: invalid JSON" in caplog.text
    assert "sim command rejected: $.action: Invalid value 'teleport'" in caplog.text

    changed.clear()
    josev_peer.send(json.dumps({"evse_id": EVSE, "action": "charge"}).encode(), topic=CONTROL_TOPIC)
    assert changed.wait(10)
    assert world.ev.request is EvRequest.CHARGE
