"""A contactor whose coil is driven by one pin of a PCF8574 I2C port expander (the common 8-relay
modules), with the contactor's mirror contact read on another pin of the same chip.

The PCF8574 has no registers: a one-byte write transfer sets the 8 output latches, a one-byte
read transfer returns the 8 pin levels. Its pins are quasi-bidirectional: a latch at 1 is a weak
pull-up that an external contact can pull low, so every pin used as an input keeps its latch at 1.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Literal

import msgspec

from josev_hal.buses.i2c import I2cBus, I2cDevice
from josev_hal.devices import Claim, Contactor, ContactorSample, DeviceConfig, now_reading_times
from josev_hal.errors import BusError, DeviceError

__all__ = ["Pcf8574Contactor", "Pcf8574ContactorOptions"]

Level = Literal["low", "high"]


class Pcf8574ContactorOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``example-pcf8574-contactor``."""

    #: Pin (0-7) driving the relay that switches the contactor coil.
    coil_pin: int
    #: Level of ``coil_pin`` that energises the relay (most relay modules: ``low``).
    coil_active: Level = "low"
    #: Pin (0-7) reading the contactor's mirror contact; ``None``: no feedback.
    feedback_pin: int | None = None
    #: Level of ``feedback_pin`` that means "main contacts closed" (a contact to GND: ``low``).
    feedback_closed_level: Level = "low"

    def __post_init__(self) -> None:
        # "field: reason": `josev-hal check` reports it at the field's line.
        for name in ("coil_pin", "feedback_pin"):
            pin = getattr(self, name)
            if pin is not None and not 0 <= pin <= 7:
                raise ValueError(f"{name}: the PCF8574 has pins 0..7, got {pin}")
        if self.feedback_pin == self.coil_pin:
            raise ValueError("feedback_pin: must differ from coil_pin")


class Pcf8574Contactor(Contactor):
    """Coil relay + mirror contact on one PCF8574. :meth:`open` retries once on a bus error:
    opening is the one command that must get through."""

    Options: ClassVar[type[msgspec.Struct]] = Pcf8574ContactorOptions
    bus_kind: ClassVar[str | None] = "i2c"
    requires_address: ClassVar[bool] = True
    # One relay module often serves several EVSEs (one relay each): pins are claimed per device.
    address_shareable: ClassVar[bool] = True

    @classmethod
    def claims(cls, options: Any, address: int | None) -> list[Claim]:
        # The same list is claimed on the bus at setup and checked for clashes by `josev-hal check`.
        if address is None:
            return []
        pins = {"coil_pin": options.coil_pin, "feedback_pin": options.feedback_pin}
        return [Claim(address, "pin", pin, key) for key, pin in pins.items() if pin is not None]

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, Pcf8574ContactorOptions)
        self.opts: Pcf8574ContactorOptions = self.options
        self._dev: I2cDevice | None = None
        self._commanded = False
        self._lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self) -> None:
        bus: Any = self.config.bus
        if not isinstance(bus, I2cBus) or self.config.address is None:
            raise self.error("needs an i2c bus and an address", BusError)
        pins = {c.number: c.key for c in self.claims(self.opts, self.config.address)}
        bus.claim_pins(self.config.address, pins, self.device_id)
        self._dev = bus.device(self.config.address, device_id=self.device_id, plugin=self.config.plugin)
        try:
            self._write(False)  # whatever the latch held before, the coil starts released
        except DeviceError:
            bus.release_pins(self.device_id)
            self._dev = None
            raise

    def release(self) -> None:
        dev, self._dev = self._dev, None
        if dev is None:
            return
        try:
            self._write_to(dev, False)
        except Exception:  # release never raises; the module's own default is "off" at power loss
            pass
        dev.bus.release_pins(self.device_id)

    # -- Contactor ---------------------------------------------------------------------------
    @property
    def has_feedback(self) -> bool:
        return self.opts.feedback_pin is not None

    def close(self) -> None:
        self._write(True)

    def open(self) -> None:
        try:
            self._write(False)
        except DeviceError:
            self._write(False)

    def read(self) -> ContactorSample:
        dev = self._device()
        feedback: bool | None = None
        if self.opts.feedback_pin is not None:
            pins = dev.read_raw(1)[0]
            level = "high" if pins & (1 << self.opts.feedback_pin) else "low"
            feedback = level == self.opts.feedback_closed_level
        taken_at, utc = now_reading_times()
        return ContactorSample(
            taken_at=taken_at, utc=utc, commanded_closed=self._commanded, feedback_closed=feedback
        )

    def describe(self) -> dict[str, Any]:
        return {
            "chip": "PCF8574",
            "address": f"0x{self.config.address:02x}",
            **msgspec.structs.asdict(self.opts),
        }

    # -- internals ---------------------------------------------------------------------------
    def _device(self) -> I2cDevice:
        if self._dev is None:
            raise self.error("not set up")
        return self._dev

    def _write(self, closed: bool) -> None:
        self._write_to(self._device(), closed)

    def _write_to(self, dev: I2cDevice, closed: bool) -> None:
        # Every other pin stays 1 (input / released relay): other devices on the same module
        # own them, and a 1 is the PCF8574's harmless state.
        with self._lock, dev.lock:
            active_high = self.opts.coil_active == "high"
            coil_high = closed if active_high else not closed
            latch = 0xFF if coil_high else 0xFF & ~(1 << self.opts.coil_pin)
            dev.write_raw(bytes([latch]))
            self._commanded = closed
