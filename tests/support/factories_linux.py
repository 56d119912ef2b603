"""Driver-contract factories for the Linux GPIO / PWM / IIO drivers (``josev_hal_linux``).

Peer: :class:`~josev_hal_linux.sim.SimLinuxAcBoard` -- the gpiod API double with the
board's GPIO chip and a temporary sysfs tree with its PWM chip and IIO ADC, under
``env.tmp_path``. ``disconnect`` makes the GPIO chip fail every access (ENODEV); for the IIO
drivers it removes the channel's ``_raw`` file, as when the ADC driver is unbound.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec
from josev_hal_linux import DRIVERS, LinuxBus, LinuxBusOptions
from josev_hal_linux.sim import SimLinuxAcBoard

from josev_hal.devices import DeviceConfig, Driver

if TYPE_CHECKING:
    from tests.support.driver_factories import ContractEnv

__all__ = ["LINUX_FACTORIES", "OPTIONS", "linux_bus_for"]

CHIP = "gpiochip0"


def _line(name: str, **extra: Any) -> dict[str, Any]:
    return {"chip": CHIP, "line": name, **extra}


#: Options of each driver on the simulated board (the same wiring as boards/linux-gpio-iio-pwm.toml).
OPTIONS: dict[str, dict[str, Any]] = {
    "gpio-contactor": {"coil": _line("CONTACTOR"), "feedback": _line("CONTACTOR_FEEDBACK")},
    "gpio-rcd": {"trip": _line("RCD_FAULT", debounce_ms=5), "test": _line("RCD_TEST"), "test_pulse_ms": 150},
    "gpio-lock": {
        "lock": _line("LOCK_MOTOR_A"),
        "unlock": _line("LOCK_MOTOR_B"),
        "feedback": _line("LOCK_FEEDBACK"),
        "motor_pulse_ms": 100,
    },
    "linux-cp": {
        "pwm_chip": 0,
        "pwm_channel": 0,
        "iio_device": "sim-adc",
        "positive_channel": 0,
        "negative_channel": 1,
        "adc_v_per_cp_v": 0.122,
        "adc_offset_v": 1.7132,
        "positive_peak_reset": _line("CP_POSITIVE_PEAK_RST"),
        "negative_peak_reset": _line("CP_NEGATIVE_PEAK_RST"),
        "state_e": _line("CP_STATE_E"),
    },
    "iio-pp": {"iio_device": "sim-adc", "channel": 2},
    "linux-temperature": {
        "sensors": [
            {"name": "socket", "kind": "ntc", "iio_device": "sim-adc", "channel": 3},
            {"name": "cable", "kind": "ds18b20", "id": "28-00000abcdef0"},
        ]
    },
}


def linux_bus_for(sim: SimLinuxAcBoard) -> LinuxBus:
    bus = LinuxBus(
        "soc",
        LinuxBusOptions(
            gpio_dev_dir=str(sim.dev_dir), sysfs_root=str(sim.sysfs_root), iio_dev_dir=str(sim.dev_dir)
        ),
    )
    bus.use_gpiod(sim.gpiod)
    return bus


def _factory(name: str) -> Any:
    @contextmanager
    def make(env: ContractEnv) -> Iterator[Driver]:
        with SimLinuxAcBoard(env.tmp_path) as sim:
            if name in ("linux-cp", "iio-pp", "linux-temperature"):
                channel = {"linux-cp": 0, "iio-pp": 2, "linux-temperature": 3}[name]

                def disconnect(off: bool) -> None:
                    if off:
                        sim.sysfs.remove_iio_channel(sim.adc, channel)
                    else:
                        sim.sysfs.restore_iio_channel(sim.adc, channel)
                        sim.refresh()

                env.peer.disconnect = disconnect
            else:
                env.peer.disconnect = sim.fail_gpio
            if name == "gpio-contactor":
                env.peer.weld = sim.weld
                env.peer.stick_open = sim.stick_open
            if name == "gpio-rcd":
                env.peer.trip_rcd = sim.trip_rcd
            bus = linux_bus_for(sim)
            cls = DRIVERS[name]
            options = msgspec.convert(OPTIONS[name], cls.Options)
            driver = cls(DeviceConfig(device_id=f"contract.{name}", options=options, bus=bus))
            try:
                driver.setup()
                yield driver
            finally:
                driver.release()
                bus.release()

    return make


LINUX_FACTORIES = {name: _factory(name) for name in DRIVERS}
