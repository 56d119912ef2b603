"""The shipped Raspberry Pi AC board profile drives the simulated AC board end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from josev_hal_i2c.sim import build_ac_board

from josev_hal.board import Board
from josev_hal.buses.i2c import I2cBus
from josev_hal.devices import Contactor, ControlPilot, CpMode, ProximityPilot, Rcd, Role
from josev_hal.errors import BusError
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile

BOARD = Path(__file__).resolve().parents[1] / "boards" / "rpi-ads1115-mcp23017-sdm630.toml"


def test_rpi_board_profile_drives_the_simulated_ac_board() -> None:
    pm = get_plugin_manager()
    board = Board.build(load_profile(BOARD, pm), pm)
    sim = build_ac_board(rcd_test_delay_s=0.01)
    i2c = board.buses["i2c1"]
    assert isinstance(i2c, I2cBus)
    i2c.use_smbus_factory(sim.bus.factory)
    i2c.setup()
    evse = board.evses[0]
    i2c_devices = [d for d in evse.devices.values() if d.bus_kind == "i2c"]
    try:
        for driver in i2c_devices:
            driver.setup()
        cp = evse.require(Role.CONTROL_PILOT, ControlPilot)
        pp = evse.require(Role.PROXIMITY_PILOT, ProximityPilot)
        contactor = evse.require(Role.CONTACTOR, Contactor)
        rcd = evse.require(Role.RCD, Rcd)
        assert sim.pwm.regs[0xFE] == 5  # 1 kHz CP
        sim.cp.set_ev_state("C")
        sim.pp.rc_ohm = 220.0
        cp.set_pwm(53.33)
        sample = cp.read()
        assert sample.positive_v == pytest.approx(6.0, abs=0.05)  # profile scaling 0.122 / 1.7132
        assert sample.negative_v == pytest.approx(-12.0, abs=0.05)
        assert cp.output.mode is CpMode.PWM
        assert pp.read().resistance_ohm == pytest.approx(220.0, rel=0.01)
        contactor.close()
        assert sim.gpio.output_level(0) is True
        assert sim.gpio.pull_ups() >> 8 & 1  # feedback_pull_up from the profile
        contactor.open()
        assert rcd.read().tripped is False
    finally:
        for driver in reversed(i2c_devices):
            driver.release()
        i2c.release()
    assert sim.cp.generator() == ("f", None)  # CP left at state F on release


def test_smbus_factory_cannot_be_swapped_on_an_open_bus() -> None:
    sim = build_ac_board()
    from josev_hal.buses.i2c import I2cBusOptions

    bus = I2cBus("i2c1", I2cBusOptions(), smbus_factory=sim.bus.factory)
    bus.setup()
    with pytest.raises(BusError, match="already open"):
        bus.use_smbus_factory(sim.bus.factory)


def test_probe_lines_list_the_chips_and_flag_a_wrong_expander() -> None:
    from josev_hal_i2c import hal_probe_lines

    pm = get_plugin_manager()
    board = Board.build(load_profile(BOARD, pm), pm)
    sim = build_ac_board(gpio_chip="pca9555")  # the profile says MCP23017
    i2c = board.buses["i2c1"]
    assert isinstance(i2c, I2cBus)
    i2c.use_smbus_factory(sim.bus.factory)
    i2c.setup()
    try:
        lines = hal_probe_lines(board)
    finally:
        i2c.release()
    assert lines is not None
    assert lines[0] == "i2c1: 0x20 pca9555, 0x24 pn532, 0x40 pca9685, 0x48 ads1115"
    assert "  evse[0].contactor: expects mcp23017 at 0x20, found pca9555" in lines
    assert not any("evse[0].cp" in line for line in lines)


def test_readme_i2c_example_options_are_valid() -> None:
    import tomllib

    import msgspec
    from josev_hal_i2c import DRIVERS

    from josev_hal.buses.i2c import I2cBusOptions

    readme = (BOARD.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Supported I2C chips") :]
    start = section.index("```toml\n") + len("```toml\n")
    example = tomllib.loads(section[start : section.index("```", start)])
    bus = dict(example["buses"]["i2c1"])
    assert bus.pop("kind") == "i2c"
    msgspec.convert(bus, I2cBusOptions)
    for device in example["evse"]["devices"].values():
        msgspec.convert(device["options"], DRIVERS[device["driver"]].Options)
