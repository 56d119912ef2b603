"""What CP/PP drivers built from a PWM output stage and an ADC share.

Two first-party drivers generate CP with a PWM channel feeding a ±12 V output stage and measure it
through a linear front end: ``ads1x15-cp`` (PCA9685 + ADS1x15 on I2C) and ``linux-cp`` (sysfs PWM
+ IIO). They differ only in how a level reaches the wire; the rules of *which* output a request
means are IEC 61851-1's and must never drift apart between boards: 0 % duty is state F (constant
-12 V), 100 % is X1 (constant +12 V), state E needs a CP-to-PE switch and falls back to F (the EV
stops in both) when the board has none. :class:`PwmCpGenerator` holds those rules once; a driver
supplies the four primitives.

The PP side is the pull-up divider both ``ads1x15-pp`` and ``iio-pp`` read:
``Rc = Rpu * V / (Vref - V)``, open above a fraction of ``Vref``, shorted below a few ohms.
"""

from __future__ import annotations

import logging
import math
import threading
from abc import abstractmethod
from datetime import datetime
from typing import Any, ClassVar

from .devices import ControlPilot, CpMode, CpOutput, DeviceConfig, PpSample, ProximityPilot

__all__ = [
    "PullUpProximityPilot",
    "PwmCpGenerator",
    "cp_volts",
    "pull_up_pp_sample",
    "pull_up_resistance_ohm",
]


def cp_volts(adc_v: float, adc_v_per_cp_v: float, adc_offset_v: float) -> float:
    """CP volts from ADC volts through a linear front end ``adc_v = cp_v * gain + offset``."""
    return (adc_v - adc_offset_v) / adc_v_per_cp_v


def pull_up_resistance_ohm(
    node_v: float, *, pull_up_ohm: float, reference_v: float, open_above_fraction: float
) -> float | None:
    """Rc for a PP-node voltage behind a pull-up to ``reference_v``; ``None`` when open (no cable)."""
    if node_v >= reference_v * open_above_fraction:
        return None
    return pull_up_ohm * max(node_v, 0.0) / (reference_v - node_v)


def pull_up_pp_sample(
    resistance_ohm: float | None, short_below_ohm: float, taken_at: float, utc: datetime
) -> PpSample:
    """The PP sample for a measured Rc: below ``short_below_ohm`` the PP is shorted to PE (a fault)."""
    fault = resistance_ohm is not None and resistance_ohm < short_below_ohm
    return PpSample(taken_at=taken_at, utc=utc, resistance_ohm=resistance_ohm, fault=fault)


class PwmCpGenerator(ControlPilot):
    """CP output over a PWM channel and an optional state-E switch.

    Subclasses implement :meth:`_drive_duty`, :meth:`_drive_x1`, :meth:`_drive_state_f`,
    :meth:`_e_switch` and :attr:`has_state_e_switch`, and :meth:`read`. Every output change runs
    under one lock so :attr:`output` always says what was last driven.
    """

    #: Option that names the state-E switch (for the log line when a board has none).
    state_e_option: ClassVar[str] = "state_e"

    def __init__(self, config: DeviceConfig[Any], *, initial: CpMode) -> None:
        super().__init__(config)
        self._output = CpOutput(initial)
        self._out_lock = threading.Lock()
        self._warned_no_e = False

    # -- primitives --------------------------------------------------------------------------
    @abstractmethod
    def _drive_duty(self, fraction: float) -> None:
        """PWM with this high-time fraction (0 < fraction < 1) on the output stage."""

    @abstractmethod
    def _drive_x1(self) -> None:
        """Constant +12 V on the output stage."""

    @abstractmethod
    def _drive_state_f(self) -> None:
        """Constant -12 V and the E switch open (a shutdown path: open the switch even if the
        output stage fails, where the hardware allows it)."""

    @abstractmethod
    def _e_switch(self, closed: bool) -> None:
        """Close/open the CP-to-PE switch; does nothing when the board has none."""

    @property
    @abstractmethod
    def has_state_e_switch(self) -> bool:
        """Whether the board has a CP-to-PE switch for state E."""

    # -- ControlPilot ------------------------------------------------------------------------
    @property
    def output(self) -> CpOutput:
        return self._output

    def set_pwm(self, duty_percent: float) -> None:
        if not isinstance(duty_percent, int | float) or math.isnan(duty_percent):
            raise self.error(f"invalid duty {duty_percent!r}")
        if duty_percent < 0 or duty_percent > 100:
            raise self.error(f"duty {duty_percent} % is outside 0..100")
        if duty_percent >= 100:
            self.set_x1()
            return
        if duty_percent <= 0:
            self.set_state_f()  # 0 % is constant -12 V by definition (IEC 61851-1)
            return
        with self._out_lock:
            self._drive_duty(duty_percent / 100.0)
            self._e_switch(False)
            self._output = CpOutput(CpMode.PWM, float(duty_percent))

    def set_x1(self) -> None:
        with self._out_lock:
            self._drive_x1()
            self._e_switch(False)
            self._output = CpOutput(CpMode.X1)

    def set_state_f(self) -> None:
        with self._out_lock:
            self._drive_state_f()
            self._output = CpOutput(CpMode.STATE_F)

    def set_state_e(self) -> None:
        if not self.has_state_e_switch:
            if not self._warned_no_e:
                # The driver's own logger, so the line names the plugin module as before.
                logging.getLogger(type(self).__module__).warning(
                    "cp has no state-E switch, outputting state F instead device=%s (set %s)",
                    self.device_id,
                    self.state_e_option,
                )
                self._warned_no_e = True
            self.set_state_f()
            return
        with self._out_lock:
            self._e_switch(True)
            self._output = CpOutput(CpMode.STATE_E)


class PullUpProximityPilot(ProximityPilot):
    """PP read through a pull-up divider by an ADC. The driver's options carry ``pull_up_ohm``,
    ``reference_v``, ``open_above_fraction``, ``short_below_ohm`` and ``adc_v_per_pp_v``; the
    driver converts and calls :meth:`_sample` with the ADC volts."""

    def resistance_from_volts(self, node_v: float) -> float | None:
        """Rc for a PP-node voltage, ``None`` when open."""
        o: Any = self.options
        return pull_up_resistance_ohm(
            node_v,
            pull_up_ohm=o.pull_up_ohm,
            reference_v=o.reference_v,
            open_above_fraction=o.open_above_fraction,
        )

    def _sample(self, adc_v: float, taken_at: float, utc: datetime) -> PpSample:
        o: Any = self.options
        resistance = self.resistance_from_volts(adc_v / o.adc_v_per_pp_v)
        return pull_up_pp_sample(resistance, o.short_below_ohm, taken_at, utc)
