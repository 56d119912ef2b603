"""I2C drivers against the register-level chip simulators, through the real bus object."""

from __future__ import annotations

import errno
import time
from typing import Any

import msgspec
import pytest
from josev_hal_i2c import DRIVERS
from josev_hal_i2c.ads1x15 import Ads1x15Cp, Ads1x15CpOptions, Ads1x15Pp
from josev_hal_i2c.gpio_drivers import ExpanderContactor, ExpanderLock, ExpanderRcd
from josev_hal_i2c.pca9685 import achieved_frequency_hz, prescale_for
from josev_hal_i2c.pn532 import Pn532Reader
from josev_hal_i2c.sim import (
    REFERENCE_CP_SHIFTER,
    SimAcBoard,
    build_ac_board,
)

from josev_hal.buses.i2c import I2cBus, I2cBusOptions
from josev_hal.devices import CpMode, DeviceConfig, Driver
from josev_hal.errors import BusError, DeviceError

CP_OPTIONS: dict[str, Any] = {
    "positive_channel": 0,
    "negative_channel": 1,
    "adc_v_per_cp_v": REFERENCE_CP_SHIFTER.gain,
    "adc_offset_v": REFERENCE_CP_SHIFTER.offset_v,
    "pwm_address": 0x40,
    "pwm_channel": 0,
    "state_e_channel": 1,
}


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_driver(
    board: SimAcBoard,
    name: str,
    address: int,
    options: dict[str, Any],
    device_id: str = "",
    bus: I2cBus | None = None,
) -> Any:
    cls = DRIVERS[name]
    if bus is None:
        bus = I2cBus("i2c1", I2cBusOptions(bus=1), smbus_factory=board.bus.factory)
        bus.setup()
    config: DeviceConfig[Any] = DeviceConfig(
        device_id=device_id or f"evse[0].{cls.role.value}",
        options=msgspec.convert(options, cls.Options),
        bus=bus,
        address=address,
        plugin="i2c",
    )
    driver: Driver = cls(config)
    driver.setup()
    return driver


@pytest.fixture
def board() -> SimAcBoard:
    return build_ac_board()


# -- ControlPilot ---------------------------------------------------------------------------------


def test_cp_setup_programs_pca9685_prescale_for_1khz(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    assert board.pwm.regs[0xFE] == 5 == prescale_for(1000.0)
    assert not board.pwm.sleeping
    assert board.pwm.frequency_hz() == pytest.approx(1017.25, abs=0.01)
    assert achieved_frequency_hz(5) == pytest.approx(board.pwm.frequency_hz())
    assert cp.output.mode is CpMode.X1
    assert board.cp.generator() == ("x1", None)


def test_cp_setup_does_not_glitch_a_running_generator(board: SimAcBoard) -> None:
    make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    before = len(board.bus.writes_to(0x40))
    make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)  # HAL restart: already at 1 kHz, awake
    writes = board.bus.writes_to(0x40)[before:]
    assert not any(w[0] == 0x00 and w[1] & 0x10 for w in writes if len(w) == 2)  # never SLEEP


@pytest.mark.parametrize("state,expected", [("A", 12.0), ("B", 9.0), ("C", 6.0), ("D", 3.0), ("E", 0.0)])
def test_cp_reading_scales_adc_volts_to_cp_volts_per_state(
    board: SimAcBoard, state: str, expected: float
) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    cp.set_pwm(53.3)
    board.cp.set_ev_state(state)
    sample = cp.read()
    assert sample.positive_v == pytest.approx(expected, abs=0.01)
    assert sample.negative_v == pytest.approx(0.0 if state == "E" else -12.0, abs=0.01)


def test_cp_state_f_reads_minus_12_v(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    board.cp.set_ev_state("B")
    cp.set_state_f()
    sample = cp.read()
    assert sample.positive_v == pytest.approx(-12.0, abs=0.01)
    assert sample.negative_v == pytest.approx(-12.0, abs=0.01)
    assert cp.output.mode is CpMode.STATE_F


@pytest.mark.parametrize("level", [12.0, 9.0, 6.0, 3.0, 0.0, -12.0])
def test_cp_exact_levels_survive_ads1015_quantisation(level: float) -> None:
    board = build_ac_board(adc_chip="ads1015")
    cp = make_driver(board, "ads1x15-cp", 0x48, {**CP_OPTIONS, "adc": "ads1015"})
    board.cp.override = (level, -12.0)
    # 12-bit at ±4.096 V: 2 mV per code = 16 mV at CP after the 0.122 gain
    assert cp.read().positive_v == pytest.approx(level, abs=0.02)


def test_cp_config_register_matches_options(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, {**CP_OPTIONS, "full_scale_v": 6.144, "data_rate_sps": 475})
    cp.read()
    configs = [w for w in board.bus.writes_to(0x48) if w[0] == 0x01 and len(w) == 3]
    assert configs, "no config write reached the ADC"
    word = configs[-1][1] << 8 | configs[-1][2]
    assert word >> 15 == 1  # OS: start
    assert (word >> 12) & 0x7 == 0b101  # AIN1 vs GND (negative channel read last)
    assert (word >> 9) & 0x7 == 0b000  # ±6.144 V
    assert (word >> 8) & 1 == 1  # single shot
    assert (word >> 5) & 0x7 == 6  # 475 SPS
    assert word & 0x3 == 0x3  # comparator disabled


def test_cp_pwm_duty_lands_in_the_pca9685_channel(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    cp.set_pwm(26.67)  # 16 A
    mode, duty = board.cp.generator()
    assert mode == "pwm" and duty == pytest.approx(26.67, abs=0.03)
    assert cp.output.mode is CpMode.PWM and cp.output.duty_percent == pytest.approx(26.67)
    cp.set_pwm(100)
    assert board.cp.generator() == ("x1", None) and cp.output.mode is CpMode.X1


def test_cp_inverted_output_stage(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, {**CP_OPTIONS, "pwm_inverted": True})
    cp.set_pwm(10.0)
    assert board.pwm.channel_duty(0) == pytest.approx(0.9, abs=0.001)
    cp.set_state_f()
    assert board.pwm.channel_duty(0) == 1.0  # inverted: logic high = -12 V


def test_cp_state_e_closes_the_switch_and_leaving_e_opens_it(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    board.cp.set_ev_state("C")
    cp.set_pwm(50)
    cp.set_state_e()
    assert board.pwm.channel_duty(1) == 1.0 and cp.output.mode is CpMode.STATE_E
    assert cp.read().positive_v == pytest.approx(0.0, abs=0.01)
    cp.set_x1()
    assert board.pwm.channel_duty(1) == 0.0
    assert cp.read().positive_v == pytest.approx(6.0, abs=0.01)


def test_cp_without_e_switch_falls_back_to_state_f(
    board: SimAcBoard, caplog: pytest.LogCaptureFixture
) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, {**CP_OPTIONS, "state_e_channel": None})
    cp.set_state_e()
    assert cp.output.mode is CpMode.STATE_F
    assert board.cp.generator() == ("f", None)
    assert "no state-E switch" in caplog.text


@pytest.mark.parametrize("duty", [-1.0, 100.5, float("nan")])
def test_cp_rejects_bad_duty_without_actuating(board: SimAcBoard, duty: float) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    cp.set_pwm(30)
    before = board.pwm.channel_duty(0)
    with pytest.raises(DeviceError):
        cp.set_pwm(duty)
    assert board.pwm.channel_duty(0) == before


def test_cp_without_negative_channel_reports_none(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, {**CP_OPTIONS, "negative_channel": None})
    assert cp.read().negative_v is None


def test_cp_shorted_diode_shows_in_negative_plateau(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    cp.set_pwm(50)
    board.cp.set_ev_state("B")
    board.cp.diode_ok = False
    assert cp.read().negative_v == pytest.approx(-9.0, abs=0.01)


def test_cp_release_leaves_state_f(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    cp.set_pwm(50)
    cp.release()
    assert board.cp.generator() == ("f", None)
    cp.release()  # idempotent


@pytest.mark.parametrize(
    "bad",
    [
        {"full_scale_v": 3.0},
        {"data_rate_sps": 3300},  # an ADS1015 rate on an ADS1115
        {"positive_channel": 4},
        {"negative_channel": 0},
        {"pwm_channel": 16},
        {"state_e_channel": 0},
        {"pwm_frequency_hz": 900.0},  # prescale 6 -> 872 Hz: outside 980-1020
        {"adc_v_per_cp_v": 0.0},
        {"unknown_option": 1},
    ],
)
def test_cp_options_reject_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({**CP_OPTIONS, **bad}, Ads1x15CpOptions)


def test_cp_options_require_the_level_shifter_scaling() -> None:
    with pytest.raises(msgspec.ValidationError, match="adc_v_per_cp_v"):
        msgspec.convert({"positive_channel": 0}, Ads1x15CpOptions)


def test_cp_adc_nack_is_bus_error_with_device_id(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    board.bus.inject_nack(0x48, count=None)
    with pytest.raises(BusError) as info:
        cp.read()
    assert info.value.device == "evse[0].cp" and info.value.plugin == "i2c"


def test_cp_adc_that_never_finishes_converting_times_out(board: SimAcBoard) -> None:
    from josev_hal.errors import DeviceTimeout

    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    board.adc.busy_reads = 10_000
    with pytest.raises(DeviceTimeout, match="conversion"):
        cp.read()


def test_cp_driver_is_a_control_pilot() -> None:
    assert Ads1x15Cp.requires_address and Ads1x15Cp.bus_kind == "i2c"


# -- ProximityPilot -------------------------------------------------------------------------------

# Phoenix "tolerance range" windows (hardware-facts §2.1): what the core maps to an ampacity.
PP_WINDOWS = [(13, 1000, 2200), (20, 330, 1000), (32, 150, 330), (63, 75, 150)]


def ampacity(resistance: float) -> int:
    for amps, low, high in PP_WINDOWS:
        if low <= resistance < high:
            return amps
    raise AssertionError(f"{resistance} ohm is in no window")


@pytest.mark.parametrize("rc,amps", [(1500, 13), (680, 20), (220, 32), (100, 63)])
def test_pp_resistance_maps_to_cable_ampacity(board: SimAcBoard, rc: float, amps: int) -> None:
    pp = make_driver(board, "ads1x15-pp", 0x48, {"channel": 2, "pull_up_ohm": 1000.0, "reference_v": 3.3})
    board.pp.rc_ohm = rc
    sample = pp.read()
    assert sample.resistance_ohm == pytest.approx(rc, rel=0.005)
    assert ampacity(sample.resistance_ohm) == amps
    assert not sample.fault


def test_pp_open_is_no_cable(board: SimAcBoard) -> None:
    pp = make_driver(board, "ads1x15-pp", 0x48, {"channel": 2})
    board.pp.rc_ohm = None
    sample = pp.read()
    assert sample.resistance_ohm is None and not sample.fault


def test_pp_short_to_pe_is_a_fault(board: SimAcBoard) -> None:
    pp = make_driver(board, "ads1x15-pp", 0x48, {"channel": 2})
    board.pp.rc_ohm = 5.0
    assert pp.read().fault


def test_pp_divider_option_scales_the_node_voltage(board: SimAcBoard) -> None:
    # A 5 V pull-up network seen through a 1:2 divider into the ADC.
    board.pp.reference_v = 5.0
    board.pp.pull_up_ohm = 2700.0
    board.adc.connect(2, lambda: board.pp.adc_v() / 2)
    pp = make_driver(
        board,
        "ads1x15-pp",
        0x48,
        {"channel": 2, "pull_up_ohm": 2700.0, "reference_v": 5.0, "adc_v_per_pp_v": 0.5},
    )
    board.pp.rc_ohm = 680.0
    assert pp.read().resistance_ohm == pytest.approx(680.0, rel=0.005)


def test_pp_and_cp_share_one_adc(board: SimAcBoard) -> None:
    cp = make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    pp = make_driver(board, "ads1x15-pp", 0x48, {"channel": 2})
    board.cp.set_ev_state("B")
    board.pp.rc_ohm = 220.0
    assert cp.read().positive_v == pytest.approx(9.0, abs=0.01)
    assert pp.read().resistance_ohm == pytest.approx(220.0, rel=0.005)


def test_pp_driver_class() -> None:
    assert Ads1x15Pp.requires_address


# -- Contactor ------------------------------------------------------------------------------------

CONTACTOR = {"pin": 0, "feedback_pin": 8}


@pytest.mark.parametrize("chip", ["mcp23017", "pca9555"])
def test_contactor_setup_configures_output_low_and_feedback_input(chip: str) -> None:
    board = build_ac_board(gpio_chip=chip)
    make_driver(board, f"{chip}-contactor", 0x20, CONTACTOR)
    assert board.gpio.output_level(0) is False
    assert board.gpio.direction_inputs() >> 8 & 1  # feedback pin stays an input


@pytest.mark.parametrize("chip", ["mcp23017", "pca9555"])
def test_contactor_feedback_follows_the_relay_after_its_delay(chip: str) -> None:
    clock = ManualClock()
    board = build_ac_board(clock=clock, gpio_chip=chip, contactor_delay_s=0.03)
    contactor: ExpanderContactor = make_driver(board, f"{chip}-contactor", 0x20, CONTACTOR)
    assert contactor.has_feedback
    contactor.close()
    sample = contactor.read()
    assert sample.commanded_closed and sample.feedback_closed is False  # not yet
    clock.now += 0.031
    assert contactor.read().feedback_closed is True
    contactor.open()
    assert board.gpio.output_level(0) is False  # open acts at once
    assert contactor.read().feedback_closed is True  # contacts still releasing
    clock.now += 0.031
    sample = contactor.read()
    assert not sample.commanded_closed and sample.feedback_closed is False


def test_contactor_welded_contact_shows_closed_while_commanded_open(board: SimAcBoard) -> None:
    contactor = make_driver(board, "mcp23017-contactor", 0x20, CONTACTOR)
    board.contactor_feedback.stuck = True
    contactor.open()
    sample = contactor.read()
    assert not sample.commanded_closed and sample.feedback_closed is True


def test_contactor_active_low_output_and_feedback(board: SimAcBoard) -> None:
    board.contactor_feedback.invert = True
    board.contactor_feedback.idle_level = True  # unconfigured pin: inverted line reads "open"
    contactor = make_driver(
        board, "mcp23017-contactor", 0x20, {**CONTACTOR, "active": "low", "feedback_closed_level": "high"}
    )
    assert board.gpio.output_level(0) is True  # open = high for an active-low driver
    contactor.close()
    assert board.gpio.output_level(0) is False


def test_contactor_pull_up_lands_in_gppu(board: SimAcBoard) -> None:
    make_driver(board, "mcp23017-contactor", 0x20, {**CONTACTOR, "feedback_pull_up": True})
    assert board.gpio.pull_ups() >> 8 & 1


def test_pca9555_contactor_has_no_pull_up_option() -> None:
    with pytest.raises(msgspec.ValidationError, match="feedback_pull_up"):
        msgspec.convert({**CONTACTOR, "feedback_pull_up": True}, DRIVERS["pca9555-contactor"].Options)


def test_contactor_without_feedback(board: SimAcBoard) -> None:
    contactor = make_driver(board, "mcp23017-contactor", 0x20, {"pin": 0})
    assert not contactor.has_feedback
    assert contactor.read().feedback_closed is None


def test_contactor_open_retries_once_after_a_nack(board: SimAcBoard) -> None:
    contactor = make_driver(board, "mcp23017-contactor", 0x20, CONTACTOR)
    contactor.close()
    board.bus.inject_nack(0x20, count=1)
    contactor.open()
    assert board.gpio.output_level(0) is False


def test_contactor_persistent_nack_is_bus_error_naming_the_device(board: SimAcBoard) -> None:
    contactor = make_driver(board, "mcp23017-contactor", 0x20, CONTACTOR, device_id="evse[1].contactor")
    board.bus.inject_nack(0x20, count=None, code=errno.ENXIO)
    with pytest.raises(BusError) as info:
        contactor.close()
    assert info.value.device == "evse[1].contactor"
    with pytest.raises(BusError):
        contactor.read()


def test_contactor_drivers_share_one_expander_without_clobbering(board: SimAcBoard) -> None:
    contactor = make_driver(board, "mcp23017-contactor", 0x20, CONTACTOR)
    lock = make_driver(board, "mcp23017-lock", 0x20, {"lock_pin": 1, "feedback_pin": 9})
    contactor.close()
    lock.lock()
    contactor.open()
    assert board.gpio.output_level(0) is False and board.gpio.output_level(1) is True


@pytest.mark.parametrize("bad", [{"pin": 16}, {"pin": 3, "feedback_pin": 3}, {"pin": 0, "active": "up"}])
def test_contactor_options_reject_bad_pins(bad: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(bad, DRIVERS["mcp23017-contactor"].Options)


# -- RCD ------------------------------------------------------------------------------------------

RCD = {"trip_pin": 10, "test_pin": 3, "reset_pin": 4, "test_pulse_ms": 40.0, "reset_pulse_ms": 5.0}


@pytest.mark.parametrize("chip", ["mcp23017", "pca9555"])
def test_rcd_trip_input_is_read(chip: str) -> None:
    board = build_ac_board(gpio_chip=chip)
    rcd: ExpanderRcd = make_driver(board, f"{chip}-rcd", 0x20, RCD)
    assert not rcd.read().tripped
    board.rcd.trip()
    assert rcd.read().tripped
    board.rcd.clear()
    assert not rcd.read().tripped


@pytest.mark.parametrize("chip", ["mcp23017", "pca9555"])
def test_rcd_self_test_pulses_test_pin_and_sees_trip_and_release(chip: str) -> None:
    board = build_ac_board(gpio_chip=chip, rcd_test_delay_s=0.01)
    rcd = make_driver(board, f"{chip}-rcd", 0x20, RCD)
    assert rcd.self_test(timeout_s=1.0) is True
    assert board.gpio.output_level(3) is False  # TEST released


def test_rcd_self_test_fails_when_module_never_trips(board: SimAcBoard) -> None:
    board.rcd.test = None  # TEST wire broken
    rcd = make_driver(board, "mcp23017-rcd", 0x20, RCD)
    assert rcd.self_test(timeout_s=0.1) is False
    assert board.gpio.output_level(3) is False


def test_rcd_self_test_fails_when_trip_never_releases(board: SimAcBoard) -> None:
    rcd = make_driver(board, "mcp23017-rcd", 0x20, RCD)
    original = board.rcd.test

    def stuck_after_test() -> bool:
        if original is not None and original():
            board.rcd.faulted = True  # latches and the reset pin does not help
        return False

    board.rcd.test = stuck_after_test
    assert rcd.self_test(timeout_s=0.3) is False


def test_rcd_self_test_refuses_when_already_tripped(board: SimAcBoard) -> None:
    rcd = make_driver(board, "mcp23017-rcd", 0x20, RCD)
    board.rcd.trip()
    assert rcd.self_test(timeout_s=0.2) is False
    assert board.gpio.output_level(3) is False


def test_rcd_without_test_pin_cannot_self_test(board: SimAcBoard) -> None:
    rcd = make_driver(board, "mcp23017-rcd", 0x20, {"trip_pin": 10})
    assert rcd.self_test() is False


def test_rcd_reset_pulses_reset_pin(board: SimAcBoard) -> None:
    rcd = make_driver(board, "mcp23017-rcd", 0x20, RCD)
    before = [w for w in board.bus.writes_to(0x20) if w[0] == 0x14 and len(w) == 2]
    rcd.reset()
    writes = [w for w in board.bus.writes_to(0x20) if w[0] == 0x14 and len(w) == 2][len(before) :]
    assert [bool(w[1] & 0x10) for w in writes] == [True, False]


def test_rcd_active_low_trip_with_pull_up(board: SimAcBoard) -> None:
    board.gpio.connect_input(10, lambda: not board.rcd.tripped())  # open-collector, low = fault
    rcd = make_driver(board, "mcp23017-rcd", 0x20, {**RCD, "trip_level": "low", "trip_pull_up": True})
    assert not rcd.read().tripped
    board.rcd.trip()
    assert rcd.read().tripped


# -- Connector lock -------------------------------------------------------------------------------


@pytest.mark.parametrize("chip", ["mcp23017", "pca9555"])
def test_held_lock_feedback_follows_actuator(chip: str) -> None:
    clock = ManualClock()
    board = build_ac_board(clock=clock, gpio_chip=chip, lock_delay_s=0.05)
    lock: ExpanderLock = make_driver(board, f"{chip}-lock", 0x20, {"lock_pin": 1, "feedback_pin": 9})
    lock.lock()
    assert lock.read().commanded_locked and lock.read().locked is False
    clock.now += 0.051
    assert lock.read().locked is True
    lock.unlock()
    clock.now += 0.051
    sample = lock.read()
    assert not sample.commanded_locked and sample.locked is False


def test_motor_lock_drives_one_direction_for_the_pulse_then_stops(board: SimAcBoard) -> None:
    lock = make_driver(board, "mcp23017-lock", 0x20, {"lock_pin": 1, "unlock_pin": 2, "motor_pulse_ms": 30.0})
    lock.lock()
    assert board.gpio.output_level(1) is True and board.gpio.output_level(2) is False
    deadline = time.monotonic() + 2.0
    while board.gpio.output_level(1) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert board.gpio.output_level(1) is False and board.gpio.output_level(2) is False
    lock.unlock()
    assert board.gpio.output_level(2) is True and board.gpio.output_level(1) is False
    lock.release()
    assert board.gpio.output_level(2) is False


def test_lock_without_feedback_reports_none() -> None:
    board = build_ac_board(gpio_chip="pca9555")
    lock = make_driver(board, "pca9555-lock", 0x20, {"lock_pin": 1})
    assert lock.read().locked is None


# -- PN532 ----------------------------------------------------------------------------------------


def test_pn532_reads_a_uid_once_per_presentation(board: SimAcBoard) -> None:
    reader: Pn532Reader = make_driver(board, "pn532-reader", 0x24, {})
    assert reader.describe()["chip"] == "pn532"
    assert board.reader.commands[:3] == [0x02, 0x14, 0x32]
    assert reader.poll() is None
    board.reader.present(bytes.fromhex("04a224b2c15e80"))
    token = reader.poll()
    assert token is not None and token.uid == "04a224b2c15e80" and token.type == "ISO14443"
    assert reader.poll() is None  # still on the reader: not presented again
    board.reader.present(None)
    assert reader.poll() is None
    board.reader.present(bytes.fromhex("deadbeef"))
    token = reader.poll()
    assert token is not None and token.uid == "deadbeef"


def test_pn532_nack_is_bus_error(board: SimAcBoard) -> None:
    reader = make_driver(board, "pn532-reader", 0x24, {})
    board.bus.inject_nack(0x24, count=None)
    with pytest.raises(BusError):
        reader.poll()


def test_pn532_missing_chip_fails_setup(board: SimAcBoard) -> None:
    board.bus.detach(0x24)
    with pytest.raises(BusError):
        make_driver(board, "pn532-reader", 0x24, {})


# -- several devices on one chip ------------------------------------------------------------------


def shared_bus(board: SimAcBoard) -> I2cBus:
    bus = I2cBus("i2c1", I2cBusOptions(bus=1), smbus_factory=board.bus.factory)
    bus.setup()
    return bus


def test_two_devices_claiming_one_expander_pin_fail_setup_before_driving_it(board: SimAcBoard) -> None:
    from josev_hal.errors import ConfigError

    bus = shared_bus(board)
    make_driver(board, "mcp23017-contactor", 0x20, CONTACTOR, "evse[0].contactor", bus)
    cls = DRIVERS["mcp23017-rcd"]
    options = msgspec.convert({"trip_pin": 10, "test_pin": 0}, cls.Options)
    rcd = cls(DeviceConfig("evse[0].rcd", options, bus=bus, address=0x20))
    writes = len(board.bus.writes_to(0x20))
    with pytest.raises(ConfigError, match=r"test_pin pin 0 .* already used by evse\[0\]\.contactor"):
        rcd.setup()
    assert len(board.bus.writes_to(0x20)) == writes


def test_released_device_frees_its_pins(board: SimAcBoard) -> None:
    bus = shared_bus(board)
    contactor = make_driver(board, "mcp23017-contactor", 0x20, CONTACTOR, "evse[0].contactor", bus)
    contactor.release()
    lock = make_driver(board, "mcp23017-lock", 0x20, {"lock_pin": 0}, "evse[0].lock", bus)
    lock.lock()
    assert board.gpio.output_level(0) is True


def test_cp_and_pp_on_one_adc_claim_distinct_channels(board: SimAcBoard) -> None:
    from josev_hal.errors import ConfigError

    bus = shared_bus(board)
    make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS, "evse[0].cp", bus)
    make_driver(board, "ads1x15-pp", 0x48, {"channel": 2}, "evse[0].pp", bus)
    with pytest.raises(ConfigError, match="channel pin 1"):
        make_driver(board, "ads1x15-pp", 0x48, {"channel": 1}, "evse[1].pp", bus)


def test_expander_drivers_describe_chip_address_and_pins(board: SimAcBoard) -> None:
    contactor = make_driver(board, "mcp23017-contactor", 0x20, CONTACTOR)
    info = contactor.describe()
    assert info["chip"] == "mcp23017" and info["address"] == "0x20"
    assert info["pin"] == 0 and info["feedback_pin"] == 8
