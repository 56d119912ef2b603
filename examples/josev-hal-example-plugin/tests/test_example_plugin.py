"""The example plugin tested the way any plugin package tests itself: its driver through the
driver contract of josev_hal.testing (against its bus-level simulator), its board through
`josev-hal check`, and its meter model file read by the real modbus-meter driver."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from josev_hal_example import Pcf8574Contactor, Pcf8574ContactorOptions
from josev_hal_example.sim import SimPcf8574, SimRelayContactor

from josev_hal.buses.i2c import I2cBus, I2cBusOptions
from josev_hal.buses.i2c_sim import SimI2cBus
from josev_hal.devices import DeviceConfig, Driver
from josev_hal.errors import ProfileError
from josev_hal.plugins import HalPluginManager
from josev_hal.profile import load_profile_text
from josev_hal.testing import ContractEnv, driver_contract_tests

ADDRESS = 0x27


@contextmanager
def _relay_contactor(env: ContractEnv) -> Iterator[Driver]:
    chip = SimPcf8574()
    sim = SimI2cBus({ADDRESS: chip})
    contactor = SimRelayContactor(chip, coil_pin=0)
    chip.connect(4, contactor.feedback_level)
    env.peer.weld = lambda on: setattr(contactor, "welded", on)
    env.peer.stick_open = lambda on: setattr(contactor, "stuck_open", on)

    def disconnect(down: bool) -> None:
        if down:
            sim.inject_nack(ADDRESS, count=None)
        else:
            sim.clear_faults()

    env.peer.disconnect = disconnect
    bus = I2cBus("i2c1", I2cBusOptions(bus=1), smbus_factory=sim.factory)
    bus.setup()
    options = Pcf8574ContactorOptions(coil_pin=0, feedback_pin=4)
    driver = Pcf8574Contactor(
        DeviceConfig(device_id=f"contract.{env.driver_name}", options=options, bus=bus, address=ADDRESS)
    )
    driver.setup()
    try:
        yield driver
    finally:
        driver.release()
        bus.release()


FACTORIES = {"example-pcf8574-contactor": _relay_contactor}

# Every driver this distribution registers, through the same contract josev-hal's drivers pass.
test_driver_contract = driver_contract_tests(FACTORIES, distribution="josev-hal-example-plugin")


def test_the_relay_really_drives_the_coil_pin_active_low(hal_contract_env: ContractEnv) -> None:
    with _relay_contactor(hal_contract_env) as driver:
        assert isinstance(driver, Pcf8574Contactor)
        driver.close()
        chip = driver.config.bus._smbus.chips[ADDRESS]  # the simulated chip behind the bus
        assert chip.latch == 0xFE  # pin 0 low = relay energised, every other pin left at 1
        driver.open()
        assert chip.latch == 0xFF


BOARD = """
[station]
vendor = "Example"
model = "Relay wallbox"
sw_version = "1.0.0"
hw_version = "A"

[safety]
rcd_trip = "hardware"
cp_loss_shutdown = "hal"
welding_detection = "hal"

[buses.i2c1]
kind = "i2c"
bus = 1

[[evse]]
id = "DE*EXA*E0001"
ocpp_id = 1
kind = "ac"
network_interface = "eth1"
max_current_a = 16
  [[evse.connectors]]
  id = 1
  ocpp_type = "cType2"
  iso15118_type = "AC_three_phase_core"
  services = ["ac"]
  cable = "fixed"
  max_cable_current_a = 16
  [evse.devices.cp]
  driver = "sim-cp"
  [evse.devices.meter]
  driver = "sim-meter"
  [evse.devices.contactor]
  driver = "example-pcf8574-contactor"
  bus = "i2c1"
  address = 0x27
  options = { coil_pin = 0, feedback_pin = 4 }
"""


def test_a_board_with_the_driver_checks_and_a_pin_clash_is_reported(
    hal_plugin_manager: HalPluginManager,
) -> None:
    profile = load_profile_text(BOARD, "boards/example.toml", hal_plugin_manager)
    assert profile.evse[0].devices["contactor"].options == Pcf8574ContactorOptions(coil_pin=0, feedback_pin=4)
    # A lock on the same module, wired by mistake to the contactor's feedback pin.
    clash = (
        BOARD.replace("  [evse.devices.meter]", "  [evse.devices.meter]")
        + """
[[evse]]
id = "DE*EXA*E0002"
ocpp_id = 2
kind = "ac"
network_interface = "eth2"
max_current_a = 16
  [[evse.connectors]]
  id = 1
  ocpp_type = "cType2"
  iso15118_type = "AC_three_phase_core"
  services = ["ac"]
  cable = "fixed"
  max_cable_current_a = 16
  [evse.devices.cp]
  driver = "sim-cp"
  [evse.devices.meter]
  driver = "sim-meter"
  [evse.devices.contactor]
  driver = "example-pcf8574-contactor"
  bus = "i2c1"
  address = 0x27
  options = { coil_pin = 4 }
"""
    )
    with pytest.raises(ProfileError) as info:
        load_profile_text(clash, "boards/example.toml", hal_plugin_manager)
    assert any(
        "evse[1].devices.contactor.options.coil_pin: pin 4 of the chip at 0x27 on bus 'i2c1' is already used "
        "by evse[0].devices.contactor.options.feedback_pin" in p
        for p in info.value.problems
    ), info.value.problems


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("josev-hal")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60)


def test_josev_hal_plugins_lists_the_example() -> None:
    proc = _cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    (example,) = [p for p in json.loads(proc.stdout) if p["name"] == "example"]
    assert example["distribution"] == "josev-hal-example-plugin"
    assert example["drivers"] == ["example-pcf8574-contactor"]


def test_the_shipped_meter_model_is_read_by_the_modbus_meter_driver() -> None:
    from josev_hal_modbus import available_models
    from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions
    from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

    from josev_hal.buses.pty_line import PtyLine
    from josev_hal.buses.serial import SerialBus, SerialBusOptions

    assert "example_em1" in available_models()
    sim = SimulatedMeter("example_em1", unit=7, values={"voltage_l1": 231.5, "energy_import": 42_000.0})
    with PtyLine(baudrate=9600) as line, ModbusPeer(line.peer_port, [sim]):
        bus = SerialBus("rs485", SerialBusOptions(port=line.client_port, baudrate=9600, timeout_s=0.25))
        meter = ModbusMeter(
            DeviceConfig(
                device_id="example.meter", options=ModbusMeterOptions(model="example_em1"), bus=bus, address=7
            )
        )
        meter.setup()
        try:
            reading = meter.read()
        finally:
            meter.release()
            bus.release()
    assert reading.voltage_v is not None and reading.voltage_v.l1 == pytest.approx(231.5)
    assert reading.energy_import_wh == pytest.approx(42_000.0)
