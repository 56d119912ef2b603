"""Board profiles: one validated TOML file describes a whole station.

The package, by what each module does:

* :mod:`~josev_hal.profile.format` -- the Structs that *are* the profile format;
* :mod:`~josev_hal.profile.loader` -- :func:`load_profile`: TOML -> :class:`Profile`, every problem
  of a file raised together as one :class:`~josev_hal.errors.ProfileError`;
* :mod:`~josev_hal.profile.convert` -- table-by-table decoding that records every problem;
* :mod:`~josev_hal.profile.checks` -- semantic and board-wide checks (drivers, roles, ids, addresses);
* :mod:`~josev_hal.profile.lines` -- key paths, TOML line numbers, ``file:line: key.path: reason``;
* :mod:`~josev_hal.profile.layers` -- ``extends``: a variant merged over its base profile(s);
* :mod:`~josev_hal.profile.schema` -- the JSON Schema (``schemas/board.schema.json``).

Callers import from here (``from josev_hal.profile import Profile, load_profile``). A problem reads::

    boards/x.toml:42: evse[0].devices.meter.options.baudrate: expected int, got "fast"
"""

from josev_hal.profile.checks import ISO15118_EVSE_ID
from josev_hal.profile.format import (
    BusSpec,
    CableCheckSettings,
    CableKind,
    ConnectorSpec,
    ContactorSettings,
    ControlMode,
    CpSettings,
    DcLimits,
    DeratingSettings,
    DeratingStep,
    DeviceModelSettings,
    DeviceSpec,
    EvseKind,
    EvseNorthbound,
    EvseSpec,
    FirmwareSettings,
    GridLimitSettings,
    Iso15118ConnectorType,
    LimitsSettings,
    LogsSettings,
    MeterSettings,
    NorthboundKind,
    NorthboundSettings,
    OcppConnectorType,
    OnJosevLostPolicy,
    OperationsSettings,
    PhaseSwitchingSettings,
    PpSettings,
    PpWindow,
    Profile,
    Protection,
    RcdResetPolicy,
    RcdSelfTestPolicy,
    ResetMode,
    ResetSettings,
    SafetyDeclaration,
    Service,
    SessionsSettings,
    SiteLimitSettings,
    StateSettings,
    StationInfo,
    required_roles,
)
from josev_hal.profile.lines import KeyPath, format_path
from josev_hal.profile.loader import check_profile, load_profile, load_profile_text
from josev_hal.profile.schema import board_json_schema

__all__ = [
    "ISO15118_EVSE_ID",
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
    "KeyPath",
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
    "board_json_schema",
    "check_profile",
    "format_path",
    "load_profile",
    "load_profile_text",
    "required_roles",
]
