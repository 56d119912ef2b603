"""Sim commands over a real broker: SimControl wired to ``sim/cs`` through the bridge's raw
subscription, as the station does it; a bad command is dropped and the next one still works."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import josev_hal_sim
import pytest
from josev_hal_sim import (
    CONTROL_TOPIC,
    EvRequest,
    ManualClock,
    SimControl,
    WorldRegistry,
    set_default_registry,
    sim_board_text,
)

from josev_hal.board import Board
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from tests.support.broker import JosevPeer

EVSE = "DE*TST*E0001"


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


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
    # start() returns once connected; the SUBACK for sim/cs may come a moment later. Probe with a
    # harmless command until one is applied, so the ordered commands below cannot race it.
    for _ in range(50):
        josev_peer.send({"evse_id": EVSE, "action": "rfid", "uid": "00000000"}, topic=CONTROL_TOPIC)
        if _wait_for(lambda: bool(world.tokens), 0.2):
            break
    else:
        pytest.fail("sim/cs subscription never became active")

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


def test_startup_hook_subscribes_sim_control_when_the_board_uses_sim_drivers(
    bridge_factory: Callable[..., Any], josev_peer: JosevPeer
) -> None:
    pm = get_plugin_manager()
    profile = load_profile_text(sim_board_text(), "sim_board.toml", pm)
    registry = WorldRegistry()
    previous = set_default_registry(registry)
    try:
        with Board.build(profile, pm) as board:
            bridge = bridge_factory(start=False)
            josev_hal_sim.hal_startup(station=SimpleNamespace(board=board, bridge=bridge))
            bridge.start(wait_s=10)
            world = registry.find("DE*JHL*E0002")
            assert world is not None
            for _ in range(50):  # until the sim/cs subscription is active
                josev_peer.send({"evse_id": "DE*JHL*E0002", "action": "plug"}, topic=CONTROL_TOPIC)
                if _wait_for(lambda: world.ev.plugged, 0.2):
                    break
            assert world.ev.plugged
    finally:
        set_default_registry(previous)
        registry.clear()


def test_startup_hook_ignores_boards_without_sim_drivers() -> None:
    subscribed: list[str] = []
    bridge = SimpleNamespace(subscribe_raw=lambda topic, callback: subscribed.append(topic))
    board = SimpleNamespace(evses=[SimpleNamespace(devices={})])
    josev_hal_sim.hal_startup(station=SimpleNamespace(board=board, bridge=bridge))
    assert subscribed == []
