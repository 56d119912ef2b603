"""IEC 61851-1 duty cycle <-> current (hardware-facts §1.6).

The EVSE advertises the current it allows with the PWM duty cycle; 5 % means "use high-level
communication" (ISO 15118 / DIN 70121). These functions are the single place where the two
piecewise formulas live, so the CP generator, the ``cp_pwm`` handler and the tests agree.
"""

from __future__ import annotations

import math

__all__ = [
    "HLC_DUTY_PERCENT",
    "MAX_BASIC_CURRENT_A",
    "MIN_BASIC_CURRENT_A",
    "current_from_duty",
    "duty_from_current",
]

#: Duty cycle that requests digital communication (nominal 5 %).
HLC_DUTY_PERCENT = 5.0
#: Lowest current IEC 61851 basic charging can advertise.
MIN_BASIC_CURRENT_A = 6.0
#: Highest current IEC 61851 basic charging can advertise.
MAX_BASIC_CURRENT_A = 80.0
#: Above this current the second (steeper) formula applies.
_KNEE_A = 51.0


def duty_from_current(current_a: float) -> float:
    """Duty cycle in percent that advertises ``current_a`` (6..80 A).

    6..51 A: ``I / 0.6``; 51..80 A: ``I / 2.5 + 64``. Raises :class:`ValueError` outside 6..80 A
    (the standard cannot express it; 0 A is "no PWM", which the caller handles as X1).
    """
    if not math.isfinite(current_a) or not MIN_BASIC_CURRENT_A <= current_a <= MAX_BASIC_CURRENT_A:
        raise ValueError(
            f"current {current_a!r} A cannot be advertised by PWM "
            f"(IEC 61851 basic charging covers {MIN_BASIC_CURRENT_A:g}..{MAX_BASIC_CURRENT_A:g} A)"
        )
    if current_a <= _KNEE_A:
        return current_a / 0.6
    return current_a / 2.5 + 64.0


def current_from_duty(duty_percent: float) -> float | None:
    """What an EV reads from ``duty_percent`` (the EV-side interpretation table).

    Returns the allowed current in A, or ``None`` when the duty allows no basic charging
    (< 8 %: F/E, digital communication or error band; > 97 %: X1).
    """
    d = duty_percent
    if not math.isfinite(d) or d < 8.0 or d > 97.0:
        return None
    if d < 10.0:
        return 6.0
    if d <= 85.0:
        return d * 0.6
    if d <= 96.0:
        return (d - 64.0) * 2.5
    return 80.0
