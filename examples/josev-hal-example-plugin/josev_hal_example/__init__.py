"""josev-hal example plugin: a contactor driven through a PCF8574 I2C relay module.

Registered through the ``josev_hal`` entry-point group (see this package's pyproject.toml); the
driver is ``example-pcf8574-contactor``. :mod:`josev_hal_example.sim` is its bus-level simulator
(a PCF8574 behind the smbus2 API), used by the package's own contract tests.
"""

from __future__ import annotations

from josev_hal.devices import Driver
from josev_hal.hookspecs import hookimpl
from josev_hal_example.relay import Pcf8574Contactor, Pcf8574ContactorOptions

__all__ = ["Pcf8574Contactor", "Pcf8574ContactorOptions", "hal_register_drivers"]


@hookimpl
def hal_register_drivers() -> dict[str, type[Driver]]:
    return {"example-pcf8574-contactor": Pcf8574Contactor}
