"""What the chip models share: a constant source and an 8-bit register file with a pointer."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from josev_hal.buses.i2c_sim import SimChip

__all__ = ["RegisterFileChip", "constant"]

V = TypeVar("V")


def constant(value: V) -> Callable[[], V]:
    """A source that always returns ``value`` (an input tied to a fixed level)."""

    def source() -> V:
        return value

    return source


class RegisterFileChip(SimChip):
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
