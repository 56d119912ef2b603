"""Driver-contract factories for the CAN power-module and MCU-link drivers.

Merged into :data:`tests.support.driver_factories.FACTORIES` (see the protocol documented there).
Peers: the module-group simulators of :mod:`josev_hal_can.sim` on a python-can ``virtual``
channel, :class:`~josev_hal_mculink.sim.McuSim` on a pseudo-terminal.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from josev_hal_can.infypower import InfyPowerDc, InfyPowerOptions
from josev_hal_can.sim import InfyPowerGroupSim, WinlineGroupSim
from josev_hal_can.winline import WinlineDc, WinlineOptions
from josev_hal_mculink.drivers import McuContactor, McuContactorOptions, McuCp, McuRcd
from josev_hal_mculink.link import LinkOptions
from josev_hal_mculink.sim import McuSim

from josev_hal.buses.can import CanBus, CanBusOptions
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, Driver
from josev_hal.errors import DeviceError

if TYPE_CHECKING:
    from tests.support.driver_factories import ContractEnv, Factory

__all__ = ["CAN_FACTORIES"]

_LINK = {"keepalive_interval_s": 0.05, "mcu_failsafe_timeout_ms": 500, "link_timeout_s": 0.5}


def _wait_readable(read: Callable[[], Any], timeout_s: float = 5.0) -> None:
    """Block until the driver has its first reading (the peer answered once)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            read()
            return
        except DeviceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def _dc_group(env: ContractEnv, sim_cls: Any, driver_cls: Any, options_cls: Any) -> Iterator[Driver]:
    """A two-module group on its own virtual CAN channel, with the family's simulated peer."""
    channel = f"contract-{uuid.uuid4().hex}"
    sim = sim_cls(interface="virtual", channel=channel, modules=(0, 1), load_ohm=20.0).start()
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))
    bus.setup()
    env.peer.disconnect = lambda off: sim.set_silent(None, off)
    options = options_cls(modules=[0, 1], poll_interval_s=0.05, offline_after_s=0.5)
    driver = driver_cls(DeviceConfig(device_id="contract.power_module", options=options, bus=bus))
    try:
        driver.setup()
        _wait_readable(driver.read)
        yield driver
    finally:
        driver.release()
        bus.release()
        sim.stop()


def _infypower_dc(env: ContractEnv) -> Any:
    return _dc_group(env, InfyPowerGroupSim, InfyPowerDc, InfyPowerOptions)


def _winline_dc(env: ContractEnv) -> Any:
    return _dc_group(env, WinlineGroupSim, WinlineDc, WinlineOptions)


@contextmanager
def _mcu(env: ContractEnv, make: Callable[[SerialBus], Driver], read: str = "read") -> Iterator[Driver]:
    sim = McuSim(status_interval_s=0.05).start()
    bus = SerialBus("mcu", SerialBusOptions(port=sim.port, baudrate=115200))
    env.peer.disconnect = sim.mute

    def trip_rcd(on: bool) -> None:
        if on:
            sim.trip_rcd()
        else:
            sim.release_rcd()

    env.peer.weld = sim.set_weld
    env.peer.stick_open = sim.set_stick_open
    env.peer.trip_rcd = trip_rcd
    driver = make(bus)
    try:
        driver.setup()
        _wait_readable(getattr(driver, read))
        deadline = time.monotonic() + 5.0
        while sim.failsafe and time.monotonic() < deadline:
            time.sleep(0.01)
        # An EV requesting charge with PWM on: the state in which the MCU's own interlock lets
        # the contactor close, so the contract's close/open checks exercise the relay path.
        with sim.lock:
            sim.ev_state = "C"
            sim.cp_mode, sim.cp_duty_centi = 1, 5333
        yield driver
    finally:
        driver.release()
        bus.release()
        sim.stop()


def _config(bus: SerialBus, device: str, options: Any) -> DeviceConfig[Any]:
    return DeviceConfig(device_id=f"contract.{device}", options=options, bus=bus)


CAN_FACTORIES: dict[str, Factory] = {
    "infypower-dc": _infypower_dc,
    "winline-dc": _winline_dc,
    "mcu-cp": lambda env: _mcu(env, lambda bus: McuCp(_config(bus, "cp", LinkOptions(**_LINK)))),
    "mcu-contactor": lambda env: _mcu(
        env, lambda bus: McuContactor(_config(bus, "contactor", McuContactorOptions(**_LINK)))
    ),
    "mcu-rcd": lambda env: _mcu(env, lambda bus: McuRcd(_config(bus, "rcd", LinkOptions(**_LINK)))),
}
