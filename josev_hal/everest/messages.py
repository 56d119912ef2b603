"""msgspec Structs for the EVerest API payloads josev-hal serves (AsyncAPI 3, JSON over MQTT).

Names follow the ``components.schemas`` names of the AsyncAPI files in ``../shared/everest-api/``
(``BspEvent``, ``HardwareCapabilities``, ``Powermeter`` ...); where two interfaces use the same
schema name for different enums the interface is the prefix (``BspErrorType``, ``PsuErrorType``).
``tests/test_everest_codec.py`` checks every Struct against the spec's payload schema: examples
and generated mutants must get the same verdict from msgspec and from jsonschema.

Rules that follow from the spec:

* Objects are open (``additionalProperties: true``): unknown keys are accepted and dropped, so
  Structs do not forbid unknown fields. Types are strict (no ``"1"`` for a number).
* Optional keys default to ``msgspec.UNSET`` and are left out on the wire.
* Some payloads are bare JSON values (``true``, ``42``, ``"Export"``); they are described by a
  plain type in :data:`josev_hal.everest.codec.PAYLOADS`, not by a Struct.
* Requests carry ``{"headers": {"replyTo": topic}, "payload": ...}`` (the request/reply pattern);
  :class:`Headers` is the ``headers`` object.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "AcPhaseMode",
    "Ampacity",
    "ApiDiscoverResponse",
    "ApiParameter",
    "AuthorizationType",
    "BspError",
    "BspErrorType",
    "BspEvent",
    "BspEventKind",
    "Capabilities",
    "ChargingPhase",
    "CommunicationParameters",
    "ConnectorType",
    "Current",
    "Energy",
    "Frequency",
    "HardwareCapabilities",
    "Headers",
    "IdTokenType",
    "ImdError",
    "ImdErrorType",
    "IsolationMeasurement",
    "Mode",
    "ModeRequest",
    "Power",
    "PowerOnOff",
    "PowerOnReason",
    "Powermeter",
    "ProvidedIdToken",
    "ProvidedIdTokenValue",
    "ProximityPilot",
    "PsuError",
    "PsuErrorType",
    "ReactivePower",
    "ReadyBeacon",
    "Reply",
    "SignedCurrent",
    "SignedEnergy",
    "SignedFrequency",
    "SignedMeterValue",
    "SignedPower",
    "SignedReactivePower",
    "SignedVoltage",
    "StartTransactionEnvelope",
    "StartTransactionReply",
    "StartTransactionRequest",
    "StopTransactionEnvelope",
    "StopTransactionId",
    "StopTransactionReply",
    "StopTransactionRequest",
    "Temperature",
    "TransactionStatus",
    "Voltage",
    "VoltageCurrent",
    "wire_time",
]


class _Open(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An open JSON object (the spec's ``additionalProperties: true``)."""


Phase = Annotated[int, msgspec.Meta(ge=1, le=3)]
# RFC 3339 date-time (the spec's ``format: date-time``). A string, not ``datetime``, so that what
# we send has the project's wire form (UTC, millisecond precision, ``Z``: see :func:`wire_time`);
# the final lookahead refuses a trailing newline, which ``$`` alone would let through.
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})(?![\s\S])"
)
Timestamp = Annotated[str, msgspec.Meta(pattern=RFC3339_PATTERN)]


def wire_time(moment: datetime) -> str:
    """``moment`` as the project writes times on the wire: UTC, 3 fractional digits, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


# ----------------------------------------------------------------------------------------------
# common: request headers, errors
# ----------------------------------------------------------------------------------------------


class Headers(_Open, kw_only=True):
    """``headers`` of a request: where the reply goes."""

    replyTo: str | UnsetType = UNSET


class Reply(_Open, kw_only=True):
    """A request that carries only headers (``e2m/reset``, ``discover``, ``query-modules``)."""

    headers: Headers | UnsetType = UNSET


# ----------------------------------------------------------------------------------------------
# evse_board_support (+ ac_rcd, connector_lock)
# ----------------------------------------------------------------------------------------------


class AcPhaseMode(enum.StrEnum):
    """``ACPhaseMode``."""

    THREE_PHASES = "ThreePhases"
    SINGLE_PHASE = "SinglePhase"


class BspEventKind(enum.StrEnum):
    """``BspEvent.event``: CP letters, confirmed relay states; ``Disconnected`` is EV-side only."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
    POWER_ON = "PowerOn"
    POWER_OFF = "PowerOff"
    DISCONNECTED = "Disconnected"


class BspEvent(_Open, kw_only=True):
    event: BspEventKind


class ConnectorType(enum.StrEnum):
    CABLE = "IEC62196Type2Cable"
    SOCKET = "IEC62196Type2Socket"


class HardwareCapabilities(_Open, kw_only=True):
    max_current_A_import: float
    min_current_A_import: float
    max_phase_count_import: Phase
    min_phase_count_import: Phase
    max_current_A_export: float
    min_current_A_export: float
    max_phase_count_export: Phase
    min_phase_count_export: Phase
    supports_changing_phases_during_charging: bool
    supports_cp_state_E: bool
    connector_type: ConnectorType
    max_plug_temperature_C: float | UnsetType = UNSET


class PowerOnReason(enum.StrEnum):
    DC_CABLE_CHECK = "DCCableCheck"
    DC_PRE_CHARGE = "DCPreCharge"
    FULL_POWER_CHARGING = "FullPowerCharging"
    POWER_OFF = "PowerOff"


class PowerOnOff(_Open, kw_only=True):
    allow_power_on: bool
    reason: PowerOnReason


class Ampacity(enum.StrEnum):
    NONE = "None"
    A_13 = "A_13"
    A_20 = "A_20"
    A_32 = "A_32"
    A_63_3PH_70_1PH = "A_63_3ph_70_1ph"


class ProximityPilot(_Open, kw_only=True):
    ampacity: Ampacity


class StopTransactionRequest(_Open, kw_only=True):
    """``m2e/request_stop_transaction``. The spec refers to ``evse_manager_consumer_API.yaml``,
    which is not in the shared copy; ``reason`` is the stop reason (``"Local"`` in the example)."""

    reason: str


class BspErrorType(enum.StrEnum):
    """``ErrorEnum`` of evse_board_support (the ChargeX MREC codes and board faults)."""

    DIODE_FAULT = "DiodeFault"
    VENTILATION_NOT_AVAILABLE = "VentilationNotAvailable"
    BROWN_OUT = "BrownOut"
    ENERGY_MANAGEMENT = "EnergyManagement"
    PERMANENT_FAULT = "PermanentFault"
    MREC2_GROUND_FAILURE = "MREC2GroundFailure"
    MREC3_HIGH_TEMPERATURE = "MREC3HighTemperature"
    MREC4_OVER_CURRENT_FAILURE = "MREC4OverCurrentFailure"
    MREC5_OVER_VOLTAGE = "MREC5OverVoltage"
    MREC6_UNDER_VOLTAGE = "MREC6UnderVoltage"
    MREC8_EMERGENCY_STOP = "MREC8EmergencyStop"
    MREC10_INVALID_VEHICLE_MODE = "MREC10InvalidVehicleMode"
    MREC14_PILOT_FAULT = "MREC14PilotFault"
    MREC15_POWER_LOSS = "MREC15PowerLoss"
    MREC17_EVSE_CONTACTOR_FAULT = "MREC17EVSEContactorFault"
    MREC18_CABLE_OVER_TEMP_DERATE = "MREC18CableOverTempDerate"
    MREC19_CABLE_OVER_TEMP_STOP = "MREC19CableOverTempStop"
    MREC20_PARTIAL_INSERTION = "MREC20PartialInsertion"
    MREC23_PROXIMITY_FAULT = "MREC23ProximityFault"
    MREC24_CONNECTOR_VOLTAGE_HIGH = "MREC24ConnectorVoltageHigh"
    MREC25_BROKEN_LATCH = "MREC25BrokenLatch"
    MREC26_CUT_CABLE = "MREC26CutCable"
    CONNECTOR_LOCK_CAP_NOT_CHARGED = "ConnectorLockCapNotCharged"
    CONNECTOR_LOCK_UNEXPECTED_OPEN = "ConnectorLockUnexpectedOpen"
    CONNECTOR_LOCK_UNEXPECTED_CLOSE = "ConnectorLockUnexpectedClose"
    CONNECTOR_LOCK_FAILED_LOCK = "ConnectorLockFailedLock"
    CONNECTOR_LOCK_FAILED_UNLOCK = "ConnectorLockFailedUnlock"
    MREC1_CONNECTOR_LOCK_FAILURE = "MREC1ConnectorLockFailure"
    SELFTEST = "Selftest"
    DC = "DC"
    AC = "AC"
    TILT_DETECTED = "TiltDetected"
    WATER_INGRESS_DETECTED = "WaterIngressDetected"
    ENCLOSURE_OPEN = "EnclosureOpen"
    VENDOR_ERROR = "VendorError"
    VENDOR_WARNING = "VendorWarning"


class BspError(_Open, kw_only=True):
    type: BspErrorType
    sub_type: str | UnsetType = UNSET
    message: str | UnsetType = UNSET


# ----------------------------------------------------------------------------------------------
# powermeter
# ----------------------------------------------------------------------------------------------


class Energy(_Open, kw_only=True):
    total: float
    L1: float | UnsetType = UNSET
    L2: float | UnsetType = UNSET
    L3: float | UnsetType = UNSET


# units/Power and units/ReactivePower have exactly Energy's keys in the spec: one definition
# serves all three (as SignedEnergy does for the signed ones); the names stay for the codec table.
# No docstrings: they would become schema descriptions in schemas/everest/.
class Power(Energy, kw_only=True):
    pass


class ReactivePower(Energy, kw_only=True):
    pass


class Voltage(_Open, kw_only=True):
    DC: float | UnsetType = UNSET
    L1: float | UnsetType = UNSET
    L2: float | UnsetType = UNSET
    L3: float | UnsetType = UNSET


class Current(_Open, kw_only=True):
    DC: float | UnsetType = UNSET
    L1: float | UnsetType = UNSET
    L2: float | UnsetType = UNSET
    L3: float | UnsetType = UNSET
    N: float | UnsetType = UNSET


class Frequency(_Open, kw_only=True):
    L1: float
    L2: float | UnsetType = UNSET
    L3: float | UnsetType = UNSET


class SignedMeterValue(_Open, kw_only=True):
    signed_meter_data: str
    signing_method: str
    encoding_method: str
    public_key: str | UnsetType = UNSET
    timestamp: Timestamp | UnsetType = UNSET


class SignedEnergy(_Open, kw_only=True):
    total: SignedMeterValue | UnsetType = UNSET
    L1: SignedMeterValue | UnsetType = UNSET
    L2: SignedMeterValue | UnsetType = UNSET
    L3: SignedMeterValue | UnsetType = UNSET


class SignedPower(SignedEnergy, kw_only=True):
    pass


class SignedReactivePower(SignedEnergy, kw_only=True):
    pass


class SignedVoltage(_Open, kw_only=True):
    DC: SignedMeterValue | UnsetType = UNSET
    L1: SignedMeterValue | UnsetType = UNSET
    L2: SignedMeterValue | UnsetType = UNSET
    L3: SignedMeterValue | UnsetType = UNSET


class SignedCurrent(SignedVoltage, kw_only=True):
    N: SignedMeterValue | UnsetType = UNSET


class SignedFrequency(_Open, kw_only=True):
    L1: SignedMeterValue | UnsetType = UNSET
    L2: SignedMeterValue | UnsetType = UNSET
    L3: SignedMeterValue | UnsetType = UNSET


class Temperature(_Open, kw_only=True):
    temperature: float
    identification: str | UnsetType = UNSET
    location: str | UnsetType = UNSET


class Powermeter(_Open, kw_only=True):
    """``m2e/powermeter_values``. ``timestamp`` is when the meter was read (not when sent)."""

    timestamp: Timestamp
    energy_Wh_import: Energy
    meter_id: str | UnsetType = UNSET
    phase_seq_error: bool | UnsetType = UNSET
    energy_Wh_export: Energy | UnsetType = UNSET
    power_W: Power | UnsetType = UNSET
    voltage_V: Voltage | UnsetType = UNSET
    VAR: ReactivePower | UnsetType = UNSET
    current_A: Current | UnsetType = UNSET
    frequency_Hz: Frequency | UnsetType = UNSET
    energy_Wh_import_signed: SignedEnergy | UnsetType = UNSET
    energy_Wh_export_signed: SignedEnergy | UnsetType = UNSET
    power_W_signed: SignedPower | UnsetType = UNSET
    voltage_V_signed: SignedVoltage | UnsetType = UNSET
    VAR_signed: SignedReactivePower | UnsetType = UNSET
    current_A_signed: SignedCurrent | UnsetType = UNSET
    frequency_Hz_signed: SignedFrequency | UnsetType = UNSET
    signed_meter_value: SignedMeterValue | UnsetType = UNSET
    temperatures: list[Temperature] | UnsetType = UNSET


class TransactionStatus(enum.StrEnum):
    OK = "OK"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    UNEXPECTED_ERROR = "UNEXPECTED_ERROR"


class OcmfIdentificationStatus(enum.StrEnum):
    ASSIGNED = "ASSIGNED"
    NOT_ASSIGNED = "NOT_ASSIGNED"


class OcmfIdentificationLevel(enum.StrEnum):
    NONE = "NONE"
    HEARSAY = "HEARSAY"
    TRUSTED = "TRUSTED"
    VERIFIED = "VERIFIED"
    CERTIFIED = "CERTIFIED"
    SECURE = "SECURE"
    MISMATCH = "MISMATCH"
    INVALID = "INVALID"
    OUTDATED = "OUTDATED"
    UNKNOWN = "UNKNOWN"


class OcmfIdentificationFlag(enum.StrEnum):
    RFID_NONE = "RFID_NONE"
    RFID_PLAIN = "RFID_PLAIN"
    RFID_RELATED = "RFID_RELATED"
    RFID_PSK = "RFID_PSK"
    OCPP_NONE = "OCPP_NONE"
    OCPP_RS = "OCPP_RS"
    OCPP_AUTH = "OCPP_AUTH"
    OCPP_RS_TLS = "OCPP_RS_TLS"
    OCPP_AUTH_TLS = "OCPP_AUTH_TLS"
    OCPP_CACHE = "OCPP_CACHE"
    OCPP_WHITELIST = "OCPP_WHITELIST"
    OCPP_CERTIFIED = "OCPP_CERTIFIED"
    ISO15118_NONE = "ISO15118_NONE"
    ISO15118_PNC = "ISO15118_PNC"
    PLMN_NONE = "PLMN_NONE"
    PLMN_RING = "PLMN_RING"
    PLMN_SMS = "PLMN_SMS"


class OcmfIdentificationType(enum.StrEnum):
    NONE = "NONE"
    DENIED = "DENIED"
    UNDEFINED = "UNDEFINED"
    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    EMAID = "EMAID"
    EVCCID = "EVCCID"
    EVCOID = "EVCOID"
    ISO7812 = "ISO7812"
    CARD_TXN_NR = "CARD_TXN_NR"
    CENTRAL = "CENTRAL"
    CENTRAL_1 = "CENTRAL_1"
    CENTRAL_2 = "CENTRAL_2"
    LOCAL = "LOCAL"
    LOCAL_1 = "LOCAL_1"
    LOCAL_2 = "LOCAL_2"
    PHONE_NUMBER = "PHONE_NUMBER"
    KEY_CODE = "KEY_CODE"


class StartTransactionRequest(_Open, kw_only=True):
    evse_id: str
    transaction_id: str
    identification_status: OcmfIdentificationStatus
    identification_flags: Annotated[list[OcmfIdentificationFlag], msgspec.Meta(max_length=4)]
    identification_type: OcmfIdentificationType
    identification_level: OcmfIdentificationLevel | UnsetType = UNSET
    identification_data: str | UnsetType = UNSET
    tariff_text: Annotated[str, msgspec.Meta(max_length=250)] | UnsetType = UNSET


class StartTransactionEnvelope(_Open, kw_only=True):
    """``e2m/start_transaction``: the request with its reply address."""

    payload: StartTransactionRequest
    headers: Headers | UnsetType = UNSET


class StopTransactionId(_Open, kw_only=True):
    transaction_id: str


class StopTransactionEnvelope(_Open, kw_only=True):
    """``e2m/stop_transaction``."""

    payload: StopTransactionId
    headers: Headers | UnsetType = UNSET


class StartTransactionReply(_Open, kw_only=True):
    status: TransactionStatus
    error: str | UnsetType = UNSET
    transaction_min_stop_time: Timestamp | UnsetType = UNSET
    transaction_max_stop_time: Timestamp | UnsetType = UNSET
    signed_meter_value: SignedMeterValue | UnsetType = UNSET


class StopTransactionReply(_Open, kw_only=True):
    status: TransactionStatus
    start_signed_meter_value: SignedMeterValue | UnsetType = UNSET
    signed_meter_value: SignedMeterValue | UnsetType = UNSET
    error: str | UnsetType = UNSET


# ----------------------------------------------------------------------------------------------
# isolation_monitor
# ----------------------------------------------------------------------------------------------


class IsolationMeasurement(_Open, kw_only=True):
    resistance_F_Ohm: float
    voltage_V: float | UnsetType = UNSET
    voltage_to_earth_l1e_V: float | UnsetType = UNSET
    voltage_to_earth_l2e_V: float | UnsetType = UNSET


class ImdErrorType(enum.StrEnum):
    DEVICE_FAULT = "DeviceFault"
    COMMUNICATION_FAULT = "CommunicationFault"
    VENDOR_ERROR = "VendorError"
    VENDOR_WARNING = "VendorWarning"


class ImdError(_Open, kw_only=True):
    type: ImdErrorType
    sub_type: str | UnsetType = UNSET
    message: str | UnsetType = UNSET


# ----------------------------------------------------------------------------------------------
# power_supply_DC
# ----------------------------------------------------------------------------------------------


class Mode(enum.StrEnum):
    OFF = "Off"
    EXPORT = "Export"
    IMPORT = "Import"
    FAULT = "Fault"


class ChargingPhase(enum.StrEnum):
    OTHER = "Other"
    CABLE_CHECK = "CableCheck"
    PRE_CHARGE = "PreCharge"
    CHARGING = "Charging"


class ModeRequest(_Open, kw_only=True):
    mode: Mode | UnsetType = UNSET
    charging_phase: ChargingPhase | UnsetType = UNSET


class VoltageCurrent(_Open, kw_only=True):
    voltage_V: float
    current_A: float


class Capabilities(_Open, kw_only=True):
    bidirectional: bool
    max_export_voltage_V: float
    min_export_voltage_V: float
    max_export_current_A: float
    min_export_current_A: float
    max_export_power_W: float
    current_regulation_tolerance_A: float
    peak_current_ripple_A: float
    nominal_max_export_voltage_V: float | UnsetType = UNSET
    nominal_min_export_voltage_V: float | UnsetType = UNSET
    nominal_max_export_current_A: float | UnsetType = UNSET
    nominal_min_export_current_A: float | UnsetType = UNSET
    max_import_voltage_V: float | UnsetType = UNSET
    nominal_max_import_voltage_V: float | UnsetType = UNSET
    min_import_voltage_V: float | UnsetType = UNSET
    nominal_min_import_voltage_V: float | UnsetType = UNSET
    max_import_current_A: float | UnsetType = UNSET
    nominal_max_import_current_A: float | UnsetType = UNSET
    min_import_current_A: float | UnsetType = UNSET
    nominal_min_import_current_A: float | UnsetType = UNSET
    nominal_max_export_power_W: float | UnsetType = UNSET
    max_import_power_W: float | UnsetType = UNSET
    nominal_max_import_power_W: float | UnsetType = UNSET
    conversion_efficiency_import: Fraction | UnsetType = UNSET
    conversion_efficiency_export: Fraction | UnsetType = UNSET


class PsuErrorType(enum.StrEnum):
    COMMUNICATION_FAULT = "CommunicationFault"
    HARDWARE_FAULT = "HardwareFault"
    OVER_TEMPERATURE = "OverTemperature"
    UNDER_TEMPERATURE = "UnderTemperature"
    UNDER_VOLTAGE_AC = "UnderVoltageAC"
    OVER_VOLTAGE_AC = "OverVoltageAC"
    UNDER_VOLTAGE_DC = "UnderVoltageDC"
    OVER_VOLTAGE_DC = "OverVoltageDC"
    OVER_CURRENT_AC = "OverCurrentAC"
    OVER_CURRENT_DC = "OverCurrentDC"
    VENDOR_ERROR = "VendorError"
    VENDOR_WARNING = "VendorWarning"


class PsuError(_Open, kw_only=True):
    type: PsuErrorType
    sub_type: str | UnsetType = UNSET
    message: str | UnsetType = UNSET


# ----------------------------------------------------------------------------------------------
# auth_token_provider
# ----------------------------------------------------------------------------------------------


class IdTokenType(enum.StrEnum):
    """EVerest's id token types (the ``auth_consumer_API.yaml`` the spec refers to is not in the
    shared copy; these are the OCPP 2.0.1 IdTokenEnumType values EVerest uses)."""

    CENTRAL = "Central"
    EMAID = "eMAID"
    ISO14443 = "ISO14443"
    ISO15693 = "ISO15693"
    KEY_CODE = "KeyCode"
    LOCAL = "Local"
    MAC_ADDRESS = "MacAddress"
    NO_AUTHORIZATION = "NoAuthorization"


class AuthorizationType(enum.StrEnum):
    OCPP = "OCPP"
    RFID = "RFID"
    AUTOCHARGE = "Autocharge"
    PLUG_AND_CHARGE = "PlugAndCharge"
    BANK_CARD = "BankCard"


class ProvidedIdTokenValue(_Open, kw_only=True):
    value: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    type: IdTokenType


class ProvidedIdToken(_Open, kw_only=True):
    """``m2e/provided_token``: a token read at this station."""

    id_token: ProvidedIdTokenValue
    authorization_type: AuthorizationType
    connectors: list[int] | UnsetType = UNSET
    prevalidated: bool | UnsetType = UNSET


# ----------------------------------------------------------------------------------------------
# entrypoint
# ----------------------------------------------------------------------------------------------


class CommunicationParameters(_Open, kw_only=True):
    heartbeat_period_ms: int | UnsetType = UNSET
    communication_check_period_s: int | UnsetType = UNSET
    request_reply_timeout_s: int | UnsetType = UNSET


class ApiParameter(_Open, kw_only=True):
    type: str
    module_id: str
    version: int
    communication_monitoring: CommunicationParameters | UnsetType = UNSET


class ApiDiscoverResponse(_Open, kw_only=True):
    apis: list[ApiParameter]


class ReadyBeacon(_Open, kw_only=True):
    """``everest_api/ready_beacon``: an empty object."""
