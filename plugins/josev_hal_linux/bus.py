"""The ``linux`` bus kind: the SoC's own I/O as the kernel exposes it.

One ``linux`` bus stands for the kernel interfaces of the machine the HAL runs on: GPIO character
devices (``/dev/gpiochipN``, through the libgpiod 2.x Python bindings ``gpiod``), the PWM
subsystem (``/sys/class/pwm``), IIO ADCs (``/sys/bus/iio/devices``) and 1-wire sensors
(``/sys/bus/w1/devices``). Both roots are options so a board can be tested against a temporary
tree, and the ``gpiod`` module can be replaced before :meth:`LinuxBus.setup` by an object with
the same API (:class:`josev_hal_linux.sim.SimGpiod`), as the I2C bus takes an smbus
factory. The profile cannot select a simulator.

Profile::

    [buses.soc]
    kind = "linux"
    gpio_dev_dir = "/dev"       # where the gpiochipN character devices are
    sysfs_root = "/sys"         # root of class/pwm, bus/iio/devices, bus/w1/devices
    iio_dev_dir = "/dev"        # where the iio:deviceN character devices are (buffered capture)
    consumer = "josev-hal"      # prefix of the consumer name shown by gpioinfo

Chips are opened on first use and shared by every device of the bus; a chip may be named as
``gpiochip0``, by its absolute path or by its label (``gpioinfo`` prints both).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Annotated, Any, ClassVar

import msgspec

from josev_hal.buses import Bus
from josev_hal.errors import BusError

__all__ = ["LinuxBus", "LinuxBusOptions"]

log = logging.getLogger(__name__)


class LinuxBusOptions(msgspec.Struct, forbid_unknown_fields=True):
    """``[buses.<name>]`` options of ``kind = "linux"``."""

    #: Directory holding the GPIO character devices.
    gpio_dev_dir: Annotated[str, msgspec.Meta(min_length=1)] = "/dev"
    #: Root of the sysfs tree (PWM, IIO, 1-wire).
    sysfs_root: Annotated[str, msgspec.Meta(min_length=1)] = "/sys"
    #: Directory holding the IIO character devices (buffered capture, ``iio:deviceN``).
    iio_dev_dir: Annotated[str, msgspec.Meta(min_length=1)] = "/dev"
    #: Consumer name prefix for requested GPIO lines (the device id is appended).
    consumer: Annotated[str, msgspec.Meta(min_length=1, max_length=24)] = "josev-hal"


class LinuxBus(Bus):
    """Kernel I/O of this machine (see the module docstring)."""

    kind: ClassVar[str] = "linux"
    Options: ClassVar[type[msgspec.Struct]] = LinuxBusOptions

    def __init__(self, name: str, options: msgspec.Struct) -> None:
        super().__init__(name, options)
        assert isinstance(options, LinuxBusOptions)
        self.opts: LinuxBusOptions = options
        self._gpiod: Any = None
        self._chips: dict[str, Any] = {}
        self._chips_lock = threading.Lock()

    @property
    def sysfs_root(self) -> Path:
        return Path(self.opts.sysfs_root)

    @property
    def iio_dev_dir(self) -> Path:
        return Path(self.opts.iio_dev_dir)

    @property
    def gpio_dev_dir(self) -> Path:
        return Path(self.opts.gpio_dev_dir)

    def describe(self) -> str:
        return f"linux gpio={self.opts.gpio_dev_dir} sysfs={self.opts.sysfs_root}"

    def use_gpiod(self, api: Any) -> None:
        """Use ``api`` instead of the ``gpiod`` module (before any chip is opened)."""
        with self._chips_lock:
            if self._chips:
                raise BusError(f"{self.name}: gpiod API cannot be swapped while chips are open")
            self._gpiod = api

    @property
    def gpiod(self) -> Any:
        """The gpiod API (imported on first use: boards without GPIO need no libgpiod)."""
        if self._gpiod is None:
            try:
                import gpiod
            except ImportError as exc:
                raise BusError(
                    f"{self.name}: the gpiod module (libgpiod 2.x bindings) is not installed: "
                    "pip install 'josev-hal[linux]'"
                ) from exc
            self._gpiod = gpiod
        return self._gpiod

    def chip_paths(self) -> list[str]:
        """Every GPIO chip device under ``gpio_dev_dir``, in name order."""
        api = self.gpiod
        try:
            names = sorted(n for n in os.listdir(self.gpio_dev_dir) if n.startswith("gpiochip"))
        except OSError:
            return []
        paths = [str(self.gpio_dev_dir / n) for n in names]
        return [p for p in paths if api.is_gpiochip_device(p)]

    def chip(self, name: str) -> Any:
        """The open chip named ``name`` (``gpiochipN``, a path, or a label). Raises BusError."""
        with self._chips_lock:
            chip = self._chips.get(name)
            if chip is not None:
                return chip
            api = self.gpiod
            path = name if name.startswith("/") else str(self.gpio_dev_dir / name)
            try:
                if os.path.exists(path) and api.is_gpiochip_device(path):
                    chip = api.Chip(path)
                else:
                    chip = self._chip_by_label(name)
            except OSError as exc:
                raise BusError(f"{self.name}: cannot open GPIO chip {name!r}: {exc}") from exc
            self._chips[name] = chip
            return chip

    def _chip_by_label(self, label: str) -> Any:
        api = self.gpiod
        for path in self.chip_paths():
            chip = api.Chip(path)
            if chip.get_info().label == label:
                return chip
            chip.close()
        known = ", ".join(self.chip_paths()) or "none"
        raise BusError(f"{self.name}: no GPIO chip named or labelled {label!r} (chips: {known})")

    def setup(self) -> None:
        """Nothing is opened up front: chips open when a device requests its lines."""

    def release(self) -> None:
        with self._chips_lock:
            chips, self._chips = list(self._chips.values()), {}
        for chip in chips:
            try:
                chip.close()
            except Exception:  # release never raises
                log.debug("gpio chip close failed", exc_info=True)
