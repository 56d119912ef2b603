"""The PN532 frame codec (hardware-facts §8.1), shared by the ``pn532-reader`` driver and the
simulated chip (:class:`josev_hal_i2c.sim.SimPn532`), so both ends of the wire build and check
frames with the same code.

Normal information frame: ``00 00 FF LEN LCS TFI PD0..PDn DCS 00`` where ``LEN`` counts TFI and
the data, ``LEN + LCS == 0`` and ``TFI + sum(data) + DCS == 0`` (mod 256). ``TFI`` is ``D4`` from
the host and ``D5`` from the chip; ``PD0`` is the command code (the chip answers ``code + 1``).
Besides information frames the chip sends the ACK frame ``00 00 FF 00 FF 00`` after every valid
command, and an application-level error frame (``LEN = 1``, ``TFI = 7F``) for a command it
rejects; the host may send the NACK frame ``00 00 FF FF 00 00`` to ask for the last response again.
Extended frames (more than 255 bytes) are not used by anything here and are not decoded.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "ACK",
    "CHIP_TFI",
    "ERROR_FRAME",
    "HOST_TFI",
    "NACK",
    "Pn532Frame",
    "build_frame",
    "command_frame",
    "parse_frame",
    "response_frame",
]

HOST_TFI, CHIP_TFI = 0xD4, 0xD5
ACK = bytes([0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00])
NACK = bytes([0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00])
#: Application-level error ("syntax error"): one body byte, TFI 0x7F.
ERROR_FRAME = bytes([0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00])

_START = b"\x00\xff"


class Pn532Frame(NamedTuple):
    """A decoded information frame: its TFI, the command (or response) code and the data after it."""

    tfi: int
    command: int
    data: bytes


def build_frame(tfi: int, body: bytes) -> bytes:
    """The normal frame carrying ``tfi`` and ``body`` (command code and data). Raises ValueError
    when the frame would need the extended format (more than 255 bytes after the length)."""
    payload = bytes([tfi]) + body
    length = len(payload)
    if length > 255:
        raise ValueError("PN532 normal frames carry at most 255 bytes")
    return bytes([0x00, 0x00, 0xFF, length, (-length) & 0xFF, *payload, (-sum(payload)) & 0xFF, 0x00])


def command_frame(command: int, params: bytes = b"") -> bytes:
    """A host->PN532 command frame."""
    return build_frame(HOST_TFI, bytes([command]) + params)


def response_frame(command: int, data: bytes = b"") -> bytes:
    """The PN532->host response frame to ``command`` (response code ``command + 1``)."""
    return build_frame(CHIP_TFI, bytes([(command + 1) & 0xFF]) + data)


def parse_frame(data: bytes) -> Pn532Frame | None:
    """The first information frame in ``data`` (leading preamble or padding bytes are skipped);
    ``None`` when there is none that is complete and passes both checksums.

    ACK, NACK and the error frame carry no command code and are not information frames: they
    decode to ``None`` (compare them with :data:`ACK` and the other constants).
    """
    start = data.find(_START)
    if start < 0 or len(data) < start + 4:
        return None
    length, lcs = data[start + 2], data[start + 3]
    if (length + lcs) & 0xFF or length < 2:
        return None
    body = data[start + 4 : start + 4 + length]
    if len(body) != length or len(data) < start + 5 + length:
        return None
    if (sum(body) + data[start + 4 + length]) & 0xFF:
        return None
    return Pn532Frame(body[0], body[1], bytes(body[2:]))
