"""ADS1115 / ADS1015 (ADC with an analog input model) at the I2C transfer level."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from josev_hal.buses.i2c_sim import SimChip

from ._base import constant

__all__ = ["ADS_FULL_SCALE_V", "ADS_MUX", "SimAds1x15", "SimAds1015", "SimAds1115"]

Voltage = Callable[[], float]

#: PGA code -> full-scale volts (codes 6 and 7 also select 0.256 V).
ADS_FULL_SCALE_V = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256)
#: MUX code -> (positive input, negative input or None for GND).
ADS_MUX = ((0, 1), (0, 3), (1, 3), (2, 3), (0, None), (1, None), (2, None), (3, None))


class SimAds1x15(SimChip):
    """ADS1115/ADS1015: 2-bit pointer, 16-bit registers MSB first.

    Inputs are volts from :meth:`connect` (a constant or a callable evaluated at conversion time).
    A single-shot conversion (config written with OS=1, MODE=1) samples the inputs at the moment
    of the write; the config register then reads OS=0 ("busy") for ``busy_reads`` reads before it
    reads OS=1, so drivers must poll as on hardware. In continuous mode (MODE=0) every read of
    the conversion register samples afresh.
    """

    name = "ads1x15"
    bits: ClassVar[int] = 16
    CONFIG_RESET: ClassVar[int] = 0x8583

    def __init__(self, *, vdd_v: float = 3.3, busy_reads: int = 1) -> None:
        super().__init__()
        self.vdd_v = vdd_v
        self.busy_reads = busy_reads
        self.inputs: dict[int, Voltage] = {}
        self.conversions = 0
        self.reset()

    def reset(self) -> None:
        self.pointer = 0
        self.regs = [0x0000, self.CONFIG_RESET, 0x8000, 0x7FFF]
        self._busy_left = 0

    def connect(self, channel: int, source: Voltage | float) -> None:
        """Drive AIN``channel`` with a constant voltage or a callable returning volts."""
        if not 0 <= channel <= 3:
            raise ValueError("ADS1x15 has inputs AIN0..AIN3")
        self.inputs[channel] = source if callable(source) else constant(float(source))

    def input_v(self, channel: int) -> float:
        source = self.inputs.get(channel)
        # An open input floats; the chip reads about 0 V through its input impedance.
        value = source() if source else 0.0
        # Inputs are clamped by the ESD diodes at the rails.
        return min(max(value, -0.3), self.vdd_v + 0.3)

    def _convert(self) -> int:
        config = self.regs[1]
        pos, neg = ADS_MUX[(config >> 12) & 0x7]
        full_scale = ADS_FULL_SCALE_V[(config >> 9) & 0x7]
        volts = self.input_v(pos) - (self.input_v(neg) if neg is not None else 0.0)
        self.conversions += 1
        if self.bits == 16:
            code = max(-32768, min(32767, round(volts / full_scale * 32768)))
            return code & 0xFFFF
        code = max(-2048, min(2047, round(volts / full_scale * 2048)))
        return (code << 4) & 0xFFFF  # 12-bit result, left-justified

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] & 0x03
        if len(data) < 3:
            return
        value = (data[1] << 8) | data[2]
        if self.pointer == 0:
            return  # the conversion register is read-only
        if self.pointer == 1:
            single_shot = bool(value & 0x0100)
            if single_shot and value & 0x8000:
                self.regs[1] = value & 0x7FFF
                self.regs[0] = self._convert()
                self._busy_left = self.busy_reads
            else:
                self.regs[1] = value & 0x7FFF
            return
        self.regs[self.pointer] = value

    def read(self, length: int) -> bytes:
        if self.pointer == 0:
            if not self.regs[1] & 0x0100:  # continuous mode: always the latest sample
                self.regs[0] = self._convert()
            value = self.regs[0]
        elif self.pointer == 1:
            value = self.regs[1] & 0x7FFF
            if self._busy_left > 0:
                self._busy_left -= 1
            else:
                value |= 0x8000
        else:
            value = self.regs[self.pointer]
        pair = bytes([(value >> 8) & 0xFF, value & 0xFF])
        return (pair * ((length + 1) // 2))[:length]


class SimAds1115(SimAds1x15):
    name = "ads1115"
    bits = 16


class SimAds1015(SimAds1x15):
    name = "ads1015"
    bits = 12
