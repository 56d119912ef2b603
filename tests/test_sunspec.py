"""SunSpec meters (models 201-204) discovered on a pymodbus server that serves a SunSpec map:
the "SunS" marker, the common model, other models in between, the meter model, the end marker."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from josev_hal_modbus.sim import ModbusPeer, ModbusTcpPeer
from josev_hal_modbus.sim_sunspec import SimulatedSunSpecMeter
from josev_hal_modbus.sunspec import SunSpecMeter, SunSpecOptions, SunSpecRtuMeter
from josev_hal_modbus.tcp import ModbusTcpBus, ModbusTcpBusOptions

from josev_hal.buses.pty_line import PtyLine
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, MeterReading
from josev_hal.errors import DeviceError, DeviceOffline

pytestmark = pytest.mark.timeout(60)

VALUES = {
    "voltage_l1": 230.1,
    "voltage_l2": 231.2,
    "voltage_l3": 229.9,
    "current_l1": 16.25,
    "current_l2": 15.5,
    "current_l3": 0.0,
    "power_l1": 3700.0,
    "power_l2": 3500.0,
    "power_l3": 0.0,
    "power_total": 7200.0,
    "frequency": 49.98,
    "power_factor": 0.95,
    "energy_import": 1_234_500.0,
    "energy_export": 42_000.0,
    "reactive_import": 1_000.0,
    "reactive_export": 2_000.0,
}


def make(peer: ModbusTcpPeer, unit: int = 1, **opts: Any) -> tuple[ModbusTcpBus, SunSpecMeter]:
    bus = ModbusTcpBus(
        "lan", ModbusTcpBusOptions(host=peer.host, port=peer.tcp_port, timeout_s=0.3, reconnect_s=0.0)
    )
    options = msgspec.convert({"backoff_s": 0.01, **opts}, SunSpecOptions)
    meter = SunSpecMeter(DeviceConfig("evse[0].meter", options, bus=bus, address=unit, plugin="modbus"))
    meter.setup()
    return bus, meter


def read_once(sim: SimulatedSunSpecMeter) -> tuple[SunSpecMeter, MeterReading]:
    """One reading by a fresh driver from ``sim`` served over Modbus TCP (bus released after)."""
    with ModbusTcpPeer([sim]) as peer:
        bus, meter = make(peer)
        try:
            return meter, meter.read()
        finally:
            bus.release()


@pytest.mark.parametrize("model", [201, 202, 203, 204])
@pytest.mark.parametrize("base", [40000, 0, 50000])
def test_meter_model_is_discovered_and_read(model: int, base: int) -> None:
    sim = SimulatedSunSpecMeter(
        unit=1, model=model, base=base, values=VALUES, extra_models=[(103, 50), (120, 26)]
    )
    meter, reading = read_once(sim)
    assert meter.map is not None and meter.map.base == base and meter.map.meter == model
    assert sorted(meter.map.models) == [1, 103, 120, model]
    assert (meter.map.manufacturer, meter.map.model_name, meter.map.serial_number) == (
        "Acme Metering",
        "SIM-M203",
        "SS-0001",
    )
    assert reading.voltage_v is not None and reading.current_a is not None
    assert (reading.voltage_v.l1, reading.voltage_v.l2, reading.voltage_v.l3) == pytest.approx(
        (230.1, 231.2, 229.9)
    )
    assert (reading.current_a.l1, reading.current_a.l2) == pytest.approx((16.25, 15.5))
    assert reading.power_w == 7200.0
    assert reading.frequency_hz == pytest.approx(49.98)
    assert reading.power_factor == pytest.approx(0.95)
    assert reading.energy_import_wh == 1_234_500.0
    assert reading.energy_export_wh == 42_000.0
    assert reading.reactive_import_varh == 1_000.0
    assert reading.reactive_export_varh == 2_000.0


def test_not_implemented_points_read_as_none() -> None:
    sim = SimulatedSunSpecMeter(unit=1, values={"voltage_l1": 230.0})
    _, reading = read_once(sim)
    assert reading.voltage_v is not None and reading.voltage_v.l1 == 230.0
    assert reading.power_w is None and reading.frequency_hz is None
    assert reading.energy_import_wh is None, "an acc32 of 0 is 'not implemented'"


def test_current_takes_the_direction_of_the_phase_power() -> None:
    sim = SimulatedSunSpecMeter(
        unit=1, values={"current_l1": 10.0, "power_l1": -2300.0, "power_total": -2300.0}
    )
    _, reading = read_once(sim)
    assert reading.current_a is not None and reading.current_a.l1 == -10.0


def test_a_device_without_the_marker_or_a_meter_model_is_a_clear_error() -> None:
    sim = SimulatedSunSpecMeter(unit=1, base=40000, model=203)
    with ModbusTcpPeer([sim]) as peer:
        bus, meter = make(peer, base_address=50000)
        try:
            with pytest.raises(DeviceError, match="no SunSpec marker 'SunS' at 50000"):
                meter.read()
        finally:
            bus.release()
        bus, meter = make(peer, meter_model=201)
        try:
            with pytest.raises(
                DeviceError, match=r"no SunSpec meter model \(201-204\) in the map \(models: 1, 203\)"
            ):
                meter.read()
        finally:
            bus.release()


def test_loss_goes_offline_and_recovers_with_a_new_walk_when_the_map_moved() -> None:
    sim = SimulatedSunSpecMeter(unit=1, values=VALUES)
    with ModbusTcpPeer([sim]) as peer:
        bus, meter = make(peer, retries=0, offline_after=2)
        try:
            assert meter.read().power_w == 7200.0
            peer.stop()
            with pytest.raises(DeviceError):
                meter.read()
            with pytest.raises(DeviceOffline):
                meter.read()
            peer.start()
            assert meter.read().power_w == 7200.0
            assert not meter.offline
        finally:
            bus.release()


def test_sunspec_over_rtu_on_a_pty() -> None:
    sim = SimulatedSunSpecMeter(unit=4, model=201, values={"voltage_l1": 231.0, "energy_import": 5000.0})
    with PtyLine(baudrate=9600) as line, ModbusPeer(line.peer_port, [sim]):  # type: ignore[list-item]
        bus = SerialBus("rs485", SerialBusOptions(port=line.client_port, baudrate=9600, timeout_s=0.25))
        try:
            meter = SunSpecRtuMeter(
                DeviceConfig("m", msgspec.convert({"backoff_s": 0.01}, SunSpecOptions), bus=bus, address=4)
            )
            reading = meter.read()
        finally:
            bus.release()
    assert reading.voltage_v is not None and reading.voltage_v.l1 == 231.0
    assert reading.energy_import_wh == 5000.0
