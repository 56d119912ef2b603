"""josev-hal MCU link: CP, contactor and RCD behind a safety MCU on a serial line.

Protocol: ``docs/mcu-link.md`` (COBS framing, CRC-16, keep-alive in both directions so the MCU
fails safe when the HAL dies). Registered through the ``josev_hal`` entry-point group
(``mculink = "josev_hal_mculink"``). Drivers: ``mcu-cp``, ``mcu-contactor``, ``mcu-rcd``; all
devices on one serial bus share one link.
"""

from __future__ import annotations

from collections.abc import Mapping

from josev_hal.devices import Driver
from josev_hal.hookspecs import hookimpl

from .drivers import McuContactor, McuCp, McuRcd

__all__ = ["McuContactor", "McuCp", "McuRcd", "hal_register_drivers"]


@hookimpl
def hal_register_drivers() -> Mapping[str, type[Driver]]:
    """Contribute the MCU-link drivers."""
    return {"mcu-cp": McuCp, "mcu-contactor": McuContactor, "mcu-rcd": McuRcd}
