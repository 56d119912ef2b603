"""Temperature derating: the hottest sensor of an EVSE -> a current limit for the station core.

:class:`DeratingCurve` is the pure rule of the profile's ``[derating]`` table (steps with
hysteresis, a stop temperature). :class:`DeratingMonitor` reads one EVSE's ``temperature``
device every ``interval_s`` on its own thread and feeds the result to the core through the
public ``EvseController.set_derating_limit(amps | None)``; it calls it only when the limit
changes. Faults go through the controller's fault book (``controller.run`` +
``controller.fault_book.set_fault/clear_fault``), which publishes ``hardware_fault`` once per onset:

* ``temperature``: the hottest sensor is above ``stop_above_c`` -> limit 0 A (the EVSE stops
  offering current and the blocking fault keeps the contactor open) until it has cooled
  ``hysteresis_k`` below the stop temperature;
* ``temperature_sensor``: the device cannot be read (a sensor disconnected, shorted or gone
  from the bus) -> limit 0 A as well; the temperature is unknown, so no stale value is used.
  It clears with the first good read.

No lock of this module is held while calling into the controller.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import msgspec

from josev_hal.devices import Role, TemperatureSensor
from josev_hal.errors import DeviceError

__all__ = ["DeratingCurve", "DeratingDecision", "DeratingMonitor", "DeratingMonitors"]

log = logging.getLogger(__name__)

FAULT_HOT = "temperature"
FAULT_SENSOR = "temperature_sensor"


class DeratingDecision(msgspec.Struct, frozen=True):
    """``limit_a``: the current limit (None: no derating); ``stop``: above the stop temperature;
    ``step``: index of the step in force (-1: none)."""

    limit_a: float | None
    stop: bool
    step: int


class DeratingCurve:
    """The ``[derating]`` rule with its hysteresis state (one per EVSE; not thread-safe)."""

    def __init__(self, settings: Any) -> None:
        self.steps: list[tuple[float, float]] = [(s.above_c, s.limit_a) for s in settings.steps]
        self.hysteresis_k = float(settings.hysteresis_k)
        self.stop_above_c = float(settings.stop_above_c)
        self.step = -1
        self.stopped = False

    def update(self, celsius: float) -> DeratingDecision:
        """The decision for the hottest sensor's temperature ``celsius``."""
        if self.stopped and celsius <= self.stop_above_c - self.hysteresis_k:
            self.stopped = False
        if celsius > self.stop_above_c:
            self.stopped = True
        # Rising: the hottest step whose threshold is exceeded applies at once.
        reached = -1
        for i, (above, _limit) in enumerate(self.steps):
            if celsius > above:
                reached = i
        step = max(self.step, reached)
        # Falling: a step is left only hysteresis_k below its threshold.
        while step > reached and celsius <= self.steps[step][0] - self.hysteresis_k:
            step -= 1
        self.step = step
        if self.stopped:
            return DeratingDecision(0.0, True, step)
        return DeratingDecision(self.steps[step][1] if step >= 0 else None, False, step)


class DeratingMonitor:
    """Reads one EVSE's temperature device and feeds its controller (see the module docstring)."""

    def __init__(self, controller: Any, sensor: TemperatureSensor, settings: Any) -> None:
        self.controller = controller
        self.sensor = sensor
        self.interval_s = float(settings.interval_s)
        self.curve = DeratingCurve(settings)
        self._applied: float | None = None
        self._faults: set[str] = set()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_celsius: tuple[tuple[str, float], ...] = ()
        sensor.subscribe(self._wake.set)

    @property
    def evse_id(self) -> str:
        return str(getattr(self.controller, "evse_id", "?"))

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"derating {self.evse_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def poll(self) -> DeratingDecision:
        """One read and decision (the loop's body; tests call it directly)."""
        try:
            sample = self.sensor.read()
        except DeviceError as exc:
            log.warning("evse=%s temperature sensor unreadable: %s", self.evse_id, exc)
            self._fault(FAULT_SENSOR, True, f"temperature sensor unreadable: {exc.detail}")
            self._apply(0.0)
            return DeratingDecision(0.0, True, self.curve.step)
        self._fault(FAULT_SENSOR, False, "")
        self.last_celsius = sample.celsius
        name, celsius = sample.hottest
        decision = self.curve.update(celsius)
        self._fault(
            FAULT_HOT,
            decision.stop,
            f"{name} at {celsius:.1f} degC is above the stop temperature {self.curve.stop_above_c:g} degC",
        )
        self._apply(decision.limit_a)
        return decision

    def _apply(self, limit: float | None) -> None:
        if limit == self._applied:
            return
        log.info("evse=%s derating limit_a=%s temperatures=%s", self.evse_id, limit, dict(self.last_celsius))
        self._applied = limit
        self.controller.set_derating_limit(limit)

    def _fault(self, key: str, active: bool, detail: str) -> None:
        if active == (key in self._faults):
            return
        book = getattr(self.controller, "fault_book", None)
        if book is None:
            log.error("evse=%s cannot report %s: the station core has no fault_book", self.evse_id, key)
            return
        from josev_hal.messages import payloads as p

        if active:
            self._faults.add(key)
            self.controller.run(
                lambda now: book.set_fault(key, "temperature", p.HardwareFaultName.OTHER, detail)
            )
        else:
            self._faults.discard(key)
            self.controller.run(lambda now: book.clear_fault(key))


class DeratingMonitors:
    """Every EVSE's monitor of a station (EVSEs without a ``temperature`` device have none)."""

    def __init__(self, monitors: Iterable[DeratingMonitor]) -> None:
        self.monitors = list(monitors)

    @classmethod
    def for_station(cls, profile: Any, board: Any, controllers: dict[str, Any]) -> DeratingMonitors:
        monitors = []
        for board_evse in board.evses:
            sensor = board_evse.devices.get(Role.TEMPERATURE)
            controller = controllers.get(board_evse.id)
            if isinstance(sensor, TemperatureSensor) and controller is not None:
                monitors.append(DeratingMonitor(controller, sensor, profile.derating))
        return cls(monitors)

    def start(self) -> None:
        for monitor in self.monitors:
            monitor.start()

    def stop(self) -> None:
        for monitor in self.monitors:
            monitor.stop()
