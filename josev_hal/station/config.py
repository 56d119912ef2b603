"""Settings of the station core, decoupled from the TOML profile layout.

:class:`EvseSettings` holds everything one :class:`~josev_hal.station.evse.EvseController` needs;
:func:`josev_hal.station.station.settings_from_profile` fills it from a board profile. Keeping the
core on these plain dataclasses lets tests and benchmarks build controllers without a profile file,
and keeps profile-format changes in one adapter.
"""

from __future__ import annotations

import enum

import msgspec

from josev_hal.devices import DcCapabilities
from josev_hal.station.cp import CpThresholds
from josev_hal.station.pp import PpWindows

__all__ = [
    "CableCheckSettings",
    "ConnectorSettings",
    "EvseKind",
    "EvseSettings",
    "RcdResetPolicy",
    "SafetySettings",
    "WeldingDetection",
]


class EvseKind(enum.StrEnum):
    AC = "ac"
    DC = "dc"


class RcdResetPolicy(enum.StrEnum):
    """``manual``: a tripped RCD stays latched until :meth:`EvseController.reset_rcd`;
    ``auto``: the core resets it once the EV is unplugged (CP A) and the module reads clear."""

    MANUAL = "manual"
    AUTO = "auto"


class WeldingDetection(enum.StrEnum):
    """Who checks the contactor for welding: the board ("hardware"), the core ("hal"), nobody."""

    HARDWARE = "hardware"
    HAL = "hal"
    NONE = "none"


class CableCheckSettings(msgspec.Struct, frozen=True):
    """The profile's ``[cable_check]`` table (timeouts per step, in seconds)."""

    current_limit_a: float = 2.0
    voltage_v: float = 500.0  #: test voltage while the EV's maximum is unknown (capped by the EVSE)
    ramp_tolerance_v: float = 10.0  #: "at voltage" = within this of the test voltage
    discharge_timeout_s: float = 2.0
    close_timeout_s: float = 1.0
    ramp_timeout_s: float = 10.0
    self_test_timeout_s: float = 10.0
    measure_timeout_s: float = 20.0


class SafetySettings(msgspec.Struct, frozen=True):
    """The profile's ``[safety]`` table (the board's safety declaration)."""

    rcd_trip: str = "hardware"  # who opens on an RCD trip first: "hardware" or "hal"
    cp_loss_shutdown: str = "hal"
    welding_detection: WeldingDetection = WeldingDetection.HAL
    open_on_meter_loss: bool = False
    open_on_board_link_loss: bool = True
    rcd_reset: RcdResetPolicy = RcdResetPolicy.MANUAL
    #: "before_each_session" | "daily" | "off" (see :mod:`josev_hal.station.rcd`)
    rcd_self_test: str = "before_each_session"
    #: soft overcurrent (see :mod:`josev_hal.station.ac`): a phase may exceed the offered current
    #: by this much, and the EV gets this long after every PWM change to follow it
    overcurrent_tolerance_a: float = 2.0
    overcurrent_grace_s: float = 5.0


class ConnectorSettings(msgspec.Struct, frozen=True):
    id: int
    cable: str = "socket"  # "socket": PP measured; "fixed": max_cable_current_a applies
    max_cable_current_a: float | None = None
    iso15118_type: str = "AC_three_phase_core"


class EvseSettings(msgspec.Struct, frozen=True):
    """Everything one EVSE controller needs (units in the names)."""

    evse_id: str
    kind: EvseKind = EvseKind.AC
    phases: int = 3
    nominal_voltage_v: float = 230.0
    max_current_a: float = 32.0
    #: profile ``[evse] ventilation``: the charging area is ventilated, so CP D2 may be supplied
    ventilation: bool = False
    connectors: tuple[ConnectorSettings, ...] = (ConnectorSettings(1),)
    safety: SafetySettings = msgspec.field(default_factory=SafetySettings)
    cp_thresholds: CpThresholds = msgspec.field(default_factory=CpThresholds)
    cp_sample_interval_s: float = 0.05
    cp_debounce_samples: int = 2
    pp_windows: PpWindows = msgspec.field(default_factory=PpWindows)
    contactor_feedback_timeout_s: float = 0.25
    #: ``[contactor] min_close_interval_s``: a new closing waits this long after the last one
    #: (an EV toggling B/C must not chatter the contactor; chargebyte's Tarragon driver: 10 s)
    min_close_interval_s: float = 10.0
    #: a socket whose PP codes no cable while an EV is connected is a ``pp`` fault after this long
    pp_fault_after_s: float = 0.5
    #: socket connector lock: a lock whose feedback has not followed the command after this long
    #: is a hardware fault (locks take ~1 s); a lock without feedback counts as locked after
    #: ``lock_settle_s``.
    lock_timeout_s: float = 2.0
    lock_settle_s: float = 1.0
    meter_interval_s: float = 1.0
    meter_stale_after_s: float = 3.0
    #: AC basic charging without an authorization (the profile's free-charging switch).
    free_charging: bool = False
    #: AC: start the basic-charging PWM by itself once the session is authorized and no cp_pwm
    #: from Josev arrived in this session (MESSAGES.md §2.4 leaves the sender of cp_pwm open).
    auto_basic_pwm: bool = True
    #: DC pre-charge current limit [A] (ISO 15118 limits pre-charge to 2 A).
    precharge_current_a: float = 2.0
    #: DC present values: publish cs_status_and_limits when V or I moved more than this.
    dc_report_deadband_v: float = 1.0
    dc_report_deadband_a: float = 0.5
    #: DC: voltage ripple and regulation tolerance advertised in cs_status_and_limits [A].
    dc_peak_current_ripple_a: float = 1.0
    dc_current_reg_tolerance_a: float | None = None
    #: DC: the EVSE's own output limits (profile ``[evse.dc]``: cable, connector, fuse); the
    #: power module's capabilities are capped by them.
    dc_limits: DcCapabilities | None = None
    #: DC cable check (IEC 61851-23): current limit, default test voltage, per-step timeouts
    cable_check: CableCheckSettings = msgspec.field(default_factory=CableCheckSettings)
