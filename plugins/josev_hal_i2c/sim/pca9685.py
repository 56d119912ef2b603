"""PCA9685 16-channel 12-bit PWM at the I2C transfer level."""

from __future__ import annotations

from typing import ClassVar

from ._base import RegisterFileChip

__all__ = ["SimPca9685"]


class SimPca9685(RegisterFileChip):
    """PCA9685 16-channel 12-bit PWM.

    Reset: MODE1 0x11 (SLEEP, ALLCALL), MODE2 0x04 (OUTDRV), SUBADR1..3 0xE2/0xE4/0xE8,
    ALLCALLADR 0xE0, every channel full-off (LEDn_OFF_H bit 4), PRE_SCALE 0x1E (200 Hz).
    PRE_SCALE writes are ignored unless MODE1.SLEEP is set; the pointer auto-increments only with
    MODE1.AI. While sleeping the oscillator is off and every output is low (the simulator's
    choice for the datasheet's "outputs off").
    """

    name = "pca9685"
    size = 256
    MODE1, MODE2, PRE_SCALE = 0x00, 0x01, 0xFE
    OSC_HZ: ClassVar[float] = 25_000_000.0

    def reset(self) -> None:
        self.regs = bytearray(self.size)
        self.regs[0x00] = 0x11
        self.regs[0x01] = 0x04
        self.regs[0x02:0x06] = bytes([0xE2, 0xE4, 0xE8, 0xE0])
        for ch in range(16):
            self.regs[0x09 + 4 * ch] = 0x10
        self.regs[self.PRE_SCALE] = 0x1E
        self.pointer = 0

    def _next(self, pointer: int) -> int:
        if self.regs[self.MODE1] & 0x20:
            return (pointer + 1) % self.size
        return pointer

    def _load(self, register: int) -> int:
        if 0xFA <= register <= 0xFD:
            return 0  # ALL_LED registers read as zero
        return self.regs[register]

    def _store(self, register: int, value: int) -> None:
        if register == self.PRE_SCALE:
            if self.regs[self.MODE1] & 0x10:
                self.regs[register] = max(value, 3)  # the chip forces a minimum of 3
            return
        if register == self.MODE1:
            if value & 0x80:
                value &= 0x7F  # writing RESTART=1 restarts the PWM and clears the bit
            self.regs[register] = value
            return
        if 0xFA <= register <= 0xFD:
            for ch in range(16):
                self.regs[0x06 + 4 * ch + (register - 0xFA)] = value
            return
        if 0x06 <= register <= 0x45 or register in (0x01, 0x02, 0x03, 0x04, 0x05):
            self.regs[register] = value

    # -- electrical side ---------------------------------------------------------------------
    @property
    def sleeping(self) -> bool:
        return bool(self.regs[self.MODE1] & 0x10)

    def frequency_hz(self) -> float:
        return self.OSC_HZ / (4096 * (self.regs[self.PRE_SCALE] + 1))

    def channel_duty(self, channel: int) -> float:
        """Fraction of the period the output is high (0.0 .. 1.0), after MODE2.INVRT."""
        if not 0 <= channel <= 15:
            raise ValueError("PCA9685 channels are 0..15")
        base = 0x06 + 4 * channel
        on = self.regs[base] | (self.regs[base + 1] & 0x0F) << 8
        off = self.regs[base + 2] | (self.regs[base + 3] & 0x0F) << 8
        if self.sleeping or self.regs[base + 3] & 0x10:
            duty = 0.0  # full off wins over full on
        elif self.regs[base + 1] & 0x10:
            duty = 1.0
        else:
            duty = ((off - on) % 4096) / 4096.0
        if self.regs[self.MODE2] & 0x10:
            duty = 1.0 - duty
        return duty
