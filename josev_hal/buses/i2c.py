"""The ``i2c`` bus kind: one smbus2 handle on a Linux I2C adapter, shared by every chip on it.

An AC board typically hangs an ADC (CP/PP), a GPIO expander (contactor, RCD, lock) and maybe a
PWM chip and an NFC reader on one adapter. The kernel serialises single transfers, but a driver
transaction is often several transfers (write the config register, poll it, read the result;
read-modify-write an output latch), so drivers hold :attr:`Bus.lock` for the whole sequence —
:class:`I2cDevice` does that for every call.

Errors: the kernel reports a NACK as ``EREMOTEIO``/``ENXIO`` (adapter dependent, ``EIO`` on
some), arbitration loss / a busy adapter as ``EAGAIN``/``EBUSY`` and a stuck bus as
``ETIMEDOUT``. :class:`I2cDevice` retries busy errors a few times (they are transient by nature)
and turns everything into :class:`~josev_hal.errors.BusError` /
:class:`~josev_hal.errors.DeviceTimeout` carrying the device id, so a fault names the part.

The smbus2 object is created by a factory: production uses ``smbus2.SMBus(bus)``; tests and
``josev-hal probe i2c --sim-chips`` pass a factory returning a register-level simulator
(:class:`josev_hal.buses.i2c_sim.SimI2cBus` with chip models such as :mod:`josev_hal_i2c.sim`),
so the whole driver path above the wire runs unchanged. The profile cannot select a simulator --
that is a deliberate choice.

Profile example::

    [buses.i2c1]
    kind = "i2c"
    bus = 1                  # /dev/i2c-1; a device path like "/dev/i2c-1" works too
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import msgspec

from josev_hal.buses import Bus
from josev_hal.errors import BusError, ConfigError, DeviceError, DeviceTimeout
from josev_hal.hookspecs import hookimpl

__all__ = [
    "BUSY_ERRNOS",
    "I2C_ADDRESSES",
    "NACK_ERRNOS",
    "I2cBus",
    "I2cBusOptions",
    "I2cDevice",
    "SmbusFactory",
    "hal_register_bus_kinds",
    "i2c_address_problem",
]

log = logging.getLogger(__name__)

#: errno values the kernel's adapters use for "address or data byte not acknowledged".
NACK_ERRNOS = frozenset({errno.EREMOTEIO, errno.ENXIO, errno.EIO})
#: errno values for "adapter busy / arbitration lost": worth retrying.
BUSY_ERRNOS = frozenset({errno.EAGAIN, errno.EBUSY})

#: Builds the smbus2-compatible object for a bus number or device path.
SmbusFactory = Callable[[int | str], Any]

T = TypeVar("T")


#: 7-bit addresses a device may use: 0x00-0x02 and 0x78-0x7F are reserved by the I2C
#: specification (general call, CBUS, 10-bit addressing ...).
I2C_ADDRESSES = range(0x03, 0x78)


def i2c_address_problem(address: int) -> str | None:
    """Why ``address`` cannot be an I2C device address (``None``: it can). The one definition used
    by ``josev-hal check`` and by :class:`I2cDevice` at setup."""
    if address not in I2C_ADDRESSES:
        return f"I2C address 0x{address:02x} is outside the 7-bit device range 0x03..0x77"
    return None


class I2cBusOptions(msgspec.Struct, forbid_unknown_fields=True):
    """``[buses.<name>]`` options of ``kind = "i2c"``."""

    #: Adapter number (``1`` = ``/dev/i2c-1`` on a Raspberry Pi) or a device path.
    bus: int | str = 1
    #: Retries of one transfer that failed with EAGAIN/EBUSY (arbitration loss, busy adapter).
    busy_retries: int = 3
    #: Pause between those retries.
    busy_retry_delay_ms: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.bus, int) and self.bus < 0:
            raise ValueError("bus: adapter number must be >= 0")
        if isinstance(self.bus, str) and not self.bus:
            raise ValueError("bus: device path must not be empty")
        if self.busy_retries < 0:
            raise ValueError("busy_retries: must be >= 0")
        if self.busy_retry_delay_ms < 0:
            raise ValueError("busy_retry_delay_ms: must be >= 0")


def _smbus2() -> Any:
    """smbus2, imported when an I2C bus is used: the bus kind is registered in every process,
    most boards have no I2C bus, and the daemon's start-up should not pay for the import."""
    import smbus2

    return smbus2


def _open_smbus(bus: int | str) -> Any:
    return _smbus2().SMBus(bus)


class I2cBus(Bus):
    """One I2C adapter. :meth:`setup` opens it through the factory, :meth:`release` closes it.

    Drivers do not call the smbus object directly; they use :meth:`device` to get an
    :class:`I2cDevice` bound to their address and device id.
    """

    kind: ClassVar[str] = "i2c"
    Options: ClassVar[type[msgspec.Struct]] = I2cBusOptions

    @classmethod
    def address_problem(cls, address: int) -> str | None:
        return i2c_address_problem(address)

    def __init__(self, name: str, options: msgspec.Struct, smbus_factory: SmbusFactory | None = None) -> None:
        super().__init__(name, options)
        if not isinstance(options, I2cBusOptions):
            raise TypeError(f"I2cBus options must be I2cBusOptions, got {type(options).__name__}")
        self.opts: I2cBusOptions = options
        self._factory: SmbusFactory = smbus_factory or _open_smbus
        self._smbus: Any = None
        self._chip_locks: dict[int, threading.RLock] = {}
        self._claims: dict[tuple[int, int], str] = {}
        self.transfers = 0
        self.errors = 0

    def use_smbus_factory(self, factory: SmbusFactory) -> None:
        """Replace the smbus factory before :meth:`setup` -- how a test puts a
        :class:`~josev_hal.buses.i2c_sim.SimI2cBus` under a board built from a real profile
        (``Board.build`` constructs buses without a factory)."""
        with self.lock:
            if self._smbus is not None:
                raise BusError(f"i2c bus {self.name} is already open", device=self.name)
            self._factory = factory

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self) -> None:
        """Open the adapter. Raises :class:`BusError` when it does not exist or is not accessible."""
        with self.lock:
            if self._smbus is not None:
                return
            try:
                self._smbus = self._factory(self.opts.bus)
            except (OSError, ValueError) as exc:
                raise BusError(f"cannot open I2C adapter {self.opts.bus!r}: {exc}", device=self.name) from exc
            log.info("i2c bus opened name=%s adapter=%s", self.name, self.opts.bus)

    def release(self) -> None:
        """Close the adapter. Idempotent; never raises."""
        with self.lock:
            handle, self._smbus = self._smbus, None
        if handle is None:
            return
        try:
            handle.close()
        except Exception as exc:
            log.warning("i2c bus close failed name=%s error=%s", self.name, exc)

    @property
    def is_open(self) -> bool:
        return self._smbus is not None

    def describe(self) -> str:
        adapter = self.opts.bus if isinstance(self.opts.bus, str) else f"/dev/i2c-{self.opts.bus}"
        return f"i2c {self.name} {adapter}"

    # -- access ------------------------------------------------------------------------------
    def chip_lock(self, address: int) -> threading.RLock:
        """A lock shared by every driver using the chip at ``address``.

        Hold it for a multi-transfer sequence on one chip (start a conversion, wait, read it;
        read-modify-write an output latch) instead of :attr:`lock`: other chips stay reachable
        while one ADC converts, so a contactor can open during a CP measurement.
        """
        with self.lock:
            return self._chip_locks.setdefault(address, threading.RLock())

    def claim_pins(self, address: int, pins: dict[int, str], owner: str) -> None:
        """Reserve output/input pins (or PWM channels) of the chip at ``address`` for ``owner``.

        Several drivers share one expander; the profile check cannot see pins, so two devices
        given the same pin (an RCD test output on the contactor coil) are caught here, at setup,
        before either drives it. ``pins`` maps pin -> role name for the message. All or nothing.
        """
        with self.lock:
            for pin, role in pins.items():
                holder = self._claims.get((address, pin))
                if holder is not None and holder != owner:
                    raise ConfigError(
                        f"{owner}: {role} pin {pin} of the chip at 0x{address:02x} on {self.name} "
                        f"is already used by {holder}"
                    )
            for pin in pins:
                self._claims[(address, pin)] = owner

    def release_pins(self, owner: str) -> None:
        """Drop every claim of ``owner`` (driver release)."""
        with self.lock:
            for key in [k for k, v in self._claims.items() if v == owner]:
                del self._claims[key]

    def device(self, address: int, device_id: str | None = None, plugin: str | None = None) -> I2cDevice:
        """A handle for the chip at ``address`` whose errors carry ``device_id``."""
        return I2cDevice(self, address, device_id=device_id or f"{self.name}@0x{address:02x}", plugin=plugin)

    def call(self, address: int, op: str, fn: Callable[[Any], T], *, device: str, plugin: str | None) -> T:
        """Run ``fn(smbus)`` under the bus lock, retrying busy errors and mapping OSError.

        ``op`` describes the transfer for the error message (``"read reg 0x01"``).
        """
        attempts = self.opts.busy_retries + 1
        with self.lock:
            if self._smbus is None:
                raise BusError(f"i2c bus {self.name} is not open ({op} at 0x{address:02x})", device=device)
            for attempt in range(attempts):
                try:
                    self.transfers += 1
                    return fn(self._smbus)
                except OSError as exc:
                    self.errors += 1
                    code = exc.errno
                    if code in BUSY_ERRNOS and attempt + 1 < attempts:
                        time.sleep(self.opts.busy_retry_delay_ms / 1000.0)
                        continue
                    raise _map_os_error(exc, self.name, address, op, device, plugin) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def _map_os_error(
    exc: OSError, bus: str, address: int, op: str, device: str, plugin: str | None
) -> DeviceError:
    where = f"{op} at 0x{address:02x} on {bus}"
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    if exc.errno in NACK_ERRNOS:
        return BusError(f"no ACK: {where} ({name})", device=device, plugin=plugin)
    if exc.errno in BUSY_ERRNOS:
        return BusError(f"bus busy: {where} ({name}), gave up after retries", device=device, plugin=plugin)
    if exc.errno == errno.ETIMEDOUT:
        return DeviceTimeout(
            f"timeout: {where} (bus stuck or clock stretched too long)", device=device, plugin=plugin
        )
    return BusError(f"I2C error: {where}: {exc}", device=device, plugin=plugin)


class I2cDevice:
    """The chip at one address, seen through its bus: typed transfers with typed errors.

    16-bit registers of the chips we drive (ADS1x15, PCA9685 values aside) are MSB first, while
    SMBus "word" transfers are LSB first, hence :meth:`read_u16_be` / :meth:`write_u16_be`.
    Use ``with dev.lock:`` (the per-chip lock) around several calls that must not interleave with
    another driver of the same chip.
    """

    def __init__(self, bus: I2cBus, address: int, *, device_id: str, plugin: str | None = None) -> None:
        problem = i2c_address_problem(address)
        if problem:
            raise ValueError(problem)
        self.bus = bus
        self.address = address
        self.device_id = device_id
        self.plugin = plugin
        self.lock = bus.chip_lock(address)

    def _call(self, op: str, fn: Callable[[Any], T]) -> T:
        return self.bus.call(self.address, op, fn, device=self.device_id, plugin=self.plugin)

    def read_u8(self, register: int) -> int:
        return int(
            self._call(f"read reg 0x{register:02x}", lambda s: s.read_byte_data(self.address, register))
        )

    def write_u8(self, register: int, value: int) -> None:
        self._call(
            f"write reg 0x{register:02x}", lambda s: s.write_byte_data(self.address, register, value & 0xFF)
        )

    def read_block(self, register: int, length: int) -> bytes:
        data = self._call(
            f"read {length} bytes from reg 0x{register:02x}",
            lambda s: s.read_i2c_block_data(self.address, register, length),
        )
        return bytes(data)

    def write_block(self, register: int, data: Sequence[int] | bytes) -> None:
        payload = list(data)
        self._call(
            f"write {len(payload)} bytes to reg 0x{register:02x}",
            lambda s: s.write_i2c_block_data(self.address, register, payload),
        )

    def read_u16_be(self, register: int) -> int:
        hi, lo = self.read_block(register, 2)
        return (hi << 8) | lo

    def write_u16_be(self, register: int, value: int) -> None:
        self.write_block(register, [(value >> 8) & 0xFF, value & 0xFF])

    def write_raw(self, data: bytes) -> None:
        """A plain write transfer without a register pointer (PN532 frames)."""
        self._call(
            f"write {len(data)} raw bytes", lambda s: s.i2c_rdwr(_smbus2().i2c_msg.write(self.address, data))
        )

    def read_raw(self, length: int) -> bytes:
        """A plain read transfer of ``length`` bytes (PN532 status + frame)."""

        def run(s: Any) -> bytes:
            msg = _smbus2().i2c_msg.read(self.address, length)
            s.i2c_rdwr(msg)
            return bytes(msg)

        return self._call(f"read {length} raw bytes", run)

    def __repr__(self) -> str:
        return f"<I2cDevice {self.device_id} 0x{self.address:02x} on {self.bus.name}>"


@hookimpl
def hal_register_bus_kinds() -> dict[str, type[Bus]]:
    """The ``i2c`` bus kind."""
    return {"i2c": I2cBus}
