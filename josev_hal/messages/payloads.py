"""Payload Structs: the ``data`` of every (name, type) message on the CS topics.

Written from the Josev API contract (``MESSAGES.md`` section 4 and the per-message JSON Schemas):
field names, required/optional, enums, numeric ranges, patterns and nesting follow the contract.
Optional fields default to ``UNSET`` and are omitted on the wire (never ``null``). Objects that the
contract closes (``additionalProperties: false``) forbid unknown keys; open ones ignore them.
Cross-field rules (anyOf / if-then) live in ``__post_init__`` (see ``rules.py``).
"""

# ruff: noqa: E501  (long patterns and field comments)
from __future__ import annotations

import enum
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from josev_hal.messages import rules
from josev_hal.messages.base import MessageType, Payload
from josev_hal.messages.patterns import DT_SHAPES, DT_TABLE, DateTime, TransferUrl, WsUrl


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


class BootStatusStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    PENDING = "pending"
    REJECTED = "rejected"


class CableCheckAction(enum.StrEnum):
    START = "start"
    STATUS = "status"


class CableCheckStatus(enum.StrEnum):
    ONGOING = "ongoing"
    FINISHED = "finished"


class IsolationLevel(enum.StrEnum):
    """An insulation measurement's verdict (``cable_check`` response, ``cs_status_and_limits`` DC)."""

    VALID = "valid"
    INVALID = "invalid"
    FAULT = "fault"
    WARNING = "warning"
    NO_IMD = "no_imd"


class CableConnectionStatus(enum.StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    UNKNOWN = "unknown"


class CableLockStatus(enum.StrEnum):
    """A connector's cable lock (``cable_info`` update, ``cs_connector`` response)."""

    LOCKED = "locked"
    UNLOCKED = "unlocked"
    UNKNOWN = "unknown"
    ERROR = "error"


class CertificateType(enum.StrEnum):
    CHARGING_STATION_CERTIFICATE = "charging_station_certificate"
    V2G_CERTIFICATE = "v2g_certificate"
    V2G20_CERTIFICATE = "v2g20_certificate"


class CertificateInstallationStatusStatus(enum.StrEnum):
    INSTALLED = "installed"
    DELETED = "deleted"
    FAILED_INSTALLATION = "failed_installation"


class OperationalStatus(enum.StrEnum):
    OPERATIVE = "operative"
    INOPERATIVE = "inoperative"


class AcceptedRejected(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ConnectorAndChargingChargingStatus(enum.StrEnum):
    EV_CONNECTED = "ev_connected"
    SUSPENDED_EV = "suspended_ev"
    SUSPENDED_EVSE = "suspended_evse"
    CHARGING = "charging"
    IDLE = "idle"


class ConnectorAndChargingConnectorStatus(enum.StrEnum):
    AVAILABLE = "available"
    OCCUPIED = "occupied"
    UNAVAILABLE = "unavailable"
    RESERVED = "reserved"
    FAULTED = "faulted"


class CpPwmStatus(enum.StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    ERROR = "error"


class CpState(enum.StrEnum):
    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"
    D1 = "D1"
    D2 = "D2"
    E = "E"
    F = "F"


class ConnectorAction(enum.StrEnum):
    LOCK = "lock"
    UNLOCK = "unlock"
    STATUS = "status"


class ContactorStatus(enum.StrEnum):
    CLOSED = "closed"
    OPENED = "opened"
    ERROR = "error"


class Iso15118ConnectorType(enum.StrEnum):
    AC_SINGLE_PHASE_CORE = "AC_single_phase_core"
    AC_THREE_PHASE_CORE = "AC_three_phase_core"
    DC_CORE = "DC_core"
    DC_EXTENDED = "DC_extended"
    DC_COMBO_CORE = "DC_combo_core"
    DC_UNIQUE = "DC_unique"


class ControlMode(enum.StrEnum):
    SCHEDULED = "scheduled"
    DYNAMIC = "dynamic"


class BptChannel(enum.StrEnum):
    UNIFIED = "unified"
    SEPARATED = "separated"


class GeneratorMode(enum.StrEnum):
    GRID_FOLLOWING = "grid_following"
    GRID_FORMING = "grid_forming"


class GridIslandDetectionMode(enum.StrEnum):
    ACTIVE = "active"
    PASSIVE = "passive"


class EvseStatusCode(enum.StrEnum):
    EVSE_NOT_READY = "evse_not_ready"
    EVSE_READY = "evse_ready"
    EVSE_SHUTDOWN = "evse_shutdown"
    EVSE_UTILITY_INTERRUPT_EVENT = "evse_utility_interrupt_event"
    EVSE_ISOLATION_MONITORING_ACTIVE = "evse_isolation_monitoring_active"
    EVSE_EMERGENCY_SHUTDOWN = "evse_emergency_shutdown"
    EVSE_MALFUNCTION = "evse_malfunction"


class DataTransferStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN_MESSAGE_ID = "unknown_message_id"
    UNKNOWN_VENDOR_ID = "unknown_vendor_id"


class OcppVersion(enum.StrEnum):
    OCPP1_6 = "ocpp1.6"
    OCPP2_0_1 = "ocpp2.0.1"
    OCPP2_1 = "ocpp2.1"


class DeviceModelConnectorType(enum.StrEnum):
    CCCS1 = "cCCS1"
    CCCS2 = "cCCS2"
    CG105 = "cG105"
    CTESLA = "cTesla"
    CTYPE1 = "cType1"
    CTYPE2 = "cType2"
    S309_1P_16A = "s309-1P-16A"
    S309_1P_32A = "s309-1P-32A"
    S309_3P_16A = "s309-3P-16A"
    S309_3P_32A = "s309-3P-32A"
    SBS1361 = "sBS1361"
    SCEE_7_7 = "sCEE-7-7"
    STYPE2 = "sType2"
    STYPE3 = "sType3"
    OTHER1PHMAX16A = "Other1PhMax16A"
    OTHER1PHOVER16A = "Other1PhOver16A"
    OTHER3PH = "Other3Ph"
    PAN = "Pan"
    WINDUCTIVE = "wInductive"
    WRESONANT = "wResonant"
    UNDETERMINED = "Undetermined"
    UNKNOWN = "Unknown"


class Mutability(enum.StrEnum):
    READONLY = "ReadOnly"
    READWRITE = "ReadWrite"
    WRITEONLY = "WriteOnly"


class DeviceModelDataType(enum.StrEnum):
    STRING = "string"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATETIME = "dateTime"
    BOOLEAN = "boolean"
    OPTIONLIST = "OptionList"
    SEQUENCELIST = "SequenceList"
    MEMBERLIST = "MemberList"


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


class GenerateCsrAlgorithm(enum.StrEnum):
    ECDSA_SHA256 = "ECDSA_SHA256"
    ECDSA_SHA512 = "ECDSA_SHA512"
    RSA_SHA256 = "RSA_SHA256"
    RSA_SHA384 = "RSA_SHA384"


class HardwareFaultName(enum.StrEnum):
    OVERCURRENT_FAULT = "overcurrent_fault"
    EMERGENCY_STOP = "emergency_stop"
    GROUND_FAULT = "ground_fault"
    ENERGY_LIMIT_REACHED = "energy_limit_reached"
    POWER_LOSS = "power_loss"
    POWER_QUALITY = "power_quality"
    REBOOT = "reboot"
    OTHER = "other"


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


class LogsStatusStatus(enum.StrEnum):
    ACCEPTED_CANCELED = "accepted_canceled"
    BAD_MESSAGE = "bad_message"
    IDLE = "idle"
    NOT_SUPPORTED_OPERATION = "not_supported_operation"
    PERMISSION_DENIED = "permission_denied"
    UPLOAD_FAILURE = "upload_failure"
    UPLOADED = "uploaded"
    UPLOADING = "uploading"


class MeterValuesMeasurand(enum.StrEnum):
    CURRENT_EXPORT = "Current.Export"
    CURRENT_IMPORT = "Current.Import"
    CURRENT_OFFERED = "Current.Offered"
    ENERGY_ACTIVE_EXPORT_REGISTER = "Energy.Active.Export.Register"
    ENERGY_ACTIVE_IMPORT_REGISTER = "Energy.Active.Import.Register"
    ENERGY_REACTIVE_EXPORT_REGISTER = "Energy.Reactive.Export.Register"
    ENERGY_REACTIVE_IMPORT_REGISTER = "Energy.Reactive.Import.Register"
    ENERGY_ACTIVE_EXPORT_INTERVAL = "Energy.Active.Export.Interval"
    ENERGY_ACTIVE_IMPORT_INTERVAL = "Energy.Active.Import.Interval"
    ENERGY_ACTIVE_NET = "Energy.Active.Net"
    ENERGY_REACTIVE_EXPORT_INTERVAL = "Energy.Reactive.Export.Interval"
    ENERGY_REACTIVE_IMPORT_INTERVAL = "Energy.Reactive.Import.Interval"
    ENERGY_REACTIVE_NET = "Energy.Reactive.Net"
    ENERGY_APPARENT_NET = "Energy.Apparent.Net"
    ENERGY_APPARENT_IMPORT = "Energy.Apparent.Import"
    ENERGY_APPARENT_EXPORT = "Energy.Apparent.Export"
    FREQUENCY = "Frequency"
    POWER_ACTIVE_EXPORT = "Power.Active.Export"
    POWER_ACTIVE_IMPORT = "Power.Active.Import"
    POWER_FACTOR = "Power.Factor"
    POWER_OFFERED = "Power.Offered"
    POWER_REACTIVE_EXPORT = "Power.Reactive.Export"
    POWER_REACTIVE_IMPORT = "Power.Reactive.Import"
    VOLTAGE = "Voltage"


class OcppMessageMessageName(enum.StrEnum):
    GETVARIABLES = "GetVariables"
    GETINSTALLEDCERTIFICATEIDS = "GetInstalledCertificateIds"
    SETVARIABLES = "SetVariables"
    INSTALLCERTIFICATE = "InstallCertificate"
    DELETECERTIFICATE = "DeleteCertificate"
    SETNETWORKPROFILE = "SetNetworkProfile"
    CERTIFICATESIGNED = "CertificateSigned"
    SIGNCERTIFICATE = "SignCertificate"
    NOTIFYEVCHARGINGNEEDS = "NotifyEVChargingNeeds"
    UPDATEDYNAMICSCHEDULE = "UpdateDynamicSchedule"
    SETCHARGINGPROFILE = "SetChargingProfile"


class OcppMessageMessageType(enum.StrEnum):
    CALLRESULT = "CallResult"
    CALLERROR = "CallError"


class ParkingBayStatus(enum.StrEnum):
    EV_DEPARTED = "ev_departed"
    EV_DETECTED = "ev_detected"


class PrivateKeyPathStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    FAILED_NOT_FOUND = "failed_not_found"


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


class ProcessAuthorizedTokenStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    DISCARDED = "discarded"


class SdpSecurity(enum.StrEnum):
    TLS = "tls"
    NO_TLS = "no_tls"


class JosevService(enum.StrEnum):
    SLAC = "slac"
    ISO15118 = "iso15118"
    OCPP = "ocpp"
    GRIDCODE = "gridcode"
    SMART_CHARGING = "smart_charging"


class ServiceRunStatus(enum.StrEnum):
    READY = "ready"
    STARTING = "starting"
    STOPPING = "stopping"
    ERROR = "error"
    BUSY = "busy"


class ServiceStatusService(enum.StrEnum):
    SLAC = "slac"
    ISO15118 = "iso15118"
    OCPP = "ocpp"
    SMART_CHARGING = "smart_charging"


class SetVariableValidateAttributeType(enum.StrEnum):
    MINSET = "MinSet"
    MAXSET = "MaxSet"
    ACTUAL = "Actual"
    TARGET = "Target"


class SlacLinkStatusStatus(enum.StrEnum):
    CONNECTED = "connected"
    UNKNOWN = "unknown"


class SlacNetworkInfoStationRole(enum.StrEnum):
    STA = "STA"
    PROXYCOORDINATOR = "ProxyCoordinator"
    CCO = "CCo"
    UNKNOWN = "Unknown"


class SlacNetworkInfoAccessNetwork(enum.StrEnum):
    INHOME = "InHome"
    ACCESS = "Access"
    UNKNOWN = "Unknown"


class SlacStatus(enum.StrEnum):
    MATCHING = "matching"
    FAILED = "failed"
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    BASIC_CHARGING = "basic_charging"


class TransactionState(enum.StrEnum):
    STARTED = "started"
    IN_PROGRESS = "in_progress"
    ENDED = "ended"


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


class WebsocketState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


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


class BootStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``boot_status`` update payload (LISTEN). Forwards the registration status returned by the CSMS in BootNotificationResponse."""

    NAME: ClassVar[str] = "boot_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    status: BootStatusStatus


class CableCheckRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cable_check`` request payload (MUST ANSWER (DC)). DC only: start the insulation test, then poll its status periodically until done."""

    NAME: ClassVar[str] = "cable_check"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str
    cable_check_action: CableCheckAction


class CableCheckResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cable_check`` response payload (MUST PUBLISH (reply, same id)). Cable check progress (ongoing/finished) and, once finished, the isolation level."""

    NAME: ClassVar[str] = "cable_check"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str
    cable_check_status: CableCheckStatus
    # required in practice once cable_check_status=finished
    isolation_level: IsolationLevel | UnsetType = UNSET


class CableInfoUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cable_info`` update payload (SHOULD PUBLISH (detachable cable)). State of a non-permanently attached cable: plugged state on the station side, rated cable current, lock state."""

    NAME: ClassVar[str] = "cable_info"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    connection_status: CableConnectionStatus | UnsetType = UNSET
    # [A]
    rated_cable_current: int | UnsetType = UNSET
    lock: CableLockStatus | UnsetType = UNSET


class CertificateInstallationStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``certificate_installation_status`` update payload (LISTEN). A station-owned certificate was installed, deleted or failed to install, so the OEM can keep/discard the matching private key."""

    NAME: ClassVar[str] = "certificate_installation_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    certificate_type: CertificateType
    private_key_path: str | UnsetType = UNSET
    status: CertificateInstallationStatusStatus


class ChangeAvailabilityRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``change_availability`` request payload (MUST ANSWER). Set the station, an EVSE or a connector operative/inoperative."""

    NAME: ClassVar[str] = "change_availability"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    operational_status: OperationalStatus
    evse_id: str | UnsetType = UNSET
    connector_id: int | UnsetType = UNSET


class ChangeAvailabilityResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``change_availability`` response payload (MUST PUBLISH (reply, same id)). accepted or rejected."""

    NAME: ClassVar[str] = "change_availability"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: AcceptedRejected


class ChangeAvailabilityUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``change_availability`` update payload (MAY PUBLISH (OEM-initiated)). OEM-initiated availability change of the station (no evse_id), an EVSE (no connector_id) or a connector; inoperative stops an ongoing transaction."""

    NAME: ClassVar[str] = "change_availability"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    operational_status: OperationalStatus
    evse_id: str | UnsetType = UNSET
    connector_id: float | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.requires_if_present(self, "connector_id", "evse_id")


class ClockSyncUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``clock_sync`` update payload (LISTEN). Current time obtained from the CSMS so the station can set its clock."""

    NAME: ClassVar[str] = "clock_sync"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    current_time: DateTime

    def __post_init__(self) -> None:
        rules.date_times(self, "current_time")


class ConnectorAndChargingUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``connector_and_charging`` update payload (DEPRECATED). Legacy connector/charging status report; docs announce its removal in favour of change_availability update."""

    NAME: ClassVar[str] = "connector_and_charging"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    connector_id: float
    charging_status: ConnectorAndChargingChargingStatus | UnsetType = UNSET
    connector_status: ConnectorAndChargingConnectorStatus | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.at_least_one(self, "charging_status", "connector_status")


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


class CpPwmRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``cp_pwm`` request payload (MUST ANSWER). Josev commands the CP PWM generator: 5 % (HLC), a basic-charging current, or forced state E/F."""

    NAME: ClassVar[str] = "cp_pwm"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str
    # true: 5 % duty cycle (digital communication); false: basic charging
    hlc: bool
    # basic-charging current [A], 1 decimal; 6..80 A maps to duty cycle, 0 A = 100 % (PWM off); must be
    # absent when hlc=true
    current: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # true: force state E (0 V); overrides other fields except fault_state
    error_state: bool
    # true: force state F (-12 V); overrides all other fields
    fault_state: bool


class CpPwmResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cp_pwm`` response payload (MUST PUBLISH (reply, same id)). Outcome of the PWM command: valid, invalid or error (+ optional info)."""

    NAME: ClassVar[str] = "cp_pwm"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str
    status: CpPwmStatus
    info: str | UnsetType = UNSET


class CpStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cp_status`` update payload (MUST PUBLISH (on every CP change)). Control-pilot state of a connector (A1..F) with optional measured CP voltages and duty cycle. SLAC starts matching on B/C/D and stops on A/E/F."""

    NAME: ClassVar[str] = "cp_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    # ISO 15118 EVSE ID string (e.g. DE*SEV*E123456789); identifies the EVSE across all messages
    evse_id: str
    # connector id (integer)
    connector_id: int
    # IEC 61851-1 state; digit 1 = no PWM (EVSE not ready), 2 = PWM on
    state: CpState
    # measured positive CP plateau [V]
    max_voltage: float | UnsetType = UNSET
    # measured negative CP plateau [V]
    min_voltage: float | UnsetType = UNSET
    # measured/generated PWM duty cycle [%]
    duty_cycle: Annotated[float, Meta(ge=0, le=100)] | UnsetType = UNSET


class CsConnectorRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``cs_connector`` request payload (MUST ANSWER (if a lock exists)). Lock, unlock, or report the lock state of a connector."""

    NAME: ClassVar[str] = "cs_connector"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str
    connector_id: float
    action: ConnectorAction


class CsConnectorResponse(Payload, kw_only=True, forbid_unknown_fields=False):
    """``cs_connector`` response payload (MUST PUBLISH (reply, same id)). Resulting lock state: locked, unlocked, error, unknown (+ optional info)."""

    NAME: ClassVar[str] = "cs_connector"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str
    connector_id: float
    status: CableLockStatus
    info: str | UnsetType = UNSET


class CsContactorStatusRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cs_contactor_status`` request payload (MUST ANSWER). Josev asks for the main contactor state of an EVSE (sent after PowerDeliveryReq; for DC also during CableCheck)."""

    NAME: ClassVar[str] = "cs_contactor_status"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str


class _CsContactorStatusFields(Payload, kw_only=True, forbid_unknown_fields=True):
    """Fields that every ``cs_contactor_status`` payload below shares (same shape in the contract)."""

    evse_id: str
    status: ContactorStatus
    info: str | UnsetType = UNSET


class CsContactorStatusResponse(_CsContactorStatusFields, kw_only=True, forbid_unknown_fields=True):
    """``cs_contactor_status`` response payload (MUST PUBLISH (reply, same id)). Contactor state: closed, opened or error (+ optional info)."""

    NAME: ClassVar[str] = "cs_contactor_status"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE


class CsContactorStatusUpdate(_CsContactorStatusFields, kw_only=True, forbid_unknown_fields=True):
    """``cs_contactor_status`` update payload (MUST PUBLISH (on every change)). Unsolicited contactor state change."""

    NAME: ClassVar[str] = "cs_contactor_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE


class CsParametersRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``cs_parameters`` request payload (MUST ANSWER). Josev asks for the static station description (EVSEs, connectors, energy services, PLC interface). Sent after every Josev (service) start; several services may ask independently."""

    NAME: ClassVar[str] = "cs_parameters"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST


class CsParametersAc(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """``CsParametersAc`` object."""

    connector_type: Iso15118ConnectorType
    control_mode: ControlMode | UnsetType = UNSET
    # [V]
    nominal_voltage: int


class CsParametersDc(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """``CsParametersDc`` object."""

    connector_type: Iso15118ConnectorType
    control_mode: ControlMode | UnsetType = UNSET


class CsParametersDcBpt(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """``CsParametersDcBpt`` object."""

    connector_type: Iso15118ConnectorType
    control_mode: ControlMode | UnsetType = UNSET
    bpt_channel: BptChannel | UnsetType = UNSET
    generator_mode: GeneratorMode | UnsetType = UNSET
    grid_island_detection_mode: GridIslandDetectionMode | UnsetType = UNSET


class CsParametersAcBpt(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """``CsParametersAcBpt`` object."""

    connector_type: Iso15118ConnectorType
    # [V]
    nominal_voltage: int
    control_mode: ControlMode | UnsetType = UNSET
    bpt_channel: BptChannel | UnsetType = UNSET
    generator_mode: GeneratorMode | UnsetType = UNSET
    grid_island_detection_mode: GridIslandDetectionMode | UnsetType = UNSET


class CsParametersServices(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """energy services offered on this connector; at least ac or dc"""

    ac: CsParametersAc | UnsetType = UNSET
    dc: CsParametersDc | UnsetType = UNSET
    dc_bpt: CsParametersDcBpt | UnsetType = UNSET
    ac_bpt: CsParametersAcBpt | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.at_least_one(self, "ac", "dc")


class CsParametersConnector(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """``CsParametersConnector`` object."""

    # connector id (per EVSE, starting at 1)
    id: int
    # energy services offered on this connector; at least ac or dc
    services: CsParametersServices


class CsParametersParameter(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """``CsParametersParameter`` object."""

    # ISO 15118 EVSE ID string (e.g. DE*SEV*E123456789); identifies the EVSE across all messages
    evse_id: str
    # whether External Identification Means (RFID, app, ...) are offered
    supports_eim: bool
    # Linux network interface of the PLC modem of this EVSE (e.g. eth1); used by SLAC and the V2G server
    network_interface: str
    connectors: list[CsParametersConnector]


class CsParametersResponse(Payload, kw_only=True, forbid_unknown_fields=False):
    """``cs_parameters`` response payload (MUST PUBLISH (reply, same id)). Static station description: sw/hw version, number of EVSEs, per-EVSE ISO 15118 EVSE ID, EIM support, PLC network interface, per-connector energy services (ac, ac_bpt, dc, dc_bpt)."""

    NAME: ClassVar[str] = "cs_parameters"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    # station software version string
    sw_version: str
    # station hardware version string
    hw_version: str
    # must equal the length of parameters
    number_of_evses: int
    # one entry per EVSE
    parameters: list[CsParametersParameter]


class CsStatusAndLimitsRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``cs_status_and_limits`` request payload (MUST ANSWER). Josev asks for the current EVSE status code and electrical limits. Sent once at every Josev (re)start."""

    NAME: ClassVar[str] = "cs_status_and_limits"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST


class PerPhase(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """One value per phase (L1, L2, L3); the field that holds it says which quantity and unit."""

    l1: float
    l2: float
    l3: float


class CsStatusAndLimitsAc(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """AC limits (present for AC-capable EVSEs)"""

    # maximum current per phase [A]
    max_current: PerPhase
    # nominal line-to-neutral voltage [V]
    nominal_voltage: float
    # true when the residual current device has tripped
    rcd_error: bool


class CsStatusAndLimitsAcBpt(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """AC bidirectional (discharge) limits; provide together with ac when BPT is supported"""

    # maximum discharge power per phase [W]
    evse_max_discharge_power: PerPhase
    # minimum discharge power per phase [W]
    evse_min_discharge_power: PerPhase


class CsStatusAndLimitsDc(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """DC limits and present values (present for DC-capable EVSEs)"""

    # measured output voltage [V]
    present_voltage: float
    # measured output current [A]
    present_current: float
    # maximum output current [A]
    max_current: float
    # minimum output current [A]
    min_current: float
    # maximum output voltage [V]
    max_voltage: float
    # minimum output voltage [V]
    min_voltage: float
    # maximum output power [W]
    max_power: float
    # current regulation tolerance [A]
    current_reg_tolerance: float | UnsetType = UNSET
    # peak-to-peak current ripple [A]
    peak_current_ripple: float
    # energy the EVSE can still deliver [Wh per ISO 15118-2; docs comment says W]
    energy_to_be_delivered: float | UnsetType = UNSET
    # result of the last insulation measurement
    isolation_status: IsolationLevel | UnsetType = UNSET
    # power ramp limitation (ISO 15118-20) [W/s, inferred]
    evse_power_ramp_limit: float | UnsetType = UNSET


class CsStatusAndLimitsDcBpt(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """DC bidirectional (discharge) limits; provide together with dc when BPT is supported"""

    # [W]
    evse_max_discharge_power: float
    # [W]
    evse_min_discharge_power: float
    # [A]
    evse_min_discharge_current: float
    # [A]
    evse_max_discharge_current: float


class _CsStatusAndLimitsEvseFields(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Fields of a ``cs_status_and_limits`` EVSE entry (the response and the update differ only in
    which limits tables must be present)."""

    # ISO 15118 EVSE ID string (e.g. DE*SEV*E123456789); identifies the EVSE across all messages
    evse_id: str
    # ISO 15118 EVSE status code (snake_case of EVSENotReady, EVSE_Ready, ...)
    status_code: EvseStatusCode
    # AC limits (present for AC-capable EVSEs)
    ac: CsStatusAndLimitsAc | UnsetType = UNSET
    # AC bidirectional (discharge) limits; provide together with ac when BPT is supported
    ac_bpt: CsStatusAndLimitsAcBpt | UnsetType = UNSET
    # DC limits and present values (present for DC-capable EVSEs)
    dc: CsStatusAndLimitsDc | UnsetType = UNSET
    # DC bidirectional (discharge) limits; provide together with dc when BPT is supported
    dc_bpt: CsStatusAndLimitsDcBpt | UnsetType = UNSET


class CsStatusAndLimitsEvse(_CsStatusAndLimitsEvseFields, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``CsStatusAndLimitsEvse`` object."""

    def __post_init__(self) -> None:
        rules.at_least_one(self, "ac", "ac_bpt", "dc", "dc_bpt")


class CsStatusAndLimitsResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cs_status_and_limits`` response payload (MUST PUBLISH (reply, same id)). Per-EVSE status code plus AC limits (per-phase max current, nominal voltage, RCD) and/or DC limits (present V/I, min/max V/I/P, ripple, tolerance, isolation), with BPT discharge limits where supported."""

    NAME: ClassVar[str] = "cs_status_and_limits"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    # one entry per EVSE
    evses: list[CsStatusAndLimitsEvse]


class CsStatusAndLimitsUpdateEvse(
    _CsStatusAndLimitsEvseFields, kw_only=True, forbid_unknown_fields=True, gc=False
):
    """``CsStatusAndLimitsUpdateEvse`` object."""

    def __post_init__(self) -> None:
        rules.at_least_one(self, "ac", "dc")


class CsStatusAndLimitsUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cs_status_and_limits`` update payload (MUST PUBLISH (on every change)). Same payload shape as the response; pushed by the CS whenever status or limits change (e.g. derating, fault, DC present voltage/current)."""

    NAME: ClassVar[str] = "cs_status_and_limits"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    # one entry per EVSE
    evses: list[CsStatusAndLimitsUpdateEvse]


class DataTransferRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``data_transfer`` request payload (MUST ANSWER if received; MAY SEND). Vendor-specific DataTransfer relayed unchanged between CS and CSMS."""

    NAME: ClassVar[str] = "data_transfer"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    vendor_id: str
    message_id: str | UnsetType = UNSET
    data: Any | UnsetType = UNSET


class DataTransferResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``data_transfer`` response payload (MUST PUBLISH when answering). DataTransfer status and optional data."""

    NAME: ClassVar[str] = "data_transfer"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: DataTransferStatus
    data: Any | UnsetType = UNSET


class DeviceModelRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``device_model`` request payload (MUST ANSWER). OCPP asks for the initial device model and CSMS connection settings. Sent at every OCPP service start."""

    NAME: ClassVar[str] = "device_model"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST


class DeviceModelConnector(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``DeviceModelConnector`` object."""

    # OCPP connectorId
    id: int
    # OCPP 2.0.1 ConnectorEnumType value
    connector_type: DeviceModelConnectorType


class DeviceModelEvse(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``DeviceModelEvse`` object."""

    # OCPP evseId (integer, starting at 1)
    ocpp_id: int
    # ISO 15118 EVSE ID string (e.g. DE*SEV*E123456789); identifies the EVSE across all messages
    iso15118_id: str
    # rated power [kW]
    power_kw: float
    # number of phases
    supply_phases: int
    connectors: list[DeviceModelConnector]


class _DeviceModelVariableFields(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Fields of a device-model variable in ``device_model`` and ``device_model_update``."""

    name: str
    instance: str | UnsetType = UNSET
    value: str
    unit: str | UnsetType = UNSET
    mutability: Mutability | UnsetType = UNSET
    constant: bool | UnsetType = UNSET


class DeviceModelVariable(_DeviceModelVariableFields, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``DeviceModelVariable`` object (``device_model`` also describes the value's type)."""

    data_type: DeviceModelDataType | UnsetType = UNSET
    values_list: str | UnsetType = UNSET


class _DeviceModelComponentFields(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """Fields of a device-model component in ``device_model`` and ``device_model_update``."""

    name: str
    instance: str | UnsetType = UNSET
    # OCPP evseId (integer) - not the ISO 15118 EVSE ID
    evse_id: int | UnsetType = UNSET
    connector_id: int | UnsetType = UNSET


class DeviceModelComponent(_DeviceModelComponentFields, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``DeviceModelComponent`` object."""

    variables: list[DeviceModelVariable] | UnsetType = UNSET


class DeviceModelResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``device_model`` response payload (MUST PUBLISH (reply, same id)). Model/vendor/serial/firmware, OCPP identity + basic-auth password, CSMS URL + security profile, EVSE/connector inventory (OCPP ids, ISO 15118 EVSE ids, power, phases, connector types) and optional custom components/variables."""

    NAME: ClassVar[str] = "device_model"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    model: str
    vendor: str
    ocpp_version: OcppVersion | UnsetType = UNSET
    # ws:// for security profile 1, wss:// for profiles 2 and 3
    ocpp_csms_url: WsUrl
    # OCPP security profile 1..3
    security_profile: Annotated[int, Meta(ge=1, le=3)]
    # OCPP charging-station identity (websocket path / basic-auth user)
    identity: str
    basic_auth_password: str
    serial_number: str
    firmware_version: str
    sim_iccid: str | UnsetType = UNSET
    sim_imsi: str | UnsetType = UNSET
    # [s]
    default_message_timeout: Annotated[int, Meta(ge=0)] | UnsetType = UNSET
    evses: list[DeviceModelEvse]
    components: list[DeviceModelComponent] | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.url_scheme_matches_security_profile(self, "ocpp_csms_url")


class DeviceModelResetRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``device_model_reset`` request payload (MAY SEND). Asks Josev to wipe the device model it has stored (so it is rebuilt from a fresh device_model exchange)."""

    NAME: ClassVar[str] = "device_model_reset"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST


class DeviceModelResetResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``device_model_reset`` response payload (LISTEN). Result of the device model reset (accepted/rejected + optional reason)."""

    NAME: ClassVar[str] = "device_model_reset"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: AcceptedRejected
    rejected_reason: str | UnsetType = UNSET


class DeviceModelUpdateVariable(
    _DeviceModelVariableFields, kw_only=True, forbid_unknown_fields=True, gc=False
):
    """``DeviceModelUpdateVariable`` object."""


class DeviceModelUpdateComponent(
    _DeviceModelComponentFields, kw_only=True, forbid_unknown_fields=True, gc=False
):
    """``DeviceModelUpdateComponent`` object."""

    variables: list[DeviceModelUpdateVariable] | UnsetType = UNSET


class DeviceModelUpdateUpdate(Payload, kw_only=True, forbid_unknown_fields=False):
    """``device_model_update`` update payload (MAY PUBLISH / LISTEN). Incremental device-model change (firmware version, SIM data, components/variables) sent by the CS to OCPP, or by OCPP to the CS when the CSMS changed variables."""

    NAME: ClassVar[str] = "device_model_update"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    firmware_version: str | UnsetType = UNSET
    sim_iccid: str | UnsetType = UNSET
    sim_imsi: str | UnsetType = UNSET
    components: list[DeviceModelUpdateComponent] | UnsetType = UNSET


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


class EvRatedLimitsAcRatedLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``EvRatedLimitsAcRatedLimits`` object."""

    # [Wh]
    target_energy_request: float | UnsetType = UNSET
    # [V]
    max_voltage: float | UnsetType = UNSET
    # [A]
    max_current: float | UnsetType = UNSET
    # [A]
    min_current: float | UnsetType = UNSET
    # per phase [W]
    max_charge_power: PerPhase | UnsetType = UNSET
    # per phase [W]
    min_charge_power: PerPhase | UnsetType = UNSET
    # per phase [W]
    max_discharge_power: PerPhase | UnsetType = UNSET
    # per phase [W]
    min_discharge_power: PerPhase | UnsetType = UNSET
    # [Wh]
    max_v2x_energy_request: float | UnsetType = UNSET
    # [Wh]
    min_v2x_energy_request: float | UnsetType = UNSET


class EvRatedLimitsDcRatedLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``EvRatedLimitsDcRatedLimits`` object."""

    # [Wh]
    target_energy_request: float | UnsetType = UNSET
    # [V]
    max_voltage: float | UnsetType = UNSET
    # [A]
    max_charge_current: float | UnsetType = UNSET
    # [W]
    max_charge_power: float | UnsetType = UNSET
    # [Wh]
    max_energy_request: float | UnsetType = UNSET
    # [%]
    full_soc: float | UnsetType = UNSET
    # [%]
    bulk_soc: float | UnsetType = UNSET
    # [A]
    min_charge_current: float | UnsetType = UNSET
    # [W]
    min_charge_power: float | UnsetType = UNSET
    # [V]
    min_voltage: float | UnsetType = UNSET
    # [Wh]
    min_energy_request: float | UnsetType = UNSET
    # [%]
    target_soc: float | UnsetType = UNSET
    # [W]
    max_discharge_power: float | UnsetType = UNSET
    # [W]
    min_discharge_power: float | UnsetType = UNSET
    # [A]
    max_discharge_current: float | UnsetType = UNSET
    # [A]
    min_discharge_current: float | UnsetType = UNSET
    # [Wh]
    max_v2x_energy_request: float | UnsetType = UNSET
    # [Wh]
    min_v2x_energy_request: float | UnsetType = UNSET


class EvRatedLimitsUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``ev_rated_limits`` update payload (LISTEN). EV-declared limits/needs for AC or DC (voltages, currents, powers, energy requests, SoC targets, departure time)."""

    NAME: ClassVar[str] = "ev_rated_limits"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    departure_time: DateTime | UnsetType = UNSET
    ac_rated_limits: EvRatedLimitsAcRatedLimits | UnsetType = UNSET
    dc_rated_limits: EvRatedLimitsDcRatedLimits | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.at_least_one(self, "ac_rated_limits", "dc_rated_limits")
        rules.date_times(self, "departure_time")


class FirmwareStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``firmware_status`` update payload (MUST PUBLISH (after accepting update_firmware)). Progress of the firmware update identified by request_id."""

    NAME: ClassVar[str] = "firmware_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    request_id: int
    status: FirmwareStatusStatus


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


class HardwareFaultUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``hardware_fault`` update payload (MUST PUBLISH (on fault)). Reports a hardware fault of a component (emergency stop, over-current, ground fault, ...)."""

    NAME: ClassVar[str] = "hardware_fault"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    component_name: str
    fault_name: HardwareFaultName


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


class LogsStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``logs_status`` update payload (MUST PUBLISH (after accepting upload_logs)). Progress of the log upload identified by request_id."""

    NAME: ClassVar[str] = "logs_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    request_id: int
    status: LogsStatusStatus


class MeterValuesRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``meter_values`` request payload (MUST ANSWER). Josev asks for a meter reading of one EVSE (or of the whole station when evse_id is absent) at a given time."""

    NAME: ClassVar[str] = "meter_values"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    # ISO 15118 EVSE ID string (e.g. DE*SEV*E123456789); identifies the EVSE across all messages; absent =
    # whole charging station (OCPP evseId 0)
    evse_id: str | UnsetType = UNSET
    # RFC 3339 date-time of the reading (request: time at which the value should be read)
    timestamp: DateTime

    def __post_init__(self) -> None:
        rules.date_times(self, "timestamp")


class MeterValuesSignedMeterValue(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``MeterValuesSignedMeterValue`` object."""

    measurand: MeterValuesMeasurand | UnsetType = UNSET
    # base64 signed meter data (max 2500 chars)
    signed_meter_data: Annotated[str, Meta(max_length=2500)]
    signing_method: Annotated[str, Meta(max_length=50)]
    encoding_method: Annotated[str, Meta(max_length=50)]
    public_key: Annotated[str, Meta(max_length=2500)]


class _MeterValuesFields(Payload, kw_only=True, forbid_unknown_fields=True):
    """Fields that every ``meter_values`` payload below shares (same shape in the contract)."""

    # ISO 15118 EVSE ID string (e.g. DE*SEV*E123456789); identifies the EVSE across all messages; absent =
    # whole charging station (OCPP evseId 0)
    evse_id: str | UnsetType = UNSET
    # RFC 3339 date-time of the reading (request: time at which the value should be read)
    timestamp: DateTime
    # AC voltage per phase [V]
    voltage: PerPhase
    # AC current per phase [A]
    current: PerPhase
    # power factor, 0..1
    power_factor: Annotated[float, Meta(ge=0, le=1)]
    # DC current [A]
    dc_current: float | UnsetType = UNSET
    # DC voltage [V]
    dc_voltage: float | UnsetType = UNSET
    # grid frequency [Hz]
    frequency: float
    # active energy import register [Wh, inferred from OCPP default unit]
    total_active_energy_imported: float
    # active energy export register [Wh, inferred]
    total_active_energy_exported: float | UnsetType = UNSET
    # reactive energy import register [varh, inferred]
    total_reactive_energy_imported: float
    # reactive energy export register [varh, inferred]
    total_reactive_energy_exported: float | UnsetType = UNSET
    # current offered to the EV [A]
    max_current_offered: float | UnsetType = UNSET
    # power offered to the EV [W]
    max_power_offered: float | UnsetType = UNSET
    # instantaneous active power import [W]
    power_active_import: float | UnsetType = UNSET
    # EV state of charge [%]
    soc: float | UnsetType = UNSET
    # EV departure time (RFC 3339)
    departure_time: DateTime | UnsetType = UNSET
    # [W] (phase L1 or total; _l2/_l3 variants per phase)
    min_charge_power: float | UnsetType = UNSET
    min_charge_power_l2: float | UnsetType = UNSET
    min_charge_power_l3: float | UnsetType = UNSET
    # [W] (phase L1 or total; _l2/_l3 variants per phase)
    max_charge_power: float | UnsetType = UNSET
    max_charge_power_l2: float | UnsetType = UNSET
    max_charge_power_l3: float | UnsetType = UNSET
    # [W] (phase L1 or total; _l2/_l3 variants per phase)
    min_discharge_power: float | UnsetType = UNSET
    min_discharge_power_l2: float | UnsetType = UNSET
    min_discharge_power_l3: float | UnsetType = UNSET
    # [W] (phase L1 or total; _l2/_l3 variants per phase)
    max_discharge_power: float | UnsetType = UNSET
    max_discharge_power_l2: float | UnsetType = UNSET
    max_discharge_power_l3: float | UnsetType = UNSET
    # [A]
    min_charge_current: float | UnsetType = UNSET
    # [A]
    max_charge_current: float | UnsetType = UNSET
    # [A]
    min_discharge_current: float | UnsetType = UNSET
    # [A]
    max_discharge_current: float | UnsetType = UNSET
    # [V]
    min_voltage: float | UnsetType = UNSET
    # [V]
    max_voltage: float | UnsetType = UNSET
    # [Wh]
    ev_target_energy_request: float | UnsetType = UNSET
    # [Wh]
    ev_min_energy_request: float | UnsetType = UNSET
    # [Wh]
    ev_max_energy_request: float | UnsetType = UNSET
    # [Wh]
    ev_min_v2x_energy_request: float | UnsetType = UNSET
    # [Wh]
    ev_max_v2x_energy_request: float | UnsetType = UNSET
    # [%]
    target_soc: float | UnsetType = UNSET
    # OCPP 2.0.1 SignedMeterValueType entries
    signed_meter_values: list[MeterValuesSignedMeterValue] | UnsetType = UNSET

    def __post_init__(self) -> None:
        # rules.date_times inlined: this runs for every meter reading sent and received, and the
        # generic loop costs twice as much as the checks themselves.
        ts = self.timestamp
        if ts.__class__ is not str or ts.encode("utf-8", "replace").translate(DT_TABLE) not in DT_SHAPES:
            rules.date_time_error("timestamp", ts)
        dep = self.departure_time
        if dep is not UNSET and (
            dep.__class__ is not str or dep.encode("utf-8", "replace").translate(DT_TABLE) not in DT_SHAPES
        ):
            rules.date_time_error("departure_time", dep)


class MeterValuesResponse(_MeterValuesFields, kw_only=True, forbid_unknown_fields=True):
    """``meter_values`` response payload (MUST PUBLISH (reply, same id)). Meter reading: per-phase V/I, PF, frequency, energy registers, optional DC V/I, offered current/power, EV/BPT figures and signed meter values."""

    NAME: ClassVar[str] = "meter_values"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE


class MeterValuesUpdate(_MeterValuesFields, kw_only=True, forbid_unknown_fields=True):
    """``meter_values`` update payload (SHOULD PUBLISH (periodically / on change)). Same payload as the response, pushed by the CS unsolicited."""

    NAME: ClassVar[str] = "meter_values"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE


class NotifyEventUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``notify_event`` update payload (MAY PUBLISH). Generic event to be forwarded to the CSMS (event id, timestamp, tech code/info, transaction, EVSE)."""

    NAME: ClassVar[str] = "notify_event"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    # event identifier (integer)
    event_id: int
    timestamp: str
    # technical code (max 50)
    tech_code: Annotated[str, Meta(max_length=50)] | UnsetType = UNSET
    # technical detail (max 500)
    tech_info: Annotated[str, Meta(max_length=500)] | UnsetType = UNSET
    # OCPP transaction id (max 36)
    transaction_id: Annotated[str, Meta(max_length=36)] | UnsetType = UNSET
    evse_id: str | UnsetType = UNSET


class OcppMessageRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``ocpp_message`` request payload (MUST ANSWER if received; MAY SEND). Embeds a raw OCPP request payload (selected message names) so that the OEM can handle it or originate it."""

    NAME: ClassVar[str] = "ocpp_message"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    ocpp_version: OcppVersion
    message_name: OcppMessageMessageName
    payload: dict[str, Any]


class OcppMessageResponse(Payload, kw_only=True, forbid_unknown_fields=False):
    """``ocpp_message`` response payload (MUST PUBLISH when answering). Embedded OCPP CallResult payload or CallError details."""

    NAME: ClassVar[str] = "ocpp_message"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    ocpp_version: OcppVersion
    message_type: OcppMessageMessageType
    payload: dict[str, Any] | UnsetType = UNSET
    error_code: str | UnsetType = UNSET
    error_description: Annotated[str, Meta(max_length=255)] | UnsetType = UNSET
    error_details: dict[str, Any] | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.ocpp_result_fields(self)


class ParkingBayUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``parking_bay`` update payload (MAY PUBLISH (parking sensor)). Parking bay sensor event: EV detected or EV departed."""

    NAME: ClassVar[str] = "parking_bay"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    status: ParkingBayStatus


class PowerElectronicsSetpointAc(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``PowerElectronicsSetpointAc`` object."""

    # [W]
    charge_active_power: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # [var]
    charge_reactive_power: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # [A]
    charge_current: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # [W]
    discharge_active_power: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # [var]
    discharge_reactive_power: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # [A]
    discharge_current: Annotated[float, Meta(ge=0)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.ac_setpoint_combination(self)


class PowerElectronicsSetpointDc(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``PowerElectronicsSetpointDc`` object."""

    # [A]
    charge_current: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # [W]
    charge_power: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # [A]
    discharge_current: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # [W]
    discharge_power: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    # target voltage [V] (always sent by Josev's model; optional in schema)
    voltage: Annotated[float, Meta(ge=0)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        rules.exactly_one(self, "charge_current", "discharge_current", "charge_power", "discharge_power")


class PowerElectronicsSetpointEvLimits(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, gc=False):
    """``PowerElectronicsSetpointEvLimits`` object."""

    # EV maximum voltage [V]
    maximum_voltage: Annotated[float, Meta(ge=0)]
    # EV minimum voltage [V]
    minimum_voltage: Annotated[float, Meta(ge=0)] | UnsetType = UNSET


class PowerElectronicsSetpointRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``power_electronics_setpoint`` request payload (MUST ANSWER). Target voltage/current/power for the power electronics (DC) or active/reactive power or current (AC), plus the EV voltage limits and a pre-charge flag."""

    NAME: ClassVar[str] = "power_electronics_setpoint"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    # ISO 15118 EVSE ID string (e.g. DE*SEV*E123456789); identifies the EVSE across all messages
    evse_id: str
    # true while in (DC) PreCharge: match the EV battery voltage with limited current
    is_precharge: bool | UnsetType = UNSET
    ac: PowerElectronicsSetpointAc | UnsetType = UNSET
    dc: PowerElectronicsSetpointDc | UnsetType = UNSET
    ev_limits: PowerElectronicsSetpointEvLimits

    def __post_init__(self) -> None:
        rules.at_least_one(self, "ac", "dc")


class PowerElectronicsSetpointResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``power_electronics_setpoint`` response payload (MUST PUBLISH (reply, same id)). Whether the setpoint was accepted or rejected by the power electronics."""

    NAME: ClassVar[str] = "power_electronics_setpoint"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    # ISO 15118 EVSE ID string (e.g. DE*SEV*E123456789); identifies the EVSE across all messages
    evse_id: str
    status: AcceptedRejected


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


class ResetRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``reset`` request payload (MUST ANSWER). Reset the whole station (no evse_id) or one EVSE."""

    NAME: ClassVar[str] = "reset"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str | UnsetType = UNSET


class ResetResponse(Payload, kw_only=True, forbid_unknown_fields=False):
    """``reset`` response payload (MUST PUBLISH (reply, same id)). accepted or rejected."""

    NAME: ClassVar[str] = "reset"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: AcceptedRejected


class ResetOcppRouterStateRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``reset_ocpp_router_state`` request payload (IGNORE (integration tests only)). Resets OCPP routing state during integration tests."""

    NAME: ClassVar[str] = "reset_ocpp_router_state"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    test_name: str | UnsetType = UNSET


class ResetOcppRouterStateResponse(Payload, kw_only=True, forbid_unknown_fields=False):
    """``reset_ocpp_router_state`` response payload (IGNORE). Acknowledgement (any data)."""

    NAME: ClassVar[str] = "reset_ocpp_router_state"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE


class SdpRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``sdp`` request payload (MAY SEND (only with an OEM SDP server)). Used when the CS runs its own SDP (UDP) server: asks Josev to open its TCP/TLS V2G server for the EVSE."""

    NAME: ClassVar[str] = "sdp"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str
    security: SdpSecurity


class SdpResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``sdp`` response payload (LISTEN). Address, port and security of the V2G server that was created (or an error text)."""

    NAME: ClassVar[str] = "sdp"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str
    ip_address: str | UnsetType = UNSET
    port: int | UnsetType = UNSET
    security: SdpSecurity | UnsetType = UNSET
    error: str | UnsetType = UNSET


class ServiceStatusRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``service_status`` request payload (MAY SEND). CS asks whether a given Josev service (slac, iso15118, ocpp, gridcode, smart_charging) is up."""

    NAME: ClassVar[str] = "service_status"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    service: JosevService | UnsetType = UNSET


class ServiceStatusResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``service_status`` response payload (LISTEN). Service name, service software version, Josev API version and run state."""

    NAME: ClassVar[str] = "service_status"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    service: JosevService
    software_version: str
    api_version: str
    status: ServiceRunStatus


class ServiceStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``service_status`` update payload (LISTEN). Unsolicited service state report (e.g. when a service process has started)."""

    NAME: ClassVar[str] = "service_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    service: ServiceStatusService
    software_version: str
    api_version: str
    status: ServiceRunStatus


class SetOcppNetworkConnectionRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``set_ocpp_network_connection`` request payload (MAY SEND). CS asks OCPP to switch to new CSMS connection parameters (URL, security profile, identity, password)."""

    NAME: ClassVar[str] = "set_ocpp_network_connection"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    identity: str | UnsetType = UNSET
    basic_auth_password: str | UnsetType = UNSET
    csms_url: WsUrl
    security_profile: Annotated[int, Meta(ge=1, le=3)]

    def __post_init__(self) -> None:
        rules.url_scheme_matches_security_profile(self, "csms_url")


class SetOcppNetworkConnectionResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``set_ocpp_network_connection`` response payload (LISTEN). Whether the new connection parameters were accepted (+ optional reason)."""

    NAME: ClassVar[str] = "set_ocpp_network_connection"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: AcceptedRejected
    reason: str | UnsetType = UNSET


class SetVariableValidateComponent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``SetVariableValidateComponent`` object."""

    name: str
    instance: str | UnsetType = UNSET
    evse_id: str | UnsetType = UNSET
    connector_id: int | UnsetType = UNSET


class SetVariableValidateVariable(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``SetVariableValidateVariable`` object."""

    name: str
    instance: str | UnsetType = UNSET


class SetVariableValidateRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``set_variable_validate`` request payload (MUST ANSWER (when enabled)). OCPP asks the OEM to validate a variable value the CSMS wants to set (component/variable/attribute)."""

    NAME: ClassVar[str] = "set_variable_validate"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    attribute_value: str
    attribute_type: SetVariableValidateAttributeType | UnsetType = UNSET
    component: SetVariableValidateComponent
    variable: SetVariableValidateVariable


class SetVariableValidateResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``set_variable_validate`` response payload (MUST PUBLISH (reply, same id)). OEM verdict: accepted or rejected."""

    NAME: ClassVar[str] = "set_variable_validate"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    result: AcceptedRejected


class SlacLinkStatusRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_link_status`` request payload (MAY SEND). CS asks whether the PLC link of an EVSE is up."""

    NAME: ClassVar[str] = "slac_link_status"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str


class SlacLinkStatusResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_link_status`` response payload (LISTEN). PLC link status: connected or unknown."""

    NAME: ClassVar[str] = "slac_link_status"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str
    status: SlacLinkStatusStatus


class SlacNetworkInfoRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_network_info`` request payload (MAY SEND). CS asks for the HomePlug AV network(s) the EVSE modem belongs to."""

    NAME: ClassVar[str] = "slac_network_info"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str


class SlacNetworkInfoNetwork(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``SlacNetworkInfoNetwork`` object."""

    network_id: str
    short_network_id: str
    terminal_equipment_id: str
    station_role: SlacNetworkInfoStationRole
    mac_address: str
    access_network: SlacNetworkInfoAccessNetwork
    num_coord_nws: int


class SlacNetworkInfoResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_network_info`` response payload (LISTEN). List of networks (NID, SNID, TEI, role, CCo MAC, access type, number of coordinating networks)."""

    NAME: ClassVar[str] = "slac_network_info"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str | UnsetType = UNSET
    networks: list[SlacNetworkInfoNetwork]


class SlacStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_status`` update payload (LISTEN). SLAC matching progress for an EVSE: matching, matched, unmatched, failed, basic_charging."""

    NAME: ClassVar[str] = "slac_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    # SLAC RunID as hex string (e.g. 0xAAD2BB1357FF0001)
    run_id: str
    status: SlacStatus


class StopChargingRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``stop_charging`` request payload (MUST ANSWER). OCPP asks the CS to stop the energy transfer on an EVSE (used when no ISO 15118 session controls the EVSE)."""

    NAME: ClassVar[str] = "stop_charging"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str


class StopChargingResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``stop_charging`` response payload (MUST PUBLISH (reply, same id)). Whether the stop was accepted."""

    NAME: ClassVar[str] = "stop_charging"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str
    status: AcceptedRejected


class TransactionStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``transaction_status`` update payload (LISTEN). OCPP transaction id and state (started, in_progress, ended) with the token used."""

    NAME: ClassVar[str] = "transaction_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    transaction_id: str
    evse_id: str | UnsetType = UNSET
    status: TransactionState
    id_token: str | UnsetType = UNSET
    token_type: TokenType | UnsetType = UNSET


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


class WebsocketStatusRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``websocket_status`` request payload (MAY SEND). CS asks for the current CSMS websocket connection state."""

    NAME: ClassVar[str] = "websocket_status"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST


class _WebsocketStatusFields(Payload, kw_only=True, forbid_unknown_fields=True):
    """Fields that every ``websocket_status`` payload below shares (same shape in the contract)."""

    status: WebsocketState
    identity: str | UnsetType = UNSET
    csms_url: str | UnsetType = UNSET
    security_profile: Annotated[int, Meta(ge=1, le=3)] | UnsetType = UNSET


class WebsocketStatusResponse(_WebsocketStatusFields, kw_only=True, forbid_unknown_fields=True):
    """``websocket_status`` response payload (LISTEN). Connection state plus identity, CSMS URL and security profile (the latter present when connected)."""

    NAME: ClassVar[str] = "websocket_status"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE


class WebsocketStatusUpdate(_WebsocketStatusFields, kw_only=True, forbid_unknown_fields=True):
    """``websocket_status`` update payload (LISTEN). Unsolicited notification whenever the CSMS connection state changes."""

    NAME: ClassVar[str] = "websocket_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE


# (name, type, payload class, topic, publisher, CS obligation) for every pair on the CS topics.
CONTRACT: tuple[tuple[str, str, type[Payload], str, str, str], ...] = (
    (
        "authorization",
        "request",
        AuthorizationRequest,
        "cs/josev",
        "CS (OEM/HAL)",
        "MAY SEND (local id means / free charging)",
    ),
    ("authorization", "response", AuthorizationResponse, "josev/cs", "Josev (OCPP)", "LISTEN"),
    (
        "authorization",
        "update",
        AuthorizationUpdate,
        "josev/cs (also ocpp/iso15118)",
        "Josev (OCPP)",
        "LISTEN",
    ),
    ("boot_status", "update", BootStatusUpdate, "josev/cs", "Josev (OCPP)", "LISTEN"),
    ("cable_check", "request", CableCheckRequest, "josev/cs", "Josev (ISO 15118)", "MUST ANSWER (DC)"),
    (
        "cable_check",
        "response",
        CableCheckResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "cable_info",
        "update",
        CableInfoUpdate,
        "cs/josev",
        "CS (OEM/HAL)",
        "SHOULD PUBLISH (detachable cable)",
    ),
    (
        "certificate_installation_status",
        "update",
        CertificateInstallationStatusUpdate,
        "josev/cs",
        "Josev (OCPP)",
        "LISTEN",
    ),
    ("change_availability", "request", ChangeAvailabilityRequest, "josev/cs", "Josev (OCPP)", "MUST ANSWER"),
    (
        "change_availability",
        "response",
        ChangeAvailabilityResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "change_availability",
        "update",
        ChangeAvailabilityUpdate,
        "cs/josev",
        "CS (OEM/HAL)",
        "MAY PUBLISH (OEM-initiated)",
    ),
    ("clock_sync", "update", ClockSyncUpdate, "josev/cs", "Josev (OCPP)", "LISTEN"),
    (
        "connector_and_charging",
        "update",
        ConnectorAndChargingUpdate,
        "cs/josev (schema text says josev/cs)",
        "CS (OEM/HAL)",
        "DEPRECATED",
    ),
    ("cost_updated", "update", CostUpdatedUpdate, "josev/cs", "Josev (OCPP)", "LISTEN (HMI)"),
    ("cp_pwm", "request", CpPwmRequest, "josev/cs", "Josev (SLAC / ISO 15118)", "MUST ANSWER"),
    ("cp_pwm", "response", CpPwmResponse, "cs/josev", "CS (OEM/HAL)", "MUST PUBLISH (reply, same id)"),
    ("cp_status", "update", CpStatusUpdate, "cs/josev", "CS (OEM/HAL)", "MUST PUBLISH (on every CP change)"),
    (
        "cs_connector",
        "request",
        CsConnectorRequest,
        "josev/cs",
        "Josev (OCPP; sender not documented)",
        "MUST ANSWER (if a lock exists)",
    ),
    (
        "cs_connector",
        "response",
        CsConnectorResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "cs_contactor_status",
        "request",
        CsContactorStatusRequest,
        "josev/cs",
        "Josev (ISO 15118)",
        "MUST ANSWER",
    ),
    (
        "cs_contactor_status",
        "response",
        CsContactorStatusResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "cs_contactor_status",
        "update",
        CsContactorStatusUpdate,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (on every change)",
    ),
    (
        "cs_parameters",
        "request",
        CsParametersRequest,
        "josev/cs",
        "Josev (SLAC, ISO 15118, OCPP services)",
        "MUST ANSWER",
    ),
    (
        "cs_parameters",
        "response",
        CsParametersResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "cs_status_and_limits",
        "request",
        CsStatusAndLimitsRequest,
        "josev/cs",
        "Josev (ISO 15118 service)",
        "MUST ANSWER",
    ),
    (
        "cs_status_and_limits",
        "response",
        CsStatusAndLimitsResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "cs_status_and_limits",
        "update",
        CsStatusAndLimitsUpdate,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (on every change)",
    ),
    (
        "data_transfer",
        "request",
        DataTransferRequest,
        "josev/cs (CSMS->CS) or cs/josev (CS->CSMS)",
        "Josev (OCPP) or CS",
        "MUST ANSWER if received; MAY SEND",
    ),
    (
        "data_transfer",
        "response",
        DataTransferResponse,
        "reverse topic of the request",
        "receiver of the request",
        "MUST PUBLISH when answering",
    ),
    ("device_model", "request", DeviceModelRequest, "josev/cs", "Josev (OCPP service)", "MUST ANSWER"),
    (
        "device_model",
        "response",
        DeviceModelResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "device_model_reset",
        "request",
        DeviceModelResetRequest,
        "cs/josev (inferred; schema text says josev/cs)",
        "CS",
        "MAY SEND",
    ),
    ("device_model_reset", "response", DeviceModelResetResponse, "josev/cs", "Josev (OCPP)", "LISTEN"),
    (
        "device_model_update",
        "update",
        DeviceModelUpdateUpdate,
        "cs/josev and josev/cs",
        "CS or Josev (OCPP)",
        "MAY PUBLISH / LISTEN",
    ),
    (
        "display_and_personal_msg",
        "update",
        DisplayAndPersonalMsgUpdate,
        "josev/cs",
        "Josev (OCPP)",
        "LISTEN (HMI)",
    ),
    ("display_params", "update", DisplayParamsUpdate, "josev/cs", "Josev (ISO 15118)", "LISTEN (HMI)"),
    ("ev_rated_limits", "update", EvRatedLimitsUpdate, "josev/cs", "Josev (ISO 15118)", "LISTEN"),
    (
        "firmware_status",
        "update",
        FirmwareStatusUpdate,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (after accepting update_firmware)",
    ),
    (
        "generate_csr",
        "request",
        GenerateCsrRequest,
        "josev/cs",
        "Josev (OCPP)",
        "MUST ANSWER (OEM/TPM key store)",
    ),
    (
        "generate_csr",
        "response",
        GenerateCsrResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    ("hardware_fault", "update", HardwareFaultUpdate, "cs/josev", "CS (OEM/HAL)", "MUST PUBLISH (on fault)"),
    (
        "hlc_charging",
        "update",
        HlcChargingUpdate,
        "josev/cs (also iso15118/ocpp)",
        "Josev (ISO 15118)",
        "LISTEN",
    ),
    (
        "iso15118_state_info",
        "update",
        Iso15118StateInfoUpdate,
        "josev/cs (also iso15118/ocpp)",
        "Josev (ISO 15118)",
        "LISTEN",
    ),
    (
        "logs_status",
        "update",
        LogsStatusUpdate,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (after accepting upload_logs)",
    ),
    ("meter_values", "request", MeterValuesRequest, "josev/cs", "Josev (OCPP; ISO 15118)", "MUST ANSWER"),
    (
        "meter_values",
        "response",
        MeterValuesResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "meter_values",
        "update",
        MeterValuesUpdate,
        "cs/josev",
        "CS (OEM/HAL)",
        "SHOULD PUBLISH (periodically / on change)",
    ),
    ("notify_event", "update", NotifyEventUpdate, "cs/josev", "CS (OEM/HAL)", "MAY PUBLISH"),
    (
        "ocpp_message",
        "request",
        OcppMessageRequest,
        "josev/cs (CSMS->CS) or cs/josev (CS->CSMS)",
        "Josev (OCPP) or CS",
        "MUST ANSWER if received; MAY SEND",
    ),
    (
        "ocpp_message",
        "response",
        OcppMessageResponse,
        "reverse topic of the request",
        "receiver of the request",
        "MUST PUBLISH when answering",
    ),
    ("parking_bay", "update", ParkingBayUpdate, "cs/josev", "CS (OEM/HAL)", "MAY PUBLISH (parking sensor)"),
    (
        "power_electronics_setpoint",
        "request",
        PowerElectronicsSetpointRequest,
        "josev/cs",
        "Josev (ISO 15118)",
        "MUST ANSWER",
    ),
    (
        "power_electronics_setpoint",
        "response",
        PowerElectronicsSetpointResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "private_key_path",
        "request",
        PrivateKeyPathRequest,
        "josev/cs (inferred)",
        "Josev",
        "MUST ANSWER (inferred, TPM setups)",
    ),
    (
        "private_key_path",
        "response",
        PrivateKeyPathResponse,
        "cs/josev (inferred)",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    (
        "process_authorized_token",
        "request",
        ProcessAuthorizedTokenRequest,
        "josev/cs",
        "Josev (OCPP)",
        "MUST ANSWER (when enabled)",
    ),
    (
        "process_authorized_token",
        "response",
        ProcessAuthorizedTokenResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    ("reset", "request", ResetRequest, "josev/cs", "Josev (OCPP)", "MUST ANSWER"),
    ("reset", "response", ResetResponse, "cs/josev", "CS (OEM/HAL)", "MUST PUBLISH (reply, same id)"),
    (
        "reset_ocpp_router_state",
        "request",
        ResetOcppRouterStateRequest,
        "josev/cs (test harness)",
        "test harness",
        "IGNORE (integration tests only)",
    ),
    (
        "reset_ocpp_router_state",
        "response",
        ResetOcppRouterStateResponse,
        "josev/cs (test harness)",
        "Josev (OCPP)",
        "IGNORE",
    ),
    ("sdp", "request", SdpRequest, "cs/josev", "CS (OEM/HAL)", "MAY SEND (only with an OEM SDP server)"),
    ("sdp", "response", SdpResponse, "josev/cs", "Josev (ISO 15118)", "LISTEN"),
    ("service_status", "request", ServiceStatusRequest, "cs/josev", "CS (OEM/HAL)", "MAY SEND"),
    ("service_status", "response", ServiceStatusResponse, "josev/cs", "Josev service", "LISTEN"),
    ("service_status", "update", ServiceStatusUpdate, "josev/cs", "Josev service", "LISTEN"),
    (
        "set_ocpp_network_connection",
        "request",
        SetOcppNetworkConnectionRequest,
        "cs/josev",
        "CS (OEM/HAL)",
        "MAY SEND",
    ),
    (
        "set_ocpp_network_connection",
        "response",
        SetOcppNetworkConnectionResponse,
        "josev/cs",
        "Josev (OCPP)",
        "LISTEN",
    ),
    (
        "set_variable_validate",
        "request",
        SetVariableValidateRequest,
        "josev/cs",
        "Josev (OCPP)",
        "MUST ANSWER (when enabled)",
    ),
    (
        "set_variable_validate",
        "response",
        SetVariableValidateResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    ("slac_link_status", "request", SlacLinkStatusRequest, "cs/josev", "CS (OEM/HAL)", "MAY SEND"),
    ("slac_link_status", "response", SlacLinkStatusResponse, "josev/cs", "Josev (SLAC)", "LISTEN"),
    ("slac_network_info", "request", SlacNetworkInfoRequest, "cs/josev", "CS (OEM/HAL)", "MAY SEND"),
    ("slac_network_info", "response", SlacNetworkInfoResponse, "josev/cs", "Josev (SLAC)", "LISTEN"),
    ("slac_status", "update", SlacStatusUpdate, "josev/cs", "Josev (SLAC)", "LISTEN"),
    (
        "stop_charging",
        "request",
        StopChargingRequest,
        "josev/cs (AC basic charging; HLC stops go ocpp/iso15118)",
        "Josev (OCPP)",
        "MUST ANSWER",
    ),
    (
        "stop_charging",
        "response",
        StopChargingResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    ("transaction_status", "update", TransactionStatusUpdate, "josev/cs", "Josev (OCPP)", "LISTEN"),
    ("update_firmware", "request", UpdateFirmwareRequest, "josev/cs", "Josev (OCPP)", "MUST ANSWER"),
    (
        "update_firmware",
        "response",
        UpdateFirmwareResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    ("upload_logs", "request", UploadLogsRequest, "josev/cs", "Josev (OCPP)", "MUST ANSWER"),
    (
        "upload_logs",
        "response",
        UploadLogsResponse,
        "cs/josev",
        "CS (OEM/HAL)",
        "MUST PUBLISH (reply, same id)",
    ),
    ("websocket_status", "request", WebsocketStatusRequest, "cs/josev", "CS (OEM/HAL)", "MAY SEND"),
    ("websocket_status", "response", WebsocketStatusResponse, "josev/cs", "Josev (OCPP)", "LISTEN"),
    ("websocket_status", "update", WebsocketStatusUpdate, "josev/cs", "Josev (OCPP)", "LISTEN"),
)
