"""Modbus TCP meters against a pymodbus TCP server on localhost (``ModbusTcpPeer``).

The peer serves the same register images as the RTU tests (``SimulatedMeter``), so a reading over
TCP must equal the RTU reading of the same values; loss (server stopped, meter silent) and recovery
go through the same offline logic as on RTU.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from josev_hal_modbus import builtin_models
from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions, ModbusTcpMeter
from josev_hal_modbus.sim import ModbusPeer, ModbusTcpPeer, SimulatedMeter
from josev_hal_modbus.tcp import ModbusTcpBus, ModbusTcpBusOptions

from josev_hal.board import Board
from josev_hal.buses.pty_line import PtyLine
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, MeterReading
from josev_hal.errors import BusError, ConfigError, DeviceOffline, DeviceTimeout, ProfileError
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from tests.test_modbus_meter import assert_reading_matches, served_for

pytestmark = pytest.mark.timeout(60)


def make_bus(peer: ModbusTcpPeer, **opts: Any) -> ModbusTcpBus:
    options = msgspec.convert(
        {"host": peer.host, "port": peer.tcp_port, "timeout_s": 0.3, "reconnect_s": 0.0, **opts},
        ModbusTcpBusOptions,
    )
    return ModbusTcpBus("lan", options)


def make_meter(bus: ModbusTcpBus, unit: int, **opts: Any) -> ModbusTcpMeter:
    options = msgspec.convert({"backoff_s": 0.01, **opts}, ModbusMeterOptions)
    meter = ModbusTcpMeter(DeviceConfig("evse[0].meter", options, bus=bus, address=unit, plugin="modbus"))
    meter.setup()
    return meter


@pytest.fixture
def sdm630() -> SimulatedMeter:
    return SimulatedMeter("sdm630", unit=1, values=served_for("sdm630"))


@pytest.fixture
def peer(sdm630: SimulatedMeter) -> Iterator[ModbusTcpPeer]:
    with ModbusTcpPeer([sdm630]) as tcp_peer:
        yield tcp_peer


@pytest.mark.parametrize("model", sorted(builtin_models()))
def test_every_model_reads_over_tcp_the_values_the_peer_serves(model: str) -> None:
    expected = served_for(model)
    with ModbusTcpPeer([SimulatedMeter(model, unit=3, values=expected)]) as tcp_peer:
        bus = make_bus(tcp_peer)
        try:
            reading = make_meter(bus, 3, model=model).read()
        finally:
            bus.release()
    assert_reading_matches(reading, expected)


def test_tcp_reading_equals_the_rtu_reading_of_the_same_meter() -> None:
    values = served_for("em340")
    sim_tcp = SimulatedMeter("em340", unit=5, values=values)
    sim_rtu = SimulatedMeter("em340", unit=5, values=values)
    with (
        ModbusTcpPeer([sim_tcp]) as tcp_peer,
        PtyLine(baudrate=9600) as line,
        ModbusPeer(line.peer_port, [sim_rtu]),
    ):
        tcp_bus = make_bus(tcp_peer)
        rtu_bus = SerialBus("rs485", SerialBusOptions(port=line.client_port, baudrate=9600, timeout_s=0.25))
        try:
            over_tcp = make_meter(tcp_bus, 5, model="em340").read()
            rtu = ModbusMeter(
                DeviceConfig(
                    "rtu", ModbusMeterOptions(model="em340"), bus=rtu_bus, address=5, plugin="modbus"
                )
            )
            rtu.setup()
            over_rtu = rtu.read()
        finally:
            tcp_bus.release()
            rtu_bus.release()

    def strip(r: MeterReading) -> dict[str, Any]:
        return {k: v for k, v in msgspec.structs.asdict(r).items() if k not in ("taken_at", "utc")}

    assert strip(over_tcp) == strip(over_rtu)


def test_two_unit_ids_behind_one_gateway_share_one_connection() -> None:
    a = SimulatedMeter("sdm630", unit=1, values={"voltage_l1": 230.0})
    b = SimulatedMeter("sdm120", unit=2, values={"voltage_l1": 240.0})
    with ModbusTcpPeer([a, b]) as tcp_peer:
        bus = make_bus(tcp_peer)
        try:
            m1 = make_meter(bus, 1, model="sdm630")
            m2 = make_meter(bus, 2, model="sdm120")
            for _ in range(3):
                assert m1.read().voltage_v.l1 == pytest.approx(230.0)  # type: ignore[union-attr]
                assert m2.read().voltage_v.l1 == pytest.approx(240.0)  # type: ignore[union-attr]
            assert bus.connects == 1
        finally:
            bus.release()


def test_server_loss_goes_offline_after_the_configured_failures_and_recovers(
    peer: ModbusTcpPeer, sdm630: SimulatedMeter
) -> None:
    bus = make_bus(peer)
    try:
        meter = make_meter(bus, 1, model="sdm630", retries=0, offline_after=2)
        assert meter.read().frequency_hz == pytest.approx(50.0)
        peer.stop()
        with pytest.raises(BusError) as first:
            meter.read()
        assert first.value.device == "evse[0].meter"
        with pytest.raises(DeviceOffline):
            meter.read()
        assert meter.offline
        peer.start()  # the meter reboots at the same address
        sdm630.set_values(frequency=49.9)
        reading = meter.read()
        assert reading.frequency_hz == pytest.approx(49.9)
        assert not meter.offline
        assert bus.connects == 2
    finally:
        bus.release()


def test_silent_unit_behind_the_gateway_times_out_without_a_stale_value(
    peer: ModbusTcpPeer, sdm630: SimulatedMeter
) -> None:
    bus = make_bus(peer, timeout_s=0.2)
    try:
        meter = make_meter(bus, 1, model="sdm630", retries=0, offline_after=5)
        meter.read()
        sdm630.online = False
        with pytest.raises(DeviceTimeout):
            meter.read()
        sdm630.online = True
        assert meter.read().voltage_v is not None
    finally:
        bus.release()


def test_nothing_listening_is_a_bus_error_not_a_crash() -> None:
    with ModbusTcpPeer([SimulatedMeter("sdm630", unit=1)]) as tcp_peer:
        port = tcp_peer.tcp_port
    bus = ModbusTcpBus(
        "lan", ModbusTcpBusOptions(host="127.0.0.1", port=port, timeout_s=0.2, reconnect_s=0.0)
    )
    meter = make_meter(bus, 1, model="sdm630", retries=0)
    with pytest.raises(BusError, match="cannot connect"):
        meter.read()


def test_tcp_meter_refuses_a_serial_bus() -> None:
    bus = SerialBus("rs485", SerialBusOptions(port="/dev/null"))
    with pytest.raises(ConfigError, match="modbus_tcp"):
        ModbusTcpMeter(DeviceConfig("m", ModbusMeterOptions(model="sdm630"), bus=bus, address=1))


PROFILE = """[station]
vendor = "Acme"
model = "AC 11"
serial_number = "A-1"
sw_version = "0.1.0"
hw_version = "a"

[mqtt]
broker = "mqtt://127.0.0.1:1883"

[safety]
rcd_trip = "hardware"
cp_loss_shutdown = "hal"
welding_detection = "hal"
open_on_meter_loss = false
open_on_board_link_loss = true
rcd_reset = "manual"

[buses.lan]
kind = "modbus_tcp"
host = "127.0.0.1"
port = @PORT@
timeout_s = 0.5

[[evse]]
id = "DE*ACM*E0001"
ocpp_id = 1
kind = "ac"
network_interface = "eth1"
supports_eim = true
phases = 3
nominal_voltage_v = 230
max_current_a = 16

  [[evse.connectors]]
  id = 1
  ocpp_type = "sType2"
  iso15118_type = "AC_three_phase_core"
  services = ["ac"]
  cable = "socket"

  [evse.devices.cp]
  driver = "sim-cp"

  [evse.devices.pp]
  driver = "sim-pp"

  [evse.devices.contactor]
  driver = "sim-contactor"

  [evse.devices.rcd]
  driver = "sim-rcd"

  [evse.devices.meter]
  driver = "modbus-tcp-meter"
  bus = "lan"
  address = 1
  options = { model = "sdm630" }
"""


def test_board_profile_with_a_modbus_tcp_bus_builds_and_reads(peer: ModbusTcpPeer) -> None:
    pm = get_plugin_manager()
    profile = load_profile_text(PROFILE.replace("@PORT@", str(peer.tcp_port)), "tcp.toml", pm)
    with Board.build(profile, pm) as board:
        meter = board.device("evse[0].meter")
        assert isinstance(meter, ModbusTcpMeter)
        assert meter.read().voltage_v.l1 == pytest.approx(230.1)  # type: ignore[union-attr]


def test_profile_check_rejects_a_tcp_meter_on_a_serial_bus() -> None:
    text = PROFILE.replace("@PORT@", "502").replace('driver = "modbus-tcp-meter"', 'driver = "modbus-meter"')
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, "tcp.toml", get_plugin_manager())
    assert any("needs serial" in p for p in info.value.problems)
