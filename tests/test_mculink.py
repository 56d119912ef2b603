"""MCU link drivers against the simulated MCU over a real pseudo-terminal (pyserial on the HAL
side, ``josev_hal_mculink.sim`` on the other). Both sides share the codec in
``josev_hal_mculink.protocol``, which the protocol tests pin to the spec's check values."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from josev_hal_mculink import protocol as proto
from josev_hal_mculink.drivers import McuContactor, McuContactorOptions, McuCp, McuRcd
from josev_hal_mculink.link import LinkOptions, McuLink
from josev_hal_mculink.sim import McuSim

from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import CpMode, DeviceConfig
from josev_hal.errors import DeviceError, DeviceOffline
from tests.support.waiting import eventually, ok

LINK = {"keepalive_interval_s": 0.05, "mcu_failsafe_timeout_ms": 300, "link_timeout_s": 0.4}


# -- protocol -------------------------------------------------------------------------------


def test_crc16_is_ccitt_false() -> None:
    assert proto.crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize("size", [0, 1, 253, 254, 255, 600])
def test_cobs_round_trip_never_contains_the_delimiter(size: int) -> None:
    data = bytes((i * 7) % 5 for i in range(size))  # plenty of zeros
    encoded = proto.cobs_encode(data)
    assert 0 not in encoded
    assert proto.cobs_decode(encoded) == data


@pytest.mark.parametrize(
    ("data", "stuffed"),
    [
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    ],
)
def test_cobs_code_bytes_count_to_the_next_zero(data: bytes, stuffed: bytes) -> None:
    assert proto.cobs_encode(data) == stuffed
    assert proto.cobs_decode(stuffed) == data


def test_frame_layout_matches_the_spec() -> None:
    frame = proto.encode_frame(proto.Packet(proto.MsgType.SET_CONTACTOR, 0x2A, b"\x01"))
    assert frame.endswith(b"\x00")
    raw = proto.cobs_decode(frame[:-1])
    assert raw[:4] == bytes([1, 0x11, 0x2A, 0x01])
    assert struct.unpack(">H", raw[4:])[0] == proto.crc16(raw[:4])


def test_corrupted_frame_is_rejected_by_crc() -> None:
    frame = bytearray(proto.encode_frame(proto.Packet(proto.MsgType.KEEPALIVE, 1, b"\x03\xe8"))[:-1])
    frame[3] ^= 0x04
    with pytest.raises(proto.FrameError, match="CRC"):
        proto.decode_frame(bytes(frame))


def test_status_payload_round_trips() -> None:
    status = proto.Status(
        flags=proto.StatusFlags.CONTACTOR_COMMANDED | proto.StatusFlags.CONTACTOR_FEEDBACK_CLOSED,
        cp_mode=proto.CpModeCode.PWM,
        cp_duty_centi=5333,
        cp_positive_mv=6010,
        cp_negative_mv=-11950,
        residual_deci_ma=None,
        rcd_test_result=proto.RcdTestResult.PASSED,
        rcd_test_count=3,
    )
    assert proto.Status.unpack(status.pack()) == status


# -- drivers over a pty ---------------------------------------------------------------------


@dataclass
class Rig:
    sim: McuSim
    bus: SerialBus
    cp: McuCp
    contactor: McuContactor
    rcd: McuRcd


@pytest.fixture
def rig() -> Iterator[Rig]:
    sim = McuSim(status_interval_s=0.05).start()
    bus = SerialBus("mcu", SerialBusOptions(port=sim.port, baudrate=115200))

    def config(options: Any, device: str) -> DeviceConfig[Any]:
        return DeviceConfig(device_id=f"evse[0].{device}", options=options, bus=bus, plugin="mculink")

    cp = McuCp(config(LinkOptions(**LINK), "cp"))
    contactor = McuContactor(config(McuContactorOptions(**LINK), "contactor"))
    rcd = McuRcd(config(LinkOptions(**LINK), "rcd"))
    for d in (cp, contactor, rcd):
        d.setup()
    yield Rig(sim, bus, cp, contactor, rcd)
    for d in (cp, contactor, rcd):
        d.release()
    bus.release()
    sim.stop()


def charge_ready(rig: Rig) -> None:
    """EV plugged and requesting, PWM on: the state in which the MCU lets the relays close."""
    assert eventually(lambda: ok(rig.cp.read) is not None)
    rig.cp.set_pwm(53.33)
    rig.sim.set_ev_state("C")
    assert eventually(lambda: (s := ok(rig.cp.read)) is not None and abs(s.positive_v - 6.0) < 0.1)


def test_three_drivers_share_one_link_per_bus(rig: Rig) -> None:
    assert rig.cp.link is rig.contactor.link is rig.rcd.link
    assert McuLink._registry[id(rig.bus)] is rig.cp.link


def test_keepalive_takes_the_mcu_out_of_its_boot_failsafe(rig: Rig) -> None:
    assert eventually(lambda: not rig.sim.failsafe)
    assert rig.sim.timeout_ms == 300


def test_cp_pwm_reaches_the_mcu_and_plateaus_come_back(rig: Rig) -> None:
    assert eventually(lambda: ok(rig.cp.read) is not None)
    rig.sim.set_ev_state("B")
    rig.cp.set_pwm(16.67)
    assert (rig.sim.cp_mode, rig.sim.cp_duty_centi) == (1, 1667)
    assert eventually(lambda: (s := ok(rig.cp.read)) is not None and s.duty_percent == pytest.approx(16.67))
    sample = rig.cp.read()
    assert sample.positive_v == pytest.approx(9.0)
    assert sample.negative_v == pytest.approx(-12.0)
    assert rig.cp.output.mode is CpMode.PWM


@pytest.mark.parametrize(
    ("setter", "mode", "code"),
    [("set_x1", CpMode.X1, 0), ("set_state_e", CpMode.STATE_E, 2), ("set_state_f", CpMode.STATE_F, 3)],
)
def test_cp_static_states_reach_the_mcu(rig: Rig, setter: str, mode: CpMode, code: int) -> None:
    assert eventually(lambda: not rig.sim.failsafe)
    getattr(rig.cp, setter)()
    assert rig.sim.cp_mode == code
    assert eventually(lambda: rig.cp.output.mode is mode)


@pytest.mark.parametrize("duty", [0.0, -5.0, 101.0, float("nan")])
def test_invalid_duty_is_refused_without_sending(rig: Rig, duty: float) -> None:
    assert eventually(lambda: not rig.sim.failsafe)
    before = len(rig.sim.commands(0x10))
    with pytest.raises(DeviceError, match="duty"):
        rig.cp.set_pwm(duty)
    assert len(rig.sim.commands(0x10)) == before


def test_contactor_closes_in_state_c_and_feedback_follows(rig: Rig) -> None:
    charge_ready(rig)
    rig.contactor.close()
    assert eventually(lambda: (s := ok(rig.contactor.read)) is not None and s.feedback_closed is True)
    assert rig.contactor.read().commanded_closed
    rig.contactor.open()
    assert eventually(lambda: (s := ok(rig.contactor.read)) is not None and s.feedback_closed is False)


def test_mcu_interlock_refuses_close_without_ev_request(rig: Rig) -> None:
    assert eventually(lambda: ok(rig.cp.read) is not None)
    rig.sim.set_ev_state("B")
    rig.cp.set_pwm(16.67)
    with pytest.raises(DeviceError, match="interlock refused"):
        rig.contactor.close()
    assert rig.sim.refused_closes == 1
    assert not rig.sim.relay_commanded


def test_mcu_opens_by_itself_when_the_ev_stops_requesting_and_the_driver_is_told(rig: Rig) -> None:
    charge_ready(rig)
    rig.contactor.close()
    assert eventually(lambda: (s := ok(rig.contactor.read)) is not None and s.feedback_closed is True)
    notified: list[int] = []
    rig.contactor.subscribe(lambda: notified.append(1))
    rig.sim.set_ev_state("B")
    assert eventually(lambda: (s := ok(rig.contactor.read)) is not None and s.feedback_closed is False)
    assert notified


def test_mcu_fails_safe_when_the_hal_stops_sending(rig: Rig) -> None:
    charge_ready(rig)
    rig.contactor.close()
    assert eventually(lambda: rig.sim.contactor_closed)
    rig.cp.link._stop.set()  # the HAL hangs: no keep-alive, no frames at all
    assert eventually(lambda: rig.sim.failsafe)
    assert rig.sim.cp_mode == 3  # state F
    assert eventually(lambda: not rig.sim.contactor_closed)
    assert rig.sim.failsafe_entries == 1


def test_silent_mcu_makes_every_driver_report_offline_and_recovery(rig: Rig) -> None:
    assert eventually(lambda: ok(rig.rcd.read) is not None)
    rig.sim.mute()

    def all_offline() -> bool:
        for fn in (rig.cp.read, rig.contactor.read, rig.rcd.read):
            try:
                fn()
                return False
            except DeviceOffline:
                pass
        return True

    assert eventually(all_offline)
    rig.sim.mute(False)
    assert eventually(lambda: ok(rig.rcd.read) is not None and ok(rig.cp.read) is not None)


def test_rcd_trip_is_read_and_opens_the_contactor(rig: Rig) -> None:
    charge_ready(rig)
    rig.contactor.close()
    assert eventually(lambda: rig.sim.contactor_closed)
    rig.sim.trip_rcd()
    assert eventually(lambda: (s := ok(rig.rcd.read)) is not None and s.tripped)
    assert eventually(lambda: (s := ok(rig.contactor.read)) is not None and s.feedback_closed is False)
    rig.rcd.reset()
    assert eventually(lambda: (s := ok(rig.rcd.read)) is not None and not s.tripped)


@pytest.mark.parametrize("passes", [True, False])
def test_rcd_self_test_reports_the_mcu_result(rig: Rig, passes: bool) -> None:
    assert eventually(lambda: ok(rig.rcd.read) is not None)
    rig.sim.rcd_test_passes = passes
    assert rig.rcd.self_test(timeout_s=3.0) is passes


def test_reading_keeps_its_receive_time_while_the_mcu_is_silent(rig: Rig) -> None:
    assert eventually(lambda: ok(rig.cp.read) is not None)
    rig.sim.mute()
    time.sleep(0.1)
    first = rig.cp.read()
    time.sleep(0.05)
    try:
        second = rig.cp.read()
    except DeviceOffline:
        return  # slow machine: already past link_timeout_s, which is the other correct outcome
    assert second.taken_at == first.taken_at


def test_garbage_on_the_line_is_counted_and_does_not_break_the_link(rig: Rig) -> None:
    assert eventually(lambda: ok(rig.cp.read) is not None)
    os.write(rig.sim._master, b"\x05\x01\x02\x03\x04\x00\x00\x00")  # bad CRC, empty frames
    assert eventually(lambda: rig.cp.link.bad_frames >= 1)
    rig.cp.set_x1()
    assert eventually(lambda: rig.cp.output.mode is CpMode.X1)


def test_mcu_reboot_is_noticed(rig: Rig) -> None:
    assert eventually(lambda: ok(rig.cp.read) is not None)
    hellos = rig.cp.link.hello_count
    rig.sim.reboot()
    assert eventually(lambda: rig.cp.link.hello_count == hellos + 1)
    assert rig.cp.describe()["firmware"] == "sim-mcu 1.0"


def test_drivers_are_registered_through_the_entry_point() -> None:
    from josev_hal.plugins import get_plugin_manager

    drivers = get_plugin_manager().drivers
    assert (drivers["mcu-cp"], drivers["mcu-contactor"], drivers["mcu-rcd"]) == (McuCp, McuContactor, McuRcd)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"keepalive_interval_s": 0}, "keepalive_interval_s"),
        ({"keepalive_interval_s": 0.5, "mcu_failsafe_timeout_ms": 600}, "mcu_failsafe_timeout_ms"),
        ({"retries": 9}, "retries"),
    ],
)
def test_invalid_link_options_are_rejected(options: dict[str, Any], match: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=match):
        msgspec.convert(options, LinkOptions)


def test_link_reopens_a_port_that_failed_under_it(rig: Rig) -> None:
    assert eventually(lambda: ok(rig.cp.read) is not None)
    rig.bus.port.close()  # what an unplugged USB-serial adapter looks like to the reader
    assert eventually(lambda: rig.cp.link.reopen_count >= 1)
    rig.cp.set_x1()  # commands go through the reopened port
    assert eventually(lambda: rig.sim.cp_mode == 0)
    first = rig.cp.read().taken_at
    assert eventually(lambda: (s := ok(rig.cp.read)) is not None and s.taken_at > first)


@given(data=st.binary(max_size=600))
def test_cobs_round_trips_any_payload(data: bytes) -> None:
    encoded = proto.cobs_encode(data)
    assert 0 not in encoded
    assert proto.cobs_decode(encoded) == data


@given(frame=st.binary(max_size=100))
def test_any_line_garbage_decodes_or_raises_frame_error(frame: bytes) -> None:
    try:
        packet = proto.decode_frame(frame.replace(b"\x00", b""))
    except proto.FrameError:
        return
    assert len(packet.payload) <= proto.MAX_PAYLOAD


@given(payload=st.binary(min_size=12, max_size=12))
def test_any_status_payload_unpacks_or_raises_frame_error(payload: bytes) -> None:
    try:
        status = proto.Status.unpack(payload)
    except proto.FrameError:
        return
    assert proto.Status.unpack(status.pack()) == status


def test_app_watchdog_withholds_keepalive_when_the_core_stops_using_the_drivers() -> None:
    sim = McuSim(status_interval_s=0.05).start()
    bus = SerialBus("mcu", SerialBusOptions(port=sim.port, baudrate=115200))
    options = LinkOptions(**LINK, app_watchdog_s=0.3)
    cp = McuCp(DeviceConfig(device_id="evse[0].cp", options=options, bus=bus))
    try:
        cp.setup()
        # The core samples: keep-alive flows, the MCU leaves and stays out of its failsafe.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            ok(cp.read)
            time.sleep(0.05)
        assert not sim.failsafe
        # The core hangs (no reads): keep-alive is withheld and the MCU fails safe.
        assert eventually(lambda: sim.failsafe)
        assert sim.failsafe_entries == 1
        # The core is back: keep-alive resumes.
        assert eventually(lambda: ok(cp.read) is not None and not sim.failsafe)
    finally:
        cp.release()
        bus.release()
        sim.stop()
