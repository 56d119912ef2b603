"""Chip identification for ``josev-hal probe i2c`` and registration of the I2C plugin."""

from __future__ import annotations

import msgspec
import pytest
from josev_hal_i2c import DRIVERS
from josev_hal_i2c.identify import identify, scan
from josev_hal_i2c.sim import (
    SimAds1015,
    SimAds1115,
    SimChip,
    SimI2cBus,
    SimMcp23017,
    SimPca9555,
    SimPca9685,
    SimPn532,
    build_ac_board,
)

from josev_hal.buses.i2c import I2cBus, I2cBusOptions
from josev_hal.devices import DeviceConfig
from josev_hal.plugins import get_plugin_manager


def bus_for(sim: SimI2cBus) -> I2cBus:
    bus = I2cBus("i2c1", I2cBusOptions(), smbus_factory=sim.factory)
    bus.setup()
    return bus


def powered_ads(chip: SimChip) -> SimChip:
    assert isinstance(chip, SimAds1115 | SimAds1015)
    chip.connect(0, 1.2345)
    chip.connect(1, 0.4321)
    return chip


@pytest.mark.parametrize(
    "address,chip,expected",
    [
        (0x48, powered_ads(SimAds1115()), "ads1115"),
        (0x49, powered_ads(SimAds1015()), "ads1015"),
        (0x48, SimAds1115(), "ads1x15"),  # all inputs at 0 V: 1115 and 1015 look alike
        (0x20, SimMcp23017(), "mcp23017"),
        (0x27, SimPca9555(), "pca9555"),
        (0x40, SimPca9685(), "pca9685"),
        (0x24, SimPn532(), "pn532"),
    ],
)
def test_identify_names_the_chip_at_power_on(address: int, chip: SimChip, expected: str) -> None:
    assert identify(bus_for(SimI2cBus({address: chip})), address) == expected


def test_identify_nothing_at_an_empty_address() -> None:
    assert identify(bus_for(SimI2cBus()), 0x20) is None


def test_identify_leaves_the_ads_configuration_as_it_was() -> None:
    ads = powered_ads(SimAds1115())
    ads.regs[1] = 0x4383  # some driver's config
    identify(bus_for(SimI2cBus({0x48: ads})), 0x48)
    assert ads.regs[1] == 0x4383


@pytest.mark.parametrize("gpio_chip", ["mcp23017", "pca9555"])
def test_identify_configured_board_read_only_for_expander_and_pwm(gpio_chip: str) -> None:
    """On a running board (drivers configured, contactor closed) identification never writes
    to the expander or the PWM chip and still names every part."""
    from tests.test_i2c_drivers import CONTACTOR, CP_OPTIONS, make_driver

    board = build_ac_board(gpio_chip=gpio_chip)
    board.cp.set_ev_state("B")
    make_driver(board, "ads1x15-cp", 0x48, CP_OPTIONS)
    contactor = make_driver(board, f"{gpio_chip}-contactor", 0x20, CONTACTOR)
    make_driver(board, f"{gpio_chip}-rcd", 0x20, {"trip_pin": 10, "test_pin": 3})
    contactor.close()
    writes_before = {a: len(board.bus.writes_to(a)) for a in (0x20, 0x40)}
    found = scan(bus_for(board.bus))
    assert found == {0x20: gpio_chip, 0x24: "pn532", 0x40: "pca9685", 0x48: "ads1115"}
    for address in (0x20, 0x40):
        new = board.bus.writes_to(address)[writes_before[address] :]
        assert all(len(w) == 1 for w in new), f"identify wrote data to 0x{address:02x}: {new}"
    assert board.gpio.output_level(0) is True  # the contactor stayed closed


# -- registration ---------------------------------------------------------------------------------


def test_plugin_registers_every_i2c_driver_and_the_bus_kind() -> None:
    pm = get_plugin_manager()
    assert pm.bus_kinds["i2c"] is I2cBus
    for name, cls in DRIVERS.items():
        assert pm.drivers[name] is cls
        assert cls.bus_kind == "i2c" and cls.requires_address


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_every_driver_options_reject_unknown_keys(name: str) -> None:
    options_cls = DRIVERS[name].Options
    assert options_cls.__struct_config__.forbid_unknown_fields
    with pytest.raises(msgspec.ValidationError, match="typo_option"):
        msgspec.convert({"typo_option": 1}, options_cls)


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_driver_on_a_non_i2c_bus_fails_setup_with_device_error(name: str) -> None:
    from josev_hal.errors import DeviceError
    from tests.test_i2c_drivers import CP_OPTIONS

    defaults: dict[str, dict[str, object]] = {
        "ads1x15-cp": CP_OPTIONS,
        "ads1x15-pp": {},
        "pn532-reader": {},
        "mcp23017-imd": {"ok_pin": 11},
        "pca9555-imd": {"ok_pin": 11},
    }
    options = defaults.get(name)
    if options is None:
        options = (
            {"pin": 0}
            if "contactor" in name or name.endswith("-input")
            else {"trip_pin": 10}
            if "rcd" in name
            else {"lock_pin": 1}
        )
    cls = DRIVERS[name]
    driver = cls(DeviceConfig("evse[0].x", msgspec.convert(options, cls.Options), bus=object(), address=0x20))
    with pytest.raises(DeviceError, match="needs an i2c bus"):
        driver.setup()
