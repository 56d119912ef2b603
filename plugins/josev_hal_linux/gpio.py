"""GPIO lines through libgpiod 2.x: line options, one request per chip, edge-event watching.

A signal is addressed as ``{ chip = "gpiochip0", line = "RELAY1" }`` (a line name from the
device tree / ``gpioinfo``) or ``line = 17`` (an offset). ``active_low``, ``bias`` and
``debounce_ms`` are handed to the kernel, so the values a driver sees are *logical*: "active"
means what the option's name says (coil energised, contact closed, fault present, locked).

:class:`GpioLines` requests every line of one device (one request per chip, consumer = the
device id, so ``gpioinfo`` shows who holds a line) and, for inputs with edge detection, runs one
thread per request that waits on the kernel's edge events and calls back -- no polling where the
kernel gives edges. Lines are released on :meth:`GpioLines.release`; outputs fall back to the
kernel's default (input) which the board's pull resistors must make safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

import msgspec

from josev_hal.devices import Driver
from josev_hal.errors import BusError, DeviceError

from .bus import LinuxBus

__all__ = ["Bias", "GpioLine", "GpioLines", "linux_bus"]

log = logging.getLogger(__name__)

Bias = Literal["as-is", "disabled", "pull-up", "pull-down"]


class GpioLine(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One GPIO line of a device."""

    #: Chip: ``gpiochip0``, an absolute device path, or the chip's label.
    chip: Annotated[str, msgspec.Meta(min_length=1)]
    #: Line name (as in ``gpioinfo``) or offset on the chip.
    line: str | Annotated[int, msgspec.Meta(ge=0, le=1023)]
    #: The line is active at the low electrical level (the kernel inverts it).
    active_low: bool = False
    #: Bias for inputs: the SoC's internal pull resistors.
    bias: Bias = "as-is"
    #: Debounce period for inputs, applied by the kernel (0 = none).
    debounce_ms: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 0.0

    def describe(self) -> str:
        flags = [f for f, on in (("active-low", self.active_low), (self.bias, self.bias != "as-is")) if on]
        if self.debounce_ms:
            flags.append(f"debounce {self.debounce_ms:g} ms")
        return f"{self.chip}:{self.line}" + (f" ({', '.join(flags)})" if flags else "")


def check_distinct_lines(**lines: GpioLine | None) -> None:
    """Option check: no two signals of a device on the same chip line."""
    seen: dict[tuple[str, str | int], str] = {}
    for name, line in lines.items():
        if line is None:
            continue
        key = (line.chip, line.line)
        if key in seen:
            raise ValueError(f"{name}: {line.chip}:{line.line} is already used by {seen[key]}")
        seen[key] = name


def linux_bus(driver: Driver) -> LinuxBus:
    bus: Any = driver.config.bus
    if not isinstance(bus, LinuxBus):
        raise driver.error(f"needs a bus of kind 'linux', got {type(bus).__name__}", BusError)
    return bus


@dataclass
class _Signal:
    name: str
    spec: GpioLine
    output: bool
    edges: bool
    initial: bool
    offset: int = -1
    request: Any = None


class GpioLines:
    """The GPIO lines of one device (see the module docstring).

    ``signals``: name -> (line, is_output, watch_edges, initial_active). ``on_edge(name)`` is
    called from the watcher thread for every edge event of a watched input (after the
    kernel's debounce), never with a lock of this object held.
    """

    def __init__(
        self,
        driver: Driver,
        signals: dict[str, tuple[GpioLine | None, bool, bool, bool]],
        on_edge: Callable[[str], None] | None = None,
    ) -> None:
        self.driver = driver
        self.bus = linux_bus(driver)
        self._signals = {
            name: _Signal(name, spec, output, edges, initial)
            for name, (spec, output, edges, initial) in signals.items()
            if spec is not None
        }
        self._on_edge = on_edge
        self._requests: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def has(self, name: str) -> bool:
        return name in self._signals

    def request(self) -> None:
        """Request every line (outputs start at their initial value). Raises DeviceError."""
        api = self.bus.gpiod
        by_chip: dict[str, list[_Signal]] = {}
        for signal in self._signals.values():
            by_chip.setdefault(signal.spec.chip, []).append(signal)
        consumer = f"{self.bus.opts.consumer}:{self.driver.device_id}"[:31]
        try:
            for chip_name, signals in by_chip.items():
                chip = self.bus.chip(chip_name)
                config: dict[int, Any] = {}
                for s in signals:
                    try:
                        s.offset = chip.line_offset_from_id(s.spec.line)
                    except (OSError, ValueError) as exc:
                        raise self.driver.error(
                            f"{s.name}: chip {chip_name} has no line {s.spec.line!r}", BusError
                        ) from exc
                    if s.offset in config:
                        raise self.driver.error(f"{s.name}: line {s.spec.line!r} requested twice", BusError)
                    config[s.offset] = self._settings(api, s)
                try:
                    req = chip.request_lines(config=config, consumer=consumer)
                except OSError as exc:
                    raise self.driver.error(
                        f"cannot request lines {', '.join(s.spec.describe() for s in signals)}: {exc} "
                        "(held by another consumer? see gpioinfo)",
                        BusError,
                    ) from exc
                self._requests.append(req)
                for s in signals:
                    s.request = req
                if any(s.edges for s in signals):
                    thread = threading.Thread(
                        target=self._watch,
                        args=(req, {s.offset: s.name for s in signals if s.edges}),
                        name=f"gpio-edges {self.driver.device_id}",
                        daemon=True,
                    )
                    self._threads.append(thread)
                    thread.start()
        except BaseException:
            self.release()
            raise

    @staticmethod
    def _settings(api: Any, s: _Signal) -> Any:
        line = api.line
        if s.output:
            return api.LineSettings(
                direction=line.Direction.OUTPUT,
                active_low=s.spec.active_low,
                output_value=line.Value.ACTIVE if s.initial else line.Value.INACTIVE,
            )
        bias = {
            "as-is": line.Bias.AS_IS,
            "disabled": line.Bias.DISABLED,
            "pull-up": line.Bias.PULL_UP,
            "pull-down": line.Bias.PULL_DOWN,
        }[s.spec.bias]
        return api.LineSettings(
            direction=line.Direction.INPUT,
            edge_detection=line.Edge.BOTH if s.edges else line.Edge.NONE,
            bias=bias,
            active_low=s.spec.active_low,
            debounce_period=timedelta(milliseconds=s.spec.debounce_ms),
        )

    def _watch(self, req: Any, names: dict[int, str]) -> None:
        api = self.bus.gpiod
        released = getattr(api, "RequestReleasedError", RuntimeError)
        while not self._stop.is_set():
            try:
                if not req.wait_edge_events(timedelta(milliseconds=200)):
                    continue
                events = req.read_edge_events()
            except (released, OSError, ValueError):
                return  # released under us (shutdown)
            for event in events:
                name = names.get(event.line_offset)
                if name is not None and self._on_edge is not None:
                    try:
                        self._on_edge(name)
                    except Exception:  # a listener must never kill the watcher
                        log.exception("gpio edge handler failed device=%s", self.driver.device_id)

    def _signal(self, name: str) -> _Signal:
        s = self._signals.get(name)
        if s is None or s.request is None:
            raise self.driver.error(f"{name}: line not requested (not set up)")
        return s

    def get(self, name: str) -> bool:
        """Logical value of a line (True = active)."""
        s = self._signal(name)
        api = self.bus.gpiod
        try:
            return bool(s.request.get_value(s.offset) == api.line.Value.ACTIVE)
        except (OSError, ValueError, RuntimeError) as exc:
            raise self.driver.error(f"{name}: reading {s.spec.describe()} failed: {exc}", BusError) from exc

    def set(self, name: str, active: bool) -> None:
        """Drive an output line to its logical value."""
        s = self._signal(name)
        api = self.bus.gpiod
        try:
            s.request.set_value(s.offset, api.line.Value.ACTIVE if active else api.line.Value.INACTIVE)
        except (OSError, ValueError, RuntimeError) as exc:
            raise self.driver.error(f"{name}: writing {s.spec.describe()} failed: {exc}", BusError) from exc

    def release(self) -> None:
        """Stop the watchers and release every request. Idempotent; never raises."""
        self._stop.set()
        requests, self._requests = self._requests, []
        for req in requests:
            try:
                req.release()
            except Exception:
                log.debug("gpio request release failed", exc_info=True)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=1.0)
        self._threads = []
        for s in self._signals.values():
            s.request = None
        self._stop = threading.Event()


def safe_set(lines: GpioLines | None, name: str, active: bool, driver: Driver, what: str) -> None:
    """Set a line on a shutdown path: log instead of raising."""
    if lines is None or not lines.has(name):
        return
    try:
        lines.set(name, active)
    except DeviceError as exc:
        log.warning("%s failed device=%s error=%s", what, driver.device_id, exc)
