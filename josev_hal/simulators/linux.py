"""Linux SoC I/O at the kernel-interface level: a gpiod 2.x API double and a sysfs tree.

* :class:`SimGpiod` stands in for the ``gpiod`` module (libgpiod 2.x Python bindings): the
  same names (``Chip``, ``LineSettings``, ``line.Value``/``Direction``/``Bias``/``Edge``,
  ``EdgeEvent``, ``is_gpiochip_device``, ``RequestReleasedError``) and the same calls the
  drivers use. Pass it to :meth:`josev_hal_linux.bus.LinuxBus.use_gpiod`, like the I2C
  simulator stands behind smbus2. Its chips behave like the kernel's: a line requested twice
  is ``EBUSY``; active-low, bias and debounce are applied *in the chip* (a driver only sees
  logical values); edge events are queued per request with kernel-style sequence numbers and
  woken through ``wait_edge_events``. Each chip is also a file ``<dev_dir>/gpiochipN`` so a
  directory listing finds it, as on a real system.
* :class:`SimSysfs` builds ``class/pwm/pwmchipN`` (``npwm``, ``export``/``unexport`` creating
  ``pwmM/`` with ``period``, ``duty_cycle``, ``polarity``, ``enable``), ``bus/iio/devices/
  iio:deviceN`` (``name``, ``in_voltageX_raw``/``_scale``/``_offset``) and
  ``bus/w1/devices/<id>/temperature`` under a temporary root. The export of a PWM channel
  appears after a configurable delay, like udev creating the attributes late (the export race).
* :class:`SimLinuxAcBoard` wires them into a Tarragon-like AC board: CP generator on a PWM
  channel, CP positive/negative peak detectors on IIO channels with reset lines, PP on an IIO
  channel, contactor coil and mirror contact, RCD trip/test, connector lock with position
  switch, an NTC and a DS18B20. A refresher thread recomputes the ADC files from what the driver
  wrote into the PWM attributes and from the EV.
"""

from __future__ import annotations

import enum
import errno
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from josev_hal.pilots_sim import EV_STATE_LEVEL_V, REFERENCE_CP_SHIFTER, LevelShifter, SimPpLine

__all__ = [
    "SimGpioChip",
    "SimGpiod",
    "SimLinuxAcBoard",
    "SimSysfs",
    "ntc_celsius_to_ohm",
]

# ---------------------------------------------------------------------------------------------
# gpiod API surface
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# sysfs
# ---------------------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    """Replace a file in one step, so a reader never sees it half-written (sysfs attributes
    are always read whole)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class SimSysfs:
    """A sysfs tree under ``root`` with PWM chips, IIO ADCs and 1-wire sensors."""

    def __init__(self, root: str | Path, *, export_delay_s: float = 0.0) -> None:
        self.root = Path(root)
        self.export_delay_s = export_delay_s
        (self.root / "class" / "pwm").mkdir(parents=True, exist_ok=True)
        (self.root / "bus" / "iio" / "devices").mkdir(parents=True, exist_ok=True)
        (self.root / "bus" / "w1" / "devices").mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._pwm_chips: list[Path] = []
        self._removed: set[tuple[Path, int]] = set()
        self._watcher = threading.Thread(target=self._watch_exports, name="sim-sysfs", daemon=True)
        self._watcher.start()

    # -- PWM ----------------------------------------------------------------------------------------
    def add_pwm_chip(self, npwm: int = 2) -> Path:
        chip = self.root / "class" / "pwm" / f"pwmchip{len(self._pwm_chips)}"
        chip.mkdir(parents=True)
        (chip / "npwm").write_text(f"{npwm}\n")
        (chip / "export").write_text("")
        (chip / "unexport").write_text("")
        self._pwm_chips.append(chip)
        return chip

    def pwm(self, chip: int, channel: int) -> dict[str, str] | None:
        """Attributes of an exported channel (``None`` when not exported)."""
        d = self.root / "class" / "pwm" / f"pwmchip{chip}" / f"pwm{channel}"
        if not (d / "enable").exists():
            return None
        out = {}
        for name in ("period", "duty_cycle", "polarity", "enable"):
            try:
                out[name] = (d / name).read_text().strip()
            except FileNotFoundError:
                return None
            if not out[name]:
                raise ValueError(f"pwm{channel}/{name} is being written")
        return out

    def _watch_exports(self) -> None:
        # The kernel creates pwmN/ when N is written to export; here a write into the export file
        # is picked up (and cleared) by this thread, after export_delay_s.
        while not self._stop.wait(0.002):
            for chip in list(self._pwm_chips):
                for verb in ("export", "unexport"):
                    f = chip / verb
                    try:
                        text = f.read_text().strip()
                    except FileNotFoundError:
                        continue
                    if not text:
                        continue
                    f.write_text("")
                    try:
                        channel = int(text.split()[-1])
                    except ValueError:
                        continue
                    if verb == "export":
                        self._export(chip, channel)
                    else:
                        self._unexport(chip, channel)

    def _export(self, chip: Path, channel: int) -> None:
        d = chip / f"pwm{channel}"
        if d.exists():
            return
        if self.export_delay_s:
            time.sleep(self.export_delay_s)
        d.mkdir()
        for name, value in (("period", "0"), ("duty_cycle", "0"), ("polarity", "normal"), ("enable", "0")):
            (d / name).write_text(f"{value}\n")

    def _unexport(self, chip: Path, channel: int) -> None:
        d = chip / f"pwm{channel}"
        if not d.exists():
            return
        for f in d.iterdir():
            f.unlink()
        d.rmdir()

    # -- IIO -----------------------------------------------------------------------------------------
    def add_iio_device(
        self,
        name: str,
        channels: Iterable[int],
        *,
        scale_mv: float,
        bits: int = 12,
        buffer_dev_dir: Path | None = None,
    ) -> Path:
        """An ADC with ``in_voltageN_raw`` per channel. With ``buffer_dev_dir`` it also offers
        buffered capture: ``scan_elements`` (``le:u<bits>/16>>0``), ``buffer/{enable,length}``
        and its character device as a FIFO ``<buffer_dev_dir>/iio:deviceN``."""
        n = len(list((self.root / "bus" / "iio" / "devices").iterdir()))
        d = self.root / "bus" / "iio" / "devices" / f"iio:device{n}"
        d.mkdir()
        (d / "name").write_text(f"{name}\n")
        (d / "in_voltage_scale").write_text(f"{scale_mv:.9f}\n")
        for ch in channels:
            (d / f"in_voltage{ch}_raw").write_text("0\n")
        if buffer_dev_dir is not None:
            (d / "scan_elements").mkdir()
            (d / "buffer").mkdir()
            for ch in channels:
                (d / "scan_elements" / f"in_voltage{ch}_en").write_text("0\n")
                (d / "scan_elements" / f"in_voltage{ch}_index").write_text(f"{ch}\n")
                (d / "scan_elements" / f"in_voltage{ch}_type").write_text(f"le:u{bits}/16>>0\n")
            (d / "buffer" / "enable").write_text("0\n")
            (d / "buffer" / "length").write_text("0\n")
            buffer_dev_dir.mkdir(parents=True, exist_ok=True)
            os.mkfifo(buffer_dev_dir / d.name)
        return d

    def set_iio_mv(
        self, device: Path, channel: int, millivolts: float, *, scale_mv: float, bits: int
    ) -> None:
        """Set a channel's input (a removed channel stays removed until restored)."""
        if (device, channel) in self._removed:
            return
        raw = max(0, min((1 << bits) - 1, round(millivolts / scale_mv)))
        _write_atomic(device / f"in_voltage{channel}_raw", f"{raw}\n")

    def remove_iio_channel(self, device: Path, channel: int) -> None:
        """The channel disappears (ADC driver unbound) until :meth:`restore_iio_channel`."""
        self._removed.add((device, channel))
        (device / f"in_voltage{channel}_raw").unlink(missing_ok=True)

    def restore_iio_channel(self, device: Path, channel: int) -> None:
        self._removed.discard((device, channel))

    # -- 1-wire --------------------------------------------------------------------------------------
    def add_ds18b20(self, serial: str, celsius: float) -> Path:
        d = self.root / "bus" / "w1" / "devices" / serial
        d.mkdir()
        self.set_ds18b20(serial, celsius)
        return d

    def set_ds18b20(self, serial: str, celsius: float | None) -> None:
        """``None``: the sensor disappears from the bus (its directory goes away)."""
        d = self.root / "bus" / "w1" / "devices" / serial
        if celsius is None:
            for f in d.iterdir() if d.exists() else ():
                f.unlink()
            if d.exists():
                d.rmdir()
            return
        d.mkdir(exist_ok=True)
        _write_atomic(d / "temperature", f"{round(celsius * 1000)}\n")

    def close(self) -> None:
        self._stop.set()
        self._watcher.join(timeout=2.0)


def ntc_celsius_to_ohm(celsius: float, *, r25_ohm: float = 10_000.0, beta: float = 3950.0) -> float:
    """NTC resistance at ``celsius`` by the Beta equation (the inverse of what the driver uses)."""
    t = celsius + 273.15
    return r25_ohm * math.exp(beta * (1.0 / t - 1.0 / 298.15))


# ---------------------------------------------------------------------------------------------
# A complete AC board
# ---------------------------------------------------------------------------------------------

#: IIO ADC of the simulated board: 12 bits, 3.3 V reference (like Tarragon's).
ADC_BITS = 12
ADC_SCALE_MV = 3300.0 / 4096


@dataclass
class _CpModel:
    shifter: LevelShifter = REFERENCE_CP_SHIFTER
    ev_state: str = "A"
    diode_ok: bool = True


class SimLinuxAcBoard:
    """A Linux AC charge controller (one EVSE): see the module docstring and
    ``boards/linux-gpio-iio-pwm.toml`` for the wiring. ``with SimLinuxAcBoard(tmp) as sim:`` then
    give ``sim.gpiod`` to the ``linux`` bus and point its ``sysfs_root`` / ``gpio_dev_dir`` at
    ``sim.sysfs_root`` / ``sim.dev_dir``."""

    #: Line names of the simulated SoC GPIO chip (the profile addresses them by name).
    LINES = (
        "CONTACTOR",
        "CONTACTOR_FEEDBACK",
        "RCD_FAULT",
        "RCD_TEST",
        "LOCK_MOTOR_A",
        "LOCK_MOTOR_B",
        "LOCK_FEEDBACK",
        "CP_POSITIVE_PEAK_RST",
        "CP_NEGATIVE_PEAK_RST",
        "CP_STATE_E",
        None,
        "SPARE_IN",
    )

    def __init__(
        self,
        root: str | Path,
        *,
        contactor_delay_s: float = 0.03,
        export_delay_s: float = 0.02,
        ntc_celsius: float = 25.0,
        ds18b20_celsius: float = 25.0,
    ) -> None:
        self.root = Path(root)
        self.sysfs_root = self.root / "sys"
        self.dev_dir = self.root / "dev"
        self.gpiod = SimGpiod(self.dev_dir)
        self.chip = self.gpiod.add_chip("sim-soc-gpio", self.LINES)
        self.sysfs = SimSysfs(self.sysfs_root, export_delay_s=export_delay_s)
        self.pwm_chip = self.sysfs.add_pwm_chip(npwm=2)
        # Channels 0/1 CP peak detectors, 2 PP, 3 NTC, 4 CP itself (for buffered capture).
        self.adc = self.sysfs.add_iio_device(
            "sim-adc", range(5), scale_mv=ADC_SCALE_MV, bits=ADC_BITS, buffer_dev_dir=self.dev_dir
        )
        #: Trigger rate of the simulated buffered capture (20 samples per 1 kHz CP period).
        self.sample_rate_hz = 20_000
        self.cp = _CpModel()
        self.pp = SimPpLine(pull_up_ohm=1000.0, reference_v=3.3)
        self.ntc_celsius: float | None = ntc_celsius
        self.ds18b20_serial = "28-00000abcdef0"
        self.sysfs.add_ds18b20(self.ds18b20_serial, ds18b20_celsius)
        self.contactor_delay_s = contactor_delay_s
        self.welded = False
        self.stuck_open = False
        self.rcd_tripped = False
        self.rcd_test_trips = True
        self.lock_locked = False
        self.resets: dict[str, int] = {"positive": 0, "negative": 0}
        self._last_generator: tuple[str, float | None] = ("f", None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.chip.on_output(self._on_output)
        # The RCD fault output idles low; the mirror contact with its pull-up reads "main
        # contacts open" (low here: the board inverts it, the profile sets active_low = false).
        self.chip.drive("RCD_FAULT", False)
        self.chip.drive("CONTACTOR_FEEDBACK", False)
        self.chip.drive("LOCK_FEEDBACK", False)
        self._refresher = threading.Thread(target=self._refresh_loop, name="sim-linux-board", daemon=True)
        self._refresher.start()
        self._sampler = threading.Thread(target=self._buffer_loop, name="sim-iio-buffer", daemon=True)
        self._sampler.start()

    # -- the EV and the world -----------------------------------------------------------------------
    def set_ev_state(self, state: str) -> None:
        if state not in EV_STATE_LEVEL_V:
            raise ValueError(f"EV state must be one of {sorted(EV_STATE_LEVEL_V)}")
        self.cp.ev_state = state
        self.refresh()

    def plug(self, rc_ohm: float = 220.0) -> None:
        """Plug a cable (Rc 220 ohm = 32 A) and an EV in state B."""
        self.pp.rc_ohm = rc_ohm
        self.set_ev_state("B")

    def unplug(self) -> None:
        self.pp.rc_ohm = None
        self.set_ev_state("A")

    def trip_rcd(self, tripped: bool = True) -> None:
        self.rcd_tripped = tripped
        self.chip.drive("RCD_FAULT", tripped)

    def set_ntc(self, celsius: float | None) -> None:
        """``None``: the NTC is disconnected (its ADC input reads full scale)."""
        self.ntc_celsius = celsius
        self.refresh()

    def set_ds18b20(self, celsius: float | None) -> None:
        self.sysfs.set_ds18b20(self.ds18b20_serial, celsius)

    def contactor_closed(self) -> bool:
        """The main contacts: follow the coil, unless welded (stay closed) or stuck open."""
        if self.welded:
            return True
        return self.chip.output("CONTACTOR") and not self.stuck_open

    def weld(self, welded: bool = True) -> None:
        """Welded main contacts: closed from now on, whatever the coil does."""
        self.welded = welded
        self.chip.drive("CONTACTOR_FEEDBACK", self.contactor_closed())

    def stick_open(self, stuck: bool = True) -> None:
        """A coil fault: the contactor never closes."""
        self.stuck_open = stuck
        self.chip.drive("CONTACTOR_FEEDBACK", self.contactor_closed())

    def fail_gpio(self, failed: bool = True) -> None:
        """The GPIO chip stops answering (unbound driver, dead expander): every line access is
        an ``OSError(ENODEV)``."""
        self.chip.failed = failed

    # -- what the driver wrote ------------------------------------------------------------------------
    def generator(self) -> tuple[str, float | None]:
        """What the CP output stage outputs: ``("x1"|"pwm"|"f"|"e", duty)``."""
        if self.chip.output("CP_STATE_E"):
            return "e", None
        try:
            attrs = self.sysfs.pwm(0, 0)
        except ValueError:
            return self._last_generator
        if attrs is None or attrs["enable"] != "1":
            return "f", None  # output stage unpowered by PWM: the comparator sits at -12 V
        try:
            period, duty = int(attrs["period"]), int(attrs["duty_cycle"])
        except ValueError:
            # An attribute caught between truncate and write (a plain file here, not a kernel
            # attribute): the output stage keeps doing what it did.
            return self._last_generator
        if period <= 0:
            return "f", None
        fraction = duty / period
        if attrs["polarity"] == "inversed":
            fraction = 1.0 - fraction
        result: tuple[str, float | None]
        if fraction >= 1.0:
            result = ("x1", None)
        elif fraction <= 0.0:
            result = ("f", None)
        else:
            result = ("pwm", fraction * 100.0)
        self._last_generator = result
        return result

    def plateaus(self) -> tuple[float, float]:
        mode, _duty = self.generator()
        if mode == "e" or self.cp.ev_state == "E":
            return 0.0, 0.0
        if mode == "f":
            return -12.0, -12.0
        high = EV_STATE_LEVEL_V[self.cp.ev_state]
        if mode == "x1":
            return high, high
        low = -12.0 if self.cp.diode_ok or self.cp.ev_state == "A" else -high
        return high, low

    # -- plumbing -------------------------------------------------------------------------------------
    def _on_output(self, offset: int, level: bool) -> None:
        name = self.chip.lines[offset].name
        if name == "CONTACTOR":

            def follow() -> None:
                self.chip.drive("CONTACTOR_FEEDBACK", self.contactor_closed())

            if self.welded and not level:
                return
            timer = threading.Timer(self.contactor_delay_s, follow)
            timer.daemon = True
            timer.start()
        elif name == "RCD_TEST" and level and self.rcd_test_trips:
            self.chip.drive("RCD_FAULT", True)

            def release() -> None:
                self.chip.drive("RCD_FAULT", self.rcd_tripped)

            timer = threading.Timer(0.05, release)
            timer.daemon = True
            timer.start()
        elif name in ("LOCK_MOTOR_A", "LOCK_MOTOR_B") and level:
            self.lock_locked = name == "LOCK_MOTOR_A"
            locked = self.lock_locked

            def settle() -> None:
                self.chip.drive("LOCK_FEEDBACK", locked)

            timer = threading.Timer(0.05, settle)
            timer.daemon = True
            timer.start()
        elif name == "CP_POSITIVE_PEAK_RST" and level:
            self.resets["positive"] += 1
        elif name == "CP_NEGATIVE_PEAK_RST" and level:
            self.resets["negative"] += 1
        elif name == "CP_STATE_E":
            self.refresh()

    def refresh(self) -> None:
        """Recompute the ADC inputs from the generator and the EV."""
        with self._lock:
            positive, negative = self.plateaus()
            shifter = self.cp.shifter
            self.sysfs.set_iio_mv(
                self.adc, 0, shifter.adc_v(positive) * 1000, scale_mv=ADC_SCALE_MV, bits=ADC_BITS
            )
            self.sysfs.set_iio_mv(
                self.adc, 1, shifter.adc_v(negative) * 1000, scale_mv=ADC_SCALE_MV, bits=ADC_BITS
            )
            self.sysfs.set_iio_mv(self.adc, 2, self.pp.adc_v() * 1000, scale_mv=ADC_SCALE_MV, bits=ADC_BITS)
            # NTC to GND with a 10 k pull-up to 3.3 V; open = full scale.
            if self.ntc_celsius is None:
                ntc_mv = 3300.0
            else:
                r = ntc_celsius_to_ohm(self.ntc_celsius)
                ntc_mv = 3300.0 * r / (r + 10_000.0)
            self.sysfs.set_iio_mv(self.adc, 3, ntc_mv, scale_mv=ADC_SCALE_MV, bits=ADC_BITS)

    def _refresh_loop(self) -> None:
        last: Any = None
        while not self._stop.wait(0.002):
            now = (self.generator(), self.cp.ev_state, self.pp.rc_ohm, self.ntc_celsius)
            if now != last:
                self.refresh()
                last = now

    def cp_waveform(self, n: int, phase: int) -> list[float]:
        """CP volts at ``n`` sample instants (at ``sample_rate_hz``) starting at sample ``phase``."""
        mode, duty = self.generator()
        positive, negative = self.plateaus()
        per_period = self.sample_rate_hz // 1000
        out = []
        for k in range(phase, phase + n):
            if mode == "pwm" and duty is not None:
                high = (k % per_period) < duty / 100.0 * per_period
                out.append(positive if high else negative)
            else:
                out.append(positive)
        return out

    def _buffer_loop(self) -> None:
        fifo = self.dev_dir / self.adc.name
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # RDWR: never blocks, never sees EOF
        phase = 0
        chunk = max(1, self.sample_rate_hz // 200)  # 5 ms of samples per write
        try:
            while not self._stop.wait(chunk / self.sample_rate_hz):
                scan = self.adc / "scan_elements"
                try:
                    if (self.adc / "buffer" / "enable").read_text().strip() != "1":
                        continue
                    enabled = sorted(
                        int(f.name[len("in_voltage") : -len("_en")])
                        for f in scan.glob("in_voltage*_en")
                        if f.read_text().strip() == "1"
                    )
                except (OSError, ValueError):
                    continue  # attributes being written by the driver
                cp = self.cp_waveform(chunk, phase)
                phase += chunk
                statics = self._static_mv()
                frames = bytearray()
                for i in range(chunk):
                    for ch in enabled:
                        mv = self.cp.shifter.adc_v(cp[i]) * 1000 if ch == 4 else statics.get(ch, 0.0)
                        raw = max(0, min((1 << ADC_BITS) - 1, round(mv / ADC_SCALE_MV)))
                        frames += raw.to_bytes(2, "little")
                try:
                    os.write(fd, bytes(frames))
                except BlockingIOError:
                    pass  # nobody reads: the kernel buffer overruns, samples are lost
        finally:
            os.close(fd)

    def _static_mv(self) -> dict[int, float]:
        positive, negative = self.plateaus()
        return {
            0: self.cp.shifter.adc_v(positive) * 1000,
            1: self.cp.shifter.adc_v(negative) * 1000,
            2: self.pp.adc_v() * 1000,
        }

    def close(self) -> None:
        self._stop.set()
        self._refresher.join(timeout=2.0)
        self._sampler.join(timeout=2.0)
        self.sysfs.close()

    def __enter__(self) -> SimLinuxAcBoard:
        self.refresh()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
