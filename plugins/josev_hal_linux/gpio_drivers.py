"""Contactor, RCD and connector lock on SoC GPIO lines (libgpiod 2.x).

Every option names a line as ``{ chip, line, active_low, bias, debounce_ms }`` (see
:class:`~josev_hal_linux.gpio.GpioLine`); "active" is the meaning in the option's name. Inputs
are watched for edge events, so a mirror contact that drops out, an RCD that trips or a lock
that moves reaches the core through :meth:`~josev_hal.devices.Driver.notify` at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated, Any, ClassVar

import msgspec

from josev_hal.devices import (
    ConnectorLock,
    Contactor,
    ContactorSample,
    DeviceConfig,
    LockSample,
    Rcd,
    RcdSample,
    now_reading_times,
)
from josev_hal.errors import DeviceError

from .gpio import GpioLine, GpioLines, check_distinct_lines, safe_set

__all__ = ["GpioContactor", "GpioLock", "GpioRcd"]

log = logging.getLogger(__name__)

_Ms = Annotated[float, msgspec.Meta(gt=0, le=5000)]


class _GpioDriver:
    """Shared plumbing (a mixin before the role base class)."""

    bus_kind: ClassVar[str | None] = "linux"
    lines: GpioLines | None = None

    def _gpio(self) -> GpioLines:
        if self.lines is None:
            raise self.error("not set up")  # type: ignore[attr-defined]
        return self.lines

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


class GpioContactor(_GpioDriver, Contactor):
    """Coil on a GPIO output, mirror contact on a GPIO input with edge events. :meth:`open`
    retries once on an error: opening is the one command that must get through."""

    Options: ClassVar[type[msgspec.Struct]] = GpioContactorOptions

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, GpioContactorOptions)
        self.opts: GpioContactorOptions = self.options
        self._commanded = False

    @property
    def has_feedback(self) -> bool:
        return self.opts.feedback is not None

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
        try:
            self.open()
        except DeviceError as exc:
            log.warning("contactor release could not open device=%s error=%s", self.device_id, exc)
        self.lines.release()
        self.lines = None

    def close(self) -> None:
        self._gpio().set("coil", True)
        self._commanded = True

    def open(self) -> None:
        self._commanded = False  # the intent is "open" from now on, even if the write fails
        lines = self._gpio()
        try:
            lines.set("coil", False)
        except DeviceError as exc:
            log.warning("contactor open failed, retrying device=%s error=%s", self.device_id, exc)
            lines.set("coil", False)

    def read(self) -> ContactorSample:
        taken_at, utc = now_reading_times()
        feedback = self._gpio().get("feedback") if self.opts.feedback is not None else None
        return ContactorSample(
            taken_at=taken_at, utc=utc, commanded_closed=self._commanded, feedback_closed=feedback
        )


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


class GpioRcd(_GpioDriver, Rcd):
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
        self._test_lock = threading.Lock()
        self._testing = False
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

    @property
    def supports_self_test(self) -> bool:
        """Only with a TEST line can the module be tested (the core skips the test otherwise)."""
        return self.opts.test is not None

    def _trip_edge(self, name: str) -> None:
        try:
            tripped = self._gpio().get("trip")
        except DeviceError:
            tripped = True  # cannot tell: let read() find out; the core re-reads on notify
        if tripped and not self._testing:
            with self._latch_lock:
                self._seen_trip = True
        self.notify()

    def _tripped(self) -> bool:
        return self._gpio().get("trip")

    def read(self) -> RcdSample:
        taken_at, utc = now_reading_times()
        now = self._tripped()
        with self._latch_lock:
            seen, self._seen_trip = self._seen_trip, False
        return RcdSample(taken_at=taken_at, utc=utc, tripped=now or seen)

    def _wait(self, tripped: bool, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._tripped() == tripped:
                return True
            time.sleep(0.005)
        return self._tripped() == tripped

    def _pulse(self, name: str, seconds: float) -> None:
        lines = self._gpio()
        lines.set(name, True)
        try:
            time.sleep(seconds)
        finally:
            lines.set(name, False)

    def self_test(self, timeout_s: float = 2.0) -> bool:
        """Assert TEST for ``test_pulse_ms``, expect a trip, then its release (pulsing RESET if
        the module latches), all within ``timeout_s``. False with a log line on any deviation."""
        if self.opts.test is None:
            log.warning("rcd self-test impossible: no test line device=%s", self.device_id)
            return False
        lines = self._gpio()
        with self._test_lock:
            deadline = time.monotonic() + timeout_s
            if self._tripped():
                log.warning("rcd self-test refused: already tripped device=%s", self.device_id)
                return False
            self._testing = True
            try:
                seen = False
                lines.set("test", True)
                try:
                    pulse_end = time.monotonic() + self.opts.test_pulse_ms / 1000.0
                    while time.monotonic() < min(pulse_end, deadline):
                        seen = seen or self._tripped()
                        time.sleep(0.005)
                finally:
                    lines.set("test", False)
                seen = seen or self._wait(True, deadline)
                if not seen:
                    log.warning(
                        "rcd self-test failed: no trip within %.2f s device=%s", timeout_s, self.device_id
                    )
                    return False
                released = self._wait(False, min(deadline, time.monotonic() + 0.3))
                if not released and self.opts.reset is not None:
                    self._pulse("reset", self.opts.reset_pulse_ms / 1000.0)
                released = released or self._wait(False, deadline)
                if not released:
                    log.warning("rcd self-test failed: trip did not release device=%s", self.device_id)
                    return False
            finally:
                self._testing = False
                with self._latch_lock:
                    self._seen_trip = False
            log.info("rcd self-test passed device=%s", self.device_id)
            return True

    def reset(self) -> None:
        if self.opts.reset is None:
            log.info("rcd reset: module has no reset input device=%s", self.device_id)
            return
        self._pulse("reset", self.opts.reset_pulse_ms / 1000.0)


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


class GpioLock(_GpioDriver, ConnectorLock):
    """Connector lock on GPIO lines. A motor move ends on a timer, so :meth:`lock` and
    :meth:`unlock` return after one line write; both directions are never driven at once."""

    Options: ClassVar[type[msgspec.Struct]] = GpioLockOptions

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, GpioLockOptions)
        self.opts: GpioLockOptions = self.options
        self._commanded = False
        self._timer: threading.Timer | None = None
        self._cmd_lock = threading.Lock()

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
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self.opts.unlock is not None:
                safe_set(self.lines, "lock", False, self, "lock release: stopping the motor")
                safe_set(self.lines, "unlock", False, self, "lock release: stopping the motor")
        self.lines.release()
        self.lines = None

    def _end_move(self, timer: threading.Timer) -> None:
        with self._cmd_lock:
            if self._timer is not timer or self.lines is None:
                return
            self._timer = None
            try:
                self.lines.set("lock", False)
                self.lines.set("unlock", False)
            except DeviceError as exc:
                log.error("lock motor could not be stopped device=%s error=%s", self.device_id, exc)

    def _move(self, locked: bool) -> None:
        lines = self._gpio()
        with self._cmd_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._commanded = locked
            if self.opts.unlock is None:
                lines.set("lock", locked)
                return
            drive, other = ("lock", "unlock") if locked else ("unlock", "lock")
            lines.set(other, False)  # never both directions (H-bridge shoot-through)
            lines.set(drive, True)
            timer = threading.Timer(self.opts.motor_pulse_ms / 1000.0, lambda: self._end_move(timer))
            timer.daemon = True
            self._timer = timer
            timer.start()

    def lock(self) -> None:
        self._move(True)

    def unlock(self) -> None:
        self._move(False)

    def read(self) -> LockSample:
        taken_at, utc = now_reading_times()
        locked = self._gpio().get("feedback") if self.opts.feedback is not None else None
        return LockSample(taken_at=taken_at, utc=utc, commanded_locked=self._commanded, locked=locked)
