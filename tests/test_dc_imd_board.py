"""The shipped DC board ``boards/dc-infypower-imd.toml`` built end to end against simulators:
the I2C parts on the register-level simulated board (with a simulated IMD on the expander), the
InfyPower group on python-can ``virtual``, the Acrel DC meter as a pymodbus RTU peer on a pty."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from josev_hal_can.sim import InfyPowerGroupSim
from josev_hal_i2c.imd import ExpanderImd
from josev_hal_i2c.sim import SimAcBoard, SimImdModule
from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

from josev_hal.board import Board
from josev_hal.buses.i2c import I2cBus
from josev_hal.buses.pty_line import PtyLine
from josev_hal.devices import (
    Contactor,
    ControlPilot,
    DcPowerModule,
    IsolationMonitor,
    IsolationStatus,
    Meter,
    Role,
)
from josev_hal.errors import DeviceError
from josev_hal.messages import payloads as p
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from josev_hal.station.dc import DcPath
from tests.support.dc_imd_board import DC_IMD_BOARD, build_dc_imd_i2c
from tests.support.waiting import eventually, ok

BOARD = DC_IMD_BOARD


@dataclass
class Rig:
    board: Board
    i2c: SimAcBoard
    imd: SimImdModule
    modules: InfyPowerGroupSim
    meter: SimulatedMeter


def board_text(can_channel: str, meter_port: str, settle_ms: int) -> str:
    """The shipped file with only the host-specific lines swapped for the simulators'."""
    text = BOARD.read_text()
    for old, new in (
        ('interface = "socketcan"', 'interface = "virtual"'),
        ('channel = "can0"', f'channel = "{can_channel}"'),
        ('port = "/dev/ttyUSB0"', f'port = "{meter_port}"'),
        ("settle_ms = 2000", f"settle_ms = {settle_ms}"),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def rig() -> Iterator[Rig]:
    channel = f"dc-imd-{uuid.uuid4().hex}"
    meter = SimulatedMeter(
        "acrel_djsf1352rn", 1, values={"dc_voltage": 0.0, "dc_current": 0.0, "energy_import": 12_345.0}
    )
    with (
        PtyLine(baudrate=9600) as line,
        ModbusPeer(line.peer_port, [meter]),
        InfyPowerGroupSim(interface="virtual", channel=channel, modules=(0, 1), load_ohm=8.0) as modules,
    ):
        pm = get_plugin_manager()
        profile = load_profile_text(board_text(channel, line.client_port, settle_ms=50), BOARD.name, pm)
        board = Board.build(profile, pm)
        # The IMD wired as the profile's header says: OK relay low = OK, pre-warning high = warning.
        sim, imd = build_dc_imd_i2c()
        i2c = board.buses["i2c1"]
        assert isinstance(i2c, I2cBus)
        i2c.use_smbus_factory(sim.bus.factory)
        with board:
            yield Rig(board, sim, imd, modules, meter)


def test_dc_board_sets_up_and_its_imd_reads_valid_after_settling(rig: Rig) -> None:
    evse = rig.board.evses[0]
    imd = evse.require(Role.ISOLATION_MONITOR, IsolationMonitor)
    assert rig.i2c.gpio.output_level(5) is False, "IMD not enabled before the cable check"
    assert rig.i2c.gpio.pull_ups() >> 11 & 1 and rig.i2c.gpio.pull_ups() >> 12 & 1
    imd.start()
    first = imd.read()
    assert first.measuring and first.status is IsolationStatus.INVALID
    assert eventually(lambda: imd.read().status is IsolationStatus.VALID)
    assert imd.read().resistance_ohm is None
    rig.imd.warning = True
    assert imd.read().status is IsolationStatus.WARNING
    rig.imd.fault = True
    assert imd.read().status is IsolationStatus.FAULT
    imd.stop()
    assert rig.i2c.gpio.output_level(5) is False


def test_dc_board_setpoint_reaches_the_modules_through_the_closed_contactor(rig: Rig) -> None:
    evse = rig.board.evses[0]
    cp = evse.require(Role.CONTROL_PILOT, ControlPilot)
    contactor = evse.require(Role.CONTACTOR, Contactor)
    power = evse.require(Role.DC_POWER_MODULE, DcPowerModule)
    meter = evse.require(Role.METER, Meter)
    caps = power.capabilities
    assert (caps.max_voltage_v, caps.max_current_a, caps.max_power_w) == (1000.0, 125.0, 50_000.0)
    assert meter.read().energy_import_wh == pytest.approx(12_345.0)
    cp.set_pwm(5.0)  # high-level communication
    rig.i2c.cp.set_ev_state("C")
    assert eventually(lambda: cp.read().positive_v == pytest.approx(6.0, abs=0.1))
    contactor.close()
    assert eventually(lambda: contactor.read().feedback_closed is True)
    power.set_target(400.0, 40.0)
    power.enable(True)
    assert eventually(lambda: all(m.on and m.setpoint_a == 20.0 for m in rig.modules.modules.values()))
    assert eventually(lambda: (s := ok(power.read)) is not None and s.enabled and s.voltage_v > 300)
    # The DC meter on the output reports what the modules deliver (served here by its simulator
    # at the meter's own decimal points).
    rig.meter.set_values(dc_voltage=400.0, dc_current=40.0, power_total=16_000.0)
    rig.meter.set_exponents(dc_voltage=1, dc_current=2, power_total=4)
    reading = meter.read()
    assert (reading.dc_voltage_v, reading.dc_current_a, reading.power_w) == pytest.approx(
        (400.0, 40.0, 16_000.0)
    )
    power.enable(False)
    contactor.open()
    assert eventually(lambda: not any(m.on for m in rig.modules.modules.values()))


def test_dc_board_imd_self_test_passes_on_the_simulated_imd(rig: Rig) -> None:
    imd = rig.board.evses[0].require(Role.ISOLATION_MONITOR, ExpanderImd)
    assert imd.self_test() is True
    rig.imd.test_works = False
    assert imd.self_test(timeout_s=0.6) is False


class Faults:
    def __init__(self) -> None:
        self.active: dict[str, p.HardwareFaultName] = {}

    def set_fault(self, key: str, component: str, name: p.HardwareFaultName, detail: str) -> None:
        self.active[key] = name

    def clear_fault(self, key: str) -> None:
        self.active.pop(key, None)

    def link_fault(self, what: str, exc: DeviceError) -> None:
        self.active[f"link:{what}"] = p.HardwareFaultName.OTHER


@pytest.mark.parametrize(
    ("fault", "level"),
    [(False, p.IsolationLevel.VALID), (True, p.IsolationLevel.FAULT)],
)
def test_cable_check_finishes_with_the_digital_imd(rig: Rig, fault: bool, level: p.IsolationLevel) -> None:
    """The station's DC path must not wait for a resistance this IMD never gives."""
    evse = rig.board.evses[0]
    imd = evse.require(Role.ISOLATION_MONITOR, IsolationMonitor)
    faults = Faults()
    dc = DcPath(evse.id, None, imd, faults, precharge_current_a=2.0)
    rig.imd.fault = fault
    started = dc.cable_check(p.CableCheckAction.START, None)
    assert started.cable_check_status is p.CableCheckStatus.ONGOING
    assert dc.cable_check(p.CableCheckAction.STATUS, None).cable_check_status is p.CableCheckStatus.ONGOING

    def finished() -> bool:
        return (
            dc.cable_check(p.CableCheckAction.STATUS, None).cable_check_status is p.CableCheckStatus.FINISHED
        )

    assert eventually(finished)
    assert dc.cable_check(p.CableCheckAction.STATUS, None).isolation_level is level
    assert ("isolation" in faults.active) is fault
