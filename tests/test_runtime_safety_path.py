"""Issue #13: the reaction to an unplug or an RCD trip never waits on MQTT.

The whole daemon runs in this process on the sim board (so the test sees the sim's mirror contact
directly), against a private mosquitto. The broker is then killed, or the bridge's network thread
is wedged inside paho (a test double at the paho boundary: its ``publish`` never returns), and the
EV is unplugged / the RCD trips. The contactor's mirror contact must open anyway, and the daemon
must still stop. The reaction times are logged (the figures for the README come from
``benchmarks/chaos.py``); no wall-clock threshold is asserted here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from josev_hal_sim import WorldRegistry, set_default_registry
from josev_hal_sim.physics import EvRequest
from josev_hal_sim.world import SimWorld

from josev_hal.daemon import Daemon, load_board_profile
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.plugins import get_plugin_manager
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(120)

AC = "DE*JHL*E0001"
log = logging.getLogger(__name__)


@pytest.fixture
def registry() -> Iterator[WorldRegistry]:
    registry = WorldRegistry()
    previous = set_default_registry(registry)
    yield registry
    set_default_registry(previous)


@pytest.fixture
def daemon(broker: EmbeddedBroker, registry: WorldRegistry, tmp_path: Path) -> Iterator[Daemon]:
    pm = get_plugin_manager()
    profile, source = load_board_profile(None, pm)
    profile = msgspec.structs.replace(
        profile, operations=msgspec.structs.replace(profile.operations, enabled=False)
    )
    instance = Daemon(
        profile, pm, source=source, broker_url=broker.url, state_dir=tmp_path / "state", free_charging=True
    )
    instance.start(wait_s=10)
    yield instance
    instance.stop()


def _charging(registry: WorldRegistry) -> SimWorld:
    world = registry.find(AC)
    assert world is not None
    world.plug(32)
    world.set_request(EvRequest.CHARGE)
    assert eventually(lambda: world.relay_state()[1], 10), "the contactor never closed"
    return world


def _opens(world: SimWorld, act: Any) -> float:
    """Do ``act()``; wait for the mirror contact to open; the measured reaction in seconds."""
    started = time.monotonic()
    act()
    assert eventually(lambda: not world.relay_state()[1], 10), "the contactor did not open"
    return time.monotonic() - started


def test_unplug_opens_the_contactor_while_the_broker_is_down(
    daemon: Daemon, registry: WorldRegistry, broker: EmbeddedBroker
) -> None:
    world = _charging(registry)
    broker.kill()
    assert daemon.bridge is not None
    assert eventually(lambda: daemon.bridge is not None and not daemon.bridge.connected, 5)
    took = _opens(world, world.unplug)
    log.info("unplug -> mirror contact open with the broker down: %.1f ms", took * 1000)


def test_rcd_trip_opens_the_contactor_while_the_bridge_is_wedged_inside_paho(
    daemon: Daemon, registry: WorldRegistry
) -> None:
    world = _charging(registry)
    assert daemon.bridge is not None
    client: Any = daemon.bridge._conn._client
    wedged = threading.Event()
    release = threading.Event()
    real_publish = client.publish

    def wedge(*args: Any, **kwargs: Any) -> Any:
        wedged.set()
        release.wait(60)
        return real_publish(*args, **kwargs)

    client.publish = wedge
    try:
        # The meter publishes every second: the network thread soon sits inside paho for good.
        assert wedged.wait(10)
        took = _opens(world, world.rcd_trip)
        log.info("RCD trip -> mirror contact open with the bridge wedged: %.1f ms", took * 1000)
        # ... and more publishing (CP changes, faults) still never blocks anyone:
        world.unplug()
        assert daemon.station is not None
        controller = daemon.station.controller(AC)
        assert eventually(lambda: str(controller.cp_states[1]).startswith("A"), 10)
        # ... and the daemon still stops, bounded, with the bridge wedged.
        done = threading.Event()
        threading.Thread(target=lambda: (daemon.stop(), done.set()), daemon=True).start()
        assert done.wait(15), "Daemon.stop() hangs behind a wedged bridge"
        assert not world.relay_state()[0]
    finally:
        release.set()
