"""Control pilot, connector lock, cable, parking bay and meter readings.

Messages: ``cable_info``, ``connector_and_charging``, ``cp_pwm``, ``cp_status``, ``cs_connector``,
``meter_values``, ``parking_bay``.
"""

# ruff: noqa: E501  (long patterns and field comments)
from __future__ import annotations

import enum
from typing import Annotated, ClassVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from josev_hal.messages import rules
from josev_hal.messages.base import MessageType, Payload
from josev_hal.messages.patterns import DT_SHAPES, DT_TABLE, DateTime
from josev_hal.messages.payloads.common import PerPhase

__all__ = [
    "CableConnectionStatus",
    "CableInfoUpdate",
    "CableLockStatus",
    "ConnectorAction",
    "ConnectorAndChargingChargingStatus",
    "ConnectorAndChargingConnectorStatus",
    "ConnectorAndChargingUpdate",
    "CpPwmRequest",
    "CpPwmResponse",
    "CpPwmStatus",
    "CpState",
    "CpStatusUpdate",
    "CsConnectorRequest",
    "CsConnectorResponse",
    "MeterValuesMeasurand",
    "MeterValuesRequest",
    "MeterValuesResponse",
    "MeterValuesSignedMeterValue",
    "MeterValuesUpdate",
    "ParkingBayStatus",
    "ParkingBayUpdate",
]


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


class ParkingBayStatus(enum.StrEnum):
    EV_DEPARTED = "ev_departed"
    EV_DETECTED = "ev_detected"


class CableInfoUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``cable_info`` update payload (SHOULD PUBLISH (detachable cable)). State of a non-permanently attached cable: plugged state on the station side, rated cable current, lock state."""

    NAME: ClassVar[str] = "cable_info"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    connection_status: CableConnectionStatus | UnsetType = UNSET
    # [A]
    rated_cable_current: int | UnsetType = UNSET
    lock: CableLockStatus | UnsetType = UNSET


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


class ParkingBayUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``parking_bay`` update payload (MAY PUBLISH (parking sensor)). Parking bay sensor event: EV detected or EV departed."""

    NAME: ClassVar[str] = "parking_bay"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    status: ParkingBayStatus
