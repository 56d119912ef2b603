"""Shared buses: one object per physical bus, shared by every device on it.

Several devices often sit on one bus (two meters on one RS485 line, an ADC and a GPIO expander on
one I2C adapter, a group of power modules on one CAN channel). The bus object owns the OS handle
and a lock; a driver holds ``bus.lock`` for a whole transaction (request *and* response) so that
frames of different devices never interleave.

Bus kinds are contributed by plugins through ``hal_register_bus_kinds`` (the core kinds
``serial``, ``i2c`` and ``can`` come from the built-in plugin); the board profile's
``[buses.<name>]`` tables name a ``kind`` and carry that kind's options.
"""

from __future__ import annotations

import threading
from typing import ClassVar

import msgspec

__all__ = ["Bus"]


class Bus:
    """Base class of every bus kind.

    Subclasses set ``kind`` (the profile's ``kind = "..."``) and ``Options`` (a
    ``msgspec.Struct`` with ``forbid_unknown_fields=True``; ``kind`` itself is not part of it),
    open the OS handle in :meth:`setup` and close it in :meth:`release`.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[msgspec.Struct]]

    def __init__(self, name: str, options: msgspec.Struct) -> None:
        self.name = name
        self.options = options
        # Re-entrant so that a driver helper holding the lock may call another helper that
        # takes it too.
        self.lock = threading.RLock()

    @classmethod
    def address_problem(cls, address: int) -> str | None:
        """Why ``address`` cannot be a device address on this kind of bus (``None``: it can).
        ``josev-hal check`` asks this for every device on the bus; the bus's own device handles
        use the same definition at setup."""
        return None

    def setup(self) -> None:
        """Open the OS handle. Raise :class:`~josev_hal.errors.BusError` on failure."""

    def release(self) -> None:
        """Close the OS handle. Idempotent; never raises."""

    def describe(self) -> str:
        """One line for logs and the probe (e.g. ``serial /dev/ttyUSB0 9600 8N1``)."""
        return f"{self.kind} {self.name}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
