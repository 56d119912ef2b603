"""PCA9685 16-channel 12-bit PWM, used as the CP PWM generator (hardware-facts §6.4).

The chip drives the logic input of the board's ±12 V CP output stage: output high = +12 V,
low = −12 V (``inverted`` for stages that invert). Constant high is X1, constant low is state F.

Frequency: ``prescale = round(f_osc / (4096·f)) − 1`` (datasheet formula), ``f_osc`` = 25 MHz
internal. For 1 kHz that is prescale 5 → **1017.25 Hz**, inside the 980–1020 Hz CP tolerance
but only 0.3 % from its edge; the next step (6) gives 872 Hz. The internal oscillator is not
trimmed, so a board that uses one must verify the frequency (or feed EXTCLK and set
``oscillator_hz``). The prescale is global: every channel of the chip shares the frequency.
"""

from __future__ import annotations

import time

from josev_hal.buses.i2c import I2cDevice

__all__ = [
    "DEFAULT_OSCILLATOR_HZ",
    "Pca9685",
    "achieved_frequency_hz",
    "prescale_for",
]

DEFAULT_OSCILLATOR_HZ = 25_000_000.0
MODE1, MODE2, PRE_SCALE = 0x00, 0x01, 0xFE
MODE1_RESTART, MODE1_AI, MODE1_SLEEP, MODE1_ALLCALL = 0x80, 0x20, 0x10, 0x01
MODE2_OUTDRV = 0x04
FULL = 0x10  # bit 4 of LEDn_ON_H / LEDn_OFF_H


def prescale_for(frequency_hz: float, oscillator_hz: float = DEFAULT_OSCILLATOR_HZ) -> int:
    """PRE_SCALE for ``frequency_hz``. Raises ValueError outside the chip's range (3..255)."""
    if frequency_hz <= 0:
        raise ValueError("frequency must be positive")
    prescale = round(oscillator_hz / (4096.0 * frequency_hz)) - 1
    if not 3 <= prescale <= 255:
        low = oscillator_hz / (4096.0 * 256)
        high = oscillator_hz / (4096.0 * 4)
        raise ValueError(f"{frequency_hz} Hz is outside the PCA9685 range {low:.0f}..{high:.0f} Hz")
    return prescale


def achieved_frequency_hz(prescale: int, oscillator_hz: float = DEFAULT_OSCILLATOR_HZ) -> float:
    """The PWM frequency the chip really produces with ``prescale``."""
    return oscillator_hz / (4096.0 * (prescale + 1))


class Pca9685:
    """One PCA9685 chip: frequency setup and per-channel duty / full on / full off."""

    def __init__(self, dev: I2cDevice, *, oscillator_hz: float = DEFAULT_OSCILLATOR_HZ) -> None:
        self.dev = dev
        self.oscillator_hz = oscillator_hz

    def configure(self, frequency_hz: float) -> int:
        """Set the frequency, totem-pole outputs and auto-increment. Returns the prescale.

        When the chip already runs awake at that prescale (the HAL restarted while the CP was
        active) nothing is re-programmed: going through SLEEP would drop every output to low —
        a ~5 ms −12 V glitch (state F) on the CP.
        """
        prescale = prescale_for(frequency_hz, self.oscillator_hz)
        with self.dev.lock:
            mode1 = self.dev.read_u8(MODE1)
            current = self.dev.read_u8(PRE_SCALE)
            if current == prescale and not mode1 & MODE1_SLEEP:
                if not mode1 & MODE1_AI:
                    self.dev.write_u8(MODE1, (mode1 | MODE1_AI) & ~MODE1_RESTART)
                self.dev.write_u8(MODE2, MODE2_OUTDRV)
                return prescale
            awake = (mode1 & ~(MODE1_SLEEP | MODE1_RESTART)) | MODE1_AI
            self.dev.write_u8(MODE1, awake | MODE1_SLEEP)  # PRE_SCALE is writable only in sleep
            self.dev.write_u8(PRE_SCALE, prescale)
            self.dev.write_u8(MODE2, MODE2_OUTDRV)
            self.dev.write_u8(MODE1, awake)
            time.sleep(0.005)  # oscillator start-up before RESTART (datasheet: 500 µs; margin)
            if self.dev.read_u8(MODE1) & MODE1_RESTART:
                self.dev.write_u8(MODE1, awake | MODE1_RESTART)
        return prescale

    @staticmethod
    def _base(channel: int) -> int:
        if not 0 <= channel <= 15:
            raise ValueError(f"PCA9685 channel {channel} is outside 0..15")
        return 0x06 + 4 * channel

    def set_duty(self, channel: int, fraction: float) -> None:
        """PWM with the output high for ``fraction`` of the period (0 < fraction < 1).

        The count is clamped to 1..4095 so a tiny duty never becomes "ON == OFF".
        """
        off = min(4095, max(1, round(fraction * 4096)))
        self.dev.write_block(self._base(channel), [0x00, 0x00, off & 0xFF, off >> 8])

    def set_full(self, channel: int, high: bool) -> None:
        """Constant high (full on) or constant low (full off) in one block transfer."""
        data = [0x00, FULL, 0x00, 0x00] if high else [0x00, 0x00, 0x00, FULL]
        self.dev.write_block(self._base(channel), data)

    def read_channel(self, channel: int) -> tuple[int, int]:
        """(ON, OFF) 16-bit register pairs of a channel, including the FULL bits."""
        on_l, on_h, off_l, off_h = self.dev.read_block(self._base(channel), 4)
        return on_l | on_h << 8, off_l | off_h << 8
