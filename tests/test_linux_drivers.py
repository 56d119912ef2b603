"""The josev_hal_linux drivers on the gpiod API double and a temporary sysfs tree.

Everything below the driver is the bus-level simulation (``josev_hal_linux.sim``): the
GPIO chip applies active-low, bias and debounce and queues edge events like the kernel; the PWM
chip exports channels after a delay (the udev race); the IIO ADC files follow the CP generator
and the EV. One test runs against the kernel's ``gpio-sim`` when the machine offers it.
"""

from __future__ import annotations

import os
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from josev_hal_linux import DRIVERS, LinuxBus, LinuxBusOptions
from josev_hal_linux.cp import LinuxCp
from josev_hal_linux.gpio_drivers import GpioContactor, GpioLock, GpioRcd
from josev_hal_linux.probe import draft_profile, inventory, inventory_lines
from josev_hal_linux.sim import SimGpiod, SimLinuxAcBoard
from josev_hal_linux.sysfs import SysfsPwm

from josev_hal.devices import CpMode, DeviceConfig, Driver
from josev_hal.errors import BusError, DeviceError
from tests.support.factories_linux import OPTIONS, linux_bus_for
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimLinuxAcBoard]:
    with SimLinuxAcBoard(tmp_path) as board:
        yield board


@pytest.fixture
def bus(sim: SimLinuxAcBoard) -> Iterator[LinuxBus]:
    b = linux_bus_for(sim)
    yield b
    b.release()


def make(bus: LinuxBus, name: str, **overrides: Any) -> Any:
    cls = DRIVERS[name]
    options = msgspec.convert({**OPTIONS[name], **overrides}, cls.Options)
    driver = cls(DeviceConfig(device_id=f"evse[0].{name}", options=options, bus=bus, plugin="linux"))
    driver.setup()
    return driver


def plateaus(cp: LinuxCp) -> tuple[float, float | None]:
    sample = cp.read()
    return sample.positive_v, sample.negative_v


def notified(driver: Driver) -> threading.Event:
    event = threading.Event()
    driver.subscribe(event.set)
    return event


# -- GPIO -----------------------------------------------------------------------------------------


def test_contactor_feedback_edge_notifies_without_polling(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    contactor: GpioContactor = make(bus, "gpio-contactor")
    try:
        event = notified(contactor)
        contactor.close()
        assert event.wait(2.0), "the mirror contact's edge must reach notify()"
        assert contactor.read().feedback_closed is True
        assert sim.chip.output("CONTACTOR") is True
    finally:
        contactor.release()
    assert sim.chip.output("CONTACTOR") is False, "release leaves the coil off"


def test_setup_opens_a_contactor_left_closed_by_a_crashed_process(
    sim: SimLinuxAcBoard, bus: LinuxBus
) -> None:
    first: GpioContactor = make(bus, "gpio-contactor")
    first.close()
    assert sim.chip.output("CONTACTOR")
    first.lines.release()  # type: ignore[union-attr]  # the process dies: lines released as-is
    first.lines = None
    second: GpioContactor = make(bus, "gpio-contactor")
    try:
        assert sim.chip.output("CONTACTOR") is False
        assert second.read().commanded_closed is False
    finally:
        second.release()


def test_active_low_lines_are_inverted_by_the_chip_not_the_driver(
    sim: SimLinuxAcBoard, bus: LinuxBus
) -> None:
    contactor: GpioContactor = make(
        bus,
        "gpio-contactor",
        coil={"chip": "gpiochip0", "line": "CONTACTOR", "active_low": True},
        feedback={"chip": "sim-soc-gpio", "line": "CONTACTOR_FEEDBACK", "active_low": True},
    )
    try:
        # Requested inactive = electrically high on an active-low coil.
        assert sim.chip.output("CONTACTOR") is True
        sim.chip.drive("CONTACTOR_FEEDBACK", True)  # high on an active-low input = not closed
        assert contactor.read().feedback_closed is False
        contactor.close()
        assert sim.chip.output("CONTACTOR") is False
        sim.chip.drive("CONTACTOR_FEEDBACK", False)
        eventually(lambda: contactor.read().feedback_closed is True)
    finally:
        contactor.release()


def test_lines_are_addressed_by_offset_and_chip_label(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    offset = sim.chip.offset_of("CONTACTOR")
    contactor: GpioContactor = make(
        bus, "gpio-contactor", coil={"chip": "sim-soc-gpio", "line": offset}, feedback=None
    )
    try:
        contactor.close()
        assert sim.chip.output("CONTACTOR") is True
        assert contactor.read().feedback_closed is None
        assert not contactor.has_feedback
    finally:
        contactor.release()


def test_debounce_hides_a_spike_and_reports_a_steady_change_once(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    rcd: GpioRcd = make(bus, "gpio-rcd", trip={"chip": "gpiochip0", "line": "RCD_FAULT", "debounce_ms": 40})
    try:
        edges: list[float] = []
        rcd.subscribe(lambda: edges.append(time.monotonic()))
        sim.chip.drive("RCD_FAULT", True)
        time.sleep(0.005)
        sim.chip.drive("RCD_FAULT", False)  # a 5 ms spike: shorter than the debounce
        time.sleep(0.15)
        assert edges == []
        assert rcd.read().tripped is False
        sim.trip_rcd(True)
        eventually(lambda: bool(edges))
        assert rcd.read().tripped is True
    finally:
        rcd.release()


def test_a_trip_pulse_between_two_reads_is_not_lost(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    rcd: GpioRcd = make(bus, "gpio-rcd")
    try:
        event = notified(rcd)
        sim.trip_rcd(True)
        assert event.wait(2.0)
        sim.trip_rcd(False)
        time.sleep(0.05)  # released again before anybody read
        assert rcd.read().tripped is True, "the trip edge is latched until reported"
        assert rcd.read().tripped is False
    finally:
        rcd.release()


def test_rcd_self_test_passes_and_is_not_reported_as_a_trip(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    rcd: GpioRcd = make(bus, "gpio-rcd")
    try:
        assert rcd.self_test(timeout_s=2.0) is True
        assert rcd.read().tripped is False
        sim.rcd_test_trips = False  # a dead sensor does not trip on TEST
        assert rcd.self_test(timeout_s=0.6) is False
        assert sim.chip.output("RCD_TEST") is False, "TEST is released after a failed test"
    finally:
        rcd.release()


def test_a_line_held_by_another_consumer_is_a_clear_setup_error(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    held = make(bus, "gpio-contactor")
    try:
        other = DRIVERS["gpio-contactor"](
            DeviceConfig(
                "evse[1].contactor",
                msgspec.convert(OPTIONS["gpio-contactor"], GpioContactor.Options),
                bus=bus,
            )
        )
        with pytest.raises(DeviceError, match=r"cannot request lines .*CONTACTOR.*busy"):
            other.setup()
    finally:
        held.release()


def test_unknown_line_name_names_the_option(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    with pytest.raises(DeviceError, match="coil: chip gpiochip0 has no line 'RELAY9'"):
        make(bus, "gpio-contactor", coil={"chip": "gpiochip0", "line": "RELAY9"})


def test_unknown_chip_lists_the_chips_there_are(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    with pytest.raises(BusError, match=r"no GPIO chip named or labelled .gpiochip7..*gpiochip0"):
        make(bus, "gpio-contactor", coil={"chip": "gpiochip7", "line": 1})


def test_a_failing_chip_raises_instead_of_returning_a_stale_state(
    sim: SimLinuxAcBoard, bus: LinuxBus
) -> None:
    lock: GpioLock = make(bus, "gpio-lock")
    try:
        sim.fail_gpio(True)
        with pytest.raises(DeviceError, match="feedback"):
            lock.read()
        sim.fail_gpio(False)
        assert lock.read().locked is False
    finally:
        lock.release()


def test_lock_motor_drives_one_direction_at_a_time_and_stops(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    lock: GpioLock = make(bus, "gpio-lock")
    try:
        lock.lock()
        assert sim.chip.output("LOCK_MOTOR_A") and not sim.chip.output("LOCK_MOTOR_B")
        eventually(lambda: lock.read().locked is True)
        eventually(lambda: not sim.chip.output("LOCK_MOTOR_A"))  # pulse over
        lock.unlock()
        assert sim.chip.output("LOCK_MOTOR_B") and not sim.chip.output("LOCK_MOTOR_A")
        eventually(lambda: lock.read().locked is False)
    finally:
        lock.release()
    assert not sim.chip.output("LOCK_MOTOR_A") and not sim.chip.output("LOCK_MOTOR_B")


def test_released_lines_show_as_free_and_the_consumer_while_held(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    contactor = make(bus, "gpio-contactor")
    handle = sim.gpiod.Chip(sim.chip.path)
    info = handle.get_line_info("CONTACTOR")
    # The kernel keeps 31 characters of a consumer name; the driver cuts it there itself.
    assert info.used and info.consumer == "josev-hal:evse[0].gpio-contactor"[:31]
    contactor.release()
    assert not handle.get_line_info("CONTACTOR").used


# -- PWM / IIO ---------------------------------------------------------------------------------------


def test_cp_pwm_attributes_follow_the_commands(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    cp: LinuxCp = make(bus, "linux-cp")
    try:
        attrs = sim.sysfs.pwm(0, 0)
        assert attrs == {"period": "1000000", "duty_cycle": "1000000", "polarity": "normal", "enable": "1"}
        assert cp.output.mode is CpMode.X1
        cp.set_pwm(26.67)
        assert sim.sysfs.pwm(0, 0)["duty_cycle"] == "266700"  # type: ignore[index]
        cp.set_state_f()
        assert sim.sysfs.pwm(0, 0)["duty_cycle"] == "0"  # type: ignore[index]
        cp.set_state_e()
        assert sim.chip.output("CP_STATE_E") and cp.output.mode is CpMode.STATE_E
        cp.set_x1()
        assert not sim.chip.output("CP_STATE_E")
    finally:
        cp.release()
    assert sim.generator() == ("f", None), "release leaves CP at state F"


def test_cp_reads_the_plateaus_of_the_ev_through_the_peak_detectors(
    sim: SimLinuxAcBoard, bus: LinuxBus
) -> None:
    cp: LinuxCp = make(bus, "linux-cp")
    try:
        sim.plug()
        cp.set_pwm(26.67)
        # The peak detectors follow the new output within a few PWM periods, not at once.
        assert eventually(lambda: plateaus(cp) == pytest.approx((9.0, -12.0), abs=0.15))
        sim.set_ev_state("C")
        assert eventually(lambda: abs(cp.read().positive_v - 6.0) < 0.15)
        resets = dict(sim.resets)
        cp.read()
        assert sim.resets["positive"] == resets["positive"] + 1, "every read resets the peak detectors"
        assert sim.resets["negative"] == resets["negative"] + 1
    finally:
        cp.release()


def test_inverted_output_stage_uses_the_inversed_polarity(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    cp: LinuxCp = make(bus, "linux-cp", pwm_inverted=True)
    try:
        assert sim.sysfs.pwm(0, 0)["polarity"] == "inversed"  # type: ignore[index]
        cp.set_pwm(50.0)
        assert sim.generator() == ("pwm", pytest.approx(50.0))
    finally:
        cp.release()


def test_pwm_export_waits_for_the_attributes_to_appear(tmp_path: Path) -> None:
    with SimLinuxAcBoard(tmp_path, export_delay_s=0.3) as slow:
        pwm = SysfsPwm(slow.sysfs_root, 0, 0, export_timeout_s=2.0)
        started = time.monotonic()
        pwm.export()
        assert time.monotonic() - started >= 0.25
        pwm.configure(1000.0, inverted=False)
        pwm.set(0.5)
        assert slow.sysfs.pwm(0, 0)["enable"] == "1"  # type: ignore[index]
        # Exporting again (a restart after a crash) is fine: the channel is already there.
        again = SysfsPwm(slow.sysfs_root, 0, 0, export_timeout_s=2.0)
        again.export()


def test_pwm_export_that_never_completes_is_a_clear_error(tmp_path: Path) -> None:
    with SimLinuxAcBoard(tmp_path, export_delay_s=1.0) as slow:
        with pytest.raises(BusError, match=r"did not become writable within 0\.1 s"):
            SysfsPwm(slow.sysfs_root, 0, 0, export_timeout_s=0.1).export()
        with pytest.raises(BusError, match="the chip has 2 channels"):
            SysfsPwm(slow.sysfs_root, 0, 5).export()


def test_a_vanished_adc_channel_raises_never_a_stale_value(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    pp = make(bus, "iio-pp")
    try:
        sim.plug(rc_ohm=220.0)
        eventually(lambda: (r := pp.read().resistance_ohm) is not None and abs(r - 220.0) < 5)
        sim.sysfs.remove_iio_channel(sim.adc, 2)
        with pytest.raises(DeviceError, match="in_voltage2"):
            pp.read()
    finally:
        pp.release()


def test_iio_device_is_found_by_name_and_a_missing_one_lists_the_others(
    sim: SimLinuxAcBoard, bus: LinuxBus
) -> None:
    pp = make(bus, "iio-pp", iio_device="iio:device0")
    pp.release()
    with pytest.raises(DeviceError, match=r"no IIO device 'ads1015'.*iio:device0 \(sim-adc\)"):
        make(bus, "iio-pp", iio_device="ads1015")


# -- probe -------------------------------------------------------------------------------------------


def test_probe_lists_chips_lines_pwm_iio_and_drafts_a_profile(sim: SimLinuxAcBoard) -> None:
    inv = inventory(sim.dev_dir, sim.sysfs_root, sim.gpiod)
    lines = inventory_lines(inv)
    assert lines[0].startswith("gpiochip0 [sim-soc-gpio] 12 lines")
    assert any("CONTACTOR_FEEDBACK" in line and "free" in line for line in lines)
    assert "pwmchip0: 2 PWM channel(s)" in lines
    assert any(line.startswith("iio:device0 [sim-adc]: in_voltage0") for line in lines)
    assert any("28-00000abcdef0" in line for line in lines)
    draft = tomllib.loads(draft_profile(inv, gpio_dev_dir=str(sim.dev_dir), sysfs_root=str(sim.sysfs_root)))
    assert draft["buses"]["soc"] == {
        "kind": "linux",
        "gpio_dev_dir": str(sim.dev_dir),
        "sysfs_root": str(sim.sysfs_root),
    }
    devices = draft["evse"][0]["devices"]
    assert devices["contactor"]["options"] == {
        "coil": {"chip": "gpiochip0", "line": "CONTACTOR"},
        "feedback": {"chip": "gpiochip0", "line": "CONTACTOR_FEEDBACK"},
    }
    assert devices["rcd"]["options"]["trip"] == {"chip": "gpiochip0", "line": "RCD_FAULT"}
    assert devices["lock"]["options"]["unlock"]["line"] == "LOCK_MOTOR_B"
    assert devices["cp"]["options"]["positive_peak_reset"]["line"] == "CP_POSITIVE_PEAK_RST"
    assert devices["cp"]["options"]["iio_device"] == "sim-adc"
    assert devices["temperature"]["options"]["sensors"][0]["id"] == "28-00000abcdef0"
    # Every drafted device table is valid for its driver (the rest of the profile is placeholders).
    for role, device in devices.items():
        msgspec.convert(device["options"], DRIVERS[device["driver"]].Options)
        assert role


def test_probe_without_gpiod_says_so_and_still_lists_sysfs(sim: SimLinuxAcBoard) -> None:
    lines = inventory_lines(inventory(sim.dev_dir, sim.sysfs_root, None))
    assert "! gpiod (libgpiod 2.x bindings) not installed: GPIO chips not listed" in lines
    assert "pwmchip0: 2 PWM channel(s)" in lines


def test_the_double_has_the_gpiod_names_the_drivers_use(tmp_path: Path) -> None:
    gpiod = pytest.importorskip("gpiod", reason="libgpiod 2.x bindings not installed (pip install gpiod)")
    double = SimGpiod(tmp_path)
    for name in ("Chip", "LineSettings", "is_gpiochip_device", "RequestReleasedError"):
        assert hasattr(gpiod, name) and hasattr(double, name), name
    for enum_name in ("Value", "Direction", "Bias", "Edge"):
        real = {m.name for m in getattr(gpiod.line, enum_name)}
        assert real == {m.name for m in getattr(double.line, enum_name)}, enum_name
    real_fields = set(gpiod.LineSettings.__dataclass_fields__)
    assert set(double.LineSettings.__dataclass_fields__) <= real_fields


GPIO_SIM = Path("/sys/kernel/config/gpio-sim")


@pytest.mark.skipif(
    not GPIO_SIM.is_dir(), reason="kernel gpio-sim not available (needs configfs and the gpio-sim module)"
)
def test_contactor_on_the_kernel_gpio_sim(tmp_path: Path) -> None:  # pragma: no cover - needs root + gpio-sim
    pytest.importorskip("gpiod", reason="libgpiod 2.x bindings not installed")
    if os.geteuid() != 0:
        pytest.skip("creating a gpio-sim chip needs root")
    name = f"josev{os.getpid()}"
    chip_dir = GPIO_SIM / name
    bank = chip_dir / "gpio-bank0"
    bank.mkdir(parents=True)
    try:
        (bank / "num_lines").write_text("4")
        for offset, line_name in ((0, "CONTACTOR"), (1, "CONTACTOR_FEEDBACK")):
            (bank / f"line{offset}").mkdir()
            (bank / f"line{offset}" / "name").write_text(line_name)
        (chip_dir / "live").write_text("1")
        chip = (bank / "chip_name").read_text().strip()
        bus = LinuxBus("soc", LinuxBusOptions())
        driver = GpioContactor(
            DeviceConfig(
                "evse[0].contactor",
                msgspec.convert(
                    {
                        "coil": {"chip": chip, "line": "CONTACTOR"},
                        "feedback": {"chip": chip, "line": "CONTACTOR_FEEDBACK"},
                    },
                    GpioContactor.Options,
                ),
                bus=bus,
            )
        )
        driver.setup()
        try:
            driver.close()
            sysfs_line = next(Path("/sys/devices/platform").glob(f"gpio-sim.*/{chip}/sim_gpio0/value"))
            assert sysfs_line.read_text().strip() == "1"
            pull = next(Path("/sys/devices/platform").glob(f"gpio-sim.*/{chip}/sim_gpio1/pull"))
            pull.write_text("pull-up")
            eventually(lambda: driver.read().feedback_closed is True)
        finally:
            driver.release()
            bus.release()
    finally:
        (chip_dir / "live").write_text("0")
        for offset in (0, 1):
            (bank / f"line{offset}").rmdir()
        bank.rmdir()
        chip_dir.rmdir()


def test_probe_linux_command_lists_sysfs_and_drafts_a_profile(
    sim: SimLinuxAcBoard, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from josev_hal.cli import main

    draft = tmp_path / "drafted.toml"
    code = main(
        [
            "probe",
            "linux",
            "--gpio-dev-dir",
            str(sim.dev_dir),
            "--sysfs-root",
            str(sim.sysfs_root),
            "--draft-profile",
            str(draft),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "pwmchip0: 2 PWM channel(s)" in out
    assert "iio:device0 [sim-adc]" in out
    # The real gpiod (if installed) does not take the double's files for chips: only sysfs drafts.
    devices = tomllib.loads(draft.read_text())["evse"][0]["devices"]
    assert devices["cp"]["driver"] == "linux-cp" and devices["pp"]["driver"] == "iio-pp"
    assert devices["temperature"]["options"]["sensors"][0]["kind"] == "ds18b20"


def test_buffered_cp_capture_measures_plateaus_and_duty_without_peak_detectors(
    sim: SimLinuxAcBoard, bus: LinuxBus
) -> None:
    cp: LinuxCp = make(
        bus,
        "linux-cp",
        sampling="buffered",
        positive_channel=4,
        positive_peak_reset=None,
        negative_peak_reset=None,
    )
    try:
        sim.plug()
        cp.set_pwm(26.67)
        # 20 samples per PWM period: the duty resolves to 5 % steps (6 of 20 samples high).
        assert eventually(lambda: plateaus(cp) == pytest.approx((9.0, -12.0), abs=0.15))
        assert cp.read().duty_percent == pytest.approx(30.0, abs=0.1)
        sim.set_ev_state("C")
        assert eventually(lambda: abs(cp.read().positive_v - 6.0) < 0.15)
        cp.set_x1()
        assert eventually(lambda: (s := cp.read()).duty_percent is None and abs(s.negative_v - 6.0) < 0.15)  # type: ignore[operator]
        assert sim.resets == {"positive": 0, "negative": 0}
    finally:
        cp.release()
    assert (sim.adc / "buffer" / "enable").read_text().strip() == "0", "release stops the capture"


def test_buffered_capture_that_stalls_raises(sim: SimLinuxAcBoard, bus: LinuxBus) -> None:
    cp: LinuxCp = make(
        bus,
        "linux-cp",
        sampling="buffered",
        positive_channel=4,
        positive_peak_reset=None,
        negative_peak_reset=None,
        buffer_timeout_ms=100,
    )
    try:
        cp.read()
        sim.sample_rate_hz = 1  # the trigger stops delivering
        (sim.adc / "buffer" / "enable").write_text("0\n")  # and the device stops capturing
        with pytest.raises(DeviceError, match=r"samples in 0\.1 s"):
            cp.read()
    finally:
        cp.release()


def test_buffered_mode_rejects_peak_resets() -> None:
    with pytest.raises(msgspec.ValidationError, match="no peak detectors to reset"):
        msgspec.convert({**OPTIONS["linux-cp"], "sampling": "buffered"}, LinuxCp.Options)
