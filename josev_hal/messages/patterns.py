"""The string patterns of the message layer, in one place.

Why not the contract's text verbatim: msgspec (like every Python validator) runs patterns through
Python ``re``, where ``$`` also matches before a trailing newline and ``\\d`` matches any Unicode
decimal digit. JSON Schema patterns follow ECMA-262, where neither happens. So every pattern here is
anchored with ``\\A`` / ``\\Z`` and spells its digits ``[0-9]``: an id ``"...c4b4\\n"`` or a
timestamp with Arabic-Indic digits is refused, as the contract's own validators refuse it, and
can never be spliced raw into an outgoing envelope. :func:`ecma` turns a pattern back into the
ECMA-262 spelling for the generated JSON Schemas.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

__all__ = [
    "DATE_TIME_PATTERN",
    "DATE_TIME_WORDS",
    "DT_SHAPES",
    "DT_TABLE",
    "TRANSFER_URL_PATTERN",
    "UUID_PATTERN",
    "WS_URL_PATTERN",
    "DateTime",
    "TransferUrl",
    "WsUrl",
    "ecma",
    "is_date_time",
]

UUID_PATTERN = r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"

# MESSAGES.md section 1 "Time": RFC 3339, at most 3 fractional digits, offset optional.
DATE_TIME_PATTERN = (
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,3})?([Zz]|[+-][0-9]{2}:[0-9]{2})?\Z"
)

DATE_TIME_WORDS = "expected an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm])"

# Prefix patterns (the contract checks only the scheme); anchored at the start only.
WS_URL_PATTERN = r"\A(ws|wss)://"
TRANSFER_URL_PATTERN = r"\A(https?|ftps?|sftp)://"

# The date-time format is checked by :func:`is_date_time` in the ``__post_init__`` of every Struct
# with such a field (rules.date_times), not by ``Meta(pattern=...)``: msgspec runs a pattern through
# Python ``re`` at ~0.3 us per value, a translate-and-lookup costs a third of that with exactly the
# same verdict (tests/test_messages_fidelity.py compares the two on edge cases and random strings).
# The generated JSON Schema still carries the pattern.
DateTime = Annotated[str, Meta(extra_json_schema={"pattern": DATE_TIME_PATTERN})]
WsUrl = Annotated[str, Meta(pattern=WS_URL_PATTERN)]
TransferUrl = Annotated[str, Meta(pattern=TRANSFER_URL_PATTERN)]


# bytes.translate table for date-times: digits -> "9", T/t -> "T", Z/z -> "Z", the separators
# "-:.+" stay, every other byte (control characters, non-ASCII, letters) -> NUL
DT_TABLE = bytes(
    0x39
    if 0x30 <= b <= 0x39
    else 0x54
    if b in (0x54, 0x74)
    else 0x5A
    if b in (0x5A, 0x7A)
    else b
    if b in b"-:.+"
    else 0
    for b in range(256)
)
# Every shape DATE_TIME_PATTERN accepts: 0-3 fraction digits after a dot, offset Z / +hh:mm /
# -hh:mm / none.
DT_SHAPES = frozenset(
    f"9999-99-99T99:99:99{fraction}{offset}".encode()
    for fraction in ("", ".9", ".99", ".999")
    for offset in ("", "Z", "+99:99", "-99:99")
)


def is_date_time(value: object) -> bool:
    """Exactly :data:`DATE_TIME_PATTERN`'s verdict, without ``re``."""
    if value.__class__ is not str:
        return False
    return value.encode("utf-8", "replace").translate(DT_TABLE) in DT_SHAPES  # type: ignore[attr-defined,unused-ignore]


def ecma(pattern: str) -> str:
    r"""``pattern`` for an ECMA-262 (JSON Schema) engine: ``\A`` -> ``^``, ``\Z`` -> ``$``.

    Without the multiline flag ECMA's ``^``/``$`` mean exactly Python's ``\A``/``\Z``.
    """
    if pattern.startswith(r"\A"):
        pattern = "^" + pattern[2:]
    if pattern.endswith(r"\Z"):
        pattern = pattern[:-2] + "$"
    return pattern
