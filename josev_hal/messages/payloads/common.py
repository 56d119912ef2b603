"""Types that payloads of more than one area share (defined once)."""

from __future__ import annotations

import enum

import msgspec

__all__ = ["AcceptedRejected", "PerPhase", "TokenType"]


class AcceptedRejected(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class TokenType(enum.StrEnum):
    """The kind of an id token (OCPP IdTokenEnumType in the contract's spelling).

    ``authorization`` update and response, and ``process_authorized_token``, take all of these;
    an ``authorization`` request from the CS takes the narrower AuthorizationTokenType.
    """

    CENTRAL = "central"
    E_MAID = "e_maid"
    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    KEY_CODE = "key_code"
    LOCAL = "local"
    MAC_ADDRESS = "mac_address"
    NO_AUTHORIZATION = "no_authorization"


class PerPhase(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """One value per phase (L1, L2, L3); the field that holds it says which quantity and unit."""

    l1: float
    l2: float
    l3: float
