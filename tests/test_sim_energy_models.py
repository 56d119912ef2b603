"""Sim devices for the station's energy features (issue #22): the grid operator's control input
(``grid_limit`` command, a broken wire) and the mains meter at the grid connection, which sees
the house load plus every simulated AC connector, whether or not the EVSE meters answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from josev_hal_sim import DRIVERS, ManualClock, SimControl, WorldRegistry, set_default_registry
from josev_hal_sim.physics import EvRequest

from josev_hal.devices import CpMode, DeviceConfig, DigitalInput, Driver, Meter, Role
from josev_hal.errors import DeviceError, DeviceOffline


class Board:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.registry = WorldRegistry(self.clock)
        self._previous = set_default_registry(self.registry)
        self.control = SimControl(self.registry)
        self.drivers: list[Driver] = []

    def make(self, name: str, evse_id: str, **options: Any) -> Any:
        cls = DRIVERS[name]
        config = DeviceConfig(
            device_id=f"{evse_id}.{name}",
            options=msgspec.convert(options, cls.Options),
            evse_id=evse_id,
            plugin="sim",
        )
        driver = cls(config)
        driver.setup()
        self.drivers.append(driver)
        return driver

    def send(self, evse_id: str, action: str, **fields: Any) -> None:
        self.control.handle(msgspec.json.encode({"evse_id": evse_id, "action": action, **fields}))

    def charging(self, evse_id: str, amps: float) -> None:
        """An EV on ``evse_id`` drawing ``amps`` per phase (PWM offers more, contactor closed)."""
        self.make("sim-cp", evse_id, noise_v=0.0)
        self.make("sim-meter", evse_id)
        world = self.registry.find(evse_id)
        assert world is not None
        world.plug()
        world.set_request(EvRequest.CHARGE)
        world.set_draw(amps)
        world.set_cp(CpMode.PWM, 53.33)  # 32 A offered
        world.command_relay(True)
        self.clock.advance(0.1)

    def close(self) -> None:
        for driver in reversed(self.drivers):
            driver.release()
        set_default_registry(self._previous)
        self.registry.clear()


@pytest.fixture
def board() -> Iterator[Board]:
    b = Board()
    yield b
    b.close()


def test_the_grid_input_follows_the_control_box(board: Board) -> None:
    grid = board.make("sim-grid-input", "E1")
    assert isinstance(grid, DigitalInput) and grid.role is Role.GRID_LIMIT
    assert grid.read().active is False
    board.send("E1", "grid_limit", active=True)
    assert grid.read().active is True
    board.send("E1", "grid_limit", active=False)
    assert grid.read().active is False


def test_a_broken_grid_input_raises(board: Board) -> None:
    grid = board.make("sim-grid-input", "E1", broken=True)
    with pytest.raises(DeviceError, match="not readable"):
        grid.read()


def test_the_mains_meter_sees_the_house_and_every_charging_evse(board: Board) -> None:
    mains = board.make("sim-mains-meter", "E1")
    assert isinstance(mains, Meter) and mains.role is Role.METER
    board.charging("E1", 16.0)
    board.charging("E2", 10.0)
    board.send("E1", "house_load", amps=[5.0, 3.0, 1.0])
    reading = mains.read()
    assert reading.current_a is not None
    assert (reading.current_a.l1, reading.current_a.l2, reading.current_a.l3) == pytest.approx(
        (31.0, 29.0, 27.0)
    )
    assert reading.power_w == pytest.approx((31 + 29 + 27) * 230.0)


def test_the_mains_meter_counts_an_evse_whose_own_meter_is_offline(board: Board) -> None:
    mains = board.make("sim-mains-meter", "E1")
    board.charging("E2", 10.0)
    board.send("E2", "meter_offline")
    reading = mains.read()
    assert reading.current_a is not None and reading.current_a.l1 == pytest.approx(10.0)


def test_an_offline_mains_meter_raises(board: Board) -> None:
    mains = board.make("sim-mains-meter", "E1")
    board.send("E1", "meter_offline")
    with pytest.raises(DeviceOffline):
        mains.read()


def test_a_house_load_needs_three_phases(board: Board) -> None:
    board.make("sim-mains-meter", "E1")
    with pytest.raises(Exception, match=r"\$\.amps"):
        board.send("E1", "house_load", amps=[5.0, 3.0])


def test_an_ev_that_ignores_the_pwm_draws_more_than_offered_until_unplugged(board: Board) -> None:
    board.charging("E1", 40.0)  # wants 40 A, 32 A offered
    world = board.registry.find("E1")
    assert world is not None
    assert world.phase_currents().l1 == pytest.approx(32.0, abs=0.01)  # 53.33 % duty
    board.send("E1", "ev_ignores_pwm")
    assert world.phase_currents().l1 == pytest.approx(40.0)
    world.set_cp(CpMode.X1)
    board.clock.advance(0.1)
    assert world.phase_currents().l1 == 0.0  # no PWM: not even a rogue EV draws
    board.send("E1", "unplug")
    assert world.ev.ignores_pwm is False
