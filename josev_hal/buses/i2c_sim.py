"""The I2C bus double: an ``smbus2.SMBus`` look-alike with simulated chips attached by address.

:class:`SimI2cBus` stands in for ``smbus2.SMBus``: pass ``sim.factory`` as the ``smbus_factory``
of :class:`josev_hal.buses.i2c.I2cBus` and every driver runs its real code path down to the
bytes on the wire. A chip is a :class:`SimChip` modelled at the **transfer** level (a write
transfer carries the register pointer and data, a read transfer returns bytes from the current
pointer), so SMBus byte-order quirks (word transfers are LSB first, most chips are MSB first) and
pointer rules show up exactly as on hardware.

Fault injection mirrors what the kernel reports: a NACK is ``OSError(EREMOTEIO)`` (or ``ENXIO``),
a busy adapter ``OSError(EAGAIN)`` (or ``EBUSY``); an absent chip NACKs its address.

Why this lives in the core, next to :mod:`josev_hal.buses.i2c`, while every chip model lives with
its driver (``josev_hal_i2c.sim`` for the first-party chips): the ``i2c`` bus kind is the core's,
and this double knows nothing of any chip -- it is the other side of the bus API the core
defines. A third-party I2C plugin simulates its own chip by subclassing :class:`SimChip` and
attaching it here, without importing a first-party plugin, and the core's own paths never need a
plugin to get a bus double.
"""

from __future__ import annotations

import ctypes
import errno
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Clock", "SimChip", "SimI2cBus", "SimTransfer"]

Clock = Callable[[], float]


class SimChip:
    """Base of a simulated chip: one write transfer, one read transfer.

    ``write(data)``: the bytes of one I2C write transfer (usually pointer + payload).
    ``read(length)``: the bytes of one I2C read transfer, starting at the current pointer.
    ``clock`` is set by :meth:`SimI2cBus.attach` so that time-dependent chips share the bus clock.
    """

    name: ClassVar[str] = "chip"

    def __init__(self) -> None:
        self.clock: Clock = time.monotonic

    def attached(self) -> None:
        """Called by :meth:`SimI2cBus.attach` once ``clock`` is the bus clock. A chip that
        records timed state (an expander's output history) re-records its power-on state here."""

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, length: int) -> bytes:
        raise NotImplementedError


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
            chip.attached()
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
