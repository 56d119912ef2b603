"""Sim models the #14 safety rules are tested against: the DC cable at voltage (the module's
output reaches the cable only through the closed contactor; a short circuit is the current limit
at a low voltage), an IMD whose reading only means something at voltage, injectable RCD
self-test outcomes (each run logged with the contactor state), PP wiring faults, and the EV's
state D request. All on a shared world with a manual clock, through the real sim drivers and
the ``sim/cs`` control commands."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from josev_hal_sim import DRIVERS, ManualClock, SimControl, WorldRegistry, set_default_registry

from josev_hal.devices import DeviceConfig, Driver, IsolationStatus
from josev_hal.station.cp import CpLetter, CpThresholds, classify_level
from josev_hal.station.pp import cable_from_sample

EVSE = "DE*TST*E0009"


class Board:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.registry = WorldRegistry(self.clock)
        self._previous = set_default_registry(self.registry)
        self.control = SimControl(self.registry)
        self.drivers: list[Driver] = []

    def make(self, name: str, **options: Any) -> Any:
        cls = DRIVERS[name]
        config = DeviceConfig(
            device_id=f"{EVSE}.{name}",
            options=msgspec.convert(options, cls.Options),
            evse_id=EVSE,
            plugin="sim",
        )
        driver = cls(config)
        driver.setup()
        self.drivers.append(driver)
        return driver

    @property
    def world(self) -> Any:
        world = self.registry.find(EVSE)
        assert world is not None
        return world

    def send(self, action: str, **fields: Any) -> None:
        self.control.handle(msgspec.json.encode({"evse_id": EVSE, "action": action, **fields}))

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

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


def dc_parts(board: Board, **imd: Any) -> tuple[Any, Any, Any]:
    contactor = board.make("sim-contactor")
    module = board.make("sim-power-module", max_voltage_v=920.0, max_current_a=125.0)
    monitor = board.make("sim-imd", measure_ms=500.0, **imd)
    return contactor, module, monitor


# -- DC cable voltage --------------------------------------------------------------------------


def test_the_cable_sees_the_module_only_through_the_closed_contactor(board: Board) -> None:
    contactor, module, _ = dc_parts(board)
    module.set_target(500.0, 5.0)
    module.enable(True)
    board.advance(2.0)
    assert module.read().voltage_v == pytest.approx(500.0)
    assert board.world.cable_voltage() == 0.0  # contactor open: the cable is dead
    contactor.close()
    board.advance(0.1)
    assert board.world.cable_voltage() == pytest.approx(500.0)
    contactor.open()
    board.advance(0.1)
    assert board.world.cable_voltage() == 0.0


def test_the_cable_voltage_follows_the_set_point_along_the_modules_ramp(board: Board) -> None:
    contactor, module, _ = dc_parts(board)
    contactor.close()
    board.advance(0.1)
    module.set_target(500.0, 5.0)
    module.enable(True)
    board.advance(0.5)  # 500 V/s ramp
    assert board.world.cable_voltage() == pytest.approx(250.0)
    board.advance(1.0)
    assert board.world.cable_voltage() == pytest.approx(500.0)


def test_a_short_circuit_shows_as_current_limit_at_low_voltage(board: Board) -> None:
    contactor, module, _ = dc_parts(board)
    board.send("cable_short", ohm=0.05)
    contactor.close()
    board.advance(0.1)
    module.set_target(500.0, 10.0)
    module.enable(True)
    board.advance(2.0)
    sample = module.read()
    assert sample.current_a == pytest.approx(10.0)  # at the current limit
    assert sample.voltage_v == pytest.approx(0.5)  # 10 A x 0.05 ohm: far below the set-point
    assert board.world.cable_voltage() == pytest.approx(0.5)
    board.send("cable_short", active=False)
    board.advance(2.0)
    assert module.read().voltage_v == pytest.approx(500.0)
    assert module.read().current_a == pytest.approx(0.0)  # no EV drawing: open circuit


def test_a_short_behind_an_open_contactor_draws_nothing(board: Board) -> None:
    _, module, _ = dc_parts(board)
    board.world.set_cable_short(0.05)
    module.set_target(500.0, 10.0)
    module.enable(True)
    board.advance(2.0)
    assert module.read().voltage_v == pytest.approx(500.0)
    assert module.read().current_a == 0.0


def test_a_negative_short_resistance_is_refused(board: Board) -> None:
    dc_parts(board)
    with pytest.raises(ValueError, match="short"):
        board.world.set_cable_short(-1.0)


# -- IMD only meaningful at voltage ------------------------------------------------------------


def test_an_imd_that_needs_voltage_keeps_measuring_on_a_dead_cable(board: Board) -> None:
    _, _, monitor = dc_parts(board, min_voltage_v=100.0)
    monitor.start()
    board.advance(5.0)
    sample = monitor.read()
    assert sample.measuring and sample.status is IsolationStatus.INVALID and sample.resistance_ohm is None


def test_the_imd_measuring_time_starts_when_the_cable_reaches_the_voltage(board: Board) -> None:
    contactor, module, monitor = dc_parts(board, min_voltage_v=100.0)
    monitor.start()
    contactor.close()
    board.advance(0.1)
    module.set_target(500.0, 2.0)
    module.enable(True)  # 500 V/s: 100 V after 0.2 s
    board.advance(0.6)  # at voltage for 0.4 s of the 0.5 s measurement
    assert monitor.read().status is IsolationStatus.INVALID
    board.advance(0.15)
    sample = monitor.read()
    assert sample.status is IsolationStatus.VALID and sample.resistance_ohm == pytest.approx(5_000_000.0)


def test_the_imd_judges_ohm_per_volt_at_the_cable_voltage(board: Board) -> None:
    contactor, module, monitor = dc_parts(board, min_voltage_v=100.0)
    board.send("isolation", ohm=100_000.0)
    contactor.close()
    board.advance(0.1)
    module.set_target(150.0, 2.0)
    module.enable(True)
    monitor.start()
    board.advance(2.0)
    assert monitor.read().status is IsolationStatus.VALID  # 667 ohm/V at 150 V
    module.set_target(500.0, 2.0)
    board.advance(2.0)
    assert monitor.read().status is IsolationStatus.WARNING  # 200 ohm/V at 500 V
    board.send("isolation", ohm=20_000.0)
    assert monitor.read().status is IsolationStatus.FAULT  # 40 ohm/V


def test_the_imd_result_is_gone_when_the_cable_loses_its_voltage(board: Board) -> None:
    contactor, module, monitor = dc_parts(board, min_voltage_v=100.0)
    contactor.close()
    board.advance(0.1)
    module.set_target(500.0, 2.0)
    module.enable(True)
    monitor.start()
    board.advance(2.0)
    assert monitor.read().status is IsolationStatus.VALID
    contactor.open()
    board.advance(0.1)
    assert monitor.read().status is IsolationStatus.INVALID and monitor.read().measuring


def test_an_imd_with_its_own_test_voltage_measures_without_the_cable(board: Board) -> None:
    _, _, monitor = dc_parts(board)  # min_voltage_v = 0: the existing board IMD behaviour
    monitor.start()
    board.advance(0.6)
    assert monitor.read().status is IsolationStatus.VALID


# -- RCD self-test -----------------------------------------------------------------------------


def test_rcd_self_test_outcome_is_injectable_and_every_run_is_logged(board: Board) -> None:
    contactor = board.make("sim-contactor")
    rcd = board.make("sim-rcd")
    assert rcd.self_test() is True
    board.send("rcd_self_test", passes=False)
    assert rcd.self_test() is False
    contactor.close()
    board.advance(0.1)
    board.send("rcd_self_test", passes=True)
    assert rcd.self_test() is True
    assert [closed for _, closed in board.world.rcd.self_tests] == [False, False, True]
    times = [t for t, _ in board.world.rcd.self_tests]
    assert times == sorted(times)


def test_rcd_self_test_fails_while_a_residual_current_flows(board: Board) -> None:
    rcd = board.make("sim-rcd")
    board.send("rcd_trip")
    assert rcd.self_test() is False


def test_rcd_self_test_option_sets_the_initial_outcome(board: Board) -> None:
    rcd = board.make("sim-rcd", self_test_passes=False)
    assert rcd.self_test() is False


# -- PP wiring faults --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "present", "fault"),
    [("open", False, False), ("short", True, True)],
)
def test_pp_wiring_faults_read_as_no_cable_or_as_a_pp_fault(
    board: Board, kind: str, present: bool, fault: bool
) -> None:
    pp = board.make("sim-pp", noise_fraction=0.0)
    board.make("sim-cp", noise_v=0.0)
    board.send("plug", cable_a=32)
    assert cable_from_sample(pp.read(), 3).ampacity_a == 32
    board.send("pp_fault", kind=kind)
    cable = cable_from_sample(pp.read(), 3)
    assert (cable.present, cable.ampacity_a, cable.fault) == (present, None, fault)
    board.send("unplug")
    board.send("plug", cable_a=32)  # a new plug-in: the fault was the cable's
    assert cable_from_sample(pp.read(), 3).ampacity_a == 32


def test_pp_fault_none_repairs_the_cable(board: Board) -> None:
    pp = board.make("sim-pp", noise_fraction=0.0)
    board.send("plug", cable_a=20)
    board.send("pp_fault", kind="open")
    assert pp.read().resistance_ohm is None
    board.send("pp_fault", kind="none")
    assert pp.read().resistance_ohm == pytest.approx(680.0)


def test_a_bad_pp_fault_kind_is_rejected_with_its_path(board: Board) -> None:
    board.make("sim-pp")
    with pytest.raises(Exception, match=r"\$\.kind"):
        board.send("pp_fault", kind="wobbly")


# -- state D -----------------------------------------------------------------------------------


def test_the_ev_asking_for_ventilation_reads_as_d(board: Board) -> None:
    cp = board.make("sim-cp", noise_v=0.0)
    board.send("plug")
    board.send("ventilation")
    assert classify_level(cp.read().positive_v, CpLetter.B, CpThresholds()) is CpLetter.D
