"""Linux SoC I/O at the kernel-interface level, next to the ``linux`` bus and drivers it serves.

* :class:`SimGpiod` (:mod:`.gpiod_api`) stands in for the ``gpiod`` module (libgpiod 2.x Python
  bindings): pass it to :meth:`josev_hal_linux.bus.LinuxBus.use_gpiod`, like the I2C bus double
  stands behind smbus2.
* :class:`SimSysfs` (:mod:`.sysfs`) builds PWM chips, IIO ADCs and 1-wire sensors under a
  temporary sysfs root.
* :class:`SimLinuxAcBoard` (:mod:`.board`) wires them into a Tarragon-like AC board (CP, PP,
  contactor, RCD, lock, NTC, DS18B20) for the tests of ``boards/linux-gpio-iio-pwm.toml``.
"""

from __future__ import annotations

from .board import SimLinuxAcBoard, ntc_celsius_to_ohm
from .gpiod_api import SimGpioChip, SimGpiod
from .sysfs import SimSysfs

__all__ = [
    "SimGpioChip",
    "SimGpiod",
    "SimLinuxAcBoard",
    "SimSysfs",
    "ntc_celsius_to_ohm",
]
