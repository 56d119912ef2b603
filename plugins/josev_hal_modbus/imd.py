"""``modbus-imd``: insulation monitors that report a resistance over Modbus RTU.

The register map of a model is data (``imd_models/<name>.toml``; shipped: Bender isoCHA425HV).
A measuring channel of these devices is four holding registers -- a float32 value, an
alarm/test/unit/validity word and a channel description -- read in one transaction together with
the voltage channel, so resistance, alarm and voltage always belong to the same moment.

What a read reports (:class:`~josev_hal.devices.IsolationSample`):

* not started (after :meth:`stop`, before :meth:`start`): ``measuring = False``, status invalid;
* a test running, or the device marking the value invalid (no result yet): ``measuring = True``,
  status invalid, no resistance;
* otherwise the resistance with a status from the device's own alarm bits (alarm -> ``fault``,
  warning or pre-warning -> ``warning``, none -> ``valid``), made stricter by the IEC 61851-23
  limits when ``rated_voltage_v`` is given (below 100 ohm/V ``fault``, below 500 ohm/V ``warning``);
* a device error flagged by the IMD, or no answer, raises :class:`~josev_hal.errors.DeviceError`
  (never an old value). After ``offline_after`` failed reads in a row it is
  :class:`~josev_hal.errors.DeviceOffline`.

Profile::

    [evse.devices.isolation_monitor]
    driver = "modbus-imd"
    bus = "rs485"                 # isoCHA factory setting: 19200 baud, even parity
    address = 3                   # isoCHA factory unit id
    options = { model = "isocha425hv", rated_voltage_v = 1000 }
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import msgspec
from pymodbus.pdu.register_message import WriteMultipleRegistersRequest

from josev_hal.buses.serial import SerialBus
from josev_hal.devices import (
    DeviceConfig,
    IsolationMonitor,
    IsolationSample,
    IsolationStatus,
    now_reading_times,
)
from josev_hal.errors import BusError, ConfigError, CrcError, DeviceError, DeviceOffline, DeviceTimeout

from .driver import unit_id_problem
from .rtu import ModbusExceptionError, RtuMaster

__all__ = ["ALARM", "ImdModel", "ModbusImd", "ModbusImdOptions", "decode_channel", "imd_models"]

log = logging.getLogger(__name__)

#: Alarm type in bits 0-2 of the high byte of a channel's status word.
ALARM = {0: "none", 1: "prewarning", 2: "device_error", 4: "warning", 5: "alarm"}
#: Validity in bits 6-7 of the low byte.
VALIDITY = {0: "exact", 1: "true_value_smaller", 2: "true_value_bigger", 3: "invalid"}
#: Test flags in bits 6-7 of the high byte.
TEST = {0: "none", 1: "internal", 2: "external"}


class ImdModelFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    title: str
    #: ``bender``: 4-register measuring channels (isoCHA); ``dold``: fault / state input registers,
    #: resistance in 100 ohm steps, a control word (RN5893).
    protocol: Literal["bender", "dold"] = "bender"
    resistance_register: int
    voltage_register: int
    prealarm_kohm_register: int
    alarm_kohm_register: int
    enable_register: int = 0
    enable_on: int = 0
    enable_off: int = 0
    self_test_register: int = 0
    self_test_value: int = 0
    device_name_register: int = 0
    device_name_words: int = 0
    fault_register: int = 0
    state_register: int = 0
    control_register: int = 0


@dataclass(frozen=True)
class ImdModel:
    name: str
    title: str
    protocol: str
    resistance_register: int
    voltage_register: int
    prealarm_kohm_register: int
    alarm_kohm_register: int
    enable_register: int
    enable_on: int
    enable_off: int
    self_test_register: int
    self_test_value: int
    device_name_register: int
    device_name_words: int
    fault_register: int
    state_register: int
    control_register: int

    @property
    def block(self) -> tuple[int, int]:
        """``(start, count)`` of the one read covering the resistance and voltage channels."""
        start = min(self.resistance_register, self.voltage_register)
        end = max(self.resistance_register, self.voltage_register) + 4
        return start, end - start


@cache
def imd_models() -> dict[str, ImdModel]:
    """Every IMD model file shipped in ``josev_hal_modbus/imd_models/``, by name."""
    out: dict[str, ImdModel] = {}
    folder = resources.files("josev_hal_modbus") / "imd_models"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        where = f"josev_hal_modbus/imd_models/{entry.name}"
        try:
            data = msgspec.convert(tomllib.loads(entry.read_text(encoding="utf-8")), ImdModelFile)
        except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        if f"{data.name}.toml" != entry.name:
            raise ConfigError(f"{where}: name: must match the file name")
        out[data.name] = ImdModel(**msgspec.structs.asdict(data))
    return out


@dataclass(frozen=True)
class Channel:
    """One decoded measuring channel."""

    value: float
    alarm: str
    test: str
    validity: str
    unit: int
    description: int


def decode_channel(words: list[int]) -> Channel:
    """Decode the four registers of a channel (float32 high word first, status, description)."""
    value = struct.unpack(">f", struct.pack(">HH", words[0], words[1]))[0]
    high, low = words[2] >> 8, words[2] & 0xFF
    alarm_bits = high & 0x07
    test = TEST.get(high >> 6, "none")
    alarm = ALARM.get(alarm_bits, "reserved")
    if alarm == "device_error" and test != "none":
        alarm = "reserved"  # the manual's "device error" only without a test flag
    return Channel(value, alarm, test, VALIDITY[low >> 6], low & 0x1F, words[3])


def encode_channel(
    value: float, *, alarm: int = 0, test: int = 0, validity: int = 0, unit: int = 2, description: int = 71
) -> list[int]:
    """The inverse of :func:`decode_channel` (used by the simulated IMD)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo, ((test << 6 | alarm) << 8) | (validity << 6 | unit), description]


#: Dold RN5893 device fault codes (input register 0) and device states (input register 1).
DOLD_FAULTS = {
    1: "broken wire L(+)/L(-)",
    2: "broken wire PE1/PE2",
    3: "internal failure in test mode",
    4: "parameter failure (potentiometer settings)",
    9: "Modbus communication fault",
    10: "EEPROM checksum failure",
    11: "internal communication fault",
    12: "internal error",
}
DOLD_INITIALIZING, DOLD_MEASURING, DOLD_ERROR, DOLD_SELF_TEST, DOLD_ADVANCED_TEST = 0, 1, 2, 3, 4
DOLD_STOPPED, DOLD_ALARM, DOLD_PREALARM = 5, 6, 7
#: Control word 1 bits: 0 reset faults, 4 start the self-test, 8 measurement off.
DOLD_RESET, DOLD_SELF_TEST_BIT, DOLD_MEASUREMENT_OFF = 1 << 0, 1 << 4, 1 << 8
#: A resistance register of 0xFFFF means "above 2 MOhm".
DOLD_ABOVE_RANGE_OHM = 2_000_000.0


@dataclass(frozen=True)
class Measurement:
    """One read of an IMD, whatever its protocol: ``alarm`` is none / prewarning / warning /
    alarm; ``fault`` names a device fault (then nothing else counts)."""

    resistance_ohm: float | None
    alarm: str
    testing: bool
    valid: bool
    voltage_v: float | None
    fault: str | None = None


if TYPE_CHECKING:
    ImdModelName = str
else:
    ImdModelName = Literal[tuple(sorted(imd_models()))]


class ModbusImdOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``modbus-imd``."""

    model: ImdModelName = "isocha425hv"
    #: EVSE rated output voltage: below 100 ohm/V the status is ``fault``, below 500 ohm/V
    #: ``warning`` (IEC 61851-23), whatever the device's own thresholds say. None: device only.
    rated_voltage_v: Annotated[float, msgspec.Meta(gt=0, le=1500)] | None = None
    #: Written to the device at setup when given (kOhm): pre-alarm R1 and alarm R2.
    prealarm_kohm: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    alarm_kohm: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    #: How long a self-test may take (EVerest allows the isoCHA 30 s) and how often to look.
    self_test_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 30.0
    poll_s: Annotated[float, msgspec.Meta(gt=0, le=5)] = 0.2
    #: Retries per transaction, and failed reads in a row before the IMD is offline.
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    backoff_s: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.05
    offline_after: Annotated[int, msgspec.Meta(ge=1)] = 3
    response_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] | None = None

    def __post_init__(self) -> None:
        if (
            self.prealarm_kohm is not None
            and self.alarm_kohm is not None
            and self.alarm_kohm > self.prealarm_kohm
        ):
            raise ValueError(
                "alarm_kohm: must not be above prealarm_kohm (the alarm is the lower resistance)"
            )


class ModbusImd(IsolationMonitor):
    """An insulation monitor with a resistance value on Modbus RTU (see the module docstring)."""

    Options: ClassVar[type[msgspec.Struct]] = ModbusImdOptions
    bus_kind: ClassVar[str | None] = "serial"
    requires_address: ClassVar[bool] = True

    @classmethod
    def config_problems(cls, options: Any, address: int | None) -> list[tuple[str, str]]:
        problem = unit_id_problem(address)
        return [("address", problem)] if problem else []

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, ModbusImdOptions)
        self.opts: ModbusImdOptions = self.options
        if not isinstance(config.bus, SerialBus):
            raise ConfigError(f"{self.device_id}: bus: modbus-imd needs a bus of kind 'serial'")
        assert config.address is not None  # config_problems
        self.bus: SerialBus = config.bus
        self.unit: int = config.address
        self.model = imd_models()[self.opts.model]
        self.master = RtuMaster.for_bus(self.bus)
        self._started = False
        self._op_lock = threading.RLock()
        self._failures = 0
        self._offline = False
        self.device_name: str | None = None
        #: Voltage U_n of the last read (V), None when the device marked it invalid.
        self.voltage_v: float | None = None

    # -- transport ----------------------------------------------------------------------------
    def _attempt(self, op: Any) -> Any:
        attempts = 1 if self._offline else 1 + self.opts.retries
        delay = self.opts.backoff_s
        error: DeviceError | None = None
        for attempt in range(attempts):
            try:
                return op()
            except ModbusExceptionError as exc:
                raise self.error(exc.detail) from exc
            except (CrcError, DeviceTimeout, BusError) as exc:
                error = self.error(exc.detail, type(exc))
            if attempt + 1 < attempts:
                time.sleep(delay)
                delay *= 2
        assert error is not None
        raise error

    def _read(self, address: int, count: int) -> list[int]:
        return list(
            self._attempt(
                lambda: self.master.read_registers(
                    self.unit, 3, address, count, timeout_s=self.opts.response_timeout_s
                )
            )
        )

    def _write(self, address: int, value: int) -> None:
        # FC16 even for one register: EVerest writes every isoCHA register that way, and FC6
        # support is not confirmed for the device.
        request = WriteMultipleRegistersRequest(address=address, registers=[value & 0xFFFF], dev_id=self.unit)
        self._attempt(lambda: self.master.transact(request, timeout_s=self.opts.response_timeout_s))

    # -- lifecycle ----------------------------------------------------------------------------
    def setup(self) -> None:
        """Open the line, write configured thresholds and leave the device disabled (a missing
        IMD at start-up surfaces as read errors and a fault, not as a station that will not start)."""
        self.bus.setup()
        try:
            with self._op_lock:
                if self.opts.prealarm_kohm is not None:
                    self._write(self.model.prealarm_kohm_register, self.opts.prealarm_kohm)
                if self.opts.alarm_kohm is not None:
                    self._write(self.model.alarm_kohm_register, self.opts.alarm_kohm)
                if self.model.device_name_words:
                    words = self._read(self.model.device_name_register, self.model.device_name_words)
                    raw = b"".join(w.to_bytes(2, "big") for w in words)
                    self.device_name = raw.split(b"\0")[0].decode("ascii", errors="replace").strip()
                if self.model.protocol == "dold":
                    # Measuring stays off until start(); a fault latched before us is reset.
                    self._write(self.model.control_register, DOLD_RESET)
                    self._write(self.model.control_register, DOLD_MEASUREMENT_OFF)
                log.info(
                    "imd ready device=%s model=%s name=%s", self.device_id, self.model.name, self.device_name
                )
        except DeviceError as exc:
            log.warning("imd not reachable at setup device=%s error=%s", self.device_id, exc.detail)

    def release(self) -> None:
        """Leave the device disabled (no measuring pulses on an idle output)."""
        if self._started:
            try:
                self.stop()
            except DeviceError as exc:
                log.warning("imd release could not stop device=%s error=%s", self.device_id, exc)

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "unit": self.unit,
            "name": self.device_name,
            "offline": self._offline,
        }

    # -- commands -----------------------------------------------------------------------------
    def _enable(self, on: bool) -> None:
        if self.model.protocol == "dold":
            self._write(self.model.control_register, 0 if on else DOLD_MEASUREMENT_OFF)
        else:
            self._write(self.model.enable_register, self.model.enable_on if on else self.model.enable_off)

    def start(self) -> None:
        with self._op_lock:
            self._enable(True)
            self._started = True

    def stop(self) -> None:
        with self._op_lock:
            self._started = False  # intent first: a failed write must not leave us "measuring"
            self._enable(False)

    def self_test(self) -> bool:
        """Start the device's self-test and wait until its test flag comes and goes; passed when
        the device then reports no device error. False (logged) on a timeout or a device error."""
        with self._op_lock:
            was_started = self._started
            if self.model.protocol == "dold":
                self._write(self.model.control_register, DOLD_SELF_TEST_BIT)  # needs measuring on
            else:
                self._enable(True)
                self._write(self.model.self_test_register, self.model.self_test_value)
            deadline = time.monotonic() + self.opts.self_test_timeout_s
            seen_test = False
            try:
                while time.monotonic() < deadline:
                    m = self._measure()
                    if m.testing and m.fault is None:
                        seen_test = True
                    elif seen_test:
                        if m.fault is not None:
                            log.warning("imd self-test failed: %s device=%s", m.fault, self.device_id)
                            return False
                        log.info("imd self-test passed device=%s", self.device_id)
                        return True
                    time.sleep(self.opts.poll_s)
            finally:
                self._enable(was_started)
            log.warning(
                "imd self-test failed: %s within %.1f s device=%s",
                "no end of test" if seen_test else "test never started",
                self.opts.self_test_timeout_s,
                self.device_id,
            )
            return False

    # -- measurement --------------------------------------------------------------------------
    def _channels(self) -> tuple[Channel, Channel]:
        start, count = self.model.block
        words = self._read(start, count)
        r = self.model.resistance_register - start
        v = self.model.voltage_register - start
        return decode_channel(words[r : r + 4]), decode_channel(words[v : v + 4])

    def _measure(self) -> Measurement:
        """Read the device once, in its protocol, as a :class:`Measurement`."""
        if self.model.protocol == "dold":
            fault, state = self._read_input(self.model.fault_register, 2)
            r_start = min(self.model.resistance_register, self.model.voltage_register)
            words = self._read_input(
                r_start, abs(self.model.voltage_register - self.model.resistance_register) + 1
            )
            raw_r = words[self.model.resistance_register - r_start]
            raw_v = words[self.model.voltage_register - r_start]
            fault_text = None
            if fault:
                fault_text = f"device fault {fault} ({DOLD_FAULTS.get(fault, 'unknown')})"
            elif state == DOLD_ERROR:
                fault_text = "device in error mode"
            measuring = state in (DOLD_MEASURING, DOLD_ALARM, DOLD_PREALARM)
            return Measurement(
                resistance_ohm=DOLD_ABOVE_RANGE_OHM if raw_r == 0xFFFF else raw_r * 100.0,
                alarm={DOLD_ALARM: "alarm", DOLD_PREALARM: "prewarning"}.get(state, "none"),
                testing=state in (DOLD_SELF_TEST, DOLD_ADVANCED_TEST),
                valid=measuring,
                voltage_v=None if raw_v == 0xFFFF else float(raw_v),
                fault=fault_text,
            )
        resistance, voltage = self._channels()
        return Measurement(
            resistance_ohm=float(resistance.value),
            alarm="none" if resistance.alarm in ("device_error", "reserved") else resistance.alarm,
            testing=resistance.test != "none",
            valid=resistance.validity != "invalid",
            voltage_v=None if voltage.validity == "invalid" else float(voltage.value),
            fault="the IMD reports a device error" if resistance.alarm == "device_error" else None,
        )

    def _read_input(self, address: int, count: int) -> list[int]:
        return list(
            self._attempt(
                lambda: self.master.read_registers(
                    self.unit, 4, address, count, timeout_s=self.opts.response_timeout_s
                )
            )
        )

    def read(self) -> IsolationSample:
        with self._op_lock:
            taken_at, utc = now_reading_times()
            try:
                m = self._measure()
            except DeviceError as exc:
                self._failures += 1
                if self._failures >= self.opts.offline_after:
                    self._offline = True
                    raise DeviceOffline(
                        f"offline after {self._failures} failed reads; last error: {exc.detail}",
                        device=self.device_id,
                        plugin=self.config.plugin,
                    ) from exc
                raise
            self._failures = 0
            self._offline = False
            started = self._started
            # IsolationSample has no voltage; the probe and logs show the last one.
            self.voltage_v = m.voltage_v
        if m.fault is not None:
            raise self.error(m.fault)
        if not started:
            return IsolationSample(
                taken_at=taken_at,
                utc=utc,
                resistance_ohm=None,
                status=IsolationStatus.INVALID,
                measuring=False,
            )
        if m.testing or not m.valid or m.resistance_ohm is None:
            return IsolationSample(
                taken_at=taken_at,
                utc=utc,
                resistance_ohm=None,
                status=IsolationStatus.INVALID,
                measuring=True,
            )
        status = {
            "alarm": IsolationStatus.FAULT,
            "warning": IsolationStatus.WARNING,
            "prewarning": IsolationStatus.WARNING,
        }.get(m.alarm, IsolationStatus.VALID)
        rated = self.opts.rated_voltage_v
        if rated is not None:
            if m.resistance_ohm < 100.0 * rated:
                status = IsolationStatus.FAULT
            elif m.resistance_ohm < 500.0 * rated and status is IsolationStatus.VALID:
                status = IsolationStatus.WARNING
        return IsolationSample(
            taken_at=taken_at, utc=utc, resistance_ohm=m.resistance_ohm, status=status, measuring=True
        )
