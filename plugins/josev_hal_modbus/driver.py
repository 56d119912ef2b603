"""The ``modbus-meter`` driver: any Modbus RTU meter described by a register map (and
``modbus-tcp-meter``: the same maps over Modbus TCP, see :mod:`josev_hal_modbus.tcp`).

Profile::

    [evse.devices.meter]
    driver = "modbus-meter"
    bus = "rs485"                 # a [buses.<name>] of kind "serial"
    address = 1                   # Modbus unit id
    options = { model = "sdm630" }

    # or a map of your own (or a shipped model with some registers replaced):
    options = { defaults = { function = 4, type = "float32" }, registers = {
        voltage_l1 = { address = 0 }, energy_import = { address = 0x48, unit = "kWh" } } }

Failure handling: each read transaction is retried ``retries`` times with exponential backoff
(``backoff_s``, doubled per attempt) on timeouts, CRC errors and busy answers, releasing the bus
between attempts so other devices on the line keep being served. A read that still fails raises
the typed error (:class:`~josev_hal.errors.DeviceTimeout`, :class:`~josev_hal.errors.CrcError`,
:class:`~josev_hal_modbus.rtu.ModbusExceptionError`); after ``offline_after`` consecutive failed
reads the meter raises :class:`~josev_hal.errors.DeviceOffline` instead (the core reports a
hardware fault). While offline every read makes a single attempt, so a dead meter costs one
timeout per poll; the first successful read clears the offline state. A reading is built only
from registers read in that call: nothing is ever cached.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

import msgspec

from josev_hal.buses.serial import SerialBus
from josev_hal.devices import (
    DeviceConfig,
    Meter,
    MeterReading,
    PhaseValues,
    SignedMeterValue,
    TransactionInfo,
    now_reading_times,
)
from josev_hal.errors import BusError, ConfigError, CrcError, DeviceError, DeviceOffline, DeviceTimeout

from . import em580, iskra
from .model import (
    MODBUS_MAX_READ,
    MeterModel,
    RegisterDefaults,
    RegisterMap,
    available_models,
    bytes_to_registers,
    check_exponent_registers,
    registers_to_bytes,
)
from .model import resolve_registers as _resolve
from .ocmf_store import TransactionStore
from .rtu import ModbusExceptionError, RtuMaster

__all__ = ["ModbusMeter", "ModbusMeterOptions", "ModbusTcpMeter", "resolve_model"]

log = logging.getLogger(__name__)

T = TypeVar("T")


#: The model names (shipped and from plugins), as a type: the profile check and the board schema
#: list them.
if TYPE_CHECKING:
    ModelName = str
else:
    ModelName = Literal[tuple(sorted(available_models()))]

_Seconds = Annotated[float, msgspec.Meta(gt=0, le=600)]


class ModbusMeterOptions(msgspec.Struct, forbid_unknown_fields=True):
    """``options`` of a ``modbus-meter`` device."""

    #: A shipped model (``josev-hal probe serial`` lists them): sdm630, sdm72dm, sdm72dm2,
    #: abb_b23, em340, wm3m4c, acrel_djsf1352rn.
    model: ModelName | None = None
    #: Registers of a user-defined map, or replacements/additions to ``model``'s registers.
    registers: RegisterMap = RegisterMap()
    #: Defaults for the inline ``registers`` (function code, data type, word order).
    defaults: RegisterDefaults = RegisterDefaults()
    #: Override the model's read limits (registers per read, unused registers a read may span).
    max_registers_per_read: Annotated[int, msgspec.Meta(ge=1, le=MODBUS_MAX_READ)] | None = None
    max_gap: Annotated[int, msgspec.Meta(ge=0)] | None = None
    #: Retries per transaction (timeouts, CRC errors, busy answers) before a read fails.
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    #: First backoff between retries in seconds; doubled on every further attempt.
    backoff_s: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.05
    #: Consecutive failed reads after which the meter raises DeviceOffline.
    offline_after: Annotated[int, msgspec.Meta(ge=1)] = 3
    #: Response timeout of one transaction (default: the bus's ``timeout_s``).
    response_timeout_s: _Seconds | None = None
    #: Signed meters (WM3M4C): how long begin/end may wait for the meter, how often to ask.
    signed_timeout_s: _Seconds = 15.0
    signed_poll_s: _Seconds = 0.2
    #: OCMF gateway fields written to the meter: GI (identification), GS (serial), GV (version).
    gateway_id: str = "josev-hal"
    gateway_serial: str = ""
    gateway_version: str = ""
    #: Signed meters: directory for the record of the open transaction, so that one interrupted
    #: by a restart is closed on the meter at the next start (put it under the [state] dir, e.g.
    #: "/var/lib/josev-hal/ocmf"). None: no recovery (a warning at setup for a signed model).
    transaction_dir: str | None = None
    #: How long the signed dataset of a recovered transaction rides along with the readings
    #: (``signed_meter_values`` of ``meter_values``) after it was recovered.
    recovered_hold_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 600.0

    def __post_init__(self) -> None:
        # Single fields are checked by their types (so `josev-hal check` reports them at
        # options.<key>); what is left are cross-field checks -- a unit that does not fit its
        # quantity, sign_from naming a register outside the map, neither model nor registers --
        # and values given to the constructor directly, which msgspec does not validate.
        resolve_model(self)
        if self.retries < 0 or self.offline_after < 1 or self.backoff_s < 0:
            raise ValueError("retries must be >= 0, offline_after >= 1, backoff_s >= 0")


def resolve_model(opts: ModbusMeterOptions) -> MeterModel:
    """The register map a device uses: the named model, with inline registers on top.
    Raises :class:`ValueError` naming the option key."""
    models = available_models()
    given = opts.registers.defined()
    if opts.model is None and not given:
        raise ValueError(f"model: give a model ({', '.join(sorted(models))}) or inline registers")
    base = models[opts.model].registers if opts.model in models else {}
    inline = _resolve(given, opts.defaults, "registers", also_known=base) if given else {}
    if opts.model is not None:
        if opts.model not in models:
            raise ValueError(
                f"model: unknown meter model {opts.model!r} (shipped: {', '.join(sorted(models))})"
            )
        model = models[opts.model]
        if inline:
            model = model.with_overrides(f"{model.name}+custom", inline)
    else:
        model = MeterModel(name="custom", title="user-defined register map", registers=inline)
    if opts.max_registers_per_read is not None or opts.max_gap is not None:
        count = (
            model.max_registers_per_read
            if opts.max_registers_per_read is None
            else opts.max_registers_per_read
        )
        gap = model.max_gap if opts.max_gap is None else opts.max_gap
        if not 1 <= count <= MODBUS_MAX_READ:
            raise ValueError(f"max_registers_per_read: must be 1..{MODBUS_MAX_READ}")
        if gap < 0:
            raise ValueError("max_gap: must be >= 0")
        model = MeterModel(
            name=model.name,
            title=model.title,
            registers=model.registers,
            vendor=model.vendor,
            notes=model.notes,
            max_registers_per_read=count,
            max_gap=gap,
            not_available_sentinels=model.not_available_sentinels,
            signed=model.signed,
            identify=model.identify,
        )
    # Exponent / decimal-point registers are checked on the final map: an inline register may
    # point at one of the model's, and overridden read limits may split a value from it.
    check_exponent_registers(
        model.registers, max_count=model.max_registers_per_read, max_gap=model.max_gap, where="registers"
    )
    return model


def _phases(values: dict[str, float | None], prefix: str) -> PhaseValues | None:
    l1, l2, l3 = (values.get(f"{prefix}_l{i}") for i in (1, 2, 3))
    if l1 is None and l2 is None and l3 is None:
        return None
    return PhaseValues(l1 or 0.0, l2 or 0.0, l3 or 0.0)


def reading_from_values(values: dict[str, float | None], taken_at: float, utc: Any) -> MeterReading:
    """Map decoded quantities onto a :class:`MeterReading`."""
    pf = values.get("power_factor")
    return MeterReading(
        taken_at=taken_at,
        utc=utc,
        voltage_v=_phases(values, "voltage"),
        current_a=_phases(values, "current"),
        power_w=values.get("power_total"),
        energy_import_wh=values.get("energy_import"),
        energy_export_wh=values.get("energy_export"),
        reactive_import_varh=values.get("reactive_import"),
        reactive_export_varh=values.get("reactive_export"),
        frequency_hz=values.get("frequency"),
        power_factor=None if pf is None else min(abs(pf), 1.0),
        dc_voltage_v=values.get("dc_voltage"),
        dc_current_a=values.get("dc_current"),
    )


def _payload_matches(payload: str, tx: TransactionInfo) -> bool:
    """Whether an OCMF payload names this transaction's EVSE (``CI``) and token (``ID``)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    return data.get("CI") == tx.evse_id and data.get("ID", "") == (tx.id_token or "")


def unit_id_problem(address: int | None, low: int = 1, high: int = 247) -> str | None:
    """Why ``address`` is not a Modbus unit id in ``low..high`` (RTU slaves: 1..247; 0 is the
    broadcast address, 248-255 are reserved); ``None`` when it is one."""
    if address is None or not low <= address <= high:
        return f"Modbus unit id must be {low}..{high}, got {address}"
    return None


class DatasetMismatch(DeviceError):
    """The signed dataset the meter holds belongs to another transaction."""


class ModbusMeter(Meter):
    """A Modbus RTU energy meter whose registers come from a model file or the profile."""

    Options: ClassVar[type[msgspec.Struct]] = ModbusMeterOptions
    bus_kind: ClassVar[str | None] = "serial"
    requires_address: ClassVar[bool] = True

    @classmethod
    def config_problems(cls, options: Any, address: int | None) -> list[tuple[str, str]]:
        # One definition for `josev-hal check` and construction (Driver.__init__ raises the first).
        problem = unit_id_problem(address, *cls.unit_ids)
        return [("address", problem)] if problem else []

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        opts = config.options
        if not isinstance(opts, ModbusMeterOptions):
            raise ConfigError(f"{self.device_id}: options must be ModbusMeterOptions")
        self.master = self._master_for(config.bus)
        assert config.address is not None  # config_problems
        self.opts: ModbusMeterOptions = opts
        self.bus: Any = config.bus
        self.unit: int = config.address
        try:
            self.model = resolve_model(opts)
        except ValueError as exc:
            raise ConfigError(f"{self.device_id}: options.{exc}") from exc
        self._plan = self.model.plan()
        # Only the WM3M4C map brings the signed-value interface.
        self.supports_signed = self.model.signed in ("iskra", "em580")  # type: ignore[misc]
        self.stats: Counter[str] = Counter()
        self._consecutive_failures = 0
        self._offline = False
        # One operation of this meter at a time (poll thread vs. transaction handlers); the bus
        # lock alone would let a read slip between the steps of begin/end_transaction.
        self._op_lock = threading.RLock()
        self._signed_tx: TransactionInfo | None = None
        self._last_signature: bytes | None = None
        self._store = (
            TransactionStore(opts.transaction_dir, self.device_id)
            if opts.transaction_dir is not None and self.supports_signed
            else None
        )
        #: Signed values of a recovered transaction and until when (monotonic) they are attached.
        self._recovered: tuple[tuple[SignedMeterValue, ...], float] | None = None
        self._recovery_pending = self._store is not None and self._store.load() is not None

    #: Unit ids the transport allows (RTU: 1..247; 0 is broadcast).
    unit_ids: ClassVar[tuple[int, int]] = (1, 247)

    def _master_for(self, bus: Any) -> Any:
        """The shared Modbus master of ``bus`` (RTU here; the TCP driver overrides it)."""
        if not isinstance(bus, SerialBus):
            raise ConfigError(f"{self.device_id}: bus: modbus-meter needs a bus of kind 'serial'")
        return RtuMaster.for_bus(bus)

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self) -> None:
        """Open the shared port. The meter itself is not contacted: a meter that is missing at
        start-up must surface as read errors (and a fault), not keep the station from starting.
        A transaction left open by a previous run is closed on the first good read."""
        self.bus.setup()
        if self.supports_signed and self._store is None:
            log.warning(
                "signed meter without transaction_dir device=%s: a transaction open when the HAL "
                "stops is not closed at the next start",
                self.device_id,
            )

    def release(self) -> None:
        """Nothing to release: the bus owns the port."""

    @property
    def offline(self) -> bool:
        return self._offline

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "title": self.model.title,
            "unit": self.unit,
            "bus": self.bus.describe(),
            "offline": self._offline,
            "reads_per_poll": len(self._plan),
            **dict(self.stats),
        }

    # -- reading -----------------------------------------------------------------------------
    def read(self) -> MeterReading:
        """Read every register of the map now and return a fresh reading, or raise. Carries the
        signed values of a recovered transaction for ``recovered_hold_s``."""
        with self._op_lock:
            reading = self._read()
            if self._recovery_pending:
                self._try_recovery()
            recovered = self._recovered
            if recovered is not None:
                if time.monotonic() < recovered[1]:
                    reading = msgspec.structs.replace(reading, signed=reading.signed + recovered[0])
                else:
                    self._recovered = None
            return reading

    def _read(self) -> MeterReading:
        self.stats["reads"] += 1
        attempts = 1 if self._offline else 1 + self.opts.retries
        taken_at, utc = now_reading_times()
        words: dict[tuple[int, int], int] = {}
        try:
            for batch in self._plan:
                regs = self._attempt(
                    lambda b=batch: self.master.read_registers(  # type: ignore[misc]
                        self.unit, b.function, b.address, b.count, timeout_s=self.opts.response_timeout_s
                    ),
                    attempts,
                )
                for i, word in enumerate(regs):
                    words[(batch.function, batch.address + i)] = word
        except DeviceError as exc:
            offline = self._failed(exc)
            if offline is None:
                raise
            raise offline from exc
        if self._offline:
            log.info("meter back online device=%s unit=%d", self.device_id, self.unit)
        self._offline = False
        self._consecutive_failures = 0
        return reading_from_values(self.model.decode(words), taken_at, utc)

    def _failed(self, exc: DeviceError) -> DeviceOffline | None:
        """Count a failed read; the DeviceOffline to raise instead once there were too many."""
        self.stats["read_failures"] += 1
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.opts.offline_after:
            if not self._offline:
                self.stats["offline_events"] += 1
                log.warning(
                    "meter offline device=%s unit=%d failures=%d last_error=%s",
                    self.device_id,
                    self.unit,
                    self._consecutive_failures,
                    exc.detail,
                )
            self._offline = True
            return DeviceOffline(
                f"offline after {self._consecutive_failures} consecutive failed reads; "
                f"last error: {exc.detail}",
                device=self.device_id,
                plugin=self.config.plugin,
            )
        return None

    def _attempt(self, op: Callable[[], T], attempts: int) -> T:
        """Run one transaction with retries; errors come back carrying this device's id."""
        delay = self.opts.backoff_s
        for attempt in range(attempts):
            self.stats["transactions"] += 1
            try:
                return op()
            except ModbusExceptionError as exc:
                self.stats["exceptions"] += 1
                error: DeviceError = ModbusExceptionError(
                    exc.detail,
                    exception_code=exc.exception_code,
                    function=exc.function,
                    device=self.device_id,
                    plugin=self.config.plugin,
                )
                if not exc.transient:
                    raise error from exc
            except CrcError as exc:
                self.stats["crc_errors"] += 1
                error = self.error(exc.detail, CrcError)
            except DeviceTimeout as exc:
                self.stats["timeouts"] += 1
                error = self.error(exc.detail, DeviceTimeout)
            except BusError as exc:
                self.stats["bus_errors"] += 1
                error = self.error(exc.detail, BusError)
            if attempt + 1 < attempts:
                self.stats["retries"] += 1
                log.debug(
                    "meter retry device=%s attempt=%d error=%s", self.device_id, attempt + 1, error.detail
                )
                time.sleep(delay)  # the bus lock is free meanwhile: other devices go on
                delay *= 2
        raise error

    # -- signed values (WM3M4C) --------------------------------------------------------------
    def _read_holding(self, address: int, count: int, function: int = 3) -> list[int]:
        out: list[int] = []
        attempts = 1 + self.opts.retries
        while count > 0:
            n = min(count, MODBUS_MAX_READ)
            out += self._attempt(
                lambda a=address, c=n: self.master.read_registers(self.unit, function, a, c),  # type: ignore[misc]
                attempts,
            )
            address += n
            count -= n
        return out

    def _write_holding(self, address: int, values: list[int]) -> None:
        attempts = 1 + self.opts.retries
        # FC16 writes at most 123 registers per request.
        for i in range(0, len(values), 123):
            chunk = values[i : i + 123]
            self._attempt(
                lambda a=address + i, v=chunk: self.master.write_registers(self.unit, a, v),  # type: ignore[misc]
                attempts,
            )

    def _wait_for(self, what: str, accept: Callable[[int, int], bool]) -> None:
        """Poll state (7000) and signature status (7052) until ``accept(state, status)``."""
        deadline = time.monotonic() + self.opts.signed_timeout_s
        while True:
            state = self._read_holding(iskra.REG.STATE, 1)[0]
            status = self._read_holding(iskra.REG.SIGNATURE_STATUS, 1)[0]
            if status >= 128:
                raise self.error(f"{what}: meter reports signature error {status}")
            if accept(state, status):
                return
            if time.monotonic() >= deadline:
                raise self.error(
                    f"{what}: meter not ready after {self.opts.signed_timeout_s} s "
                    f"(state={state} status={status})",
                    DeviceTimeout,
                )
            time.sleep(self.opts.signed_poll_s)

    def begin_transaction(self, tx: TransactionInfo) -> None:
        """Open a signed transaction on the meter (set clock, write OCMF metadata, command 'B')."""
        if not self.supports_signed:
            return
        with self._op_lock:
            if self.model.signed == "em580":
                self._em580_begin(tx)
            else:
                self._begin(tx)

    def _begin(self, tx: TransactionInfo) -> None:
        try:
            meta = iskra.metadata_json(
                gateway_id=self.opts.gateway_id,
                gateway_serial=self.opts.gateway_serial,
                gateway_version=self.opts.gateway_version,
                evse_id=tx.evse_id,
                id_token=tx.id_token,
                id_token_type=tx.id_token_type,
            )
        except ValueError as exc:
            raise self.error(f"begin_transaction: {exc}") from exc
        now = int(time.time())
        self._write_holding(iskra.REG.TZ_OFFSET_MIN, [0, (now >> 16) & 0xFFFF, now & 0xFFFF])
        self._write_holding(iskra.REG.TIME_SYNC, [iskra.TIME_SYNCED])
        data = meta.encode("ascii")
        self._write_holding(iskra.REG.METADATA_LEN, [len(data)])
        self._write_holding(iskra.REG.METADATA, bytes_to_registers(data))

        def begin() -> None:
            self._write_holding(iskra.REG.COMMAND, [iskra.CMD_BEGIN])
            self._wait_for(
                "begin_transaction", lambda s, st: s in iskra.STATE_ACTIVE and st == iskra.STATUS_OK
            )

        self._begin_persisted(tx, begin)
        self._signed_tx = tx
        log.info("signed transaction started device=%s tx=%s", self.device_id, tx.transaction_id)

    def end_transaction(self) -> tuple[SignedMeterValue, ...]:
        """Close the signed transaction and return the meter's OCMF dataset (start and stop
        readings in one signed value)."""
        if not self.supports_signed:
            return ()
        with self._op_lock:
            return self._em580_end() if self.model.signed == "em580" else self._end()

    def _end(self) -> tuple[SignedMeterValue, ...]:
        tx = self._signed_tx
        if tx is None:
            # Reading the registers now would hand out the previous transaction's dataset.
            raise self.error("end_transaction: no signed transaction was started on this meter")
        self._write_holding(iskra.REG.COMMAND, [iskra.CMD_END])
        deadline = time.monotonic() + self.opts.signed_timeout_s
        while True:
            self._wait_for("end_transaction", lambda s, st: s == iskra.STATE_IDLE and st == iskra.STATUS_OK)
            data_len, sig_len = self._read_holding(iskra.REG.SIGNED_DATA_LEN, 2)
            payload = registers_to_bytes(
                self._read_holding(iskra.REG.SIGNED_DATA, (data_len + 1) // 2), data_len
            ).decode("ascii", errors="replace")
            raw_sig = registers_to_bytes(self._read_holding(iskra.REG.SIGNATURE, (sig_len + 1) // 2), sig_len)
            # The dataset must be this transaction's -- our EVSE and token, not the previous
            # signature still in the registers while the meter finishes signing.
            if raw_sig != self._last_signature and _payload_matches(payload, tx):
                break
            if time.monotonic() >= deadline:
                raise self.error(
                    f"end_transaction: no signed dataset for transaction {tx.transaction_id!r} "
                    f"after {self.opts.signed_timeout_s} s",
                    DeviceTimeout,
                )
            time.sleep(self.opts.signed_poll_s)
        self._signed_tx = None
        self._last_signature = raw_sig
        raw_sig = registers_to_bytes(self._read_holding(iskra.REG.SIGNATURE, (sig_len + 1) // 2), sig_len)
        pubkey = registers_to_bytes(self._read_holding(iskra.REG.PUBLIC_KEY, iskra.REG.PUBLIC_KEY_WORDS))
        try:
            signature = iskra.normalize_der_signature(raw_sig)
        except ValueError as exc:
            raise self.error(f"end_transaction: unusable signature from meter: {exc}") from exc
        ocmf = iskra.assemble_ocmf(payload, signature)
        log.info("signed transaction ended device=%s bytes=%d", self.device_id, len(ocmf))
        if self._store is not None:
            self._store.clear()
        return (
            SignedMeterValue(
                measurand="Energy.Active.Import.Register",
                signed_meter_data=base64.b64encode(ocmf.encode("ascii")).decode("ascii"),
                signing_method="ECDSA-secp256r1-SHA256",
                encoding_method="OCMF",
                public_key=base64.b64encode(iskra.DER_P256_PREFIX + pubkey).decode("ascii"),
            ),
        )

    # -- signed transactions across restarts -----------------------------------------------
    def _begin_persisted(self, tx: TransactionInfo, begin: Callable[[], None]) -> None:
        """Run the meter's ``begin`` command between the two store records every signing flow
        (Iskra, EM580) writes: "opening" before the command, so a crash in between is recovered,
        and "open" once the meter confirmed. One place for the record, because
        :meth:`recover_transaction` reads these keys back whatever the flow."""
        record = {
            "transaction_id": tx.transaction_id,
            "evse_id": tx.evse_id,
            "id_token": tx.id_token,
            "id_token_type": tx.id_token_type,
            "unit": self.unit,
            "model": self.model.name,
        }
        self._persist({**record, "state": "opening"})
        begin()
        self._persist({**record, "state": "open", "started_utc": datetime.now(UTC).isoformat()})

    def _persist(self, record: dict[str, Any]) -> None:
        if self._store is None:
            return
        try:
            self._store.save(record)
        except OSError as exc:
            # The transaction still runs; only its recovery after a crash is lost. Say so loudly.
            log.error("signed transaction not persisted device=%s error=%s", self.device_id, exc)

    def _try_recovery(self) -> None:
        try:
            self.recover_transaction()
        except DeviceError as exc:
            log.warning(
                "dangling signed transaction not closed yet device=%s: %s", self.device_id, exc.detail
            )

    def recover_transaction(self) -> tuple[SignedMeterValue, ...]:
        """Close the transaction a previous run left open on the meter (see
        :mod:`josev_hal_modbus.ocmf_store`); returns its signed values (empty when there was
        none to close). Raises DeviceError when the meter cannot be asked now (tried again on
        the next read)."""
        store = self._store
        with self._op_lock:
            record = store.load() if store is not None else None
            if store is None or record is None:
                self._recovery_pending = False
                return ()
            tx = TransactionInfo(
                transaction_id=str(record["transaction_id"]),
                evse_id=str(record.get("evse_id") or ""),
                id_token=record.get("id_token"),
                id_token_type=record.get("id_token_type"),
            )
            if self.model.signed == "em580":
                return self._em580_recover(store, record, tx)
            state = self._read_holding(iskra.REG.STATE, 1)[0]
            if state in iskra.STATE_ACTIVE:
                log.warning(
                    "closing signed transaction left open by a previous run device=%s tx=%s meter_state=%d",
                    self.device_id,
                    tx.transaction_id,
                    state,
                )
                # The dataset now in the registers is an older one: it must not be taken for this.
                sig_len = self._read_holding(iskra.REG.SIGNATURE_LEN, 1)[0]
                self._last_signature = registers_to_bytes(
                    self._read_holding(iskra.REG.SIGNATURE, (sig_len + 1) // 2), sig_len
                )
                self._signed_tx = tx
                signed = self._end()  # clears the record
            elif record.get("state") == "opening":
                # Died before the meter confirmed the begin: nothing was opened on the meter.
                log.info(
                    "signed transaction never started on the meter device=%s tx=%s",
                    self.device_id,
                    tx.transaction_id,
                )
                store.clear()
                self._recovery_pending = False
                return ()
            else:
                path = store.save_failed(
                    record, f"meter idle (state {state}) at recovery: no dataset to close"
                )
                store.clear()
                self._recovery_pending = False
                log.error(
                    "signed transaction open in the record, idle on the meter device=%s tx=%s (kept in %s)",
                    self.device_id,
                    tx.transaction_id,
                    path,
                )
                return ()
            path = store.save_recovered(
                tx.transaction_id,
                {
                    **record,
                    "recovered_utc": datetime.now(UTC).isoformat(),
                    "signed_meter_values": [msgspec.structs.asdict(v) for v in signed],
                },
            )
            self._recovered = (signed, time.monotonic() + self.opts.recovered_hold_s)
            self._recovery_pending = False
            log.warning(
                "signed transaction of a previous run closed device=%s tx=%s dataset=%s",
                self.device_id,
                tx.transaction_id,
                path,
            )
            return signed

    def _recovered_done(
        self, store: TransactionStore, record: dict[str, Any], signed: tuple[SignedMeterValue, ...]
    ) -> tuple[SignedMeterValue, ...]:
        path = store.save_recovered(
            str(record["transaction_id"]),
            {
                **record,
                "recovered_utc": datetime.now(UTC).isoformat(),
                "signed_meter_values": [msgspec.structs.asdict(v) for v in signed],
            },
        )
        store.clear()
        self._recovered = (signed, time.monotonic() + self.opts.recovered_hold_s)
        self._recovery_pending = False
        log.warning(
            "signed transaction of a previous run closed device=%s tx=%s dataset=%s",
            self.device_id,
            record["transaction_id"],
            path,
        )
        return signed

    def _recovery_failed(self, store: TransactionStore, record: dict[str, Any], reason: str) -> tuple[()]:
        path = store.save_failed(record, reason)
        store.clear()
        self._recovery_pending = False
        log.error(
            "signed transaction of a previous run not recovered device=%s tx=%s: %s (kept in %s)",
            self.device_id,
            record.get("transaction_id"),
            reason,
            path,
        )
        return ()

    # -- signed values (EM580) ----------------------------------------------------------------
    def _em580_state(self) -> int:
        return self._read_holding(em580.REG.STATE, 1, function=4)[0]

    def _em580_wait(self, what: str, wanted: int) -> None:
        deadline = time.monotonic() + self.opts.signed_timeout_s
        while True:
            state = self._em580_state()
            if state == wanted:
                return
            if state == em580.STATE_CORRUPTED:
                raise self.error(f"{what}: the meter reports its OCMF data corrupted")
            if time.monotonic() >= deadline:
                raise self.error(
                    f"{what}: OCMF state {state} after {self.opts.signed_timeout_s} s, expected {wanted}",
                    DeviceTimeout,
                )
            time.sleep(self.opts.signed_poll_s)

    def _em580_begin(self, tx: TransactionInfo) -> None:
        state = self._em580_state()
        if state == em580.STATE_RUNNING:
            raise self.error(
                "begin_transaction: the meter already runs a transaction (not ended or not recovered)"
            )
        if state == em580.STATE_READY:
            # An unread dataset (not ours: ours are read at the end or recovered): confirm it so
            # the meter can start, and say so.
            log.warning(
                "meter held an unread OCMF dataset; confirmed before a new transaction device=%s",
                self.device_id,
            )
            self._write_holding(em580.REG.STATE, [em580.STATE_NOT_READY])
        try:
            ident = em580.char_array(tx.id_token or "", 20)
            cpi = em580.char_array(tx.evse_id, 20)
            tariff = em580.char_array(em580.TT_MARKER + tx.transaction_id, 126)
        except ValueError as exc:
            raise self.error(f"begin_transaction: {exc}") from exc
        id_type = em580.IDENT_TYPES.get(tx.id_token_type, 0) if tx.id_token else 0
        self._write_holding(em580.REG.IDENT_STATUS, [1 if tx.id_token else 0])
        self._write_holding(em580.REG.IDENT_LEVEL, [0])
        self._write_holding(em580.REG.IDENT_FLAGS, [0, 0, 0, 0])
        self._write_holding(em580.REG.IDENT_TYPE, [id_type])
        self._write_holding(em580.REG.IDENT_DATA, ident)
        self._write_holding(em580.REG.CPI_TYPE, [0])
        self._write_holding(em580.REG.CPI, cpi)
        self._write_holding(em580.REG.TARIFF_TEXT, tariff)
        self._write_holding(em580.REG.SESSION_MODALITY, [0])

        def begin() -> None:
            self._write_holding(em580.REG.COMMAND, [em580.CMD_BEGIN])
            self._em580_wait("begin_transaction", em580.STATE_RUNNING)

        self._begin_persisted(tx, begin)
        self._signed_tx = tx
        log.info("signed transaction started device=%s tx=%s", self.device_id, tx.transaction_id)

    def _em580_dataset(self, tx_id: str) -> tuple[SignedMeterValue, ...]:
        """Read the waiting OCMF file, check it is ``tx_id``'s, confirm it; the signed value."""
        size = self._read_holding(em580.REG.SIZE, 1, function=4)[0]
        if size == 0:
            raise self.error("end_transaction: the meter reports an empty OCMF file")
        ocmf = em580.text_of(self._read_holding(em580.REG.FILE, min(size, 2031), function=4))
        found = em580.transaction_of(ocmf)
        if found != tx_id:
            raise self.error(
                f"end_transaction: the meter's dataset is for transaction {found!r}, not {tx_id!r}",
                DatasetMismatch,
            )
        sig_type = self._read_holding(em580.REG.SIGNATURE_TYPE, 1, function=4)[0]
        if sig_type not in em580.DER_WORDS:
            raise self.error(f"end_transaction: the meter has no signature key (type {sig_type})")
        der = registers_to_bytes(
            self._read_holding(em580.REG.PUBLIC_KEY_DER, em580.DER_WORDS[sig_type], function=4)
        )
        if len(der) >= 2 and der[0] == 0x30:
            der = der[: 2 + der[1]]
        self._write_holding(em580.REG.STATE, [em580.STATE_NOT_READY])  # confirm the read
        log.info("signed transaction ended device=%s bytes=%d", self.device_id, len(ocmf))
        return (
            SignedMeterValue(
                measurand="Energy.Active.Import.Register",
                signed_meter_data=base64.b64encode(ocmf.encode("ascii")).decode("ascii"),
                signing_method=em580.signing_method(ocmf, sig_type),
                encoding_method="OCMF",
                public_key=base64.b64encode(der).decode("ascii"),
            ),
        )

    def _em580_end(self) -> tuple[SignedMeterValue, ...]:
        tx = self._signed_tx
        if tx is None:
            raise self.error("end_transaction: no signed transaction was started on this meter")
        self._write_holding(em580.REG.COMMAND, [em580.CMD_END])
        self._em580_wait("end_transaction", em580.STATE_READY)
        signed = self._em580_dataset(tx.transaction_id)
        self._signed_tx = None
        if self._store is not None:
            self._store.clear()
        return signed

    def _em580_recover(
        self, store: TransactionStore, record: dict[str, Any], tx: TransactionInfo
    ) -> tuple[SignedMeterValue, ...]:
        state = self._em580_state()
        if state == em580.STATE_RUNNING:
            log.warning(
                "closing signed transaction left open by a previous run device=%s tx=%s",
                self.device_id,
                tx.transaction_id,
            )
            self._signed_tx = tx
            self._write_holding(em580.REG.COMMAND, [em580.CMD_END])
            self._em580_wait("recover_transaction", em580.STATE_READY)
            self._signed_tx = None
            try:
                signed = self._em580_dataset(tx.transaction_id)
            except DatasetMismatch as exc:
                return self._recovery_failed(store, record, exc.detail)
            return self._recovered_done(store, record, signed)
        if state == em580.STATE_READY:
            # The meter ended it by itself (power loss): its dataset waits. Take it if it is ours.
            try:
                signed = self._em580_dataset(tx.transaction_id)
            except DatasetMismatch as exc:
                return self._recovery_failed(store, record, exc.detail)
            return self._recovered_done(store, record, signed)
        if record.get("state") == "opening":
            store.clear()
            self._recovery_pending = False
            return ()
        return self._recovery_failed(
            store, record, f"meter OCMF state {state} at recovery: no dataset to close"
        )


class ModbusTcpMeter(ModbusMeter):
    """The same meter models over Modbus TCP (a ``modbus_tcp`` bus: the meter's own Ethernet
    port or an RTU-to-TCP gateway). Retries, offline detection and signed transactions work as
    on RTU; only the transport differs."""

    bus_kind: ClassVar[str | None] = "modbus_tcp"
    #: Over TCP the unit id only selects a device behind a gateway: 0 and 255 are common for a
    #: meter that answers by itself.
    unit_ids: ClassVar[tuple[int, int]] = (0, 255)

    def _master_for(self, bus: Any) -> Any:
        from .tcp import ModbusTcpBus, TcpMaster

        if not isinstance(bus, ModbusTcpBus):
            raise ConfigError(f"{self.device_id}: bus: modbus-tcp-meter needs a bus of kind 'modbus_tcp'")
        return TcpMaster.for_bus(bus)
