"""Contactor, RCD and connector lock on SoC GPIO lines (libgpiod 2.x).

Every option names a line as ``{ chip, line, active_low, bias, debounce_ms }`` (see
:class:`~josev_hal_linux.gpio.GpioLine`); "active" is the meaning in the option's name. Inputs
are watched for edge events, so a mirror contact that drops out, an RCD that trips or a lock
that moves reaches the core through :meth:`~josev_hal.devices.Driver.notify` at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated, Any, ClassVar

import msgspec

from josev_hal.devices import DeviceConfig, RcdSample, now_reading_times
from josev_hal.errors import DeviceError
from josev_hal.line_drivers import LineContactor, LineLock, LineRcd

from .gpio import GpioLine, GpioLines, check_distinct_lines, safe_set

__all__ = ["GpioContactor", "GpioLock", "GpioRcd"]

log = logging.getLogger(__name__)

_Ms = Annotated[float, msgspec.Meta(gt=0, le=5000)]


class _GpioDriver:
    """Shared plumbing (a mixin before the role base class): the line primitives of
    :class:`josev_hal.line_drivers.LineDriver` on libgpiod lines. The option names are the
    logical line names (``coil``, ``trip``, ``lock`` ...)."""

    bus_kind: ClassVar[str | None] = "linux"
    lines: GpioLines | None = None

    def _gpio(self) -> GpioLines:
        if self.lines is None:
            raise self.error("not set up")  # type: ignore[attr-defined]
        return self.lines

    def _set_line(self, name: str, active: bool) -> None:
        self._gpio().set(name, active)

    def _get_line(self, name: str) -> bool:
        return self._gpio().get(name)

    def _has_line(self, name: str) -> bool:
        return getattr(self.options, name) is not None  # type: ignore[attr-defined]

    def _is_set_up(self) -> bool:
        return self.lines is not None

    def _edge(self, name: str) -> None:
        self.notify()  # type: ignore[attr-defined]

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in msgspec.structs.asdict(self.options).items():  # type: ignore[attr-defined]
            out[name] = value.describe() if isinstance(value, GpioLine) else value
        return out


# =============================================================================================
# Contactor
# =============================================================================================


class GpioContactorOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``gpio-contactor``."""

    #: Output driving the contactor coil (active = energised).
    coil: GpioLine
    #: Mirror / auxiliary contact input (active = main contacts closed); omit for none.
    feedback: GpioLine | None = None

    def __post_init__(self) -> None:
        check_distinct_lines(coil=self.coil, feedback=self.feedback)


class GpioContactor(_GpioDriver, LineContactor):
    """Coil on a GPIO output, mirror contact on a GPIO input with edge events. :meth:`open`
    retries once on an error: opening is the one command that must get through."""

    Options: ClassVar[type[msgspec.Struct]] = GpioContactorOptions

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, GpioContactorOptions)
        self.opts: GpioContactorOptions = self.options

    def setup(self) -> None:
        # The coil is requested inactive: whatever a crashed HAL left, the contactor opens.
        lines = GpioLines(
            self,
            {
                "coil": (self.opts.coil, True, False, False),
                "feedback": (self.opts.feedback, False, True, False),
            },
            on_edge=self._edge,
        )
        lines.request()
        self.lines = lines
        self._commanded = False

    def release(self) -> None:
        if self.lines is None:
            return
        self._open_for_release()
        self.lines.release()
        self.lines = None


# =============================================================================================
# RCD
# =============================================================================================


class GpioRcdOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``gpio-rcd``."""

    #: The module's fault output (active = tripped). Set ``debounce_ms`` (Tinkerforge accepts a
    #: fault only after 50 ms) to ignore spikes; a trip seen between two reads is never lost.
    trip: GpioLine
    #: The module's TEST input (active = inject the test current); omit: no self-test.
    test: GpioLine | None = None
    #: How long TEST is asserted (VAC 5014: 30 ms-1.2 s, 250 ms typical).
    test_pulse_ms: _Ms = 250.0
    #: The module's RESET input; omit when the module resets by itself.
    reset: GpioLine | None = None
    reset_pulse_ms: _Ms = 100.0

    def __post_init__(self) -> None:
        check_distinct_lines(trip=self.trip, test=self.test, reset=self.reset)


class GpioRcd(_GpioDriver, LineRcd):
    """RCD module on GPIO lines: fault input with edge events, TEST and RESET outputs.

    A trip edge latches until the next :meth:`read` has reported it, so a fault pulse shorter
    than the core's sampling interval still opens the contactor. During :meth:`self_test` the
    injected trip is expected, and the latch is cleared afterwards (a test is not a ground fault).
    """

    Options: ClassVar[type[msgspec.Struct]] = GpioRcdOptions

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, GpioRcdOptions)
        self.opts: GpioRcdOptions = self.options
        self._seen_trip = False
        self._latch_lock = threading.Lock()

    def setup(self) -> None:
        lines = GpioLines(
            self,
            {
                "trip": (self.opts.trip, False, True, False),
                "test": (self.opts.test, True, False, False),
                "reset": (self.opts.reset, True, False, False),
            },
            on_edge=self._trip_edge,
        )
        lines.request()
        self.lines = lines

    def release(self) -> None:
        if self.lines is None:
            return
        safe_set(self.lines, "test", False, self, "rcd release: clearing TEST")
        safe_set(self.lines, "reset", False, self, "rcd release: clearing RESET")
        self.lines.release()
        self.lines = None

    def _trip_edge(self, name: str) -> None:
        try:
            tripped = self._gpio().get("trip")
        except DeviceError:
            tripped = True  # cannot tell: let read() find out; the core re-reads on notify
        if tripped and not self._testing:
            with self._latch_lock:
                self._seen_trip = True
        self.notify()

    def read(self) -> RcdSample:
        taken_at, utc = now_reading_times()
        now = self._tripped()
        with self._latch_lock:
            seen, self._seen_trip = self._seen_trip, False
        return RcdSample(taken_at=taken_at, utc=utc, tripped=now or seen)

    def _test_finished(self) -> None:
        with self._latch_lock:
            self._seen_trip = False  # the injected trip is not a ground fault


# =============================================================================================
# Connector lock
# =============================================================================================


class GpioLockOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``gpio-lock``: a **held** actuator (only ``lock``, active while locked) or
    a **motor** (``lock`` and ``unlock`` drive the two directions for ``motor_pulse_ms``)."""

    lock: GpioLine
    unlock: GpioLine | None = None
    #: Drive time of one motor move (two-line actuators only).
    motor_pulse_ms: _Ms = 600.0
    #: Position switch (active = locked); omit for none.
    feedback: GpioLine | None = None

    def __post_init__(self) -> None:
        check_distinct_lines(lock=self.lock, unlock=self.unlock, feedback=self.feedback)


class GpioLock(_GpioDriver, LineLock):
    """Connector lock on GPIO lines. A motor move ends on a timer, so :meth:`lock` and
    :meth:`unlock` return after one line write; both directions are never driven at once."""

    Options: ClassVar[type[msgspec.Struct]] = GpioLockOptions

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, GpioLockOptions)
        self.opts: GpioLockOptions = self.options

    def setup(self) -> None:
        lines = GpioLines(
            self,
            {
                "lock": (self.opts.lock, True, False, False),
                "unlock": (self.opts.unlock, True, False, False),
                "feedback": (self.opts.feedback, False, True, False),
            },
            on_edge=self._edge,
        )
        lines.request()
        self.lines = lines

    def release(self) -> None:
        if self.lines is None:
            return
        with self._cmd_lock:
            self._cancel_timer()
            if self.opts.unlock is not None:
                safe_set(self.lines, "lock", False, self, "lock release: stopping the motor")
                safe_set(self.lines, "unlock", False, self, "lock release: stopping the motor")
        self.lines.release()
        self.lines = None
