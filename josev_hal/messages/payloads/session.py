"""Charging-session information Josev reports for the CS and its HMI (HLC, ISO 15118 state,
display, cost, transactions).

Messages: ``cost_updated``, ``display_and_personal_msg``, ``display_params``, ``hlc_charging``,
``iso15118_state_info``, ``transaction_status``.
"""

# ruff: noqa: E501  (long patterns and field comments)
from __future__ import annotations

import enum
from typing import Annotated, ClassVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from josev_hal.messages import rules
from josev_hal.messages.base import MessageType, Payload
from josev_hal.messages.patterns import DateTime
from josev_hal.messages.payloads.common import TokenType

__all__ = [
    "CostUpdatedCustomData",
    "CostUpdatedUpdate",
    "DisplayAndPersonalMsgDisplayMsgTriggerReason",
    "DisplayAndPersonalMsgMessageState",
    "DisplayAndPersonalMsgPriority",
    "DisplayAndPersonalMsgUpdate",
    "DisplayParamsUpdate",
    "HlcChargingAction",
    "HlcChargingUpdate",
    "Iso15118StateInfoInfo",
    "Iso15118StateInfoProtocol",
    "Iso15118StateInfoSelectedPaymentOption",
    "Iso15118StateInfoSessionStatus",
    "Iso15118StateInfoStopAction",
    "Iso15118StateInfoUpdate",
    "TransactionState",
    "TransactionStatusUpdate",
]


class DisplayAndPersonalMsgDisplayMsgTriggerReason(enum.StrEnum):
    DISPLAY_MESSAGE = "display_message"
    AUTHORIZED = "authorized"
    UPDATED = "updated"
    ENDED = "ended"


class DisplayAndPersonalMsgMessageState(enum.StrEnum):
    CHARGING = "charging"
    FAULTED = "faulted"
    IDLE = "idle"
    UNAVAILABLE = "unavailable"


class DisplayAndPersonalMsgPriority(enum.StrEnum):
    ALWAYS_FRONT = "always_front"
    IN_FRONT = "in_front"
    NORMAL_CYCLE = "normal_cycle"


class HlcChargingAction(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"


class Iso15118StateInfoSessionStatus(enum.StrEnum):
    IDLE = "Idle"
    SESSIONSETUP = "SessionSetup"
    SUPPORTEDAPPPROTOCOL = "SupportedAppProtocol"
    SERVICEDISCOVERY = "ServiceDiscovery"
    SERVICEDETAIL = "ServiceDetail"
    CERTIFICATEINSTALLATION = "CertificateInstallation"
    SERVICESELECTION = "ServiceSelection"
    AUTHORIZATIONSETUP = "AuthorizationSetup"
    AUTHORIZATION = "Authorization"
    CHARGEPARAMETERDISCOVERY = "ChargeParameterDiscovery"
    CABLECHECK = "CableCheck"
    PRECHARGE = "PreCharge"
    POWERDELIVERY = "PowerDelivery"
    CHARGINGLOOP = "ChargingLoop"
    METERINGRECEIPT = "MeteringReceipt"
    SCHEDULEEXCHANGE = "ScheduleExchange"
    WELDINGDETECTION = "WeldingDetection"
    SESSIONSTOP = "SessionStop"


class Iso15118StateInfoSelectedPaymentOption(enum.StrEnum):
    EIM = "EIM"
    PNC = "PNC"


class Iso15118StateInfoProtocol(enum.StrEnum):
    ISO_15118_2 = "ISO_15118_2"
    ISO_15118_20_AC = "ISO_15118_20_AC"
    ISO_15118_20_DC = "ISO_15118_20_DC"
    ISO_15118_20_WPT = "ISO_15118_20_WPT"
    ISO_15118_20_ACDP = "ISO_15118_20_ACDP"
    DIN_SPEC_70121 = "DIN_SPEC_70121"
    UNKNOWN = "UNKNOWN"


class Iso15118StateInfoStopAction(enum.StrEnum):
    PAUSE = "Pause"
    TERMINATE = "Terminate"
    SERVICERENEGOTIATION = "ServiceRenegotiation"
    ERROR = "Error"


class TransactionState(enum.StrEnum):
    STARTED = "started"
    IN_PROGRESS = "in_progress"
    ENDED = "ended"


class CostUpdatedCustomData(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """``CostUpdatedCustomData`` object."""

    vendor_id: str


class CostUpdatedUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cost_updated`` update payload (LISTEN (HMI)). Running total cost of a session to show to the driver."""

    NAME: ClassVar[str] = "cost_updated"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    # in the given currency
    total_cost: float
    evse_id: str
    # ISO 4217 code
    currency: str
    custom_data: CostUpdatedCustomData | UnsetType = UNSET


class DisplayAndPersonalMsgUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``display_and_personal_msg`` update payload (LISTEN (HMI)). Text (and optional QR code, cost, priority, validity window) to show on the station display."""

    NAME: ClassVar[str] = "display_and_personal_msg"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    display_msg_trigger_reason: DisplayAndPersonalMsgDisplayMsgTriggerReason
    # text to display (max 512 chars)
    content: Annotated[str, Meta(max_length=512)]
    # station state during which the message is to be shown
    message_state: DisplayAndPersonalMsgMessageState | UnsetType = UNSET
    total_cost: float | UnsetType = UNSET
    # RFC 5646 language tag
    language: str | UnsetType = UNSET
    priority: DisplayAndPersonalMsgPriority | UnsetType = UNSET
    evse_id: str | UnsetType = UNSET
    # ISO 4217 code
    currency: str | UnsetType = UNSET
    qr_code_text: str | UnsetType = UNSET
    start_date_time: DateTime | UnsetType = UNSET
    end_date_time: DateTime | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.date_times(self, "start_date_time", "end_date_time")


class DisplayParamsUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``display_params`` update payload (LISTEN (HMI)). EV information for the station display: SoC values, remaining times, battery capacity, inlet temperature flag."""

    NAME: ClassVar[str] = "display_params"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    # [%]
    present_soc: float | UnsetType = UNSET
    charging_complete: bool | UnsetType = UNSET
    # [%]
    min_soc: float | UnsetType = UNSET
    # [%]
    target_soc: float | UnsetType = UNSET
    # [%]
    max_soc: float | UnsetType = UNSET
    # [s]
    remaining_time_to_min_soc: float | UnsetType = UNSET
    # [s]
    remaining_time_to_target_soc: float | UnsetType = UNSET
    # [s]
    remaining_time_to_max_soc: float | UnsetType = UNSET
    # [Wh]
    battery_energy_capacity: float | UnsetType = UNSET
    inlet_hot: bool | UnsetType = UNSET


class HlcChargingUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``hlc_charging`` update payload (LISTEN). Tells the CS that a high-level-communication session is (status=true) or is not (false) in charge of the EVSE; since docs v3.11.0 optionally flags pause/resume."""

    NAME: ClassVar[str] = "hlc_charging"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    # true: ISO 15118/DIN HLC session active on this EVSE; false: not (basic charging / ended)
    status: bool
    # added in docs v3.11.0 (not in mqtt_api 3.10.0): pause or resume of the HLC session
    action: HlcChargingAction | UnsetType = UNSET


class Iso15118StateInfoInfo(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """``Iso15118StateInfoInfo`` object."""

    session_id: str | UnsetType = UNSET
    evcc_id: str | UnsetType = UNSET
    evcc_mac: str | UnsetType = UNSET
    selected_payment_option: Iso15118StateInfoSelectedPaymentOption | UnsetType = UNSET
    protocol: Iso15118StateInfoProtocol | UnsetType = UNSET
    stop_action: Iso15118StateInfoStopAction | UnsetType = UNSET


class Iso15118StateInfoUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``iso15118_state_info`` update payload (LISTEN). Current V2G session state plus optional info (session id, EVCC id/MAC, payment option, protocol, stop action)."""

    NAME: ClassVar[str] = "iso15118_state_info"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    session_status: Iso15118StateInfoSessionStatus
    info: Iso15118StateInfoInfo | UnsetType = UNSET


class TransactionStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``transaction_status`` update payload (LISTEN). OCPP transaction id and state (started, in_progress, ended) with the token used."""

    NAME: ClassVar[str] = "transaction_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    transaction_id: str
    evse_id: str | UnsetType = UNSET
    status: TransactionState
    id_token: str | UnsetType = UNSET
    token_type: TokenType | UnsetType = UNSET
