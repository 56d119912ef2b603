"""CP classification, debounce, diode check, x1/x2 suffix; PWM duty <-> current; PP ampacity.

Numbers come from hardware-facts §1.3-§1.6 and §2.1; the nominal plateaus 8.98 / 5.99 / 2.93 V
are what the IEC 61851 resistor network gives (§1.1)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from josev_hal.devices import CpMode, CpOutput, CpSample, PpSample
from josev_hal.station.cp import CpClassifier, CpLetter, CpThresholds, classify_level, state_name
from josev_hal.station.pp import PpWindows, cable_from_sample
from josev_hal.station.pwm import current_from_duty, duty_from_current

T = CpThresholds()
PWM = CpOutput(CpMode.PWM, 53.33)
X1 = CpOutput(CpMode.X1)


def sample(pos: float, neg: float | None = -12.0) -> CpSample:
    return CpSample(positive_v=pos, negative_v=neg)


@pytest.mark.parametrize(
    ("volts", "letter"),
    [
        (12.0, CpLetter.A),
        (11.0, CpLetter.A),
        (13.0, CpLetter.A),
        (8.98, CpLetter.B),
        (5.99, CpLetter.C),
        (2.93, CpLetter.D),
        (0.0, CpLetter.E),
        (1.9, CpLetter.E),
        (-12.0, CpLetter.F),
        (-11.0, CpLetter.F),
    ],
)
def test_nominal_plateaus_classify_to_their_state(volts: float, letter: CpLetter) -> None:
    assert classify_level(volts, None, T) is letter


@pytest.mark.parametrize("volts", [13.5, -5.0, -13.5, math.nan])
def test_readings_outside_every_band_are_a_pilot_fault(volts: float) -> None:
    assert classify_level(volts, None, T) is None


@pytest.mark.parametrize(
    ("volts", "previous", "expected"),
    [
        (10.5, CpLetter.A, CpLetter.A),
        (10.5, CpLetter.B, CpLetter.B),
        (10.5, CpLetter.C, CpLetter.B),
        (7.5, CpLetter.B, CpLetter.B),
        (7.5, CpLetter.C, CpLetter.C),
        (7.5, CpLetter.D, CpLetter.C),
        (7.5, None, CpLetter.C),
        (4.5, CpLetter.C, CpLetter.C),
        (4.5, CpLetter.D, CpLetter.D),
        (4.5, None, CpLetter.D),
        (-10.5, CpLetter.F, CpLetter.F),
        (-10.5, CpLetter.B, None),
        (-1.5, CpLetter.B, CpLetter.E),
        (-1.5, CpLetter.F, None),
    ],
)
def test_gap_readings_keep_the_upper_neighbour_only_when_coming_from_it(
    volts: float, previous: CpLetter | None, expected: CpLetter | None
) -> None:
    assert classify_level(volts, previous, T) is expected


@pytest.mark.parametrize(
    ("volts", "previous", "expected"),
    [
        # 7..8 V gap: B is kept when coming from A or B (issue #14 item 13, chargebyte's rule)
        (7.5, CpLetter.A, CpLetter.B),
        (7.5, CpLetter.B, CpLetter.B),
        (7.01, CpLetter.A, CpLetter.B),
        (7.99, CpLetter.C, CpLetter.C),
        # 4..5 V gap: C is kept when coming from A, B or C
        (4.5, CpLetter.A, CpLetter.C),
        (4.5, CpLetter.B, CpLetter.C),
        (4.5, CpLetter.C, CpLetter.C),
        (4.01, CpLetter.B, CpLetter.C),
        (4.99, CpLetter.D, CpLetter.D),
        (4.5, CpLetter.E, CpLetter.D),
    ],
)
def test_cp_gap_hysteresis_keeps_the_higher_state_when_coming_from_above(
    volts: float, previous: CpLetter, expected: CpLetter
) -> None:
    assert classify_level(volts, previous, T) is expected


def test_a_b_plateau_sagging_through_the_7_to_8_v_gap_stays_b_without_a_c_flicker() -> None:
    cp = CpClassifier(debounce_samples=1)
    states = [cp.update(sample(v), PWM).state for v in (8.98, 8.2, 7.9, 7.5, 7.1, 7.4, 7.9, 8.5)]
    assert states == ["B2"] * 8


def test_an_ev_leaving_c_through_the_4_to_5_v_gap_is_never_read_as_d() -> None:
    cp = CpClassifier(debounce_samples=1)
    cp.update(sample(12.0), X1)
    states = [cp.update(sample(v), PWM).letter for v in (5.99, 5.2, 4.8, 4.2, 4.6)]
    assert CpLetter.D not in states
    assert cp.update(sample(2.93), PWM).letter is CpLetter.D  # inside the D band it is D


@settings(max_examples=300, deadline=None)
@given(
    volts=st.floats(min_value=-14.0, max_value=14.0, allow_nan=False),
    previous=st.sampled_from([None, *CpLetter]),
)
def test_a_gap_reading_is_always_one_of_its_two_neighbours(volts: float, previous: CpLetter | None) -> None:
    letter = classify_level(volts, previous, T)
    if T.c_max_v < volts < T.b_min_v:
        assert letter in (CpLetter.B, CpLetter.C)
    if T.d_max_v < volts < T.c_min_v:
        assert letter in (CpLetter.C, CpLetter.D)


@pytest.mark.parametrize(
    ("letter", "output", "name"),
    [
        (CpLetter.B, X1, "B1"),
        (CpLetter.B, PWM, "B2"),
        (CpLetter.C, CpOutput(CpMode.PWM, 5.0), "C2"),
        (CpLetter.A, PWM, "A2"),
        (CpLetter.E, PWM, "E"),
        (CpLetter.F, CpOutput(CpMode.STATE_F), "F"),
    ],
)
def test_suffix_follows_the_applied_output(letter: CpLetter, output: CpOutput, name: str) -> None:
    assert state_name(letter, output) == name


def test_a_single_sample_glitch_into_c_is_suppressed_by_the_debounce() -> None:
    cp = CpClassifier(debounce_samples=2)
    assert cp.update(sample(8.98), PWM).state == "B2"
    glitch = cp.update(sample(5.99), PWM)
    assert glitch.state == "B2" and not glitch.changed
    assert cp.update(sample(8.98), PWM).state == "B2"


def test_a_change_is_accepted_after_debounce_samples_agree() -> None:
    cp = CpClassifier(debounce_samples=3)
    cp.update(sample(8.98), PWM)
    assert cp.update(sample(5.99), PWM).state == "B2"
    assert cp.update(sample(5.99), PWM).state == "B2"
    reading = cp.update(sample(5.99), PWM)
    assert reading.state == "C2" and reading.changed


@pytest.mark.parametrize("volts", [8.98, 12.0, 0.0])
def test_leaving_c_is_accepted_on_the_first_sample(volts: float) -> None:
    """A polled board has 100 ms from C -> B to open; a second sample would take half of it."""
    cp = CpClassifier(debounce_samples=3)
    cp.update(sample(5.99), PWM)
    reading = cp.update(sample(volts), PWM)
    assert reading.changed and reading.letter is not CpLetter.C


def test_a_confirmed_reading_is_accepted_at_once() -> None:
    cp = CpClassifier(debounce_samples=5)
    cp.update(sample(5.99), PWM)
    assert cp.update(sample(8.98), PWM, confirmed=True).state == "B2"


def test_pilot_fault_is_reported_as_e_without_debounce() -> None:
    cp = CpClassifier(debounce_samples=5)
    cp.update(sample(5.99), PWM)
    reading = cp.update(sample(-5.0), PWM)
    assert reading.state == "E" and reading.pilot_fault


@pytest.mark.parametrize("negative", [-8.8, -5.6, -2.0])
def test_a_shorted_or_missing_diode_reads_as_e_and_latches_until_unplug(negative: float) -> None:
    cp = CpClassifier(debounce_samples=1)
    cp.update(sample(8.98), PWM)
    reading = cp.update(sample(8.98, negative), PWM)
    assert reading.state == "E" and reading.diode_fault
    # a healthy reading does not clear it: only A (unplug) does
    assert cp.update(sample(8.98, -12.0), PWM).state == "E"
    assert cp.update(sample(12.0, None), X1).state == "A1"
    assert not cp.diode_fault
    assert cp.update(sample(8.98, -12.0), PWM).state == "B2"


def test_the_diode_check_needs_pwm_because_x1_has_no_negative_phase() -> None:
    cp = CpClassifier(debounce_samples=1)
    assert cp.update(sample(8.98, 8.98), X1).state == "B1"


def test_unordered_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="b_max_v"):
        CpClassifier(CpThresholds(b_max_v=11.5))


@pytest.mark.parametrize(
    ("amps", "duty"),
    [(6, 10.0), (10, 16.67), (16, 26.67), (32, 53.33), (51, 85.0), (63, 89.2), (70, 92.0), (80, 96.0)],
)
def test_duty_from_current_matches_iec_61851_examples(amps: float, duty: float) -> None:
    assert duty_from_current(amps) == pytest.approx(duty, abs=0.01)


@pytest.mark.parametrize("amps", [0.0, 5.9, 80.1, math.inf, math.nan])
def test_currents_pwm_cannot_express_are_refused(amps: float) -> None:
    with pytest.raises(ValueError, match="cannot be advertised"):
        duty_from_current(amps)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=6.0, max_value=80.0))
def test_the_ev_never_reads_more_than_the_evse_advertised(amps: float) -> None:
    """Exact everywhere except 51..53.5 A, where the two IEC formulas do not meet (52 A -> 84.8 %
    -> the EV reads 50.88 A): there the EV reads *less*, the safe side."""
    back = current_from_duty(duty_from_current(amps))
    assert back is not None
    assert back <= amps + 1e-9
    assert back == pytest.approx(amps, abs=1e-6) or 51.0 < amps < 53.5


@pytest.mark.parametrize(
    ("duty", "amps"), [(5.0, None), (7.5, None), (9.0, 6.0), (97.5, None), (100.0, None)]
)
def test_duties_outside_basic_charging_give_no_current(duty: float, amps: float | None) -> None:
    assert current_from_duty(duty) == amps


@pytest.mark.parametrize(
    ("ohm", "phases", "present", "amps", "fault"),
    [
        (None, 3, False, None, False),
        (5000.0, 3, False, None, False),
        (1500.0, 3, True, 13.0, False),
        (680.0, 3, True, 20.0, False),
        (220.0, 3, True, 32.0, False),
        (100.0, 3, True, 63.0, False),
        (100.0, 1, True, 70.0, False),
        (150.0, 3, True, 32.0, False),  # on an edge: the lower ampacity
        (40.0, 3, True, None, True),
    ],
)
def test_pp_resistance_gives_the_cable_ampacity(
    ohm: float | None, phases: int, present: bool, amps: float | None, fault: bool
) -> None:
    cable = cable_from_sample(PpSample(resistance_ohm=ohm), phases, PpWindows())
    assert (cable.present, cable.ampacity_a, cable.fault) == (present, amps, fault)


def test_a_board_that_decodes_the_ampacity_itself_is_taken_at_its_word() -> None:
    cable = cable_from_sample(PpSample(resistance_ohm=None, ampacity_a=20.0), 3)
    assert cable.present and cable.ampacity_a == 20.0
