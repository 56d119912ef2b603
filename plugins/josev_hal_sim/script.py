"""A scripted EV session for demos: a list of (delay, command) steps run against a SimControl or
published by any MQTT client on ``sim/cs``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import msgspec

from josev_hal_sim.control import SimControl

__all__ = ["ScriptStep", "SimEvScript"]


class ScriptStep(msgspec.Struct, frozen=True):
    """Wait ``delay_s`` after the previous step, then send ``command`` (a sim command object)."""

    delay_s: float
    command: dict[str, Any]

    def payload(self) -> bytes:
        return json.dumps(self.command, separators=(",", ":")).encode()


class SimEvScript(msgspec.Struct):
    """An ordered list of steps; :meth:`basic_session` builds the usual AC session."""

    steps: list[ScriptStep] = msgspec.field(default_factory=list)

    @classmethod
    def basic_session(
        cls,
        evse_id: str,
        connector_id: int = 1,
        *,
        amps: float = 16.0,
        step_s: float = 2.0,
        charge_s: float = 10.0,
        uid: str | None = None,
    ) -> SimEvScript:
        """plug -> (rfid) -> charge -> current ``amps`` -> charge for ``charge_s`` -> pause -> unplug."""

        def cmd(action: str, **extra: Any) -> dict[str, Any]:
            return {"evse_id": evse_id, "connector_id": connector_id, "action": action, **extra}

        steps = [ScriptStep(0.0, cmd("plug"))]
        if uid is not None:
            steps.append(ScriptStep(step_s, cmd("rfid", uid=uid)))
        steps += [
            ScriptStep(step_s, cmd("charge")),
            ScriptStep(step_s, cmd("current", amps=amps)),
            ScriptStep(charge_s, cmd("pause")),
            ScriptStep(step_s, cmd("unplug")),
        ]
        return cls(steps)

    def payloads(self) -> Iterator[tuple[float, bytes]]:
        """(delay, JSON payload) per step, for publishing on ``sim/cs``."""
        for step in self.steps:
            yield step.delay_s, step.payload()

    def run(self, control: SimControl, *, stop: threading.Event | None = None) -> list[str]:
        """Run the steps in this thread, sleeping in between (returns early once ``stop`` is set).
        Returns the error text of every rejected step (empty when all applied)."""
        stop = stop or threading.Event()
        errors: list[str] = []
        for delay_s, payload in self.payloads():
            if delay_s > 0 and stop.wait(delay_s):
                break
            if stop.is_set():
                break
            error = control.handle_payload(payload)
            if error is not None:
                errors.append(error)
        return errors
