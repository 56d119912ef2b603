"""A simulated EVSE for station-core tests: real sim drivers on a shared world driven by a manual
clock, an :class:`EvseController` on the same clock, and a recording publisher.

Nothing here fakes the core: the CP voltages come from the sim's resistor network, the contactor
feedback follows the sim relay's delay, and the controller reacts to the drivers' ``notify()``
exactly as in production. Time only moves in :meth:`SimEvse.tick`."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

import msgspec
from josev_hal_sim import DRIVERS, ManualClock, WorldRegistry, set_default_registry
from josev_hal_sim.physics import EvRequest
from josev_hal_sim.world import SimWorld
from msgspec.structs import replace

from josev_hal.devices import DeviceConfig, Driver
from josev_hal.messages import Message, Payload, encode
from josev_hal.station.config import ConnectorSettings, EvseKind, EvseSettings
from josev_hal.station.events import EventKind, StationEvent
from josev_hal.station.evse import EvseController, EvseDevices

P = TypeVar("P", bound=Payload)

EVSE_AC = "DE*TST*E0001"
EVSE_DC = "DE*TST*E0002"


class SimEvse:
    """One simulated EVSE (AC with PP/RCD/meter, or DC with power module and IMD)."""

    def __init__(
        self,
        kind: str = "ac",
        *,
        evse_id: str | None = None,
        free_charging: bool = True,
        contactor: dict[str, Any] | None = None,
        rcd: dict[str, Any] | None = None,
        lock: dict[str, Any] | None = None,
        publish_error: bool = False,
        publish_gate: threading.Event | None = None,
        **overrides: Any,
    ) -> None:
        self.kind = kind
        self.evse_id = evse_id or (EVSE_AC if kind == "ac" else EVSE_DC)
        self.clock = ManualClock()
        self.registry = WorldRegistry(self.clock)
        self._previous = set_default_registry(self.registry)
        self.drivers: list[Driver] = []
        self.published: list[Payload] = []
        self.wire: list[bytes] = []  # every payload encoded as it would go on cs/josev
        self._publish_error = publish_error
        #: while this event is clear, publishing blocks (a wedged bridge, issue #13)
        self._publish_gate = publish_gate
        self.blocked_publishers = 0  # threads waiting inside the wedged publisher right now
        self.events: list[StationEvent] = []
        cp = self._make("sim-cp", noise_v=0.0, ev_draw_a=120.0 if kind == "dc" else 16.0)
        contactor_opts = {"close_delay_ms": 30.0, "open_delay_ms": 20.0, **(contactor or {})}
        if kind == "ac":
            devices = EvseDevices(
                cp={1: cp},
                pp={1: self._make("sim-pp", noise_fraction=0.0)},
                contactor=self._make("sim-contactor", **contactor_opts),
                rcd=self._make("sim-rcd", **(rcd or {})),
                meter=self._make("sim-meter"),
                # ``lock``: options of a sim-lock on the socket (None: no lock)
                lock=self._make("sim-lock", **lock) if lock is not None else None,
            )
            settings = EvseSettings(evse_id=self.evse_id, free_charging=free_charging)
        else:
            devices = EvseDevices(
                cp={1: cp},
                contactor=self._make("sim-contactor", **contactor_opts),
                meter=self._make("sim-meter", kind="dc"),
                power_module=self._make("sim-power-module", max_voltage_v=920.0, max_current_a=125.0),
                isolation_monitor=self._make("sim-imd", measure_ms=500.0),
            )
            settings = EvseSettings(
                evse_id=self.evse_id,
                kind=EvseKind.DC,
                max_current_a=125.0,
                connectors=(ConnectorSettings(1, cable="fixed", max_cable_current_a=125.0),),
                free_charging=free_charging,
            )
        self.settings = replace(settings, **overrides)
        self.devices = devices
        self.ctl = EvseController(self.settings, devices, self._record, clock=self.clock.now)
        self.ctl.add_event_listener(self.events.append)
        self.ctl.subscribe_notifications()
        world = self.registry.find(self.evse_id)
        assert world is not None
        self.world: SimWorld = world
        self.ctl.evaluate()

    def _make(self, name: str, **options: Any) -> Any:
        cls = DRIVERS[name]
        config = DeviceConfig(
            device_id=f"{self.evse_id}.{name}",
            options=msgspec.convert(options, cls.Options),
            evse_id=self.evse_id,
            plugin="sim",
        )
        driver = cls(config)
        driver.setup()
        self.drivers.append(driver)
        return driver

    def _record(self, payload: Payload) -> None:
        if self._publish_gate is not None and not self._publish_gate.is_set():
            self.blocked_publishers += 1
            self._publish_gate.wait()
            self.blocked_publishers -= 1
        self.published.append(payload)
        self.wire.append(encode(Message.update(payload)))
        if self._publish_error:
            raise ConnectionError("broker away")  # the controller must shrug this off

    # -- time and the EV ----------------------------------------------------------------------
    def tick(self, seconds: float = 0.05, *, steps: int = 1) -> None:
        """Advance the clock and run the sampling step, ``steps`` times."""
        for _ in range(steps):
            self.clock.advance(seconds)
            self.ctl.evaluate()

    def settle(self, seconds: float = 0.5) -> None:
        self.tick(0.05, steps=max(1, round(seconds / 0.05)))

    def plug(self) -> None:
        self.world.plug()

    def unplug(self) -> None:
        self.world.unplug()

    def charge(self) -> None:
        self.world.set_request(EvRequest.CHARGE)

    def pause(self) -> None:
        self.world.set_request(EvRequest.IDLE)

    # -- what was published -------------------------------------------------------------------
    def of(self, cls: type[P]) -> list[P]:
        return [m for m in self.published if isinstance(m, cls)]

    def events_of(self, kind: EventKind) -> list[StationEvent]:
        return [e for e in self.events if e.kind is kind]

    def close(self) -> None:
        for driver in reversed(self.drivers):
            driver.release()
        set_default_registry(self._previous)
        self.registry.clear()


@contextlib.contextmanager
def sim_evses() -> Iterator[list[SimEvse]]:
    """A list to put :class:`SimEvse` rigs in; they are closed newest first on exit. Each rig
    installed its registry as the process default and restores the one before it, so closing
    oldest first would leave a cleared, manual-clock registry behind for the next test."""
    made: list[SimEvse] = []
    try:
        yield made
    finally:
        for rig in reversed(made):
            rig.close()
