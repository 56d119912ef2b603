"""Insulation monitoring devices (IMDs) that signal through digital lines, on an MCP23017 or
PCA9555/TCA9555 expander.

Many IMDs (IEC 61557-8) offer relay or open-collector outputs besides (or instead of) a bus
interface: an "insulation OK" / alarm output, often a pre-warning output, and inputs to start
the measurement and to run the self-test. Driving those needs no register map of the IMD, so
one driver fits every such device; the price is that it **gives no resistance**
(``IsolationSample.resistance_ohm`` is always ``None``) -- the thresholds live in the IMD's own
settings, and the driver reports only which side of them the insulation is.

Status after :meth:`ExpanderImd.start`:

* ``invalid`` for ``settle_ms`` (the IMD needs time to measure the newly connected DC circuit;
  fail-safe IMDs signal an alarm while starting, which must not be taken for a fault);
* then ``fault`` while the OK line says "alarm", ``warning`` while only the pre-warning line is
  asserted, ``valid`` otherwise.

Without ``enable_pin`` the IMD monitors all the time; ``start()`` still opens a settling window,
because the cable check has just connected a new circuit to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import msgspec

from josev_hal.devices import (
    DeviceConfig,
    IsolationMonitor,
    IsolationSample,
    IsolationStatus,
    now_reading_times,
)
from josev_hal.errors import DeviceError

from ._common import Active, check_distinct, check_pin, level_for
from .gpio import MCP23017, PCA9555
from .gpio_drivers import _ExpanderDriver

__all__ = ["ExpanderImd", "ImdOptions", "Mcp23017Imd", "Mcp23017ImdOptions", "Pca9555Imd"]

log = logging.getLogger(__name__)

#: Which alarm the IMD's self-test raises.
TestAlarm = Literal["fault", "warning"]


class ImdOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``pca9555-imd`` (and base of ``mcp23017-imd``)."""

    #: Input pin of the "insulation OK" output (alarm relay; fail-safe IMDs energise it while OK).
    ok_pin: int
    #: Input level that means "insulation OK".
    ok_level: Active = "high"
    #: Input pin of the pre-warning output; ``None``: the IMD has one threshold only.
    warning_pin: int | None = None
    #: Input level that means "pre-warning active".
    warning_level: Active = "high"
    #: Output pin of the IMD's measurement-enable / start input; ``None``: always measuring.
    enable_pin: int | None = None
    enable_active: Active = "high"
    #: Output pin of the IMD's self-test input; ``None``: no self-test possible.
    test_pin: int | None = None
    test_active: Active = "high"
    #: How long the test input is asserted.
    test_pulse_ms: float = 500.0
    #: The alarm the self-test must raise: the OK line drops (``fault``) or the pre-warning.
    test_alarm: TestAlarm = "fault"
    #: Whole self-test (alarm seen, then recovery) must finish within this time.
    test_timeout_ms: float = 10_000.0
    #: Time after start() before the outputs are trusted (device-specific: see its datasheet
    #: for the start-up / first-measurement time at the connected capacitance).
    settle_ms: float = 2000.0

    def __post_init__(self) -> None:
        for name in ("ok_pin", "warning_pin", "enable_pin", "test_pin"):
            check_pin(name, getattr(self, name))
        check_distinct(
            ok_pin=self.ok_pin,
            warning_pin=self.warning_pin,
            enable_pin=self.enable_pin,
            test_pin=self.test_pin,
        )
        if not 0 < self.test_pulse_ms <= 10_000:
            raise ValueError("test_pulse_ms: must be in (0, 10000]")
        if not self.test_pulse_ms <= self.test_timeout_ms <= 120_000:
            raise ValueError("test_timeout_ms: must be at least test_pulse_ms and at most 120000")
        if not 0 <= self.settle_ms <= 120_000:
            raise ValueError("settle_ms: must be in [0, 120000]")
        if self.test_alarm == "warning" and self.warning_pin is None:
            raise ValueError("test_alarm: 'warning' needs warning_pin")


class Mcp23017ImdOptions(ImdOptions, kw_only=True):
    """``options`` of ``mcp23017-imd``."""

    #: Enable the MCP23017's 100 kΩ pull-up on the OK input (open-collector / dry relay contact).
    ok_pull_up: bool = False
    #: Same for the pre-warning input.
    warning_pull_up: bool = False


class ExpanderImd(_ExpanderDriver, IsolationMonitor):
    """IMD wired to expander pins: OK and pre-warning inputs, enable and TEST outputs."""

    pin_options = ("ok_pin", "warning_pin", "enable_pin", "test_pin")

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, ImdOptions)
        self.opts: ImdOptions = self.options
        #: Monotonic clock of the settling window (replaceable, e.g. by a test's manual clock).
        self.clock: Callable[[], float] = time.monotonic
        self._state_lock = threading.Lock()
        self._test_lock = threading.Lock()
        self._started_at: float | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self) -> None:
        o = self.opts
        gpio = self._attach()
        gpio.setup_input(o.ok_pin, pull_up=self._pull_up("ok_pull_up"))
        if o.warning_pin is not None:
            gpio.setup_input(o.warning_pin, pull_up=self._pull_up("warning_pull_up"))
        # Outputs start inactive: no measurement (and no test current) before the station asks.
        if o.enable_pin is not None:
            gpio.setup_output(o.enable_pin, level_for(o.enable_active, False))
        if o.test_pin is not None:
            gpio.setup_output(o.test_pin, level_for(o.test_active, False))
        with self._state_lock:
            self._started_at = None

    def release(self) -> None:
        if self._gpio is None:
            return
        with self._state_lock:
            self._started_at = None
        for pin, active in (
            (self.opts.test_pin, self.opts.test_active),
            (self.opts.enable_pin, self.opts.enable_active),
        ):
            if pin is None:
                continue
            try:
                self.gpio.write(pin, level_for(active, False))
            except DeviceError as exc:
                log.warning("imd release could not clear pin=%d device=%s error=%s", pin, self.device_id, exc)
        self._detach()

    # -- measurement -------------------------------------------------------------------------
    def start(self) -> None:
        """Assert enable (if wired) and open a new settling window: a fresh start is a new
        measurement, so nothing seen before it is trusted."""
        if self.opts.enable_pin is not None:
            self.gpio.write(self.opts.enable_pin, level_for(self.opts.enable_active, True))
        with self._state_lock:
            self._started_at = self.clock()
        log.info("imd started device=%s settle_ms=%.0f", self.device_id, self.opts.settle_ms)

    def stop(self) -> None:
        """Release enable (if wired); :meth:`read` reports not measuring from now on."""
        with self._state_lock:
            self._started_at = None  # the intent is "stopped" even if the write fails
        if self.opts.enable_pin is not None:
            self.gpio.write(self.opts.enable_pin, level_for(self.opts.enable_active, False))

    def _lines(self) -> tuple[bool, bool]:
        """(insulation OK, pre-warning) from one consistent snapshot of the pins."""
        pins = self.gpio.read_all()
        o = self.opts
        ok = bool(pins >> o.ok_pin & 1) == (o.ok_level == "high")
        warning = o.warning_pin is not None and bool(pins >> o.warning_pin & 1) == (o.warning_level == "high")
        return ok, warning

    def read(self) -> IsolationSample:
        """``measuring`` between start() and stop(); the status is ``invalid`` while stopped or
        settling, else what the lines say. ``resistance_ohm`` is always ``None``: the lines say
        only which side of the IMD's own thresholds the insulation is."""
        with self._state_lock:
            started_at = self._started_at
        ok, warning = self._lines()  # read even when stopped: a dead bus must raise, not go unseen
        taken_at, utc = now_reading_times()
        if started_at is None:
            status, measuring = IsolationStatus.INVALID, False
        elif self.clock() - started_at < self.opts.settle_ms / 1000.0:
            status, measuring = IsolationStatus.INVALID, True
        else:
            measuring = True
            status = (
                IsolationStatus.FAULT
                if not ok
                else IsolationStatus.WARNING
                if warning
                else IsolationStatus.VALID
            )
        return IsolationSample(
            taken_at=taken_at, utc=utc, resistance_ohm=None, status=status, measuring=measuring
        )

    # -- self-test ---------------------------------------------------------------------------
    def _alarm(self) -> bool:
        ok, warning = self._lines()
        return not ok if self.opts.test_alarm == "fault" else warning

    def _wait_alarm(self, alarm: bool, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self._alarm() == alarm:
                return True
            time.sleep(0.005)
        return self._alarm() == alarm

    @property
    def supports_self_test(self) -> bool:
        return self.opts.test_pin is not None

    def self_test(self, timeout_s: float | None = None) -> bool:
        """Pulse TEST for ``test_pulse_ms``, expect the ``test_alarm``, then its recovery, all
        within ``timeout_s`` (default ``test_timeout_ms``).

        An IMD that is not enabled is enabled for the test (and waited for up to ``settle_ms``
        to leave its start-up alarm), then disabled again. Returns False (with a log line saying
        why) on any deviation, including an alarm already active before the test; raises only on
        bus errors. TEST is always released, even when the bus fails mid-test.
        """
        o = self.opts
        if o.test_pin is None:
            log.warning("imd self-test impossible: no test_pin device=%s", self.device_id)
            return False
        timeout = o.test_timeout_ms / 1000.0 if timeout_s is None else timeout_s
        with self._test_lock:
            with self._state_lock:
                enable_here = o.enable_pin is not None and self._started_at is None
            if enable_here and o.enable_pin is not None:
                self.gpio.write(o.enable_pin, level_for(o.enable_active, True))
            try:
                return self._run_test(
                    o.test_pin, timeout, ready_s=o.settle_ms / 1000.0 if enable_here else 0.0
                )
            finally:
                with self._state_lock:
                    still_stopped = self._started_at is None
                if enable_here and still_stopped and o.enable_pin is not None:
                    self.gpio.write(o.enable_pin, level_for(o.enable_active, False))

    def _run_test(self, test_pin: int, timeout_s: float, *, ready_s: float) -> bool:
        o = self.opts
        if not self._wait_alarm(False, time.monotonic() + ready_s):
            log.warning("imd self-test refused: %s already active device=%s", o.test_alarm, self.device_id)
            return False
        deadline = time.monotonic() + timeout_s
        seen_alarm = False
        self.gpio.write(test_pin, level_for(o.test_active, True))
        try:
            pulse_end = time.monotonic() + o.test_pulse_ms / 1000.0
            while time.monotonic() < min(pulse_end, deadline):
                if not seen_alarm and self._alarm():
                    seen_alarm = True
                time.sleep(0.005)
        finally:
            self.gpio.write(test_pin, level_for(o.test_active, False))
        if not seen_alarm:
            seen_alarm = self._wait_alarm(True, deadline)
        if not seen_alarm:
            log.warning(
                "imd self-test failed: no %s within %.2f s device=%s", o.test_alarm, timeout_s, self.device_id
            )
            return False
        if not self._wait_alarm(False, deadline):
            log.warning("imd self-test failed: %s did not clear device=%s", o.test_alarm, self.device_id)
            return False
        log.info("imd self-test passed device=%s", self.device_id)
        return True


class Mcp23017Imd(ExpanderImd):
    chip_map = MCP23017
    Options: ClassVar[type[msgspec.Struct]] = Mcp23017ImdOptions


class Pca9555Imd(ExpanderImd):
    chip_map = PCA9555
    Options: ClassVar[type[msgspec.Struct]] = ImdOptions
