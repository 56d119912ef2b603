"""Meter models as data: register maps loaded from TOML and the codec between registers and values.

A model file (``models/<name>.toml``) describes one meter family::

    name = "sdm630"
    title = "Eastron SDM630 (v1 / v2 / MCT)"
    max_registers_per_read = 80   # the meter's limit for one read
    max_gap = 40                  # unused registers a single read may span (0 = never span gaps)

    [defaults]                    # applied to every register that does not say otherwise
    function = 4                  # 3 = holding registers, 4 = input registers
    type = "float32"
    word_order = "big"            # "big": high word at the lower address; "little": low word first

    [registers]                   # quantity = register
    voltage_l1 = { address = 0x0000, unit = "V" }
    energy_import = { address = 0x0048, unit = "kWh" }   # converted to Wh

    [[identify]]                  # how the probe recognises the model (all checks must pass)
    quantity = "frequency"
    min = 45.0
    max = 65.0

The same register table can be given inline in a board profile (driver option ``registers``);
see :class:`RegisterOptions`. Values are decoded as ``raw * scale * unit_factor`` (times
``10 ** (exponent + exponent_offset)`` when the register has an ``exponent_register``) into the
base unit of the quantity (V, A, W, Wh, varh, Hz). A decimal-point register (Acrel: value =
raw x 10^(dp - 3)) is an ``exponent_register`` with ``exponent_offset = -3``.
"""

from __future__ import annotations

import logging
import math
import struct
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Literal

import msgspec

from josev_hal.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "DATA_TYPES",
    "MAX_EXPONENT",
    "QUANTITIES",
    "Address",
    "Batch",
    "IdentifyCheck",
    "MeterModel",
    "ModelFile",
    "Quantity",
    "Register",
    "RegisterDefaults",
    "RegisterMap",
    "RegisterOptions",
    "Unit",
    "builtin_models",
    "bytes_to_registers",
    "check_exponent_registers",
    "decode_register",
    "encode_register",
    "load_model_file",
    "plan_reads",
    "registers_to_bytes",
    "registers_to_text",
    "text_to_registers",
]

DataType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "t5", "t6"]
WordOrder = Literal["big", "little"]

#: Data type -> (registers, struct format for the big-endian byte string).
#: ``t5``/``t6`` are Iskra's decade-exponent formats: the high byte of the first register is a
#: signed decimal exponent, the other 24 bits the mantissa (unsigned for t5, signed for t6).
DATA_TYPES: dict[str, tuple[int, str]] = {
    "int16": (1, ">h"),
    "uint16": (1, ">H"),
    "int32": (2, ">i"),
    "uint32": (2, ">I"),
    "int64": (4, ">q"),
    "uint64": (4, ">Q"),
    "float32": (2, ">f"),
    "float64": (4, ">d"),
    "t5": (2, ""),
    "t6": (2, ""),
}

#: A quantity a register can feed (a key of ``[registers]``).
Quantity = Literal[
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "current_l1",
    "current_l2",
    "current_l3",
    "power_l1",
    "power_l2",
    "power_l3",
    "power_total",
    "energy_import",
    "energy_export",
    "reactive_import",
    "reactive_export",
    "frequency",
    "power_factor",
    "dc_voltage",
    "dc_current",
]
#: Units a register may be given in (each must fit its quantity, see ``_UNITS``).
Unit = Literal["V", "mV", "kV", "A", "mA", "W", "kW", "Wh", "kWh", "MWh", "varh", "kvarh", "Hz", ""]
#: A 0-based register (PDU) address.
Address = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)]

#: Quantity key -> base unit. Which MeterReading field each key feeds is in the driver.
QUANTITIES: dict[str, str] = {
    "voltage_l1": "V",
    "voltage_l2": "V",
    "voltage_l3": "V",
    "current_l1": "A",
    "current_l2": "A",
    "current_l3": "A",
    "power_l1": "W",
    "power_l2": "W",
    "power_l3": "W",
    "power_total": "W",
    "energy_import": "Wh",
    "energy_export": "Wh",
    "reactive_import": "varh",
    "reactive_export": "varh",
    "frequency": "Hz",
    "power_factor": "",
    "dc_voltage": "V",
    "dc_current": "A",
}

#: Accepted units per base unit and their factor to the base unit.
_UNITS: dict[str, dict[str, float]] = {
    "V": {"V": 1.0, "mV": 1e-3, "kV": 1e3},
    "A": {"A": 1.0, "mA": 1e-3},
    "W": {"W": 1.0, "kW": 1e3},
    "Wh": {"Wh": 1.0, "kWh": 1e3, "MWh": 1e6},
    "varh": {"varh": 1.0, "kvarh": 1e3},
    "Hz": {"Hz": 1.0},
    "": {"": 1.0},
}

#: Modbus limit for one read (FC3/FC4): 125 registers.
MODBUS_MAX_READ = 125

#: Largest decade exponent (register word + offset) a value is scaled by. A meter answering with
#: more is reporting garbage (a float would overflow at 10^309); the value is then "not available".
MAX_EXPONENT = 18
#: Allowed ``exponent_offset`` in a map.
_MAX_EXPONENT_OFFSET = 12


class RegisterDefaults(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Defaults applied to every register of a map that does not set the field."""

    function: Literal[3, 4] = 4
    type: DataType = "float32"
    word_order: WordOrder = "big"


class RegisterOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One register of a map, as written in a model file or inline in a board profile.

    ``address`` is the 0-based PDU address sent on the wire (input register 30001 = address 0).
    ``unit`` is the unit of ``raw * scale`` (``"kWh"`` for an energy register in kWh); the driver
    converts to the quantity's base unit. ``exponent_register``: address (same function code) of
    a signed 16-bit decade exponent applied to this value (Iskra energy counters), or of a
    decimal-point register (Acrel DC meters); ``exponent_offset`` is added to that register's
    value (Acrel: ``-3``, value = raw x 10^(dp - 3)). The exponent register must be read in the
    same transaction as the value, so a value is never scaled by a stale decimal point.
    ``sign_from``: another quantity whose sign this value takes (Eastron currents are magnitudes;
    the phase power carries the direction). The subclasses below fix the units per dimension.
    """

    address: Address
    function: Literal[3, 4] | None = None
    type: DataType | None = None
    word_order: WordOrder | None = None
    scale: float = 1.0
    unit: Unit | None = None
    exponent_register: Address | None = None
    exponent_offset: int = 0
    sign_from: Quantity | None = None


class VoltageRegister(RegisterOptions, forbid_unknown_fields=True, frozen=True):
    unit: Literal["V", "mV", "kV"] | None = None


class CurrentRegister(RegisterOptions, forbid_unknown_fields=True, frozen=True):
    unit: Literal["A", "mA"] | None = None


class PowerRegister(RegisterOptions, forbid_unknown_fields=True, frozen=True):
    unit: Literal["W", "kW"] | None = None


class EnergyRegister(RegisterOptions, forbid_unknown_fields=True, frozen=True):
    unit: Literal["Wh", "kWh", "MWh"] | None = None


class ReactiveEnergyRegister(RegisterOptions, forbid_unknown_fields=True, frozen=True):
    unit: Literal["varh", "kvarh"] | None = None


class FrequencyRegister(RegisterOptions, forbid_unknown_fields=True, frozen=True):
    unit: Literal["Hz"] | None = None


class RatioRegister(RegisterOptions, forbid_unknown_fields=True, frozen=True):
    unit: Literal[""] | None = None


class RegisterMap(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """The ``[registers]`` table: one optional entry per quantity, each typed with the units that
    fit it, so a wrong key or unit is reported at its own key path."""

    voltage_l1: VoltageRegister | None = None
    voltage_l2: VoltageRegister | None = None
    voltage_l3: VoltageRegister | None = None
    current_l1: CurrentRegister | None = None
    current_l2: CurrentRegister | None = None
    current_l3: CurrentRegister | None = None
    power_l1: PowerRegister | None = None
    power_l2: PowerRegister | None = None
    power_l3: PowerRegister | None = None
    power_total: PowerRegister | None = None
    energy_import: EnergyRegister | None = None
    energy_export: EnergyRegister | None = None
    reactive_import: ReactiveEnergyRegister | None = None
    reactive_export: ReactiveEnergyRegister | None = None
    frequency: FrequencyRegister | None = None
    power_factor: RatioRegister | None = None
    dc_voltage: VoltageRegister | None = None
    dc_current: CurrentRegister | None = None

    def defined(self) -> dict[str, RegisterOptions]:
        """The registers that are set, by quantity."""
        out: dict[str, RegisterOptions] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


class IdentifyCheck(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One identification check. Either a quantity of the map whose decoded value must lie in
    ``[min, max]``, or an ASCII string read from ``function``/``address``/``count`` that must
    contain ``ascii_contains``."""

    quantity: str | None = None
    min: float | None = None
    max: float | None = None
    function: Literal[3, 4] | None = None
    address: int | None = None
    count: int | None = None
    ascii_contains: str | None = None


class ModelFile(msgspec.Struct, forbid_unknown_fields=True):
    """The TOML layout of a model file."""

    name: str
    title: str
    registers: RegisterMap
    vendor: str = ""
    notes: str = ""
    max_registers_per_read: Annotated[int, msgspec.Meta(ge=1, le=MODBUS_MAX_READ)] = MODBUS_MAX_READ
    max_gap: Annotated[int, msgspec.Meta(ge=0)] = 0
    not_available_sentinels: bool = False
    signed: Literal["none", "iskra", "em580"] = "none"
    defaults: RegisterDefaults = RegisterDefaults()
    identify: list[IdentifyCheck] = []


@dataclass(frozen=True, slots=True)
class Register:
    """A fully resolved register (defaults applied, unit factor computed)."""

    quantity: str
    address: int
    function: int
    type: str
    word_order: str
    scale: float
    unit: str
    factor: float  # raw -> base unit: scale * unit factor
    exponent_register: int | None = None
    exponent_offset: int = 0
    sign_from: str | None = None

    @property
    def count(self) -> int:
        return DATA_TYPES[self.type][0]

    def addresses(self) -> Iterable[tuple[int, int]]:
        """``(function, address)`` of every register word this value (and its exponent) uses."""
        for i in range(self.count):
            yield self.function, self.address + i
        if self.exponent_register is not None:
            yield self.function, self.exponent_register


@dataclass(frozen=True, slots=True)
class Batch:
    """One read transaction: ``count`` registers from ``address`` with function ``function``."""

    function: int
    address: int
    count: int


@dataclass(frozen=True)
class MeterModel:
    """A register map ready to use."""

    name: str
    title: str
    registers: Mapping[str, Register]
    vendor: str = ""
    notes: str = ""
    max_registers_per_read: int = MODBUS_MAX_READ
    max_gap: int = 0
    not_available_sentinels: bool = False
    signed: str = "none"
    identify: tuple[IdentifyCheck, ...] = ()

    def plan(self) -> list[Batch]:
        """The read transactions that fetch every register of the map."""
        return plan_reads(
            (a for r in self.registers.values() for a in r.addresses()),
            max_count=self.max_registers_per_read,
            max_gap=self.max_gap,
        )

    def decode(self, words: Mapping[tuple[int, int], int]) -> dict[str, float | None]:
        """Decode every quantity from ``{(function, address): word}``. ``None`` = the meter
        reported "not available" for it."""
        values: dict[str, float | None] = {}
        for q, reg in self.registers.items():
            values[q] = decode_register(reg, words, sentinels=self.not_available_sentinels)
        for q, reg in self.registers.items():
            v = values[q]
            if reg.sign_from is not None and v is not None:
                ref = values.get(reg.sign_from)
                if ref is not None and ref < 0:
                    values[q] = -abs(v)
        return values

    def with_overrides(self, name: str, registers: Mapping[str, Register]) -> MeterModel:
        """This model with some registers replaced or added (inline options over a model)."""
        merged = dict(self.registers)
        merged.update(registers)
        return MeterModel(
            name=name,
            title=self.title,
            registers=merged,
            vendor=self.vendor,
            notes=self.notes,
            max_registers_per_read=self.max_registers_per_read,
            max_gap=self.max_gap,
            not_available_sentinels=self.not_available_sentinels,
            signed=self.signed,
            identify=self.identify,
        )


# --------------------------------------------------------------------------------------------
# Resolution and validation
# --------------------------------------------------------------------------------------------


def resolve_registers(
    registers: RegisterMap | Mapping[str, RegisterOptions],
    defaults: RegisterDefaults,
    where: str,
    *,
    also_known: Iterable[str] = (),
) -> dict[str, Register]:
    """Apply defaults and check every register. Raises :class:`ValueError` whose message starts
    with ``<where>.<quantity>.<field>:`` so the caller can point at the exact key."""
    if isinstance(registers, RegisterMap):
        registers = registers.defined()
    known = set(registers) | set(also_known)
    out: dict[str, Register] = {}
    for quantity, opt in registers.items():
        path = f"{where}.{quantity}"
        if quantity not in QUANTITIES:
            raise ValueError(f"{path}: unknown quantity (expected one of: {', '.join(QUANTITIES)})")
        if not 0 <= opt.address <= 0xFFFF:
            raise ValueError(f"{path}.address: {opt.address} is not a register address (0..65535)")
        base = QUANTITIES[quantity]
        unit = base if opt.unit is None else opt.unit
        if unit not in _UNITS[base]:
            raise ValueError(
                f"{path}.unit: {unit!r} does not fit {quantity} (expected one of: "
                f"{', '.join(repr(u) for u in _UNITS[base])})"
            )
        if not math.isfinite(opt.scale) or opt.scale == 0:
            raise ValueError(f"{path}.scale: must be a finite, non-zero number")
        dtype = opt.type or defaults.type
        n = DATA_TYPES[dtype][0]
        if opt.address + n - 1 > 0xFFFF:
            raise ValueError(f"{path}.address: {n} registers from {opt.address} run past 65535")
        if opt.sign_from is not None and opt.sign_from not in known:
            raise ValueError(f"{path}.sign_from: {opt.sign_from!r} is not a register of this map")
        if opt.exponent_register is not None and not 0 <= opt.exponent_register <= 0xFFFF:
            raise ValueError(f"{path}.exponent_register: not a register address")
        if opt.exponent_offset and opt.exponent_register is None:
            raise ValueError(f"{path}.exponent_offset: only applies with exponent_register")
        if abs(opt.exponent_offset) > _MAX_EXPONENT_OFFSET:
            raise ValueError(
                f"{path}.exponent_offset: {opt.exponent_offset} is out of range "
                f"(-{_MAX_EXPONENT_OFFSET}..{_MAX_EXPONENT_OFFSET})"
            )
        out[quantity] = Register(
            quantity=quantity,
            address=opt.address,
            function=opt.function or defaults.function,
            type=dtype,
            word_order=opt.word_order or defaults.word_order,
            scale=opt.scale,
            unit=unit,
            factor=opt.scale * _UNITS[base][unit],
            exponent_register=opt.exponent_register,
            exponent_offset=opt.exponent_offset,
            sign_from=opt.sign_from,
        )
    return out


def check_exponent_registers(
    registers: Mapping[str, Register], *, max_count: int, max_gap: int, where: str
) -> None:
    """Check every ``exponent_register`` of a complete map (model plus inline overrides, with
    the read limits in force): it must not be a word of any value of the map (that would scale
    by a measurement, not a decimal point), and the planned reads must fetch it in the same
    transaction as its value. Raises :class:`ValueError` as ``<where>.<quantity>.exponent_register:``."""
    value_words: dict[tuple[int, int], str] = {}
    for q, reg in registers.items():
        for i in range(reg.count):
            value_words[(reg.function, reg.address + i)] = q
    plan = plan_reads(
        (a for r in registers.values() for a in r.addresses()), max_count=max_count, max_gap=max_gap
    )
    # In address order, so the first problem reported is the first in the map.
    for q, reg in sorted(registers.items(), key=lambda item: (item[1].function, item[1].address)):
        if reg.exponent_register is None:
            continue
        path = f"{where}.{q}.exponent_register"
        key = (reg.function, reg.exponent_register)
        if key in value_words:
            raise ValueError(
                f"{path}: {reg.exponent_register} (0x{reg.exponent_register:04X}) is a register of "
                f"{value_words[key]}, not a separate exponent / decimal-point register"
            )
        same = [
            b
            for b in plan
            if b.function == reg.function
            and b.address <= reg.address
            and reg.address + reg.count <= b.address + b.count
            and b.address <= reg.exponent_register < b.address + b.count
        ]
        if not same:
            raise ValueError(
                f"{path}: {reg.exponent_register} (0x{reg.exponent_register:04X}) is outside the block "
                f"read with the value at {reg.address} (0x{reg.address:04X}); raise max_gap or "
                f"max_registers_per_read so both come in one transaction"
            )


def _check_limits(max_registers_per_read: int, max_gap: int, where: str) -> None:
    if not 1 <= max_registers_per_read <= MODBUS_MAX_READ:
        raise ValueError(f"{where}max_registers_per_read: must be 1..{MODBUS_MAX_READ}")
    if max_gap < 0:
        raise ValueError(f"{where}max_gap: must be >= 0")


def model_from_file(data: ModelFile) -> MeterModel:
    """Build a model from a decoded file; raises :class:`ValueError` with the key path."""
    _check_limits(data.max_registers_per_read, data.max_gap, "")
    regs = resolve_registers(data.registers, data.defaults, "registers")
    check_exponent_registers(
        regs, max_count=data.max_registers_per_read, max_gap=data.max_gap, where="registers"
    )
    for i, check in enumerate(data.identify):
        if check.quantity is not None and check.quantity not in regs:
            raise ValueError(f"identify[{i}].quantity: {check.quantity!r} is not a register of this map")
        if check.quantity is None and (check.address is None or not check.ascii_contains):
            raise ValueError(f"identify[{i}]: needs either quantity or address + ascii_contains")
    return MeterModel(
        name=data.name,
        title=data.title,
        registers=regs,
        vendor=data.vendor,
        notes=data.notes,
        max_registers_per_read=data.max_registers_per_read,
        max_gap=data.max_gap,
        not_available_sentinels=data.not_available_sentinels,
        signed=data.signed,
        identify=tuple(data.identify),
    )


def load_model_file(text: str, source: str) -> MeterModel:
    """Parse and check one model file. Raises :class:`ConfigError` as ``<source>: <key>: <why>``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    try:
        data = msgspec.convert(raw, ModelFile)
        return model_from_file(data)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


#: Entry-point group through which a plugin package ships meter model files: ``<name> =
#: "<package>"``, every ``*.toml`` in that package is a model file (same format as the shipped ones).
MODEL_ENTRY_POINT_GROUP = "josev_hal.meter_models"


@cache
def plugin_models() -> dict[str, MeterModel]:
    """Meter models shipped by plugin packages (:data:`MODEL_ENTRY_POINT_GROUP`), by name.

    A broken model file, or a name a shipped model already has, disables only that file: logged
    as a warning naming the entry point, the other models stay usable.
    """
    import importlib.metadata as md

    shipped = builtin_models()
    models: dict[str, MeterModel] = {}
    for ep in sorted(md.entry_points(group=MODEL_ENTRY_POINT_GROUP), key=lambda e: e.name):
        where = f"entry point {ep.name} = {ep.value}"
        try:
            folder = resources.files(ep.value)
            entries = sorted((e for e in folder.iterdir() if e.name.endswith(".toml")), key=lambda e: e.name)
        except (ImportError, OSError, TypeError) as exc:
            log.warning("meter models of %s ignored: %s: %s", where, type(exc).__name__, exc)
            continue
        for entry in entries:
            source = f"{ep.value}/{entry.name}"
            try:
                model = load_model_file(entry.read_text(encoding="utf-8"), source)
            except ConfigError as exc:
                log.warning("meter model ignored (%s): %s", where, exc)
                continue
            if f"{model.name}.toml" != entry.name:
                log.warning("meter model ignored (%s): %s: name: must match the file name", where, source)
            elif model.name in shipped or model.name in models:
                log.warning(
                    "meter model ignored (%s): %s: model %r exists already", where, source, model.name
                )
            else:
                models[model.name] = model
    return models


def available_models() -> dict[str, MeterModel]:
    """Shipped models plus the ones plugins ship (:func:`plugin_models`)."""
    return {**plugin_models(), **builtin_models()}


@cache
def builtin_models() -> dict[str, MeterModel]:
    """Every model file shipped in ``josev_hal_modbus/models/``, by name."""
    models: dict[str, MeterModel] = {}
    folder = resources.files("josev_hal_modbus") / "models"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        model = load_model_file(entry.read_text(encoding="utf-8"), f"josev_hal_modbus/models/{entry.name}")
        if f"{model.name}.toml" != entry.name:
            raise ConfigError(f"josev_hal_modbus/models/{entry.name}: name: must match the file name")
        models[model.name] = model
    return models


# --------------------------------------------------------------------------------------------
# Codec
# --------------------------------------------------------------------------------------------


def _words_for(reg: Register, words: Mapping[tuple[int, int], int]) -> list[int]:
    ws = [words[(reg.function, reg.address + i)] for i in range(reg.count)]
    if reg.word_order == "little" and reg.type not in ("t5", "t6"):
        ws.reverse()
    return ws


def _sentinel(dtype: str, raw: int | float) -> bool:
    """ABB style "not available": all bits set (unsigned) or the maximum positive (signed)."""
    n, fmt = DATA_TYPES[dtype]
    bits = 16 * n
    if fmt and fmt[-1].isupper():
        return raw == (1 << bits) - 1
    if fmt and fmt[-1] in "hiq":
        return raw == (1 << (bits - 1)) - 1
    return False


def decode_register(
    reg: Register, words: Mapping[tuple[int, int], int], *, sentinels: bool = False
) -> float | None:
    """The value of ``reg`` in its quantity's base unit from ``{(function, address): word}``."""
    ws = _words_for(reg, words)
    raw: float
    if reg.type in ("t5", "t6"):
        combined = (ws[0] << 16) | ws[1]
        exponent = struct.unpack(">b", bytes([combined >> 24]))[0]
        mantissa = combined & 0xFFFFFF
        if reg.type == "t6" and mantissa & 0x800000:
            mantissa -= 1 << 24
        raw = mantissa * 10.0**exponent
    else:
        raw = struct.unpack(DATA_TYPES[reg.type][1], b"".join(w.to_bytes(2, "big") for w in ws))[0]
        if sentinels and _sentinel(reg.type, raw):
            return None
        if isinstance(raw, float) and not math.isfinite(raw):
            return None
    value = raw * reg.factor
    if reg.exponent_register is not None:
        exp_word = words[(reg.function, reg.exponent_register)]
        exponent = struct.unpack(">h", exp_word.to_bytes(2, "big"))[0] + reg.exponent_offset
        if abs(exponent) > MAX_EXPONENT:
            log.warning(
                "meter register %d: exponent / decimal point word %d gives 10^%d, value not available",
                reg.exponent_register,
                exp_word,
                exponent,
            )
            return None
        value *= 10.0**exponent
    return value


def encode_register(reg: Register, value: float, *, exponent: int = 0) -> dict[int, int]:
    """Words (``{address: word}``, function ``reg.function``) that make ``reg`` decode to
    ``value`` -- the inverse of :func:`decode_register`, used by the simulated meter. For
    registers with an ``exponent_register`` the exponent word is included (``exponent``, the
    register's content; ``exponent_offset`` is added when scaling)."""
    scale_exp = exponent + reg.exponent_offset if reg.exponent_register is not None else 0
    raw_value = value / reg.factor / 10.0**scale_exp
    if reg.type in ("t5", "t6"):
        exp = -6
        mantissa = round(raw_value * 10**-exp)
        limit = 0xFFFFFF if reg.type == "t5" else 0x7FFFFF
        while abs(mantissa) > limit:
            exp += 1
            mantissa = round(raw_value * 10.0**-exp)
        if reg.type == "t5" and mantissa < 0:
            raise ValueError(f"{reg.quantity}: t5 is unsigned, cannot hold {value}")
        combined = ((exp & 0xFF) << 24) | (mantissa & 0xFFFFFF)
        ws = [combined >> 16, combined & 0xFFFF]
    else:
        fmt = DATA_TYPES[reg.type][1]
        try:
            packed = struct.pack(fmt, raw_value if fmt[-1] in "fd" else round(raw_value))
        except (struct.error, OverflowError) as exc:
            raise ValueError(
                f"{reg.quantity}: {value} does not fit {reg.type} (scale {reg.factor:g})"
            ) from exc
        ws = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]
        if reg.word_order == "little":
            ws.reverse()
    out = {reg.address + i: w for i, w in enumerate(ws)}
    if reg.exponent_register is not None:
        out[reg.exponent_register] = exponent & 0xFFFF
    return out


def bytes_to_registers(data: bytes) -> list[int]:
    """Two bytes per register, high byte first; an odd length is padded with NUL. How Modbus
    devices carry strings, keys, signatures and OCMF payloads (the meters here, SunSpec)."""
    if len(data) % 2:
        data += b"\0"
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def registers_to_bytes(words: Iterable[int], length: int | None = None) -> bytes:
    """Inverse of :func:`bytes_to_registers`, cut to ``length`` bytes."""
    data = b"".join(w.to_bytes(2, "big") for w in words)
    return data if length is None else data[:length]


def registers_to_text(words: Iterable[int]) -> str:
    """A NUL-terminated (or NUL-padded) ASCII string field. Bytes that are not ASCII become
    U+FFFD: a garbled answer is shown as such, it does not raise."""
    return registers_to_bytes(words).split(b"\0")[0].decode("ascii", errors="replace")


def text_to_registers(text: str, count: int) -> list[int]:
    """``text`` as a fixed-width string field of exactly ``count`` registers: ASCII, cut to fit
    or padded with NUL (how a device serves its model name or serial number)."""
    return bytes_to_registers(text.encode("ascii")[: 2 * count].ljust(2 * count, b"\0"))


def plan_reads(addresses: Iterable[tuple[int, int]], *, max_count: int, max_gap: int) -> list[Batch]:
    """Group register addresses into as few reads as the meter allows: per function code,
    contiguous runs, bridging gaps of at most ``max_gap`` unused registers, at most
    ``max_count`` registers per read."""
    by_fc: dict[int, list[int]] = {}
    for fc, addr in addresses:
        by_fc.setdefault(fc, []).append(addr)
    batches: list[Batch] = []
    for fc in sorted(by_fc):
        addrs = sorted(set(by_fc[fc]))
        start = prev = addrs[0]
        for a in addrs[1:]:
            if a - prev - 1 > max_gap or a - start + 1 > max_count:
                batches.append(Batch(fc, start, prev - start + 1))
                start = a
            prev = a
        batches.append(Batch(fc, start, prev - start + 1))
    return batches
