"""Helpers shared by the I2C drivers: getting the chip handle, pin polarity, option checks."""

from __future__ import annotations

from typing import Any, Literal

from josev_hal.buses.i2c import I2cBus, I2cDevice
from josev_hal.devices import Driver
from josev_hal.errors import BusError

__all__ = ["Active", "check_pin", "chip_handle", "level_for"]

#: Which electrical level means "active" (energised, tripped, closed, locked ...).
Active = Literal["high", "low"]


def level_for(active: Active, on: bool) -> bool:
    """The electrical level that drives/means ``on`` for a pin whose active level is ``active``."""
    return on if active == "high" else not on


def check_pin(name: str, pin: int | None, *, pins: int = 16) -> None:
    """Option check for an expander pin number (0..7 = port A/0, 8..15 = port B/1)."""
    if pin is not None and not 0 <= pin < pins:
        raise ValueError(f"{name}: pin {pin} is outside 0..{pins - 1} (0-7 = port A/0, 8-15 = port B/1)")


def check_distinct(**pins: int | None) -> None:
    """Option check: no two roles share one pin."""
    seen: dict[int, str] = {}
    for name, pin in pins.items():
        if pin is None:
            continue
        if pin in seen:
            raise ValueError(f"{name}: pin {pin} is already used by {seen[pin]}")
        seen[pin] = name


def chip_handle(driver: Driver, address: int | None = None) -> I2cDevice:
    """The :class:`I2cDevice` for ``driver`` at ``address`` (default: the device's address)."""
    bus: Any = driver.config.bus
    if not isinstance(bus, I2cBus):
        raise driver.error(f"needs an i2c bus, got {type(bus).__name__}", BusError)
    addr = driver.config.address if address is None else address
    if addr is None:
        raise driver.error("needs an I2C address (address = 0x..)")
    return bus.device(addr, device_id=driver.device_id, plugin=driver.config.plugin)
