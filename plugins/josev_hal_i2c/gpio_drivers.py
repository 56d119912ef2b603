"""Contactor, RCD, connector-lock and digital-input drivers on an MCP23017 or PCA9555/TCA9555 expander.

Each role has one generic implementation over :class:`~josev_hal_i2c.gpio.GpioExpander`; the
chip-specific classes only pick the register map and the options (the MCP23017 has
programmable 100 kΩ pull-ups, so its options add ``*_pull_up``; the PCA9555 has fixed ones).

Polarity options name the electrical level that *means* something: ``active = "low"`` for a
relay driver with an active-low input, ``feedback_closed_level = "low"`` when the input reads
low while the main contacts are closed. Example: a mirror (NC) contact between the pin and GND
with a pull-up reads **high** when the main contacts are closed (the mirror is then open).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import msgspec

from josev_hal.devices import (
    Claim,
    DeviceConfig,
    DigitalInput,
    Driver,
    InputSample,
    RcdSample,
    now_reading_times,
)
from josev_hal.errors import DeviceError
from josev_hal.line_drivers import LineContactor, LineLock, LineRcd

from ._common import Active, check_distinct, check_pin, chip_handle, level_for
from .gpio import MCP23017, PCA9555, ExpanderMap, GpioExpander

__all__ = [
    "ExpanderContactor",
    "ExpanderInput",
    "ExpanderLock",
    "ExpanderRcd",
    "Mcp23017Contactor",
    "Mcp23017Input",
    "Mcp23017Lock",
    "Mcp23017Rcd",
    "Pca9555Contactor",
    "Pca9555Input",
    "Pca9555Lock",
    "Pca9555Rcd",
]

log = logging.getLogger(__name__)


class _ExpanderDriver(Driver):
    """Shared plumbing: the expander handle built in :meth:`setup`."""

    chip_map: ClassVar[ExpanderMap]
    bus_kind: ClassVar[str | None] = "i2c"
    requires_address: ClassVar[bool] = True
    # Contactor, RCD and lock usually share one expander; pins are claimed per device at setup.
    address_shareable: ClassVar[bool] = True

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        self._gpio: GpioExpander | None = None

    @property
    def gpio(self) -> GpioExpander:
        if self._gpio is None:
            raise self.error("not set up")
        return self._gpio

    #: The options that name expander pins this device uses (claimed at setup, checked for clashes
    #: across the board by `josev-hal check` -- one list for both).
    pin_options: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def claims(cls, options: Any, address: int | None) -> list[Claim]:
        if address is None:
            return []
        pins = ((key, getattr(options, key, None)) for key in cls.pin_options)
        return [Claim(address, "pin", pin, key) for key, pin in pins if pin is not None]

    def _attach(self) -> GpioExpander:
        """Claim this device's pins (:meth:`claims`) on the chip and build the expander handle."""
        dev = chip_handle(self)
        pins = {c.number: c.key for c in self.claims(self.options, dev.address)}
        dev.bus.claim_pins(dev.address, pins, self.device_id)
        self._gpio = GpioExpander(dev, self.chip_map)
        return self._gpio

    def _detach(self) -> None:
        if self._gpio is not None:
            self._gpio.dev.bus.release_pins(self.device_id)
        self._gpio = None

    def describe(self) -> dict[str, Any]:
        address = self.config.address
        where = f"0x{address:02x}" if address is not None else "?"
        return {"chip": self.chip_map.chip, "address": where, **msgspec.structs.asdict(self.options)}

    def _pull_up(self, name: str) -> bool:
        return bool(getattr(self.options, name, False))

    # -- the line primitives of josev_hal.line_drivers.LineDriver -----------------------------
    #: Logical line name -> (option naming its pin, option naming the level that means active).
    line_options: ClassVar[dict[str, tuple[str, str]]] = {}

    def _pin(self, name: str) -> tuple[int | None, Active]:
        pin_key, active_key = self.line_options[name]
        return getattr(self.options, pin_key), getattr(self.options, active_key)

    def _set_line(self, name: str, active: bool) -> None:
        pin, level = self._pin(name)
        assert pin is not None, name
        self.gpio.write(pin, level_for(level, active))

    def _get_line(self, name: str) -> bool:
        pin, level = self._pin(name)
        assert pin is not None, name
        return self.gpio.read(pin) == level_for(level, True)

    def _has_line(self, name: str) -> bool:
        return self._pin(name)[0] is not None

    def _is_set_up(self) -> bool:
        return self._gpio is not None


# =============================================================================================
# Contactor
# =============================================================================================


class ContactorOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``pca9555-contactor`` (and base of ``mcp23017-contactor``)."""

    #: Output pin driving the contactor coil (0-7 port A/0, 8-15 port B/1).
    pin: int
    #: Level that energises the coil.
    active: Active = "high"
    #: Input pin of the mirror/auxiliary contact; ``None``: no feedback.
    feedback_pin: int | None = None
    #: Input level that means "main contacts closed".
    feedback_closed_level: Active = "high"

    def __post_init__(self) -> None:
        check_pin("pin", self.pin)
        check_pin("feedback_pin", self.feedback_pin)
        check_distinct(pin=self.pin, feedback_pin=self.feedback_pin)


class Mcp23017ContactorOptions(ContactorOptions, kw_only=True):
    """``options`` of ``mcp23017-contactor``."""

    #: Enable the MCP23017's 100 kΩ pull-up on the feedback pin.
    feedback_pull_up: bool = False


class ExpanderContactor(_ExpanderDriver, LineContactor):
    """Coil output + mirror-contact input on an expander. :meth:`open` retries once on a bus
    error before raising: opening is the one command that must get through."""

    pin_options = ("pin", "feedback_pin")
    line_options: ClassVar[dict[str, tuple[str, str]]] = {
        "coil": ("pin", "active"),
        "feedback": ("feedback_pin", "feedback_closed_level"),
    }

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, ContactorOptions)
        self.opts: ContactorOptions = self.options

    def setup(self) -> None:
        gpio = self._attach()
        # Open first: whatever the latch held before (a crashed HAL), the coil is released.
        gpio.setup_output(self.opts.pin, level_for(self.opts.active, False))
        self._commanded = False
        if self.opts.feedback_pin is not None:
            gpio.setup_input(self.opts.feedback_pin, pull_up=self._pull_up("feedback_pull_up"))

    def release(self) -> None:
        if self._gpio is None:
            return
        self._open_for_release()
        self._detach()


class Mcp23017Contactor(ExpanderContactor):
    chip_map = MCP23017
    Options: ClassVar[type[msgspec.Struct]] = Mcp23017ContactorOptions


class Pca9555Contactor(ExpanderContactor):
    chip_map = PCA9555
    Options: ClassVar[type[msgspec.Struct]] = ContactorOptions


# =============================================================================================
# RCD
# =============================================================================================


class RcdOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``pca9555-rcd`` (and base of ``mcp23017-rcd``)."""

    #: Input pin of the module's fault output.
    trip_pin: int
    #: Input level that means "tripped".
    trip_level: Active = "high"
    #: Output pin of the module's TEST input; ``None``: no self-test possible.
    test_pin: int | None = None
    test_active: Active = "high"
    #: How long TEST is asserted (VAC 5014: 30 ms-1.2 s, 250 ms typical).
    test_pulse_ms: float = 250.0
    #: Output pin of the module's RESET input; ``None``: the module resets by itself.
    reset_pin: int | None = None
    reset_active: Active = "high"
    reset_pulse_ms: float = 100.0

    def __post_init__(self) -> None:
        for name in ("trip_pin", "test_pin", "reset_pin"):
            check_pin(name, getattr(self, name))
        check_distinct(trip_pin=self.trip_pin, test_pin=self.test_pin, reset_pin=self.reset_pin)
        if not 0 < self.test_pulse_ms <= 5000:
            raise ValueError("test_pulse_ms: must be in (0, 5000]")
        if not 0 < self.reset_pulse_ms <= 5000:
            raise ValueError("reset_pulse_ms: must be in (0, 5000]")


class Mcp23017RcdOptions(RcdOptions, kw_only=True):
    """``options`` of ``mcp23017-rcd``."""

    #: Enable the pull-up on the trip input (open-collector fault outputs).
    trip_pull_up: bool = False


class ExpanderRcd(_ExpanderDriver, LineRcd):
    """RCD module wired to expander pins: trip input, TEST and RESET outputs."""

    pin_options = ("trip_pin", "test_pin", "reset_pin")
    line_options: ClassVar[dict[str, tuple[str, str]]] = {
        "trip": ("trip_pin", "trip_level"),
        "test": ("test_pin", "test_active"),
        "reset": ("reset_pin", "reset_active"),
    }
    test_line_option: ClassVar[str] = "test_pin"

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, RcdOptions)
        self.opts: RcdOptions = self.options

    def setup(self) -> None:
        gpio = self._attach()
        gpio.setup_input(self.opts.trip_pin, pull_up=self._pull_up("trip_pull_up"))
        if self.opts.test_pin is not None:
            gpio.setup_output(self.opts.test_pin, level_for(self.opts.test_active, False))
        if self.opts.reset_pin is not None:
            gpio.setup_output(self.opts.reset_pin, level_for(self.opts.reset_active, False))

    def release(self) -> None:
        if self._gpio is None:
            return
        for pin, active in (
            (self.opts.test_pin, self.opts.test_active),
            (self.opts.reset_pin, self.opts.reset_active),
        ):
            if pin is None:
                continue
            try:
                self.gpio.write(pin, level_for(active, False))
            except DeviceError as exc:
                log.warning("rcd release could not clear pin=%d device=%s error=%s", pin, self.device_id, exc)
        self._detach()

    def read(self) -> RcdSample:
        taken_at, utc = now_reading_times()
        return RcdSample(taken_at=taken_at, utc=utc, tripped=self._tripped())


class Mcp23017Rcd(ExpanderRcd):
    chip_map = MCP23017
    Options: ClassVar[type[msgspec.Struct]] = Mcp23017RcdOptions


class Pca9555Rcd(ExpanderRcd):
    chip_map = PCA9555
    Options: ClassVar[type[msgspec.Struct]] = RcdOptions


# =============================================================================================
# Connector lock
# =============================================================================================


class LockOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``pca9555-lock`` (and base of ``mcp23017-lock``).

    Two actuator kinds: a **held** actuator (solenoid, or a lock that follows a level) uses only
    ``lock_pin``, active while locked; a **motor** (H-bridge) uses ``lock_pin`` and
    ``unlock_pin`` and is driven for ``motor_pulse_ms`` in the wanted direction.
    """

    lock_pin: int
    unlock_pin: int | None = None
    active: Active = "high"
    #: Drive time of a motor move (two-pin actuators only).
    motor_pulse_ms: float = 600.0
    #: Input pin of the lock's position switch; ``None``: no feedback.
    feedback_pin: int | None = None
    #: Input level that means "locked".
    feedback_locked_level: Active = "high"

    def __post_init__(self) -> None:
        for name in ("lock_pin", "unlock_pin", "feedback_pin"):
            check_pin(name, getattr(self, name))
        check_distinct(lock_pin=self.lock_pin, unlock_pin=self.unlock_pin, feedback_pin=self.feedback_pin)
        if not 0 < self.motor_pulse_ms <= 5000:
            raise ValueError("motor_pulse_ms: must be in (0, 5000]")


class Mcp23017LockOptions(LockOptions, kw_only=True):
    """``options`` of ``mcp23017-lock``."""

    feedback_pull_up: bool = False


class ExpanderLock(_ExpanderDriver, LineLock):
    """Connector lock on expander pins. Motor moves end on a timer thread, so :meth:`lock` and
    :meth:`unlock` return after one bus write and never block the caller for the move."""

    pin_options = ("lock_pin", "unlock_pin", "feedback_pin")
    line_options: ClassVar[dict[str, tuple[str, str]]] = {
        "lock": ("lock_pin", "active"),
        "unlock": ("unlock_pin", "active"),
        "feedback": ("feedback_pin", "feedback_locked_level"),
    }

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, LockOptions)
        self.opts: LockOptions = self.options

    def setup(self) -> None:
        gpio = self._attach()
        off = level_for(self.opts.active, False)
        gpio.setup_output(self.opts.lock_pin, off)
        if self.opts.unlock_pin is not None:
            gpio.setup_output(self.opts.unlock_pin, off)
        if self.opts.feedback_pin is not None:
            gpio.setup_input(self.opts.feedback_pin, pull_up=self._pull_up("feedback_pull_up"))

    def release(self) -> None:
        if self._gpio is None:
            return
        with self._cmd_lock:
            self._cancel_timer()
            try:
                self._stop_motor()
            except DeviceError as exc:
                log.warning(
                    "lock release could not stop the actuator device=%s error=%s", self.device_id, exc
                )
        self._detach()


class Mcp23017Lock(ExpanderLock):
    chip_map = MCP23017
    Options: ClassVar[type[msgspec.Struct]] = Mcp23017LockOptions


class Pca9555Lock(ExpanderLock):
    chip_map = PCA9555
    Options: ClassVar[type[msgspec.Struct]] = LockOptions


# =============================================================================================
# Digital input (grid_limit: the grid operator's control box)
# =============================================================================================


class InputOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``pca9555-input`` (and base of ``mcp23017-input``)."""

    #: Input pin (0-15).
    pin: int
    #: Input level that means "active" (e.g. the control box's relay contact closed to GND
    #: with a pull-up reads ``low``).
    active_level: Active = "high"

    def __post_init__(self) -> None:
        check_pin("pin", self.pin)


class Mcp23017InputOptions(InputOptions, kw_only=True):
    """``options`` of ``mcp23017-input``."""

    #: Enable the 100 kΩ pull-up (a potential-free relay contact to GND).
    pull_up: bool = False


class ExpanderInput(_ExpanderDriver, DigitalInput):
    """One expander pin as a digital input (role ``grid_limit``). Read on demand (a few ms)."""

    pin_options = ("pin",)

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, InputOptions)
        self.opts: InputOptions = self.options

    def setup(self) -> None:
        gpio = self._attach()
        gpio.setup_input(self.opts.pin, pull_up=self._pull_up("pull_up"))

    def release(self) -> None:
        self._detach()

    def read(self) -> InputSample:
        taken_at, utc = now_reading_times()
        active = self.gpio.read(self.opts.pin) == (self.opts.active_level == "high")
        return InputSample(taken_at=taken_at, utc=utc, active=active)


class Mcp23017Input(ExpanderInput):
    chip_map = MCP23017
    Options: ClassVar[type[msgspec.Struct]] = Mcp23017InputOptions


class Pca9555Input(ExpanderInput):
    chip_map = PCA9555
    Options: ClassVar[type[msgspec.Struct]] = InputOptions
