"""Winline DC-module CAN protocol: IDs, register frames and status bits (pure, no I/O).

From the team's hardware notes (``hardware-facts.md`` §7.4). The notes record a disagreement
between EVerest's Winline README and its code; the code's layout is used here::

    bits 28-20  protocol number 0x060
    bit  19     point-to-point flag (1: one module addressed)
    bits 18-11  destination: module 0x00-0x3F, 0xFF broadcast, 0xFE group broadcast
    bits 10-3   source: the controller (0xF0) or the replying module
    bits  2-0   group

Data (8 bytes, big-endian): byte 0 function (0x10 read, 0x03 set; in replies the data type,
0x41 float or 0x42 integer), byte 1 reserved (in replies the error code, 0xF0 = OK), bytes 2-3
register, bytes 4-7 value (float32 or u32).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ALARM_BITS",
    "INFO_BITS",
    "PROTOCOL",
    "Reg",
    "RegisterReply",
    "RegisterRequest",
    "WinlineId",
    "current_of_raw",
    "decode_id",
    "decode_reply",
    "decode_request",
    "decode_status",
    "encode_id",
    "encode_reply",
    "encode_status",
    "float_value",
    "int_value",
    "read_request",
    "set_current",
    "set_on_off",
    "set_voltage",
]

PROTOCOL = 0x060
BROADCAST = 0xFF
GROUP_BROADCAST = 0xFE
FUNCTION_READ = 0x10
FUNCTION_SET = 0x03
TYPE_FLOAT = 0x41
TYPE_INT = 0x42
ERROR_OK = 0xF0
#: Error codes a module sets in its reply to a request it refuses (the driver counts every code
#: but :data:`ERROR_OK` as a refusal).
ERROR_BAD_REGISTER = 0xF2
ERROR_BAD_VALUE = 0xF3
#: Output current set-point scale: the register holds amperes x 1024.
CURRENT_SCALE = 1024
POWER_ON = 0x00000000
POWER_OFF = 0x00010000


class Reg:
    """Register numbers."""

    # read
    VOUT = 0x0001  # float V
    IOUT = 0x0002  # float A
    CURRENT_LIMIT_POINT = 0x0003
    TEMPERATURE = 0x0004  # DC board temperature, float
    INPUT_VOLTAGE = 0x0005  # float V
    RATED_POWER = 0x0011  # float W
    RATED_CURRENT = 0x0012  # float A
    STATUS = 0x0040  # u32 bits
    # set
    SET_VOLTAGE = 0x0021  # float V
    SET_CURRENT = 0x001B  # u32 A x 1024
    POWER = 0x0030  # u32 0 = on, 0x00010000 = off


@dataclass(frozen=True, slots=True)
class WinlineId:
    protocol: int
    point_to_point: bool
    destination: int
    source: int
    group: int


def encode_id(*, destination: int, source: int, group: int, point_to_point: bool = True) -> int:
    """Build a 29-bit arbitration ID; raises ``ValueError`` for a field out of range."""
    if not 0 <= destination <= 0xFF or not 0 <= source <= 0xFF or not 0 <= group <= 7:
        raise ValueError(f"destination={destination} source={source} group={group} out of range")
    return (PROTOCOL << 20) | (int(point_to_point) << 19) | (destination << 11) | (source << 3) | group


def decode_id(arbitration_id: int) -> WinlineId:
    return WinlineId(
        protocol=(arbitration_id >> 20) & 0x1FF,
        point_to_point=bool((arbitration_id >> 19) & 1),
        destination=(arbitration_id >> 11) & 0xFF,
        source=(arbitration_id >> 3) & 0xFF,
        group=arbitration_id & 0x7,
    )


def read_request(register: int) -> bytes:
    return bytes([FUNCTION_READ, 0]) + register.to_bytes(2, "big") + bytes(4)


def set_voltage(volts: float) -> bytes:
    if not math.isfinite(volts) or volts < 0:
        raise ValueError(f"voltage must be finite and >= 0, got {volts}")
    return bytes([FUNCTION_SET, 0]) + Reg.SET_VOLTAGE.to_bytes(2, "big") + struct.pack(">f", volts)


def set_current(amps: float) -> bytes:
    if not math.isfinite(amps) or amps < 0:
        raise ValueError(f"current must be finite and >= 0, got {amps}")
    raw = round(amps * CURRENT_SCALE)
    if raw > 0xFFFFFFFF:
        raise ValueError(f"current {amps} A does not fit the u32 register")
    return bytes([FUNCTION_SET, 0]) + Reg.SET_CURRENT.to_bytes(2, "big") + raw.to_bytes(4, "big")


def current_of_raw(raw: int) -> float:
    """Amperes of a :attr:`Reg.SET_CURRENT` register value (inverse of the scale in :func:`set_current`)."""
    return raw / CURRENT_SCALE


def set_on_off(on: bool) -> bytes:
    return (
        bytes([FUNCTION_SET, 0])
        + Reg.POWER.to_bytes(2, "big")
        + (POWER_ON if on else POWER_OFF).to_bytes(4, "big")
    )


def float_value(value: float) -> bytes:
    """The 4 value bytes of a float register."""
    return struct.pack(">f", value)


def int_value(value: int) -> bytes:
    """The 4 value bytes of an integer register."""
    return (value & 0xFFFFFFFF).to_bytes(4, "big")


def _as_float(register: int, raw: bytes) -> float:
    (value,) = struct.unpack(">f", raw)
    if not math.isfinite(value):
        raise ValueError(f"register 0x{register:04X} is not finite: {value}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RegisterRequest:
    """A request as the module receives it: function (read/set), register, value bytes."""

    function: int
    register: int
    raw: bytes

    def as_float(self) -> float:
        return _as_float(self.register, self.raw)

    def as_int(self) -> int:
        return int.from_bytes(self.raw, "big")


def decode_request(data: bytes) -> RegisterRequest:
    """The module's side of :func:`read_request` and the ``set_*`` payloads."""
    if len(data) < 8:
        raise ValueError(f"request needs 8 bytes, got {len(data)}")
    return RegisterRequest(data[0], int.from_bytes(data[2:4], "big"), bytes(data[4:8]))


@dataclass(frozen=True, slots=True)
class RegisterReply:
    data_type: int
    error: int
    register: int
    raw: bytes

    @property
    def ok(self) -> bool:
        return self.error == ERROR_OK

    def as_float(self) -> float:
        return _as_float(self.register, self.raw)

    def as_int(self) -> int:
        return int.from_bytes(self.raw, "big")


def encode_reply(reply: RegisterReply) -> bytes:
    """The module's side of :func:`decode_reply`."""
    if len(reply.raw) != 4:
        raise ValueError(f"a register value is 4 bytes, got {len(reply.raw)}")
    return bytes([reply.data_type, reply.error]) + reply.register.to_bytes(2, "big") + reply.raw


def decode_reply(data: bytes) -> RegisterReply:
    if len(data) < 8:
        raise ValueError(f"reply needs 8 bytes, got {len(data)}")
    return RegisterReply(data[0], data[1], int.from_bytes(data[2:4], "big"), bytes(data[4:8]))


#: Status bit -> fault name (names shared with the other families where they mean the same).
#: The bit meanings are the Winline status word ("Chart 2" of the protocol document) as EVerest's
#: Winline driver decodes it (``CanPackets.hpp``, ``PowerModuleStatus``). Every one of them means
#: the module cannot or must not deliver, so each is a blocking fault (issue #14 item 5): a fan
#: fault or DC/DC over-temperature on this family comes with no "still delivering" guarantee.
ALARM_BITS: dict[int, str] = {
    0: "module_fault",
    1: "module_protection",
    3: "internal_communication_failure",  # module-internal SCI link
    4: "input_mode_error",  # input mode / wiring error
    5: "input_mode_mismatch",  # input mode set by the controller differs from the wiring
    7: "output_overvoltage",  # DC/DC over-voltage
    8: "pfc_voltage_abnormal",  # PFC bus imbalance, over- or under-voltage
    9: "input_overvoltage",
    14: "input_undervoltage",
    16: "communication_interrupted",
    17: "current_imbalance",  # paralleled modules do not share the current
    27: "fan_fault",
    28: "output_short_circuit",  # DC/DC short circuit
    30: "over_temperature",  # DC/DC over-temperature
    31: "output_overvoltage_protection",  # DC/DC output over-voltage (protection tripped)
}
#: Status bit -> state name (normal conditions).
INFO_BITS: dict[int, str] = {
    22: "dc_off",
    23: "power_limiting",
    24: "temperature_derating",
    25: "ac_power_limiting",
}


def decode_status(word: int) -> tuple[frozenset[str], frozenset[str]]:
    """``(faults, states)`` of a status word. Bits the notes do not name are reported as states
    ``bit<n>`` (visible in ``describe()``), not faults: an undocumented bit must not stop a
    charge, but it must not vanish either."""
    faults = frozenset(name for bit, name in ALARM_BITS.items() if word & (1 << bit))
    states = {name for bit, name in INFO_BITS.items() if word & (1 << bit)}
    known = set(ALARM_BITS) | set(INFO_BITS)
    states |= {f"bit{bit}" for bit in range(32) if word & (1 << bit) and bit not in known}
    return faults, frozenset(states)


_BIT_OF_NAME: dict[str, int] = {name: bit for table in (ALARM_BITS, INFO_BITS) for bit, name in table.items()}


def encode_status(names: Iterable[str]) -> int:
    """The status word (the module's side) with the named bits of :data:`ALARM_BITS` and
    :data:`INFO_BITS` set; raises ``ValueError`` for a name neither has."""
    word = 0
    for name in names:
        if name not in _BIT_OF_NAME:
            raise ValueError(f"no status bit is named {name!r}")
        word |= 1 << _BIT_OF_NAME[name]
    return word
