"""Register-level I2C chip simulators behind the smbus2 API.

:class:`SimI2cBus` stands in for ``smbus2.SMBus``: pass ``sim.factory`` as the ``smbus_factory``
of :class:`josev_hal.buses.i2c.I2cBus` and every driver runs its real code path down to the
bytes on the wire. Chips are modelled at the **transfer** level (a write transfer carries the
register pointer and data, a read transfer returns bytes from the current pointer), so SMBus
byte-order quirks (word transfers are LSB first, the chips are MSB first), pointer
auto-increment and "write ignored unless in sleep" rules show up exactly as on hardware.

Simulated parts: ADS1115/ADS1015 (ADC with an analog input model), MCP23017 and PCA9555/TCA9555
(GPIO expanders with pins that can be wired to each other through delayed lines, e.g. relay coil
→ mirror contact), PCA9685 (PWM) and PN532 (NFC reader; enough of the frame protocol for
identification and a UID read). :func:`build_ac_board` wires a complete AC board (CP/PP/
contactor/RCD/lock/reader) used by the tests, the probe's simulation mode and the demo.

Fault injection mirrors what the kernel reports: a NACK is ``OSError(EREMOTEIO)`` (or ``ENXIO``),
a busy adapter ``OSError(EAGAIN)`` (or ``EBUSY``); an absent chip NACKs its address.

Reset values and register maps follow ``hardware-facts.md`` §6 and the chips' datasheets; where
a datasheet leaves behaviour undefined the simulator documents the choice it makes.
"""

from __future__ import annotations

import ctypes
import errno
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

__all__ = [
    "CpGenerator",
    "DelayedLine",
    "LevelShifter",
    "SimAcBoard",
    "SimAds1x15",
    "SimAds1015",
    "SimAds1115",
    "SimChip",
    "SimCpLine",
    "SimGpioExpander",
    "SimI2cBus",
    "SimImdModule",
    "SimMcp23017",
    "SimPca9555",
    "SimPca9685",
    "SimPn532",
    "SimPpLine",
    "SimRcdModule",
    "SimTransfer",
    "build_ac_board",
]

Clock = Callable[[], float]
Level = Callable[[], bool]
Voltage = Callable[[], float]


V = TypeVar("V")


def _constant(value: V) -> Callable[[], V]:
    def source() -> V:
        return value

    return source


# =============================================================================================
# Chips
# =============================================================================================


class SimChip:
    """Base of a simulated chip: one write transfer, one read transfer.

    ``write(data)``: the bytes of one I2C write transfer (usually pointer + payload).
    ``read(length)``: the bytes of one I2C read transfer, starting at the current pointer.
    ``clock`` is set by :meth:`SimI2cBus.attach` so that time-dependent chips share the bus clock.
    """

    name: ClassVar[str] = "chip"

    def __init__(self) -> None:
        self.clock: Clock = time.monotonic

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, length: int) -> bytes:
        raise NotImplementedError


class _RegisterFileChip(SimChip):
    """8-bit register file with a pointer that advances after each byte (chip-specific rule)."""

    size: ClassVar[int] = 256

    def __init__(self) -> None:
        super().__init__()
        self.regs = bytearray(self.size)
        self.pointer = 0
        self.reset()

    def reset(self) -> None:
        self.regs = bytearray(self.size)
        self.pointer = 0

    # chip-specific hooks
    def _next(self, pointer: int) -> int:
        return (pointer + 1) % self.size

    def _load(self, register: int) -> int:
        return self.regs[register]

    def _store(self, register: int, value: int) -> None:
        self.regs[register] = value

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.pointer = data[0] % self.size
        for value in data[1:]:
            self._store(self.pointer, value)
            self.pointer = self._next(self.pointer)

    def read(self, length: int) -> bytes:
        out = bytearray()
        for _ in range(length):
            out.append(self._load(self.pointer) & 0xFF)
            self.pointer = self._next(self.pointer)
        return bytes(out)


# -- ADS1115 / ADS1015 ------------------------------------------------------------------------

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
        self.inputs[channel] = source if callable(source) else _constant(float(source))

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


# -- GPIO expanders ---------------------------------------------------------------------------


class SimGpioExpander(_RegisterFileChip):
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
        self._sources[pin] = source if callable(source) else _constant(bool(source))

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


# -- PCA9685 ----------------------------------------------------------------------------------


class SimPca9685(_RegisterFileChip):
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


# -- PN532 ------------------------------------------------------------------------------------

PN532_ACK = bytes([0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00])


def pn532_frame(tfi: int, payload: bytes) -> bytes:
    """``00 00 FF LEN LCS TFI payload DCS 00`` (hardware-facts §8.1)."""
    body = bytes([tfi]) + payload
    length = len(body)
    return bytes([0x00, 0x00, 0xFF, length, (-length) & 0xFF, *body, (-sum(body)) & 0xFF, 0x00])


class SimPn532(SimChip):
    """PN532 on I2C: every read transfer starts with a status byte (0x01 = ready).

    After a valid command frame the chip is ready with an ACK frame, then (after
    ``response_delay_polls`` not-ready reads) with the response frame. A frame with a bad
    length or data checksum is ignored, as the chip does. Understood commands:
    GetFirmwareVersion (0x02), SAMConfiguration (0x14), RFConfiguration (0x32) and
    InListPassiveTarget (0x4A, 106 kbit/s type A); anything else gets the syntax-error frame.
    Present a card with :meth:`present` (UID bytes) and take it away with ``present(None)``.
    """

    name = "pn532"
    FIRMWARE = bytes([0x32, 0x01, 0x06, 0x07])  # IC = PN532, version 1.6, supports 0x07

    def __init__(self, *, response_delay_polls: int = 1) -> None:
        super().__init__()
        self.response_delay_polls = response_delay_polls
        self.card: bytes | None = None
        self.commands: list[int] = []
        self._queue: deque[bytes] = deque()
        self._delay_left = 0

    def present(self, uid: bytes | None) -> None:
        self.card = uid

    def write(self, data: bytes) -> None:
        frame = _parse_pn532_frame(data)
        if frame is None:
            return
        self._queue.clear()
        tfi, cmd, params = frame
        if tfi != 0xD4:
            return
        self.commands.append(cmd)
        self._queue.append(PN532_ACK)
        self._queue.append(self._respond(cmd, params))
        self._delay_left = 0

    def _respond(self, cmd: int, params: bytes) -> bytes:
        if cmd == 0x02:
            return pn532_frame(0xD5, bytes([0x03]) + self.FIRMWARE)
        if cmd in (0x14, 0x32):
            return pn532_frame(0xD5, bytes([cmd + 1]))
        if cmd == 0x4A and len(params) >= 2 and params[1] == 0x00:
            if self.card is None:
                return pn532_frame(0xD5, bytes([0x4B, 0x00]))
            sens_res = bytes([0x00, 0x44 if len(self.card) == 7 else 0x04])
            body = bytes([0x4B, 0x01, 0x01, *sens_res, 0x08, len(self.card), *self.card])
            return pn532_frame(0xD5, body)
        # Syntax error frame (application level error) for anything we do not model.
        return bytes([0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00])

    def read(self, length: int) -> bytes:
        if not self._queue or self._delay_left > 0:
            if self._delay_left > 0:
                self._delay_left -= 1
            return bytes(length)
        if length <= 1:
            return b"\x01"[:length]
        frame = self._queue.popleft()
        if frame is PN532_ACK:
            self._delay_left = self.response_delay_polls
        out = (b"\x01" + frame)[:length]
        return out + bytes(length - len(out))


def _parse_pn532_frame(data: bytes) -> tuple[int, int, bytes] | None:
    start = data.find(b"\x00\xff")
    if start < 0 or len(data) < start + 4:
        return None
    length, lcs = data[start + 2], data[start + 3]
    if (length + lcs) & 0xFF or length < 2:
        return None
    body = data[start + 4 : start + 4 + length]
    if len(body) != length or len(data) < start + 5 + length:
        return None
    if (sum(body) + data[start + 4 + length]) & 0xFF:
        return None
    return body[0], body[1], bytes(body[2:])


# =============================================================================================
# The bus
# =============================================================================================


@dataclass(frozen=True, slots=True)
class SimTransfer:
    """One logged transfer: ``op`` is ``"w"`` or ``"r"``; ``data`` the bytes moved."""

    address: int
    op: str
    data: bytes
    error: int | None = None


class SimI2cBus:
    """An smbus2.SMBus look-alike with simulated chips attached by address.

    Thread-safe (one transfer at a time, like the adapter). ``log`` keeps the last transfers for
    assertions (``sim.writes_to(0x20)``). Fault injection:

    * :meth:`inject_nack` — the next ``count`` transfers to ``address`` (``None``: every
      address) fail with ``OSError(EREMOTEIO)`` (or the given errno), ``count=None`` until
      :meth:`clear_faults`;
    * :meth:`inject_busy` — the next ``count`` transfers fail with ``EAGAIN`` (arbitration lost);
    * a transfer to an address with no chip NACKs (``absent_errno``).
    """

    def __init__(
        self,
        chips: Mapping[int, SimChip] | None = None,
        *,
        clock: Clock = time.monotonic,
        absent_errno: int = errno.EREMOTEIO,
    ) -> None:
        self.clock = clock
        self.absent_errno = absent_errno
        self.chips: dict[int, SimChip] = {}
        self.log: deque[SimTransfer] = deque(maxlen=4096)
        self.opened_with: list[int | str] = []
        self.closed = False
        self._lock = threading.RLock()
        self._nack: dict[int | None, list[Any]] = {}
        self._busy: list[Any] = [0, errno.EAGAIN]
        for address, chip in (chips or {}).items():
            self.attach(address, chip)

    # -- wiring ------------------------------------------------------------------------------
    def attach(self, address: int, chip: SimChip) -> SimChip:
        if not 0x03 <= address <= 0x7F:
            raise ValueError(f"address 0x{address:02x} outside 0x03..0x7f")
        with self._lock:
            chip.clock = self.clock
            if isinstance(chip, SimGpioExpander):
                chip.reset()  # re-record the power-on state with the bus clock
            self.chips[address] = chip
        return chip

    def detach(self, address: int) -> None:
        with self._lock:
            self.chips.pop(address, None)

    def factory(self, bus: int | str) -> SimI2cBus:
        """Use as ``I2cBus(name, options, smbus_factory=sim.factory)``."""
        with self._lock:
            self.opened_with.append(bus)
            self.closed = False
        return self

    # -- faults ------------------------------------------------------------------------------
    def inject_nack(
        self, address: int | None = None, count: int | None = 1, code: int = errno.EREMOTEIO
    ) -> None:
        with self._lock:
            self._nack[address] = [count, code]

    def inject_busy(self, count: int = 1, code: int = errno.EAGAIN) -> None:
        with self._lock:
            self._busy = [count, code]

    def clear_faults(self) -> None:
        with self._lock:
            self._nack.clear()
            self._busy = [0, errno.EAGAIN]

    def _fail(self, address: int) -> int | None:
        if self._busy[0] > 0:
            self._busy[0] -= 1
            return int(self._busy[1])
        for key in (address, None):
            entry = self._nack.get(key)
            if entry is None:
                continue
            count, code = entry
            if count is None:
                return int(code)
            if count > 0:
                entry[0] = count - 1
                return int(code)
        if address not in self.chips:
            return self.absent_errno
        return None

    def _chip(self, address: int, op: str, data: bytes = b"") -> SimChip:
        if self.closed:
            raise OSError(errno.EBADF, "I2C bus is closed")
        code = self._fail(address)
        if code is not None:
            self.log.append(SimTransfer(address, op, data, code))
            raise OSError(code, f"{errno.errorcode.get(code, code)} at 0x{address:02x}")
        return self.chips[address]

    def _write(self, address: int, data: bytes) -> None:
        with self._lock:
            chip = self._chip(address, "w", data)
            chip.write(data)
            self.log.append(SimTransfer(address, "w", data))

    def _read(self, address: int, length: int) -> bytes:
        with self._lock:
            chip = self._chip(address, "r")
            data = chip.read(length)
            self.log.append(SimTransfer(address, "r", data))
            return data

    def _write_read(self, address: int, pointer: bytes, length: int) -> bytes:
        # Combined transfer (repeated start): a failure of either half fails the whole call.
        with self._lock:
            self._write(address, pointer)
            return self._read(address, length)

    # -- smbus2 API --------------------------------------------------------------------------
    def open(self, bus: int | str) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> SimI2cBus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_quick(self, i2c_addr: int, force: bool | None = None) -> None:
        self._write(i2c_addr, b"")

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        return self._read(i2c_addr, 1)[0]

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([value & 0xFF]))

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        return self._write_read(i2c_addr, bytes([register]), 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([register, value & 0xFF]))

    def read_word_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        lo, hi = self._write_read(i2c_addr, bytes([register]), 2)
        return lo | hi << 8  # SMBus words are LSB first on the wire

    def write_word_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        self._write(i2c_addr, bytes([register, value & 0xFF, (value >> 8) & 0xFF]))

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        if not 0 < length <= 32:
            raise ValueError("Desired block length over 32 bytes")
        return list(self._write_read(i2c_addr, bytes([register]), length))

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        if len(data) > 32:
            raise ValueError("Data length cannot exceed 32 bytes")
        self._write(i2c_addr, bytes([register, *data]))

    def i2c_rdwr(self, *i2c_msgs: Any) -> None:
        """Run smbus2 ``i2c_msg`` transfers: writes go to the chip, reads fill the buffers."""
        with self._lock:
            for msg in i2c_msgs:
                if msg.flags & 0x0001:  # I2C_M_RD
                    data = self._read(msg.addr, msg.len)
                    ctypes.memmove(msg.buf, data, msg.len)
                else:
                    self._write(msg.addr, bytes(msg))

    # -- assertions helpers ------------------------------------------------------------------
    def writes_to(self, address: int) -> list[bytes]:
        """Successful write transfers to ``address``, oldest first."""
        return [t.data for t in list(self.log) if t.address == address and t.op == "w" and t.error is None]


# =============================================================================================
# Analog and wiring models
# =============================================================================================


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


@dataclass
class SimRcdModule:
    """A residual-current monitor: its trip output follows the TEST input after ``test_delay_s``
    (the module injects a test current while TEST is asserted) or a real fault (:meth:`trip`)."""

    test: Level | None = None  # the TEST input as the module sees it (usually a DelayedLine)
    faulted: bool = False

    def trip(self) -> None:
        self.faulted = True

    def clear(self) -> None:
        self.faulted = False

    def tripped(self) -> bool:
        return self.faulted or (self.test() if self.test is not None else False)


@dataclass
class SimImdModule:
    """An insulation monitoring device that reports through relay/open-collector outputs.

    Logical model (the wiring to expander pins, with its polarity, is :meth:`wire`'s job):

    * it measures while its enable input is asserted (``enable``; ``None``: no enable input,
      always measuring) and needs ``startup_s`` of continuous enable before its outputs mean
      anything -- until then it signals an alarm, as fail-safe IMDs do while starting;
    * ``fault`` (insulation below the alarm threshold) drops the "insulation OK" output and
      ``warning`` (below the pre-warning threshold) asserts the pre-warning output; a fault
      implies the pre-warning;
    * while its TEST input is asserted (after ``test_delay_s``) it simulates an insulation fault
      (both alarms) unless ``test_works`` is False (a broken test circuit).
    """

    enable: Level | None = None
    enable_settled: Level | None = None  # the enable input as it was ``startup_s`` ago
    test: Level | None = None
    fault: bool = False
    warning: bool = False
    test_works: bool = True

    def measuring(self) -> bool:
        if self.enable is None:
            return True
        settled = self.enable_settled() if self.enable_settled is not None else True
        return bool(self.enable()) and bool(settled)

    def _testing(self) -> bool:
        return self.test_works and self.test is not None and bool(self.test())

    def insulation_ok(self) -> bool:
        """The "insulation OK" output (True = OK; de-energised = alarm while not ready)."""
        return self.measuring() and not self.fault and not self._testing()

    def prewarning(self) -> bool:
        """The pre-warning output (True = warning), asserted while not ready too."""
        return not self.measuring() or self.fault or self.warning or self._testing()

    def wire(
        self,
        chip: SimGpioExpander,
        *,
        ok_pin: int,
        warning_pin: int | None = None,
        enable_pin: int | None = None,
        test_pin: int | None = None,
        ok_level: bool = True,
        warning_level: bool = True,
        enable_active: bool = True,
        test_active: bool = True,
        startup_s: float = 0.05,
        test_delay_s: float = 0.01,
    ) -> SimImdModule:
        """Connect this IMD to ``chip``: outputs to input pins (``ok_level``/``warning_level`` are
        the electrical levels that mean OK / warning), inputs follow output pins (``*_active``:
        the level that asserts them; an unconfigured pin, still an input, asserts nothing)."""
        if enable_pin is not None:
            self.enable = DelayedLine(
                chip, enable_pin, invert=not enable_active, idle_level=not enable_active
            )
            self.enable_settled = DelayedLine(
                chip, enable_pin, startup_s, invert=not enable_active, idle_level=not enable_active
            )
        if test_pin is not None:
            self.test = DelayedLine(
                chip, test_pin, test_delay_s, invert=not test_active, idle_level=not test_active
            )
        chip.connect_input(ok_pin, lambda: self.insulation_ok() == ok_level)
        if warning_pin is not None:
            chip.connect_input(warning_pin, lambda: self.prewarning() == warning_level)
        return self


@dataclass(frozen=True, slots=True)
class LevelShifter:
    """Linear front end from a ±12 V CP (or any) signal to ADC volts: ``adc = v·gain + offset``."""

    gain: float
    offset_v: float

    @classmethod
    def from_resistors(
        cls, r_in_ohm: float, r_gnd_ohm: float, r_ref_ohm: float, v_ref: float
    ) -> LevelShifter:
        """Three-resistor shifter (hardware-facts §6.5): R_in from CP, R_gnd to GND, R_ref to Vref."""
        g_in, g_gnd, g_ref = 1 / r_in_ohm, 1 / r_gnd_ohm, 1 / r_ref_ohm
        total = g_in + g_gnd + g_ref
        return cls(gain=g_in / total, offset_v=v_ref * g_ref / total)

    def adc_v(self, signal_v: float) -> float:
        return signal_v * self.gain + self.offset_v

    def signal_v(self, adc_v: float) -> float:
        return (adc_v - self.offset_v) / self.gain


#: The reference shifter of hardware-facts §6.5 (200 k / 68 k / 47 k to 3.3 V).
REFERENCE_CP_SHIFTER = LevelShifter.from_resistors(200_000, 68_000, 47_000, 3.3)


@dataclass(frozen=True, slots=True)
class CpGenerator:
    """What the CP output stage drives, read from a PCA9685: ``mode`` x1/pwm/e/f and duty."""

    chip: SimPca9685
    channel: int
    e_channel: int | None = None
    invert: bool = False  # the output stage inverts (logic high = -12 V)

    def __call__(self) -> tuple[str, float | None]:
        if self.e_channel is not None and self.chip.channel_duty(self.e_channel) >= 1.0:
            return "e", None
        duty = self.chip.channel_duty(self.channel)
        if self.invert:
            duty = 1.0 - duty
        if duty >= 1.0:
            return "x1", None
        if duty <= 0.0:
            return "f", None
        return "pwm", duty * 100.0


#: Nominal positive plateau per EV state (IEC 61851-1; the 1 kΩ/2.74 kΩ/diode network gives
#: 8.98/5.99/2.93 V, within a few tens of mV of these).
EV_STATE_LEVEL_V = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0}


@dataclass
class SimCpLine:
    """The CP wire between the EVSE generator and the EV, seen by two peak detectors.

    ``positive_v``/``negative_v`` are what the positive/negative peak-hold circuits present
    (CP volts); the ADC sees them through ``shifter``. ``override`` forces both plateaus
    (tests of exact levels); ``diode_ok = False`` models a shorted EV diode (the low phase
    mirrors the high phase).
    """

    generator: Callable[[], tuple[str, float | None]]
    shifter: LevelShifter = REFERENCE_CP_SHIFTER
    ev_state: str = "A"
    diode_ok: bool = True
    override: tuple[float, float] | None = None

    def set_ev_state(self, state: str) -> None:
        if state not in EV_STATE_LEVEL_V:
            raise ValueError(f"EV state must be one of {sorted(EV_STATE_LEVEL_V)}")
        self.ev_state = state

    def plateaus(self) -> tuple[float, float]:
        if self.override is not None:
            return self.override
        mode, _duty = self.generator()
        if mode == "e" or self.ev_state == "E":
            return 0.0, 0.0
        if mode == "f":
            return -12.0, -12.0
        high = EV_STATE_LEVEL_V[self.ev_state]
        if mode == "x1":
            return high, high  # no low phase: the negative detector sees the DC level too
        low = -12.0 if self.diode_ok or self.ev_state == "A" else -high
        return high, low

    def positive_v(self) -> float:
        return self.plateaus()[0]

    def negative_v(self) -> float:
        return self.plateaus()[1]

    def adc_positive_v(self) -> float:
        return self.shifter.adc_v(self.positive_v())

    def adc_negative_v(self) -> float:
        return self.shifter.adc_v(self.negative_v())


@dataclass
class SimPpLine:
    """PP to PE through the cable's Rc, pulled up by ``pull_up_ohm`` to ``reference_v``.

    ``rc_ohm = None`` is no cable (open); the ADC sees ``Vref·Rc/(Rc+Rpu)``.
    """

    pull_up_ohm: float = 1000.0
    reference_v: float = 3.3
    rc_ohm: float | None = None

    def adc_v(self) -> float:
        if self.rc_ohm is None:
            return self.reference_v
        return self.reference_v * self.rc_ohm / (self.rc_ohm + self.pull_up_ohm)


# =============================================================================================
# A complete simulated AC board
# =============================================================================================


@dataclass
class SimAcBoard:
    """The simulated AC board of :func:`build_ac_board` (pin map in its docstring)."""

    bus: SimI2cBus
    adc: SimAds1x15
    gpio: SimGpioExpander
    pwm: SimPca9685
    reader: SimPn532
    cp: SimCpLine
    pp: SimPpLine
    contactor_feedback: DelayedLine
    lock_feedback: DelayedLine
    rcd: SimRcdModule
    pins: dict[str, int] = field(default_factory=dict)


AC_BOARD_PINS = {
    "contactor": 0,  # GPA0: contactor coil driver, active high
    "lock": 1,  # GPA1: lock actuator "lock" (held while locked)
    "rcd_test": 3,  # GPA3: RCD module TEST input, active high
    "rcd_reset": 4,  # GPA4: RCD module RESET input, active high
    "contactor_feedback": 8,  # GPB0: mirror contact, reads high when the main contacts are closed
    "lock_feedback": 9,  # GPB1: lock switch, high = locked
    "rcd_trip": 10,  # GPB2: RCD fault output, high = tripped
}


def build_ac_board(
    *,
    clock: Clock = time.monotonic,
    gpio_chip: str = "mcp23017",
    adc_chip: str = "ads1115",
    contactor_delay_s: float = 0.03,
    lock_delay_s: float = 0.05,
    rcd_test_delay_s: float = 0.02,
    extra: Iterable[tuple[int, SimChip]] = (),
) -> SimAcBoard:
    """A Raspberry-Pi-style AC board on one simulated adapter.

    * ADS1115 (or ADS1015) @0x48: AIN0 positive CP peak detector, AIN1 negative CP peak
      detector (both through :data:`REFERENCE_CP_SHIFTER`), AIN2 PP (1 kΩ pull-up to 3.3 V);
    * PCA9685 @0x40: channel 0 CP PWM (non-inverting ±12 V stage), channel 1 CP-to-PE switch
      (state E);
    * MCP23017 (or PCA9555) @0x20: pins in :data:`AC_BOARD_PINS`; the contactor's mirror
      contact follows the coil after ``contactor_delay_s``, the lock switch follows the lock
      output after ``lock_delay_s``, the RCD trips ``rcd_test_delay_s`` after TEST is asserted;
    * PN532 @0x24.
    """
    bus = SimI2cBus(clock=clock)
    adc: SimAds1x15 = SimAds1115() if adc_chip == "ads1115" else SimAds1015()
    gpio: SimGpioExpander = SimMcp23017() if gpio_chip == "mcp23017" else SimPca9555()
    pwm = SimPca9685()
    reader = SimPn532()
    bus.attach(0x48, adc)
    bus.attach(0x20, gpio)
    bus.attach(0x40, pwm)
    bus.attach(0x24, reader)
    for address, chip in extra:
        bus.attach(address, chip)
    cp = SimCpLine(generator=CpGenerator(pwm, 0, e_channel=1))
    pp = SimPpLine()
    adc.connect(0, cp.adc_positive_v)
    adc.connect(1, cp.adc_negative_v)
    adc.connect(2, pp.adc_v)
    pins = dict(AC_BOARD_PINS)
    contactor_feedback = DelayedLine(gpio, pins["contactor"], contactor_delay_s)
    lock_feedback = DelayedLine(gpio, pins["lock"], lock_delay_s)
    rcd = SimRcdModule(test=DelayedLine(gpio, pins["rcd_test"], rcd_test_delay_s))
    gpio.connect_input(pins["contactor_feedback"], contactor_feedback)
    gpio.connect_input(pins["lock_feedback"], lock_feedback)
    gpio.connect_input(pins["rcd_trip"], rcd.tripped)
    return SimAcBoard(
        bus=bus,
        adc=adc,
        gpio=gpio,
        pwm=pwm,
        reader=reader,
        cp=cp,
        pp=pp,
        contactor_feedback=contactor_feedback,
        lock_feedback=lock_feedback,
        rcd=rcd,
        pins=pins,
    )
