"""Where simulated drivers find their shared world.

All sim drivers of one connector (CP, PP, contactor, meter, ...) must act on the *same* EV and
the same relays, yet each driver is built on its own from the board profile. They meet in a
:class:`WorldRegistry` under a key:

* the driver option ``world = "<name>"`` when given (several EVSEs may then share a world, or a
  test may name its own), otherwise
* ``"<evse_id>/<connector_id>"`` from the device's place in the profile; a device configured per
  EVSE (contactor, meter, RCD, power module have no connector) joins connector 1.

A world lives while at least one driver attached to it is set up; the last ``release()`` closes
it. :class:`~josev_hal_sim.control.SimControl` finds worlds by ``(evse_id, connector_id)``.
"""

from __future__ import annotations

import threading

from josev_hal_sim.clock import Clock, RealClock
from josev_hal_sim.world import SimWorld

__all__ = ["WorldRegistry", "default_registry", "set_default_registry", "world_key"]


def world_key(world: str | None, evse_id: str | None, connector_id: int | None) -> str:
    """The registry key a driver with these settings joins."""
    if world:
        return world
    return f"{evse_id or 'sim'}/{connector_id or 1}"


class WorldRegistry:
    """Reference-counted worlds by key. Thread-safe."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or RealClock()
        self._lock = threading.Lock()
        self._worlds: dict[str, SimWorld] = {}
        self._refs: dict[str, int] = {}

    def attach(self, key: str, *, evse_id: str | None = None, connector_id: int | None = None) -> SimWorld:
        """The world for ``key`` (created on first use); each call must be paired with :meth:`detach`."""
        with self._lock:
            world = self._worlds.get(key)
            if world is None:
                world = SimWorld(key, self.clock)
                self._worlds[key] = world
                self._refs[key] = 0
            if world.evse_id is None and evse_id is not None:
                world.evse_id = evse_id
            if world.connector_id is None and connector_id is not None:
                world.connector_id = connector_id
            self._refs[key] += 1
            return world

    def detach(self, world: SimWorld) -> None:
        """Drop one reference; the last one closes the world and forgets it."""
        with self._lock:
            if self._worlds.get(world.key) is not world:
                return
            self._refs[world.key] -= 1
            if self._refs[world.key] > 0:
                return
            del self._worlds[world.key]
            del self._refs[world.key]
        world.close()

    def get(self, key: str) -> SimWorld | None:
        with self._lock:
            return self._worlds.get(key)

    def find(self, evse_id: str, connector_id: int = 1) -> SimWorld | None:
        """The world of an EVSE's connector (matching the EVSE id, or the world name)."""
        with self._lock:
            worlds = list(self._worlds.values())
        for world in worlds:
            if world.evse_id == evse_id and (world.connector_id or 1) == connector_id:
                return world
        return self.get(evse_id) if connector_id == 1 else None

    def worlds(self) -> list[SimWorld]:
        with self._lock:
            return list(self._worlds.values())

    def evse_ids(self) -> list[str]:
        """Every EVSE id with at least one world, sorted (for error messages)."""
        return sorted({w.evse_id or w.key for w in self.worlds()})

    def clear(self) -> None:
        """Close and forget every world (tests)."""
        with self._lock:
            worlds = list(self._worlds.values())
            self._worlds.clear()
            self._refs.clear()
        for world in worlds:
            world.close()


_default = WorldRegistry()
_default_lock = threading.Lock()


def default_registry() -> WorldRegistry:
    """The process-wide registry the sim drivers use."""
    return _default


def set_default_registry(registry: WorldRegistry) -> WorldRegistry:
    """Replace the process-wide registry (tests use one with a :class:`ManualClock`); returns the
    previous one so it can be restored."""
    global _default
    with _default_lock:
        previous, _default = _default, registry
    return previous
