"""One GPIO-expander abstraction over chip-specific register maps (hardware-facts §6.2, §6.3).

Pins are numbered 0..15: 0..7 are port A (MCP23017 GPA0..7) / port 0 (PCA9555 P0_0..7), 8..15
port B / port 1. Several drivers usually share one expander (contactor, RCD and lock on one
MCP23017), so every change is a read-modify-write of the chip's own register under the chip
lock — never a cached shadow that another driver's write would make stale. Outputs are written
through the output latch (MCP23017 OLAT, PCA9555 output port), never through GPIO, so a loaded
output reading back low does not flip its neighbours. Polarity is applied in software (the
chip's polarity-inversion registers are cleared for the pins we use), so a pin's meaning lives
in the profile, not in chip state that survives a HAL restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from josev_hal.buses.i2c import I2cDevice
from josev_hal.errors import DeviceError

__all__ = ["MCP23017", "PCA9555", "ExpanderMap", "GpioExpander"]


@dataclass(frozen=True, slots=True)
class ExpanderMap:
    """Register addresses of port A/0 (port B/1 is the next address)."""

    chip: str
    direction: int  # 1 = input
    output: int  # output latch
    input: int  # pin levels (after polarity inversion)
    polarity: int  # 1 = input read inverted
    pull_up: int | None  # None: no programmable pull-ups


#: MCP23017 with IOCON.BANK = 0 (power-on default): IODIR, OLAT, GPIO, IPOL, GPPU.
MCP23017 = ExpanderMap("mcp23017", direction=0x00, output=0x14, input=0x12, polarity=0x02, pull_up=0x0C)
#: PCA9555/TCA9555: configuration, output port, input port, polarity inversion (fixed pull-ups).
PCA9555 = ExpanderMap("pca9555", direction=0x06, output=0x02, input=0x00, polarity=0x04, pull_up=None)


class GpioExpander:
    """Pin-level access to one expander chip."""

    def __init__(self, dev: I2cDevice, regmap: ExpanderMap) -> None:
        self.dev = dev
        self.map = regmap

    @staticmethod
    def _split(pin: int) -> tuple[int, int]:
        if not 0 <= pin <= 15:
            raise ValueError(f"pin {pin} is outside 0..15")
        return pin // 8, 1 << (pin % 8)

    def _update(self, base: int, pin: int, value: bool, *, force: bool = False) -> None:
        port, mask = self._split(pin)
        register = base + port
        with self.dev.lock:
            current = self.dev.read_u8(register)
            new = current | mask if value else current & ~mask & 0xFF
            if force or new != current:
                self.dev.write_u8(register, new)

    def setup_output(self, pin: int, level: bool) -> None:
        """Make ``pin`` an output at ``level``: the latch first, so it never glitches."""
        with self.dev.lock:
            self._update(self.map.output, pin, level)
            self._update(self.map.direction, pin, False)

    def setup_input(self, pin: int, *, pull_up: bool = False) -> None:
        """Make ``pin`` an input (optionally with the chip's pull-up), polarity not inverted."""
        if pull_up and self.map.pull_up is None:
            raise DeviceError(
                f"{self.map.chip} has no programmable pull-ups (pin {pin})",
                device=self.dev.device_id,
                plugin=self.dev.plugin,
            )
        with self.dev.lock:
            self._update(self.map.direction, pin, True)
            self._update(self.map.polarity, pin, False)
            if self.map.pull_up is not None:
                self._update(self.map.pull_up, pin, pull_up)

    def write(self, pin: int, level: bool) -> None:
        """Drive output ``pin``. Always writes (idempotent) so a command is never skipped."""
        self._update(self.map.output, pin, level, force=True)

    def read(self, pin: int) -> bool:
        """Electrical level of ``pin`` (input or output)."""
        port, mask = self._split(pin)
        return bool(self.dev.read_u8(self.map.input + port) & mask)

    def read_all(self) -> int:
        """All 16 pin levels, bit i = pin i."""
        with self.dev.lock:
            low = self.dev.read_u8(self.map.input)
            high = self.dev.read_u8(self.map.input + 1)
        return low | high << 8
