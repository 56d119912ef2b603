"""Contactor, RCD and connector-lock behaviour over digital lines, whatever carries the lines.

The same three drivers exist for an I2C GPIO expander (``josev_hal_i2c``: MCP23017/PCA9555 pins)
and for SoC GPIO lines (``josev_hal_linux``: libgpiod). What makes them safe is not the wire but
the behaviour, and that must not drift apart between boards: opening retries once because it is
the one command that must get through, the RCD self-test expects the trip and its release within
one deadline (pulsing RESET for a latching module), a lock motor is never driven in both
directions and stops on a timer. These bases hold that behaviour once; a driver supplies the
primitives on *logical* line names, with "active" meaning what the name says:

* contactor: ``coil`` (energised), ``feedback`` (main contacts closed)
* RCD: ``trip`` (tripped), ``test`` (inject the test current), ``reset``
* lock: ``lock`` (held actuator: locked; motor: drive towards locked), ``unlock``, ``feedback``
  (locked)

Set-up and release stay in the drivers: how lines are requested and how a shutdown path reports a
failed write differ per transport.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod
from typing import Any, ClassVar

from .devices import (
    ConnectorLock,
    Contactor,
    ContactorSample,
    DeviceConfig,
    Driver,
    LockSample,
    Rcd,
    now_reading_times,
)
from .errors import DeviceError

__all__ = ["LineContactor", "LineDriver", "LineLock", "LineRcd"]


class LineDriver(Driver):
    """The primitives every line-based driver supplies."""

    @abstractmethod
    def _set_line(self, name: str, active: bool) -> None:
        """Drive output ``name`` active/inactive (raises :class:`DeviceError`, "not set up" too)."""

    @abstractmethod
    def _get_line(self, name: str) -> bool:
        """Whether input ``name`` is active."""

    @abstractmethod
    def _has_line(self, name: str) -> bool:
        """Whether the options wire line ``name`` (known without hardware)."""

    @abstractmethod
    def _is_set_up(self) -> bool:
        """Whether the lines are requested (between setup and release)."""

    def _require_set_up(self) -> None:
        if not self._is_set_up():
            raise self.error("not set up")

    @property
    def _log(self) -> logging.Logger:
        # The driver module's logger, so log lines name the plugin that owns the hardware.
        return logging.getLogger(type(self).__module__)


class LineContactor(LineDriver, Contactor):
    """Coil output plus optional mirror-contact input."""

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        self._commanded = False

    @property
    def has_feedback(self) -> bool:
        return self._has_line("feedback")

    def _open_for_release(self) -> None:
        """Open on the release path: a failure is logged, the release goes on."""
        try:
            self.open()
        except DeviceError as exc:
            self._log.warning("contactor release could not open device=%s error=%s", self.device_id, exc)

    def close(self) -> None:
        self._set_line("coil", True)
        self._commanded = True

    def open(self) -> None:
        self._commanded = False  # from now on the intent is "open", even if the write fails
        self._require_set_up()  # nothing to retry before setup
        try:
            self._set_line("coil", False)
        except DeviceError as exc:
            self._log.warning("contactor open failed, retrying device=%s error=%s", self.device_id, exc)
            self._set_line("coil", False)

    def read(self) -> ContactorSample:
        taken_at, utc = now_reading_times()
        feedback = self._get_line("feedback") if self._has_line("feedback") else None
        return ContactorSample(
            taken_at=taken_at, utc=utc, commanded_closed=self._commanded, feedback_closed=feedback
        )


class LineRcd(LineDriver, Rcd):
    """RCD module: trip input, optional TEST and RESET outputs."""

    #: How the log line names the missing TEST line (the option a user would set).
    test_line_option: ClassVar[str] = "test line"

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        self._test_lock = threading.Lock()
        #: True while a self-test injects its trip (a driver with an edge latch ignores it then).
        self._testing = False

    @property
    def test_pulse_s(self) -> float:
        return float(self.options.test_pulse_ms) / 1000.0

    @property
    def reset_pulse_s(self) -> float:
        return float(self.options.reset_pulse_ms) / 1000.0

    @property
    def supports_self_test(self) -> bool:
        """Only with a TEST line can the module be tested (the core skips the test otherwise)."""
        return self._has_line("test")

    def _tripped(self) -> bool:
        return self._get_line("trip")

    def _test_finished(self) -> None:
        """Called after every self-test that injected a trip (pass or fail)."""

    def _wait(self, tripped: bool, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._tripped() == tripped:
                return True
            time.sleep(0.005)
        return self._tripped() == tripped

    def _pulse(self, name: str, seconds: float) -> None:
        self._set_line(name, True)
        try:
            time.sleep(seconds)
        finally:
            self._set_line(name, False)

    def self_test(self, timeout_s: float = 2.0) -> bool:
        """Assert TEST for ``test_pulse_ms``, expect a trip, then its release (pulsing RESET if
        the module latches and has a reset line), all within ``timeout_s``.

        Returns False (with a log line saying why) on any deviation; raises only on bus errors.
        TEST is always released, even when the bus fails mid-test.
        """
        log = self._log
        if not self._has_line("test"):
            log.warning("rcd self-test impossible: no %s device=%s", self.test_line_option, self.device_id)
            return False
        with self._test_lock:
            deadline = time.monotonic() + timeout_s
            if self._tripped():
                log.warning("rcd self-test refused: already tripped device=%s", self.device_id)
                return False
            self._testing = True
            try:
                seen = False
                self._set_line("test", True)
                try:
                    pulse_end = time.monotonic() + self.test_pulse_s
                    while time.monotonic() < min(pulse_end, deadline):
                        seen = seen or self._tripped()
                        time.sleep(0.005)
                finally:
                    self._set_line("test", False)
                seen = seen or self._wait(True, deadline)
                if not seen:
                    log.warning(
                        "rcd self-test failed: no trip within %.2f s device=%s", timeout_s, self.device_id
                    )
                    return False
                released = self._wait(False, min(deadline, time.monotonic() + 0.3))
                if not released and self._has_line("reset"):
                    self._pulse("reset", self.reset_pulse_s)
                released = released or self._wait(False, deadline)
                if not released:
                    log.warning("rcd self-test failed: trip did not release device=%s", self.device_id)
                    return False
            finally:
                self._testing = False
                self._test_finished()
            log.info("rcd self-test passed device=%s", self.device_id)
            return True

    def reset(self) -> None:
        if not self._has_line("reset"):
            self._log.info("rcd reset: module has no reset input device=%s", self.device_id)
            return
        self._pulse("reset", self.reset_pulse_s)


class LineLock(LineDriver, ConnectorLock):
    """A **held** actuator (only ``lock``, active while locked) or a **motor** (``lock`` and
    ``unlock`` drive the two directions for ``motor_pulse_ms``). A motor move ends on a timer, so
    :meth:`lock` and :meth:`unlock` return after the line writes; both directions are never
    driven at once."""

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        self._commanded = False
        self._timer: threading.Timer | None = None
        self._cmd_lock = threading.Lock()

    def _cancel_timer(self) -> None:
        """Call with ``_cmd_lock`` held."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stop_motor(self) -> None:
        if not self._has_line("unlock"):
            return  # a held actuator keeps its level
        self._set_line("lock", False)
        self._set_line("unlock", False)

    def _end_move(self, timer: threading.Timer) -> None:
        with self._cmd_lock:
            if self._timer is not timer or not self._is_set_up():
                return  # superseded by a newer command, or released
            self._timer = None
            try:
                self._stop_motor()
            except DeviceError as exc:
                self._log.error("lock motor could not be stopped device=%s error=%s", self.device_id, exc)

    def _move(self, locked: bool) -> None:
        self._require_set_up()
        with self._cmd_lock:
            self._cancel_timer()
            self._commanded = locked
            if not self._has_line("unlock"):
                self._set_line("lock", locked)
                return
            drive, other = ("lock", "unlock") if locked else ("unlock", "lock")
            self._set_line(other, False)  # never both directions (H-bridge shoot-through)
            self._set_line(drive, True)
            pulse_s = float(self.options.motor_pulse_ms) / 1000.0
            timer = threading.Timer(pulse_s, lambda: self._end_move(timer))
            timer.daemon = True
            self._timer = timer
            timer.start()

    def lock(self) -> None:
        self._move(True)

    def unlock(self) -> None:
        self._move(False)

    def read(self) -> LockSample:
        taken_at, utc = now_reading_times()
        locked = self._get_line("feedback") if self._has_line("feedback") else None
        return LockSample(taken_at=taken_at, utc=utc, commanded_locked=self._commanded, locked=locked)
