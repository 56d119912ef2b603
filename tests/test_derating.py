"""Temperature derating: the [derating] curve (steps, hysteresis, stop) and the monitor feeding a
real EvseController on the simulated world (sim-temperature), the Linux temperature sensors on
the temporary sysfs tree, and the profile table's checks."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from josev_hal_linux.sim import SimLinuxAcBoard, ntc_celsius_to_ohm
from josev_hal_linux.temperature import LinuxTemperature, NtcSensor, ntc_celsius, pt1000_celsius
from josev_hal_sim import DRIVERS as SIM_DRIVERS

from josev_hal.derating import DeratingCurve, DeratingMonitor
from josev_hal.devices import DeviceConfig
from josev_hal.errors import DeviceError, ProfileError
from josev_hal.messages import payloads as p
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import DeratingSettings, load_profile_text
from tests.support.factories_linux import linux_bus_for
from tests.support.station import SimEvse

SETTINGS = msgspec.convert(
    {
        "steps": [
            {"above_c": 60, "limit_a": 16},
            {"above_c": 70, "limit_a": 10},
            {"above_c": 75, "limit_a": 6},
        ],
        "hysteresis_k": 5,
        "stop_above_c": 85,
        "interval_s": 0.05,
    },
    DeratingSettings,
)


# -- the curve --------------------------------------------------------------------------------------


def test_curve_steps_down_as_it_heats_and_back_only_after_the_hysteresis() -> None:
    curve = DeratingCurve(SETTINGS)
    path = [
        (25.0, None),
        (60.0, None),  # "above" means strictly above
        (61.0, 16.0),
        (71.0, 10.0),
        (68.0, 10.0),  # below 70 but not 5 K below: stays
        (65.5, 10.0),
        (64.9, 16.0),  # 5 K below 70: back one step
        (58.0, 16.0),
        (54.9, None),
        (76.0, 6.0),  # jumps straight to the step it is in
        (40.0, None),  # cooled past every step at once
    ]
    for celsius, expected in path:
        decision = curve.update(celsius)
        assert decision.limit_a == expected, celsius
        assert not decision.stop


def test_curve_stops_above_the_top_and_resumes_only_after_cooling() -> None:
    curve = DeratingCurve(SETTINGS)
    assert curve.update(86.0).stop and curve.update(86.0).limit_a == 0.0
    assert curve.update(84.0).stop, "within the hysteresis it stays stopped"
    resumed = curve.update(79.9)
    assert not resumed.stop and resumed.limit_a == 6.0


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("steps = [{ above_c = 60, limit_a = 16 }, { above_c = 55, limit_a = 10 }]", "steps[1].above_c"),
        ("steps = [{ above_c = 60, limit_a = 10 }, { above_c = 70, limit_a = 16 }]", "steps[1].limit_a"),
        ("steps = [{ above_c = 90, limit_a = 10 }]\nstop_above_c = 85", "stop_above_c"),
        ("stepz = []", "derating.stepz: unknown key"),
    ],
)
def test_profile_rejects_a_bad_derating_table_at_its_line(table: str, message: str) -> None:
    board = Path(__file__).resolve().parents[1] / "boards" / "linux-gpio-iio-pwm.toml"
    text = board.read_text()
    start, end = text.index("[derating]\n"), text.index("[buses.soc]")
    text = f"{text[:start]}[derating]\n{table}\n\n{text[end:]}"
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, "board.toml", get_plugin_manager())
    assert any(msg.startswith("board.toml:") and message in msg for msg in info.value.problems), (
        info.value.problems
    )


# -- the monitor on a real controller ------------------------------------------------------------------


@pytest.fixture
def ac() -> Iterator[SimEvse]:
    rig = SimEvse("ac")
    yield rig
    rig.close()


def fault_keys(rig: SimEvse) -> set[str]:
    """Active fault keys (the controller's ``faults`` is a mapping or a method returning one)."""
    faults: Any = rig.ctl.faults
    faults = faults() if callable(faults) else faults
    return {getattr(f, "key", f) for f in (faults.values() if isinstance(faults, dict) else faults)}


def make_sensor(rig: SimEvse) -> Any:
    cls = SIM_DRIVERS["sim-temperature"]
    driver = cls(
        DeviceConfig(
            device_id=f"{rig.evse_id}.temperature",
            options=msgspec.convert({"sensors": ["socket", "cable"]}, cls.Options),
            evse_id=rig.evse_id,
            plugin="sim",
        )
    )
    driver.setup()
    rig.drivers.append(driver)
    return driver


def test_derating_steps_reach_the_controller_and_the_pwm(ac: SimEvse) -> None:
    monitor = DeratingMonitor(ac.ctl, make_sensor(ac), SETTINGS)
    ac.plug()
    ac.tick()
    ac.charge()
    ac.settle(0.3)
    assert ac.ctl.contactor_closed
    assert monitor.poll().limit_a is None
    assert ac.ctl.derating_limit_a is None
    ac.world.set_temperature("cable", 72.0)  # the hottest sensor decides
    assert monitor.poll().limit_a == 10.0
    assert ac.ctl.derating_limit_a == 10.0
    assert ac.ctl.ac_limit_a() == 10.0
    ac.settle(0.2)
    assert ac.ctl.contactor_closed, "a derating reduces the current, it does not stop the session"
    ac.world.set_temperature("cable", 66.0)
    assert monitor.poll().limit_a == 10.0  # hysteresis
    ac.world.set_temperature("cable", 50.0)
    assert monitor.poll().limit_a is None
    assert ac.ctl.derating_limit_a is None


def test_over_the_top_stops_with_a_hardware_fault_until_it_cools(ac: SimEvse) -> None:
    monitor = DeratingMonitor(ac.ctl, make_sensor(ac), SETTINGS)
    ac.plug()
    ac.tick()
    ac.charge()
    ac.settle(0.3)
    assert ac.ctl.contactor_closed
    ac.world.set_temperature("socket", 90.0)
    assert monitor.poll().stop
    ac.settle(0.3)
    assert not ac.ctl.contactor_closed, "the blocking fault opens the contactor"
    faults = [(f.component_name, f.fault_name) for f in ac.of(p.HardwareFaultUpdate)]
    assert faults == [("temperature", p.HardwareFaultName.OTHER)]
    ac.world.set_temperature("socket", 82.0)
    assert monitor.poll().stop, "still within the hysteresis of the stop temperature"
    ac.world.set_temperature("socket", 60.0)
    assert not monitor.poll().stop
    assert "temperature" not in fault_keys(ac)


def test_a_sensor_that_disappears_is_a_fault_and_stops_never_a_stale_value(ac: SimEvse) -> None:
    monitor = DeratingMonitor(ac.ctl, make_sensor(ac), SETTINGS)
    ac.world.set_temperature("cable", 65.0)
    assert monitor.poll().limit_a == 16.0
    ac.world.set_temperature("cable", None)  # unplugged from the board
    decision = monitor.poll()
    assert decision.stop and decision.limit_a == 0.0
    assert ac.ctl.derating_limit_a == 0.0
    assert "temperature_sensor" in fault_keys(ac)
    ac.world.set_temperature("cable", 30.0)
    assert monitor.poll().limit_a is None
    assert "temperature_sensor" not in fault_keys(ac)


def test_monitor_thread_follows_the_sensor_on_its_own(ac: SimEvse) -> None:
    from tests.support.waiting import eventually

    monitor = DeratingMonitor(ac.ctl, make_sensor(ac), SETTINGS)
    monitor.start()
    try:
        ac.world.set_temperature("socket", 77.0)
        assert eventually(lambda: ac.ctl.derating_limit_a == 6.0)
    finally:
        monitor.stop()


# -- Linux sensors -------------------------------------------------------------------------------------


def test_ntc_and_pt1000_conversions_invert_the_resistance_tables() -> None:
    ntc = NtcSensor(name="s", iio_device="adc", channel=0)
    for celsius in (-20.0, 0.0, 25.0, 60.0, 100.0):
        assert ntc_celsius(ntc_celsius_to_ohm(celsius), ntc) == pytest.approx(celsius, abs=1e-6)
    # IEC 60751: 1385.1 ohm at 100 degC, 1000 ohm at 0 degC
    assert pt1000_celsius(1000.0) == pytest.approx(0.0, abs=1e-9)
    assert pt1000_celsius(1385.06) == pytest.approx(100.0, abs=0.05)
    sh = NtcSensor(
        name="s", iio_device="adc", channel=0, steinhart_hart=(1.129148e-3, 2.34125e-4, 8.76741e-8)
    )
    assert ntc_celsius(10_000.0, sh) == pytest.approx(25.0, abs=0.1)
    assert math.isfinite(ntc_celsius(1_000.0, sh))


@pytest.fixture
def linux(tmp_path: Path) -> Iterator[tuple[SimLinuxAcBoard, LinuxTemperature]]:
    with SimLinuxAcBoard(tmp_path, ntc_celsius=40.0, ds18b20_celsius=31.5) as sim:
        bus = linux_bus_for(sim)
        options = msgspec.convert(
            {
                "sensors": [
                    {"name": "socket", "kind": "ntc", "iio_device": "sim-adc", "channel": 3},
                    {"name": "cable", "kind": "ds18b20", "id": sim.ds18b20_serial},
                ]
            },
            LinuxTemperature.Options,
        )
        sensor = LinuxTemperature(DeviceConfig("evse[0].temperature", options, bus=bus))
        sensor.setup()
        try:
            yield sim, sensor
        finally:
            sensor.release()
            bus.release()


def test_linux_sensors_read_the_ntc_and_the_ds18b20(linux: tuple[SimLinuxAcBoard, LinuxTemperature]) -> None:
    _sim, sensor = linux
    sample = sensor.read()
    values = dict(sample.celsius)
    assert values["socket"] == pytest.approx(40.0, abs=0.5)  # 12-bit ADC quantisation
    assert values["cable"] == 31.5
    assert sample.hottest[0] == "socket"


def test_a_disconnected_ntc_or_a_vanished_ds18b20_raises(
    linux: tuple[SimLinuxAcBoard, LinuxTemperature],
) -> None:
    sim, sensor = linux
    sim.set_ntc(None)
    with pytest.raises(DeviceError, match="sensor socket: open circuit"):
        sensor.read()
    sim.set_ntc(40.0)
    sensor.read()
    sim.set_ds18b20(None)
    with pytest.raises(DeviceError, match="sensor cable: 1-wire device 28-00000abcdef0 not present"):
        sensor.read()


def test_old_kernels_w1_slave_file_is_read_with_its_crc(
    linux: tuple[SimLinuxAcBoard, LinuxTemperature],
) -> None:
    sim, sensor = linux
    d = sim.sysfs_root / "bus" / "w1" / "devices" / sim.ds18b20_serial
    (d / "temperature").unlink()
    (d / "w1_slave").write_text(
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
    )
    assert dict(sensor.read().celsius)["cable"] == 23.125
    (d / "w1_slave").write_text(
        "72 01 4b 46 7f ff 0e 10 57 : crc=00 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
    )
    with pytest.raises(DeviceError, match="CRC"):
        sensor.read()
