"""josev-hal I2C drivers: CP/PP ADCs, GPIO expanders, the PCA9685 CP generator, a PN532 reader.

Registered through the ``josev_hal`` entry-point group (``i2c = "josev_hal_i2c"``) exactly like a
third-party plugin; they talk through the ``i2c`` bus kind (:mod:`josev_hal.buses.i2c`).

=====================  =====================  ==================================================
driver                 role                   hardware
=====================  =====================  ==================================================
``ads1x15-cp``         ControlPilot           ADS1115/ADS1015 behind CP peak detectors + PCA9685
``ads1x15-pp``         ProximityPilot         ADS1115/ADS1015 on a PP pull-up divider
``mcp23017-contactor`` Contactor              coil output + mirror-contact input
``pca9555-contactor``  Contactor              (PCA9555 / TCA9555)
``mcp23017-rcd``       Rcd                    trip input, TEST and RESET outputs
``pca9555-rcd``        Rcd
``mcp23017-lock``      ConnectorLock          actuator output(s) + position switch
``pca9555-lock``       ConnectorLock
``mcp23017-imd``       IsolationMonitor       IMD relay outputs (OK, pre-warning), enable and TEST
``pca9555-imd``        IsolationMonitor
``pn532-reader``       IdTokenReader          PN532 NFC on I2C (ISO 14443A UID)
``mcp23017-input``     DigitalInput           one input pin (``grid_limit``: the control box)
``pca9555-input``      DigitalInput
=====================  =====================  ==================================================

:func:`josev_hal_i2c.identify.identify` names the chip at an address for ``josev-hal probe``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from josev_hal.buses.i2c import I2cBus
from josev_hal.devices import Driver
from josev_hal.hookspecs import CliTool, hookimpl

from .ads1x15 import Ads1x15Cp, Ads1x15Pp
from .gpio_drivers import (
    Mcp23017Contactor,
    Mcp23017Input,
    Mcp23017Lock,
    Mcp23017Rcd,
    Pca9555Contactor,
    Pca9555Input,
    Pca9555Lock,
    Pca9555Rcd,
)
from .imd import Mcp23017Imd, Pca9555Imd
from .pn532 import Pn532Reader

if TYPE_CHECKING:
    from josev_hal.board import Board

__all__ = ["DRIVERS", "expected_chip", "hal_probe_lines", "hal_probe_tools", "hal_register_drivers"]

#: Driver name -> class, as registered.
DRIVERS: dict[str, type[Driver]] = {
    "ads1x15-cp": Ads1x15Cp,
    "ads1x15-pp": Ads1x15Pp,
    "mcp23017-contactor": Mcp23017Contactor,
    "pca9555-contactor": Pca9555Contactor,
    "mcp23017-rcd": Mcp23017Rcd,
    "pca9555-rcd": Pca9555Rcd,
    "mcp23017-lock": Mcp23017Lock,
    "pca9555-lock": Pca9555Lock,
    "mcp23017-imd": Mcp23017Imd,
    "pca9555-imd": Pca9555Imd,
    "pn532-reader": Pn532Reader,
    "mcp23017-input": Mcp23017Input,
    "pca9555-input": Pca9555Input,
}


@hookimpl
def hal_register_drivers() -> Mapping[str, type[Driver]]:
    """Contribute the I2C drivers."""
    return dict(DRIVERS)


def expected_chip(driver: Driver) -> str | None:
    """The chip a configured I2C driver expects at its address (as :func:`identify` names it)."""
    chip_map = getattr(driver, "chip_map", None)
    if chip_map is not None:
        return str(chip_map.chip)
    if isinstance(driver, Ads1x15Cp | Ads1x15Pp):
        return str(driver.opts.adc)
    if isinstance(driver, Pn532Reader):
        return "pn532"
    return None


@hookimpl
def hal_probe_lines(board: Board) -> Sequence[str] | None:
    """``josev-hal probe``: every chip answering on each open I2C bus, and whether the chips the
    profile's devices expect are really there."""
    from .identify import scan

    lines: list[str] = []
    for name, bus in board.buses.items():
        if not isinstance(bus, I2cBus) or not bus.is_open:
            continue
        found = scan(bus)
        listing = ", ".join(f"0x{a:02x} {chip or 'unknown'}" for a, chip in sorted(found.items()))
        lines.append(f"{name}: {listing or 'no chip answers'}")
        for driver in board.devices():
            if driver.config.bus is not bus or driver.config.address is None:
                continue
            want, address = expected_chip(driver), driver.config.address
            got = found.get(address)
            if address not in found:
                lines.append(f"  {driver.device_id}: nothing answers at 0x{address:02x}")
            elif want and got and got != want and not (got == "ads1x15" and want.startswith("ads1")):
                lines.append(f"  {driver.device_id}: expects {want} at 0x{address:02x}, found {got}")
    return lines or None


@hookimpl
def hal_probe_tools() -> Mapping[str, CliTool]:
    """``josev-hal probe i2c``: scan an adapter and identify the chips (:mod:`josev_hal_i2c.probe`)."""
    from .probe import I2cProbe

    return {"i2c": I2cProbe()}
