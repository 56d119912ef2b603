"""josev-hal Modbus meters: one driver (``modbus-meter``) whose meter models are data.

Registered through the ``josev_hal`` entry-point group (``modbus = "josev_hal_modbus"``) exactly
like a third-party plugin. A model is a register-map file in ``models/`` (see
:mod:`josev_hal_modbus.model`); shipped: Eastron SDM630, SDM72D-M (v1 and v2), ABB B23/B24,
Carlo Gavazzi EM340, Iskra WM3M4C (with signed OCMF values). Frames go through
:class:`josev_hal_modbus.rtu.RtuMaster` on the shared ``serial`` bus.
"""

from __future__ import annotations

from collections.abc import Mapping

from josev_hal.devices import Driver
from josev_hal.hookspecs import hookimpl

from .driver import ModbusMeter, ModbusMeterOptions
from .identify import ScanResult, identify, scan
from .model import MeterModel, builtin_models

__all__ = [
    "MeterModel",
    "ModbusMeter",
    "ModbusMeterOptions",
    "ScanResult",
    "builtin_models",
    "hal_register_drivers",
    "identify",
    "scan",
]


@hookimpl
def hal_register_drivers() -> Mapping[str, type[Driver]]:
    """Contribute the Modbus meter driver."""
    return {"modbus-meter": ModbusMeter}
