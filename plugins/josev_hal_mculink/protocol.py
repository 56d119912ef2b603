"""The josev-hal MCU link: packets, COBS framing and CRC-16 (pure, no I/O).

The full specification for firmware authors is ``docs/mcu-link.md``; this module is the HAL
side's implementation of it. In short::

    wire frame  = COBS(packet) 0x00
    packet      = version(1) type(1) seq(1) payload(0..64) crc16(2, big-endian)
    crc16       = CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)
                  over version..payload

All multi-byte payload fields are big-endian.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

__all__ = [
    "MAX_PAYLOAD",
    "NOT_MEASURED_MV",
    "VERSION",
    "AckResult",
    "CpModeCode",
    "FrameError",
    "MsgType",
    "Packet",
    "RcdTestResult",
    "Status",
    "StatusFlags",
    "cobs_decode",
    "cobs_encode",
    "crc16",
    "decode_frame",
    "encode_frame",
]

VERSION = 1
MAX_PAYLOAD = 64
#: CP plateau value meaning "this plateau was not measured" (e.g. no negative phase in X1).
NOT_MEASURED_MV = -0x8000
_NO_RESIDUAL = 0xFFFF


class FrameError(ValueError):
    """A frame could not be decoded (bad COBS, bad CRC, wrong version, bad length)."""


class MsgType(enum.IntEnum):
    # HAL -> MCU
    KEEPALIVE = 0x01  # u16 timeout_ms: fail safe when no valid frame arrives for this long
    SET_CP = 0x10  # u8 CpModeCode, u16 duty in 0.01 % (PWM only)
    SET_CONTACTOR = 0x11  # u8 1 = close, 0 = open
    RCD_TEST = 0x12  # start the RCD self-test
    RCD_RESET = 0x13  # release a latched RCD trip
    GET_STATUS = 0x20  # ask for a STATUS now
    # MCU -> HAL
    STATUS = 0x81  # see Status; every 100 ms and on every change
    ACK = 0x82  # u8 acknowledged seq, u8 AckResult
    HELLO = 0x83  # after MCU reset: u8 protocol version, then ASCII firmware version


class CpModeCode(enum.IntEnum):
    X1 = 0
    PWM = 1
    STATE_E = 2
    STATE_F = 3


class AckResult(enum.IntEnum):
    OK = 0
    REFUSED = 1  # an MCU interlock forbids it (e.g. close while CP is not C/D)
    BAD_PAYLOAD = 2
    UNKNOWN_TYPE = 3


class StatusFlags(enum.IntFlag):
    CONTACTOR_COMMANDED = 0x01
    CONTACTOR_FEEDBACK_CLOSED = 0x02
    RCD_TRIPPED = 0x04
    FAILSAFE = 0x08  # the MCU lost the HAL's keep-alive and went safe (relays open, CP F)
    RCD_TEST_RUNNING = 0x10
    CP_FAULT = 0x20  # the MCU's own CP checks failed (diode, short)
    WELDED = 0x40  # feedback says closed while commanded open


class RcdTestResult(enum.IntEnum):
    NONE = 0
    PASSED = 1
    FAILED = 2


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (check value for b"123456789" is 0x29B1)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result contains no 0x00 byte."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of :func:`cobs_encode` (input without the 0x00 delimiter)."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise FrameError("zero byte inside a COBS frame")
        end = i + code
        if end > len(data):
            raise FrameError("COBS block runs past the end of the frame")
        out += data[i + 1 : end]
        i = end
        if code != 255 and i < len(data):
            out.append(0)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Packet:
    type: int
    seq: int
    payload: bytes = b""


def encode_frame(packet: Packet) -> bytes:
    """Packet -> wire bytes (COBS + 0x00 delimiter)."""
    if len(packet.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(packet.payload)} bytes exceeds {MAX_PAYLOAD}")
    body = bytes([VERSION, packet.type & 0xFF, packet.seq & 0xFF]) + packet.payload
    return cobs_encode(body + struct.pack(">H", crc16(body))) + b"\x00"


def decode_frame(frame: bytes) -> Packet:
    """Wire bytes of one frame (without the 0x00 delimiter) -> Packet; raises FrameError."""
    raw = cobs_decode(frame)
    if len(raw) < 5:
        raise FrameError(f"frame of {len(raw)} bytes is shorter than the 5-byte minimum")
    body, (crc,) = raw[:-2], struct.unpack(">H", raw[-2:])
    if crc16(body) != crc:
        raise FrameError(f"CRC mismatch: frame says 0x{crc:04X}, computed 0x{crc16(body):04X}")
    if body[0] != VERSION:
        raise FrameError(f"protocol version {body[0]} (this HAL speaks {VERSION})")
    if len(body) - 3 > MAX_PAYLOAD:
        raise FrameError(f"payload of {len(body) - 3} bytes exceeds {MAX_PAYLOAD}")
    return Packet(type=body[1], seq=body[2], payload=bytes(body[3:]))


_STATUS = struct.Struct(">BBHhhHBB")


@dataclass(frozen=True, slots=True)
class Status:
    """Payload of :attr:`MsgType.STATUS` (12 bytes)."""

    flags: StatusFlags
    cp_mode: CpModeCode
    cp_duty_centi: int  # applied duty in 0.01 %
    cp_positive_mv: int  # NOT_MEASURED_MV when not measured
    cp_negative_mv: int
    residual_deci_ma: int | None  # residual current in 0.1 mA, None = not measured
    rcd_test_result: RcdTestResult
    rcd_test_count: int  # increments when a self-test finishes (wraps at 256)

    def pack(self) -> bytes:
        residual = _NO_RESIDUAL if self.residual_deci_ma is None else self.residual_deci_ma
        return _STATUS.pack(
            int(self.flags),
            int(self.cp_mode),
            self.cp_duty_centi,
            self.cp_positive_mv,
            self.cp_negative_mv,
            residual,
            int(self.rcd_test_result),
            self.rcd_test_count & 0xFF,
        )

    @classmethod
    def unpack(cls, payload: bytes) -> Status:
        if len(payload) != _STATUS.size:
            raise FrameError(f"STATUS payload must be {_STATUS.size} bytes, got {len(payload)}")
        flags, mode, duty, pos, neg, residual, result, count = _STATUS.unpack(payload)
        try:
            return cls(
                flags=StatusFlags(flags),
                cp_mode=CpModeCode(mode),
                cp_duty_centi=duty,
                cp_positive_mv=pos,
                cp_negative_mv=neg,
                residual_deci_ma=None if residual == _NO_RESIDUAL else residual,
                rcd_test_result=RcdTestResult(result),
                rcd_test_count=count,
            )
        except ValueError as exc:
            raise FrameError(f"STATUS field out of range: {exc}") from exc
