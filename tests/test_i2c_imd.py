"""``mcp23017-imd`` / ``pca9555-imd``: an insulation monitor's relay outputs and inputs on an
expander, against the register-level expander simulator with a :class:`SimImdModule` wired to
its pins."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from josev_hal_i2c import DRIVERS
from josev_hal_i2c.imd import ExpanderImd, ImdOptions
from josev_hal_i2c.sim import SimAcBoard, SimImdModule, build_ac_board

from josev_hal.buses.i2c import I2cBus, I2cBusOptions
from josev_hal.devices import DeviceConfig, IsolationStatus
from josev_hal.errors import ConfigError, DeviceError

OK_PIN, WARNING_PIN, ENABLE_PIN, TEST_PIN = 11, 12, 5, 6


class ManualClock:
    """The driver's settling clock, advanced by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    board: SimAcBoard
    imd: SimImdModule
    driver: ExpanderImd
    clock: ManualClock


def make_rig(
    chip: str = "mcp23017",
    *,
    options: dict[str, Any] | None = None,
    ok_level: bool = True,
    warning_level: bool = True,
    enable_active: bool = True,
    test_active: bool = True,
) -> Iterator[Rig]:
    board = build_ac_board(gpio_chip=chip)
    imd = SimImdModule().wire(
        board.gpio,
        ok_pin=OK_PIN,
        warning_pin=WARNING_PIN,
        enable_pin=ENABLE_PIN,
        test_pin=TEST_PIN,
        ok_level=ok_level,
        warning_level=warning_level,
        enable_active=enable_active,
        test_active=test_active,
        startup_s=0.01,
        test_delay_s=0.005,
    )
    opts: dict[str, Any] = {
        "ok_pin": OK_PIN,
        "warning_pin": WARNING_PIN,
        "enable_pin": ENABLE_PIN,
        "test_pin": TEST_PIN,
        "settle_ms": 2000.0,
        "test_pulse_ms": 20.0,
        "test_timeout_ms": 1000.0,
        **(options or {}),
    }
    bus = I2cBus("i2c1", I2cBusOptions(bus=1), smbus_factory=board.bus.factory)
    bus.setup()
    cls = DRIVERS[f"{chip}-imd"]
    driver = cls(
        DeviceConfig(
            device_id="evse[0].isolation_monitor",
            options=msgspec.convert(opts, cls.Options),
            bus=bus,
            address=0x20,
            plugin="i2c",
        )
    )
    assert isinstance(driver, ExpanderImd)
    clock = ManualClock()
    driver.clock = clock
    driver.setup()
    try:
        yield Rig(board, imd, driver, clock)
    finally:
        driver.release()
        bus.release()


@pytest.fixture(params=["mcp23017", "pca9555"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    yield from make_rig(request.param)


def settle(rig: Rig) -> None:
    """Start, let the simulated IMD finish its start-up and the driver's settling window pass."""
    rig.driver.start()
    time.sleep(0.03)  # SimImdModule start-up (10 ms) is real time: the enable line's history
    rig.clock.now += 2.0


def status(rig: Rig) -> IsolationStatus:
    return rig.driver.read().status


def test_status_is_invalid_until_settle_ms_after_start(rig: Rig) -> None:
    rig.driver.start()
    time.sleep(0.03)
    first = rig.driver.read()
    assert first.measuring and first.status is IsolationStatus.INVALID
    rig.clock.now += 1.999
    assert status(rig) is IsolationStatus.INVALID
    rig.clock.now += 0.002
    sample = rig.driver.read()
    assert sample.status is IsolationStatus.VALID and sample.measuring


def test_not_measuring_and_invalid_before_start_and_after_stop(rig: Rig) -> None:
    before = rig.driver.read()
    assert not before.measuring and before.status is IsolationStatus.INVALID
    settle(rig)
    assert status(rig) is IsolationStatus.VALID
    rig.driver.stop()
    after = rig.driver.read()
    assert not after.measuring and after.status is IsolationStatus.INVALID


def test_restart_opens_a_new_settling_window(rig: Rig) -> None:
    settle(rig)
    assert status(rig) is IsolationStatus.VALID
    rig.driver.start()
    assert status(rig) is IsolationStatus.INVALID


@pytest.mark.parametrize(
    ("fault", "warning", "expected"),
    [
        (False, False, IsolationStatus.VALID),
        (False, True, IsolationStatus.WARNING),
        (True, False, IsolationStatus.FAULT),
        (True, True, IsolationStatus.FAULT),
    ],
)
def test_status_follows_ok_and_warning_lines(
    rig: Rig, fault: bool, warning: bool, expected: IsolationStatus
) -> None:
    settle(rig)
    rig.imd.fault, rig.imd.warning = fault, warning
    assert status(rig) is expected


def test_resistance_is_never_reported(rig: Rig) -> None:
    assert rig.driver.read().resistance_ohm is None
    settle(rig)
    assert rig.driver.read().resistance_ohm is None


def test_fault_goes_back_to_valid_when_the_imd_recovers(rig: Rig) -> None:
    settle(rig)
    rig.imd.fault = True
    assert status(rig) is IsolationStatus.FAULT
    rig.imd.fault = False
    assert status(rig) is IsolationStatus.VALID


def test_without_warning_pin_only_the_ok_line_counts() -> None:
    for rig in make_rig(options={"warning_pin": None}):
        settle(rig)
        rig.imd.warning = True
        assert status(rig) is IsolationStatus.VALID
        rig.imd.fault = True
        assert status(rig) is IsolationStatus.FAULT


def test_fault_while_settling_is_not_reported_yet(rig: Rig) -> None:
    rig.imd.fault = True
    rig.driver.start()
    assert status(rig) is IsolationStatus.INVALID
    rig.clock.now += 2.0
    assert status(rig) is IsolationStatus.FAULT


@pytest.mark.parametrize("active", ["high", "low"])
def test_enable_output_follows_start_and_stop(active: str) -> None:
    on = active == "high"
    for rig in make_rig(options={"enable_active": active}, enable_active=on):
        gpio = rig.board.gpio
        assert gpio.output_level(ENABLE_PIN) is (not on), "inactive after setup"
        assert gpio.output_level(TEST_PIN) is False
        rig.driver.start()
        assert gpio.output_level(ENABLE_PIN) is on
        time.sleep(0.03)
        assert rig.imd.measuring()
        rig.driver.stop()
        assert gpio.output_level(ENABLE_PIN) is (not on)
        assert not rig.imd.measuring()


def test_release_stops_the_measurement() -> None:
    for rig in make_rig():
        rig.driver.start()
        rig.driver.release()
        assert rig.board.gpio.output_level(ENABLE_PIN) is False
        rig.driver.release()  # idempotent


def test_enable_line_off_after_start_reads_fault_once_settled(rig: Rig) -> None:
    """An IMD whose enable wire is broken never leaves its start-up alarm: fault, never valid."""
    rig.imd.enable = lambda: False
    settle(rig)
    assert status(rig) is IsolationStatus.FAULT


@pytest.mark.parametrize(("ok_level", "warning_level"), [("low", "low"), ("low", "high"), ("high", "low")])
def test_polarity_options_name_the_meaning_of_each_level(ok_level: str, warning_level: str) -> None:
    options = {"ok_level": ok_level, "warning_level": warning_level}
    for rig in make_rig(options=options, ok_level=ok_level == "high", warning_level=warning_level == "high"):
        settle(rig)
        assert status(rig) is IsolationStatus.VALID
        rig.imd.warning = True
        assert status(rig) is IsolationStatus.WARNING
        rig.imd.fault = True
        assert status(rig) is IsolationStatus.FAULT


def test_mcp23017_pull_up_option_enables_the_chip_pull_up() -> None:
    for rig in make_rig(options={"ok_pull_up": True}):
        assert rig.board.gpio.pull_ups() >> OK_PIN & 1
        assert not rig.board.gpio.pull_ups() >> WARNING_PIN & 1


def test_self_test_passes_when_the_alarm_comes_and_clears(rig: Rig) -> None:
    assert rig.driver.self_test() is True
    assert rig.board.gpio.output_level(TEST_PIN) is False
    # Started by the test only: the measurement is off again afterwards.
    assert rig.board.gpio.output_level(ENABLE_PIN) is False


def test_self_test_keeps_a_running_measurement_running(rig: Rig) -> None:
    settle(rig)
    assert rig.driver.self_test() is True
    assert rig.board.gpio.output_level(ENABLE_PIN) is True
    assert status(rig) is IsolationStatus.VALID


def test_self_test_fails_when_the_test_raises_no_alarm(rig: Rig) -> None:
    rig.imd.test_works = False
    assert rig.driver.self_test(timeout_s=0.1) is False
    assert rig.board.gpio.output_level(TEST_PIN) is False


def test_self_test_fails_when_the_alarm_does_not_clear(rig: Rig) -> None:
    settle(rig)
    test_line = rig.imd.test
    assert test_line is not None
    stuck = {"on": False}

    def latched() -> bool:
        stuck["on"] = stuck["on"] or bool(test_line())
        return stuck["on"]

    rig.imd.test = latched  # an IMD whose alarm latches after the test
    assert rig.driver.self_test(timeout_s=0.2) is False


def test_self_test_refused_while_a_fault_is_present(rig: Rig) -> None:
    settle(rig)
    rig.imd.fault = True
    assert rig.driver.self_test(timeout_s=0.1) is False
    assert rig.board.gpio.output_level(TEST_PIN) is False


@pytest.mark.parametrize("active", ["high", "low"])
def test_self_test_expecting_the_prewarning_with_active_low_test_input(active: str) -> None:
    options = {"test_alarm": "warning", "test_active": active}
    for rig in make_rig(options=options, test_active=active == "high"):
        assert rig.board.gpio.output_level(TEST_PIN) is (active == "low"), "test input idle"
        assert rig.driver.self_test() is True


def test_self_test_impossible_without_test_pin() -> None:
    for rig in make_rig(options={"test_pin": None}):
        assert rig.driver.self_test() is False


def test_bus_failure_raises_instead_of_reporting_a_status(rig: Rig) -> None:
    settle(rig)
    rig.board.bus.inject_nack(0x20, count=None)
    with pytest.raises(DeviceError):
        rig.driver.read()
    rig.board.bus.clear_faults()
    assert status(rig) is IsolationStatus.VALID


def test_pins_clash_with_another_device_on_the_expander_at_setup() -> None:
    board = build_ac_board()
    bus = I2cBus("i2c1", I2cBusOptions(bus=1), smbus_factory=board.bus.factory)
    bus.setup()
    contactor_cls, imd_cls = DRIVERS["mcp23017-contactor"], DRIVERS["mcp23017-imd"]

    def build(cls: Any, device_id: str, options: dict[str, Any]) -> Any:
        return cls(
            DeviceConfig(
                device_id=device_id, options=msgspec.convert(options, cls.Options), bus=bus, address=0x20
            )
        )

    contactor = build(contactor_cls, "evse[0].contactor", {"pin": 0, "feedback_pin": 8})
    imd = build(imd_cls, "evse[0].isolation_monitor", {"ok_pin": 8})
    contactor.setup()
    try:
        with pytest.raises(ConfigError, match=r"ok_pin pin 8 .* already used by evse\[0\]\.contactor"):
            imd.setup()
    finally:
        imd.release()
        contactor.release()
        bus.release()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ok_pin": 16}, "ok_pin"),
        ({"ok_pin": 3, "test_pin": 3}, "test_pin"),
        ({"ok_pin": 3, "test_alarm": "warning"}, "warning_pin"),
        ({"ok_pin": 3, "settle_ms": -1}, "settle_ms"),
        ({"ok_pin": 3, "test_pulse_ms": 500, "test_timeout_ms": 100}, "test_timeout_ms"),
        ({"ok_pin": 3, "ok_level": "up"}, "ok_level"),
    ],
)
def test_bad_options_are_refused_with_the_option_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(options, ImdOptions)


def test_pca9555_options_have_no_pull_ups() -> None:
    with pytest.raises(msgspec.ValidationError, match="ok_pull_up"):
        msgspec.convert({"ok_pin": 3, "ok_pull_up": True}, DRIVERS["pca9555-imd"].Options)


def test_drivers_registered_with_shareable_address() -> None:
    for name in ("mcp23017-imd", "pca9555-imd"):
        cls = DRIVERS[name]
        assert cls.address_shareable is True
        assert cls.bus_kind == "i2c"
