"""The station core: IEC 61851 state machine, safety interlocks and the power-path messages.

* :mod:`~josev_hal.station.interlocks` -- the pure "may close / must open, and why"
* :mod:`~josev_hal.station.evse` -- :class:`EvseController`, one per EVSE: the evaluate step
* its collaborators, one rule each: :mod:`~josev_hal.station.inputs` (CP/PP sampling),
  :mod:`~josev_hal.station.session`, :mod:`~josev_hal.station.ac` (CP output, C2 -> C1,
  overcurrent), :mod:`~josev_hal.station.dc` (cable check, pre-charge),
  :mod:`~josev_hal.station.contactor`, :mod:`~josev_hal.station.rcd`,
  :mod:`~josev_hal.station.faults`, :mod:`~josev_hal.station.josev` (requests),
  :mod:`~josev_hal.station.reporting`, :mod:`~josev_hal.station.outbox`,
  :mod:`~josev_hal.station.plug_lock`
* :mod:`~josev_hal.station.cp` -- CP plateau classification, debounce, x1/x2, diode check
* :mod:`~josev_hal.station.pwm` -- IEC 61851 duty cycle <-> current
* :mod:`~josev_hal.station.pp` -- PP resistance -> cable ampacity
* :mod:`~josev_hal.station.scheduler` -- one sampling thread per board
* :mod:`~josev_hal.station.station` -- :class:`Station`, wiring profile, board and bridge
"""

from josev_hal.station.config import ConnectorSettings, EvseKind, EvseSettings, SafetySettings
from josev_hal.station.evse import EvseController, EvseDevices, Fault
from josev_hal.station.interlocks import Blocker, Decision, InterlockInputs, decide
from josev_hal.station.station import Station, settings_from_profile

__all__ = [
    "Blocker",
    "ConnectorSettings",
    "Decision",
    "EvseController",
    "EvseDevices",
    "EvseKind",
    "EvseSettings",
    "Fault",
    "InterlockInputs",
    "SafetySettings",
    "Station",
    "decide",
    "settings_from_profile",
]
