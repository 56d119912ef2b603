"""Register-level simulators of the chips this plugin drives, for the I2C bus double.

Each chip is modelled at the I2C **transfer** level next to its driver's protocol code and
attached to :class:`josev_hal.buses.i2c_sim.SimI2cBus` (the chip-independent ``smbus2.SMBus``
double in the core; re-exported here so a test wiring a board needs one import). Pass
``sim.factory`` as the ``smbus_factory`` of :class:`josev_hal.buses.i2c.I2cBus` and every driver
runs its real code path down to the bytes on the wire: SMBus byte-order quirks (word transfers
are LSB first, the chips are MSB first), pointer auto-increment and "write ignored unless in
sleep" rules show up exactly as on hardware.

Simulated parts: ADS1115/ADS1015 (:mod:`.ads1x15`, ADC with an analog input model), MCP23017
and PCA9555/TCA9555 (:mod:`.expanders`, GPIO expanders with pins that can be wired to each other
through delayed lines, e.g. relay coil -> mirror contact), PCA9685 (:mod:`.pca9685`, PWM) and
PN532 (:mod:`.pn532`, NFC reader; enough of the frame protocol for identification and a UID
read, through the driver's frame codec). :func:`build_ac_board` (:mod:`.board`) wires a complete
AC board (CP/PP/contactor/RCD/lock/reader) for the tests; ``josev-hal probe i2c --sim-chips``
attaches single chips.

Reset values and register maps follow ``hardware-facts.md`` §6 and the chips' datasheets; where
a datasheet leaves behaviour undefined the simulator documents the choice it makes.
"""

from __future__ import annotations

from josev_hal.buses.i2c_sim import SimChip, SimI2cBus, SimTransfer
from josev_hal.pilots_sim import EV_STATE_LEVEL_V, REFERENCE_CP_SHIFTER, LevelShifter, SimPpLine

from .ads1x15 import SimAds1x15, SimAds1015, SimAds1115
from .board import (
    AC_BOARD_PINS,
    CpGenerator,
    SimAcBoard,
    SimCpLine,
    SimImdModule,
    SimRcdModule,
    build_ac_board,
)
from .expanders import DelayedLine, SimGpioExpander, SimMcp23017, SimPca9555
from .pca9685 import SimPca9685
from .pn532 import SimPn532

__all__ = [
    "AC_BOARD_PINS",
    "EV_STATE_LEVEL_V",
    "REFERENCE_CP_SHIFTER",
    "CpGenerator",
    "DelayedLine",
    "LevelShifter",
    "SimAcBoard",
    "SimAds1x15",
    "SimAds1015",
    "SimAds1115",
    "SimChip",
    "SimCpLine",
    "SimGpioExpander",
    "SimI2cBus",
    "SimImdModule",
    "SimMcp23017",
    "SimPca9555",
    "SimPca9685",
    "SimPn532",
    "SimPpLine",
    "SimRcdModule",
    "SimTransfer",
    "build_ac_board",
]
