"""SunSpec meters (models 201-204, integer + scale factor) found by walking the SunSpec map.

A SunSpec device announces itself with the marker ``"SunS"`` (0x5375 0x6E53) at one of the
well-known base addresses (40000, 0 or 50000, PDU addresses) followed by a chain of models, each
``[id, length, length registers...]``, ended by id 0xFFFF. The driver walks the chain once (on
the first read, so a meter that is off at start-up is a read error, not a start-up failure),
remembers where the common model (1) and the first meter model (201 single phase, 202 split
phase, 203 wye, 204 delta) are, and then reads the meter model in one transaction per poll.
If that read is refused (the device was replaced or re-configured) the map is walked again.

Meter model layout (offsets after the two-register header; SunSpec Information Model
Reference, models 201-204, as restated by public implementations, e.g. the Fronius
"meter_intsf_registers" header): currents 0-3 + A_SF 4, voltages 5-12 + V_SF 13, Hz 14 + Hz_SF
15, W 16-19 + W_SF 20, VA 21-24 + 25, VAR 26-29 + 30, PF 31-34 (percent) + PF_SF 35, energy
(acc32, Wh): TotWhExp 36, TotWhImp 44, TotWh_SF 52; reactive energy (acc32, varh): TotVArhImpQ1
70, ImpQ2 78, ExpQ3 86, ExpQ4 94, TotVArh_SF 102. "Not implemented" is 0x8000 for int16 and
scale factors, 0 for acc32 counters. Values are read as ``raw * 10**sf``.

Why a reader of our own instead of a SunSpec package: the packages (pysunspec2) open their own
Modbus connection per device and hide timeouts as generic errors; a meter here must share the
RS485 line or the gateway connection (bus lock) with the other devices and fail with the HAL's
typed errors, so the few dozen lines of map walking are done on our master.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import msgspec

from josev_hal.buses.serial import SerialBus
from josev_hal.devices import DeviceConfig, MeterReading, PhaseValues
from josev_hal.errors import ConfigError, DeviceError

from .driver import ModbusMeter, ModbusMeterOptions
from .model import registers_to_text
from .rtu import ModbusExceptionError, RtuMaster

__all__ = [
    "METER_COUNTERS",
    "METER_MODELS",
    "METER_POINTS",
    "SUNS",
    "Point",
    "SunSpecMap",
    "SunSpecMeter",
    "SunSpecOptions",
    "SunSpecRtuMeter",
    "decode_meter_block",
]

log = logging.getLogger(__name__)

SUNS = (0x5375, 0x6E53)
BASES = (40000, 0, 50000)
END = 0xFFFF
METER_MODELS = {201: "single phase", 202: "split phase", 203: "wye three phase", 204: "delta three phase"}
NOT_IMPLEMENTED_I16 = 0x8000


class Point(NamedTuple):
    """Where a value of the meter model sits: register offsets after the two-register header."""

    offset: int
    #: Offset of the scale factor (``value = raw * 10 ** sf``).
    sf: int
    #: SunSpec unit of ``raw * 10 ** sf``.
    unit: str


#: The int16 values of models 201-204 (the layout of the module docstring). The driver decodes
#: from this table and the simulated meter (:mod:`josev_hal_modbus.sim_sunspec`) encodes into it,
#: so the two cannot disagree on an offset.
METER_POINTS: dict[str, Point] = {
    "current_total": Point(0, 4, "A"),
    "current_l1": Point(1, 4, "A"),
    "current_l2": Point(2, 4, "A"),
    "current_l3": Point(3, 4, "A"),
    "voltage_l1": Point(6, 13, "V"),
    "voltage_l2": Point(7, 13, "V"),
    "voltage_l3": Point(8, 13, "V"),
    "frequency": Point(14, 15, "Hz"),
    "power_total": Point(16, 20, "W"),
    "power_l1": Point(17, 20, "W"),
    "power_l2": Point(18, 20, "W"),
    "power_l3": Point(19, 20, "W"),
    "apparent_power_total": Point(21, 25, "VA"),
    "reactive_power_total": Point(26, 30, "var"),
    "power_factor": Point(31, 35, "Pct"),
}

#: The acc32 counters (two registers, high word first) the driver reads.
METER_COUNTERS: dict[str, Point] = {
    "energy_export": Point(36, 52, "Wh"),
    "energy_import": Point(44, 52, "Wh"),
    "reactive_q1": Point(70, 102, "varh"),  # imported
    "reactive_q2": Point(78, 102, "varh"),  # imported
    "reactive_q3": Point(86, 102, "varh"),  # exported
    "reactive_q4": Point(94, 102, "varh"),  # exported
}


@dataclass(frozen=True)
class SunSpecMap:
    """Where the models of one device are: ``models`` maps id -> (address of the id register,
    length); ``meter`` is the meter model found."""

    base: int
    models: dict[int, tuple[int, int]]
    meter: int
    manufacturer: str = ""
    model_name: str = ""
    serial_number: str = ""


class SunSpecOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``sunspec-meter`` / ``sunspec-rtu-meter``."""

    #: Base address of the map; None: try 40000, 0 and 50000 in that order.
    base_address: int | None = None
    #: Which meter model to use when the device has several (None: the first of 201-204).
    meter_model: int | None = None
    retries: int = 2
    backoff_s: float = 0.05
    offline_after: int = 3
    response_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.base_address is not None and not 0 <= self.base_address <= 0xFFF0:
            raise ValueError("base_address: must be a register address")
        if self.meter_model is not None and self.meter_model not in METER_MODELS:
            raise ValueError(f"meter_model: must be one of {', '.join(map(str, METER_MODELS))}")
        if self.retries < 0 or self.offline_after < 1 or self.backoff_s < 0:
            raise ValueError("retries must be >= 0, offline_after >= 1, backoff_s >= 0")


def _i16(w: int) -> int:
    return w - 0x10000 if w & 0x8000 else w


def _scaled(words: list[int], offset: int, sf_offset: int) -> float | None:
    raw, sf = words[offset], words[sf_offset]
    if raw == NOT_IMPLEMENTED_I16 or sf == NOT_IMPLEMENTED_I16:
        return None
    return _i16(raw) * 10.0 ** _i16(sf)


def _acc32(words: list[int], offset: int, sf_offset: int) -> float | None:
    raw = (words[offset] << 16) | words[offset + 1]
    sf = words[sf_offset]
    if raw == 0 or sf == NOT_IMPLEMENTED_I16:
        return None  # acc32 0 means "not implemented" in SunSpec (a real counter is never 0 long)
    return raw * 10.0 ** _i16(sf)


def decode_meter_block(words: list[int], taken_at: float, utc: Any) -> MeterReading:
    """A :class:`MeterReading` from the registers of a 201-204 model (after its header)."""

    def value(name: str) -> float | None:
        point = METER_POINTS[name]
        return _scaled(words, point.offset, point.sf)

    def counter(name: str) -> float | None:
        point = METER_COUNTERS[name]
        return _acc32(words, point.offset, point.sf)

    def phases(quantity: str) -> PhaseValues | None:
        values = [value(f"{quantity}_l{i}") for i in (1, 2, 3)]
        if all(v is None for v in values):
            return None
        return PhaseValues(*(v or 0.0 for v in values))

    currents = phases("current")
    power = value("power_total")
    phase_power = [value(f"power_l{i}") for i in (1, 2, 3)]
    if currents is not None:
        # Currents may come as magnitudes; take the direction from the phase power.
        signed = [
            -abs(c) if (pw is not None and pw < 0) else c
            for c, pw in zip((currents.l1, currents.l2, currents.l3), phase_power, strict=True)
        ]
        currents = PhaseValues(*signed)
    pf = value("power_factor")
    imp_q1, imp_q2 = counter("reactive_q1"), counter("reactive_q2")
    exp_q3, exp_q4 = counter("reactive_q3"), counter("reactive_q4")
    reactive_import = None if imp_q1 is None and imp_q2 is None else (imp_q1 or 0.0) + (imp_q2 or 0.0)
    reactive_export = None if exp_q3 is None and exp_q4 is None else (exp_q3 or 0.0) + (exp_q4 or 0.0)
    return MeterReading(
        taken_at=taken_at,
        utc=utc,
        voltage_v=phases("voltage"),
        current_a=currents,
        power_w=power,
        energy_import_wh=counter("energy_import"),
        energy_export_wh=counter("energy_export"),
        reactive_import_varh=reactive_import,
        reactive_export_varh=reactive_export,
        frequency_hz=value("frequency"),
        power_factor=None if pf is None else min(abs(pf) / 100.0, 1.0),
    )


def _text(words: list[int]) -> str:
    return registers_to_text(words).strip()


class SunSpecMeter(ModbusMeter):
    """A SunSpec meter (models 201-204) on Modbus TCP; see the module docstring."""

    Options: ClassVar[type[msgspec.Struct]] = SunSpecOptions
    bus_kind: ClassVar[str | None] = "modbus_tcp"
    unit_ids: ClassVar[tuple[int, int]] = (0, 255)

    def __init__(self, config: DeviceConfig[Any]) -> None:
        opts = config.options
        if not isinstance(opts, SunSpecOptions):
            raise ConfigError(f"{config.device_id}: options must be SunSpecOptions")
        self.sunspec_opts = opts
        # The register-map machinery of ModbusMeter is not used; its retry / offline logic is.
        base_opts = ModbusMeterOptions(
            model="sdm630",
            retries=opts.retries,
            backoff_s=opts.backoff_s,
            offline_after=opts.offline_after,
            response_timeout_s=opts.response_timeout_s,
        )
        super().__init__(
            DeviceConfig(
                device_id=config.device_id,
                options=base_opts,
                bus=config.bus,
                address=config.address,
                evse_id=config.evse_id,
                connector_id=config.connector_id,
                plugin=config.plugin,
            )
        )
        self.config = config
        self.options = opts
        self.map: SunSpecMap | None = None

    def _master_for(self, bus: Any) -> Any:
        from .tcp import ModbusTcpBus, TcpMaster

        if not isinstance(bus, ModbusTcpBus):
            raise ConfigError(f"{self.device_id}: bus: sunspec-meter needs a bus of kind 'modbus_tcp'")
        return TcpMaster.for_bus(bus)

    def describe(self) -> dict[str, Any]:
        m = self.map
        return {
            "sunspec": None if m is None else {"base": m.base, "models": sorted(m.models), "meter": m.meter},
            "manufacturer": None if m is None else m.manufacturer,
            "model": None if m is None else m.model_name,
            "serial_number": None if m is None else m.serial_number,
            "unit": self.unit,
            "offline": self.offline,
        }

    # -- discovery ---------------------------------------------------------------------------------
    def _regs(self, address: int, count: int, attempts: int) -> list[int]:
        return list(
            self._attempt(
                lambda: self.master.read_registers(
                    self.unit, 3, address, count, timeout_s=self.sunspec_opts.response_timeout_s
                ),
                attempts,
            )
        )

    def discover(self, attempts: int = 1) -> SunSpecMap:
        """Walk the SunSpec map. Raises DeviceError (nothing answers, no marker, no meter model)."""
        bases = (self.sunspec_opts.base_address,) if self.sunspec_opts.base_address is not None else BASES
        base: int | None = None
        for candidate in bases:
            try:
                if tuple(self._regs(candidate, 2, attempts)) == SUNS:
                    base = candidate
                    break
            except ModbusExceptionError:
                continue  # no registers there: try the next base
        if base is None:
            raise self.error(f"no SunSpec marker 'SunS' at {', '.join(map(str, bases))}")
        models: dict[int, tuple[int, int]] = {}
        address = base + 2
        for _ in range(64):  # a real map has a handful of models; never loop on garbage
            model_id, length = self._regs(address, 2, attempts)
            if model_id == END:
                break
            models.setdefault(model_id, (address, length))
            address += 2 + length
            if address > 0xFFFF:
                break
        wanted = self.sunspec_opts.meter_model
        meters = [m for m in models if m in METER_MODELS and (wanted is None or m == wanted)]
        if not meters:
            found = ", ".join(map(str, sorted(models))) or "none"
            raise self.error(f"no SunSpec meter model (201-204) in the map (models: {found})")
        meter = meters[0]
        if models[meter][1] < 105:
            raise self.error(f"SunSpec model {meter} is {models[meter][1]} registers long, expected 105")
        manufacturer = model_name = serial = ""
        if 1 in models:
            common_at, common_len = models[1]
            words = self._regs(common_at + 2, min(common_len, 66), attempts)
            manufacturer, model_name, serial = _text(words[0:16]), _text(words[16:32]), _text(words[48:64])
        found_map = SunSpecMap(base, models, meter, manufacturer, model_name, serial)
        log.info(
            "sunspec map device=%s base=%d models=%s meter=%d (%s) %s %s",
            self.device_id,
            base,
            sorted(models),
            meter,
            METER_MODELS[meter],
            manufacturer,
            model_name,
        )
        return found_map

    # -- reading -------------------------------------------------------------------------------------
    def _read(self) -> MeterReading:
        from josev_hal.devices import now_reading_times

        self.stats["reads"] += 1
        attempts = 1 if self.offline else 1 + self.opts.retries
        try:
            if self.map is None:
                self.map = self.discover(attempts)
            address, _length = self.map.models[self.map.meter]
            taken_at, utc = now_reading_times()
            try:
                words = self._regs(address + 2, 105, attempts)
            except ModbusExceptionError:
                self.map = None  # the map moved (device replaced / reconfigured): walk it again
                raise
        except DeviceError as exc:
            offline = self._failed(exc)
            if offline is None:
                raise
            raise offline from exc
        if self.offline:
            log.info("sunspec meter back online device=%s", self.device_id)
        self._offline = False
        self._consecutive_failures = 0
        return decode_meter_block(words, taken_at, utc)


class SunSpecRtuMeter(SunSpecMeter):
    """The same over Modbus RTU (``serial`` bus)."""

    bus_kind: ClassVar[str | None] = "serial"
    unit_ids: ClassVar[tuple[int, int]] = (1, 247)

    def _master_for(self, bus: Any) -> Any:
        if not isinstance(bus, SerialBus):
            raise ConfigError(f"{self.device_id}: bus: sunspec-rtu-meter needs a bus of kind 'serial'")
        return RtuMaster.for_bus(bus)
