"""GPIO expanders (MCP23017, PCA9555/TCA9555) with an electrical pin model, and the delayed line
that lets one pin follow another (relay coil -> mirror contact)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ._base import RegisterFileChip, constant

__all__ = ["DelayedLine", "Level", "SimGpioExpander", "SimMcp23017", "SimPca9555"]

Level = Callable[[], bool]


class SimGpioExpander(RegisterFileChip):
    """16 pins (0..15 = port A/0 bits 0..7, port B/1 bits 0..7) with an electrical model.

    An input pin reads its connected source (:meth:`connect_input`), else its pull-up, else
    ``floating_level``. Output levels are recorded with timestamps so a :class:`DelayedLine` can
    look up what a pin drove ``delay_s`` ago (a relay coil seen through its mirror contact).
    """

    floating_level: ClassVar[bool] = False

    def __init__(self) -> None:
        self._sources: dict[int, Level] = {}
        self._history: deque[tuple[float, int, int]] = deque(maxlen=256)
        super().__init__()

    # chip-specific: 16-bit masks, bit i = pin i
    def direction_inputs(self) -> int:
        raise NotImplementedError

    def output_latch(self) -> int:
        raise NotImplementedError

    def pull_ups(self) -> int:
        return 0

    def reset(self) -> None:
        super().reset()
        self._history.clear()
        self._record()

    def attached(self) -> None:
        self.reset()  # re-record the power-on state with the bus clock

    def _record(self) -> None:
        entry = (self.clock(), self.direction_inputs(), self.output_latch())
        if self._history and self._history[-1][1:] == entry[1:]:
            return
        self._history.append(entry)

    def _store(self, register: int, value: int) -> None:
        super()._store(register, value)
        self._record()

    # -- electrical side ---------------------------------------------------------------------
    def connect_input(self, pin: int, source: Level | bool) -> None:
        """Drive input ``pin`` from a level source (callable or constant)."""
        _check_pin(pin)
        self._sources[pin] = source if callable(source) else constant(bool(source))

    def pin_level(self, pin: int) -> bool:
        """Electrical level of ``pin`` now."""
        _check_pin(pin)
        if not self.direction_inputs() >> pin & 1:
            return bool(self.output_latch() >> pin & 1)
        source = self._sources.get(pin)
        if source is not None:
            return bool(source())
        if self.pull_ups() >> pin & 1:
            return True
        return self.floating_level

    def pins_level(self) -> int:
        return sum(1 << pin for pin in range(16) if self.pin_level(pin))

    def output_level(self, pin: int) -> bool | None:
        """What ``pin`` drives now, ``None`` while it is an input (high impedance)."""
        return self.output_level_at(pin, self.clock())

    def output_level_at(self, pin: int, when: float) -> bool | None:
        """What ``pin`` drove at monotonic time ``when`` (``None``: it was an input)."""
        _check_pin(pin)
        state: tuple[float, int, int] | None = None
        for entry in self._history:
            if entry[0] <= when:
                state = entry
            else:
                break
        if state is None:
            # Before the first recorded change the chip was in its power-on state: all inputs.
            return None
        _, inputs, latch = state
        if inputs >> pin & 1:
            return None
        return bool(latch >> pin & 1)


def _check_pin(pin: int) -> None:
    if not 0 <= pin <= 15:
        raise ValueError(f"pin {pin} is outside 0..15")


class SimMcp23017(SimGpioExpander):
    """MCP23017 with IOCON.BANK = 0 (power-on default; BANK = 1 is not modelled).

    IODIR resets to 0xFF (all inputs); GPIO reads pin levels; a write to GPIO goes to OLAT;
    IOCON is mirrored at 0x0A/0x0B; the pointer auto-increments unless IOCON.SEQOP is set.
    Registers 0x16..0xFF do not exist; the simulator reads them as 0x00 and ignores writes.
    """

    name = "mcp23017"
    size = 256

    IODIRA, IPOLA, IOCON, GPPUA, GPIOA, OLATA = 0x00, 0x02, 0x0A, 0x0C, 0x12, 0x14

    def reset(self) -> None:
        self.regs = bytearray(self.size)
        self.regs[0x00] = 0xFF
        self.regs[0x01] = 0xFF
        self.pointer = 0
        self._history.clear()
        self._record()

    def direction_inputs(self) -> int:
        return self.regs[0x00] | self.regs[0x01] << 8

    def output_latch(self) -> int:
        return self.regs[0x14] | self.regs[0x15] << 8

    def pull_ups(self) -> int:
        return self.regs[0x0C] | self.regs[0x0D] << 8

    def _next(self, pointer: int) -> int:
        if self.regs[self.IOCON] & 0x20:  # SEQOP: no auto-increment
            return pointer
        return (pointer + 1) % 0x16

    def _load(self, register: int) -> int:
        if register in (0x12, 0x13):
            port = register - 0x12
            levels = self.pins_level() >> (8 * port) & 0xFF
            return levels ^ self.regs[0x02 + port]  # IPOL inverts the read value of inputs
        if register >= 0x16:
            return 0
        return self.regs[register]

    def _store(self, register: int, value: int) -> None:
        if register >= 0x16 or register in (0x0E, 0x0F, 0x10, 0x11):  # INTF/INTCAP read-only
            return
        if register in (0x12, 0x13):
            register += 2  # writing GPIO writes OLAT
        if register in (0x0A, 0x0B):
            value &= 0xFE  # bit 0 unimplemented
            self.regs[0x0A] = self.regs[0x0B] = value
            self._record()
            return
        super()._store(register, value)


class SimPca9555(SimGpioExpander):
    """PCA9555/TCA9555: input, output, polarity, configuration register pairs (0x00..0x07).

    The pointer toggles within a register pair on multi-byte access (port 0 ↔ port 1). The
    real parts have fixed ~100 kΩ pull-ups on every I/O, so unconnected inputs read high.
    Command bytes above 0x07: the datasheet defines none; the simulator only uses the low three
    bits (an assumption, documented so tests do not depend on it).
    """

    name = "pca9555"
    size = 8
    floating_level = True

    def reset(self) -> None:
        self.regs = bytearray([0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 0xFF])
        self.pointer = 0
        self._history.clear()
        self._record()

    def direction_inputs(self) -> int:
        return self.regs[6] | self.regs[7] << 8

    def output_latch(self) -> int:
        return self.regs[2] | self.regs[3] << 8

    def write(self, data: bytes) -> None:
        if data:
            data = bytes([data[0] & 0x07]) + data[1:]
        super().write(data)

    def _next(self, pointer: int) -> int:
        return pointer ^ 1

    def _load(self, register: int) -> int:
        if register in (0, 1):
            levels = self.pins_level() >> (8 * register) & 0xFF
            return levels ^ self.regs[4 + register]
        return self.regs[register]

    def _store(self, register: int, value: int) -> None:
        if register in (0, 1):
            return  # input ports are read-only
        super()._store(register, value)


@dataclass
class DelayedLine:
    """A digital line that follows an expander output pin after ``delay_s`` (relay → contact).

    ``invert``: the line reads the opposite level (a mirror/NC contact, an active-low stage).
    ``stuck``: force the line to a level whatever the pin does (welded contact, broken wire).
    """

    chip: SimGpioExpander
    pin: int
    delay_s: float = 0.0
    invert: bool = False
    stuck: bool | None = None
    idle_level: bool = False  # what the line reads while the pin is an input (coil unpowered)

    def __call__(self) -> bool:
        if self.stuck is not None:
            return self.stuck
        level = self.chip.output_level_at(self.pin, self.chip.clock() - self.delay_s)
        value = self.idle_level if level is None else level
        return value != self.invert
