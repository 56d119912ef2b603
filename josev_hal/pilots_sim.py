"""The CP/PP wire physics the board simulators share: the counterpart of :mod:`josev_hal.pilots`.

:mod:`josev_hal.pilots` holds what the CP/PP *drivers* of both PWM+ADC boards share (``ads1x15-cp``
on I2C, ``linux-cp`` on sysfs PWM + IIO); this module holds what their *simulators* share: the
nominal CP plateau per EV state, the linear level shifter in front of the ADC and the PP pull-up
divider. It lives in the core because both ``josev_hal_i2c.sim`` and ``josev_hal_linux.sim`` model
the same front end, and one first-party plugin does not import another.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EV_STATE_LEVEL_V", "REFERENCE_CP_SHIFTER", "LevelShifter", "SimPpLine"]


@dataclass(frozen=True, slots=True)
class LevelShifter:
    """Linear front end from a ±12 V CP (or any) signal to ADC volts: ``adc = v·gain + offset``."""

    gain: float
    offset_v: float

    @classmethod
    def from_resistors(
        cls, r_in_ohm: float, r_gnd_ohm: float, r_ref_ohm: float, v_ref: float
    ) -> LevelShifter:
        """Three-resistor shifter (hardware-facts §6.5): R_in from CP, R_gnd to GND, R_ref to Vref."""
        g_in, g_gnd, g_ref = 1 / r_in_ohm, 1 / r_gnd_ohm, 1 / r_ref_ohm
        total = g_in + g_gnd + g_ref
        return cls(gain=g_in / total, offset_v=v_ref * g_ref / total)

    def adc_v(self, signal_v: float) -> float:
        return signal_v * self.gain + self.offset_v

    def signal_v(self, adc_v: float) -> float:
        return (adc_v - self.offset_v) / self.gain


#: The reference shifter of hardware-facts §6.5 (200 k / 68 k / 47 k to 3.3 V).
REFERENCE_CP_SHIFTER = LevelShifter.from_resistors(200_000, 68_000, 47_000, 3.3)


#: Nominal positive plateau per EV state (IEC 61851-1; the 1 kΩ/2.74 kΩ/diode network gives
#: 8.98/5.99/2.93 V, within a few tens of mV of these).
EV_STATE_LEVEL_V = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0}


@dataclass
class SimPpLine:
    """PP to PE through the cable's Rc, pulled up by ``pull_up_ohm`` to ``reference_v``.

    ``rc_ohm = None`` is no cable (open); the ADC sees ``Vref·Rc/(Rc+Rpu)``.
    """

    pull_up_ohm: float = 1000.0
    reference_v: float = 3.3
    rc_ohm: float | None = None

    def adc_v(self) -> float:
        if self.rc_ohm is None:
            return self.reference_v
        return self.reference_v * self.rc_ohm / (self.rc_ohm + self.pull_up_ohm)
