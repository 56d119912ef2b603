"""The board profile format: the Structs below *are* the format.

``schemas/board.schema.json`` is generated from them (:mod:`josev_hal.profile.schema`); the loader
(:mod:`josev_hal.profile.loader`) converts a TOML document into them table by table.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

import msgspec

from josev_hal.devices import Role
from josev_hal.mqtt_settings import MqttSettings

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
    "GridLimitSettings",
    "Iso15118ConnectorType",
    "LimitsSettings",
    "LogsSettings",
    "MeterSettings",
    "NorthboundKind",
    "NorthboundSettings",
    "OcppConnectorType",
    "OnJosevLostPolicy",
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
    "SiteLimitSettings",
    "StateSettings",
    "StationInfo",
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
