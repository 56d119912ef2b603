"""A gpiod 2.x API double (libgpiod's Python bindings) at the kernel-interface level.

:class:`SimGpiod` stands in for the ``gpiod`` module: the same names (``Chip``, ``LineSettings``,
``line.Value``/``Direction``/``Bias``/``Edge``, ``EdgeEvent``, ``is_gpiochip_device``,
``RequestReleasedError``) and the same calls the drivers use. Pass it to
:meth:`josev_hal_linux.bus.LinuxBus.use_gpiod`, like the I2C bus double stands behind smbus2. Its
chips behave like the kernel's: a line requested twice is ``EBUSY``; active-low, bias and debounce
are applied *in the chip* (a driver only sees logical values); edge events are queued per request
with kernel-style sequence numbers and woken through ``wait_edge_events``. Each chip is also a file
``<dev_dir>/gpiochipN`` so a directory listing finds it, as on a real system.
"""

from __future__ import annotations

import enum
import errno
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

__all__ = ["ChipClosedError", "RequestReleasedError", "SimGpioChip", "SimGpiod"]


class _Value(enum.Enum):
    INACTIVE = 0
    ACTIVE = 1


class _Direction(enum.Enum):
    AS_IS = 1
    INPUT = 2
    OUTPUT = 3


class _Bias(enum.Enum):
    AS_IS = 1
    UNKNOWN = 2
    DISABLED = 3
    PULL_UP = 4
    PULL_DOWN = 5


class _Edge(enum.Enum):
    NONE = 1
    RISING = 2
    FALLING = 3
    BOTH = 4


class _Drive(enum.Enum):
    PUSH_PULL = 1
    OPEN_DRAIN = 2
    OPEN_SOURCE = 3


class _EventType(enum.Enum):
    RISING_EDGE = 1
    FALLING_EDGE = 2


class _LineNamespace:
    Value = _Value
    Direction = _Direction
    Bias = _Bias
    Edge = _Edge
    Drive = _Drive


@dataclass
class _LineSettings:
    direction: _Direction = _Direction.AS_IS
    edge_detection: _Edge = _Edge.NONE
    bias: _Bias = _Bias.AS_IS
    drive: _Drive = _Drive.PUSH_PULL
    active_low: bool = False
    debounce_period: timedelta = timedelta(0)
    output_value: _Value = _Value.INACTIVE


@dataclass(frozen=True)
class _EdgeEvent:
    Type = _EventType
    event_type: _EventType
    timestamp_ns: int
    line_offset: int
    global_seqno: int
    line_seqno: int


@dataclass(frozen=True)
class _ChipInfo:
    name: str
    label: str
    num_lines: int


@dataclass(frozen=True)
class _LineInfo:
    offset: int
    name: str | None
    used: bool
    consumer: str | None
    direction: _Direction
    active_low: bool
    bias: _Bias
    drive: _Drive
    edge_detection: _Edge
    debounced: bool
    debounce_period: timedelta


class RequestReleasedError(Exception):
    """Like gpiod's: the request was released and cannot be used any more."""


class ChipClosedError(Exception):
    """Like gpiod's: the chip was closed."""


@dataclass
class _SimLine:
    offset: int
    name: str | None
    #: Level something outside drives on the pin (a contact, a module output); None = floating.
    external: bool | None = None
    request: _SimRequest | None = None
    settings: _LineSettings = field(default_factory=_LineSettings)
    output_physical: bool = False
    #: Debounced physical level the kernel reports for an input.
    reported: bool = False
    debounce_timer: threading.Timer | None = None
    seqno: int = 0


class SimGpioChip:
    """One GPIO chip: named lines, external drives, requests. Thread-safe."""

    def __init__(self, api: SimGpiod, name: str, label: str, line_names: Sequence[str | None]) -> None:
        self.api = api
        self.name = name
        self.label = label
        self.lines = [_SimLine(i, n) for i, n in enumerate(line_names)]
        self._lock = threading.RLock()
        self._output_listeners: list[Callable[[int, bool], None]] = []
        self.path = str(api.dev_dir / name)
        #: True: every line access fails with ENODEV (see SimLinuxAcBoard.fail_gpio).
        self.failed = False

    # -- the world side -------------------------------------------------------------------------
    def offset_of(self, line: str | int) -> int:
        if isinstance(line, int):
            if not 0 <= line < len(self.lines):
                raise ValueError(f"{self.name} has no line {line}")
            return line
        for sim_line in self.lines:
            if sim_line.name == line:
                return sim_line.offset
        raise ValueError(f"{self.name} has no line named {line!r}")

    def drive(self, line: str | int, level: bool | None) -> None:
        """Drive the pin from outside (``None``: let it float, the bias decides)."""
        with self._lock:
            sim_line = self.lines[self.offset_of(line)]
            sim_line.external = level
            self._input_changed(sim_line)

    def output(self, line: str | int) -> bool:
        """The physical level a requested output drives (False when not an output)."""
        with self._lock:
            sim_line = self.lines[self.offset_of(line)]
            return (
                sim_line.request is not None
                and sim_line.settings.direction is _Direction.OUTPUT
                and (sim_line.output_physical)
            )

    def on_output(self, listener: Callable[[int, bool], None]) -> None:
        """``listener(offset, physical_level)`` after every output change (called unlocked)."""
        self._output_listeners.append(listener)

    def physical(self, sim_line: _SimLine) -> bool:
        if sim_line.request is not None and sim_line.settings.direction is _Direction.OUTPUT:
            return sim_line.output_physical
        if sim_line.external is not None:
            return sim_line.external
        # Floating or pulled down reads low; the internal pull-up only acts on a requested line.
        return sim_line.request is not None and sim_line.settings.bias is _Bias.PULL_UP

    # -- kernel behaviour -------------------------------------------------------------------------
    def _input_changed(self, sim_line: _SimLine) -> None:
        req = sim_line.request
        if req is None or sim_line.settings.direction is not _Direction.INPUT:
            sim_line.reported = self.physical(sim_line)
            return
        level = self.physical(sim_line)
        period = sim_line.settings.debounce_period.total_seconds()
        if sim_line.debounce_timer is not None:
            sim_line.debounce_timer.cancel()
            sim_line.debounce_timer = None
        if period <= 0:
            self._settle(sim_line, level)
            return

        def settle() -> None:
            with self._lock:
                if sim_line.request is req and self.physical(sim_line) == level:
                    self._settle(sim_line, level)

        timer = threading.Timer(period, settle)
        timer.daemon = True
        sim_line.debounce_timer = timer
        timer.start()

    def _settle(self, sim_line: _SimLine, level: bool) -> None:
        if level == sim_line.reported:
            return
        sim_line.reported = level
        req = sim_line.request
        if req is None:
            return
        logical_rising = level != sim_line.settings.active_low
        edge = sim_line.settings.edge_detection
        if edge is _Edge.NONE:
            return
        if (edge is _Edge.RISING and not logical_rising) or (edge is _Edge.FALLING and logical_rising):
            return
        sim_line.seqno += 1
        req._queue_event(
            _EdgeEvent(
                event_type=_EventType.RISING_EDGE if logical_rising else _EventType.FALLING_EDGE,
                timestamp_ns=time.monotonic_ns(),
                line_offset=sim_line.offset,
                global_seqno=self.api._next_seqno(),
                line_seqno=sim_line.seqno,
            )
        )

    def _set_output(self, sim_line: _SimLine, value: _Value) -> None:
        physical = (value is _Value.ACTIVE) != sim_line.settings.active_low
        with self._lock:
            changed = physical != sim_line.output_physical
            sim_line.output_physical = physical
        if changed:
            for listener in list(self._output_listeners):
                listener(sim_line.offset, physical)


class _SimRequest:
    def __init__(self, chip: SimGpioChip, offsets: list[int], consumer: str | None) -> None:
        self.chip = chip
        self.offsets = offsets
        self.consumer = consumer
        self._events: deque[_EdgeEvent] = deque()
        self._cond = threading.Condition()
        self._released = False
        self.chip_name = chip.name

    @property
    def lines(self) -> list[int]:
        return list(self.offsets)

    @property
    def num_lines(self) -> int:
        return len(self.offsets)

    def _line(self, line: int | str) -> _SimLine:
        if self._released:
            raise RequestReleasedError()
        if self.chip.failed:
            raise OSError(errno.ENODEV, "No such device")
        offset = self.chip.offset_of(line)
        if offset not in self.offsets:
            raise ValueError(f"line {line!r} is not part of this request")
        return self.chip.lines[offset]

    def get_value(self, line: int | str) -> _Value:
        sim_line = self._line(line)
        with self.chip._lock:
            if sim_line.settings.direction is _Direction.OUTPUT:
                physical = sim_line.output_physical
            else:
                physical = sim_line.reported
            return _Value.ACTIVE if physical != sim_line.settings.active_low else _Value.INACTIVE

    def set_value(self, line: int | str, value: _Value) -> None:
        sim_line = self._line(line)
        if sim_line.settings.direction is not _Direction.OUTPUT:
            raise OSError(errno.EPERM, "line is not an output")
        self.chip._set_output(sim_line, value)

    def wait_edge_events(self, timeout: timedelta | float | None = None) -> bool:
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        with self._cond:
            if self._released:
                raise RequestReleasedError()
            if not self._events:
                self._cond.wait(seconds)
            if self._released:
                raise RequestReleasedError()
            return bool(self._events)

    def read_edge_events(self, max_events: int | None = None) -> list[_EdgeEvent]:
        with self._cond:
            if self._released:
                raise RequestReleasedError()
            out: list[_EdgeEvent] = []
            while self._events and (max_events is None or len(out) < max_events):
                out.append(self._events.popleft())
            return out

    def _queue_event(self, event: _EdgeEvent) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def release(self) -> None:
        with self.chip._lock:
            if self._released:
                return
            for offset in self.offsets:
                sim_line = self.chip.lines[offset]
                if sim_line.debounce_timer is not None:
                    sim_line.debounce_timer.cancel()
                sim_line.request = None
                sim_line.settings = _LineSettings()
                sim_line.output_physical = False
        with self._cond:
            self._released = True
            self._cond.notify_all()

    def __enter__(self) -> _SimRequest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _SimChipHandle:
    """What ``gpiod.Chip(path)`` returns: a handle on one chip."""

    def __init__(self, api: SimGpiod, path: str) -> None:
        chip = api.chips_by_path.get(str(path))
        if chip is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
        self._chip = chip
        self.path = str(path)
        self._closed = False

    def _check(self) -> SimGpioChip:
        if self._closed:
            raise ChipClosedError()
        return self._chip

    def get_info(self) -> _ChipInfo:
        chip = self._check()
        return _ChipInfo(chip.name, chip.label, len(chip.lines))

    def get_line_info(self, line: int | str) -> _LineInfo:
        chip = self._check()
        sim_line = chip.lines[chip.offset_of(line)]
        s = sim_line.settings
        used = sim_line.request is not None
        return _LineInfo(
            offset=sim_line.offset,
            name=sim_line.name,
            used=used,
            consumer=sim_line.request.consumer if sim_line.request else None,
            direction=s.direction if used else _Direction.INPUT,
            active_low=s.active_low,
            bias=s.bias,
            drive=s.drive,
            edge_detection=s.edge_detection,
            debounced=s.debounce_period > timedelta(0),
            debounce_period=s.debounce_period,
        )

    def line_offset_from_id(self, id: str | int) -> int:
        chip = self._check()
        try:
            return chip.offset_of(id)
        except ValueError as exc:
            raise FileNotFoundError(errno.ENOENT, str(exc)) from exc

    def request_lines(
        self,
        config: dict[Any, _LineSettings | None],
        consumer: str | None = None,
        event_buffer_size: int | None = None,
        output_values: dict[Any, _Value] | None = None,
    ) -> _SimRequest:
        chip = self._check()
        wanted: dict[int, _LineSettings] = {}
        for key, settings in config.items():
            keys = key if isinstance(key, tuple | list) else (key,)
            for k in keys:
                wanted[chip.offset_of(k)] = settings or _LineSettings()
        with chip._lock:
            for offset in wanted:
                if chip.lines[offset].request is not None:
                    raise OSError(errno.EBUSY, "Device or resource busy")
            req = _SimRequest(chip, sorted(wanted), consumer)
            for offset, settings in wanted.items():
                sim_line = chip.lines[offset]
                sim_line.request = req
                sim_line.settings = settings
                sim_line.reported = chip.physical(sim_line)
        for offset, settings in wanted.items():
            if settings.direction is _Direction.OUTPUT:
                value = (output_values or {}).get(offset, settings.output_value)
                chip._set_output(chip.lines[offset], value)
        return req

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> _SimChipHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimGpiod:
    """A stand-in for the ``gpiod`` module with chips under ``dev_dir`` (see module docstring)."""

    line = _LineNamespace
    LineSettings = _LineSettings
    EdgeEvent = _EdgeEvent
    ChipInfo = _ChipInfo
    LineInfo = _LineInfo
    RequestReleasedError = RequestReleasedError
    ChipClosedError = ChipClosedError
    api_version = "2.5.0 (simulated)"

    def __init__(self, dev_dir: str | Path) -> None:
        self.dev_dir = Path(dev_dir)
        self.dev_dir.mkdir(parents=True, exist_ok=True)
        self.chips_by_path: dict[str, SimGpioChip] = {}
        self._seq = 0
        self._seq_lock = threading.Lock()

    def add_chip(self, label: str, line_names: Sequence[str | None]) -> SimGpioChip:
        name = f"gpiochip{len(self.chips_by_path)}"
        chip = SimGpioChip(self, name, label, line_names)
        self.chips_by_path[chip.path] = chip
        (self.dev_dir / name).touch()
        return chip

    def Chip(self, path: str) -> _SimChipHandle:
        return _SimChipHandle(self, path)

    def is_gpiochip_device(self, path: str) -> bool:
        return str(path) in self.chips_by_path

    def _next_seqno(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq
