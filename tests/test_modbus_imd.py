"""``modbus-imd`` (Bender isoCHA425HV and Dold RN5893 maps) against register-level simulated IMDs
served by pymodbus over a pty, and the station's DC cable check deciding on the measured
resistance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from josev_hal_modbus.imd import ModbusImd, ModbusImdOptions, decode_channel, encode_channel
from josev_hal_modbus.sim import ModbusPeer
from josev_hal_modbus.sim_imd import SimulatedIsoCha, SimulatedRn5893

from josev_hal.buses.pty_line import PtyLine
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, IsolationStatus
from josev_hal.errors import DeviceError, DeviceOffline, DeviceTimeout
from josev_hal.messages import payloads as p
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)

BAUD = 19200


@pytest.fixture
def sim() -> SimulatedIsoCha:
    return SimulatedIsoCha(unit=3, resistance_ohm=2_000_000.0, voltage_v=400.0, test_s=0.05)


@pytest.fixture
def bus(sim: SimulatedIsoCha) -> Iterator[SerialBus]:
    # The isoCHA ships with even parity; a pseudo-terminal refuses parity settings, so 8N1 here.
    with PtyLine(baudrate=BAUD) as line, ModbusPeer(line.peer_port, [sim], baudrate=BAUD):  # type: ignore[list-item]
        b = SerialBus("rs485", SerialBusOptions(port=line.client_port, baudrate=BAUD, timeout_s=0.25))
        yield b
        b.release()


def make(bus: SerialBus, **opts: Any) -> ModbusImd:
    options = msgspec.convert({"retries": 0, "backoff_s": 0.01, "poll_s": 0.02, **opts}, ModbusImdOptions)
    imd = ModbusImd(DeviceConfig("evse[0].isolation_monitor", options, bus=bus, address=3, plugin="modbus"))
    imd.setup()
    return imd


def test_channel_words_round_trip() -> None:
    ch = decode_channel(encode_channel(123456.0, alarm=5, validity=2))
    assert (ch.value, ch.alarm, ch.validity, ch.test, ch.unit) == (
        123456.0,
        "alarm",
        "true_value_bigger",
        "none",
        2,
    )
    assert decode_channel(encode_channel(0.0, test=2, validity=3)).test == "external"


def test_setup_reads_the_device_name_and_leaves_it_disabled(sim: SimulatedIsoCha, bus: SerialBus) -> None:
    imd = make(bus)
    assert imd.device_name == "isoCHA425HV"
    sample = imd.read()
    assert (sample.measuring, sample.status, sample.resistance_ohm) == (False, IsolationStatus.INVALID, None)
    assert not sim.enabled


def test_start_reports_no_result_first_then_the_measured_resistance(
    sim: SimulatedIsoCha, bus: SerialBus
) -> None:
    sim.first_result_s = 0.3
    imd = make(bus)
    imd.start()
    assert sim.enabled
    first = imd.read()
    assert (first.measuring, first.status, first.resistance_ohm) == (True, IsolationStatus.INVALID, None)
    assert eventually(lambda: imd.read().status is IsolationStatus.VALID)
    assert imd.read().resistance_ohm == pytest.approx(2_000_000.0)
    imd.stop()
    assert not sim.enabled and imd.read().measuring is False


@pytest.mark.parametrize(
    ("resistance", "status"),
    [
        (2_000_000.0, IsolationStatus.VALID),
        (300_000.0, IsolationStatus.WARNING),
        (50_000.0, IsolationStatus.FAULT),
    ],
)
def test_status_follows_the_device_alarm_thresholds(
    sim: SimulatedIsoCha, bus: SerialBus, resistance: float, status: IsolationStatus
) -> None:
    sim.resistance_ohm = resistance
    imd = make(bus, prealarm_kohm=600, alarm_kohm=100)
    assert sim.writes[:2] == [(3005, [600]), (3007, [100])]
    imd.start()
    assert eventually(lambda: imd.read().resistance_ohm is not None)
    assert imd.read().status is status


def test_rated_voltage_applies_the_iec_ohm_per_volt_limits(sim: SimulatedIsoCha, bus: SerialBus) -> None:
    # 400 kOhm passes the device's thresholds (pre-alarm lowered to 300 k) but at a 1000 V rating
    # it is below 500 ohm/V: a warning; 90 kOhm is below 100 ohm/V: a fault.
    sim.resistance_ohm = 400_000.0
    imd = make(bus, rated_voltage_v=1000, prealarm_kohm=300, alarm_kohm=50)
    imd.start()
    assert eventually(lambda: imd.read().resistance_ohm is not None)
    assert imd.read().status is IsolationStatus.WARNING
    sim.resistance_ohm = 90_000.0
    assert eventually(lambda: imd.read().status is IsolationStatus.FAULT)


def test_self_test_passes_fails_and_restores_the_disabled_state(sim: SimulatedIsoCha, bus: SerialBus) -> None:
    imd = make(bus, self_test_timeout_s=2.0)
    assert imd.self_test() is True
    assert (8005, [0x5445]) in sim.writes
    assert not sim.enabled, "a self-test of an idle IMD leaves it idle"
    sim.test_fails = True
    assert imd.self_test() is False


def test_a_device_error_raises_instead_of_a_value(sim: SimulatedIsoCha, bus: SerialBus) -> None:
    imd = make(bus)
    imd.start()
    sim.device_error = True
    with pytest.raises(DeviceError, match="device error"):
        imd.read()


def test_a_silent_imd_times_out_then_goes_offline(sim: SimulatedIsoCha, bus: SerialBus) -> None:
    imd = make(bus, offline_after=2)
    imd.start()
    sim.online = False
    with pytest.raises(DeviceTimeout):
        imd.read()
    with pytest.raises(DeviceOffline):
        imd.read()
    sim.online = True
    assert imd.read().measuring


class Faults:
    def __init__(self) -> None:
        self.active: dict[str, p.HardwareFaultName] = {}

    def set_fault(self, key: str, component: str, name: p.HardwareFaultName, detail: str) -> None:
        self.active[key] = name

    def clear_fault(self, key: str) -> None:
        self.active.pop(key, None)


@pytest.mark.parametrize(
    ("resistance", "level"),
    [(2_000_000.0, p.IsolationLevel.VALID), (50_000.0, p.IsolationLevel.FAULT)],
)
def test_dc_cable_check_decides_on_the_measured_resistance(
    sim: SimulatedIsoCha, bus: SerialBus, resistance: float, level: p.IsolationLevel
) -> None:
    from josev_hal.station.dc import DcPath

    sim.resistance_ohm = resistance
    imd = make(bus, rated_voltage_v=1000)
    faults = Faults()
    dc = DcPath("DE*ACM*E0002", None, imd, faults, precharge_current_a=2.0)
    started = dc.cable_check(p.CableCheckAction.START, None)
    assert started.cable_check_status is p.CableCheckStatus.ONGOING
    assert sim.enabled, "the cable check starts the IMD"

    def finished() -> bool:
        return (
            dc.cable_check(p.CableCheckAction.STATUS, None).cable_check_status is p.CableCheckStatus.FINISHED
        )

    assert eventually(finished, timeout_s=10.0)
    assert dc.cable_check(p.CableCheckAction.STATUS, None).isolation_level is level
    assert ("isolation" in faults.active) is (level is p.IsolationLevel.FAULT)


# -- Dold RN5893 --------------------------------------------------------------------------------------


@pytest.fixture
def dold() -> SimulatedRn5893:
    return SimulatedRn5893(unit=5, resistance_ohm=1_500_000.0, voltage_v=500.0, test_s=0.05)


@pytest.fixture
def dold_bus(dold: SimulatedRn5893) -> Iterator[SerialBus]:
    with PtyLine(baudrate=BAUD) as line, ModbusPeer(line.peer_port, [dold], baudrate=BAUD):  # type: ignore[list-item]
        b = SerialBus("rs485", SerialBusOptions(port=line.client_port, baudrate=BAUD, timeout_s=0.25))
        yield b
        b.release()


def make_dold(bus: SerialBus, **opts: Any) -> ModbusImd:
    options = msgspec.convert(
        {"model": "rn5893", "retries": 0, "backoff_s": 0.01, "poll_s": 0.02, **opts}, ModbusImdOptions
    )
    imd = ModbusImd(DeviceConfig("evse[0].isolation_monitor", options, bus=bus, address=5, plugin="modbus"))
    imd.setup()
    return imd


def test_dold_measures_after_start_and_stops_measuring_after_stop(
    dold: SimulatedRn5893, dold_bus: SerialBus
) -> None:
    dold.first_result_s = 0.3
    imd = make_dold(dold_bus)
    assert not dold.measuring and imd.read().measuring is False
    imd.start()
    assert dold.measuring
    first = imd.read()
    assert (first.measuring, first.status, first.resistance_ohm) == (True, IsolationStatus.INVALID, None)
    assert eventually(lambda: imd.read().status is IsolationStatus.VALID)
    assert imd.read().resistance_ohm == 1_500_000.0
    assert imd.voltage_v == 500.0
    imd.stop()
    assert not dold.measuring


@pytest.mark.parametrize(
    ("resistance", "status", "shown"),
    [
        (2_500_000.0, IsolationStatus.VALID, 2_000_000.0),  # 0xFFFF: "above 2 MOhm"
        (250_000.0, IsolationStatus.WARNING, 250_000.0),
        (80_000.0, IsolationStatus.FAULT, 80_000.0),
    ],
)
def test_dold_states_map_to_the_isolation_status(
    dold: SimulatedRn5893, dold_bus: SerialBus, resistance: float, status: IsolationStatus, shown: float
) -> None:
    dold.resistance_ohm = resistance
    imd = make_dold(dold_bus, alarm_kohm=100, prealarm_kohm=300)
    assert (2005, [100]) in dold.writes and (2006, [300]) in dold.writes
    imd.start()
    assert eventually(lambda: imd.read().resistance_ohm is not None)
    sample = imd.read()
    assert (sample.status, sample.resistance_ohm) == (status, shown)


def test_dold_self_test_and_device_faults(dold: SimulatedRn5893, dold_bus: SerialBus) -> None:
    imd = make_dold(dold_bus, self_test_timeout_s=2.0)
    assert imd.self_test() is True
    assert not dold.measuring, "an idle IMD is left idle after its self-test"
    dold.test_fails = True
    assert imd.self_test() is False
    imd.start()
    with pytest.raises(DeviceError, match="device fault 3"):
        imd.read()


def test_dold_cable_check_finishes_on_the_measured_resistance(
    dold: SimulatedRn5893, dold_bus: SerialBus
) -> None:
    from josev_hal.station.dc import DcPath

    dold.resistance_ohm = 50_000.0
    imd = make_dold(dold_bus, rated_voltage_v=1000)
    faults = Faults()
    dc = DcPath("DE*ACM*E0002", None, imd, faults, precharge_current_a=2.0)
    assert dc.cable_check(p.CableCheckAction.START, None).cable_check_status is p.CableCheckStatus.ONGOING

    def finished() -> bool:
        return (
            dc.cable_check(p.CableCheckAction.STATUS, None).cable_check_status is p.CableCheckStatus.FINISHED
        )

    assert eventually(finished, timeout_s=10.0)
    assert dc.cable_check(p.CableCheckAction.STATUS, None).isolation_level is p.IsolationLevel.FAULT
