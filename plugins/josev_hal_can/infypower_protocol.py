"""InfyPower "V1.13" CAN protocol: frame IDs, payload codecs and status bits.

Facts from the team's hardware notes (``hardware-facts.md`` §7.1); everything is 29-bit extended
IDs, 8-byte frames, big-endian. This module is pure (no I/O) so it can be tested byte for byte.

CAN ID layout::

    bits 28-26  error code (0 = normal; a module sets it in a reply to a command it refused)
    bits 25-22  device number: 0x0A = one module, 0x0B = the group
    bits 21-16  command
    bits 15-8   destination: module address 0x00-0x3E, a group number, 0x3F broadcast
    bits  7-0   source: the controller (0xF0 by default, 0xF0-0xF8) or the replying module
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ALARM_BITS",
    "BROADCAST",
    "DEFAULT_CONTROLLER",
    "DEVICE_GROUP",
    "DEVICE_MODULE",
    "INFO_BITS",
    "WARNING_BITS",
    "Cmd",
    "FrameId",
    "ModuleCapabilities",
    "ModuleStatus",
    "decode_capabilities",
    "decode_count",
    "decode_id",
    "decode_on_off",
    "decode_output",
    "decode_set_output",
    "decode_status",
    "encode_capabilities",
    "encode_count",
    "encode_id",
    "encode_on_off",
    "encode_output",
    "encode_set_output",
    "encode_status",
]

DEVICE_MODULE = 0x0A
DEVICE_GROUP = 0x0B
BROADCAST = 0x3F
DEFAULT_CONTROLLER = 0xF0


class Cmd:
    """Command numbers (bits 21-16 of the ID)."""

    READ_COUNT = 0x02  # group: number of modules, in byte 2 of the reply
    READ_OUTPUT = 0x03  # float32 V (bytes 0-3), float32 A (bytes 4-7)
    READ_STATUS = 0x04  # alarm/state bits in bytes 5-7
    READ_CAPABILITIES = 0x0A  # u16 Vmax 1 V, u16 Vmin 1 V, u16 Imax 0.1 A, u16 power 10 W
    READ_BARCODE = 0x0B
    READ_AFTER_DIODE = 0x0C
    ON_OFF = 0x1A  # byte 0: 0x00 = on, 0x01 = off
    SET_OUTPUT = 0x1C  # u32 mV, u32 mA


@dataclass(frozen=True, slots=True)
class FrameId:
    """The fields of one InfyPower CAN ID."""

    error: int
    device: int
    command: int
    destination: int
    source: int


def encode_id(*, device: int, command: int, destination: int, source: int, error: int = 0) -> int:
    """Build a 29-bit arbitration ID; raises ``ValueError`` for a field out of range."""
    for name, value, bits in (
        ("error", error, 3),
        ("device", device, 4),
        ("command", command, 6),
        ("destination", destination, 8),
        ("source", source, 8),
    ):
        if not 0 <= value < (1 << bits):
            raise ValueError(f"{name}={value} does not fit in {bits} bits")
    return (error << 26) | (device << 22) | (command << 16) | (destination << 8) | source


def decode_id(arbitration_id: int) -> FrameId:
    """Split a 29-bit arbitration ID into its fields."""
    return FrameId(
        error=(arbitration_id >> 26) & 0x7,
        device=(arbitration_id >> 22) & 0xF,
        command=(arbitration_id >> 16) & 0x3F,
        destination=(arbitration_id >> 8) & 0xFF,
        source=arbitration_id & 0xFF,
    )


def encode_set_output(voltage_v: float, current_a: float) -> bytes:
    """Payload of :attr:`Cmd.SET_OUTPUT`: u32 millivolt + u32 milliampere."""
    if not (math.isfinite(voltage_v) and math.isfinite(current_a)) or voltage_v < 0 or current_a < 0:
        raise ValueError(f"set-point must be finite and >= 0, got {voltage_v} V / {current_a} A")
    mv, ma = round(voltage_v * 1000), round(current_a * 1000)
    if mv > 0xFFFFFFFF or ma > 0xFFFFFFFF:
        raise ValueError(f"set-point {voltage_v} V / {current_a} A does not fit the u32 fields")
    return struct.pack(">II", mv, ma)


def decode_set_output(data: bytes) -> tuple[float, float]:
    """``(volts, amperes)`` of a :attr:`Cmd.SET_OUTPUT` payload (the module's side)."""
    if len(data) < 8:
        raise ValueError(f"set-point needs 8 bytes, got {len(data)}")
    mv, ma = struct.unpack(">II", bytes(data[:8]))
    return mv / 1000.0, ma / 1000.0


def encode_on_off(on: bool) -> bytes:
    """Payload of :attr:`Cmd.ON_OFF` (note the inverted sense: 0 means on)."""
    return bytes([0x00 if on else 0x01]) + bytes(7)


def decode_on_off(data: bytes) -> bool:
    """``True`` (switch on) for a :attr:`Cmd.ON_OFF` payload whose byte 0 is 0x00."""
    if not data:
        raise ValueError("on/off payload is empty")
    return data[0] == 0x00


def encode_output(voltage_v: float, current_a: float) -> bytes:
    """A :attr:`Cmd.READ_OUTPUT` reply (the module's side): float32 V + float32 A."""
    return struct.pack(">ff", voltage_v, current_a)


def decode_output(data: bytes) -> tuple[float, float]:
    """``(volts, amperes)`` from a :attr:`Cmd.READ_OUTPUT` reply."""
    if len(data) < 8:
        raise ValueError(f"output reply needs 8 bytes, got {len(data)}")
    voltage, current = struct.unpack(">ff", bytes(data[:8]))
    if not (math.isfinite(voltage) and math.isfinite(current)):
        raise ValueError(f"output reply is not finite: {voltage} V / {current} A")
    return voltage, current


def encode_count(count: int) -> bytes:
    """A :attr:`Cmd.READ_COUNT` reply (the group's side): the count in byte 2."""
    if not 0 <= count <= 0xFF:
        raise ValueError(f"module count {count} does not fit one byte")
    return bytes([0, 0, count]) + bytes(5)


def decode_count(data: bytes) -> int:
    """Number of modules from a :attr:`Cmd.READ_COUNT` reply."""
    if len(data) < 3:
        raise ValueError(f"count reply needs 3 bytes, got {len(data)}")
    return data[2]


@dataclass(frozen=True, slots=True)
class ModuleCapabilities:
    """What one module reports about itself (cmd 0x0A)."""

    max_voltage_v: float
    min_voltage_v: float
    max_current_a: float
    rated_power_w: float


def encode_capabilities(caps: ModuleCapabilities) -> bytes:
    """A :attr:`Cmd.READ_CAPABILITIES` reply (the module's side), in the wire's units."""
    return struct.pack(
        ">HHHH",
        round(caps.max_voltage_v),
        round(caps.min_voltage_v),
        round(caps.max_current_a * 10),
        round(caps.rated_power_w / 10),
    )


def decode_capabilities(data: bytes) -> ModuleCapabilities:
    """Decode a :attr:`Cmd.READ_CAPABILITIES` reply."""
    if len(data) < 8:
        raise ValueError(f"capabilities reply needs 8 bytes, got {len(data)}")
    vmax, vmin, imax, power = struct.unpack(">HHHH", bytes(data[:8]))
    return ModuleCapabilities(float(vmax), float(vmin), imax / 10.0, power * 10.0)


#: (byte, bit) -> fault name for the status reply. These mean the module cannot (or must not)
#: deliver what was asked; the core turns any of them into a blocking hardware fault.
ALARM_BITS: dict[tuple[int, int], str] = {
    (7, 0): "output_short_circuit",
    (7, 5): "discharge_abnormal",
    (6, 1): "module_fault",
    (6, 2): "module_protection",
    (6, 5): "output_overvoltage",
    (6, 7): "communication_interrupted",
    (5, 1): "address_conflict",
    (5, 3): "input_phase_lost",
    (5, 5): "input_undervoltage",
    (5, 6): "input_overvoltage",
}

#: (byte, bit) -> warning name. Vendor warnings (EVerest's InfyPower driver raises them as
#: VendorWarning, not as errors): a failing fan or a hot module derates itself, load sharing and
#: input unbalance degrade the group -- while the module still delivers, a charge may go on at
#: what it delivers. A warning on a module that has switched its output off although it was told
#: to be on is no longer "still delivering": the group driver reports it as a fault then.
WARNING_BITS: dict[tuple[int, int], str] = {
    (6, 3): "fan_fault",
    (6, 4): "over_temperature",
    (5, 2): "load_sharing_alarm",
    (5, 4): "input_unbalanced",
}

#: (byte, bit) -> state name. Normal operating states, not faults (``dc_off`` is how the module
#: reports that its output is switched off).
INFO_BITS: dict[tuple[int, int], str] = {
    (7, 4): "sleeping",
    (6, 0): "dc_off",
    (6, 6): "walk_in_enabled",
    (5, 0): "power_limiting",
    (5, 7): "pfc_off",
}


@dataclass(frozen=True, slots=True)
class ModuleStatus:
    """Decoded status reply: ``faults`` from :data:`ALARM_BITS`, ``warnings`` from
    :data:`WARNING_BITS`, ``states`` from :data:`INFO_BITS`."""

    faults: frozenset[str]
    states: frozenset[str]
    warnings: frozenset[str] = frozenset()

    @property
    def output_on(self) -> bool:
        return "dc_off" not in self.states


def decode_status(data: bytes) -> ModuleStatus:
    """Decode a :attr:`Cmd.READ_STATUS` reply (bytes 5-7 carry the bits)."""
    if len(data) < 8:
        raise ValueError(f"status reply needs 8 bytes, got {len(data)}")
    faults = frozenset(name for (byte, bit), name in ALARM_BITS.items() if data[byte] & (1 << bit))
    states = frozenset(name for (byte, bit), name in INFO_BITS.items() if data[byte] & (1 << bit))
    warnings = frozenset(name for (byte, bit), name in WARNING_BITS.items() if data[byte] & (1 << bit))
    return ModuleStatus(faults, states, warnings)


_BIT_OF_NAME: dict[str, tuple[int, int]] = {
    name: position for table in (ALARM_BITS, WARNING_BITS, INFO_BITS) for position, name in table.items()
}


def encode_status(names: Iterable[str]) -> bytes:
    """A :attr:`Cmd.READ_STATUS` reply (the module's side) with the named bits of
    :data:`ALARM_BITS`, :data:`WARNING_BITS` and :data:`INFO_BITS` set; raises ``ValueError``
    for a name none of them has."""
    status = bytearray(8)
    for name in names:
        if name not in _BIT_OF_NAME:
            raise ValueError(f"no status bit is named {name!r}")
        byte, bit = _BIT_OF_NAME[name]
        status[byte] |= 1 << bit
    return bytes(status)
