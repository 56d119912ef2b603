"""Sim drivers on a shared world with a manual clock: relay and lock delays, welding, RCD trip and
hardware cut-off, energy integration, offline meter, DC power module ramps, isolation monitor,
notifications and the setup/release lifecycle."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from josev_hal_sim import DRIVERS, ManualClock, SimControl, WorldRegistry, set_default_registry

from josev_hal.devices import CpMode, DeviceConfig, Driver, IsolationStatus, PhaseValues
from josev_hal.errors import DeviceError, DeviceOffline

EVSE = "DE*TST*E0001"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def registry(clock: ManualClock) -> Iterator[WorldRegistry]:
    registry = WorldRegistry(clock)
    previous = set_default_registry(registry)
    yield registry
    set_default_registry(previous)
    registry.clear()


class Board:
    """Builds set-up sim drivers for one EVSE and releases them at the end."""

    def __init__(self, registry: WorldRegistry, clock: ManualClock) -> None:
        self.registry = registry
        self.clock = clock
        self.control = SimControl(registry)
        self.drivers: list[Driver] = []

    def make(self, name: str, evse_id: str = EVSE, connector_id: int | None = None, **options: Any) -> Any:
        cls = DRIVERS[name]
        config = DeviceConfig(
            device_id=f"{evse_id}.{name}",
            options=msgspec.convert(options, cls.Options),
            evse_id=evse_id,
            connector_id=connector_id,
            plugin="sim",
        )
        driver = cls(config)
        driver.setup()
        self.drivers.append(driver)
        return driver

    def send(self, action: str, evse_id: str = EVSE, **fields: Any) -> None:
        error = self.control.handle_payload(
            json.dumps({"evse_id": evse_id, "action": action, **fields}).encode()
        )
        assert error is None, error

    def release(self) -> None:
        for driver in self.drivers:
            driver.release()


@pytest.fixture
def board(registry: WorldRegistry, clock: ManualClock) -> Iterator[Board]:
    b = Board(registry, clock)
    yield b
    b.release()


def count_notifications(driver: Driver) -> list[int]:
    calls: list[int] = []
    driver.subscribe(lambda: calls.append(1))
    return calls


# ---------------------------------------------------------------------------------------------
# contactor
# ---------------------------------------------------------------------------------------------


def test_contactor_feedback_follows_the_command_after_the_close_delay(
    board: Board, clock: ManualClock
) -> None:
    contactor = board.make("sim-contactor", close_delay_ms=30, open_delay_ms=20)
    contactor.close()
    sample = contactor.read()
    assert sample.commanded_closed is True and sample.feedback_closed is False
    clock.advance(0.029)
    assert contactor.read().feedback_closed is False
    clock.advance(0.002)
    assert contactor.read().feedback_closed is True
    contactor.open()
    clock.advance(0.019)
    assert contactor.read().feedback_closed is True
    clock.advance(0.002)
    assert contactor.read().feedback_closed is False


def test_contactor_feedback_change_is_pushed_from_the_timer_not_from_the_command(
    board: Board, clock: ManualClock
) -> None:
    contactor = board.make("sim-contactor", close_delay_ms=30)
    calls = count_notifications(contactor)
    contactor.close()
    assert calls == []  # never synchronously inside close(): the core may hold its own lock
    clock.advance(0.05)
    assert len(calls) == 1


def test_welded_contactor_keeps_feedback_closed_after_open(board: Board, clock: ManualClock) -> None:
    contactor = board.make("sim-contactor")
    contactor.close()
    clock.advance(0.1)
    board.send("weld_contactor")
    contactor.open()
    clock.advance(1.0)
    sample = contactor.read()
    assert sample.commanded_closed is False and sample.feedback_closed is True
    board.send("unweld_contactor")
    clock.advance(0.1)
    assert contactor.read().feedback_closed is False


def test_contactor_stuck_open_never_reports_closed(board: Board, clock: ManualClock) -> None:
    contactor = board.make("sim-contactor")
    board.send("contactor_stuck_open")
    contactor.close()
    clock.advance(1.0)
    assert contactor.read().commanded_closed is True and contactor.read().feedback_closed is False
    board.send("contactor_stuck_open", active=False)
    clock.advance(1.0)
    assert contactor.read().feedback_closed is True  # still commanded: the coil pulls in now


def test_contactor_without_mirror_contact_reports_no_feedback(board: Board, clock: ManualClock) -> None:
    contactor = board.make("sim-contactor", has_feedback=False)
    contactor.close()
    clock.advance(0.1)
    assert contactor.has_feedback is False
    assert contactor.read().feedback_closed is None


# ---------------------------------------------------------------------------------------------
# RCD
# ---------------------------------------------------------------------------------------------


def test_rcd_trip_is_pushed_and_drops_the_contactor_in_hardware(board: Board, clock: ManualClock) -> None:
    rcd = board.make("sim-rcd", hardware_cutoff=True)
    contactor = board.make("sim-contactor")
    contactor.close()
    clock.advance(0.1)
    calls = count_notifications(rcd)
    board.send("rcd_trip", residual_ma=8)
    assert len(calls) == 1
    sample = rcd.read()
    assert sample.tripped is True and sample.residual_ma == 8
    clock.advance(0.1)
    fed_back = contactor.read()
    assert fed_back.commanded_closed is True and fed_back.feedback_closed is False
    board.send("rcd_clear")
    assert rcd.read().tripped is False


def test_latching_rcd_stays_tripped_until_reset(board: Board) -> None:
    rcd = board.make("sim-rcd", latching=True)
    board.send("rcd_trip")
    board.send("rcd_clear")
    assert rcd.read().tripped is True
    rcd.reset()
    assert rcd.read().tripped is False


def test_rcd_self_test_fails_while_a_residual_current_flows(board: Board) -> None:
    rcd = board.make("sim-rcd")
    assert rcd.self_test() is True
    board.send("rcd_trip")
    assert rcd.self_test() is False


# ---------------------------------------------------------------------------------------------
# meter
# ---------------------------------------------------------------------------------------------


def charging_ac_board(
    board: Board, clock: ManualClock, *, duty: float, **cp_options: Any
) -> tuple[Any, Any, Any]:
    cp = board.make("sim-cp", noise_v=0, **cp_options)
    contactor = board.make("sim-contactor")
    meter = board.make("sim-meter", nominal_voltage_v=230, phases=3)
    board.send("plug")
    board.send("charge")
    cp.set_pwm(duty)
    contactor.close()
    clock.advance(0.03)  # feedback closes exactly now
    return cp, contactor, meter


def test_meter_integrates_energy_of_the_offered_current_per_phase(board: Board, clock: ManualClock) -> None:
    _, _, meter = charging_ac_board(board, clock, duty=26.67)  # offers 16 A
    start = meter.read().energy_import_wh
    clock.advance(3600.0)
    reading = meter.read()
    assert reading.current_a == PhaseValues(
        pytest.approx(16.0, abs=0.01), pytest.approx(16.0, abs=0.01), pytest.approx(16.0, abs=0.01)
    )
    assert reading.voltage_v == PhaseValues(230.0, 230.0, 230.0)
    assert reading.energy_import_wh - start == pytest.approx(16.0 * 230 * 3, rel=1e-3)
    assert reading.power_w == pytest.approx(16.0 * 230 * 3, rel=1e-3)


def test_meter_current_is_the_lower_of_ev_draw_and_pwm_offer(board: Board, clock: ManualClock) -> None:
    _, _, meter = charging_ac_board(board, clock, duty=53.33, ev_phases=1)  # offers 32 A
    board.send("current", amps=10)
    start = meter.read().energy_import_wh
    clock.advance(360.0)
    reading = meter.read()
    assert reading.current_a == PhaseValues(10.0, 0.0, 0.0)
    assert reading.energy_import_wh - start == pytest.approx(10 * 230 * 0.1, rel=1e-6)


def test_no_energy_flows_before_feedback_closes_or_without_pwm(board: Board, clock: ManualClock) -> None:
    cp = board.make("sim-cp", noise_v=0)
    contactor = board.make("sim-contactor", close_delay_ms=1000)
    meter = board.make("sim-meter")
    board.send("plug")
    board.send("charge")
    cp.set_x1()
    contactor.close()
    clock.advance(0.5)
    assert meter.read().energy_import_wh == 0.0  # feedback still open
    clock.advance(10.0)
    assert meter.read().energy_import_wh == 0.0  # closed, but x1: the EV must not draw
    cp.set_pwm(16 / 0.6)
    clock.advance(10.0)
    assert meter.read().energy_import_wh == pytest.approx(16 * 230 * 3 * 10 / 3600, rel=1e-3)


def test_energy_stops_when_the_ev_pauses(board: Board, clock: ManualClock) -> None:
    _, _, meter = charging_ac_board(board, clock, duty=26.67)
    clock.advance(60.0)
    board.send("pause")
    after_pause = meter.read().energy_import_wh
    clock.advance(600.0)
    reading = meter.read()
    assert reading.energy_import_wh == after_pause > 0
    assert reading.current_a == PhaseValues(0.0, 0.0, 0.0)


def test_offline_meter_raises_and_never_returns_a_stale_value(board: Board, clock: ManualClock) -> None:
    _, _, meter = charging_ac_board(board, clock, duty=26.67)
    before = meter.read()
    board.send("meter_offline")
    with pytest.raises(DeviceOffline, match="offline"):
        meter.read()
    clock.advance(60.0)
    board.send("meter_online")
    after = meter.read()
    # The register kept counting while the link was down.
    assert after.energy_import_wh - before.energy_import_wh == pytest.approx(16 * 230 * 3 / 60, rel=1e-3)
    assert after.taken_at > before.taken_at


def test_readings_carry_the_time_they_were_taken(board: Board) -> None:
    cp = board.make("sim-cp")
    t0 = time.monotonic()
    sample = cp.read()
    assert t0 <= sample.taken_at <= time.monotonic()
    assert sample.utc.tzinfo is not None


# ---------------------------------------------------------------------------------------------
# CP / PP through the drivers
# ---------------------------------------------------------------------------------------------


def test_cp_driver_readings_with_noise_stay_inside_the_state_bands(board: Board) -> None:
    cp = board.make("sim-cp", noise_v=0.1, seed=7)
    cp.set_pwm(26.67)
    bands = {"plug": (8.0, 10.0), "charge": (5.0, 7.0), "ventilation": (2.0, 4.0), "unplug": (11.0, 13.0)}
    for action, (low, high) in bands.items():
        board.send(action)
        for _ in range(50):
            sample = cp.read()
            assert low <= sample.positive_v <= high
            assert sample.negative_v is not None and -13.0 <= sample.negative_v <= -11.0


def test_cp_plug_in_is_pushed_to_the_cp_driver_synchronously(board: Board) -> None:
    cp = board.make("sim-cp")
    calls = count_notifications(cp)
    board.send("plug")
    assert len(calls) == 1


def test_cp_driver_reports_the_applied_output(board: Board) -> None:
    cp = board.make("sim-cp")
    cp.set_pwm(10.0)
    assert (cp.output.mode, cp.output.duty_percent) == (CpMode.PWM, 10.0)
    cp.set_pwm(100.0)
    assert cp.output.mode is CpMode.X1
    cp.set_state_f()
    assert cp.output.mode is CpMode.STATE_F
    with pytest.raises(DeviceError, match="out of range"):
        cp.set_pwm(0.0)


def test_cp_board_without_negative_sampling_reports_none(board: Board) -> None:
    cp = board.make("sim-cp", measure_negative=False)
    cp.set_pwm(50.0)
    board.send("plug")
    assert cp.read().negative_v is None


def test_pp_driver_reads_the_cable_coding_of_the_plug_command(board: Board) -> None:
    pp = board.make("sim-pp", noise_fraction=0, cable_a=32)
    assert pp.read().resistance_ohm is None
    board.send("plug", cable_a=13)
    assert pp.read().resistance_ohm == 1500.0
    board.send("unplug")
    board.send("plug")
    assert pp.read().resistance_ohm == 1500.0  # the same cable stays in the socket's EV until replaced
    mcu = board.make("sim-pp", evse_id="DE*TST*E0009", report_ampacity=True)
    board.send("plug", evse_id="DE*TST*E0009", cable_a=63)
    assert mcu.read().ampacity_a == 63.0


# ---------------------------------------------------------------------------------------------
# lock, RFID
# ---------------------------------------------------------------------------------------------


def test_lock_feedback_follows_after_its_delay(board: Board, clock: ManualClock) -> None:
    lock = board.make("sim-lock", delay_ms=200)
    calls = count_notifications(lock)
    lock.lock()
    assert lock.read().locked is False
    clock.advance(0.25)
    assert lock.read().locked is True and len(calls) == 1
    lock.unlock()
    clock.advance(0.25)
    assert lock.read().locked is False


def test_rfid_tokens_are_queued_in_order_and_pushed(board: Board) -> None:
    reader = board.make("sim-id-reader")
    calls = count_notifications(reader)
    board.send("rfid", uid="04A2B3C4")
    board.send("rfid", uid="0102030405060708090a")
    assert len(calls) == 2
    first, second = reader.poll(), reader.poll()
    assert first is not None and first.uid == "04a2b3c4" and first.type == "ISO14443"
    assert second is not None and second.uid == "0102030405060708090a"
    assert reader.poll() is None


# ---------------------------------------------------------------------------------------------
# DC: power module, DC meter, isolation monitor
# ---------------------------------------------------------------------------------------------


def test_power_module_ramps_voltage_and_rejects_out_of_range_setpoints(
    board: Board, clock: ManualClock
) -> None:
    pm = board.make("sim-power-module", voltage_ramp_v_per_s=500, max_voltage_v=920, min_voltage_v=150)
    assert pm.capabilities.max_voltage_v == 920
    with pytest.raises(DeviceError, match="outside"):
        pm.set_target(1000, 10)
    pm.set_target(400, 2)
    pm.enable(True)
    clock.advance(0.4)
    assert pm.read().voltage_v == pytest.approx(200.0)
    clock.advance(1.0)
    sample = pm.read()
    assert sample.voltage_v == pytest.approx(400.0) and sample.enabled and sample.current_a == 0.0
    board.send("power_module_fault", fault="over_temperature")
    assert pm.read().faults == frozenset({"over_temperature"})
    clock.advance(1.0)
    assert pm.read().voltage_v == 0.0  # a faulted module switches off
    board.send("power_module_clear")
    assert pm.read().faults == frozenset()


def test_dc_current_flows_once_contactor_is_closed_and_the_ev_requests_power(
    board: Board, clock: ManualClock
) -> None:
    board.make("sim-cp", noise_v=0)
    contactor = board.make("sim-contactor", close_delay_ms=0)
    pm = board.make("sim-power-module", current_ramp_a_per_s=100, voltage_ramp_v_per_s=1000)
    meter = board.make("sim-meter", kind="dc")
    board.send("plug")
    board.send("current", amps=100)
    pm.set_target(400, 50)
    pm.enable(True)
    clock.advance(1.0)
    contactor.close()
    clock.advance(1.0)
    assert pm.read().current_a == 0.0  # EV not requesting yet
    board.send("charge")
    clock.advance(0.25)
    assert pm.read().current_a == pytest.approx(25.0)
    clock.advance(1.0)
    reading = meter.read()
    assert reading.dc_current_a == pytest.approx(50.0) and reading.dc_voltage_v == pytest.approx(400.0)
    # Ramp 0->50 A over 0.5 s at 400 V, then 50 A for 0.75 s: 400*(0.5*50*0.5 + 50*0.75) Ws.
    assert reading.energy_import_wh == pytest.approx(400 * (12.5 + 37.5) / 3600, rel=1e-9)


def test_dc_present_current_is_zero_as_soon_as_the_contactor_feedback_opens(
    board: Board, clock: ManualClock
) -> None:
    board.make("sim-cp", noise_v=0)
    contactor = board.make("sim-contactor", close_delay_ms=0, open_delay_ms=20)
    pm = board.make("sim-power-module", current_ramp_a_per_s=100, voltage_ramp_v_per_s=1000)
    meter = board.make("sim-meter", kind="dc")
    board.send("plug")
    board.send("current", amps=100)
    board.send("charge")
    pm.set_target(400, 40)
    pm.enable(True)
    contactor.close()
    clock.advance(1.0)
    assert pm.read().current_a == pytest.approx(40.0)
    contactor.open()
    clock.advance(0.01)
    assert pm.read().current_a == pytest.approx(40.0), "the contacts have not parted yet"
    clock.advance(0.02)  # feedback open: no load any more
    sample = pm.read()
    assert sample.current_a == 0.0 and sample.voltage_v == pytest.approx(400.0)
    assert meter.read().dc_current_a == 0.0
    pm.enable(False)
    clock.advance(0.1)
    sample = pm.read()
    assert sample.current_a == 0.0 and 0.0 < sample.voltage_v < 400.0  # the voltage decays
    # closing again starts the current ramp from zero, not from the value before the opening
    pm.enable(True)
    clock.advance(1.0)
    contactor.close()
    clock.advance(0.1)
    assert pm.read().current_a == pytest.approx(10.0)


def test_isolation_monitor_measures_then_reports_status(board: Board, clock: ManualClock) -> None:
    imd = board.make("sim-imd", measure_ms=1000, isolation_ohm=5e6, test_voltage_v=500)
    calls = count_notifications(imd)
    assert imd.read().measuring is False
    imd.start()
    sample = imd.read()
    assert sample.measuring and sample.resistance_ohm is None and sample.status is IsolationStatus.INVALID
    clock.advance(1.0)
    sample = imd.read()
    assert sample.resistance_ohm == 5e6 and sample.status is IsolationStatus.VALID
    assert len(calls) >= 1
    imd.stop()
    stopped = imd.read()
    assert (
        not stopped.measuring and stopped.resistance_ohm is None and stopped.status is IsolationStatus.VALID
    )


@pytest.mark.parametrize(
    ("ohm", "status"),
    [(250_000, IsolationStatus.VALID), (100_000, IsolationStatus.WARNING), (40_000, IsolationStatus.FAULT)],
)
def test_isolation_status_follows_ohm_per_volt_thresholds(
    board: Board, clock: ManualClock, ohm: float, status: IsolationStatus
) -> None:
    imd = board.make("sim-imd", measure_ms=100, test_voltage_v=500)
    board.send("isolation", ohm=ohm)
    imd.start()
    clock.advance(0.2)
    assert imd.read().status is status


# ---------------------------------------------------------------------------------------------
# lifecycle and world sharing
# ---------------------------------------------------------------------------------------------


def test_reading_before_setup_is_a_device_error(registry: WorldRegistry) -> None:
    cls = DRIVERS["sim-meter"]
    meter = cls(DeviceConfig(device_id="m", options=msgspec.convert({}, cls.Options), evse_id=EVSE))
    with pytest.raises(DeviceError, match="not set up"):
        meter.read()
    meter.release()  # idempotent, never raises


def test_last_release_closes_the_world_and_leaves_the_contactor_open(
    board: Board, registry: WorldRegistry, clock: ManualClock
) -> None:
    contactor = board.make("sim-contactor")
    meter = board.make("sim-meter")
    world = registry.find(EVSE)
    assert world is not None and world.key == f"{EVSE}/1"
    contactor.close()
    clock.advance(0.1)
    contactor.release()
    assert world.relay.commanded is False
    assert registry.find(EVSE) is world  # the meter still holds it
    meter.release()
    meter.release()
    assert registry.find(EVSE) is None


def test_world_option_lets_devices_of_different_evses_share_one_world(board: Board) -> None:
    cp = board.make("sim-cp", evse_id="A", world="shared", noise_v=0)
    pp = board.make("sim-pp", evse_id="B", world="shared")
    board.send("plug", evse_id="A")
    assert pp.read().resistance_ohm is not None
    assert 8.0 < cp.read().positive_v < 10.0


def test_real_clock_pushes_the_feedback_change_from_a_timer_thread() -> None:
    registry = WorldRegistry()  # RealClock
    previous = set_default_registry(registry)
    try:
        cls = DRIVERS["sim-contactor"]
        options = msgspec.convert({"close_delay_ms": 5}, cls.Options)
        contactor = cls(DeviceConfig(device_id="c", options=options, evse_id=EVSE))
        contactor.setup()
        notified = threading.Event()
        threads: list[str] = []
        contactor.subscribe(lambda: (threads.append(threading.current_thread().name), notified.set()))
        contactor.close()
        assert notified.wait(5.0)
        assert contactor.read().feedback_closed is True
        assert threads[0] != threading.current_thread().name
        contactor.release()
        assert registry.worlds() == []
    finally:
        set_default_registry(previous)
