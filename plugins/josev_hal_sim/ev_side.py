"""The simulated EVs as the EV side of ``josev-hal commission`` (hook ``hal_ev_side``).

Commissioning puts each connector's EV into the CP states it measures (A, B, C, D, E); on the sim
board this side does it through the same commands ``sim/cs`` accepts, so no person is asked to
set a test adapter. It also takes raw sim commands: ``--inject-sim`` applies a fault (a welded
contactor ...) before the run, and the matching check must then fail.
"""

from __future__ import annotations

import json

from josev_hal_sim.control import SimControl
from josev_hal_sim.registry import WorldRegistry

__all__ = ["SimulatedEv"]

#: Sim actions that put a plugged-in EV into CP state B, C or D.
_ACTION_OF_STATE = {"B": "pause", "C": "charge", "D": "ventilation"}


class SimulatedEv:
    """Drives the sim board's EVs through the sim control (the same commands as ``sim/cs``)."""

    simulated = True

    def __init__(self, registry: WorldRegistry | None = None) -> None:
        """``registry``: the worlds to drive (default: the process-wide one the sim drivers use)."""
        self._control = SimControl(registry)

    def covers(self, evse_id: str, connector_id: int = 1) -> bool:
        """Whether a simulated EV is attached at this EVSE's connector."""
        return self._control.registry.find(evse_id, connector_id) is not None

    def command(self, payload: str | bytes) -> None:
        """One sim command (also how ``--inject-sim`` injects faults). Raises SimCommandError."""
        self._control.handle(payload)

    def set_state(self, evse_id: str, connector_id: int, state: str) -> None:
        def do(action: str, **fields: bool) -> None:
            command = {"evse_id": evse_id, "connector_id": connector_id, "action": action, **fields}
            self.command(json.dumps(command))

        if state == "A":
            do("unplug")
            return
        do("plug")
        do("cp_short", active=state == "E")
        if state != "E":
            do(_ACTION_OF_STATE[state])
