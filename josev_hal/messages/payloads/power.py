"""The power path: contactor, DC cable check and setpoints, status and limits, EV limits, stop.

Messages: ``cable_check``, ``cs_contactor_status``, ``cs_status_and_limits``, ``ev_rated_limits``,
``power_electronics_setpoint``, ``stop_charging``.
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
from josev_hal.messages.payloads.common import AcceptedRejected, PerPhase

__all__ = [
    "CableCheckAction",
    "CableCheckRequest",
    "CableCheckResponse",
    "CableCheckStatus",
    "ContactorStatus",
    "CsContactorStatusRequest",
    "CsContactorStatusResponse",
    "CsContactorStatusUpdate",
    "CsStatusAndLimitsAc",
    "CsStatusAndLimitsAcBpt",
    "CsStatusAndLimitsDc",
    "CsStatusAndLimitsDcBpt",
    "CsStatusAndLimitsEvse",
    "CsStatusAndLimitsRequest",
    "CsStatusAndLimitsResponse",
    "CsStatusAndLimitsUpdate",
    "CsStatusAndLimitsUpdateEvse",
    "EvRatedLimitsAcRatedLimits",
    "EvRatedLimitsDcRatedLimits",
    "EvRatedLimitsUpdate",
    "EvseStatusCode",
    "IsolationLevel",
    "PowerElectronicsSetpointAc",
    "PowerElectronicsSetpointDc",
    "PowerElectronicsSetpointEvLimits",
    "PowerElectronicsSetpointRequest",
    "PowerElectronicsSetpointResponse",
    "StopChargingRequest",
    "StopChargingResponse",
]


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


class ContactorStatus(enum.StrEnum):
    CLOSED = "closed"
    OPENED = "opened"
    ERROR = "error"


class EvseStatusCode(enum.StrEnum):
    EVSE_NOT_READY = "evse_not_ready"
    EVSE_READY = "evse_ready"
    EVSE_SHUTDOWN = "evse_shutdown"
    EVSE_UTILITY_INTERRUPT_EVENT = "evse_utility_interrupt_event"
    EVSE_ISOLATION_MONITORING_ACTIVE = "evse_isolation_monitoring_active"
    EVSE_EMERGENCY_SHUTDOWN = "evse_emergency_shutdown"
    EVSE_MALFUNCTION = "evse_malfunction"


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


class CsStatusAndLimitsRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``cs_status_and_limits`` request payload (MUST ANSWER). Josev asks for the current EVSE status code and electrical limits. Sent once at every Josev (re)start."""

    NAME: ClassVar[str] = "cs_status_and_limits"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST


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
