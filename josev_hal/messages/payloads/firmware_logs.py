"""Firmware updates and log uploads, with their status reports.

Messages: ``firmware_status``, ``logs_status``, ``update_firmware``, ``upload_logs``.
"""

# ruff: noqa: E501  (long patterns and field comments)
from __future__ import annotations

import enum
from typing import ClassVar

from msgspec import UNSET, UnsetType

from josev_hal.messages import rules
from josev_hal.messages.base import MessageType, Payload
from josev_hal.messages.patterns import DateTime, TransferUrl

__all__ = [
    "FirmwareStatusStatus",
    "FirmwareStatusUpdate",
    "LogsStatusStatus",
    "LogsStatusUpdate",
    "UpdateFirmwareRequest",
    "UpdateFirmwareResponse",
    "UpdateFirmwareStatus",
    "UploadLogsLogType",
    "UploadLogsRequest",
    "UploadLogsResponse",
    "UploadLogsStatus",
]


class FirmwareStatusStatus(enum.StrEnum):
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    DOWNLOAD_FAILED = "download_failed"
    DOWNLOAD_SCHEDULED = "download_scheduled"
    DOWNLOAD_PAUSED = "download_paused"
    IDLE = "idle"
    INSTALLING = "installing"
    INSTALLED = "installed"
    INSTALLATION_FAILED = "installation_failed"
    INSTALL_REBOOTING = "install_rebooting"
    INSTALL_SCHEDULED = "install_scheduled"
    INSTALL_VERIFICATION_FAILED = "install_verification_failed"
    INVALID_SIGNATURE = "invalid_signature"
    SIGNATURE_VERIFIED = "signature_verified"


class LogsStatusStatus(enum.StrEnum):
    ACCEPTED_CANCELED = "accepted_canceled"
    BAD_MESSAGE = "bad_message"
    IDLE = "idle"
    NOT_SUPPORTED_OPERATION = "not_supported_operation"
    PERMISSION_DENIED = "permission_denied"
    UPLOAD_FAILURE = "upload_failure"
    UPLOADED = "uploaded"
    UPLOADING = "uploading"


class UpdateFirmwareStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ACCEPTED_CANCELED = "accepted_canceled"
    INVALID_CERTIFICATE = "invalid_certificate"
    REVOKED_CERTIFICATE = "revoked_certificate"


class UploadLogsLogType(enum.StrEnum):
    DIAGNOSTICS_LOG = "diagnostics_log"
    SECURITY_LOG = "security_log"


class UploadLogsStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ACCEPTED_CANCELED = "accepted_canceled"


class FirmwareStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``firmware_status`` update payload (MUST PUBLISH (after accepting update_firmware)). Progress of the firmware update identified by request_id."""

    NAME: ClassVar[str] = "firmware_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    request_id: int
    status: FirmwareStatusStatus


class LogsStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``logs_status`` update payload (MUST PUBLISH (after accepting upload_logs)). Progress of the log upload identified by request_id."""

    NAME: ClassVar[str] = "logs_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    request_id: int
    status: LogsStatusStatus


class UpdateFirmwareRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``update_firmware`` request payload (MUST ANSWER). Download (and install) a firmware image from a URL at a given time, with optional retries and signature data."""

    NAME: ClassVar[str] = "update_firmware"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    # OCPP requestId; echo it in firmware_status
    request_id: int
    location: TransferUrl
    retrieve_datetime: DateTime
    install_datetime: DateTime | UnsetType = UNSET
    # number of download retries
    retries: int | UnsetType = UNSET
    # [s]
    retry_interval: int | UnsetType = UNSET
    signing_certificate: str | UnsetType = UNSET
    signature: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.date_times(self, "retrieve_datetime", "install_datetime")


class UpdateFirmwareResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``update_firmware`` response payload (MUST PUBLISH (reply, same id)). Acceptance of the firmware update request."""

    NAME: ClassVar[str] = "update_firmware"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: UpdateFirmwareStatus


class UploadLogsRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``upload_logs`` request payload (MUST ANSWER). Upload diagnostics or security logs to a remote URL."""

    NAME: ClassVar[str] = "upload_logs"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    # OCPP requestId; echo it in logs_status
    request_id: int
    log_type: UploadLogsLogType
    remote_location: TransferUrl
    retries: int | UnsetType = UNSET
    # [s]
    retry_interval: int | UnsetType = UNSET
    oldest_timestamp: DateTime | UnsetType = UNSET
    latest_timestamp: DateTime | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.date_times(self, "oldest_timestamp", "latest_timestamp")


class UploadLogsResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``upload_logs`` response payload (MUST PUBLISH (reply, same id)). Acceptance of the log upload and optional file name."""

    NAME: ClassVar[str] = "upload_logs"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: UploadLogsStatus
    filename: str | UnsetType = UNSET
