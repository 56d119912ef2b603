"""CP on a Linux PWM channel with IIO peak detectors (``linux-cp``), PP on an IIO channel
(``iio-pp``) -- the way chargebyte's Tarragon is built (hardware-facts §1.8).

CP output: the PWM channel drives the ±12 V output stage (active = +12 V): PWM = duty, duty
100 % = X1, duty 0 % = F (constant -12 V), as on the ADS1x15/PCA9685 board. State E (0 V) needs
a CP-to-PE switch on a GPIO line (``state_e``); without one, ``set_state_e`` outputs F (the EV
must stop in both), logs once, and :attr:`output` says F.

CP measurement: two analog peak detectors (positive and negative plateau) on IIO channels, each
with an optional reset line (Tarragon: CP_POSITIVE_PEAK_RST / CP_NEGATIVE_PEAK_RST). A read
pulses the resets, waits ``peak_settle_ms`` (a few PWM periods) and converts both channels, so
every sample is a fresh peak and a dropped level is never hidden by the hold capacitor. ADC
millivolts map to CP volts through the board's linear front end:
``adc_v = cp_v * adc_v_per_cp_v + adc_offset_v``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from josev_hal.devices import CpMode, CpSample, DeviceConfig, PpSample, now_reading_times
from josev_hal.errors import BusError, DeviceError
from josev_hal.pilots import PullUpProximityPilot, PwmCpGenerator, cp_volts

from .gpio import GpioLine, GpioLines, check_distinct_lines, linux_bus, safe_set
from .sysfs import IioBuffer, IioChannel, SysfsPwm, find_iio_device

__all__ = ["IioPp", "IioPpOptions", "LinuxCp", "LinuxCpOptions"]

log = logging.getLogger(__name__)

CP_FREQUENCY_RANGE_HZ = (980.0, 1020.0)


class LinuxCpOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``linux-cp``."""

    #: PWM chip number (``/sys/class/pwm/pwmchipN``) and channel.
    pwm_chip: Annotated[int, msgspec.Meta(ge=0)]
    pwm_channel: Annotated[int, msgspec.Meta(ge=0)] = 0
    #: CP frequency (IEC 61851-1: 1000 Hz, 980-1020 Hz allowed).
    pwm_frequency_hz: float = 1000.0
    #: The output stage inverts (PWM high = -12 V): uses the channel's inversed polarity.
    pwm_inverted: bool = False
    #: How long the export of the PWM channel may take to become usable (udev).
    export_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=30)] = 2.0
    #: IIO device (``iio:device0`` or its ``name``) and the channels of the peak detectors.
    iio_device: Annotated[str, msgspec.Meta(min_length=1)]
    positive_channel: str | Annotated[int, msgspec.Meta(ge=0)] = 0
    #: ``None``: the negative plateau is not measured (no diode check possible).
    negative_channel: str | Annotated[int, msgspec.Meta(ge=0)] | None = 1
    #: Front end: ADC volts per CP volt and ADC volts at CP = 0 V.
    adc_v_per_cp_v: float
    adc_offset_v: float
    #: Reset lines of the peak detectors (active = discharge the hold capacitor).
    positive_peak_reset: GpioLine | None = None
    negative_peak_reset: GpioLine | None = None
    #: Reset pulse and the wait before converting (a few PWM periods).
    peak_reset_ms: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.2
    peak_settle_ms: Annotated[float, msgspec.Meta(ge=0, le=100)] = 3.0
    #: CP-to-PE switch for state E (active = CP shorted to PE); omit when the board has none.
    state_e: GpioLine | None = None
    #: ``peak``: the two channels hold the plateaus (peak detectors). ``buffered``: no peak
    #: detectors; ``positive_channel`` carries CP itself through the front end and is captured in
    #: bursts through the IIO buffer (the ADC's trigger must sample well above 1 kHz); the
    #: plateaus are the mean of the ``buffer_extremes`` highest / lowest samples of a burst of
    #: ``buffer_frames``, the duty is the share of samples in the high half (negative_channel and
    #: the peak resets are not used then).
    sampling: Literal["peak", "buffered"] = "peak"
    buffer_frames: Annotated[int, msgspec.Meta(ge=20, le=20_000)] = 200
    buffer_extremes: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    buffer_timeout_ms: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 50.0

    def __post_init__(self) -> None:
        low, high = CP_FREQUENCY_RANGE_HZ
        if not low <= self.pwm_frequency_hz <= high:
            raise ValueError(f"pwm_frequency_hz: {self.pwm_frequency_hz} is outside {low:.0f}-{high:.0f} Hz")
        if not (math.isfinite(self.adc_v_per_cp_v) and self.adc_v_per_cp_v > 0):
            raise ValueError("adc_v_per_cp_v: must be > 0")
        if self.negative_channel is not None and str(self.negative_channel) == str(self.positive_channel):
            raise ValueError("negative_channel: must differ from positive_channel")
        if self.sampling == "buffered":
            if self.positive_peak_reset is not None or self.negative_peak_reset is not None:
                raise ValueError(
                    "sampling: buffered capture has no peak detectors to reset (drop the resets)"
                )
            if 2 * self.buffer_extremes > self.buffer_frames:
                raise ValueError("buffer_extremes: must be at most half of buffer_frames")
        check_distinct_lines(
            positive_peak_reset=self.positive_peak_reset,
            negative_peak_reset=self.negative_peak_reset,
            state_e=self.state_e,
        )


class LinuxCp(PwmCpGenerator):
    """CP generated by a sysfs PWM channel and measured by IIO peak detectors."""

    Options: ClassVar[type[msgspec.Struct]] = LinuxCpOptions
    bus_kind: ClassVar[str | None] = "linux"
    state_e_option: ClassVar[str] = "state_e"

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config, initial=CpMode.STATE_F)
        assert isinstance(self.options, LinuxCpOptions)
        self.opts: LinuxCpOptions = self.options
        self._pwm: SysfsPwm | None = None
        self._positive: IioChannel | None = None
        self._negative: IioChannel | None = None
        self._lines: GpioLines | None = None
        self._buffer: IioBuffer | None = None
        self._read_lock = threading.Lock()

    def setup(self) -> None:
        o = self.opts
        bus = linux_bus(self)
        buffer: IioBuffer | None = None
        try:
            device_dir = find_iio_device(bus.sysfs_root, o.iio_device)
            positive = IioChannel(device_dir, str(o.positive_channel))
            positive.open()
            negative = None
            if o.sampling == "buffered":
                buffer = IioBuffer(device_dir, bus.iio_dev_dir, [str(o.positive_channel)])
                buffer.open()
            elif o.negative_channel is not None:
                negative = IioChannel(device_dir, str(o.negative_channel))
                negative.open()
            pwm = SysfsPwm(bus.sysfs_root, o.pwm_chip, o.pwm_channel, export_timeout_s=o.export_timeout_s)
            pwm.export()
            pwm.configure(o.pwm_frequency_hz, inverted=o.pwm_inverted)
        except BusError as exc:
            if buffer is not None:
                buffer.close()
            raise self.error(exc.detail, BusError) from exc
        lines = GpioLines(
            self,
            {
                "positive_peak_reset": (o.positive_peak_reset, True, False, False),
                "negative_peak_reset": (o.negative_peak_reset, True, False, False),
                "state_e": (o.state_e, True, False, False),
            },
        )
        lines.request()
        self._pwm, self._positive, self._negative, self._lines = pwm, positive, negative, lines
        self._buffer = buffer
        log.info(
            "cp generator ready device=%s pwm=%s period_ns=%d", self.device_id, pwm.describe(), pwm.period_ns
        )
        self.set_x1()  # idle: constant +12 V (A1/B1), E switch open

    def release(self) -> None:
        """Leave CP at state F (EVSE not available) so an EV stops when the HAL goes away."""
        if self._pwm is None:
            return
        try:
            self.set_state_f()
        except DeviceError as exc:
            log.warning("cp release could not set state F device=%s error=%s", self.device_id, exc)
        if self._lines is not None:
            self._lines.release()
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None
        self._pwm = self._positive = self._negative = None
        self._lines = None

    # -- measurement -------------------------------------------------------------------------
    def _cp_v(self, mv: float) -> float:
        return cp_volts(mv / 1000.0, self.opts.adc_v_per_cp_v, self.opts.adc_offset_v)

    def _read_buffered(self, buffer: IioBuffer, channel: IioChannel) -> CpSample:
        o = self.opts
        taken_at, utc = now_reading_times()
        try:
            raw = buffer.read(o.buffer_frames, o.buffer_timeout_ms / 1000.0)[channel.channel]
        except BusError as exc:
            raise self.error(exc.detail, BusError) from exc
        volts = sorted(self._cp_v(channel.to_mv(r)) for r in raw)
        n = o.buffer_extremes
        low, high = sum(volts[:n]) / n, sum(volts[-n:]) / n
        middle = (low + high) / 2.0
        above = sum(1 for v in volts if v > middle)
        # A flat signal (X1, F, E) has no duty: the "halves" are noise.
        duty = None if high - low < 2.0 else 100.0 * above / len(volts)
        return CpSample(taken_at=taken_at, utc=utc, positive_v=high, negative_v=low, duty_percent=duty)

    def read(self) -> CpSample:
        if self._positive is None or self._lines is None:
            raise self.error("not set up")
        if self._buffer is not None:
            return self._read_buffered(self._buffer, self._positive)
        lines = self._lines
        with self._read_lock:
            resets = [n for n in ("positive_peak_reset", "negative_peak_reset") if lines.has(n)]
            if resets:
                for name in resets:
                    lines.set(name, True)
                time.sleep(self.opts.peak_reset_ms / 1000.0)
                for name in resets:
                    lines.set(name, False)
                time.sleep(self.opts.peak_settle_ms / 1000.0)
            taken_at, utc = now_reading_times()
            try:
                positive = self._cp_v(self._positive.read_mv())
                negative = self._cp_v(self._negative.read_mv()) if self._negative is not None else None
            except BusError as exc:
                raise self.error(exc.detail, BusError) from exc
        return CpSample(taken_at=taken_at, utc=utc, positive_v=positive, negative_v=negative)

    # -- generation (the IEC 61851-1 output rules live in PwmCpGenerator) ------------------
    def _drive(self, fraction: float) -> None:
        if self._pwm is None:
            raise self.error("not set up")
        try:
            self._pwm.set(fraction)
        except BusError as exc:
            raise self.error(exc.detail, BusError) from exc

    def _drive_duty(self, fraction: float) -> None:
        self._drive(fraction)

    def _drive_x1(self) -> None:
        self._drive(1.0)

    def _drive_state_f(self) -> None:
        try:
            self._drive(0.0)
        finally:
            safe_set(self._lines, "state_e", False, self, "cp state F: opening the E switch")

    def _e_switch(self, closed: bool) -> None:
        if self._lines is not None and self._lines.has("state_e"):
            self._lines.set("state_e", closed)

    @property
    def has_state_e_switch(self) -> bool:
        return self.opts.state_e is not None

    def describe(self) -> dict[str, Any]:
        o = self.opts
        return {
            "pwm": f"pwmchip{o.pwm_chip}/pwm{o.pwm_channel}",
            "pwm_frequency_hz": o.pwm_frequency_hz,
            "iio_device": o.iio_device,
            "negative_plateau": o.negative_channel is not None,
            "peak_resets": o.positive_peak_reset is not None or o.negative_peak_reset is not None,
            "state_e_switch": o.state_e is not None,
        }


# =============================================================================================
# ProximityPilot
# =============================================================================================


class IioPpOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``iio-pp``: PP pulled up to ``reference_v`` through ``pull_up_ohm``; Rc
    in the plug pulls it towards PE. ``Rc = Rpu * V / (Vref - V)``."""

    iio_device: Annotated[str, msgspec.Meta(min_length=1)]
    channel: str | Annotated[int, msgspec.Meta(ge=0)] = 2
    pull_up_ohm: Annotated[float, msgspec.Meta(gt=0)] = 1000.0
    reference_v: Annotated[float, msgspec.Meta(gt=0)] = 3.3
    #: ADC volts per PP-node volt (a divider between node and ADC; 1.0 = direct).
    adc_v_per_pp_v: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    #: Above this fraction of ``reference_v`` the PP is open: no cable.
    open_above_fraction: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.97
    #: Below this Rc the PP is shorted to PE: a fault.
    short_below_ohm: Annotated[float, msgspec.Meta(ge=0)] = 30.0


class IioPp(PullUpProximityPilot):
    """PP resistance from a pull-up divider on an IIO channel."""

    Options: ClassVar[type[msgspec.Struct]] = IioPpOptions
    bus_kind: ClassVar[str | None] = "linux"

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, IioPpOptions)
        self.opts: IioPpOptions = self.options
        self._channel: IioChannel | None = None

    def setup(self) -> None:
        bus = linux_bus(self)
        try:
            channel = IioChannel(
                find_iio_device(bus.sysfs_root, self.opts.iio_device), str(self.opts.channel)
            )
            channel.open()
        except BusError as exc:
            raise self.error(exc.detail, BusError) from exc
        self._channel = channel

    def release(self) -> None:
        self._channel = None

    def read(self) -> PpSample:
        if self._channel is None:
            raise self.error("not set up")
        taken_at, utc = now_reading_times()
        try:
            mv = self._channel.read_mv()
        except BusError as exc:
            raise self.error(exc.detail, BusError) from exc
        return self._sample(mv / 1000.0, taken_at, utc)

    def describe(self) -> dict[str, Any]:
        o = self.opts
        return {"iio_device": o.iio_device, "channel": o.channel, "pull_up_ohm": o.pull_up_ohm}
