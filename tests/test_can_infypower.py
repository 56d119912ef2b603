"""``infypower-dc`` against the simulated InfyPower module group on python-can ``virtual``.

The simulator (``josev_hal_can.sim``) only sees CAN frames. It shares the codec
(``infypower_protocol``, the module's side of each frame) with the driver, so every frame both
sides use is pinned byte for byte to the hardware notes below: a codec mistake fails there, not
only as a driver/simulator disagreement. Timing assertions have generous upper bounds and no
lower bounds.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from josev_hal_can import infypower_protocol as proto
from josev_hal_can.infypower import InfyPowerDc, InfyPowerOptions
from josev_hal_can.sim import ALARM_NAMES, InfyPowerGroupSim

from josev_hal.buses.can import CanBus, CanBusOptions
from josev_hal.devices import DeviceConfig
from josev_hal.errors import BusError, DeviceError, DeviceOffline, DeviceTimeout
from josev_hal.messages.payloads import HardwareFaultName
from josev_hal.station.fault_names import contract_fault_name_of
from tests.support.waiting import eventually

OFFLINE_AFTER_S = 0.5
POLL_S = 0.05


def read_or_none(driver: InfyPowerDc) -> Any:
    try:
        return driver.read()
    except DeviceError:
        return None


@dataclass
class Rig:
    sim: InfyPowerGroupSim
    bus: CanBus
    make: Callable[..., InfyPowerDc]


@pytest.fixture
def rig() -> Iterator[Rig]:
    channel = f"infy-{uuid.uuid4().hex}"
    sim = InfyPowerGroupSim(interface="virtual", channel=channel, modules=(0, 1), group=1)
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))
    bus.setup()
    drivers: list[InfyPowerDc] = []

    def make(**overrides: Any) -> InfyPowerDc:
        opts = {
            "modules": [0, 1],
            "poll_interval_s": POLL_S,
            "offline_after_s": OFFLINE_AFTER_S,
            "module_max_current_a": 100.0,
            "module_max_power_w": 30000.0,
            **overrides,
        }
        d = InfyPowerDc(
            DeviceConfig(
                device_id="evse[0].power_module",
                options=InfyPowerOptions(**opts),
                bus=bus,
                plugin="can",
            )
        )
        d.setup()
        drivers.append(d)
        return d

    sim.start()
    yield Rig(sim, bus, make)
    for d in drivers:
        d.release()
    sim.stop()
    bus.release()


# -- protocol codec -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"device": 0x0A, "command": 0x1C, "destination": 0x00, "source": 0xF0}, 0x029C00F0),
        ({"device": 0x0B, "command": 0x02, "destination": 0x01, "source": 0xF0}, 0x02C201F0),
        ({"device": 0x0A, "command": 0x04, "destination": 0xF0, "source": 0x3E, "error": 3}, 0x0E84F03E),
    ],
)
def test_frame_id_fields_land_on_the_documented_bits(fields: dict[str, int], expected: int) -> None:
    assert proto.encode_id(**fields) == expected
    decoded = proto.decode_id(expected)
    assert (decoded.device, decoded.command, decoded.destination, decoded.source) == (
        fields["device"],
        fields["command"],
        fields["destination"],
        fields["source"],
    )
    assert decoded.error == fields.get("error", 0)


def test_set_output_payload_is_millivolts_and_milliamps_big_endian() -> None:
    assert proto.encode_set_output(400.0, 25.5) == bytes.fromhex("00061a800000639c")


@pytest.mark.parametrize("bad", [(-1.0, 1.0), (400.0, float("nan")), (float("inf"), 1.0)])
def test_set_output_payload_rejects_values_the_wire_cannot_carry(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        proto.encode_set_output(*bad)


@pytest.mark.parametrize(
    ("byte", "bit", "name"),
    [
        (7, 0, "output_short_circuit"),
        (6, 1, "module_fault"),
        (6, 5, "output_overvoltage"),
        (5, 5, "input_undervoltage"),
        (5, 6, "input_overvoltage"),
        (5, 3, "input_phase_lost"),
    ],
)
def test_status_bit_decodes_to_its_fault_name(byte: int, bit: int, name: str) -> None:
    data = bytearray(8)
    data[byte] = 1 << bit
    assert proto.decode_status(bytes(data)).faults == {name}


@pytest.mark.parametrize(
    ("byte", "bit", "name"),
    [
        (6, 3, "fan_fault"),
        (6, 4, "over_temperature"),
        (5, 2, "load_sharing_alarm"),
        (5, 4, "input_unbalanced"),
    ],
)
def test_vendor_warning_bits_decode_as_warnings_not_faults(byte: int, bit: int, name: str) -> None:
    data = bytearray(8)
    data[byte] = 1 << bit
    status = proto.decode_status(bytes(data))
    assert status.warnings == {name}
    assert status.faults == frozenset()


def test_no_status_bit_is_both_a_fault_and_a_warning() -> None:
    assert not set(proto.ALARM_BITS) & set(proto.WARNING_BITS)
    assert not set(proto.ALARM_BITS.values()) & set(proto.WARNING_BITS.values())


def test_state_bits_are_not_faults() -> None:
    status = proto.decode_status(bytes([0, 0, 0, 0, 0, 0x01, 0x01, 0x10]))  # limiting, dc off, sleep
    assert status.faults == frozenset()
    assert status.states == {"power_limiting", "dc_off", "sleeping"}
    assert not status.output_on


def test_short_or_non_finite_replies_are_rejected() -> None:
    with pytest.raises(ValueError):
        proto.decode_status(b"\x00\x00")
    with pytest.raises(ValueError):
        proto.decode_output(struct.pack(">ff", float("nan"), 0.0))


# -- the module's side of the codec (what the simulator sends and reads) --------------------


def test_module_reads_the_set_point_and_on_off_the_controller_sends() -> None:
    assert proto.decode_set_output(bytes.fromhex("00061a800000639c")) == (400.0, 25.5)
    assert proto.decode_on_off(bytes(8)) is True
    assert proto.decode_on_off(bytes([0x01]) + bytes(7)) is False


def test_module_replies_are_laid_out_as_the_notes_say() -> None:
    assert proto.encode_output(400.0, 40.0) == bytes.fromhex("43c8000042200000")  # float32 V, A
    assert proto.encode_count(3) == bytes([0, 0, 3, 0, 0, 0, 0, 0])  # count in byte 2
    caps = proto.ModuleCapabilities(1000.0, 150.0, 100.0, 30000.0)
    assert proto.encode_capabilities(caps) == bytes.fromhex("03e8009603e80bb8")  # 1 V, 1 V, 0.1 A, 10 W


def test_module_status_sets_each_named_bit_where_the_notes_put_it() -> None:
    status = proto.encode_status({"output_short_circuit", "fan_fault", "dc_off", "power_limiting"})
    assert status == bytes([0, 0, 0, 0, 0, 0x01, 0x09, 0x01])
    with pytest.raises(ValueError, match="no_such_bit"):
        proto.encode_status({"no_such_bit"})


# -- driver against the simulated group -----------------------------------------------------


def test_capabilities_are_per_module_limits_times_module_count(rig: Rig) -> None:
    caps = rig.make(module_max_current_a=50.0, module_max_power_w=20000.0).capabilities
    assert (caps.max_current_a, caps.max_power_w, caps.max_voltage_v) == (100.0, 40000.0, 1000.0)


def test_set_target_sends_each_module_its_share_of_the_current(rig: Rig) -> None:
    driver = rig.make(resend_setpoints=False)
    driver.set_target(500.0, 60.0)
    assert eventually(lambda: all(m.setpoint_v == 500.0 for m in rig.sim.modules.values()))
    assert [m.setpoint_a for m in rig.sim.modules.values()] == [30.0, 30.0]
    for addr in (0, 1):
        frames = rig.sim.frames(command=0x1C, destination=addr)
        assert frames[-1].data == struct.pack(">II", 500_000, 30_000)
        assert frames[-1].source == 0xF0


def test_enable_switches_the_group_on_and_present_values_come_back(rig: Rig) -> None:
    rig.sim.load_ohm = 10.0  # 400 V into 10 ohm = 40 A, under the 60 A limit: CV
    driver = rig.make()
    driver.set_target(400.0, 60.0)
    driver.enable(True)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and s.enabled and s.current_a > 39)
    sample = driver.read()
    assert sample.voltage_v == pytest.approx(400.0)
    assert sample.current_a == pytest.approx(40.0)
    assert sample.faults == frozenset()
    assert all(m.on for m in rig.sim.modules.values())


def test_group_limits_current_when_the_load_wants_more(rig: Rig) -> None:
    rig.sim.load_ohm = 2.0  # 400 V would need 200 A; the group may deliver 60 A: CC at 120 V
    driver = rig.make()
    driver.set_target(400.0, 60.0)
    driver.enable(True)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and s.current_a > 59)
    sample = driver.read()
    assert sample.current_a == pytest.approx(60.0)
    assert sample.voltage_v == pytest.approx(120.0)


def test_disable_switches_every_module_off(rig: Rig) -> None:
    driver = rig.make()
    driver.set_target(400.0, 10.0)
    driver.enable(True)
    assert eventually(lambda: all(m.on for m in rig.sim.modules.values()))
    driver.enable(False)
    assert eventually(lambda: not any(m.on for m in rig.sim.modules.values()))
    assert eventually(lambda: (s := read_or_none(driver)) is not None and not s.enabled)


@pytest.mark.parametrize(
    ("voltage", "current"),
    [(1200.0, 10.0), (100.0, 10.0), (400.0, 250.0), (400.0, -1.0), (float("nan"), 10.0)],
)
def test_out_of_range_set_point_is_refused_and_nothing_is_sent(
    rig: Rig, voltage: float, current: float
) -> None:
    driver = rig.make(resend_setpoints=False)
    with pytest.raises(DeviceError, match=r"evse\[0\]\.power_module"):
        driver.set_target(voltage, current)
    time.sleep(0.1)
    assert rig.sim.frames(command=0x1C) == []


def test_current_above_the_power_limit_is_reduced_to_it(rig: Rig) -> None:
    driver = rig.make(resend_setpoints=False, module_max_power_w=10000.0)  # 20 kW group
    driver.set_target(500.0, 100.0)  # 50 kW asked -> 40 A total, 20 A per module
    assert eventually(lambda: all(m.setpoint_a == 20.0 for m in rig.sim.modules.values()))


def test_enable_before_any_set_point_is_refused(rig: Rig) -> None:
    driver = rig.make()
    with pytest.raises(DeviceError, match="set-point"):
        driver.enable(True)
    assert not any(m.on for m in rig.sim.modules.values())


def test_read_before_any_reply_times_out_then_reports_offline() -> None:
    channel = f"infy-{uuid.uuid4().hex}"
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))
    bus.setup()
    driver = InfyPowerDc(
        DeviceConfig(
            device_id="pm",
            options=InfyPowerOptions(modules=[0], poll_interval_s=POLL_S, offline_after_s=OFFLINE_AFTER_S),
            bus=bus,
        )
    )
    try:
        driver.setup()
        with pytest.raises(DeviceTimeout):
            driver.read()
        time.sleep(OFFLINE_AFTER_S + 0.1)
        with pytest.raises(DeviceOffline, match="no reply from modules"):
            driver.read()
    finally:
        driver.release()
        bus.release()


def test_silent_group_raises_device_offline_and_recovers_when_it_answers_again(rig: Rig) -> None:
    driver = rig.make()
    assert eventually(lambda: read_or_none(driver) is not None)
    rig.sim.set_silent(None)

    def offline() -> bool:
        try:
            driver.read()
        except DeviceOffline:
            return True
        return False

    assert eventually(offline, timeout_s=OFFLINE_AFTER_S + 5.0)
    rig.sim.set_silent(None, silent=False)
    assert eventually(lambda: read_or_none(driver) is not None)
    assert driver.read().faults == frozenset()


def test_a_silent_reading_keeps_its_receive_time(rig: Rig) -> None:
    driver = rig.make()
    assert eventually(lambda: read_or_none(driver) is not None)
    rig.sim.set_silent(None)
    time.sleep(3 * POLL_S)  # let replies already in flight land
    first = driver.read()
    time.sleep(3 * POLL_S)
    second = driver.read()
    assert second.taken_at == first.taken_at
    assert second.age() > first.age(first.taken_at)


def test_one_silent_module_is_a_fault_and_the_others_take_its_share(rig: Rig) -> None:
    driver = rig.make()
    driver.set_target(400.0, 60.0)
    driver.enable(True)
    assert eventually(lambda: rig.sim.modules[0].setpoint_a == 30.0)
    rig.sim.set_silent(1)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and "module_offline" in s.faults)
    assert eventually(lambda: rig.sim.modules[0].setpoint_a == 60.0)
    rig.sim.set_silent(1, silent=False)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and not s.faults)
    assert eventually(lambda: rig.sim.modules[0].setpoint_a == 30.0)


@pytest.mark.parametrize("name", ["output_overvoltage", "input_undervoltage", "output_short_circuit"])
def test_alarm_bits_become_named_faults_and_clear_again(rig: Rig, name: str) -> None:
    driver = rig.make()
    assert eventually(lambda: read_or_none(driver) is not None)
    notified: list[int] = []
    driver.subscribe(lambda: notified.append(1))
    rig.sim.set_alarm(1, name)
    assert eventually(lambda: name in driver.read().faults)
    assert eventually(lambda: len(notified) >= 1)
    rig.sim.set_alarm(1, name, active=False)
    assert eventually(lambda: driver.read().faults == frozenset())


def test_every_simulated_alarm_has_a_driver_fault_or_warning_name(rig: Rig) -> None:
    driver = rig.make()
    for name in ALARM_NAMES:
        rig.sim.set_alarm(0, name)
    assert eventually(
        lambda: (s := read_or_none(driver)) is not None and s.faults | s.warnings == set(ALARM_NAMES)
    )
    sample = driver.read()
    assert sample.warnings == set(proto.WARNING_BITS.values())
    assert sample.faults == set(proto.ALARM_BITS.values())


@pytest.mark.parametrize("name", sorted(proto.WARNING_BITS.values()))
def test_infypower_vendor_warning_on_a_delivering_module_warns_and_does_not_block(
    rig: Rig, name: str
) -> None:
    rig.sim.load_ohm = 10.0
    driver = rig.make()
    driver.set_target(400.0, 60.0)
    driver.enable(True)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and s.current_a > 39)
    notified: list[int] = []
    driver.subscribe(lambda: notified.append(1))
    rig.sim.set_alarm(1, name)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and name in s.warnings)
    assert eventually(lambda: len(notified) >= 1)  # the core hears about it
    # a few more polls: it stays a warning while the module delivers
    time.sleep(5 * POLL_S)
    sample = driver.read()
    assert sample.faults == frozenset() and sample.enabled
    assert sample.current_a == pytest.approx(40.0)
    assert driver.describe()["module_warnings"] == {"0x01": [name]}
    rig.sim.set_alarm(1, name, active=False)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and not s.warnings)


def test_infypower_warning_on_a_module_that_switched_itself_off_is_a_fault(rig: Rig) -> None:
    rig.sim.load_ohm = 10.0
    driver = rig.make()
    driver.set_target(400.0, 60.0)
    driver.enable(True)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and s.current_a > 39)
    rig.sim.set_alarm(1, "over_temperature", switch_off=True)  # protects itself: no longer delivers
    assert eventually(lambda: (s := read_or_none(driver)) is not None and "over_temperature" in s.faults)
    assert "over_temperature" not in driver.read().warnings


def test_infypower_warning_while_the_group_is_off_stays_a_warning(rig: Rig) -> None:
    driver = rig.make()
    rig.sim.set_alarm(0, "fan_fault", switch_off=True)  # off anyway: nothing was asked of it
    assert eventually(lambda: (s := read_or_none(driver)) is not None and "fan_fault" in s.warnings)
    assert driver.read().faults == frozenset()


def test_infypower_module_fault_and_short_circuit_stay_blocking_faults(rig: Rig) -> None:
    rig.sim.load_ohm = 10.0
    driver = rig.make()
    driver.set_target(400.0, 60.0)
    driver.enable(True)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and s.current_a > 39)
    rig.sim.set_alarm(0, "output_short_circuit")
    rig.sim.set_alarm(1, "module_fault")
    assert eventually(
        lambda: (
            (s := read_or_none(driver)) is not None and {"output_short_circuit", "module_fault"} <= s.faults
        )
    )
    assert contract_fault_name_of(driver.read().faults) is HardwareFaultName.OVERCURRENT_FAULT


def test_set_point_refused_by_the_module_is_counted(rig: Rig) -> None:
    rig.sim.module_max_current_a = 20.0  # the real modules are smaller than the profile claims
    driver = rig.make(resend_setpoints=False)
    driver.set_target(400.0, 60.0)
    assert eventually(lambda: driver.describe()["rejected_commands"] >= 2)
    assert all(m.setpoint_a == 0.0 for m in rig.sim.modules.values())


def test_capabilities_and_module_count_reported_by_the_modules_show_in_describe(rig: Rig) -> None:
    driver = rig.make()
    assert eventually(lambda: len(driver.describe()["reported_capabilities"]) == 2)
    info = driver.describe()
    assert info["reported_module_count"] == 2
    assert info["reported_capabilities"]["0x00"] == {
        "max_voltage_v": 1000.0,
        "min_voltage_v": 150.0,
        "max_current_a": 100.0,
        "rated_power_w": 30000.0,
    }


def test_release_switches_the_modules_off(rig: Rig) -> None:
    driver = rig.make()
    driver.set_target(400.0, 10.0)
    driver.enable(True)
    assert eventually(lambda: all(m.on for m in rig.sim.modules.values()))
    driver.release()
    assert eventually(lambda: not any(m.on for m in rig.sim.modules.values()))


def test_simulated_module_switches_off_when_the_controller_goes_quiet(rig: Rig) -> None:
    rig.sim.watchdog_s = 0.3
    driver = rig.make()
    driver.set_target(400.0, 10.0)
    driver.enable(True)
    assert eventually(lambda: all(m.on for m in rig.sim.modules.values()))
    # Stop the poll thread without the orderly off command: a crashed HAL.
    driver._stop.set()
    assert eventually(lambda: not any(m.on for m in rig.sim.modules.values()))
    assert all(m.watchdog_trips == 1 for m in rig.sim.modules.values())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"modules": []}, "at least one"),
        ({"modules": [0, 0]}, "duplicate"),
        ({"modules": [70]}, "outside"),
        ({"offline_after_s": 0.01, "poll_interval_s": 1.0}, "offline_after_s"),
        ({"module_min_voltage_v": 900.0, "module_max_voltage_v": 500.0}, "module_min_voltage_v"),
    ],
)
def test_invalid_options_are_rejected_with_the_option_named(options: dict[str, Any], match: str) -> None:
    # msgspec turns the ValueError into a ValidationError when a profile table is converted.
    with pytest.raises(msgspec.ValidationError, match=match):
        msgspec.convert(options, InfyPowerOptions)


def test_driver_is_registered_through_the_entry_point() -> None:
    from josev_hal.plugins import get_plugin_manager

    assert get_plugin_manager().drivers["infypower-dc"] is InfyPowerDc


def test_can_link_down_at_setup_is_offline_not_a_crash_and_recovers() -> None:
    channel = f"infy-{uuid.uuid4().hex}"
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))  # not opened yet
    options = InfyPowerOptions(modules=[0, 1], poll_interval_s=POLL_S, offline_after_s=OFFLINE_AFTER_S)
    driver = InfyPowerDc(DeviceConfig(device_id="pm", options=options, bus=bus))
    with InfyPowerGroupSim(interface="virtual", channel=channel, modules=(0, 1)) as sim:
        try:
            driver.setup()  # must not raise: the rest of the board still comes up
            with pytest.raises(BusError):
                driver.set_target(400.0, 10.0)
            with pytest.raises(BusError):
                driver.enable(True)
            time.sleep(OFFLINE_AFTER_S + 0.1)
            with pytest.raises(DeviceOffline):
                driver.read()
            bus.setup()  # the link comes back
            assert eventually(lambda: read_or_none(driver) is not None)
            # The failed enable(True) is not replayed by the poll thread's re-send.
            time.sleep(5 * POLL_S)
            assert not any(m.on for m in sim.modules.values())
            assert all(m.setpoint_v == 400.0 for m in sim.modules.values())
        finally:
            driver.release()
            bus.release()


def test_group_voltage_is_the_output_voltage_when_one_module_is_off(rig: Rig) -> None:
    rig.sim.load_ohm = 20.0
    driver = rig.make(resend_setpoints=False)
    driver.set_target(400.0, 40.0)
    driver.enable(True)
    assert eventually(lambda: (s := read_or_none(driver)) is not None and s.current_a > 19)
    with rig.sim.lock:
        rig.sim.modules[1].on = False  # a module that switched itself off
    assert eventually(lambda: rig.sim.modules[1].output_v == 0.0)
    time.sleep(3 * POLL_S)
    sample = driver.read()
    assert sample.voltage_v == pytest.approx(400.0)
    assert sample.enabled
