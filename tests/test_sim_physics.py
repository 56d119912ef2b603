"""The simulated EV's CP and PP values come from the IEC 61851 resistor network and land inside the
bands of hardware-facts §1.3 / §2.1, healthy and with a shorted diode."""

from __future__ import annotations

import pytest
from josev_hal_sim.clock import ManualClock
from josev_hal_sim.physics import (
    R2_OHM,
    EvRequest,
    cp_voltage,
    ev_load_ohm,
    offered_current_a,
    pp_resistance_ohm,
)
from josev_hal_sim.world import SimWorld

from josev_hal.devices import CpMode

# IEC 61851-1 Table A.4 bands (chargebyte) and the tighter SAE J1772 min/max (hardware-facts §1.3).
IEC_BANDS = {"A": (11.0, 13.0), "B": (8.0, 10.0), "C": (5.0, 7.0), "D": (2.0, 4.0)}
SAE_BANDS = {"A": (11.40, 12.60), "B": (8.36, 9.56), "C": (5.48, 6.49), "D": (2.62, 3.25)}


def world_with(request: EvRequest | None, *, diode_shorted: bool = False) -> SimWorld:
    world = SimWorld("t", ManualClock())
    if request is not None:
        world.plug()
        world.set_request(request)
    world.set_diode_shorted(diode_shorted)
    world.set_cp(CpMode.PWM, 26.7)
    return world


@pytest.mark.parametrize(
    ("state", "request_", "nominal"),
    [
        ("A", None, 12.0),
        ("B", EvRequest.IDLE, 8.98),
        ("C", EvRequest.CHARGE, 5.99),
        ("D", EvRequest.VENTILATION, 2.93),
    ],
)
def test_positive_plateau_of_each_state_lies_in_its_band(
    state: str, request_: EvRequest | None, nominal: float
) -> None:
    positive, negative, duty = world_with(request_).cp_plateaus()
    assert positive == pytest.approx(nominal, abs=0.01)
    assert IEC_BANDS[state][0] <= positive <= IEC_BANDS[state][1]
    assert SAE_BANDS[state][0] <= positive <= SAE_BANDS[state][1]
    assert negative == pytest.approx(-12.0)  # healthy diode blocks the negative half-cycle
    assert duty == pytest.approx(26.7)


def test_combined_ev_loads_match_the_resistor_values() -> None:
    assert ev_load_ohm(EvRequest.IDLE) == pytest.approx(R2_OHM)
    assert ev_load_ohm(EvRequest.CHARGE) == pytest.approx(882, abs=1)
    assert ev_load_ohm(EvRequest.VENTILATION) == pytest.approx(246, abs=1)


@pytest.mark.parametrize(
    ("request_", "expected_negative"),
    [(EvRequest.IDLE, -8.8), (EvRequest.CHARGE, -5.6), (EvRequest.VENTILATION, -2.4)],
)
def test_shorted_diode_pulls_the_negative_plateau_to_minus_the_positive_level(
    request_: EvRequest, expected_negative: float
) -> None:
    positive, negative, _ = world_with(request_, diode_shorted=True).cp_plateaus()
    assert negative is not None
    assert negative == pytest.approx(expected_negative, abs=0.06)
    # Both published diode checks see it: above -10 V (Tinkerforge) and |V+ + V-| <= 1.2 V (chargebyte).
    assert negative > -10.0
    assert abs(positive + negative) <= 1.2


def test_x1_has_no_negative_plateau_and_reports_full_duty() -> None:
    world = world_with(EvRequest.IDLE)
    world.set_cp(CpMode.X1)
    positive, negative, duty = world.cp_plateaus()
    assert 8.36 <= positive <= 9.56
    assert negative is None
    assert duty == 100.0


def test_state_f_reads_minus_12_and_state_e_reads_zero() -> None:
    world = world_with(EvRequest.CHARGE)
    world.set_cp(CpMode.STATE_F)
    positive, negative, _ = world.cp_plateaus()
    assert positive == pytest.approx(-12.0) and negative == pytest.approx(-12.0)
    world.set_cp(CpMode.STATE_E)
    assert world.cp_plateaus()[0] == 0.0


def test_cp_shorted_to_pe_on_the_ev_side_reads_as_state_e() -> None:
    world = world_with(EvRequest.CHARGE)
    world.set_cp_shorted(True)
    positive, negative, _ = world.cp_plateaus()
    assert -1.0 <= positive <= 2.0
    assert negative == 0.0


def test_diode_conducts_only_above_its_forward_drop() -> None:
    assert cp_voltage(0.5, 882.0) == 0.5
    assert cp_voltage(-12.0, None) == -12.0


@pytest.mark.parametrize(
    ("cable_a", "ohm", "window"),
    [
        (13, 1500, (1000, 2200)),
        (20, 680, (330, 1000)),
        (32, 220, (150, 330)),
        (63, 100, (75, 150)),
        (70, 100, (75, 150)),
    ],
)
def test_pp_resistance_codes_the_cable_ampacity(
    cable_a: int, ohm: float, window: tuple[float, float]
) -> None:
    assert pp_resistance_ohm(cable_a) == ohm
    assert window[0] <= ohm <= window[1]  # Phoenix tolerance windows, hardware-facts §2.1


def test_pp_reads_open_circuit_until_plugged() -> None:
    world = SimWorld("t", ManualClock())
    assert world.pp_resistance() is None
    world.plug(cable_a=20)
    assert world.pp_resistance() == 680.0
    world.unplug()
    assert world.pp_resistance() is None


@pytest.mark.parametrize(
    ("duty", "amps"),
    [
        (0.0, 0.0),
        (5.0, 40.0),  # HLC band: the sim EV draws what it wants (as if agreed over ISO 15118)
        (7.5, 0.0),
        (9.0, 6.0),
        (10.0, 6.0),
        (26.67, 16.0),
        (53.33, 32.0),
        (85.0, 51.0),
        (89.2, 63.0),
        (96.0, 80.0),
        (96.5, 80.0),
        (100.0, 0.0),
    ],
)
def test_ev_reads_the_offered_current_from_the_duty_cycle(duty: float, amps: float) -> None:
    assert offered_current_a(duty, hlc_current_a=40.0) == pytest.approx(amps, abs=0.01)
