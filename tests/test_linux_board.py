"""boards/linux-gpio-iio-pwm.toml end to end: the profile as shipped (only the device paths pointed
at the simulation), the simulated Linux SoC I/O (gpiod double + temporary sysfs), a DTSU666 on a
pty served by pymodbus, the station core and a real mosquitto with a Josev peer."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from josev_hal_linux import LinuxBus
from josev_hal_linux.sim import SimLinuxAcBoard
from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

from josev_hal.board import Board
from josev_hal.buses.pty_line import PtyLine
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from josev_hal.station import Station
from tests.support.broker import JosevPeer
from tests.support.contract import Contract
from tests.support.waiting import eventually

BOARD = Path(__file__).resolve().parents[1] / "boards" / "linux-gpio-iio-pwm.toml"
EVSE = "DE*ACM*E0001"

pytestmark = pytest.mark.timeout(90)


def board_text(sim: SimLinuxAcBoard, meter_port: str) -> str:
    text = BOARD.read_text()
    for old, new in (
        ('gpio_dev_dir = "/dev"', f'gpio_dev_dir = "{sim.dev_dir}"'),
        ('sysfs_root = "/sys"', f'sysfs_root = "{sim.sysfs_root}"'),
        ('port = "/dev/ttymxc0"', f'port = "{meter_port}"'),
        ("interval_s = 2\n", "interval_s = 0.1\n"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_shipped_profile_passes_check() -> None:
    profile = load_profile_text(BOARD.read_text(), str(BOARD), get_plugin_manager())
    drivers = {role.value: d.driver for role, d in profile.evse[0].devices.items()}
    assert drivers == {
        "cp": "linux-cp",
        "pp": "iio-pp",
        "contactor": "gpio-contactor",
        "rcd": "gpio-rcd",
        "lock": "gpio-lock",
        "temperature": "linux-temperature",
        "meter": "modbus-meter",
    }
    assert [(step.above_c, step.limit_a) for step in profile.derating.steps] == [(60, 20), (70, 13), (75, 6)]


class Rig:
    def __init__(self, sim: SimLinuxAcBoard, meter: SimulatedMeter, peer: JosevPeer, board: Board) -> None:
        self.sim, self.meter, self.peer, self.board = sim, meter, peer, board

    def request(self, name: str, data: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        msg = {"id": str(uuid.uuid4()), "name": name, "type": "request", "data": data}
        return self.peer.request(msg, timeout)["data"]  # type: ignore[no-any-return]

    def update(self, name: str, data: dict[str, Any]) -> None:
        self.peer.send({"id": str(uuid.uuid4()), "name": name, "type": "update", "data": data})

    def updates(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.peer.messages() if m["name"] == name and m["type"] == "update"]

    def wait_cp(self, state: str) -> None:
        self.peer.wait_for(
            lambda ms: any(
                m["name"] == "cp_status" and m["type"] == "update" and m["data"]["state"] == state for m in ms
            ),
            8.0,
        )

    def wait_contactor(self, status: str) -> None:
        def last(ms: list[dict[str, Any]]) -> bool:
            found = [
                m["data"]["status"]
                for m in ms
                if m["name"] == "cs_contactor_status" and m["type"] == "update"
            ]
            return bool(found) and found[-1] == status

        self.peer.wait_for(last, 8.0)


@pytest.fixture
def rig(broker: EmbeddedBroker, bridge_factory: Callable[..., Any], tmp_path: Path) -> Iterator[Rig]:
    meter = SimulatedMeter(
        "dtsu666",
        unit=1,
        values={
            "voltage_l1": 230.0,
            "voltage_l2": 230.0,
            "voltage_l3": 230.0,
            "energy_import": 1000.0,
            "frequency": 50.0,
        },
    )
    with (
        SimLinuxAcBoard(tmp_path) as sim,
        PtyLine(baudrate=9600) as line,
        ModbusPeer(line.peer_port, [meter]),
    ):
        pm = get_plugin_manager()
        profile = load_profile_text(board_text(sim, line.client_port), str(BOARD), pm)
        board = Board.build(profile, pm)
        soc = board.buses["soc"]
        assert isinstance(soc, LinuxBus)
        soc.use_gpiod(sim.gpiod)
        board.setup()
        peer = JosevPeer(broker)
        bridge = bridge_factory(start=False)
        station = Station(profile, board, bridge)
        station.register()
        bridge.start(wait_s=10)
        station.start()
        try:
            yield Rig(sim, meter, peer, board)
        finally:
            station.stop()
            bridge.stop()
            peer.close()
            board.release()


def test_ac_session_on_the_linux_board_through_mosquitto(rig: Rig, contract: Contract) -> None:
    sim = rig.sim
    rig.wait_cp("A1")
    sim.plug(rc_ohm=220.0)  # 32 A cable
    rig.wait_cp("B1")
    rig.update("authorization", {"evse_id": EVSE, "token_type": "central", "status": "accepted"})
    pwm = rig.request(
        "cp_pwm", {"evse_id": EVSE, "hlc": False, "current": 16.0, "error_state": False, "fault_state": False}
    )
    assert pwm["status"] == "valid"
    rig.wait_cp("B2")
    assert sim.generator() == ("pwm", pytest.approx(26.67, abs=0.01))  # on the sysfs PWM channel
    sim.set_ev_state("C")
    rig.wait_cp("C2")
    rig.wait_contactor("closed")
    assert sim.chip.output("CONTACTOR") and sim.contactor_closed()
    assert sim.lock_locked, "a socket outlet is locked before the contactor closes"
    rig.meter.set_values(
        current_l1=16.0, current_l2=16.0, current_l3=16.0, power_l1=3680.0, power_l2=3680.0, power_l3=3680.0
    )
    assert eventually(
        lambda: any(m["data"]["current"]["l1"] > 15 for m in rig.updates("meter_values")), timeout_s=8.0
    )
    assert rig.request("stop_charging", {"evse_id": EVSE})["status"] == "accepted"
    rig.wait_contactor("opened")
    assert not sim.chip.output("CONTACTOR")
    sim.set_ev_state("B")
    sim.unplug()
    assert eventually(
        lambda: [m["data"]["state"] for m in rig.updates("cp_status")][-1] == "A1", timeout_s=8.0
    )
    assert eventually(lambda: not sim.lock_locked, timeout_s=8.0), "unlocked after the session"
    for topic, raw in rig.peer.received:
        if topic == "cs/josev":
            contract.validate(raw)


def test_rcd_trip_opens_the_contactor_on_the_linux_board(rig: Rig) -> None:
    sim = rig.sim
    rig.wait_cp("A1")
    sim.plug()
    rig.wait_cp("B1")
    rig.update("authorization", {"evse_id": EVSE, "token_type": "central", "status": "accepted"})
    rig.request(
        "cp_pwm", {"evse_id": EVSE, "hlc": False, "current": 16.0, "error_state": False, "fault_state": False}
    )
    sim.set_ev_state("C")
    rig.wait_contactor("closed")
    sim.trip_rcd(True)
    rig.wait_contactor("opened")
    assert not sim.chip.output("CONTACTOR")
    assert eventually(
        lambda: any(m["name"] in ("rcd_error", "hardware_fault") for m in rig.peer.messages()), timeout_s=5.0
    )


def test_hot_socket_derates_the_offered_current_through_mosquitto(rig: Rig) -> None:
    sim = rig.sim
    rig.wait_cp("A1")
    sim.plug(rc_ohm=220.0)
    rig.wait_cp("B1")
    rig.update("authorization", {"evse_id": EVSE, "token_type": "central", "status": "accepted"})
    rig.request(
        "cp_pwm", {"evse_id": EVSE, "hlc": False, "current": 32.0, "error_state": False, "fault_state": False}
    )
    sim.set_ev_state("C")
    rig.wait_contactor("closed")

    def max_current() -> float:
        limits = rig.request("cs_status_and_limits", {})
        entry = next(e for e in limits["evses"] if e["evse_id"] == EVSE)
        return float(entry["ac"]["max_current"]["l1"])

    assert max_current() == 32.0
    sim.set_ntc(72.0)  # the socket NTC heats up: 70 degC step -> 13 A
    assert eventually(lambda: max_current() == 13.0, timeout_s=8.0)
    assert eventually(lambda: sim.generator()[1] == pytest.approx(13 / 0.6, abs=0.05), timeout_s=8.0)
    sim.set_ntc(90.0)  # above the stop temperature: hardware_fault, the contactor opens
    rig.wait_contactor("opened")
    assert eventually(
        lambda: any(
            m["name"] == "hardware_fault" and m["data"]["component_name"] == "temperature"
            for m in rig.peer.messages()
        ),
        timeout_s=5.0,
    )
