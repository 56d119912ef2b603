"""ADS1115/ADS1015 drivers: ``ads1x15-cp`` (ControlPilot) and ``ads1x15-pp`` (ProximityPilot).

**Peak-hold requirement.** Both chips are delta-sigma converters that integrate over a whole
conversion (≥ 1.16 ms on the ADS1115, ≥ 0.3 ms on the ADS1015), so they cannot pick the high
phase out of a 1 kHz PWM (hardware-facts §1.8). ``ads1x15-cp`` therefore assumes the board has
two analog **peak detectors** on CP — one holding the positive plateau (``positive_channel``),
one the negative plateau (``negative_channel``) — each decaying with a time constant of a few
PWM periods so that a state change shows within one sample interval. Wired straight to CP,
without peak detectors, an ADS1x15 reads the PWM *average* and only DC states (A, x1 states,
F) are measured correctly; do not use it that way.

CP volts from ADC volts: the board's level shifter maps ±12 V into 0..VDD linearly,
``adc_v = cp_v · adc_v_per_cp_v + adc_offset_v`` (hardware-facts §6.5; the reference
200 k/68 k/47 k shifter to 3.3 V gives 0.122 V/V and 1.713 V). The driver inverts that.

CP output: a PCA9685 channel drives the ±12 V output stage (high = +12 V): PWM = duty, full on =
X1, full off = F. State E (0 V) needs a switch between CP and PE — a second PCA9685 channel
(``state_e_channel``); without one, ``set_state_e`` outputs F (the EV must stop in both) and logs
a warning once, and :attr:`output` reports F honestly.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, ClassVar, Literal

import msgspec

from josev_hal.buses.i2c import I2cDevice, i2c_address_problem
from josev_hal.devices import (
    Claim,
    CpMode,
    CpSample,
    DeviceConfig,
    PpSample,
    now_reading_times,
)
from josev_hal.errors import DeviceError, DeviceTimeout
from josev_hal.pilots import PullUpProximityPilot, PwmCpGenerator, cp_volts

from ._common import Active, chip_handle, level_for
from .pca9685 import DEFAULT_OSCILLATOR_HZ, Pca9685, achieved_frequency_hz, prescale_for

__all__ = [
    "ADS_DATA_RATES",
    "ADS_FULL_SCALES_V",
    "Ads1x15",
    "Ads1x15Cp",
    "Ads1x15CpOptions",
    "Ads1x15Pp",
    "Ads1x15PpOptions",
]

log = logging.getLogger(__name__)

AdcChip = Literal["ads1115", "ads1015"]

#: PGA full-scale range in volts, index = PGA code.
ADS_FULL_SCALES_V: tuple[float, ...] = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256)
#: Data rates in samples/s, index = DR code.
ADS_DATA_RATES: dict[str, tuple[int, ...]] = {
    "ads1115": (8, 16, 32, 64, 128, 250, 475, 860),
    "ads1015": (128, 250, 490, 920, 1600, 2400, 3300),
}
REG_CONVERSION, REG_CONFIG = 0x00, 0x01
OS_START = 0x8000
MODE_SINGLE = 0x0100
COMP_DISABLED = 0x0003

#: CP frequency tolerance (hardware-facts §1.4).
CP_FREQUENCY_RANGE_HZ = (980.0, 1020.0)


def _named(pins: dict[str, int | None]) -> dict[int, str]:
    return {pin: name for name, pin in pins.items() if pin is not None}


def _check_adc(chip: str, full_scale_v: float, data_rate_sps: int | None) -> None:
    if not any(math.isclose(full_scale_v, fs) for fs in ADS_FULL_SCALES_V):
        raise ValueError(f"full_scale_v: {full_scale_v} is not one of {ADS_FULL_SCALES_V}")
    if data_rate_sps is not None and data_rate_sps not in ADS_DATA_RATES[chip]:
        raise ValueError(f"data_rate_sps: {chip} supports {ADS_DATA_RATES[chip]}, not {data_rate_sps}")


def _check_channel(name: str, channel: int | None) -> None:
    if channel is not None and not 0 <= channel <= 3:
        raise ValueError(f"{name}: AIN channel must be 0..3, got {channel}")


class Ads1x15:
    """Single-shot, single-ended conversions on one ADS1115/ADS1015."""

    def __init__(self, dev: I2cDevice, chip: AdcChip, full_scale_v: float, data_rate_sps: int | None) -> None:
        self.dev = dev
        self.chip = chip
        rates = ADS_DATA_RATES[chip]
        self.data_rate_sps = data_rate_sps if data_rate_sps is not None else max(rates)
        self._dr_code = rates.index(self.data_rate_sps)
        self._pga_code = next(i for i, fs in enumerate(ADS_FULL_SCALES_V) if math.isclose(fs, full_scale_v))
        self.full_scale_v = ADS_FULL_SCALES_V[self._pga_code]
        self.conversion_s = 1.0 / self.data_rate_sps

    def config_word(self, channel: int) -> int:
        """Config register for a single-shot conversion of AIN``channel`` against GND."""
        mux = 0b100 + channel
        return OS_START | mux << 12 | self._pga_code << 9 | MODE_SINGLE | self._dr_code << 5 | COMP_DISABLED

    def read_volts(self, channel: int) -> tuple[float, float]:
        """Convert AIN``channel``; returns ``(volts, monotonic time the conversion started)``.

        Holds the chip lock (not the bus lock) while the conversion runs, so other chips on the
        bus stay reachable.
        """
        with self.dev.lock:
            started = time.monotonic()
            self.dev.write_u16_be(REG_CONFIG, self.config_word(channel))
            time.sleep(self.conversion_s * 1.05)
            deadline = time.monotonic() + self.conversion_s * 3 + 0.005
            while not self.dev.read_u16_be(REG_CONFIG) & OS_START:
                if time.monotonic() > deadline:
                    raise DeviceTimeout(
                        f"{self.chip} conversion of AIN{channel} did not finish",
                        device=self.dev.device_id,
                        plugin=self.dev.plugin,
                    )
                time.sleep(0.0002)
            raw = self.dev.read_u16_be(REG_CONVERSION)
        code = raw - 0x10000 if raw & 0x8000 else raw
        if self.chip == "ads1015":
            return code / 16 * self.full_scale_v / 2048, started  # 12 bits, left-justified
        return code * self.full_scale_v / 32768, started


# =============================================================================================
# ControlPilot
# =============================================================================================


class Ads1x15CpOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``driver = "ads1x15-cp"`` (the device ``address`` is the ADC's)."""

    #: Which converter sits at the address.
    adc: AdcChip = "ads1115"
    #: AIN channel of the positive-plateau peak detector.
    positive_channel: int = 0
    #: AIN channel of the negative-plateau peak detector; ``None``: not measured (no diode check).
    negative_channel: int | None = 1
    #: PGA full-scale range (±V): 6.144, 4.096, 2.048, 1.024, 0.512 or 0.256.
    full_scale_v: float = 4.096
    #: Samples per second; ``None`` = the chip's fastest (860 / 3300).
    data_rate_sps: int | None = None
    #: Level-shifter gain: ADC volts per CP volt (0.122 for the 200k/68k/47k reference).
    adc_v_per_cp_v: float
    #: ADC volts at CP = 0 V (1.713 for the reference shifter to 3.3 V).
    adc_offset_v: float
    #: CP generator chip (only the PCA9685 is supported).
    pwm: Literal["pca9685"] = "pca9685"
    #: I2C address of the PCA9685 on the same bus.
    pwm_address: int = 0x40
    #: PCA9685 channel feeding the ±12 V output stage.
    pwm_channel: int = 0
    #: Requested CP frequency; the achieved one (1017.25 Hz for 1000) must be within 980-1020 Hz.
    pwm_frequency_hz: float = 1000.0
    #: PCA9685 clock (25 MHz internal; set the EXTCLK frequency or a measured value here).
    pwm_oscillator_hz: float = DEFAULT_OSCILLATOR_HZ
    #: The output stage inverts (logic high = −12 V).
    pwm_inverted: bool = False
    #: PCA9685 channel of the CP-to-PE switch for state E; ``None``: the board has none.
    state_e_channel: int | None = None
    #: Level of ``state_e_channel`` that closes the switch.
    state_e_active: Active = "high"

    def __post_init__(self) -> None:
        _check_adc(self.adc, self.full_scale_v, self.data_rate_sps)
        _check_channel("positive_channel", self.positive_channel)
        _check_channel("negative_channel", self.negative_channel)
        if self.negative_channel == self.positive_channel:
            raise ValueError("negative_channel: must differ from positive_channel")
        if not self.adc_v_per_cp_v > 0:
            raise ValueError("adc_v_per_cp_v: must be > 0")
        problem = i2c_address_problem(self.pwm_address)
        if problem:
            raise ValueError(f"pwm_address: {problem}")
        for name, ch in (("pwm_channel", self.pwm_channel), ("state_e_channel", self.state_e_channel)):
            if ch is not None and not 0 <= ch <= 15:
                raise ValueError(f"{name}: PCA9685 channel must be 0..15")
        if self.state_e_channel == self.pwm_channel:
            raise ValueError("state_e_channel: must differ from pwm_channel")
        prescale = prescale_for(self.pwm_frequency_hz, self.pwm_oscillator_hz)
        achieved = achieved_frequency_hz(prescale, self.pwm_oscillator_hz)
        low, high = CP_FREQUENCY_RANGE_HZ
        if not low <= achieved <= high:
            raise ValueError(
                f"pwm_frequency_hz: prescale {prescale} gives {achieved:.1f} Hz, outside the CP range "
                f"{low:.0f}-{high:.0f} Hz (check pwm_oscillator_hz)"
            )


class Ads1x15Cp(PwmCpGenerator):
    """CP measured by an ADS1115/ADS1015 behind peak detectors, generated by a PCA9685."""

    Options: ClassVar[type[msgspec.Struct]] = Ads1x15CpOptions
    bus_kind: ClassVar[str | None] = "i2c"
    requires_address: ClassVar[bool] = True
    # One ADS1115 usually serves CP and PP (and a second EVSE); AIN channels are claimed at setup.
    address_shareable: ClassVar[bool] = True
    state_e_option: ClassVar[str] = "state_e_channel"

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config, initial=CpMode.X1)
        assert isinstance(self.options, Ads1x15CpOptions)
        self.opts: Ads1x15CpOptions = self.options
        self._adc: Ads1x15 | None = None
        self._pwm: Pca9685 | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def claims(cls, options: Any, address: int | None) -> list[Claim]:
        # ADC inputs on this device's chip, PWM outputs on the PCA9685 at pwm_address.
        if address is None:
            return []
        adc = _named(
            {"positive_channel": options.positive_channel, "negative_channel": options.negative_channel}
        )
        pwm = _named({"pwm_channel": options.pwm_channel, "state_e_channel": options.state_e_channel})
        return [Claim(address, "channel", n, key) for n, key in adc.items()] + [
            Claim(options.pwm_address, "channel", n, key) for n, key in pwm.items()
        ]

    def setup(self) -> None:
        o = self.opts
        adc_dev = chip_handle(self)
        pwm_dev = chip_handle(self, o.pwm_address)
        claims = self.claims(o, adc_dev.address)
        try:
            for dev in (adc_dev, pwm_dev):
                mine = {c.number: c.key for c in claims if c.address == dev.address}
                dev.bus.claim_pins(dev.address, mine, self.device_id)
        except Exception:
            adc_dev.bus.release_pins(self.device_id)
            raise
        self._adc = Ads1x15(adc_dev, o.adc, o.full_scale_v, o.data_rate_sps)
        self._pwm = Pca9685(pwm_dev, oscillator_hz=o.pwm_oscillator_hz)
        try:
            prescale = self._pwm.configure(o.pwm_frequency_hz)
        except ValueError as exc:  # options were validated; this is a guard for direct use
            raise self.error(str(exc)) from exc
        log.info(
            "cp generator ready device=%s prescale=%d frequency_hz=%.2f",
            self.device_id,
            prescale,
            achieved_frequency_hz(prescale, o.pwm_oscillator_hz),
        )
        # Idle output: constant +12 V (state A1/B1: EVSE not ready) with the E switch open.
        self.set_x1()

    def release(self) -> None:
        """Leave the CP at state F (EVSE not available) so an EV stops when the HAL goes away."""
        if self._pwm is None:
            return
        try:
            self.set_state_f()
        except DeviceError as exc:
            log.warning("cp release could not set state F device=%s error=%s", self.device_id, exc)
        self._pwm.dev.bus.release_pins(self.device_id)
        self._pwm = None
        self._adc = None

    # -- measurement -------------------------------------------------------------------------
    def _to_cp_v(self, adc_v: float) -> float:
        return cp_volts(adc_v, self.opts.adc_v_per_cp_v, self.opts.adc_offset_v)

    def read(self) -> CpSample:
        adc = self._require(self._adc)
        taken_at, utc = now_reading_times()
        positive_adc, _ = adc.read_volts(self.opts.positive_channel)
        negative: float | None = None
        if self.opts.negative_channel is not None:
            negative_adc, _ = adc.read_volts(self.opts.negative_channel)
            negative = self._to_cp_v(negative_adc)
        return CpSample(
            taken_at=taken_at, utc=utc, positive_v=self._to_cp_v(positive_adc), negative_v=negative
        )

    # -- generation (the IEC 61851-1 output rules live in PwmCpGenerator) ------------------
    def _require(self, part: Any) -> Any:
        if part is None:
            raise self.error("not set up")
        return part

    def _drive(self, high: bool | None, duty_fraction: float | None = None) -> None:
        pwm: Pca9685 = self._require(self._pwm)
        if duty_fraction is not None:
            pwm.set_duty(
                self.opts.pwm_channel, 1.0 - duty_fraction if self.opts.pwm_inverted else duty_fraction
            )
        elif high is not None:
            pwm.set_full(self.opts.pwm_channel, high != self.opts.pwm_inverted)

    def _drive_duty(self, fraction: float) -> None:
        self._drive(None, fraction)

    def _drive_x1(self) -> None:
        self._drive(True)

    def _drive_state_f(self) -> None:
        self._drive(False)
        self._e_switch(False)

    def _e_switch(self, closed: bool) -> None:
        if self.opts.state_e_channel is None:
            return
        pwm: Pca9685 = self._require(self._pwm)
        pwm.set_full(self.opts.state_e_channel, level_for(self.opts.state_e_active, closed))

    @property
    def has_state_e_switch(self) -> bool:
        return self.opts.state_e_channel is not None

    def describe(self) -> dict[str, Any]:
        o = self.opts
        prescale = prescale_for(o.pwm_frequency_hz, o.pwm_oscillator_hz)
        return {
            "adc": o.adc,
            "pwm": f"pca9685@0x{o.pwm_address:02x} ch{o.pwm_channel}",
            "pwm_frequency_hz": round(achieved_frequency_hz(prescale, o.pwm_oscillator_hz), 2),
            "negative_plateau": o.negative_channel is not None,
            "state_e_switch": o.state_e_channel is not None,
        }


# =============================================================================================
# ProximityPilot
# =============================================================================================


class Ads1x15PpOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``driver = "ads1x15-pp"``: PP pulled up to ``reference_v`` through
    ``pull_up_ohm``; Rc in the plug pulls it towards PE. ``Rc = Rpu · V / (Vref − V)``."""

    adc: AdcChip = "ads1115"
    #: AIN channel of the PP node.
    channel: int = 2
    full_scale_v: float = 4.096
    data_rate_sps: int | None = None
    #: Pull-up resistor from the PP node to ``reference_v``.
    pull_up_ohm: float = 1000.0
    #: Voltage the pull-up goes to.
    reference_v: float = 3.3
    #: ADC volts per PP-node volt (a divider between node and ADC input; 1.0 = direct).
    adc_v_per_pp_v: float = 1.0
    #: Above this fraction of ``reference_v`` the PP is open: no cable.
    open_above_fraction: float = 0.97
    #: Below this Rc the PP is shorted to PE: reported as a fault.
    short_below_ohm: float = 30.0

    def __post_init__(self) -> None:
        _check_adc(self.adc, self.full_scale_v, self.data_rate_sps)
        _check_channel("channel", self.channel)
        if not self.pull_up_ohm > 0:
            raise ValueError("pull_up_ohm: must be > 0")
        if not self.reference_v > 0:
            raise ValueError("reference_v: must be > 0")
        if not self.adc_v_per_pp_v > 0:
            raise ValueError("adc_v_per_pp_v: must be > 0")
        if not 0 < self.open_above_fraction < 1:
            raise ValueError("open_above_fraction: must be between 0 and 1")
        if self.short_below_ohm < 0:
            raise ValueError("short_below_ohm: must be >= 0")


class Ads1x15Pp(PullUpProximityPilot):
    """PP resistance from a pull-up divider read by an ADS1115/ADS1015."""

    Options: ClassVar[type[msgspec.Struct]] = Ads1x15PpOptions
    bus_kind: ClassVar[str | None] = "i2c"
    requires_address: ClassVar[bool] = True
    address_shareable: ClassVar[bool] = True

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, Ads1x15PpOptions)
        self.opts: Ads1x15PpOptions = self.options
        self._adc: Ads1x15 | None = None

    @classmethod
    def claims(cls, options: Any, address: int | None) -> list[Claim]:
        return [] if address is None else [Claim(address, "channel", options.channel, "channel")]

    def setup(self) -> None:
        o = self.opts
        dev = chip_handle(self)
        dev.bus.claim_pins(
            dev.address, {c.number: c.key for c in self.claims(o, dev.address)}, self.device_id
        )
        self._adc = Ads1x15(dev, o.adc, o.full_scale_v, o.data_rate_sps)

    def release(self) -> None:
        if self._adc is not None:
            self._adc.dev.bus.release_pins(self.device_id)
        self._adc = None

    def describe(self) -> dict[str, Any]:
        o = self.opts
        return {
            "adc": o.adc,
            "channel": o.channel,
            "pull_up_ohm": o.pull_up_ohm,
            "reference_v": o.reference_v,
        }

    def read(self) -> PpSample:
        if self._adc is None:
            raise self.error("not set up")
        taken_at, utc = now_reading_times()
        adc_v, _ = self._adc.read_volts(self.opts.channel)
        return self._sample(adc_v, taken_at, utc)
