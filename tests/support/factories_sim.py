"""Driver-contract factories for the ``sim-*`` drivers of the ``josev_hal_sim`` plugin.

Merged into :data:`tests.support.driver_factories.FACTORIES` (protocol documented there). The
"peer" of a sim driver is its simulated world: each factory gives its driver a world of its own
(a fresh EVSE id) on the process-wide registry with the real clock, and offers the controls the
world supports.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec
from josev_hal_sim import DRIVERS
from josev_hal_sim.drivers import _SimDevice

from josev_hal.devices import DeviceConfig, Driver

if TYPE_CHECKING:
    from tests.support.driver_factories import ContractEnv, Factory

__all__ = ["SIM_FACTORIES"]

# Short delays keep the contract run fast; close_delay_ms = 0 so that a weld applied before a
# close-then-open sequence finds the contacts closed (a contact welds when it closes).
_OPTIONS: dict[str, dict[str, Any]] = {
    "sim-contactor": {"close_delay_ms": 0, "open_delay_ms": 5},
    "sim-phase-contactor": {"close_delay_ms": 0, "open_delay_ms": 5},
    "sim-lock": {"delay_ms": 10},
    "sim-imd": {"measure_ms": 50},
}


def _sim_factory(name: str) -> Factory:
    @contextmanager
    def factory(env: ContractEnv) -> Iterator[Driver]:
        cls = DRIVERS[name]
        options = msgspec.convert(_OPTIONS.get(name, {}), cls.Options)
        config = DeviceConfig(
            device_id=f"contract.{name}",
            options=options,
            evse_id=f"CONTRACT*{uuid.uuid4().hex[:8]}",
            connector_id=1,
            plugin="sim",
        )
        driver = cls(config)
        driver.setup()
        assert isinstance(driver, _SimDevice)
        world = driver.world
        if name == "sim-meter":
            env.peer.disconnect = lambda off: world.set_meter_online(not off)
        elif name == "sim-contactor":
            env.peer.weld = world.set_welded
            env.peer.stick_open = world.set_stuck_open
        elif name == "sim-id-reader":
            env.peer.present_token = world.present_token
        elif name == "sim-rcd":
            env.peer.trip_rcd = lambda on: world.rcd_trip() if on else world.rcd_clear()
        elif name == "sim-grid-input":
            env.peer.set_input = world.set_grid_limit
        elif name == "sim-mains-meter":
            env.peer.disconnect = lambda off: world.set_meter_online(not off)
        elif name == "sim-phase-contactor":
            env.peer.stick_open = world.set_phase_relay_stuck
        elif name == "sim-temperature":
            env.peer.disconnect = lambda off: world.set_temperature("socket", None if off else 25.0)
        try:
            yield driver
        finally:
            driver.release()

    return factory


SIM_FACTORIES: dict[str, Factory] = {name: _sim_factory(name) for name in DRIVERS}
