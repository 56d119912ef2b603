"""josev-hal Linux I/O: boards whose relays, RCD, lock, CP and PP sit on the SoC itself.

Registered through the ``josev_hal`` entry-point group (``linux = "josev_hal_linux"``) like any
third-party plugin. Bus kind ``linux`` (:mod:`josev_hal_linux.bus`); drivers:

* ``gpio-contactor``, ``gpio-rcd``, ``gpio-lock`` -- GPIO lines through libgpiod 2.x, edge
  events pushed to the core (:mod:`josev_hal_linux.gpio_drivers`);
* ``linux-cp`` -- CP generator on a sysfs PWM channel, CP peak detectors on IIO channels;
  ``iio-pp`` -- PP on an IIO channel (:mod:`josev_hal_linux.cp`);
* ``linux-temperature`` -- NTC / PT1000 on IIO channels, DS18B20 on 1-wire
  (:mod:`josev_hal_linux.temperature`).

``josev-hal probe`` lists the GPIO chips, PWM chips and IIO channels of a board with a
``linux`` bus (:mod:`josev_hal_linux.probe` also drafts the profile tables).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from josev_hal.buses import Bus
from josev_hal.devices import Driver
from josev_hal.hookspecs import CliTool, hookimpl

from .bus import LinuxBus, LinuxBusOptions
from .cp import IioPp, LinuxCp
from .gpio import GpioLine
from .gpio_drivers import GpioContactor, GpioLock, GpioRcd
from .temperature import LinuxTemperature

if TYPE_CHECKING:
    from josev_hal.board import Board

__all__ = [
    "DRIVERS",
    "GpioContactor",
    "GpioLine",
    "GpioLock",
    "GpioRcd",
    "IioPp",
    "LinuxBus",
    "LinuxBusOptions",
    "LinuxCp",
    "LinuxTemperature",
    "hal_probe_lines",
    "hal_probe_tools",
    "hal_register_bus_kinds",
    "hal_register_drivers",
]

DRIVERS: dict[str, type[Driver]] = {
    "gpio-contactor": GpioContactor,
    "gpio-rcd": GpioRcd,
    "gpio-lock": GpioLock,
    "linux-cp": LinuxCp,
    "iio-pp": IioPp,
    "linux-temperature": LinuxTemperature,
}


@hookimpl
def hal_register_drivers() -> Mapping[str, type[Driver]]:
    """Contribute the Linux GPIO / PWM / IIO drivers."""
    return dict(DRIVERS)


@hookimpl
def hal_register_bus_kinds() -> Mapping[str, type[Bus]]:
    """Contribute the ``linux`` bus kind."""
    return {"linux": LinuxBus}


@hookimpl
def hal_probe_lines(board: Board) -> Sequence[str] | None:
    """For every ``linux`` bus of the board: its GPIO chips and lines (with who holds them),
    PWM chips, IIO channels and 1-wire sensors."""
    from josev_hal.errors import BusError

    from .probe import inventory, inventory_lines

    lines: list[str] = []
    for bus in board.buses.values():
        if not isinstance(bus, LinuxBus):
            continue
        try:
            api = bus.gpiod
        except BusError:
            api = None
        lines.append(f"{bus.name} ({bus.describe()}):")
        lines.extend(
            f"  {line}" for line in inventory_lines(inventory(bus.gpio_dev_dir, bus.sysfs_root, api))
        )
    return lines or None


@hookimpl
def hal_probe_tools() -> Mapping[str, CliTool]:
    """``josev-hal probe linux``: list this machine's GPIO/PWM/IIO/1-wire (:mod:`josev_hal_linux.probe`)."""
    from .probe import LinuxProbe

    return {"linux": LinuxProbe()}
