"""``winline-dc`` against the simulated Winline module group on python-can ``virtual``.

The group behaviour shared with InfyPower (split, refresh, offline, faults) lives in
``ModuleGroupDriver`` and is covered in depth by ``test_can_infypower.py``; here: the Winline
wire format end to end and the same behaviours once through this family's frames.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from josev_hal_can import winline_protocol as proto
from josev_hal_can.sim import WINLINE_ALARM_BITS, WinlineGroupSim
from josev_hal_can.winline import WinlineDc, WinlineOptions

from josev_hal.buses.can import CanBus, CanBusOptions
from josev_hal.devices import DeviceConfig
from josev_hal.errors import DeviceError, DeviceOffline
from josev_hal.messages.payloads import HardwareFaultName
from josev_hal.station.fault_names import contract_fault_name_of
from tests.support.waiting import eventually

POLL_S = 0.05
OFFLINE_AFTER_S = 0.5


def read_or_none(driver: WinlineDc) -> Any:
    try:
        return driver.read()
    except DeviceError:
        return None


@dataclass
class Rig:
    sim: WinlineGroupSim
    driver: WinlineDc


@pytest.fixture
def rig() -> Iterator[Rig]:
    channel = f"winline-{uuid.uuid4().hex}"
    sim = WinlineGroupSim(interface="virtual", channel=channel, modules=(3, 4), group=2, load_ohm=10.0)
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))
    options = WinlineOptions(
        modules=[3, 4],
        group=2,
        poll_interval_s=POLL_S,
        offline_after_s=OFFLINE_AFTER_S,
        module_max_current_a=50,
    )
    driver = WinlineDc(DeviceConfig(device_id="evse[0].power_module", options=options, bus=bus, plugin="can"))
    with sim:
        bus.setup()
        driver.setup()
        try:
            yield Rig(sim, driver)
        finally:
            driver.release()
            bus.release()


def test_id_layout_follows_the_driver_code() -> None:
    aid = proto.encode_id(destination=0x03, source=0xF0, group=2)
    assert aid == (0x060 << 20) | (1 << 19) | (0x03 << 11) | (0xF0 << 3) | 2
    decoded = proto.decode_id(aid)
    assert (decoded.protocol, decoded.destination, decoded.source, decoded.group) == (0x060, 3, 0xF0, 2)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (proto.set_voltage(400.0), bytes([0x03, 0, 0x00, 0x21]) + struct.pack(">f", 400.0)),
        (proto.set_current(12.5), bytes([0x03, 0, 0x00, 0x1B]) + (12800).to_bytes(4, "big")),
        (proto.set_on_off(True), bytes([0x03, 0, 0x00, 0x30, 0, 0, 0, 0])),
        (proto.set_on_off(False), bytes([0x03, 0, 0x00, 0x30, 0, 1, 0, 0])),
        (proto.read_request(0x0040), bytes([0x10, 0, 0x00, 0x40, 0, 0, 0, 0])),
    ],
)
def test_request_payloads_match_the_register_map(payload: bytes, expected: bytes) -> None:
    assert payload == expected


def test_undocumented_status_bits_are_states_not_faults() -> None:
    faults, states = proto.decode_status((1 << 7) | (1 << 22) | (1 << 29))
    assert faults == {"output_overvoltage"}
    assert states == {"dc_off", "bit29"}


@pytest.mark.parametrize(
    ("bit", "name"),
    [
        (27, "fan_fault"),
        (28, "output_short_circuit"),
        (30, "over_temperature"),
        (31, "output_overvoltage_protection"),
        (3, "internal_communication_failure"),
        (4, "input_mode_error"),
        (5, "input_mode_mismatch"),
        (8, "pfc_voltage_abnormal"),
        (17, "current_imbalance"),
    ],
)
def test_winline_alarm_bits_that_are_real_faults_decode_as_faults(bit: int, name: str) -> None:
    faults, states = proto.decode_status(1 << bit)
    assert faults == {name}
    assert states == frozenset()


def test_winline_ac_power_limiting_is_a_state() -> None:
    assert proto.decode_status(1 << 25) == (frozenset(), frozenset({"ac_power_limiting"}))


def test_winline_short_circuit_reports_as_overcurrent() -> None:
    faults, _ = proto.decode_status(1 << 28)
    assert contract_fault_name_of(faults) is HardwareFaultName.OVERCURRENT_FAULT


def test_module_reads_requests_and_replies_in_the_register_layout() -> None:
    request = proto.decode_request(proto.set_current(12.5))
    assert (request.function, request.register) == (0x03, 0x001B)
    assert proto.current_of_raw(request.as_int()) == 12.5
    assert proto.decode_request(proto.set_voltage(400.0)).as_float() == 400.0
    reply = proto.RegisterReply(proto.TYPE_FLOAT, proto.ERROR_OK, 0x0001, proto.float_value(400.0))
    assert proto.encode_reply(reply) == bytes([0x41, 0xF0, 0x00, 0x01]) + bytes.fromhex("43c80000")
    assert proto.int_value(0x00010000) == bytes([0, 1, 0, 0])


def test_module_status_word_sets_each_named_bit_where_the_notes_put_it() -> None:
    assert proto.encode_status({"fan_fault", "dc_off", "power_limiting"}) == (1 << 27) | (1 << 22) | (1 << 23)
    with pytest.raises(ValueError, match="no_such_bit"):
        proto.encode_status({"no_such_bit"})


def test_set_target_reaches_every_module_with_its_share(rig: Rig) -> None:
    rig.driver.set_target(500.0, 40.0)
    assert eventually(lambda: all(m.setpoint_a == 20.0 for m in rig.sim.modules.values()))
    assert all(m.setpoint_v == 500.0 for m in rig.sim.modules.values())
    frame = rig.sim.frames(register=0x001B, destination=3)[-1]
    assert (frame.value, frame.source, frame.group) == ((20 * 1024).to_bytes(4, "big"), 0xF0, 2)


def test_enabled_group_reports_present_values(rig: Rig) -> None:
    rig.driver.set_target(400.0, 60.0)  # 10 ohm: 40 A, CV
    rig.driver.enable(True)
    assert eventually(lambda: (s := read_or_none(rig.driver)) is not None and s.enabled and s.current_a > 39)
    sample = rig.driver.read()
    assert sample.voltage_v == pytest.approx(400.0)
    assert sample.current_a == pytest.approx(40.0, rel=1e-4)
    rig.driver.enable(False)
    assert eventually(lambda: (s := read_or_none(rig.driver)) is not None and not s.enabled)
    assert not any(m.on for m in rig.sim.modules.values())


@pytest.mark.parametrize("name", sorted(WINLINE_ALARM_BITS))
def test_status_bits_become_named_faults_and_clear(rig: Rig, name: str) -> None:
    assert eventually(lambda: read_or_none(rig.driver) is not None)
    rig.sim.set_alarm(4, name)
    assert eventually(lambda: (s := read_or_none(rig.driver)) is not None and name in s.faults)
    rig.sim.set_alarm(4, name, active=False)
    assert eventually(lambda: (s := read_or_none(rig.driver)) is not None and not s.faults)


def test_silence_is_offline_and_recovers(rig: Rig) -> None:
    assert eventually(lambda: read_or_none(rig.driver) is not None)
    rig.sim.set_silent(3)
    assert eventually(lambda: (s := read_or_none(rig.driver)) is not None and "module_offline" in s.faults)
    rig.sim.set_silent(None)

    def offline() -> bool:
        try:
            rig.driver.read()
        except DeviceOffline:
            return True
        return False

    assert eventually(offline)
    rig.sim.set_silent(None, silent=False)
    assert eventually(lambda: (s := read_or_none(rig.driver)) is not None and not s.faults)


def test_error_coded_reply_is_counted_and_not_applied(rig: Rig) -> None:
    rig.sim.module_max_current_a = 10.0  # the modules refuse 20 A each
    rig.driver.set_target(400.0, 40.0)
    assert eventually(lambda: rig.driver.describe()["rejected_commands"] >= 2)
    assert all(m.setpoint_a == 0.0 for m in rig.sim.modules.values())


def test_rated_values_reported_by_the_modules_show_in_describe(rig: Rig) -> None:
    assert eventually(lambda: len(rig.driver.describe()["reported_capabilities"]) == 2)
    assert rig.driver.describe()["reported_capabilities"]["0x03"] == {
        "rated_power_w": 30000.0,
        "rated_current_a": 100.0,
    }


@pytest.mark.parametrize(
    ("options", "match"), [({"group": 9}, "group"), ({"modules": [64]}, "outside 0..63")]
)
def test_invalid_options_name_the_key(options: dict[str, Any], match: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=match):
        msgspec.convert(options, WinlineOptions)


def test_winline_driver_is_registered() -> None:
    from josev_hal.plugins import get_plugin_manager

    assert get_plugin_manager().drivers["winline-dc"] is WinlineDc
