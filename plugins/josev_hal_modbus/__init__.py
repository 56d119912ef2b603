"""josev-hal Modbus meters: one driver (``modbus-meter``) whose meter models are data.

Registered through the ``josev_hal`` entry-point group (``modbus = "josev_hal_modbus"``) exactly
like a third-party plugin. A model is a register-map file in ``models/`` (see
:mod:`josev_hal_modbus.model`); shipped: Eastron SDM630, SDM72D-M (v1 and v2), ABB B23/B24,
Carlo Gavazzi EM340 / EM580, Iskra WM3M4C (with signed OCMF values), Acrel DJSF1352-RN, Eastron
SDM120 / SDM230, Chint DTSU666 / DDSU666, Orno WE-517, Inepro PRO380. Frames go through
:class:`josev_hal_modbus.rtu.RtuMaster` on a shared ``serial`` bus (``modbus-meter``) or through
:class:`josev_hal_modbus.tcp.TcpMaster` on a ``modbus_tcp`` bus (``modbus-tcp-meter``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from josev_hal.buses import Bus
from josev_hal.devices import Driver
from josev_hal.hookspecs import CliTool, hookimpl

from .driver import ModbusMeter, ModbusMeterOptions, ModbusTcpMeter
from .identify import ScanResult, identify, scan
from .imd import ModbusImd
from .model import MeterModel, available_models, builtin_models, plugin_models
from .sunspec import SunSpecMeter, SunSpecRtuMeter
from .tcp import ModbusTcpBus

__all__ = [
    "MeterModel",
    "ModbusImd",
    "ModbusMeter",
    "ModbusMeterOptions",
    "ModbusTcpBus",
    "ModbusTcpMeter",
    "ScanResult",
    "SunSpecMeter",
    "SunSpecRtuMeter",
    "available_models",
    "builtin_models",
    "hal_probe_device",
    "hal_probe_lines",
    "hal_probe_tools",
    "hal_register_bus_kinds",
    "hal_register_drivers",
    "hal_sim_peers",
    "identify",
    "plugin_models",
    "scan",
]


@hookimpl
def hal_register_drivers() -> Mapping[str, type[Driver]]:
    """Contribute the Modbus meter driver."""
    return {
        "modbus-meter": ModbusMeter,
        "modbus-tcp-meter": ModbusTcpMeter,
        "modbus-imd": ModbusImd,
        "sunspec-meter": SunSpecMeter,
        "sunspec-rtu-meter": SunSpecRtuMeter,
    }


@hookimpl
def hal_register_bus_kinds() -> Mapping[str, type[Bus]]:
    """Contribute the ``modbus_tcp`` bus kind (one TCP endpoint shared by its unit ids)."""
    return {"modbus_tcp": ModbusTcpBus}


@hookimpl
def hal_sim_peers() -> Mapping[str, CliTool]:
    """``josev-hal sim meter``: a simulated meter of any known model on a serial port, a pty pair
    or Modbus TCP (:class:`josev_hal_modbus.sim_cli.SimMeter`)."""
    from .sim_cli import SimMeter

    return {"meter": SimMeter()}


@hookimpl
def hal_probe_tools() -> Mapping[str, CliTool]:
    """``josev-hal probe serial``: the Modbus meter sweep (:mod:`josev_hal_modbus.probe`)."""
    from .probe import SerialProbe

    return {"serial": SerialProbe()}


@hookimpl
def hal_probe_device(device: Driver) -> Sequence[str] | None:
    """``josev-hal probe board``: whether a ``modbus-meter``'s registers match its configured model."""
    from .probe import device_notes

    return device_notes(device)


@hookimpl
def hal_probe_lines(board: Any) -> Sequence[str] | None:
    """``josev-hal probe``: for every ``modbus-meter`` of the board, which model its registers
    match at its unit id, next to the model the profile configured. Only the configured unit ids
    are asked (a full 1-247 scan is :func:`scan`, one timeout per silent id)."""
    from .identify import _identify

    lines: list[str] = []
    meters = [d for d in board.devices() if isinstance(d, ModbusMeter)]  # TCP meters included
    for bus in dict.fromkeys(m.bus for m in meters):
        lines.append(f"{bus.name} ({bus.describe()}):")
        for meter in (m for m in meters if m.bus is bus):
            result = _identify(bus, meter.unit, None)
            configured = meter.opts.model or "custom map"
            if not result.answered:
                lines.append(
                    f"  unit {meter.unit} {meter.device_id}: nothing answers (configured {configured})"
                )
            elif result.model is None:
                lines.append(
                    f"  unit {meter.unit} {meter.device_id}: answers, matches no shipped model "
                    f"(configured {configured})"
                )
            elif meter.opts.model in (None, result.model.name):
                lines.append(
                    f"  unit {meter.unit} {meter.device_id}: {result.model.name} ({result.model.title})"
                )
            else:
                lines.append(
                    f"  unit {meter.unit} {meter.device_id}: registers match {result.model.name}, "
                    f"profile says {configured}"
                )
    return lines or None
