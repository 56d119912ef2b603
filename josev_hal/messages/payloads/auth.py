"""Authorization and certificates: id tokens, CSRs and private keys.

Messages: ``authorization``, ``certificate_installation_status``, ``generate_csr``,
``private_key_path``, ``process_authorized_token``.
"""

# ruff: noqa: E501  (long patterns and field comments)
from __future__ import annotations

import enum
from typing import Annotated, ClassVar

from msgspec import UNSET, Meta, UnsetType

from josev_hal.messages import rules
from josev_hal.messages.base import MessageType, Payload
from josev_hal.messages.patterns import DateTime
from josev_hal.messages.payloads.common import AcceptedRejected, TokenType

__all__ = [
    "AuthorizationRequest",
    "AuthorizationResponse",
    "AuthorizationStatus",
    "AuthorizationTokenType",
    "AuthorizationUpdate",
    "CertificateInstallationStatusStatus",
    "CertificateInstallationStatusUpdate",
    "CertificateType",
    "GenerateCsrAlgorithm",
    "GenerateCsrRequest",
    "GenerateCsrResponse",
    "PrivateKeyPathRequest",
    "PrivateKeyPathResponse",
    "PrivateKeyPathStatus",
    "ProcessAuthorizedTokenRequest",
    "ProcessAuthorizedTokenResponse",
    "ProcessAuthorizedTokenStatus",
]


class AuthorizationTokenType(enum.StrEnum):
    """The id tokens the CS may read itself and send in an ``authorization`` request."""

    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    KEY_CODE = "key_code"
    LOCAL = "local"
    NO_AUTHORIZATION = "no_authorization"
    MAC_ADDRESS = "mac_address"


class AuthorizationStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DEAUTHORIZED = "deauthorized"


class CertificateType(enum.StrEnum):
    CHARGING_STATION_CERTIFICATE = "charging_station_certificate"
    V2G_CERTIFICATE = "v2g_certificate"
    V2G20_CERTIFICATE = "v2g20_certificate"


class CertificateInstallationStatusStatus(enum.StrEnum):
    INSTALLED = "installed"
    DELETED = "deleted"
    FAILED_INSTALLATION = "failed_installation"


class GenerateCsrAlgorithm(enum.StrEnum):
    ECDSA_SHA256 = "ECDSA_SHA256"
    ECDSA_SHA512 = "ECDSA_SHA512"
    RSA_SHA256 = "RSA_SHA256"
    RSA_SHA384 = "RSA_SHA384"


class PrivateKeyPathStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    FAILED_NOT_FOUND = "failed_not_found"


class ProcessAuthorizedTokenStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    DISCARDED = "discarded"


class AuthorizationRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``authorization`` request payload (MAY SEND (local id means / free charging)). CS asks OCPP to authorize a token read locally (RFID, key code, local id, MAC, or no_authorization for free charging)."""

    NAME: ClassVar[str] = "authorization"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    # ISO 15118 EVSE ID string (e.g. DE*SEV*E123456789); identifies the EVSE across all messages; may be
    # omitted when the token is read before plug-in, must be set when the EV is already plugged
    evse_id: str | UnsetType = UNSET
    # token value; omit for token_type no_authorization
    id_token: str | UnsetType = UNSET
    token_type: AuthorizationTokenType


class AuthorizationResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``authorization`` response payload (LISTEN). Authorization result with optional group token and cache expiry."""

    NAME: ClassVar[str] = "authorization"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: AuthorizationStatus
    evse_id: str | UnsetType = UNSET
    group_id_token: Annotated[str, Meta(max_length=36, min_length=0)] | UnsetType = UNSET
    group_id_token_type: TokenType | UnsetType = UNSET
    cache_expiry_date_time: DateTime | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.date_times(self, "cache_expiry_date_time")


class AuthorizationUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``authorization`` update payload (LISTEN). Authorization that already happened elsewhere (CSMS remote start, ISO 15118, CS) or a de-authorization."""

    NAME: ClassVar[str] = "authorization"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    id_token: str | UnsetType = UNSET
    token_type: TokenType
    status: AuthorizationStatus


class CertificateInstallationStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``certificate_installation_status`` update payload (LISTEN). A station-owned certificate was installed, deleted or failed to install, so the OEM can keep/discard the matching private key."""

    NAME: ClassVar[str] = "certificate_installation_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    certificate_type: CertificateType
    private_key_path: str | UnsetType = UNSET
    status: CertificateInstallationStatusStatus


class GenerateCsrRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``generate_csr`` request payload (MUST ANSWER (OEM/TPM key store)). Ask the OEM to create a key pair (e.g. in a TPM) and return a PEM CSR for the given certificate type."""

    NAME: ClassVar[str] = "generate_csr"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    certificate_type: CertificateType
    # CSR subject CN
    common_name: str
    # CSR subject O
    organization_name: str
    # CSR subject C (2-letter)
    country_name: str
    evse_id: str | UnsetType = UNSET
    algorithm: GenerateCsrAlgorithm | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.v2g20_needs_ecdsa_sha512(self)


class GenerateCsrResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``generate_csr`` response payload (MUST PUBLISH (reply, same id)). accepted + PEM CSR, or rejected."""

    NAME: ClassVar[str] = "generate_csr"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: AcceptedRejected
    # PEM-encoded PKCS#10 CSR
    csr: str


class PrivateKeyPathRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``private_key_path`` request payload (MUST ANSWER (inferred, TPM setups)). No schema published; Python model only: Josev asks where the private key of a certificate type lives."""

    NAME: ClassVar[str] = "private_key_path"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    certificate_type: CertificateType


class PrivateKeyPathResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``private_key_path`` response payload (MUST PUBLISH (reply, same id)). No schema published; Python model only: status accepted/failed_not_found + key path."""

    NAME: ClassVar[str] = "private_key_path"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: PrivateKeyPathStatus
    private_key_path: str | UnsetType = UNSET


class ProcessAuthorizedTokenRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``process_authorized_token`` request payload (MUST ANSWER (when enabled)). OCPP asks the OEM whether an already-authorized token should actually be used."""

    NAME: ClassVar[str] = "process_authorized_token"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    id_token: str | UnsetType = UNSET
    token_type: TokenType
    evse_id: str | UnsetType = UNSET


class ProcessAuthorizedTokenResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``process_authorized_token`` response payload (MUST PUBLISH (reply, same id)). accepted or discarded."""

    NAME: ClassVar[str] = "process_authorized_token"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: ProcessAuthorizedTokenStatus
    evse_id: str | UnsetType = UNSET
