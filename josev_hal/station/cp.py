"""Control-pilot classification (IEC 61851-1 Annex A; hardware-facts §1.2-§1.5).

Turns the measured plateau voltages into the state letter A-F, adds the x1/x2 suffix from the
output the generator *actually* applies, runs the diode check on the negative plateau and
debounces the result.

The bands follow the IEC 61851-1 Table A.4 implementation of chargebyte (A 11..13 V, B 8..10 V,
C 5..7 V, D 2..4 V, E -1..2 V, F -13..-11 V). A reading in a gap between two bands keeps the
higher state when the EV comes from above, as chargebyte's CP utilities do: the 10..11 V gap
stays A only when coming from A; the 7..8 V gap stays B when coming from A or B; the 4..5 V gap
stays C when coming from A, B or C. Otherwise the gap takes the lower band. This is the
hysteresis IEC 61851-1 A.4.11 tests for, and it matters on a slowly falling plateau: a B that
sags through 7..8 V (cable, EV diode temperature) must not flicker to C and back, and an EV
leaving C through 4..5 V must not be read as D (which needs ventilation).

Readings outside every band (above 13 V, between -10 and -2 V, below -13 V) are a *pilot fault*;
the core reports them as state E because E is the "CP line error" state of the contract and it
forces the contactor open.

Diode check: with PWM running and an EV present, a healthy EV diode leaves the negative plateau
near -12 V. A negative plateau above ``diode_fault_above_v`` (default -10 V, which also catches a
shorted diode in state B at about -8.8 V) means a missing or shorted diode; the classifier
reports E and latches the fault until the CP returns to A (unplug), as chargebyte does.
"""

from __future__ import annotations

import enum
import itertools

import msgspec

from josev_hal.devices import CpMode, CpOutput, CpSample

__all__ = ["CpClassifier", "CpLetter", "CpReading", "CpThresholds", "classify_level", "state_name"]


class CpLetter(enum.StrEnum):
    """The IEC 61851 state letter, before the x1/x2 suffix."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"


_POWER = frozenset({CpLetter.C, CpLetter.D})
#: Gap hysteresis: previous states from which the 7..8 V gap stays B and the 4..5 V gap stays C.
_FROM_B_OR_ABOVE = frozenset({CpLetter.A, CpLetter.B})
_FROM_C_OR_ABOVE = frozenset({CpLetter.A, CpLetter.B, CpLetter.C})


class CpThresholds(msgspec.Struct, frozen=True):
    """Band edges in volts at the CP pin (+12 V scale). Defaults: hardware-facts §1.3/§1.5."""

    a_min_v: float = 11.0
    a_max_v: float = 13.0
    b_min_v: float = 8.0
    b_max_v: float = 10.0
    c_min_v: float = 5.0
    c_max_v: float = 7.0
    d_min_v: float = 2.0
    d_max_v: float = 4.0
    e_min_v: float = -1.0
    #: A constant negative level at or below this is F (-11 V); -11..-10 V is F only if it was F.
    f_max_v: float = -11.0
    f_hyst_v: float = -10.0
    f_min_v: float = -13.0
    #: Diode check: negative plateau above this (with PWM, EV present) means a bad diode.
    diode_fault_above_v: float = -10.0

    def validate(self) -> None:
        """Raise ValueError when the bands are not ordered (a profile typo must not classify)."""
        edges = [
            ("f_min_v", self.f_min_v),
            ("f_max_v", self.f_max_v),
            ("f_hyst_v", self.f_hyst_v),
            ("e_min_v", self.e_min_v),
            ("d_min_v", self.d_min_v),
            ("d_max_v", self.d_max_v),
            ("c_min_v", self.c_min_v),
            ("c_max_v", self.c_max_v),
            ("b_min_v", self.b_min_v),
            ("b_max_v", self.b_max_v),
            ("a_min_v", self.a_min_v),
            ("a_max_v", self.a_max_v),
        ]
        for (n1, v1), (n2, v2) in itertools.pairwise(edges):
            if not v1 < v2:
                raise ValueError(f"cp thresholds: {n1} ({v1}) must be below {n2} ({v2})")


def classify_level(positive_v: float, previous: CpLetter | None, t: CpThresholds) -> CpLetter | None:
    """Classify one positive-plateau reading; ``None`` = pilot fault (outside every band).

    ``previous`` is the currently accepted letter, used for the gap hysteresis.
    """
    v = positive_v
    if v != v:  # NaN from a broken ADC path is a fault, not a state
        return None
    if v > t.a_max_v:
        return None
    if v >= t.a_min_v:
        return CpLetter.A
    # Gap bands: keep the higher state when coming from it or from above, else the lower one.
    if v > t.b_max_v:
        return CpLetter.A if previous is CpLetter.A else CpLetter.B
    if v >= t.b_min_v:
        return CpLetter.B
    if v > t.c_max_v:
        return CpLetter.B if previous in _FROM_B_OR_ABOVE else CpLetter.C
    if v >= t.c_min_v:
        return CpLetter.C
    if v > t.d_max_v:
        return CpLetter.C if previous in _FROM_C_OR_ABOVE else CpLetter.D
    if v >= t.d_min_v:
        return CpLetter.D
    if v >= t.e_min_v:
        return CpLetter.E
    if v >= -2.0:
        # -2..-1 V counts as E only when coming from A-E (chargebyte); from F it is noise.
        return CpLetter.E if previous not in (None, CpLetter.F) else None
    if t.f_hyst_v >= v > t.f_max_v:
        return CpLetter.F if previous is CpLetter.F else None
    if t.f_max_v >= v >= t.f_min_v:
        return CpLetter.F
    return None


def state_name(letter: CpLetter, output: CpOutput) -> str:
    """The contract's state string: letter plus ``1`` (no PWM) or ``2`` (PWM on); E/F bare."""
    if letter in (CpLetter.E, CpLetter.F):
        return letter.value
    return f"{letter.value}{'2' if output.mode is CpMode.PWM else '1'}"


class CpReading(msgspec.Struct, frozen=True):
    """The outcome of one classified sample."""

    state: str  #: accepted state string (``"B2"``, ``"E"`` ...)
    letter: CpLetter  #: accepted letter
    changed: bool  #: ``state`` differs from the previously accepted one
    pilot_fault: bool  #: the reading was outside every band
    diode_fault: bool  #: the diode check failed (latched until A)
    sample: CpSample


class CpClassifier:
    """Debounced CP state of one connector.

    ``debounce_samples``: a new letter is accepted only after this many consecutive samples agree
    (2 = chargebyte's "two measurements"). The debounce is asymmetric: leaving C/D and faults are
    accepted on the first sample, because they can only open the contactor. ``confirmed=True`` in
    :meth:`update` accepts at once; the core uses it for readings a push-capable driver announced
    via ``notify()`` (such drivers filter in hardware or in their MCU, and the 100 ms opening budget
    leaves no room for a second filter). The suffix is not debounced: it follows the applied
    output immediately.
    """

    def __init__(self, thresholds: CpThresholds | None = None, debounce_samples: int = 2) -> None:
        self.thresholds = thresholds or CpThresholds()
        self.thresholds.validate()
        if debounce_samples < 1:
            raise ValueError("cp debounce_samples must be >= 1")
        self.debounce_samples = debounce_samples
        self.letter: CpLetter | None = None  # None until the first accepted sample
        self.state: str | None = None
        self.diode_fault = False
        self.last_sample: CpSample | None = None
        self._candidate: CpLetter | None = None
        self._candidate_count = 0

    def update(self, sample: CpSample, output: CpOutput, *, confirmed: bool = False) -> CpReading:
        """Feed one sample taken while ``output`` was applied; return the accepted state."""
        t = self.thresholds
        self.last_sample = sample
        raw = classify_level(sample.positive_v, self.letter, t)
        pilot_fault = raw is None
        measured = CpLetter.E if raw is None else raw

        if measured is CpLetter.A:
            self.diode_fault = False  # unplug clears the latch
        elif (
            output.mode is CpMode.PWM
            and measured in (CpLetter.B, CpLetter.C, CpLetter.D)
            and sample.negative_v is not None
            and sample.negative_v > t.diode_fault_above_v
        ):
            self.diode_fault = True
        if self.diode_fault:
            measured = CpLetter.E

        # Faults, and leaving C/D, are accepted without debounce: they only ever make the EVSE
        # safer, and a polled board has 100 ms from C -> B to open, which a second sample at
        # 50 ms would eat. Entering C/D (which may close the contactor) stays debounced.
        leaves_power = self.letter in _POWER and measured not in _POWER
        if confirmed or pilot_fault or self.diode_fault or self.letter is None or leaves_power:
            self._accept(measured)
        elif measured is self.letter:
            self._candidate, self._candidate_count = None, 0
        elif measured is self._candidate:
            self._candidate_count += 1
            if self._candidate_count >= self.debounce_samples:
                self._accept(measured)
        else:
            self._candidate, self._candidate_count = measured, 1
            if self.debounce_samples <= 1:
                self._accept(measured)

        assert self.letter is not None
        new_state = state_name(self.letter, output)
        changed = new_state != self.state
        self.state = new_state
        return CpReading(new_state, self.letter, changed, pilot_fault, self.diode_fault, sample)

    def _accept(self, letter: CpLetter) -> None:
        self.letter = letter
        self._candidate, self._candidate_count = None, 0
