"""IEC 61851-1 circuit arithmetic used by the simulated world.

Numbers are from ``hardware-facts.md`` §1-§2: a ±12 V generator behind R1 = 1 kΩ on the EVSE side;
on the EV side a diode in series with R2 = 2.74 kΩ, with R3 = 1.3 kΩ switched in parallel for
state C or 270 Ω for state D. Nothing here knows about "states": the simulator computes the
voltage the EVSE would measure from the resistor network, so the core's threshold logic is
exercised exactly as on real hardware.
"""

from __future__ import annotations

import enum

__all__ = [
    "DIODE_DROP_V",
    "GENERATOR_V",
    "PP_RESISTANCE_OHM",
    "R1_OHM",
    "R2_OHM",
    "R3_C_OHM",
    "R3_D_OHM",
    "EvRequest",
    "cp_voltage",
    "ev_load_ohm",
    "offered_current_a",
    "parallel",
    "pp_resistance_ohm",
]

R1_OHM = 1000.0  # EVSE source resistor
R2_OHM = 2740.0  # EV: always present once plugged
R3_C_OHM = 1300.0  # EV: switched in for state C (charge)
R3_D_OHM = 270.0  # EV: switched in for state D (charge with ventilation)
DIODE_DROP_V = 0.7
GENERATOR_V = 12.0

# Type 2 cable coding (IEC 61851-1 Annex B): Rc between PP and PE per cable ampacity.
# 63 A three-phase and 70 A single-phase cables share the 100 Ω coding.
PP_RESISTANCE_OHM: dict[int, float] = {13: 1500.0, 20: 680.0, 32: 220.0, 63: 100.0, 70: 100.0}


class EvRequest(enum.StrEnum):
    """Which EV-side resistors are switched in (what the EV *does*, not what the EVSE reads)."""

    IDLE = "idle"  # R2 only: connected, not requesting (reads as B)
    CHARGE = "charge"  # R2 || R3 (1.3 kΩ): requests power (reads as C)
    VENTILATION = "ventilation"  # R2 || 270 Ω: requests power with ventilation (reads as D)


def parallel(a: float, b: float) -> float:
    """Resistance of ``a`` and ``b`` in parallel."""
    return a * b / (a + b)


def ev_load_ohm(request: EvRequest) -> float:
    """The EV's load resistance behind its diode for a request (2740 / 882 / 246 Ω)."""
    if request is EvRequest.CHARGE:
        return parallel(R2_OHM, R3_C_OHM)
    if request is EvRequest.VENTILATION:
        return parallel(R2_OHM, R3_D_OHM)
    return R2_OHM


def cp_voltage(generator_v: float, load_ohm: float | None, *, diode_shorted: bool = False) -> float:
    """Voltage on the CP wire when the generator drives ``generator_v`` through R1.

    ``load_ohm`` is the EV load behind its diode (``None``: nothing plugged, so no current flows
    and the EVSE sees its own generator). A healthy diode conducts only when the generator is
    above its forward drop; on the negative half-cycle it blocks, which is why a healthy EV leaves
    about -12 V. A shorted diode lets the load pull the negative level up to -12·R/(R + R1).
    """
    if load_ohm is None:
        return generator_v
    if diode_shorted:
        return generator_v * load_ohm / (load_ohm + R1_OHM)
    if generator_v <= DIODE_DROP_V:
        return generator_v  # diode blocks: no current, no drop across R1
    # Current flows through R1, the diode and the load: V = Vd + (Vg - Vd)·R / (R + R1).
    return DIODE_DROP_V + (generator_v - DIODE_DROP_V) * load_ohm / (load_ohm + R1_OHM)


def pp_resistance_ohm(cable_a: int) -> float:
    """Rc of a Type 2 cable rated ``cable_a`` amps. Raises ``KeyError`` for a rating without a code."""
    return PP_RESISTANCE_OHM[cable_a]


def offered_current_a(duty_percent: float, *, hlc_current_a: float) -> float:
    """Current an EV may draw for a PWM duty cycle, as the EV interprets it (IEC 61851-1 Table A.8,
    restated in hardware-facts §1.6).

    3-7 % (nominally 5 %) means "high-level communication": the simulated EV has no ISO 15118
    stack of its own, so it behaves as if the limits had been agreed over HLC and may draw
    ``hlc_current_a``.
    """
    d = duty_percent
    if d < 3.0:
        return 0.0
    if d <= 7.0:
        return hlc_current_a
    if d < 8.0:
        return 0.0  # error band
    if d < 10.0:
        return 6.0
    if d <= 85.0:
        return d * 0.6
    if d <= 96.0:
        return (d - 64.0) * 2.5
    if d <= 97.0:
        return 80.0
    return 0.0  # > 97 %: x1, no charging
