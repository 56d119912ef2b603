"""Driver-contract factories for the I2C drivers (``josev_hal_i2c``).

Merged into :data:`tests.support.driver_factories.FACTORIES` (protocol documented there). Peer:
the simulated AC board of :func:`josev_hal_i2c.sim.build_ac_board` — ADS1115 @0x48 behind
the CP peak detectors and the PP divider, PCA9685 @0x40 generating CP, MCP23017 or PCA9555 @0x20
with the contactor/lock/RCD wired back to inputs, PN532 @0x24 — reached through a real
:class:`~josev_hal.buses.i2c.I2cBus` whose smbus factory returns the simulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec
from josev_hal_i2c import DRIVERS
from josev_hal_i2c.sim import REFERENCE_CP_SHIFTER, SimAcBoard, SimImdModule, build_ac_board

from josev_hal.buses.i2c import I2cBus, I2cBusOptions
from josev_hal.devices import DeviceConfig, Driver

if TYPE_CHECKING:
    from tests.support.driver_factories import ContractEnv, Factory

__all__ = ["I2C_FACTORIES"]

_CP = {
    "adc_v_per_cp_v": REFERENCE_CP_SHIFTER.gain,
    "adc_offset_v": REFERENCE_CP_SHIFTER.offset_v,
    "state_e_channel": 1,
}
_CONTACTOR = {"pin": 0, "feedback_pin": 8}
_RCD = {"trip_pin": 10, "test_pin": 3, "reset_pin": 4, "test_pulse_ms": 30.0, "reset_pulse_ms": 5.0}
_LOCK = {"lock_pin": 1, "feedback_pin": 9}
# IMD on pins the AC board leaves free; a simulated IMD (SimImdModule) is wired to them.
_IMD = {
    "ok_pin": 11,
    "warning_pin": 12,
    "enable_pin": 5,
    "test_pin": 6,
    "settle_ms": 20.0,
    "test_pulse_ms": 30.0,
    "test_timeout_ms": 1000.0,
}

#: driver name -> (gpio chip of the simulated board, address, options)
_SETUPS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "ads1x15-cp": ("mcp23017", 0x48, _CP),
    "ads1x15-pp": ("mcp23017", 0x48, {"channel": 2}),
    "mcp23017-contactor": ("mcp23017", 0x20, _CONTACTOR),
    "pca9555-contactor": ("pca9555", 0x20, _CONTACTOR),
    "mcp23017-rcd": ("mcp23017", 0x20, _RCD),
    "pca9555-rcd": ("pca9555", 0x20, _RCD),
    "mcp23017-lock": ("mcp23017", 0x20, _LOCK),
    "pca9555-lock": ("pca9555", 0x20, _LOCK),
    "mcp23017-imd": ("mcp23017", 0x20, _IMD),
    "pca9555-imd": ("pca9555", 0x20, _IMD),
    "pn532-reader": ("mcp23017", 0x24, {}),
    # a control box's relay contact to GND on a free pin, with the pull-up: active when low
    "mcp23017-input": ("mcp23017", 0x20, {"pin": 14, "active_level": "low", "pull_up": True}),
    "pca9555-input": ("pca9555", 0x20, {"pin": 14, "active_level": "low"}),
}


def _controls(env: ContractEnv, board: SimAcBoard, address: int) -> None:
    def disconnect(down: bool) -> None:
        if down:
            board.bus.inject_nack(address, count=None)
        else:
            board.bus.clear_faults()

    def weld(on: bool) -> None:
        board.contactor_feedback.stuck = True if on else None

    def stick_open(on: bool) -> None:
        board.contactor_feedback.stuck = False if on else None

    def trip(on: bool) -> None:
        if on:
            board.rcd.trip()
        else:
            board.rcd.clear()

    env.peer.disconnect = disconnect
    env.peer.weld = weld
    env.peer.stick_open = stick_open
    env.peer.trip_rcd = trip
    env.peer.present_token = lambda uid: board.reader.present(bytes.fromhex(uid))


def _factory(name: str) -> Factory:
    gpio_chip, address, options = _SETUPS[name]

    @contextmanager
    def factory(env: ContractEnv) -> Iterator[Driver]:
        board = build_ac_board(gpio_chip=gpio_chip, rcd_test_delay_s=0.01, contactor_delay_s=0.02)
        _controls(env, board, address)
        SimImdModule().wire(board.gpio, ok_pin=11, warning_pin=12, enable_pin=5, test_pin=6, startup_s=0.01)
        contact = {"closed": False}  # the control box's relay on pin 14 (closed pulls it low)
        board.gpio.connect_input(14, lambda: not contact["closed"])
        env.peer.set_input = lambda on: contact.update(closed=on)
        bus = I2cBus("i2c1", I2cBusOptions(bus=1), smbus_factory=board.bus.factory)
        bus.setup()
        cls = DRIVERS[name]
        driver = cls(
            DeviceConfig(
                device_id=f"contract.{name}",
                options=msgspec.convert(options, cls.Options),
                bus=bus,
                address=address,
                plugin="i2c",
            )
        )
        driver.setup()
        try:
            yield driver
        finally:
            driver.release()
            bus.release()

    return factory


#: driver name -> contract factory, one per registered I2C driver.
I2C_FACTORIES: dict[str, Factory] = {name: _factory(name) for name in DRIVERS}
