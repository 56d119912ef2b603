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
    "TRANSFER_URL_PATTERN",
    "UUID_PATTERN",
    "WS_URL_PATTERN",
    "DateTime",
    "TransferUrl",
    "WsUrl",
    "ecma",
]

UUID_PATTERN = r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"

# MESSAGES.md section 1 "Time": RFC 3339, at most 3 fractional digits, offset optional.
DATE_TIME_PATTERN = (
    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,3})?([Zz]|[+-][0-9]{2}:[0-9]{2})?\Z"
)

# Prefix patterns (the contract checks only the scheme); anchored at the start only.
WS_URL_PATTERN = r"\A(ws|wss)://"
TRANSFER_URL_PATTERN = r"\A(https?|ftps?|sftp)://"

DateTime = Annotated[str, Meta(pattern=DATE_TIME_PATTERN)]
WsUrl = Annotated[str, Meta(pattern=WS_URL_PATTERN)]
TransferUrl = Annotated[str, Meta(pattern=TRANSFER_URL_PATTERN)]


def ecma(pattern: str) -> str:
    r"""``pattern`` for an ECMA-262 (JSON Schema) engine: ``\A`` -> ``^``, ``\Z`` -> ``$``.

    Without the multiline flag ECMA's ``^``/``$`` mean exactly Python's ``\A``/``\Z``.
    """
    if pattern.startswith(r"\A"):
        pattern = "^" + pattern[2:]
    if pattern.endswith(r"\Z"):
        pattern = pattern[:-2] + "$"
    return pattern
