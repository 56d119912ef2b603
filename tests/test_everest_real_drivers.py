"""Real drivers under EVerest: the shipped Raspberry Pi AC board (ADS1115/MCP23017/PCA9685 on the
register-level I2C simulator, an Iskra WM3M4C as a pymodbus RTU peer on a pty, signing OCMF) and
the shipped DC board (InfyPower modules on python-can ``virtual``, the digital IMD on the
expander, the Acrel DC meter on a pty), each running the emulator's session through mosquitto."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from josev_hal_can.sim import InfyPowerGroupSim
from josev_hal_i2c.sim import SimAcBoard, build_ac_board
from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

from josev_hal.board import Board
from josev_hal.buses.i2c import I2cBus
from josev_hal.buses.pty_line import PtyLine
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.everest.emulator import run_scenario
from tests.support.dc_imd_board import DC_IMD_BOARD, build_dc_imd_i2c
from tests.support.everest_rig import everest_profile, everest_rig, modules_of

REPO = Path(__file__).resolve().parents[1]
AC_BOARD = REPO / "boards" / "rpi-ads1115-mcp23017-sdm630.toml"
DC_BOARD = DC_IMD_BOARD


def _swap(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _wire_i2c(sim: SimAcBoard) -> Callable[[Board], None]:
    def prepare(board: Board) -> None:
        bus = board.buses["i2c1"]
        assert isinstance(bus, I2cBus)
        bus.use_smbus_factory(sim.bus.factory)

    return prepare


def _ev(sim: SimAcBoard, *, cable_ohm: float | None) -> Callable[[str, str], None]:
    """The EV on the simulated CP/PP lines (what sim/cs does for the sim board)."""

    def act(evse_id: str, action: str) -> None:
        if action == "plug":
            sim.pp.rc_ohm = cable_ohm
            sim.cp.set_ev_state("B")
        elif action == "charge":
            sim.cp.set_ev_state("C")
        elif action == "pause":
            sim.cp.set_ev_state("B")
        elif action == "unplug":
            sim.cp.set_ev_state("A")
            sim.pp.rc_ohm = None

    return act


@contextmanager
def _background(step: Callable[[], None], period_s: float = 0.1) -> Iterator[None]:
    """Run ``step`` every ``period_s`` (the physics the register-level simulators leave out)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(period_s):
            step()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(2)


def test_rpi_ac_board_runs_the_ac_session_with_signed_ocmf_under_everest(broker: EmbeddedBroker) -> None:
    sim = build_ac_board(rcd_test_delay_s=0.01)
    meter = SimulatedMeter("wm3m4c", 1, values={"energy_import": 1000.0}, sign_delay_s=0.05)
    energy = [1000.0]

    def load() -> None:  # 16 A on three phases while the contactor coil is driven
        if sim.gpio.output_level(sim.pins["contactor"]):
            energy[0] += 3 * 230 * 16 * 0.1 / 3600
            meter.set_values(energy_import=energy[0])

    with PtyLine(baudrate=9600) as line, ModbusPeer(line.peer_port, [meter]), _background(load):
        text = _swap(
            AC_BOARD.read_text(),
            ('port = "/dev/ttyUSB0"', f'port = "{line.client_port}"'),
            ('options = { model = "sdm630" }', 'options = { model = "wm3m4c", signed_poll_s = 0.02 }'),
        )
        profile = everest_profile(text, source=AC_BOARD.name)
        with everest_rig(broker, profile, prepare=_wire_i2c(sim), sim_control=False) as rig:
            mods = modules_of(profile, 0)
            result = run_scenario(
                rig.emulator, "ac", mods, charge_s=1.5, step_timeout_s=8, ev=_ev(sim, cable_ohm=220.0)
            )
            replies = [t for d, t, _ in rig.events if "stop_transaction reply" in t]
            keys = rig.emulator.messages(mods.powermeter or "", "public_key_ocmf")
    assert result.ok, (result, rig.events[-40:])
    assert replies and '"status":"OK"' in replies[0] and "signed_meter_data" in replies[0], replies
    assert keys and keys[-1].value == meter.signed.public_key_der_b64  # type: ignore[union-attr]
    assert sim.cp.generator()[0] == "f", "CP left at F once the board is released"


def test_dc_board_runs_the_dc_session_under_everest(broker: EmbeddedBroker) -> None:
    channel = f"everest-dc-{uuid.uuid4().hex}"
    sim, _imd = build_dc_imd_i2c()  # the IMD is reached through the expander pins it drives
    meter = SimulatedMeter(
        "acrel_djsf1352rn", 1, values={"dc_voltage": 0.0, "dc_current": 0.0, "energy_import": 100.0}
    )
    energy = [100.0]
    with (
        PtyLine(baudrate=9600) as line,
        ModbusPeer(line.peer_port, [meter]),
        InfyPowerGroupSim(interface="virtual", channel=channel, modules=(0, 1)) as modules,
    ):

        def ev_battery() -> None:
            # The EV closes its own contactors once charging current is asked for (after the
            # pre-charge); before that the output sees no load (cable check, pre-charge).
            asked = sum(m.setpoint_a for m in modules.modules.values() if m.on)
            modules.load_ohm = 4.0 if asked > 10 else None
            if asked > 10 and sim.gpio.output_level(sim.pins["contactor"]):
                energy[0] += 400 * 100 * 0.1 / 3600
                meter.set_values(energy_import=energy[0])

        with _background(ev_battery, 0.05):
            text = _swap(
                DC_BOARD.read_text(),
                ('interface = "socketcan"', 'interface = "virtual"'),
                ('channel = "can0"', f'channel = "{channel}"'),
                ('port = "/dev/ttyUSB0"', f'port = "{line.client_port}"'),
                ("settle_ms = 2000", "settle_ms = 50"),
            )
            profile = everest_profile(text, source=DC_BOARD.name)
            with everest_rig(broker, profile, prepare=_wire_i2c(sim), sim_control=False) as rig:
                mods = modules_of(profile, 0)
                result = run_scenario(
                    rig.emulator, "dc", mods, charge_s=1.5, step_timeout_s=10, ev=_ev(sim, cable_ohm=None)
                )
                measured = rig.emulator.messages(mods.isolation_monitor or "", "isolation_measurement")
    assert result.ok, (result, rig.events[-50:])
    # The digital IMD's "valid" is reported as the band's lower bound at the EVSE's 1000 V.
    assert measured and measured[0].value.resistance_F_Ohm == 500.0 * 1000
    assert not any(m.on for m in modules.modules.values()), "modules switched off at the end"
