"""Device roles: the plain driver objects the station core talks to.

A board is a set of devices, each playing one *role* for an EVSE (control pilot, contactor, meter,
...). A driver is a class that implements one role for one kind of hardware; plugins register
driver classes by name through :func:`josev_hal.hookspecs.HalSpec.hal_register_drivers`, and the
board profile says which driver, bus, address and options each device uses.

Hot paths (sampling the CP, switching a relay, polling a meter) call these objects directly;
there is never a hook call per operation.

Rules every driver follows (the contract tests in ``tests/test_driver_contract.py`` check them):

* **Time.** Every reading is a :class:`Reading` subclass that carries ``taken_at``
  (``time.monotonic()`` when the hardware was sampled) and ``utc`` (wall clock at the same
  moment). A driver never returns a cached value with a new timestamp: if it could not talk to
  the hardware it raises :class:`~josev_hal.errors.DeviceError` instead. Downstream code decides
  freshness with :meth:`Reading.age`.
* **Errors.** Failures raise :class:`~josev_hal.errors.DeviceError` (or a subclass) built with
  :meth:`Driver.error`, so the device id and plugin travel with the error.
* **Opening is sacred.** :meth:`Contactor.open` and the CP ``set_state_*`` methods must act
  immediately and must not wait on anything slower than the bus transaction itself.
* **Threads.** The core may call a driver from its sampling thread and from request-handler
  threads; drivers serialise their own bus access (the shared bus objects in
  :mod:`josev_hal.buses` already hold a per-bus lock).
* **Push, where the hardware can.** Drivers that learn about changes by themselves (interrupt
  GPIOs, an MCU link, the simulator) call :meth:`Driver.notify` so the core re-evaluates at once
  instead of waiting for its next poll. Everything else is polled by the core.

Readings and the small value types are frozen ``msgspec.Struct``s, not dataclasses: the core
builds several readings per EVSE at every sample (20 Hz), and a Struct is built in C about eight
times faster than a frozen dataclass (whose ``__init__`` goes through ``object.__setattr__``),
and defining one costs nothing at import, where a dataclass compiles its methods from source at
every start. Copy one with ``msgspec.structs.replace(reading, field=value)``.
"""

from __future__ import annotations

import enum
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from josev_hal.errors import ConfigError, DeviceError

__all__ = [
    "Claim",
    "ConnectorLock",
    "Contactor",
    "ContactorSample",
    "ControlPilot",
    "CpMode",
    "CpOutput",
    "CpSample",
    "DcCapabilities",
    "DcPowerModule",
    "DcSample",
    "DeviceConfig",
    "DigitalInput",
    "Driver",
    "IdToken",
    "IdTokenReader",
    "InputSample",
    "IsolationMonitor",
    "IsolationSample",
    "IsolationStatus",
    "LockSample",
    "Meter",
    "MeterReading",
    "NoOptions",
    "PhaseValues",
    "PpSample",
    "ProximityPilot",
    "Rcd",
    "RcdSample",
    "Reading",
    "Role",
    "SignedMeterValue",
    "TemperatureSample",
    "TemperatureSensor",
    "TransactionInfo",
    "now_reading_times",
]


class Role(enum.StrEnum):
    """What a device does for its EVSE. The value is the key used in board profiles
    (``[evse.devices.<role>]``)."""

    CONTROL_PILOT = "cp"
    PROXIMITY_PILOT = "pp"
    CONTACTOR = "contactor"
    RCD = "rcd"
    METER = "meter"
    CONNECTOR_LOCK = "lock"
    ID_TOKEN_READER = "id_reader"
    DC_POWER_MODULE = "power_module"
    ISOLATION_MONITOR = "isolation_monitor"
    # The grid operator's control input (section 14a EnWG control box, ripple control receiver):
    # active = dim the station to [limits.grid] active_limit_w. Any DigitalInput driver; listed
    # under one EVSE's devices, at most one per board (josev_hal.station.energy).
    GRID_LIMIT = "grid_limit"
    # The meter at the grid connection (house + EVSEs); any Meter driver serves it. With
    # [limits.site] max_current_a the HAL shares the headroom over its EVSEs. At most one.
    MAINS_METER = "mains_meter"
    # The L2/L3 contactor of a 1p/3p switch (any Contactor driver with its mirror contact);
    # its settings are the EVSE's [evse.phase_switching] table (josev_hal.station.phases).
    PHASE_SWITCH = "phase_switch"
    # The main meter of the whole station (OCPP evseId 0), listed under one EVSE's devices; any
    # Meter driver serves it. At most one per board. Without it, the station-level reading is
    # aggregated from the EVSE meters (josev_hal.station.station_meter).
    STATION_METER = "station_meter"
    # Temperature sensors of the EVSE (socket, cable, power electronics); the profile's
    # [derating] table turns the hottest one into a current limit (josev_hal.derating).
    TEMPERATURE = "temperature"


# --------------------------------------------------------------------------------------------
# Readings
# --------------------------------------------------------------------------------------------


def now_reading_times() -> tuple[float, datetime]:
    """``(monotonic, utc)`` for a reading taken now."""
    return time.monotonic(), datetime.now(UTC)


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every reading: when it was taken, on the monotonic and on the wall clock.

    ``taken_at`` is what freshness is judged by (it does not jump with NTP); ``utc`` is what goes
    on the wire as the reading's timestamp.
    """

    taken_at: float = msgspec.field(default_factory=time.monotonic)
    utc: datetime = msgspec.field(default_factory=lambda: datetime.now(UTC))

    def age(self, now: float | None = None) -> float:
        """Seconds since the hardware was sampled."""
        return (time.monotonic() if now is None else now) - self.taken_at


class CpSample(Reading, frozen=True, kw_only=True):
    """One control-pilot measurement.

    ``positive_v``: the positive plateau (high phase of the PWM, or the DC level) in volts at the
    CP pin (+12 V scale, not ADC volts). ``negative_v``: the negative plateau in volts (about
    -12 V with a healthy EV diode), ``None`` when the board cannot measure it (then no diode check
    is possible). ``duty_percent``: the duty cycle measured on the line, if the board measures it.
    """

    positive_v: float
    negative_v: float | None = None
    duty_percent: float | None = None


class CpMode(enum.StrEnum):
    """What the CP generator outputs."""

    X1 = "x1"  # constant +12 V (100 %): EVSE not ready / no PWM
    PWM = "pwm"  # 1 kHz PWM with ``duty_percent``
    STATE_E = "e"  # 0 V
    STATE_F = "f"  # constant -12 V


class CpOutput(msgspec.Struct, frozen=True):
    """The CP output actually applied by the generator."""

    mode: CpMode
    duty_percent: float | None = None  # only for PWM: 0 < duty < 100


class PpSample(Reading, frozen=True, kw_only=True):
    """One proximity-pilot measurement.

    ``resistance_ohm``: Rc between PP and PE (``None`` = open circuit / no cable). Boards that
    decode the cable rating themselves (an MCU) set ``ampacity_a`` instead; the core otherwise
    derives the ampacity from the resistance with the profile's windows.
    ``fault`` is True when the driver sees an electrically invalid PP (e.g. short to PE).
    """

    resistance_ohm: float | None = None
    ampacity_a: float | None = None
    fault: bool = False


class ContactorSample(Reading, frozen=True, kw_only=True):
    """``commanded_closed``: what the driver last commanded. ``feedback_closed``: what the mirror
    contact (auxiliary contact) reports, ``None`` when the board has no feedback input."""

    commanded_closed: bool
    feedback_closed: bool | None


class RcdSample(Reading, frozen=True, kw_only=True):
    """``tripped``: the residual-current monitor signals a fault (DC >= 6 mA or AC >= 30 mA).
    ``residual_ma``: measured residual current if the module reports it."""

    tripped: bool
    residual_ma: float | None = None


class PhaseValues(msgspec.Struct, frozen=True):
    """Per-phase values (L1, L2, L3). Single-phase meters fill l2/l3 with 0."""

    l1: float
    l2: float
    l3: float


class SignedMeterValue(msgspec.Struct, frozen=True):
    """A signed (Eichrecht / OCMF) meter value as the meter produced it."""

    measurand: str  # e.g. "Energy.Active.Import.Register"
    signed_meter_data: str  # base64 of the signed dataset (e.g. the OCMF string)
    signing_method: str  # e.g. "ECDSA-secp256r1-SHA256"
    encoding_method: str  # e.g. "OCMF"
    public_key: str  # base64 DER public key


class MeterReading(Reading, frozen=True, kw_only=True):
    """One meter reading. Units: V, A, W, Wh, varh, Hz. ``None`` = the meter does not provide it.

    Energy registers are in **Wh** (drivers convert kWh registers). Currents are signed where the
    meter gives a sign (negative = export), otherwise magnitudes.
    """

    voltage_v: PhaseValues | None = None
    current_a: PhaseValues | None = None
    power_w: float | None = None  # total active power, signed (import positive)
    energy_import_wh: float | None = None
    energy_export_wh: float | None = None
    reactive_import_varh: float | None = None
    reactive_export_varh: float | None = None
    frequency_hz: float | None = None
    power_factor: float | None = None  # 0..1 (absolute)
    dc_voltage_v: float | None = None
    dc_current_a: float | None = None
    signed: tuple[SignedMeterValue, ...] = ()


class TransactionInfo(msgspec.Struct, frozen=True):
    """What an Eichrecht meter needs to open a signed transaction."""

    transaction_id: str
    evse_id: str
    id_token: str | None = None
    id_token_type: str | None = None


class LockSample(Reading, frozen=True, kw_only=True):
    """``locked``: the lock's feedback (``None`` when the lock has no feedback)."""

    commanded_locked: bool
    locked: bool | None


class IdToken(Reading, frozen=True, kw_only=True):
    """A token presented at the reader. ``uid`` is lowercase hex without separators for RFID."""

    uid: str
    type: str = "ISO14443"  # token type as in the Josev API (ISO14443, ISO15693, key_code, ...)


class DcSample(Reading, frozen=True, kw_only=True):
    """Present output of a DC power module (or a group of modules acting as one).

    ``faults`` holds readable fault names from the module's status/alarm bits (e.g.
    ``"output_overvoltage"``); empty when healthy. ``enabled``: output switched on.
    ``warnings``: vendor warnings of modules that still deliver (a fan fault on a module that
    derates itself): reported and logged, never a reason to stop a charge by themselves.
    """

    voltage_v: float
    current_a: float
    enabled: bool
    faults: frozenset[str] = frozenset()
    warnings: frozenset[str] = frozenset()


class InputSample(Reading, frozen=True, kw_only=True):
    """A digital input: ``active`` after the driver applied the wiring's polarity (a control
    box's relay contact closed = the grid operator asks to dim)."""

    active: bool


class DcCapabilities(msgspec.Struct, frozen=True):
    """Static limits of a DC power module (or group): V, A, W."""

    max_voltage_v: float
    min_voltage_v: float
    max_current_a: float
    min_current_a: float
    max_power_w: float


class IsolationStatus(enum.StrEnum):
    """Isolation level as the Josev API names it (cs_status_and_limits / cable_check)."""

    INVALID = "invalid"
    VALID = "valid"
    WARNING = "warning"
    FAULT = "fault"
    NO_IMD = "no_imd"


class TemperatureSample(Reading, frozen=True, kw_only=True):
    """Every sensor of a temperature device read now: ``celsius`` is ``(sensor name, °C)`` in the
    order of the device's options. A sensor that cannot be read makes the whole read raise (a
    derating must never run on a stale or missing value)."""

    celsius: tuple[tuple[str, float], ...]

    @property
    def hottest(self) -> tuple[str, float]:
        """``(name, °C)`` of the hottest sensor."""
        return max(self.celsius, key=lambda item: item[1])


class IsolationSample(Reading, frozen=True, kw_only=True):
    """Isolation measurement: resistance DC+/DC- to PE in ohm (``None`` while not measuring, before
    the first result, and always for an IMD that signals through digital outputs only).
    ``status`` is the authority: ``invalid`` while ``measuring`` means "no result yet"."""

    resistance_ohm: float | None
    status: IsolationStatus
    measuring: bool


# --------------------------------------------------------------------------------------------
# Drivers
# --------------------------------------------------------------------------------------------


class NoOptions(msgspec.Struct, forbid_unknown_fields=True):
    """Options of a driver that takes none."""


class Claim(msgspec.Struct, frozen=True):
    """One resource a device uses exclusively on its bus: pin (or channel) ``number`` of the chip
    at ``address``; ``key`` is the option naming it (``feedback_pin``), used in messages.

    ``josev-hal check`` reports two devices of a board claiming the same resource (with file:line
    of both options); the drivers claim exactly these at setup (the bus refuses a double claim),
    so the check and the hardware setup judge a board by one definition.
    """

    address: int
    kind: str  # "pin" or "channel"
    number: int
    key: str


OptionsT = TypeVar("OptionsT", bound=msgspec.Struct)


class DeviceConfig(msgspec.Struct, Generic[OptionsT]):
    """Everything a driver is constructed with.

    ``device_id`` names the device in logs, errors and faults (``evse[0].meter``). ``bus`` is the
    shared bus object from :mod:`josev_hal.buses` named by the device's ``bus`` key (``None`` for
    drivers without a bus). ``options`` is the device's ``options`` table already converted to the
    driver's ``Options`` Struct. ``evse_id``/``connector_id`` say whom the device serves.
    """

    device_id: str
    options: OptionsT
    bus: Any = None
    address: int | None = None
    evse_id: str | None = None
    connector_id: int | None = None
    plugin: str | None = None


class Driver(ABC):
    """Base of every driver.

    Class attributes a driver sets:

    * ``role``: the :class:`Role` it implements (inherited from the role base class);
    * ``Options``: a ``msgspec.Struct`` (``forbid_unknown_fields=True``) describing its
      ``options`` table in the board profile; documented fields, units in the names;
    * ``bus_kind``: ``"serial"``, ``"i2c"``, ``"can"`` or ``None`` -- the kind of bus it needs;
    * ``requires_address``: whether the profile must give ``address``;
    * ``address_shareable``: several devices may use this driver at the same bus address (one
      GPIO expander driving relay and lock, one safety MCU acting as CP, contactor and RCD).
      The profile check reports an address clash unless both drivers at an address set it.

    Lifecycle: constructed from a :class:`DeviceConfig`, then :meth:`setup` (may talk to the
    hardware and raise :class:`DeviceError`), used, then :meth:`release` (idempotent, never
    raises). The names avoid ``open``/``close``, which mean *contacts* for a contactor.
    """

    role: ClassVar[Role]
    Options: ClassVar[type[msgspec.Struct]] = NoOptions
    bus_kind: ClassVar[str | None] = None
    requires_address: ClassVar[bool] = False
    address_shareable: ClassVar[bool] = False

    # -- configuration checks without hardware (used by `josev-hal check` and at construction) --
    @classmethod
    def config_problems(cls, options: Any, address: int | None) -> list[tuple[str, str]]:
        """Problems of a device's configuration that need no hardware, as ``(key, reason)`` with
        ``key`` relative to the device table (``"address"``, ``"options.pwm_address"``).

        ``josev-hal check`` reports every one with file:line; constructing the driver raises the
        first as :class:`~josev_hal.errors.ConfigError`. Range checks of a single option belong
        in the ``Options`` Struct (``Meta`` or ``__post_init__``); this is for rules that combine
        options with the address (a Modbus unit id range, a second chip's address).
        """
        return []

    @classmethod
    def claims(cls, options: Any, address: int | None) -> list[Claim]:
        """The pins/channels this device uses exclusively (see :class:`Claim`); default none."""
        return []

    def __init__(self, config: DeviceConfig[Any]) -> None:
        problems = type(self).config_problems(config.options, config.address)
        if problems:
            key, reason = problems[0]
            raise ConfigError(f"{config.device_id}: {key}: {reason}")
        self.config = config
        self.device_id = config.device_id
        self.options = config.options
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self) -> None:  # noqa: B027 - optional hook, most drivers need nothing
        """Prepare the hardware (configure registers, open ports). Raise DeviceError on failure."""

    def release(self) -> None:  # noqa: B027
        """Release resources and leave the hardware safe. Idempotent; never raises."""

    # -- push notifications ------------------------------------------------------------------
    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (from any thread) whenever the device learns of a change."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def notify(self) -> None:
        """Tell subscribers that something changed; they will re-read the device."""
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    # -- helpers -----------------------------------------------------------------------------
    def error(self, message: str, cls: type[DeviceError] = DeviceError) -> DeviceError:
        """Build an error that carries this device's id and plugin."""
        return cls(message, device=self.device_id, plugin=self.config.plugin)

    def describe(self) -> dict[str, Any]:
        """Identification for ``josev-hal probe`` and logs (model, firmware, serial, ...)."""
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.device_id}>"


class ControlPilot(Driver):
    """The CP generator and CP measurement of one connector (IEC 61851-1 Annex A).

    Timing: :meth:`read` returns the plateau voltages of the latest measurement window (boards
    average over about 10 PWM periods, at most ~50 ms of latency); the core samples at the
    profile's ``cp.sample_interval_ms`` (default 50 ms). Setting the output takes effect within
    one PWM period. The generator runs at ``cp.pwm_frequency_hz`` (1 kHz, 980-1020 Hz allowed).
    """

    role = Role.CONTROL_PILOT

    @abstractmethod
    def read(self) -> CpSample:
        """Measure the positive (and, if possible, negative) CP plateau."""

    @abstractmethod
    def set_pwm(self, duty_percent: float) -> None:
        """Output 1 kHz PWM with this duty (0 < duty < 100). 100 means X1 (constant +12 V)."""

    @abstractmethod
    def set_x1(self) -> None:
        """Constant +12 V (no PWM): the x1 states, EVSE not ready."""

    @abstractmethod
    def set_state_e(self) -> None:
        """0 V on CP (state E). Must act immediately."""

    @abstractmethod
    def set_state_f(self) -> None:
        """Constant -12 V on CP (state F, EVSE unavailable). Must act immediately."""

    @property
    @abstractmethod
    def output(self) -> CpOutput:
        """What the generator is outputting now (used for the x1/x2 suffix)."""


class ProximityPilot(Driver):
    """PP measurement of one connector (Type 2 cable coding, IEC 61851-1 Annex B).
    Polled at the CP rate while a cable can be present; one read takes at most a few ms."""

    role = Role.PROXIMITY_PILOT

    @abstractmethod
    def read(self) -> PpSample:
        """Measure Rc (or decode the ampacity)."""


class Contactor(Driver):
    """The main contactor (or relay set) of an EVSE with its mirror/auxiliary contact.

    :meth:`close` and :meth:`open` only *command*; the contact's real state comes from
    :meth:`read`. Real contactors close in tens of ms; the core waits up to the profile's
    ``feedback_timeout_ms`` (default 250 ms) for the feedback to follow and treats a mismatch as
    a fault (closed-but-commanded-open = welded). :meth:`open` must act immediately (the 100 ms
    normative limit includes the core's reaction) and must not raise if it can avoid it.
    """

    role = Role.CONTACTOR

    @property
    @abstractmethod
    def has_feedback(self) -> bool:
        """Whether the board reads a mirror/auxiliary contact."""

    @abstractmethod
    def close(self) -> None:
        """Command the contactor closed."""

    @abstractmethod
    def open(self) -> None:
        """Command the contactor open. Immediate."""

    @abstractmethod
    def read(self) -> ContactorSample:
        """Commanded state and mirror-contact feedback."""


class Rcd(Driver):
    """Residual-current monitor (RDC-DD, 6 mA DC / 30 mA AC).

    The hardware trip path must open the contactor by itself; the HAL is the second channel that
    also opens it and reports ``rcd_error``/``hardware_fault``. :meth:`read` is cheap (a GPIO).
    """

    role = Role.RCD

    @abstractmethod
    def read(self) -> RcdSample:
        """Current trip state."""

    @abstractmethod
    def self_test(self, timeout_s: float = 2.0) -> bool:
        """Inject the test current and expect a trip then a release within ``timeout_s``.
        Only called with the contactor open. Returns True when the module passed."""

    @property
    def supports_self_test(self) -> bool:
        """False when this module cannot be tested as wired (e.g. no TEST line): the core then
        never runs :meth:`self_test` by policy and never blocks a session on it."""
        return True

    @abstractmethod
    def reset(self) -> None:
        """Release a latched trip, if the module allows it (the core decides *when*, from the
        profile's reset policy)."""


class Meter(Driver):
    """An energy meter serving one EVSE.

    :meth:`read` talks to the meter (a Modbus round trip or more, 10-200 ms) and returns a fresh
    :class:`MeterReading`, or raises. The core polls it at the profile's meter interval from a
    background thread, never from a request handler's critical path.
    """

    role = Role.METER
    supports_signed: ClassVar[bool] = False

    @abstractmethod
    def read(self) -> MeterReading:
        """Read the meter now."""

    def begin_transaction(self, tx: TransactionInfo) -> None:
        """Start a signed (Eichrecht) transaction. No-op for meters without signed values."""

    def end_transaction(self) -> tuple[SignedMeterValue, ...]:
        """Stop the signed transaction and return its signed values (empty when unsupported)."""
        return ()


class ConnectorLock(Driver):
    """The connector (socket) lock actuator with its feedback. Locking takes up to ~1 s."""

    role = Role.CONNECTOR_LOCK

    @abstractmethod
    def lock(self) -> None:
        """Command locked."""

    @abstractmethod
    def unlock(self) -> None:
        """Command unlocked."""

    @abstractmethod
    def read(self) -> LockSample:
        """Commanded state and feedback."""


class IdTokenReader(Driver):
    """An RFID/NFC reader (or any local id means). Polled every ~0.5 s, or pushes via notify()."""

    role = Role.ID_TOKEN_READER

    @abstractmethod
    def poll(self) -> IdToken | None:
        """The token presented since the last poll, or None."""


class DcPowerModule(Driver):
    """A DC power module or a group acting as one (set-points are for the whole group).

    Modules are commanded over CAN; :meth:`read` returns the last status *received* with the
    time it was received, so the core sees silence as a growing age (and a module that stays
    silent past its timeout as offline, raising :class:`~josev_hal.errors.DeviceOffline`).
    """

    role = Role.DC_POWER_MODULE

    @property
    @abstractmethod
    def capabilities(self) -> DcCapabilities:
        """Static limits of the module (group)."""

    @abstractmethod
    def set_target(self, voltage_v: float, current_a: float) -> None:
        """Target output voltage and current limit."""

    @abstractmethod
    def enable(self, on: bool) -> None:
        """Switch the output on/off."""

    @abstractmethod
    def read(self) -> DcSample:
        """Present voltage/current, on/off, faults."""


class IsolationMonitor(Driver):
    """Insulation monitoring device (IMD) for DC (IEC 61557-8; >= 100 ohm/V required)."""

    role = Role.ISOLATION_MONITOR

    @abstractmethod
    def start(self) -> None:
        """Start measuring (the cable check)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop measuring."""

    @abstractmethod
    def self_test(self) -> bool:
        """Run the device self-test; True when passed."""

    @property
    def supports_self_test(self) -> bool:
        """False when the device cannot be tested as wired (e.g. no TEST line): the cable check
        then skips the self-test step (logged) instead of failing on it."""
        return True

    @abstractmethod
    def read(self) -> IsolationSample:
        """Latest measurement."""


class TemperatureSensor(Driver):
    """One or more temperature sensors of an EVSE (NTC / PT1000 on an ADC, 1-wire DS18B20 ...).
    Polled by the derating monitor every few seconds; a read takes at most a few ms per sensor."""

    role = Role.TEMPERATURE

    @abstractmethod
    def read(self) -> TemperatureSample:
        """Read every sensor now. Raises DeviceError naming the sensor that cannot be read
        (disconnected, shorted, vanished from the bus)."""


class DigitalInput(Driver):
    """A digital input the station acts on (``grid_limit``: the grid operator's control box).
    Read by the energy supervisor every ``[limits] interval_s``; a read takes at most a few ms.
    Raises DeviceError when the input cannot be read (the supervisor then assumes the safe
    side: dimming active)."""

    role = Role.GRID_LIMIT

    @abstractmethod
    def read(self) -> InputSample:
        """Read the input now."""
