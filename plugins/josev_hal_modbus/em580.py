"""Carlo Gavazzi EM580 signed-value (Eichrecht / OCMF) registers and the transaction flow.

Source: EVerest everest-core ``modules/HardwareDrivers/PowerMeters/CarloGavazzi_EM580``
(``main/helper.hpp``, ``main/powermeterImpl.cpp``), which cite the EM580 Modbus document's
tables 4.18-4.39; addresses there are 3xxxxx numbers, here PDU addresses (minus 300001):

* identification: status 0x7000 (1 = assigned), level 0x7001, flags 0x7002-0x7005, type 0x7006,
  data 0x7007 (CHAR[40], 20 words, 0-terminated); charging point id type 0x701B (0 = EVSEID) and
  id 0x701C (CHAR[40]); tariff text 0x6900 (CHAR[252], 126 words); session modality 0x7036
  (0 = charging a vehicle);
* command 0x7040: ``'B'`` (0x42) begin, ``'E'`` (0x45) end, ``'A'`` (0x41) abort;
* OCMF state 0x7100: 0 not ready, 1 running, 2 ready (a dataset waits to be read), 3 corrupted;
  size 0x7101, the OCMF file (the complete ``OCMF|payload|signature`` text) from 0x7110; writing
  0 to 0x7100 confirms the file was read;
* signature type 0x24FF (0 = 256-bit, 1 = 384-bit), public key DER from 0x2600 (46 words for
  256-bit, 62 for 384-bit).

Like EVerest, the transaction id is appended to the tariff text as ``<=>`` + id, so the dataset
found in the meter after a power loss can be matched to its transaction (the TT field).

[UNCONFIRMED] Reads use FC4 and writes FC16 (EVerest's addresses are 3xxxxx and it writes the
same addresses); whether the size at 0x7101 counts registers or bytes is not stated -- it is
read as registers and the text is cut at the first NUL, which is right either way as long as
the file fits.
"""

from __future__ import annotations

import json
from typing import Any

from .model import bytes_to_registers, registers_to_text

__all__ = [
    "CMD_ABORT",
    "CMD_BEGIN",
    "CMD_END",
    "REG",
    "STATE_CORRUPTED",
    "STATE_NOT_READY",
    "STATE_READY",
    "STATE_RUNNING",
    "TT_MARKER",
    "char_array",
    "signing_method",
    "transaction_of",
]


class REG:
    """PDU addresses of the EM580 OCMF interface."""

    SIGNATURE_TYPE = 0x24FF
    PUBLIC_KEY_DER = 0x2600
    TARIFF_TEXT = 0x6900
    IDENT_STATUS = 0x7000
    IDENT_LEVEL = 0x7001
    IDENT_FLAGS = 0x7002
    IDENT_TYPE = 0x7006
    IDENT_DATA = 0x7007
    CPI_TYPE = 0x701B
    CPI = 0x701C
    SESSION_MODALITY = 0x7036
    COMMAND = 0x7040
    STATE = 0x7100
    SIZE = 0x7101
    FILE = 0x7110


CMD_BEGIN = 0x42
CMD_END = 0x45
CMD_ABORT = 0x41
STATE_NOT_READY, STATE_RUNNING, STATE_READY, STATE_CORRUPTED = 0, 1, 2, 3
DER_WORDS = {0: 46, 1: 62}
TT_MARKER = "<=>"
#: OCMF identification type numbers (EVerest helper.hpp ``type_to_value``), by the Josev API's
#: token types: ISO14443 10, ISO15693 11, eMAID 20, central 60, local 70, key code 90.
IDENT_TYPES = {
    None: 0,
    "ISO14443": 10,
    "ISO15693": 11,
    "eMAID": 20,
    "EMAID": 20,
    "Central": 60,
    "central": 60,
    "Local": 70,
    "local": 70,
    "KeyCode": 90,
    "key_code": 90,
}


def char_array(text: str, words: int) -> list[int]:
    """``text`` as a 0-terminated CHAR array of at most ``words`` registers (high byte first).
    Raises ValueError when it does not fit (an OCMF field is never silently truncated)."""
    raw = text.encode("ascii")
    if len(raw) > 2 * words - 1:
        raise ValueError(f"{text!r} is longer than {2 * words - 1} characters")
    return bytes_to_registers(raw + b"\0")


def text_of(words: list[int]) -> str:
    """The text of a 0-terminated CHAR array (the OCMF file, the identification fields)."""
    return registers_to_text(words)


def transaction_of(ocmf: str) -> str | None:
    """The transaction id after ``<=>`` in the dataset's tariff text (TT), or None."""
    parts = ocmf.split("|")
    if len(parts) < 2:
        return None
    try:
        payload: Any = json.loads(parts[1])
    except ValueError:
        return None
    tt = payload.get("TT") if isinstance(payload, dict) else None
    if not isinstance(tt, str) or TT_MARKER not in tt:
        return None
    return tt.rsplit(TT_MARKER, 1)[1].strip() or None


def signing_method(ocmf: str, signature_type: int) -> str:
    """The signature algorithm the dataset names (``SA``), else the one of the key type."""
    parts = ocmf.split("|")
    if len(parts) >= 3:
        try:
            sig: Any = json.loads(parts[2])
        except ValueError:
            sig = None
        if isinstance(sig, dict) and isinstance(sig.get("SA"), str):
            return str(sig["SA"])
    return "ECDSA-secp384r1-SHA256" if signature_type == 1 else "ECDSA-secp256r1-SHA256"
