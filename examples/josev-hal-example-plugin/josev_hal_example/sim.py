"""A PCF8574 at the I2C transfer level, for :class:`josev_hal.buses.i2c_sim.SimI2cBus`: the
bus-level peer of the example driver's tests (and of anyone bringing the module up without
hardware). Plus :class:`SimRelayContactor`, a relay-driven contactor whose mirror contact follows
the coil after ``delay_s`` and can be welded or stuck open."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from josev_hal.buses.i2c_sim import SimChip

__all__ = ["SimPcf8574", "SimRelayContactor"]


class SimPcf8574(SimChip):
    """8 quasi-bidirectional pins: a write transfer sets the latches (power-on: all 1); a read
    returns each pin's level -- 0 where the latch is 0, else what drives it from outside (an
    input source connected with :meth:`connect`), else 1 (the weak pull-up)."""

    name = "pcf8574"

    def __init__(self) -> None:
        super().__init__()
        self.latch = 0xFF
        self.inputs: dict[int, Callable[[], bool]] = {}
        self.writes: list[tuple[float, int]] = []

    def connect(self, pin: int, source: Callable[[], bool]) -> None:
        self.inputs[pin] = source

    def write(self, data: bytes) -> None:
        if data:
            self.latch = data[-1]
            self.writes.append((self.clock(), self.latch))

    def read(self, length: int) -> bytes:
        level = 0
        for pin in range(8):
            if not self.latch & (1 << pin):
                continue
            source = self.inputs.get(pin)
            if source is None or source():
                level |= 1 << pin
        return bytes([level] * length)

    def latch_at(self, when: float) -> int:
        """The latch as it was at ``when`` (power-on value before the first write)."""
        value = 0xFF
        for at, latch in self.writes:
            if at > when:
                break
            value = latch
        return value


@dataclass
class SimRelayContactor:
    """A contactor behind a relay on ``coil_pin`` (energised while the pin is low, as on the usual
    modules) whose mirror contact pulls ``feedback`` low while the main contacts are closed."""

    chip: SimPcf8574
    coil_pin: int
    delay_s: float = 0.02
    welded: bool = False
    stuck_open: bool = False

    def closed(self) -> bool:
        if self.welded:
            return True
        if self.stuck_open:
            return False
        return not self.chip.latch_at(self.chip.clock() - self.delay_s) & (1 << self.coil_pin)

    def feedback_level(self) -> bool:
        """The feedback pin's level: low (False) while closed."""
        return not self.closed()
