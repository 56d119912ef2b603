"""Building blocks shared by every payload Struct (kept apart so ``payloads`` can import them)."""

from __future__ import annotations

import enum
from typing import ClassVar

import msgspec

__all__ = ["MessageType", "Payload"]


class MessageType(enum.StrEnum):
    """The envelope's ``type``."""

    REQUEST = "request"
    RESPONSE = "response"
    UPDATE = "update"


class Payload(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Base of every message payload (the envelope's ``data``).

    Subclasses set ``NAME`` (the message name) and ``TYPE``; the codec selects the class by
    ``(NAME, TYPE)``. Optional fields default to ``msgspec.UNSET`` and are omitted on the wire.
    """

    NAME: ClassVar[str]
    TYPE: ClassVar[MessageType]
