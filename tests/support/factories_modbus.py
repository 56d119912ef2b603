"""Driver-contract factories for the Modbus meter driver.

Merged into :data:`tests.support.driver_factories.FACTORIES` (see the protocol documented there).
Peer: a pymodbus RTU server (:class:`~josev_hal_modbus.sim.ModbusPeer`) serving a
simulated SDM630 on a pseudo-terminal pair at 9600 baud; ``disconnect`` makes the meter stay silent
on the line (as if unpowered) while the line itself keeps working. ``modbus-tcp-meter``: the same
meter behind a pymodbus TCP server on localhost.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions, ModbusTcpMeter
from josev_hal_modbus.sim import ModbusPeer, ModbusTcpPeer, SimulatedMeter
from josev_hal_modbus.tcp import ModbusTcpBus, ModbusTcpBusOptions

from josev_hal.buses.pty_line import PtyLine
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, Driver

if TYPE_CHECKING:
    from tests.support.driver_factories import ContractEnv

__all__ = ["MODBUS_FACTORIES"]

_METER_VALUES = {"voltage_l1": 230.0, "current_l1": 16.0, "energy_import": 12_345.0, "frequency": 50.0}
_SUNSPEC_VALUES = {"voltage_l1": 230.0, "energy_import": 12_345.0, "frequency": 50.0}


# Every factory below serves one simulator on a real Modbus peer and runs one driver against it;
# only the simulator, the transport and the driver differ, so the peer plumbing lives here once.


def _wire_disconnect(env: ContractEnv, sim: Any) -> None:
    """``disconnect``: the simulated device stays silent while the line keeps working."""

    def disconnect(off: bool) -> None:
        sim.online = not off

    env.peer.disconnect = disconnect


@contextmanager
def _rtu_bus(env: ContractEnv, sim: Any, baudrate: int = 9600) -> Iterator[SerialBus]:
    """``sim`` behind a pymodbus RTU server on a pty pair; yields the client-side serial bus."""
    _wire_disconnect(env, sim)
    with PtyLine(baudrate=baudrate) as line, ModbusPeer(line.peer_port, [sim], baudrate=baudrate):
        bus = SerialBus("rs485", SerialBusOptions(port=line.client_port, baudrate=baudrate, timeout_s=0.25))
        try:
            yield bus
        finally:
            bus.release()


@contextmanager
def _tcp_bus(env: ContractEnv, sim: Any) -> Iterator[ModbusTcpBus]:
    """``sim`` behind a pymodbus TCP server on localhost; yields the client-side TCP bus."""
    _wire_disconnect(env, sim)
    with ModbusTcpPeer([sim]) as peer:
        bus = ModbusTcpBus("lan", ModbusTcpBusOptions(host=peer.host, port=peer.tcp_port, timeout_s=0.25))
        try:
            yield bus
        finally:
            bus.release()


@contextmanager
def _set_up(driver: Driver) -> Iterator[Driver]:
    try:
        driver.setup()
        yield driver
    finally:
        driver.release()


@contextmanager
def _modbus_meter(env: ContractEnv) -> Iterator[Driver]:
    sim = SimulatedMeter("sdm630", unit=1, values=_METER_VALUES)
    with _rtu_bus(env, sim) as bus:
        options = ModbusMeterOptions(model="sdm630", retries=1, backoff_s=0.01, offline_after=2)
        with _set_up(
            ModbusMeter(DeviceConfig(device_id="contract.meter", options=options, bus=bus, address=1))
        ) as driver:
            yield driver


@contextmanager
def _modbus_tcp_meter(env: ContractEnv) -> Iterator[Driver]:
    sim = SimulatedMeter("sdm630", unit=1, values=_METER_VALUES)
    with _tcp_bus(env, sim) as bus:
        options = ModbusMeterOptions(model="sdm630", retries=1, backoff_s=0.01, offline_after=2)
        with _set_up(
            ModbusTcpMeter(DeviceConfig(device_id="contract.meter", options=options, bus=bus, address=1))
        ) as driver:
            yield driver


@contextmanager
def _modbus_imd(env: ContractEnv) -> Iterator[Driver]:
    from josev_hal_modbus.imd import ModbusImd, ModbusImdOptions
    from josev_hal_modbus.sim_imd import SimulatedIsoCha

    sim = SimulatedIsoCha(unit=3, resistance_ohm=2_000_000.0, test_s=0.05)
    with _rtu_bus(env, sim, baudrate=19200) as bus:
        options = ModbusImdOptions(retries=1, backoff_s=0.01, poll_s=0.02, self_test_timeout_s=2.0)
        with _set_up(
            ModbusImd(DeviceConfig(device_id="contract.imd", options=options, bus=bus, address=3))
        ) as driver:
            yield driver


@contextmanager
def _sunspec_meter(env: ContractEnv) -> Iterator[Driver]:
    from josev_hal_modbus.sim_sunspec import SimulatedSunSpecMeter
    from josev_hal_modbus.sunspec import SunSpecMeter, SunSpecOptions

    sim = SimulatedSunSpecMeter(unit=1, values=_SUNSPEC_VALUES)
    with _tcp_bus(env, sim) as bus:
        options = SunSpecOptions(retries=1, backoff_s=0.01, offline_after=2)
        with _set_up(
            SunSpecMeter(DeviceConfig(device_id="contract.sunspec", options=options, bus=bus, address=1))
        ) as driver:
            yield driver


@contextmanager
def _sunspec_rtu_meter(env: ContractEnv) -> Iterator[Driver]:
    from josev_hal_modbus.sim_sunspec import SimulatedSunSpecMeter
    from josev_hal_modbus.sunspec import SunSpecOptions, SunSpecRtuMeter

    sim = SimulatedSunSpecMeter(unit=2, values=_SUNSPEC_VALUES)
    with _rtu_bus(env, sim) as bus:
        options = SunSpecOptions(retries=1, backoff_s=0.01, offline_after=2)
        with _set_up(
            SunSpecRtuMeter(DeviceConfig(device_id="contract.sunspec", options=options, bus=bus, address=2))
        ) as driver:
            yield driver


MODBUS_FACTORIES = {
    "modbus-meter": _modbus_meter,
    "modbus-tcp-meter": _modbus_tcp_meter,
    "modbus-imd": _modbus_imd,
    "sunspec-meter": _sunspec_meter,
    "sunspec-rtu-meter": _sunspec_rtu_meter,
}
