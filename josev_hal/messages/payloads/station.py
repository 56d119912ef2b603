"""Station description and station functions: parameters, device model, availability, reset,
faults and events, OCPP passthrough (data transfer, ocpp_message, variable validation), clock.

Messages: ``boot_status``, ``change_availability``, ``clock_sync``, ``cs_parameters``,
``data_transfer``, ``device_model``, ``device_model_reset``, ``device_model_update``,
``hardware_fault``, ``notify_event``, ``ocpp_message``, ``reset``, ``set_variable_validate``.
"""

# ruff: noqa: E501  (long patterns and field comments)
from __future__ import annotations

import enum
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from josev_hal.messages import rules
from josev_hal.messages.base import MessageType, Payload
from josev_hal.messages.patterns import DateTime, WsUrl
from josev_hal.messages.payloads.common import AcceptedRejected

__all__ = [
    "BootStatusStatus",
    "BootStatusUpdate",
    "BptChannel",
    "ChangeAvailabilityRequest",
    "ChangeAvailabilityResponse",
    "ChangeAvailabilityUpdate",
    "ClockSyncUpdate",
    "ControlMode",
    "CsParametersAc",
    "CsParametersAcBpt",
    "CsParametersConnector",
    "CsParametersDc",
    "CsParametersDcBpt",
    "CsParametersParameter",
    "CsParametersRequest",
    "CsParametersResponse",
    "CsParametersServices",
    "DataTransferRequest",
    "DataTransferResponse",
    "DataTransferStatus",
    "DeviceModelComponent",
    "DeviceModelConnector",
    "DeviceModelConnectorType",
    "DeviceModelDataType",
    "DeviceModelEvse",
    "DeviceModelRequest",
    "DeviceModelResetRequest",
    "DeviceModelResetResponse",
    "DeviceModelResponse",
    "DeviceModelUpdateComponent",
    "DeviceModelUpdateUpdate",
    "DeviceModelUpdateVariable",
    "DeviceModelVariable",
    "GeneratorMode",
    "GridIslandDetectionMode",
    "HardwareFaultName",
    "HardwareFaultUpdate",
    "Iso15118ConnectorType",
    "Mutability",
    "NotifyEventUpdate",
    "OcppMessageMessageName",
    "OcppMessageMessageType",
    "OcppMessageRequest",
    "OcppMessageResponse",
    "OcppVersion",
    "OperationalStatus",
    "ResetRequest",
    "ResetResponse",
    "SetVariableValidateAttributeType",
    "SetVariableValidateComponent",
    "SetVariableValidateRequest",
    "SetVariableValidateResponse",
    "SetVariableValidateVariable",
]


class BootStatusStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    PENDING = "pending"
    REJECTED = "rejected"


class OperationalStatus(enum.StrEnum):
    OPERATIVE = "operative"
    INOPERATIVE = "inoperative"


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


class HardwareFaultName(enum.StrEnum):
    OVERCURRENT_FAULT = "overcurrent_fault"
    EMERGENCY_STOP = "emergency_stop"
    GROUND_FAULT = "ground_fault"
    ENERGY_LIMIT_REACHED = "energy_limit_reached"
    POWER_LOSS = "power_loss"
    POWER_QUALITY = "power_quality"
    REBOOT = "reboot"
    OTHER = "other"


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


class SetVariableValidateAttributeType(enum.StrEnum):
    MINSET = "MinSet"
    MAXSET = "MaxSet"
    ACTUAL = "Actual"
    TARGET = "Target"


class BootStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``boot_status`` update payload (LISTEN). Forwards the registration status returned by the CSMS in BootNotificationResponse."""

    NAME: ClassVar[str] = "boot_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    status: BootStatusStatus


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


class HardwareFaultUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``hardware_fault`` update payload (MUST PUBLISH (on fault)). Reports a hardware fault of a component (emergency stop, over-current, ground fault, ...)."""

    NAME: ClassVar[str] = "hardware_fault"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    component_name: str
    fault_name: HardwareFaultName


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
