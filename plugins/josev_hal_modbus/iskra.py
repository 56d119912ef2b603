"""Iskra WM3M4C signed-value (Eichrecht / OCMF) registers and helpers.

Holding-register layout (hardware-facts §5.5, PDU addresses): transaction state 7000, command
7051 (``'B'`` = begin, ``'r'`` = end), signature status 7052, time zone / UNIX time / time-sync
flag 7053-7055 / 7071, metadata length 7056 with the metadata JSON from 7100, signed-data length
7057 with the OCMF payload from 7612, signature length 7058 with the DER signature from 8188, the
raw P-256 public key (64 bytes) at 8124. Text is two ASCII characters per register, high byte
first (:func:`josev_hal_modbus.model.bytes_to_registers`).

The flow (as EVerest drives it): set the clock, write the metadata, write ``'B'``, wait until the
state is active and the signature status OK; at the end write ``'r'``, wait for idle and OK, read
payload and signature, and assemble ``OCMF|<payload>|{"SD":"<hex signature>"}``.
"""

from __future__ import annotations

import json

__all__ = [
    "CMD_BEGIN",
    "CMD_END",
    "DER_P256_PREFIX",
    "REG",
    "STATE_ACTIVE",
    "STATE_IDLE",
    "STATUS_OK",
    "assemble_ocmf",
    "metadata_json",
    "normalize_der_signature",
]


class REG:
    """Holding-register addresses of the signed-value interface."""

    STATE = 7000
    COMMAND = 7051
    SIGNATURE_STATUS = 7052
    TZ_OFFSET_MIN = 7053
    UNIX_TIME_HI = 7054
    UNIX_TIME_LO = 7055
    METADATA_LEN = 7056
    SIGNED_DATA_LEN = 7057
    SIGNATURE_LEN = 7058
    SIGNATURE_ALGO = 7059
    TIME_SYNC = 7071
    METADATA = 7100
    SIGNED_DATA = 7612
    PUBLIC_KEY = 8124
    PUBLIC_KEY_WORDS = 32
    SIGNATURE = 8188


CMD_BEGIN = 0x4200  # 'B'
CMD_END = 0x7200  # 'r'
STATE_IDLE = 0
STATE_ACTIVE = (1, 2, 3)  # active / after power failure / after reset
STATUS_OK = 15
TIME_SYNCED = 2

#: DER header of an uncompressed EC P-256 SubjectPublicKeyInfo; the meter gives only X || Y.
DER_P256_PREFIX = bytes.fromhex("3059301306072A8648CE3D020106082A8648CE3D03010703420004")

#: Room for metadata: 7100 .. 7611 (the signed data starts at 7612).
METADATA_MAX_BYTES = 2 * (REG.SIGNED_DATA - REG.METADATA)


def metadata_json(
    *,
    gateway_id: str,
    evse_id: str,
    id_token: str | None,
    id_token_type: str | None,
    gateway_serial: str = "",
    gateway_version: str = "",
) -> str:
    """The OCMF fields the charger (the "gateway") hands to the meter, in a fixed order and
    without whitespace: format version, gateway identification / serial / version, the user
    identification (``IS`` identified, ``IT`` type, ``ID`` token) and the charge point (``CT`` =
    ``EVSEID``, ``CI`` = the EVSE id). Pagination, meter fields and readings are the meter's.
    ``|`` is the OCMF section separator and must not appear; the caller gets a
    :class:`ValueError` naming the field instead of a meter that refuses later."""
    fields: dict[str, object] = {"FV": "1.0", "GI": gateway_id}
    if gateway_serial:
        fields["GS"] = gateway_serial
    if gateway_version:
        fields["GV"] = gateway_version
    fields.update(
        {
            "IS": id_token is not None,
            "IT": (id_token_type or "UNDEFINED") if id_token is not None else "NONE",
            "ID": id_token or "",
            "CT": "EVSEID",
            "CI": evse_id,
        }
    )
    for key, value in fields.items():
        if isinstance(value, str):
            if "|" in value:
                raise ValueError(f"OCMF field {key} must not contain '|': {value!r}")
            if not value.isascii():
                raise ValueError(f"OCMF field {key} must be ASCII: {value!r}")
    text = json.dumps(fields, separators=(",", ":"))
    if len(text) > METADATA_MAX_BYTES:
        raise ValueError(f"OCMF metadata is {len(text)} bytes, the meter holds {METADATA_MAX_BYTES}")
    return text


def _der_int(value: bytes) -> bytes:
    value = value.lstrip(b"\0") or b"\0"
    if value[0] & 0x80:
        value = b"\0" + value  # keep it positive
    return b"\x02" + bytes([len(value)]) + value


def normalize_der_signature(sig: bytes) -> bytes:
    """Re-encode an ECDSA ``SEQUENCE { INTEGER r, INTEGER s }`` with minimal integers.

    The WM3M4C firmware pads r and s with leading zero bytes, which strict DER parsers (and OCMF
    verifiers) reject. Raises :class:`ValueError` when ``sig`` is not such a sequence."""
    if len(sig) < 8 or sig[0] != 0x30:
        raise ValueError("signature is not a DER sequence")
    pos = 2
    ints: list[bytes] = []
    for _ in range(2):
        if pos + 2 > len(sig) or sig[pos] != 0x02:
            raise ValueError("signature sequence does not hold two integers")
        n = sig[pos + 1]
        ints.append(sig[pos + 2 : pos + 2 + n])
        pos += 2 + n
    if pos > len(sig):
        raise ValueError("signature integers run past its end")
    body = _der_int(ints[0]) + _der_int(ints[1])
    return b"\x30" + bytes([len(body)]) + body


def assemble_ocmf(payload: str, signature_der: bytes) -> str:
    """``OCMF|<payload>|{"SD":"<hex DER signature>"}`` (OCMF defaults: ECDSA-secp256r1-SHA256,
    hex encoding)."""
    return f"OCMF|{payload}|" + json.dumps({"SD": signature_der.hex().upper()}, separators=(",", ":"))
