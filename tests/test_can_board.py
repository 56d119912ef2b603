"""A DC board built from a profile: InfyPower modules on CAN (``virtual``) and CP/contactor behind
a safety MCU (pty), both through ``Board.build`` / ``Board.setup`` like the daemon does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from josev_hal_can.sim import InfyPowerGroupSim
from josev_hal_mculink.sim import McuSim

from josev_hal.board import Board
from josev_hal.devices import ContactorSample, CpSample, DcSample, Role
from josev_hal.errors import ProfileError
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from tests.support.waiting import eventually, ok

PROFILE = """[station]
vendor = "Acme"
model = "DC 50"
serial_number = "ACME-DC-1"
sw_version = "0.1.0"
hw_version = "rev-A"

[mqtt]
broker = "mqtt://127.0.0.1:1883"

[safety]
rcd_trip = "hardware"
cp_loss_shutdown = "hardware"
welding_detection = "hal"
open_on_meter_loss = false
open_on_board_link_loss = true
rcd_reset = "manual"

[buses.mcu]
kind = "serial"
port = "@MCU_PORT@"
baudrate = 115200

[buses.can0]
kind = "can"
interface = "virtual"
channel = "@CAN_CHANNEL@"
bitrate = 125000

[[evse]]
id = "DE*ACM*E0001"
ocpp_id = 1
kind = "dc"
network_interface = "eth1"
supports_eim = true
max_power_w = 50000

  [evse.dc]
  max_voltage_v = 1000
  min_voltage_v = 150
  max_current_a = 120
  min_current_a = 0
  max_power_w = 50000

  [[evse.connectors]]
  id = 1
  ocpp_type = "cCCS2"
  iso15118_type = "DC_extended"
  services = ["dc"]
  cable = "fixed"
  max_cable_current_a = 125

  [evse.devices.cp]
  driver = "mcu-cp"
  bus = "mcu"

  [evse.devices.contactor]
  driver = "mcu-contactor"
  bus = "mcu"
  options = { has_feedback = true }

  [evse.devices.meter]
  driver = "sim-meter"
  options = { kind = "dc" }

  [evse.devices.isolation_monitor]
  driver = "sim-imd"

  [evse.devices.power_module]
  driver = "infypower-dc"
  bus = "can0"

    [evse.devices.power_module.options]
    modules = [0, 1]
    group = 1
    module_max_voltage_v = 1000
    module_min_voltage_v = 150
    module_max_current_a = 60
    module_max_power_w = 25000
    poll_interval_s = 0.05
    offline_after_s = 0.5
"""


@pytest.fixture
def dc_board() -> Iterator[tuple[Board, InfyPowerGroupSim, McuSim]]:
    channel = f"board-{uuid.uuid4().hex}"
    with (
        McuSim(status_interval_s=0.05) as mcu,
        InfyPowerGroupSim(interface="virtual", channel=channel, modules=(0, 1), load_ohm=8.0) as modules,
    ):
        text = PROFILE.replace("@MCU_PORT@", mcu.port).replace("@CAN_CHANNEL@", channel)
        pm = get_plugin_manager()
        board = Board.build(load_profile_text(text, "dc-infypower-mcu.toml", pm), pm)
        with board:
            yield board, modules, mcu


def test_dc_board_from_profile_charges_through_can_modules_and_mcu_relays(
    dc_board: tuple[Board, InfyPowerGroupSim, McuSim],
) -> None:
    board, modules, mcu = dc_board
    evse = board.evses[0]
    cp = evse.devices[Role.CONTROL_PILOT]
    contactor = evse.devices[Role.CONTACTOR]
    power = evse.devices[Role.DC_POWER_MODULE]
    assert eventually(lambda: isinstance(ok(cp.read), CpSample) and isinstance(ok(power.read), DcSample))
    cp.set_pwm(5.0)  # DC: high-level communication
    mcu.set_ev_state("C")
    contactor.close()
    assert eventually(lambda: (s := ok(contactor.read)) is not None and s.feedback_closed is True)
    assert isinstance(contactor.read(), ContactorSample)
    power.set_target(400.0, 100.0)  # 8 ohm load: 50 A at 400 V
    power.enable(True)
    assert eventually(lambda: (s := ok(power.read)) is not None and s.enabled and s.current_a > 49)
    sample = power.read()
    assert sample.voltage_v == pytest.approx(400.0)
    assert sample.current_a == pytest.approx(50.0)
    assert [m.setpoint_a for m in modules.modules.values()] == [50.0, 50.0]
    power.enable(False)
    contactor.open()
    assert eventually(lambda: not any(m.on for m in modules.modules.values()) and not mcu.contactor_closed)


def test_board_release_leaves_modules_off_and_the_mcu_failing_safe(
    dc_board: tuple[Board, InfyPowerGroupSim, McuSim],
) -> None:
    board, modules, mcu = dc_board
    power = board.evses[0].devices[Role.DC_POWER_MODULE]
    assert eventually(lambda: ok(power.read) is not None and not mcu.failsafe)
    power.set_target(400.0, 10.0)
    power.enable(True)
    assert eventually(lambda: all(m.on for m in modules.modules.values()))
    board.release()
    assert eventually(lambda: not any(m.on for m in modules.modules.values()))
    assert eventually(lambda: mcu.failsafe)  # no keep-alive any more


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("modules = [0, 1]", "modules = [0, 70]", "power_module.options.modules: address 70 outside 0..62"),
        ("offline_after_s = 0.5", "offline_after_s = 0.01", "must be longer than poll_interval_s"),
    ],
)
def test_profile_check_reports_option_rules_at_the_key(old: str, new: str, message: str) -> None:
    text = PROFILE.replace("@MCU_PORT@", "/dev/null").replace("@CAN_CHANNEL@", "x").replace(old, new)
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, "dc.toml", get_plugin_manager())
    assert any(message in problem and problem.startswith("dc.toml:") for problem in info.value.problems)


def test_the_same_group_options_are_valid_for_winline() -> None:
    text = PROFILE.replace("@MCU_PORT@", "/dev/null").replace("@CAN_CHANNEL@", "x")
    text = text.replace('driver = "infypower-dc"', 'driver = "winline-dc"')
    profile = load_profile_text(text, "dc.toml", get_plugin_manager())
    assert profile.evse[0].devices[Role.DC_POWER_MODULE].driver == "winline-dc"
