"""Map a driver's fault names to the contract's ``hardware_fault`` ``fault_name`` enum.

Drivers report readable names from their status/alarm bits (``DcSample.faults``:
``"output_short_circuit"``, ``"input_phase_lost"`` ...). Josev only knows the eight
:class:`~josev_hal.messages.payloads.HardwareFaultName` values, and OCPP turns them into
different operator actions, so the mapping is an explicit table rather than a substring guess
(``output_short_circuit`` is an overcurrent condition although its name does not say
"current"). Names not in the table are ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable

from josev_hal.messages import payloads as p

__all__ = ["FAULT_NAME_TABLE", "contract_fault_name", "contract_fault_name_of"]

_N = p.HardwareFaultName

#: Driver fault name -> contract fault name. Lower-case, as drivers report them.
FAULT_NAME_TABLE: dict[str, p.HardwareFaultName] = {
    # overcurrent: the output (or the input) carries more current than allowed
    "output_short_circuit": _N.OVERCURRENT_FAULT,
    "short_circuit": _N.OVERCURRENT_FAULT,
    "overcurrent": _N.OVERCURRENT_FAULT,
    "output_overcurrent": _N.OVERCURRENT_FAULT,
    "input_overcurrent": _N.OVERCURRENT_FAULT,
    # insulation / earth: a path to ground exists
    "isolation": _N.GROUND_FAULT,
    "isolation_fault": _N.GROUND_FAULT,
    "insulation_fault": _N.GROUND_FAULT,
    "ground_fault": _N.GROUND_FAULT,
    "earth_fault": _N.GROUND_FAULT,
    "residual_current": _N.GROUND_FAULT,
    # emergency stop
    "emergency_stop": _N.EMERGENCY_STOP,
    "estop": _N.EMERGENCY_STOP,
    # the grid input is present but out of tolerance
    "input_undervoltage": _N.POWER_QUALITY,
    "input_overvoltage": _N.POWER_QUALITY,
    "input_unbalanced": _N.POWER_QUALITY,
    "input_frequency": _N.POWER_QUALITY,
    "power_quality": _N.POWER_QUALITY,
    # the grid input is (partly) gone
    "input_phase_lost": _N.POWER_LOSS,
    "phase_loss": _N.POWER_LOSS,
    "input_power_loss": _N.POWER_LOSS,
    "mains_loss": _N.POWER_LOSS,
    "power_loss": _N.POWER_LOSS,
    # the device restarted on its own
    "reboot": _N.REBOOT,
    "module_reset": _N.REBOOT,
    "energy_limit_reached": _N.ENERGY_LIMIT_REACHED,
}

#: When several faults are active at once, the one reported is the most specific/severe.
_PRIORITY: tuple[p.HardwareFaultName, ...] = (
    _N.EMERGENCY_STOP,
    _N.GROUND_FAULT,
    _N.OVERCURRENT_FAULT,
    _N.POWER_LOSS,
    _N.POWER_QUALITY,
    _N.ENERGY_LIMIT_REACHED,
    _N.REBOOT,
    _N.OTHER,
)


def contract_fault_name(name: str) -> p.HardwareFaultName:
    """The contract fault name for one driver fault name (``other`` when not in the table)."""
    return FAULT_NAME_TABLE.get(name.strip().lower(), _N.OTHER)


def contract_fault_name_of(names: Iterable[str]) -> p.HardwareFaultName:
    """The contract fault name for a set of simultaneous driver faults (highest priority wins)."""
    mapped = {contract_fault_name(n) for n in names}
    for candidate in _PRIORITY:
        if candidate in mapped:
            return candidate
    return _N.OTHER
