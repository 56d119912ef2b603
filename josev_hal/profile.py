"""Board profiles: one validated TOML file describes a whole station.

The Structs below *are* the profile format (``schemas/board.schema.json`` is generated from them by
:func:`board_json_schema`). :func:`load_profile` decodes a file, converts each ``[buses.<name>]``
table into its bus kind's ``Options`` and each device's ``options`` into its driver's ``Options``,
runs the semantic checks (drivers exist, buses match, roles complete, ids unique, addresses
free ...) and lets plugins check their own ``[plugins.<name>]`` tables through
``hal_board_loaded``. Every problem of a file is collected and raised together as one
:class:`~josev_hal.errors.ProfileError`, one line each::

    boards/x.toml:42: evse[0].devices.meter.options.baudrate: expected int, got "fast"

Line numbers are found by scanning the TOML text for the key path (best effort: a problem about a
missing key points at its table's header).
"""

from __future__ import annotations

import difflib
import enum
import itertools
import json
import re
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from josev_hal.devices import Role
from josev_hal.errors import ProfileError
from josev_hal.mqtt_settings import MqttSettings
from josev_hal.profile_layers import EXTENDS_KEY, merge_layers, read_layers

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = [
    "BusSpec",
    "CableCheckSettings",
    "CableKind",
    "ConnectorSpec",
    "ContactorSettings",
    "ControlMode",
    "CpSettings",
    "DcLimits",
    "DeratingSettings",
    "DeratingStep",
    "DeviceModelSettings",
    "DeviceSpec",
    "EvseKind",
    "EvseNorthbound",
    "EvseSpec",
    "FirmwareSettings",
    "Iso15118ConnectorType",
    "LimitsSettings",
    "LogsSettings",
    "MeterSettings",
    "NorthboundKind",
    "NorthboundSettings",
    "OcppConnectorType",
    "OperationsSettings",
    "PhaseSwitchingSettings",
    "PpSettings",
    "PpWindow",
    "Profile",
    "Protection",
    "RcdResetPolicy",
    "RcdSelfTestPolicy",
    "ResetMode",
    "ResetSettings",
    "SafetyDeclaration",
    "Service",
    "SessionsSettings",
    "StateSettings",
    "StationInfo",
    "board_json_schema",
    "check_profile",
    "load_profile",
    "load_profile_text",
    "required_roles",
]

# --------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------


class Protection(enum.StrEnum):
    """Who implements a protection: the board (hardware / safety MCU), the HAL, or nobody."""

    HARDWARE = "hardware"
    HAL = "hal"
    NONE = "none"


class RcdResetPolicy(enum.StrEnum):
    """After an RCD trip: wait for a person (``manual``) or let the HAL reset once CP is A."""

    MANUAL = "manual"
    AUTO = "auto"


class RcdSelfTestPolicy(enum.StrEnum):
    """When the HAL injects the RCD's test current (always with the contactor open)."""

    BEFORE_EACH_SESSION = "before_each_session"
    DAILY = "daily"
    OFF = "off"


class EvseKind(enum.StrEnum):
    AC = "ac"
    DC = "dc"


class NorthboundKind(enum.StrEnum):
    """Which charging stack an EVSE runs under (README "Running under EVerest")."""

    JOSEV = "josev"
    EVEREST = "everest"


class Service(enum.StrEnum):
    """Energy services of a connector, as ``cs_parameters`` names them."""

    AC = "ac"
    AC_BPT = "ac_bpt"
    DC = "dc"
    DC_BPT = "dc_bpt"


class ControlMode(enum.StrEnum):
    SCHEDULED = "scheduled"
    DYNAMIC = "dynamic"


class CableKind(enum.StrEnum):
    """``socket``: the EV driver brings the cable, PP is measured. ``fixed``: tethered cable."""

    SOCKET = "socket"
    FIXED = "fixed"


class Iso15118ConnectorType(enum.StrEnum):
    """ISO 15118 connector type (``cs_parameters`` ``connector_type``)."""

    AC_SINGLE_PHASE_CORE = "AC_single_phase_core"
    AC_THREE_PHASE_CORE = "AC_three_phase_core"
    DC_CORE = "DC_core"
    DC_EXTENDED = "DC_extended"
    DC_COMBO_CORE = "DC_combo_core"
    DC_UNIQUE = "DC_unique"


class OcppConnectorType(enum.StrEnum):
    """OCPP 2.0.1 ConnectorEnumType (``device_model`` ``connector_type``)."""

    C_CCS1 = "cCCS1"
    C_CCS2 = "cCCS2"
    C_G105 = "cG105"
    C_TESLA = "cTesla"
    C_TYPE1 = "cType1"
    C_TYPE2 = "cType2"
    S309_1P_16A = "s309-1P-16A"
    S309_1P_32A = "s309-1P-32A"
    S309_3P_16A = "s309-3P-16A"
    S309_3P_32A = "s309-3P-32A"
    S_BS1361 = "sBS1361"
    S_CEE_7_7 = "sCEE-7-7"
    S_TYPE2 = "sType2"
    S_TYPE3 = "sType3"
    OTHER_1PH_MAX_16A = "Other1PhMax16A"
    OTHER_1PH_OVER_16A = "Other1PhOver16A"
    OTHER_3PH = "Other3Ph"
    PAN = "Pan"
    W_INDUCTIVE = "wInductive"
    W_RESONANT = "wResonant"
    UNDETERMINED = "Undetermined"
    UNKNOWN = "Unknown"


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


class _Table(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every profile table: unknown keys are errors (a typo must never be ignored)."""


Volts = Annotated[float, msgspec.Meta(ge=-15.0, le=15.0)]
Band = tuple[Volts, Volts]
Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class StationInfo(_Table, kw_only=True):
    """``[station]``: identity reported in ``cs_parameters`` and ``device_model``."""

    vendor: Annotated[str, msgspec.Meta(min_length=1)]
    model: Annotated[str, msgspec.Meta(min_length=1)]
    serial_number: str = ""
    sw_version: Annotated[str, msgspec.Meta(min_length=1)]
    hw_version: Annotated[str, msgspec.Meta(min_length=1)]


class SafetyDeclaration(_Table, kw_only=True):
    """``[safety]``: which protections the board implements itself and which the HAL must provide.

    ``rcd_trip``: who opens the contactor on a residual-current trip (``hal`` requires an ``rcd``
    device on every AC EVSE). ``cp_loss_shutdown``: who opens on CP A/E/F. ``welding_detection``:
    who compares the mirror contact with the command. The HAL acts as a second channel even where
    the hardware is declared responsible.
    """

    rcd_trip: Protection
    cp_loss_shutdown: Protection
    welding_detection: Protection
    open_on_meter_loss: bool = False
    open_on_board_link_loss: bool = True
    rcd_reset: RcdResetPolicy = RcdResetPolicy.MANUAL
    #: RCD self-test: once per plug-in before the contactor may close (default), before a session
    #: when the last pass is 24 h old, or never by itself. A failure latches and blocks sessions.
    rcd_self_test: RcdSelfTestPolicy = RcdSelfTestPolicy.BEFORE_EACH_SESSION
    #: Soft overcurrent: a phase above the PWM's offer by more than this (after the grace period
    #: that follows every PWM change) opens the contactor with an ``overcurrent_fault``.
    overcurrent_tolerance_a: Annotated[float, msgspec.Meta(ge=0, le=50)] = 2.0
    overcurrent_grace_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 5.0


class CpSettings(_Table, kw_only=True):
    """``[cp]`` (and per-EVSE ``[evse.cp]``): control-pilot sampling and state detection.

    Bands are ``[low, high]`` volts of the positive plateau (IEC 61851-1 Table A.4 as chargebyte
    implements it); readings in the gaps between bands keep the previous state. A state change is
    accepted after ``debounce_samples`` consecutive agreeing samples.
    """

    pwm_frequency_hz: Annotated[float, msgspec.Meta(ge=980.0, le=1020.0)] = 1000.0
    sample_interval_ms: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    debounce_samples: Annotated[int, msgspec.Meta(ge=1, le=50)] = 2
    state_a_v: Band = (11.0, 13.0)
    state_b_v: Band = (8.0, 10.0)
    state_c_v: Band = (5.0, 7.0)
    state_d_v: Band = (2.0, 4.0)
    state_e_v: Band = (-1.0, 2.0)
    state_f_v: Band = (-13.0, -11.0)
    # A healthy EV diode leaves about -12 V on the negative plateau; a shorted one mirrors the
    # positive level (-8.8 V in B), so -10 V catches it where -6 V would not (hardware-facts §1.5).
    diode_check: bool = True
    diode_fault_above_v: Volts = -10.0


class PpWindow(_Table, kw_only=True):
    """One cable coding: resistances ``[min_ohm, max_ohm]`` mean ``ampacity_a``."""

    ampacity_a: Positive
    min_ohm: NonNegative
    max_ohm: Positive


def _default_pp_windows() -> list[PpWindow]:
    # Contiguous windows of IEC 61851-1 Annex B as Phoenix Contact interprets them (hardware-facts §2.1).
    return [
        PpWindow(ampacity_a=13.0, min_ohm=1000.0, max_ohm=2200.0),
        PpWindow(ampacity_a=20.0, min_ohm=330.0, max_ohm=1000.0),
        PpWindow(ampacity_a=32.0, min_ohm=150.0, max_ohm=330.0),
        PpWindow(ampacity_a=63.0, min_ohm=75.0, max_ohm=150.0),
    ]


class PpSettings(_Table, kw_only=True):
    """``[pp]``: proximity-pilot resistance windows (Type 2). Below ``fault_below_ohm`` is a PP
    fault; above ``no_cable_above_ohm`` means no cable."""

    windows: list[PpWindow] = msgspec.field(default_factory=_default_pp_windows)
    fault_below_ohm: NonNegative = 75.0
    no_cable_above_ohm: Positive = 2200.0
    #: A socket whose PP codes no cable while an EV is connected: no current is offered at once,
    #: and after this long it is a ``pp`` hardware fault (a plug being inserted may bounce).
    missing_fault_after_s: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.5


class ContactorSettings(_Table, kw_only=True):
    """``[contactor]``: the mirror contact must follow a command within ``feedback_timeout_ms``
    (chargebyte uses 250 ms); a later mismatch is a fault (welded / failed to close)."""

    feedback_timeout_ms: Annotated[int, msgspec.Meta(ge=10, le=10_000)] = 250
    #: A new closing waits this long after the last one (an EV toggling B/C must not chatter the
    #: contactor; chargebyte's Tarragon driver uses 10 s). 0 disables the rule.
    min_close_interval_s: Annotated[float, msgspec.Meta(ge=0, le=600)] = 10.0


class CableCheckSettings(_Table, kw_only=True):
    """``[cable_check]``: the DC cable check (IEC 61851-23). The module is current-limited to
    ``current_limit_a`` while the cable is tested; the test voltage is the lower of the EV's
    maximum (``ev_rated_limits``) and the EVSE's maximum, ``voltage_v`` while the EV's is unknown.
    Each step has its own timeout; a step that overruns fails the check."""

    current_limit_a: Annotated[float, msgspec.Meta(gt=0, le=20)] = 2.0
    voltage_v: Annotated[float, msgspec.Meta(gt=60, le=1500)] = 500.0
    ramp_tolerance_v: Annotated[float, msgspec.Meta(ge=0, le=100)] = 10.0
    discharge_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0
    close_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=10)] = 1.0
    ramp_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    self_test_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    measure_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 20.0


class MeterSettings(_Table, kw_only=True):
    """``[meter]``: ``meter_values`` update period, and the age after which a reading is stale
    (never sent as current)."""

    interval_s: Positive = 1.0
    stale_after_s: Positive = 3.0


class DeviceModelSettings(_Table, kw_only=True):
    """``[device_model]``: the OCPP settings answered to Josev's ``device_model`` request."""

    ocpp_version: Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"] = "ocpp2.0.1"
    ocpp_csms_url: Annotated[str, msgspec.Meta(pattern="^wss?://")] | None = None
    security_profile: Annotated[int, msgspec.Meta(ge=1, le=3)] = 1
    identity: str | None = None
    # A file, so that profiles can be committed without secrets.
    basic_auth_password_file: str | None = None
    default_message_timeout_s: Annotated[int, msgspec.Meta(ge=0)] | None = None


class StateSettings(_Table, kw_only=True):
    """``[state]``: where the HAL keeps persistent state (availability, firmware, keys, logs)."""

    dir: Annotated[str, msgspec.Meta(min_length=1)] = "/var/lib/josev-hal"


class ResetMode(enum.StrEnum):
    """When a ``reset`` request is carried out.

    The Josev ``reset`` request carries no OCPP reset type (Immediate/OnIdle): Josev forwards the
    request when the reset should happen, so the station decides. ``on_idle`` (the default) never
    cuts a running transaction: it blocks new sessions and waits for the running ones to end.
    ``immediate`` stops charging (contactors open through the normal interlocks) and resets.
    """

    ON_IDLE = "on_idle"
    IMMEDIATE = "immediate"


class ResetSettings(_Table, kw_only=True):
    """``[reset]``: when and how a ``reset`` request is carried out. *What* it does is decided by
    the ``hal_reset`` hook; the default policy runs ``command`` (an argv list, executed without a
    shell) for a station reset, else restarts the HAL."""

    command: Annotated[list[str], msgspec.Meta(min_length=1)] | None = None
    mode: ResetMode = ResetMode.ON_IDLE
    command_timeout_s: Positive = 60.0
    # Time between publishing the response and acting, so the response leaves the broker first.
    delay_s: NonNegative = 1.0
    # How long an "on idle" reset waits for transactions before giving up (0 = forever).
    max_wait_s: NonNegative = 0.0


class FirmwareSettings(_Table, kw_only=True):
    """``[firmware]``: limits and defaults for ``update_firmware``."""

    max_size_bytes: Annotated[int, msgspec.Meta(gt=0)] = 512 * 1024 * 1024
    # Socket timeout of every connect/read; a server that stalls longer fails the attempt.
    timeout_s: Positive = 30.0
    # Used when the request carries no retries / retry_interval.
    default_retries: Annotated[int, msgspec.Meta(ge=0)] = 2
    default_retry_interval_s: NonNegative = 30.0
    # Progress is logged every this many percent (or every 1 MiB when the size is unknown).
    progress_step_percent: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    # PEM file with the manufacturer root certificate(s); when set, the signing certificate of a
    # secure update must be issued directly by one of them.
    trusted_ca_file: str | None = None
    # Refuse unsigned updates (OCPP security profile 3 stations set this).
    require_signature: bool = False


class LogsSettings(_Table, kw_only=True):
    """``[logs]``: the HAL's own rotating log files and ``upload_logs``."""

    max_bytes: Annotated[int, msgspec.Meta(ge=4096)] = 5 * 1024 * 1024
    backup_count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    level: str = "INFO"
    # "PUT" sends the log file as the body; "POST" sends multipart/form-data (field "file").
    upload_method: str = "PUT"
    timeout_s: Positive = 30.0
    default_retries: Annotated[int, msgspec.Meta(ge=0)] = 2
    default_retry_interval_s: NonNegative = 30.0
    max_upload_bytes: Annotated[int, msgspec.Meta(gt=0)] = 64 * 1024 * 1024


class OperationsSettings(_Table, kw_only=True):
    """``[operations]``: the local control endpoint (status, metrics, operator actions, page).

    ``listen`` is ``host:port`` (port 0: any free port; the daemon writes the address it got into
    the state dir). Operator actions always need the token from ``<state dir>/operations.token``;
    on an address other than loopback every request needs it."""

    enabled: bool = True
    listen: Annotated[str, msgspec.Meta(pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")] = (
        "127.0.0.1:8765"
    )


class DeratingStep(_Table, kw_only=True):
    """One row of ``[derating] steps``: above ``above_c`` (hottest sensor) at most ``limit_a``."""

    above_c: Annotated[float, msgspec.Meta(ge=-40, le=200)]
    limit_a: Annotated[float, msgspec.Meta(ge=0, le=1000)]


class DeratingSettings(_Table, kw_only=True):
    """``[derating]``: temperature -> current limit for every EVSE with a ``temperature`` device.

    A step applies once the hottest sensor is above its ``above_c`` and is left only when the
    temperature falls ``hysteresis_k`` below it. Above ``stop_above_c`` the EVSE stops (limit 0 A)
    and reports a ``hardware_fault`` until it has cooled ``hysteresis_k`` below that. A sensor that
    cannot be read is a fault and stops the EVSE too (never a stale value). Read every
    ``interval_s`` seconds (josev_hal.derating)."""

    steps: list[DeratingStep] = msgspec.field(default_factory=list)
    hysteresis_k: Annotated[float, msgspec.Meta(ge=0, le=50)] = 5.0
    stop_above_c: Annotated[float, msgspec.Meta(ge=-40, le=200)] = 85.0
    interval_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0

    def __post_init__(self) -> None:
        for i in range(1, len(self.steps)):
            if self.steps[i].above_c <= self.steps[i - 1].above_c:
                raise ValueError(f"steps[{i}].above_c: must be above steps[{i - 1}].above_c")
            if self.steps[i].limit_a > self.steps[i - 1].limit_a:
                raise ValueError(f"steps[{i}].limit_a: a hotter step cannot allow more current")
        if self.steps and self.stop_above_c <= self.steps[-1].above_c:
            raise ValueError("stop_above_c: must be above the last step's above_c")


# An EVerest API module id is one MQTT topic level: no '/', '+', '#'.
ModuleId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class NorthboundSettings(_Table, kw_only=True):
    """``[northbound]``: the stack every EVSE runs under unless its ``[evse.northbound]`` says
    otherwise, and the EVerest link's communication monitoring (josev_hal.everest)."""

    kind: NorthboundKind = NorthboundKind.JOSEV
    # EVerest heartbeat silence after which the EVSE fails safe (contactor open, PWM off), until
    # discovery tells the real period (then 3 periods). Within cfg_communication_check_to_s (5 s).
    heartbeat_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 3.0
    # Interval of m2e/communication_check (halved period from discovery if that is shorter).
    communication_check_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0


class EvseNorthbound(_Table, kw_only=True):
    """``[evse.northbound]``: this EVSE's stack and, under EVerest, its API module ids (the
    module ids of the EVerest config; defaults bsp_<ocpp_id>, powermeter_<ocpp_id>,
    imd_<ocpp_id>, psu_<ocpp_id>, auth_<ocpp_id>)."""

    kind: NorthboundKind | None = None
    evse_board_support: ModuleId | None = None
    powermeter: ModuleId | None = None
    isolation_monitor: ModuleId | None = None
    power_supply_DC: ModuleId | None = None
    auth_token_provider: ModuleId | None = None


class BusSpec(msgspec.Struct, kw_only=True):
    """A ``[buses.<name>]`` table after loading: ``kind`` and that kind's ``Options`` Struct.

    In the file the options sit next to ``kind`` in the same table.
    """

    kind: str
    options: Any


class DeviceSpec(_Table, kw_only=True):
    """``[evse.devices.<role>]``: which driver plays the role, on which bus and address.

    ``options`` is the driver's own table; after loading it is the driver's ``Options`` Struct.
    ``connector`` names the connector the device serves (default: the whole EVSE).
    """

    driver: Annotated[str, msgspec.Meta(min_length=1)]
    bus: str | None = None
    address: Annotated[int, msgspec.Meta(ge=0)] | None = None
    connector: Annotated[int, msgspec.Meta(ge=1)] | None = None
    options: Any = msgspec.field(default_factory=dict)


class ConnectorSpec(_Table, kw_only=True):
    """``[[evse.connectors]]``: one connector (``id`` starts at 1 per EVSE)."""

    id: Annotated[int, msgspec.Meta(ge=1)]
    ocpp_type: OcppConnectorType
    iso15118_type: Iso15118ConnectorType
    services: Annotated[list[Service], msgspec.Meta(min_length=1)]
    control_mode: ControlMode = ControlMode.SCHEDULED
    cable: CableKind = CableKind.SOCKET
    max_cable_current_a: Positive | None = None


class DcLimits(_Table, kw_only=True):
    """``[evse.dc]``: output limits of a DC EVSE (V, A, W)."""

    max_voltage_v: Positive
    min_voltage_v: NonNegative
    max_current_a: Positive
    min_current_a: NonNegative
    max_power_w: Positive
    peak_current_ripple_a: NonNegative = 0.0
    current_reg_tolerance_a: NonNegative | None = None


class EvseSpec(_Table, kw_only=True):
    """``[[evse]]``: one EVSE (one power path) with its connectors and devices."""

    id: Annotated[str, msgspec.Meta(min_length=1)]
    ocpp_id: Annotated[int, msgspec.Meta(ge=1)]
    kind: EvseKind
    network_interface: Annotated[str, msgspec.Meta(min_length=1)]
    supports_eim: bool = False
    phases: Literal[1, 3] = 3
    nominal_voltage_v: Positive = 230.0
    max_current_a: Positive | None = None
    min_current_a: NonNegative = 6.0
    max_power_w: Positive | None = None
    #: The charging area is ventilated (IEC 61851-1 state D): only then does an EV that asks
    #: for ventilation (CP D2) get energy. Default false: D2 is refused with a reason.
    ventilation: bool = False
    #: When a station-wide limit (grid input, mains meter, station local limit) is shared,
    #: EVSEs with a higher priority are served first (josev_hal.station.limits.share).
    priority: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0
    #: 1p/3p switching with a phase_switch device (josev_hal.station.phases); None: fixed phases
    phase_switching: PhaseSwitchingSettings | None = None
    dc: DcLimits | None = None
    cp: CpSettings | None = None
    northbound: EvseNorthbound | None = None
    connectors: list[ConnectorSpec] = msgspec.field(default_factory=list)
    devices: dict[Role, DeviceSpec] = msgspec.field(default_factory=dict)


class PhaseSwitchingSettings(_Table, kw_only=True):
    """``[evse.phase_switching]``: switch L2/L3 with the ``phase_switch`` contactor when the
    station's power budget for this EVSE no longer allows the minimum current on three phases
    (and back with ``hysteresis_w`` above it). The sequence: PWM withdrawn, EV paused (at most
    ``pause_timeout_s``), main contactor open, phase contactor moved and confirmed (at most
    ``contactor_timeout_s``), ``settle_s``, PWM restored; switches at least
    ``min_switch_interval_s`` apart."""

    min_switch_interval_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 300.0
    pause_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 10.0
    contactor_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=10)] = 1.0
    settle_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 2.0
    hysteresis_w: Annotated[float, msgspec.Meta(ge=0)] = 500.0


class GridLimitSettings(_Table, kw_only=True):
    """``[limits.grid]``: while the ``grid_limit`` input is active the station draws at most
    ``active_limit_w`` (section 14a EnWG: 4200 W), shared over its EVSEs."""

    active_limit_w: Annotated[float, msgspec.Meta(ge=0)] = 4200.0


class SiteLimitSettings(_Table, kw_only=True):
    """``[limits.site]``: the grid connection's limit per phase, measured by the ``mains_meter``
    device; a mains meter silent for ``stale_after_s`` holds the EVSEs at 0 A."""

    max_current_a: Annotated[float, msgspec.Meta(gt=0)]
    stale_after_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 3.0


class LimitsSettings(_Table, kw_only=True):
    """``[limits]``: station-wide limits (josev_hal.station.energy). ``interval_s`` is how often
    they are re-evaluated -- the HAL's share of the reaction time."""

    interval_s: Annotated[float, msgspec.Meta(gt=0, le=10)] = 0.5
    grid: GridLimitSettings | None = None
    site: SiteLimitSettings | None = None


class OnJosevLostPolicy(enum.StrEnum):
    CONTINUE = "continue"
    STOP_AFTER_S = "stop_after_s"


class SessionsSettings(_Table, kw_only=True):
    """``[sessions]``: what an ongoing session does when Josev goes silent
    (josev_hal.station.offline). Basic AC charging continues by default; ISO 15118 sessions
    always stop after ``hlc_stop_after_s``."""

    on_josev_lost: OnJosevLostPolicy = OnJosevLostPolicy.CONTINUE
    stop_after_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 300.0
    hlc_stop_after_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 2.0
    probe_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 10.0
    probe_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 5.0


class Profile(_Table, kw_only=True):
    """A whole board profile (the TOML file's top level)."""

    station: StationInfo
    mqtt: MqttSettings = msgspec.field(default_factory=MqttSettings)
    safety: SafetyDeclaration
    cp: CpSettings = msgspec.field(default_factory=CpSettings)
    pp: PpSettings = msgspec.field(default_factory=PpSettings)
    contactor: ContactorSettings = msgspec.field(default_factory=ContactorSettings)
    cable_check: CableCheckSettings = msgspec.field(default_factory=CableCheckSettings)
    meter: MeterSettings = msgspec.field(default_factory=MeterSettings)
    device_model: DeviceModelSettings = msgspec.field(default_factory=DeviceModelSettings)
    state: StateSettings = msgspec.field(default_factory=StateSettings)
    reset: ResetSettings = msgspec.field(default_factory=ResetSettings)
    firmware: FirmwareSettings = msgspec.field(default_factory=FirmwareSettings)
    logs: LogsSettings = msgspec.field(default_factory=LogsSettings)
    operations: OperationsSettings = msgspec.field(default_factory=OperationsSettings)
    derating: DeratingSettings = msgspec.field(default_factory=DeratingSettings)
    limits: LimitsSettings = msgspec.field(default_factory=LimitsSettings)
    sessions: SessionsSettings = msgspec.field(default_factory=SessionsSettings)
    northbound: NorthboundSettings = msgspec.field(default_factory=NorthboundSettings)
    buses: dict[str, BusSpec] = msgspec.field(default_factory=dict)
    evse: list[EvseSpec] = msgspec.field(default_factory=list)
    # Free-form tables read by plugins in ``hal_board_loaded`` (``[plugins.<plugin name>]``).
    plugins: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)

    def northbound_of(self, evse: EvseSpec) -> NorthboundKind:
        """The stack ``evse`` runs under (its own ``[evse.northbound] kind`` or ``[northbound]``)."""
        own = evse.northbound.kind if evse.northbound is not None else None
        return own if own is not None else self.northbound.kind

    def evse_by_id(self, evse_id: str) -> EvseSpec:
        """The EVSE with this ISO 15118 id (KeyError when there is none)."""
        for evse in self.evse:
            if evse.id == evse_id:
                return evse
        raise KeyError(evse_id)

    def cp_settings(self, evse: EvseSpec) -> CpSettings:
        """The CP settings in force for ``evse`` (its own ``[evse.cp]`` or the station's ``[cp]``)."""
        return evse.cp if evse.cp is not None else self.cp


def required_roles(evse: EvseSpec, safety: SafetyDeclaration) -> tuple[Role, ...]:
    """The device roles ``evse`` cannot work without."""
    roles = [Role.CONTROL_PILOT, Role.CONTACTOR, Role.METER]
    if evse.kind is EvseKind.DC:
        roles += [Role.DC_POWER_MODULE, Role.ISOLATION_MONITOR]
    else:
        if any(c.cable is CableKind.SOCKET for c in evse.connectors):
            roles.append(Role.PROXIMITY_PILOT)  # the cable's rating caps the current
        if safety.rcd_trip is Protection.HAL:
            roles.append(Role.RCD)
    return tuple(roles)


# --------------------------------------------------------------------------------------------
# Problems and line numbers
# --------------------------------------------------------------------------------------------

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``("evse", 0, "devices", "meter")`` -> ``evse[0].devices.meter``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _show(value: Any) -> str:
    if isinstance(value, bool | int | float | str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[KeyPath, str]] = []

    def add(self, path: KeyPath, reason: str) -> None:
        self.items.append((path, reason))

    def __bool__(self) -> bool:
        return bool(self.items)


_AT = re.compile(r"^(?P<reason>.*) - at `\$(?P<at>.*)`$")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def _parse_at(at: str) -> KeyPath:
    parts: list[str | int] = []
    for m in _SEGMENT.finditer(at):
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
    return tuple(parts)


def _value_at(value: Any, path: KeyPath) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _msgspec_problem(exc: msgspec.ValidationError, raw: Any, path: KeyPath, problems: _Problems) -> None:
    text = str(exc)
    m = _AT.match(text)
    reason, sub = (m.group("reason"), _parse_at(m.group("at"))) if m else (text, ())
    unknown = re.match(r"Object contains unknown field `(.+)`", reason)
    missing = re.match(r"Object missing required field `(.+)`", reason)
    if unknown:
        problems.add(path + sub + (unknown.group(1),), "unknown key")
        return
    if missing:
        problems.add(path + sub + (missing.group(1),), "missing required key")
        return
    got = re.search(r", got `[^`]+`$", reason)
    if got:
        reason = reason[: got.start()] + f", got {_show(_value_at(raw, sub))}"
    reason = reason.replace("`", "")
    reason = reason[:1].lower() + reason[1:]
    problems.add(path + sub, reason)


def _key_lines(text: str) -> dict[KeyPath, int]:
    """Map key paths to the line that defines them, by scanning the TOML text (best effort)."""
    lines: dict[KeyPath, int] = {}
    counters: dict[KeyPath, int] = {}
    current: KeyPath = ()
    in_multiline: str | None = None

    def split_keys(dotted: str) -> list[str]:
        return [k.strip().strip("\"'") for k in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', dotted)]

    def resolve(keys: list[str]) -> KeyPath:
        out: KeyPath = ()
        for key in keys:
            out = (*out, key)
            if out in counters:
                out = (*out, counters[out])
        return out

    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if in_multiline:
            if in_multiline in stripped:
                in_multiline = None
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            keys = split_keys(stripped[2 : stripped.find("]]")])
            base = (*resolve(keys[:-1]), keys[-1])
            counters[base] = counters.get(base, -1) + 1
            current = (*base, counters[base])
            lines.setdefault(base, lineno)
            lines[current] = lineno
            continue
        if stripped.startswith("["):
            current = resolve(split_keys(stripped[1 : stripped.find("]")]))
            lines.setdefault(current, lineno)
            continue
        m = re.match(r'\s*((?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_\-.\s])+?)\s*=(.*)$', line)
        if not m:
            continue
        keypath = (*current, *split_keys(m.group(1)))
        lines.setdefault(keypath, lineno)
        value = m.group(2).strip()
        if value.startswith("{"):
            for inner in re.finditer(r"([A-Za-z0-9_\-]+)\s*=", value):
                lines.setdefault((*keypath, inner.group(1)), lineno)
        for quote in ('"""', "'''"):
            if value.startswith(quote) and value.count(quote) == 1:
                in_multiline = quote
    return lines


def _line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    for cut in range(len(path), 0, -1):
        line = lines.get(path[:cut])
        if line is not None:
            return line
    return None


def _format_problems(
    source: str, text: str, problems: _Problems, origins: dict[KeyPath, tuple[str, int]] | None = None
) -> list[str]:
    """``file:line: key.path: reason`` lines in file order. ``origins`` (a profile with
    ``extends``) says which file and line set each key path; else all come from ``text``."""
    if origins is None:
        origins = {path: (source, line) for path, line in _key_lines(text).items()}
    files: dict[str, int] = {}
    rendered: list[tuple[int, int, int, str]] = []
    for order, (path, reason) in enumerate(problems.items):
        found = next((origins[path[:cut]] for cut in range(len(path), 0, -1) if path[:cut] in origins), None)
        file, line = found if found is not None else (source, 0)
        where = f"{file}:{line}" if line else file
        rank = files.setdefault(file, len(files) if file != source else -1)
        rendered.append((rank, line, order, f"{where}: {format_path(path)}: {reason}"))
    return [text for *_, text in sorted(rendered)]


# --------------------------------------------------------------------------------------------
# Decoding: table by table, so that every problem of a file is found in one run
# --------------------------------------------------------------------------------------------

_FAILED: Any = object()


def _suggest(key: str, choices: Iterator[str] | list[str]) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    """The Struct class of ``T``, ``T | None`` or ``Annotated[T, ...]``; None for other types."""
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _struct_of(args[0])
    return None


def _list_struct_of(tp: Any) -> type[msgspec.Struct] | None:
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return _struct_of(item)
    return None


Special = Callable[[Any, KeyPath], Any]


def _convert_struct(
    raw: Any,
    cls: type[msgspec.Struct],
    path: KeyPath,
    problems: _Problems,
    special: dict[str, Special] | None = None,
) -> Any:
    """Convert ``raw`` into ``cls`` field by field, recording every problem; ``_FAILED`` on error."""
    if not isinstance(raw, dict):
        problems.add(path, f"expected a table, got {_show(raw)}")
        return _FAILED
    special = special or {}
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    forbid = getattr(cls.__struct_config__, "forbid_unknown_fields", False)
    ok = True
    if forbid:
        for key in raw:
            if key not in fields:
                problems.add((*path, key), "unknown key" + _suggest(key, list(fields)))
                ok = False
    values: dict[str, Any] = {}
    for key, info in fields.items():
        if key not in raw:
            if info.required:
                problems.add((*path, key), "missing required key")
                ok = False
            continue
        value = raw[key]
        sub = (*path, key)
        if info.name in special:
            result = special[info.name](value, sub)
        elif (inner := _struct_of(info.type)) is not None and value is not None:
            result = _convert_struct(value, inner, sub, problems)
        elif (item_cls := _list_struct_of(info.type)) is not None and isinstance(value, list):
            items = [_convert_struct(v, item_cls, (*sub, i), problems) for i, v in enumerate(value)]
            result = _FAILED if any(i is _FAILED for i in items) else items
        else:
            result = _convert_leaf(value, info.type, sub, problems)
        if result is _FAILED:
            ok = False
        else:
            values[info.name] = result
    if not ok:
        return _FAILED
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        # The Struct's own __post_init__ rules (e.g. a driver's or bus kind's option checks). By
        # convention "<field>: reason" names the field, so the problem points at its line.
        field, sep, reason = str(exc).partition(": ")
        if sep and field in fields:
            problems.add((*path, field), reason)
        else:
            problems.add(path, str(exc))
        return _FAILED


def _convert_leaf(value: Any, tp: Any, path: KeyPath, problems: _Problems) -> Any:
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        _msgspec_problem(exc, value, path, problems)
        return _FAILED


class _Loader:
    """One load: the raw document, the plugin manager and the problems found so far."""

    def __init__(self, raw: dict[str, Any], pm: HalPluginManager) -> None:
        self.raw = raw
        self.pm = pm
        self.problems = _Problems()
        #: Findings that do not stop a board from running (placeholders, malformed EVSE ids);
        #: `josev-hal check --strict` fails on them.
        self.warnings = _Problems()
        #: Every device whose driver and options converted, for the board-wide cross-checks.
        self.devices: list[tuple[KeyPath, DeviceSpec]] = []

    def load(self) -> Profile | None:
        profile = _convert_struct(
            self.raw,
            Profile,
            (),
            self.problems,
            special={"buses": self._buses, "evse": self._evses, "plugins": self._plugins},
        )
        # Cross-checks run on whatever converted, so that one wrong field elsewhere does not
        # hide a duplicate EVSE id or two devices on one pin.
        self._check_identities()
        self._check_hardware()
        self._check_placeholders(self.raw, ())
        if profile is _FAILED:
            return None
        assert isinstance(profile, Profile)
        self._check(profile)
        return profile

    # -- special tables ----------------------------------------------------------------------

    def _buses(self, raw: Any, path: KeyPath) -> Any:
        if not isinstance(raw, dict):
            self.problems.add(path, f"expected a table, got {_show(raw)}")
            return _FAILED
        buses: dict[str, BusSpec] = {}
        ok = True
        for name, table in raw.items():
            bus_path = (*path, name)
            if not isinstance(table, dict):
                self.problems.add(bus_path, f"expected a table, got {_show(table)}")
                ok = False
                continue
            kind = table.get("kind")
            if not isinstance(kind, str):
                reason = "missing required key" if kind is None else f"expected str, got {_show(kind)}"
                self.problems.add((*bus_path, "kind"), reason)
                ok = False
                continue
            bus_cls = self.pm.bus_kinds.get(kind)
            if bus_cls is None:
                failure = self.pm.failure_for_bus_kind(kind)
                known = sorted(self.pm.bus_kinds)
                self.problems.add(
                    (*bus_path, "kind"),
                    f"bus kind {kind!r} is not available: {failure.message()}"
                    if failure is not None
                    else f"unknown bus kind {kind!r}{_suggest(kind, known)}; "
                    f"known: {', '.join(known) or 'none'}" + _failed_plugins_note(self.pm),
                )
                ok = False
                continue
            options = {k: v for k, v in table.items() if k != "kind"}
            converted = _convert_struct(options, bus_cls.Options, bus_path, self.problems)
            if converted is _FAILED:
                ok = False
                continue
            buses[name] = BusSpec(kind=kind, options=converted)
        return buses if ok else _FAILED

    def _plugins(self, raw: Any, path: KeyPath) -> Any:
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            self.problems.add(path, "expected tables [plugins.<plugin name>]")
            return _FAILED
        return raw

    def _evses(self, raw: Any, path: KeyPath) -> Any:
        if not isinstance(raw, list):
            self.problems.add(path, f"expected an array of tables [[evse]], got {_show(raw)}")
            return _FAILED
        evses = [self._evse(table, (*path, i)) for i, table in enumerate(raw)]
        return _FAILED if any(e is _FAILED for e in evses) else evses

    def _evse(self, raw: Any, path: KeyPath) -> Any:
        return _convert_struct(raw, EvseSpec, path, self.problems, special={"devices": self._devices})

    def _devices(self, raw: Any, path: KeyPath) -> Any:
        if not isinstance(raw, dict):
            self.problems.add(path, f"expected a table, got {_show(raw)}")
            return _FAILED
        devices: dict[Role, DeviceSpec] = {}
        ok = True
        roles = [r.value for r in Role]
        for key, table in raw.items():
            dev_path = (*path, key)
            if key not in roles:
                self.problems.add(dev_path, f"unknown role{_suggest(key, roles)}; roles: {', '.join(roles)}")
                ok = False
                continue
            role = Role(key)
            spec = _convert_struct(
                table, DeviceSpec, dev_path, self.problems, special={"options": lambda v, p: v}
            )
            if spec is _FAILED:
                ok = False
                continue
            if not self._device_driver(role, spec, dev_path):
                ok = False
                continue
            devices[role] = spec
            self.devices.append((dev_path, spec))
        return devices if ok else _FAILED

    def _device_driver(self, role: Role, spec: DeviceSpec, path: KeyPath) -> bool:
        """Resolve the driver, check its role, convert ``options``; False on problems."""
        driver = self.pm.drivers.get(spec.driver)
        # the station meter is served by any meter driver
        role = Role.METER if role in (Role.STATION_METER, Role.MAINS_METER) else role
        role = Role.CONTACTOR if role is Role.PHASE_SWITCH else role
        if driver is None:
            failure = self.pm.failure_for_driver(spec.driver)
            if failure is not None:
                self.problems.add(
                    (*path, "driver"), f"driver {spec.driver!r} is not available: {failure.message()}"
                )
                return False
            known = sorted(n for n, d in self.pm.drivers.items() if d.role is role)
            self.problems.add(
                (*path, "driver"),
                f"unknown driver {spec.driver!r}{_suggest(spec.driver, list(self.pm.drivers))}; "
                f"drivers for role {role.value}: {', '.join(known) or 'none installed'}"
                + _failed_plugins_note(self.pm),
            )
            return False
        if driver.role is not role:
            self.problems.add(
                (*path, "driver"),
                f"driver {spec.driver!r} implements role {driver.role.value!r}, not {role.value!r}",
            )
            return False
        options = _convert_struct(spec.options, driver.Options, (*path, "options"), self.problems)
        if options is _FAILED:
            return False
        spec.options = options
        return True

    # -- semantic checks ---------------------------------------------------------------------

    def _check(self, profile: Profile) -> None:
        add = self.problems.add
        self._check_cp(profile.cp, ("cp",))
        self._check_pp(profile.pp)
        if profile.safety.cp_loss_shutdown is Protection.NONE:
            # IEC 61851-1 requires opening on CP loss; the HAL does it in any case, so "none"
            # would only be a false declaration.
            add(
                ("safety", "cp_loss_shutdown"),
                'must be "hardware" or "hal" (opening on CP loss is mandatory)',
            )
        if int(profile.operations.listen.rsplit(":", 1)[1]) > 65535:
            add(("operations", "listen"), "port must be 0..65535")
        if profile.meter.stale_after_s <= profile.meter.interval_s:
            add(("meter", "stale_after_s"), "must be greater than interval_s")
        if not profile.evse:
            add(("evse",), "a profile needs at least one [[evse]]")
        # Duplicate ids and addresses: _check_identities / _check_hardware (they run even when
        # the profile did not convert).
        for index, evse in enumerate(profile.evse):
            path: KeyPath = ("evse", index)
            if evse.cp is not None:
                self._check_cp(evse.cp, (*path, "cp"))
            self._check_evse(profile, evse, path)
            self._check_devices(profile, evse, path)
        for one in (Role.GRID_LIMIT, Role.MAINS_METER):
            holders = [i for i, e in enumerate(profile.evse) if one in e.devices]
            for index in holders[1:]:
                where = ("evse", index, "devices", one.value)
                add(where, f"a board has one {one.value} (also evse[{holders[0]}])")
        for index, e in enumerate(profile.evse):
            if e.phase_switching is not None and Role.PHASE_SWITCH not in e.devices:
                add(("evse", index, "phase_switching"), "needs a phase_switch device")
            if e.phase_switching is not None and e.phases != 3:
                add(("evse", index, "phase_switching"), "only for a three-phase EVSE (phases = 3)")
        roles = {role for e in profile.evse for role in e.devices}
        if profile.limits.site is not None and Role.MAINS_METER not in roles:
            add(("limits", "site"), "needs a mains_meter device (under one evse's devices)")
        if profile.limits.grid is not None and Role.GRID_LIMIT not in roles:
            add(("limits", "grid"), "needs a grid_limit device (under one evse's devices)")
        station_meters = [i for i, e in enumerate(profile.evse) if Role.STATION_METER in e.devices]
        for index in station_meters[1:]:
            add(
                ("evse", index, "devices", Role.STATION_METER.value),
                f"a board has one station meter (also evse[{station_meters[0]}])",
            )

    def _check_cp(self, cp: CpSettings, path: KeyPath) -> None:
        bands = [("state_f_v", cp.state_f_v), ("state_e_v", cp.state_e_v), ("state_d_v", cp.state_d_v)]
        bands += [("state_c_v", cp.state_c_v), ("state_b_v", cp.state_b_v), ("state_a_v", cp.state_a_v)]
        for name, (low, high) in bands:
            if low >= high:
                self.problems.add((*path, name), f"low ({low}) must be below high ({high})")
        for (name_lo, (_, hi_lo)), (name_hi, (lo_hi, _)) in itertools.pairwise(bands):
            if lo_hi < hi_lo:
                self.problems.add(
                    (*path, name_hi), f"overlaps {name_lo} (bands must be ordered F < E < D < C < B < A)"
                )

    def _check_pp(self, pp: PpSettings) -> None:
        windows = sorted(pp.windows, key=lambda w: w.min_ohm)
        for i, window in enumerate(pp.windows):
            if window.min_ohm >= window.max_ohm:
                self.problems.add(("pp", "windows", i), "min_ohm must be below max_ohm")
        for lower, upper in itertools.pairwise(windows):
            if upper.min_ohm < lower.max_ohm:
                self.problems.add(
                    ("pp", "windows"), f"windows for {lower.ampacity_a} A and {upper.ampacity_a} A overlap"
                )
        if windows and pp.fault_below_ohm > windows[0].min_ohm:
            self.problems.add(("pp", "fault_below_ohm"), "must not exceed the lowest window's min_ohm")
        if windows and pp.no_cable_above_ohm < windows[-1].max_ohm:
            self.problems.add(("pp", "no_cable_above_ohm"), "must not be below the highest window's max_ohm")

    def _check_evse(self, profile: Profile, evse: EvseSpec, path: KeyPath) -> None:
        add = self.problems.add
        if not evse.connectors:
            add((*path, "connectors"), "an EVSE needs at least one [[evse.connectors]]")
        allowed = {Service.AC, Service.AC_BPT} if evse.kind is EvseKind.AC else {Service.DC, Service.DC_BPT}
        seen: dict[int, int] = {}
        for ci, connector in enumerate(evse.connectors):
            cpath = (*path, "connectors", ci)
            if connector.id in seen:
                add(
                    (*cpath, "id"),
                    f"duplicate connector id {connector.id} (also connectors[{seen[connector.id]}])",
                )
            seen.setdefault(connector.id, ci)
            wrong = [s.value for s in connector.services if s not in allowed]
            if wrong:
                add((*cpath, "services"), f"{', '.join(wrong)} not possible on a {evse.kind.value} EVSE")
            if connector.iso15118_type.value.startswith("AC") != (evse.kind is EvseKind.AC):
                add((*cpath, "iso15118_type"), f"{connector.iso15118_type.value} on a {evse.kind.value} EVSE")
            if evse.kind is EvseKind.AC:
                single = connector.iso15118_type is Iso15118ConnectorType.AC_SINGLE_PHASE_CORE
                if single != (evse.phases == 1):
                    add(
                        (*cpath, "iso15118_type"),
                        f"{connector.iso15118_type.value} does not match phases = {evse.phases}",
                    )
            if connector.cable is CableKind.FIXED and connector.max_cable_current_a is None:
                add((*cpath, "max_cable_current_a"), "required for a fixed cable (there is no PP to read it)")
        if evse.kind is EvseKind.AC:
            if evse.max_current_a is None:
                add((*path, "max_current_a"), "required for an AC EVSE")
            elif evse.max_current_a < evse.min_current_a:
                add((*path, "max_current_a"), "must not be below min_current_a")
            if evse.dc is not None:
                add((*path, "dc"), "only for DC EVSEs")
        else:
            if evse.dc is None:
                add((*path, "dc"), "missing required table for a DC EVSE")
            else:
                if evse.dc.min_voltage_v >= evse.dc.max_voltage_v:
                    add((*path, "dc", "min_voltage_v"), "must be below max_voltage_v")
                if evse.dc.min_current_a >= evse.dc.max_current_a:
                    add((*path, "dc", "min_current_a"), "must be below max_current_a")
        for role in required_roles(evse, profile.safety):
            if role not in evse.devices:
                why = ""
                if role is Role.RCD:
                    why = ' (safety.rcd_trip = "hal")'
                elif role is Role.PROXIMITY_PILOT:
                    why = " (a socket connector needs the cable rating)"
                add((*path, "devices", role.value), f"missing device for required role {role.value!r}{why}")

    def _check_devices(self, profile: Profile, evse: EvseSpec, path: KeyPath) -> None:
        add = self.problems.add
        connector_ids = {c.id for c in evse.connectors}
        for role, device in evse.devices.items():
            dpath = (*path, "devices", role.value)
            driver = self.pm.drivers[device.driver]
            if device.connector is not None and device.connector not in connector_ids:
                add((*dpath, "connector"), f"no connector with id {device.connector} on this EVSE")
            if driver.bus_kind is None:
                if device.bus is not None:
                    add((*dpath, "bus"), f"driver {device.driver!r} does not use a bus")
            elif device.bus is None:
                add(
                    (*dpath, "bus"),
                    f"missing required key (driver {device.driver!r} needs a {driver.bus_kind} bus)",
                )
            elif device.bus not in profile.buses:
                known = list(profile.buses)
                add((*dpath, "bus"), f"no bus named {device.bus!r}{_suggest(device.bus, known)} in [buses]")
            elif profile.buses[device.bus].kind != driver.bus_kind:
                add(
                    (*dpath, "bus"),
                    f"bus {device.bus!r} is {_a(profile.buses[device.bus].kind)} bus, "
                    f"driver {device.driver!r} needs {driver.bus_kind}",
                )
            if driver.requires_address and device.address is None:
                add((*dpath, "address"), f"missing required key (driver {device.driver!r} needs an address)")

    # -- cross-checks that run even when the profile did not convert --------------------------

    def _check_identities(self) -> None:
        """Unique EVSE ids and OCPP ids, read from the raw tables (a type error elsewhere in an
        EVSE must not hide that two EVSEs share an id); ISO 15118 EVSE id format (warning)."""
        evses = self.raw.get("evse")
        if not isinstance(evses, list):
            return
        seen_ids: dict[str, int] = {}
        seen_ocpp: dict[int, int] = {}
        for index, table in enumerate(evses):
            if not isinstance(table, dict):
                continue
            path: KeyPath = ("evse", index)
            evse_id, ocpp_id = table.get("id"), table.get("ocpp_id")
            if isinstance(evse_id, str) and evse_id:
                if evse_id in seen_ids:
                    self.problems.add(
                        (*path, "id"), f"duplicate EVSE id {evse_id!r} (also evse[{seen_ids[evse_id]}])"
                    )
                seen_ids.setdefault(evse_id, index)
                if not _placeholder(evse_id) and not ISO15118_EVSE_ID.fullmatch(evse_id):
                    self.warnings.add(
                        (*path, "id"),
                        f"{evse_id!r} is not an ISO 15118 EVSE ID (<country>*<operator>*E<outlet>, "
                        "e.g. DE*ABC*E0001; ISO 15118-2 Annex H)",
                    )
            if isinstance(ocpp_id, int) and not isinstance(ocpp_id, bool):
                if ocpp_id in seen_ocpp:
                    self.problems.add(
                        (*path, "ocpp_id"), f"duplicate ocpp_id {ocpp_id} (also evse[{seen_ocpp[ocpp_id]}])"
                    )
                seen_ocpp.setdefault(ocpp_id, index)

    def _check_hardware(self) -> None:
        """What driver and bus setup would refuse, without hardware: each driver's
        :meth:`~josev_hal.devices.Driver.config_problems`, the bus kind's address range, and
        clashes across devices -- one address used by two devices that cannot share it, one
        pin or channel claimed twice (:meth:`~josev_hal.devices.Driver.claims`)."""
        raw_buses = self.raw.get("buses")
        bus_kinds: dict[str, Any] = (
            {name: t.get("kind") for name, t in raw_buses.items() if isinstance(t, dict)}
            if isinstance(raw_buses, dict)
            else {}
        )
        used: dict[tuple[str, int], tuple[KeyPath, str]] = {}
        claimed: dict[tuple[str, int, str, int], tuple[KeyPath, str]] = {}
        for dpath, device in self.devices:
            driver = self.pm.drivers.get(device.driver)
            if driver is None:
                continue
            for key, reason in driver.config_problems(device.options, device.address):
                self.problems.add((*dpath, *_split_plain(key)), reason)
            kind = bus_kinds.get(device.bus) if device.bus is not None else None
            bus_cls = self.pm.bus_kinds.get(kind) if isinstance(kind, str) else None
            if bus_cls is not None and device.address is not None:
                problem = bus_cls.address_problem(device.address)
                if problem:
                    self.problems.add((*dpath, "address"), problem)
            if device.bus is None:
                continue
            if device.address is not None:
                other = used.get((device.bus, device.address))
                if other is None:
                    used[(device.bus, device.address)] = (dpath, device.driver)
                elif not (
                    driver.address_shareable
                    and getattr(self.pm.drivers.get(other[1]), "address_shareable", False)
                ):
                    self.problems.add(
                        (*dpath, "address"),
                        f"address {device.address} on bus {device.bus!r} is already used by "
                        f"{format_path(other[0])}",
                    )
            try:
                claims = driver.claims(device.options, device.address)
            except Exception as exc:  # a plugin's claims() must not take the check down
                self.problems.add((*dpath, "driver"), f"driver {device.driver!r}: claims() failed: {exc}")
                continue
            for claim in claims:
                slot = (device.bus, claim.address, claim.kind, claim.number)
                holder = claimed.get(slot)
                if holder is None:
                    claimed[slot] = (dpath, claim.key)
                elif holder[0] != dpath:
                    self.problems.add(
                        (*dpath, "options", claim.key),
                        f"{claim.kind} {claim.number} of the chip at 0x{claim.address:02x} on bus "
                        f"{device.bus!r} is already used by "
                        f"{format_path((*holder[0], 'options', holder[1]))}",
                    )
                else:
                    self.problems.add(
                        (*dpath, "options", claim.key),
                        f"{claim.kind} {claim.number} is also this device's {holder[1]}",
                    )

    def _check_placeholders(self, value: Any, path: KeyPath) -> None:
        """Values a draft left for a person to fill in (``CHANGE-ME``, ``XXX``): warnings."""
        if isinstance(value, dict):
            for key, item in value.items():
                self._check_placeholders(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_placeholders(item, (*path, index))
        elif isinstance(value, str) and _placeholder(value):
            self.warnings.add(path, f"placeholder value {value!r}: replace it with the real one")

    def plugin_problems(self, profile: Profile, source: str) -> None:
        # A plugin configured through [plugins.<name>] must see its table even when the board
        # uses none of its drivers (it was not imported yet).
        for name in profile.plugins:
            if name in self.pm.deferred:
                self.pm.load_plugin(name)
        for result in self.pm.hook.hal_board_loaded(profile=profile, source=source):
            for problem in result or ():
                key, sep, reason = str(problem).partition(": ")
                if sep:
                    self.problems.add(tuple(_split_plain(key)), reason)
                else:
                    self.problems.add(("plugins",), str(problem))


#: ISO 15118-2 Annex H / DIN SPEC 91286 EVSE ID: country code, optional ``*``, 3-character
#: operator id, optional ``*``, ``E`` and the outlet id (letters, digits, ``*``); at most 37
#: characters in all. ``ZZ00000`` is ISO 15118-2's value for "no EVSE ID".
ISO15118_EVSE_ID = re.compile(r"(?:[A-Z]{2}\*?[A-Z0-9]{3}\*?E[A-Z0-9][A-Z0-9*]{0,29}|ZZ00000)")
_PLACEHOLDER = re.compile(r"CHANGE-?ME|\bX{3,}\b|\*X{3}\*", re.IGNORECASE)


def _placeholder(text: str) -> bool:
    return bool(_PLACEHOLDER.search(text))


def _a(word: str) -> str:
    """``"an i2c"``, ``"a serial"``: the article as the word is spoken (i-two-c, es-cee ...)."""
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def _failed_plugins_note(pm: HalPluginManager) -> str:
    """For "unknown driver": plugins that failed to load might have provided it."""
    if not pm.failures:
        return ""
    return " (not loaded because they failed: " + "; ".join(f.message() for f in pm.failures) + ")"


def _split_plain(dotted: str) -> list[str | int]:
    parts: list[str | int] = []
    for m in re.finditer(r"([^.\[\]]+)|\[(\d+)\]", dotted):
        parts.append(int(m.group(2)) if m.group(2) is not None else m.group(1))
    return parts


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def load_profile_text(
    text: str, source_name: str, pm: HalPluginManager, *, warnings: list[str] | None = None
) -> Profile:
    """Decode and check a profile given as text (``source_name`` is used in messages).

    ``warnings``, when given, receives the findings that do not stop a board (placeholders left
    by a draft, a malformed ISO 15118 EVSE ID) as ``file:line: key.path: warning: ...`` lines.
    """
    try:
        raw = msgspec.toml.decode(text.encode())
    except msgspec.DecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        where = f"{source_name}:{m.group(1)}" if m else source_name
        raise ProfileError([f"{where}: TOML syntax error: {exc}"], path=source_name) from exc
    origins: dict[KeyPath, tuple[str, int]] | None = None
    if isinstance(raw, dict) and EXTENDS_KEY in raw:
        # A variant: merge it over its base(s) and validate the result as one profile.
        raw, origins = merge_layers(read_layers(raw, text, source_name, _key_lines), _key_lines)
    loader = _Loader(raw, pm)
    profile = loader.load()
    if profile is not None and not loader.problems:
        loader.plugin_problems(profile, source_name)
    if warnings is not None:
        found = _Problems()
        for path, reason in loader.warnings.items:
            found.add(path, f"warning: {reason}")
        warnings.extend(_format_problems(source_name, text, found, origins))
    if loader.problems or profile is None:
        raise ProfileError(_format_problems(source_name, text, loader.problems, origins), path=source_name)
    return profile


def load_profile(path: str | Path, pm: HalPluginManager, *, warnings: list[str] | None = None) -> Profile:
    """Load and check the board profile at ``path``; raise :class:`ProfileError` listing every problem
    (``warnings``: see :func:`load_profile_text`)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([f"{source}: cannot read: {exc}"], path=source) from exc
    return load_profile_text(text, source, pm, warnings=warnings)


def check_profile(path: str | Path, pm: HalPluginManager) -> list[str]:
    """Every problem of the profile at ``path`` (``[]`` when it is valid), as ``josev-hal check``
    prints them."""
    try:
        load_profile(path, pm)
    except ProfileError as exc:
        return list(exc.problems)
    return []


def board_json_schema(pm: HalPluginManager | None = None) -> dict[str, Any]:
    """JSON Schema (2020-12) of the board profile, for editor completion.

    Without ``pm`` (what ``schemas/board.schema.json`` holds) bus and device ``options`` are open
    objects, because they depend on the installed plugins. With ``pm`` the schema also knows every
    installed bus kind's and driver's options (``josev-hal plugins --board-schema FILE``).
    ``load_profile`` validates options either way.
    """
    option_types: list[Any] = []
    if pm is not None:
        option_types = [cls.Options for cls in pm.bus_kinds.values()] + [
            cls.Options for cls in pm.drivers.values()
        ]
    (schema, *option_refs), defs = msgspec.json.schema_components(
        [Profile, *option_types], ref_template="#/$defs/{name}"
    )
    bus: dict[str, Any] = {
        "title": "BusSpec",
        "description": "A [buses.<name>] table: kind (serial, i2c, can, or a plugin's kind) plus that kind's "
        "options in the same table.",
        "type": "object",
        "properties": {"kind": {"type": "string"}},
        "required": ["kind"],
        "additionalProperties": True,
    }
    device = defs["DeviceSpec"]
    device["properties"]["options"] = {
        "type": "object",
        "description": "The driver's own options (its Options Struct).",
    }
    defs["EvseSpec"]["properties"]["devices"]["propertyNames"] = {"enum": [role.value for role in Role]}
    # Read before decoding (josev_hal.profile_layers), so it is not a Profile field.
    defs["Profile"]["properties"][EXTENDS_KEY] = {
        "type": "string",
        "description": "A base profile (path relative to this file) that this one is merged over: tables "
        "key by key, [[...]] entries with an id by id, everything else replaced.",
    }
    if pm is not None:
        bus_refs = option_refs[: len(pm.bus_kinds)]
        driver_refs = option_refs[len(pm.bus_kinds) :]
        bus["properties"]["kind"] = {"enum": sorted(pm.bus_kinds)}
        bus["allOf"] = []
        for kind, ref in zip(pm.bus_kinds, bus_refs, strict=True):
            options = defs[ref["$ref"].rsplit("/", 1)[1]]
            # The options sit next to "kind" in the same table, so the kind's schema is inlined
            # with "kind" added rather than referenced.
            then = {
                "properties": {**options.get("properties", {}), "kind": {"const": kind}},
                "additionalProperties": False,
            }
            if options.get("required"):
                then["required"] = options["required"]
            bus["allOf"].append({"if": {"properties": {"kind": {"const": kind}}}, "then": then})
        device["properties"]["driver"] = {"enum": sorted(pm.drivers)}
        device["allOf"] = [
            {
                "if": {"properties": {"driver": {"const": name}}, "required": ["driver"]},
                "then": {"properties": {"options": ref}},
            }
            for name, ref in zip(pm.drivers, driver_refs, strict=True)
        ]
    defs["BusSpec"] = bus
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "josev-hal board profile",
        **schema,
        "$defs": defs,
    }
