"""The wiring around the chips (RCD and IMD modules, the CP generator and line) and a complete
simulated AC board, :func:`build_ac_board`, that the tests drive the I2C drivers against."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from josev_hal.buses.i2c_sim import Clock, SimChip, SimI2cBus
from josev_hal.pilots_sim import EV_STATE_LEVEL_V, REFERENCE_CP_SHIFTER, LevelShifter, SimPpLine

from .ads1x15 import SimAds1x15, SimAds1015, SimAds1115
from .expanders import DelayedLine, Level, SimGpioExpander, SimMcp23017, SimPca9555
from .pca9685 import SimPca9685
from .pn532 import SimPn532

__all__ = [
    "AC_BOARD_PINS",
    "CpGenerator",
    "SimAcBoard",
    "SimCpLine",
    "SimImdModule",
    "SimRcdModule",
    "build_ac_board",
]


@dataclass
class SimRcdModule:
    """A residual-current monitor: its trip output follows the TEST input after ``test_delay_s``
    (the module injects a test current while TEST is asserted) or a real fault (:meth:`trip`)."""

    test: Level | None = None  # the TEST input as the module sees it (usually a DelayedLine)
    faulted: bool = False

    def trip(self) -> None:
        self.faulted = True

    def clear(self) -> None:
        self.faulted = False

    def tripped(self) -> bool:
        return self.faulted or (self.test() if self.test is not None else False)


@dataclass
class SimImdModule:
    """An insulation monitoring device that reports through relay/open-collector outputs.

    Logical model (the wiring to expander pins, with its polarity, is :meth:`wire`'s job):

    * it measures while its enable input is asserted (``enable``; ``None``: no enable input,
      always measuring) and needs ``startup_s`` of continuous enable before its outputs mean
      anything -- until then it signals an alarm, as fail-safe IMDs do while starting;
    * ``fault`` (insulation below the alarm threshold) drops the "insulation OK" output and
      ``warning`` (below the pre-warning threshold) asserts the pre-warning output; a fault
      implies the pre-warning;
    * while its TEST input is asserted (after ``test_delay_s``) it simulates an insulation fault
      (both alarms) unless ``test_works`` is False (a broken test circuit).
    """

    enable: Level | None = None
    enable_settled: Level | None = None  # the enable input as it was ``startup_s`` ago
    test: Level | None = None
    fault: bool = False
    warning: bool = False
    test_works: bool = True

    def measuring(self) -> bool:
        if self.enable is None:
            return True
        settled = self.enable_settled() if self.enable_settled is not None else True
        return bool(self.enable()) and bool(settled)

    def _testing(self) -> bool:
        return self.test_works and self.test is not None and bool(self.test())

    def insulation_ok(self) -> bool:
        """The "insulation OK" output (True = OK; de-energised = alarm while not ready)."""
        return self.measuring() and not self.fault and not self._testing()

    def prewarning(self) -> bool:
        """The pre-warning output (True = warning), asserted while not ready too."""
        return not self.measuring() or self.fault or self.warning or self._testing()

    def wire(
        self,
        chip: SimGpioExpander,
        *,
        ok_pin: int,
        warning_pin: int | None = None,
        enable_pin: int | None = None,
        test_pin: int | None = None,
        ok_level: bool = True,
        warning_level: bool = True,
        enable_active: bool = True,
        test_active: bool = True,
        startup_s: float = 0.05,
        test_delay_s: float = 0.01,
    ) -> SimImdModule:
        """Connect this IMD to ``chip``: outputs to input pins (``ok_level``/``warning_level`` are
        the electrical levels that mean OK / warning), inputs follow output pins (``*_active``:
        the level that asserts them; an unconfigured pin, still an input, asserts nothing)."""
        if enable_pin is not None:
            self.enable = DelayedLine(
                chip, enable_pin, invert=not enable_active, idle_level=not enable_active
            )
            self.enable_settled = DelayedLine(
                chip, enable_pin, startup_s, invert=not enable_active, idle_level=not enable_active
            )
        if test_pin is not None:
            self.test = DelayedLine(
                chip, test_pin, test_delay_s, invert=not test_active, idle_level=not test_active
            )
        chip.connect_input(ok_pin, lambda: self.insulation_ok() == ok_level)
        if warning_pin is not None:
            chip.connect_input(warning_pin, lambda: self.prewarning() == warning_level)
        return self


@dataclass(frozen=True, slots=True)
class CpGenerator:
    """What the CP output stage drives, read from a PCA9685: ``mode`` x1/pwm/e/f and duty."""

    chip: SimPca9685
    channel: int
    e_channel: int | None = None
    invert: bool = False  # the output stage inverts (logic high = -12 V)

    def __call__(self) -> tuple[str, float | None]:
        if self.e_channel is not None and self.chip.channel_duty(self.e_channel) >= 1.0:
            return "e", None
        duty = self.chip.channel_duty(self.channel)
        if self.invert:
            duty = 1.0 - duty
        if duty >= 1.0:
            return "x1", None
        if duty <= 0.0:
            return "f", None
        return "pwm", duty * 100.0


@dataclass
class SimCpLine:
    """The CP wire between the EVSE generator and the EV, seen by two peak detectors.

    ``positive_v``/``negative_v`` are what the positive/negative peak-hold circuits present
    (CP volts); the ADC sees them through ``shifter``. ``override`` forces both plateaus
    (tests of exact levels); ``diode_ok = False`` models a shorted EV diode (the low phase
    mirrors the high phase).
    """

    generator: Callable[[], tuple[str, float | None]]
    shifter: LevelShifter = REFERENCE_CP_SHIFTER
    ev_state: str = "A"
    diode_ok: bool = True
    override: tuple[float, float] | None = None

    def set_ev_state(self, state: str) -> None:
        if state not in EV_STATE_LEVEL_V:
            raise ValueError(f"EV state must be one of {sorted(EV_STATE_LEVEL_V)}")
        self.ev_state = state

    def plateaus(self) -> tuple[float, float]:
        if self.override is not None:
            return self.override
        mode, _duty = self.generator()
        if mode == "e" or self.ev_state == "E":
            return 0.0, 0.0
        if mode == "f":
            return -12.0, -12.0
        high = EV_STATE_LEVEL_V[self.ev_state]
        if mode == "x1":
            return high, high  # no low phase: the negative detector sees the DC level too
        low = -12.0 if self.diode_ok or self.ev_state == "A" else -high
        return high, low

    def positive_v(self) -> float:
        return self.plateaus()[0]

    def negative_v(self) -> float:
        return self.plateaus()[1]

    def adc_positive_v(self) -> float:
        return self.shifter.adc_v(self.positive_v())

    def adc_negative_v(self) -> float:
        return self.shifter.adc_v(self.negative_v())


@dataclass
class SimAcBoard:
    """The simulated AC board of :func:`build_ac_board` (pin map in its docstring)."""

    bus: SimI2cBus
    adc: SimAds1x15
    gpio: SimGpioExpander
    pwm: SimPca9685
    reader: SimPn532
    cp: SimCpLine
    pp: SimPpLine
    contactor_feedback: DelayedLine
    lock_feedback: DelayedLine
    rcd: SimRcdModule
    pins: dict[str, int] = field(default_factory=dict)


AC_BOARD_PINS = {
    "contactor": 0,  # GPA0: contactor coil driver, active high
    "lock": 1,  # GPA1: lock actuator "lock" (held while locked)
    "rcd_test": 3,  # GPA3: RCD module TEST input, active high
    "rcd_reset": 4,  # GPA4: RCD module RESET input, active high
    "contactor_feedback": 8,  # GPB0: mirror contact, reads high when the main contacts are closed
    "lock_feedback": 9,  # GPB1: lock switch, high = locked
    "rcd_trip": 10,  # GPB2: RCD fault output, high = tripped
}


def build_ac_board(
    *,
    clock: Clock = time.monotonic,
    gpio_chip: str = "mcp23017",
    adc_chip: str = "ads1115",
    contactor_delay_s: float = 0.03,
    lock_delay_s: float = 0.05,
    rcd_test_delay_s: float = 0.02,
    extra: Iterable[tuple[int, SimChip]] = (),
) -> SimAcBoard:
    """A Raspberry-Pi-style AC board on one simulated adapter.

    * ADS1115 (or ADS1015) @0x48: AIN0 positive CP peak detector, AIN1 negative CP peak
      detector (both through :data:`REFERENCE_CP_SHIFTER`), AIN2 PP (1 kΩ pull-up to 3.3 V);
    * PCA9685 @0x40: channel 0 CP PWM (non-inverting ±12 V stage), channel 1 CP-to-PE switch
      (state E);
    * MCP23017 (or PCA9555) @0x20: pins in :data:`AC_BOARD_PINS`; the contactor's mirror
      contact follows the coil after ``contactor_delay_s``, the lock switch follows the lock
      output after ``lock_delay_s``, the RCD trips ``rcd_test_delay_s`` after TEST is asserted;
    * PN532 @0x24.
    """
    bus = SimI2cBus(clock=clock)
    adc: SimAds1x15 = SimAds1115() if adc_chip == "ads1115" else SimAds1015()
    gpio: SimGpioExpander = SimMcp23017() if gpio_chip == "mcp23017" else SimPca9555()
    pwm = SimPca9685()
    reader = SimPn532()
    bus.attach(0x48, adc)
    bus.attach(0x20, gpio)
    bus.attach(0x40, pwm)
    bus.attach(0x24, reader)
    for address, chip in extra:
        bus.attach(address, chip)
    cp = SimCpLine(generator=CpGenerator(pwm, 0, e_channel=1))
    pp = SimPpLine()
    adc.connect(0, cp.adc_positive_v)
    adc.connect(1, cp.adc_negative_v)
    adc.connect(2, pp.adc_v)
    pins = dict(AC_BOARD_PINS)
    contactor_feedback = DelayedLine(gpio, pins["contactor"], contactor_delay_s)
    lock_feedback = DelayedLine(gpio, pins["lock"], lock_delay_s)
    rcd = SimRcdModule(test=DelayedLine(gpio, pins["rcd_test"], rcd_test_delay_s))
    gpio.connect_input(pins["contactor_feedback"], contactor_feedback)
    gpio.connect_input(pins["lock_feedback"], lock_feedback)
    gpio.connect_input(pins["rcd_trip"], rcd.tripped)
    return SimAcBoard(
        bus=bus,
        adc=adc,
        gpio=gpio,
        pwm=pwm,
        reader=reader,
        cp=cp,
        pp=pp,
        contactor_feedback=contactor_feedback,
        lock_feedback=lock_feedback,
        rcd=rcd,
        pins=pins,
    )
