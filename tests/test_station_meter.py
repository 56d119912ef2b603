"""The station-level ``meter_values`` request (no ``evse_id``: the whole station, OCPP evseId 0) on
the simulated board, through a real mosquitto: answered from a ``station_meter`` device when the
board has one, otherwise from the EVSE meters aggregated (josev_hal.station.station_meter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from josev_hal.devices import MeterReading, PhaseValues
from josev_hal.errors import ProfileError
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from josev_hal.station.station_meter import aggregate
from tests.support.contract import Contract
from tests.test_station_session import AC, BOARD, DC, Rig, board_text, station_rig, validate_all

__all__ = ["station_rig"]  # the fixture, shared with the session tests

pytestmark = pytest.mark.timeout(60)

STATION_METER = """
  [evse.devices.station_meter]
  driver = "sim-meter"
  options = { world = "station-supply", kind = "ac", nominal_voltage_v = 231, phases = 3 }

  [evse.devices.lock]"""

WHOLE_STATION: dict[str, Any] = {"timestamp": "2026-01-01T00:00:00Z"}


def _charge_ac(rig: Rig, amps: float) -> None:
    rig.wait_cp(AC, "A1")
    rig.sim(AC, "plug", cable_a=32)
    rig.wait_cp(AC, "B1")
    rig.update("authorization", {"evse_id": AC, "token_type": "central", "status": "accepted"})
    pwm = {"evse_id": AC, "hlc": False, "current": amps, "error_state": False, "fault_state": False}
    assert rig.request("cp_pwm", pwm)["status"] == "valid"
    rig.sim(AC, "charge")
    rig.wait_contactor(AC, "closed")
    rig.wait(
        lambda ms: any(m["name"] == "meter_values" and m["data"]["current"]["l1"] > amps - 1 for m in ms)
    )


def test_whole_station_reading_is_the_sum_of_the_evse_meters(station_rig: Rig, contract: Contract) -> None:
    rig = station_rig
    assert rig.station.station_meter.meter is None
    _charge_ac(rig, 16.0)

    station = rig.request("meter_values", WHOLE_STATION)
    ac = rig.request("meter_values", {"evse_id": AC, **WHOLE_STATION})
    dc = rig.request("meter_values", {"evse_id": DC, **WHOLE_STATION})

    assert "evse_id" not in station
    # the DC meter measures no AC phases: the station's AC currents are the AC EVSE's
    assert station["current"]["l1"] == pytest.approx(16.0, abs=0.2)
    assert station["voltage"] == {"l1": 230.0, "l2": 230.0, "l3": 230.0}
    assert station["frequency"] == pytest.approx(50.0)
    # energy registers add up (both meters keep counting between the three requests)
    total = ac["total_active_energy_imported"] + dc["total_active_energy_imported"]
    assert station["total_active_energy_imported"] == pytest.approx(total, rel=0.05, abs=5.0)
    assert station["total_active_energy_imported"] > 0
    assert "dc_voltage" not in station and "signed_meter_values" not in station
    validate_all(rig, contract)


@pytest.mark.parametrize("station_rig", [{"\n  [evse.devices.lock]": STATION_METER}], indirect=True)
def test_whole_station_reading_comes_from_the_station_meter_when_the_board_has_one(
    station_rig: Rig, contract: Contract
) -> None:
    rig = station_rig
    assert rig.station.station_meter.meter is not None
    _charge_ac(rig, 16.0)

    station = rig.request("meter_values", WHOLE_STATION)

    assert "evse_id" not in station
    # the supply meter's own values (its own world, 231 V), not the EVSE meters' sum
    assert station["voltage"] == {"l1": 231.0, "l2": 231.0, "l3": 231.0}
    assert station["current"] == {"l1": 0.0, "l2": 0.0, "l3": 0.0}
    # per-EVSE requests still come from the EVSE meters
    assert rig.request("meter_values", {"evse_id": AC, **WHOLE_STATION})["voltage"]["l1"] == 230.0
    validate_all(rig, contract)


def test_a_board_has_at_most_one_station_meter() -> None:
    text = board_text(**{"\n  [evse.devices.lock]": STATION_METER})
    # the DC EVSE gets a second one
    text = text.replace(
        '  [evse.devices.meter]\n  driver = "sim-meter"\n  options = { kind = "dc" }',
        '  [evse.devices.meter]\n  driver = "sim-meter"\n  options = { kind = "dc" }\n\n'
        '  [evse.devices.station_meter]\n  driver = "sim-meter"\n  options = { world = "x" }',
    )
    with pytest.raises(ProfileError, match=r"evse\[1\]\.devices\.station_meter.*one station meter"):
        load_profile_text(text, str(BOARD), get_plugin_manager())


def test_a_station_meter_must_be_a_meter_driver() -> None:
    text = board_text(
        **{"\n  [evse.devices.lock]": STATION_METER.replace('"sim-meter"', '"sim-contactor"', 1)}
    )
    with pytest.raises(ProfileError, match=r"station_meter\.driver"):
        load_profile_text(text, str(BOARD), get_plugin_manager())


# -- the aggregation rule ----------------------------------------------------------------------


def _reading(taken_at: float, **kw: Any) -> MeterReading:
    return MeterReading(
        taken_at=taken_at, utc=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=taken_at), **kw
    )


def test_aggregation_sums_energy_and_currents_and_averages_voltage_and_frequency() -> None:
    three = _reading(
        10.0,
        voltage_v=PhaseValues(230, 232, 228),
        current_a=PhaseValues(16, 16, 16),
        power_w=11_000.0,
        energy_import_wh=1000.0,
        energy_export_wh=5.0,
        frequency_hz=50.0,
        power_factor=0.99,
    )
    single = _reading(
        9.0,
        voltage_v=PhaseValues(234, 0, 0),
        current_a=PhaseValues(10, 0, 0),
        power_w=2_300.0,
        energy_import_wh=500.0,
        frequency_hz=50.2,
    )
    dc = _reading(11.0, power_w=50_000.0, energy_import_wh=20_000.0, dc_voltage_v=400.0, dc_current_a=125.0)

    total = aggregate([three, single, dc])

    assert total.energy_import_wh == 21_500.0
    assert total.energy_export_wh == 5.0  # only one meter has the register
    assert total.reactive_import_varh is None
    assert total.power_w == 63_300.0
    assert total.current_a == PhaseValues(26, 16, 16)
    assert total.voltage_v == PhaseValues(232, 232, 228)  # mean over meters measuring the phase
    assert total.frequency_hz == pytest.approx(50.1)
    apparent = 230 * 16 + 232 * 16 + 228 * 16 + 234 * 10
    assert total.power_factor == pytest.approx(min(1.0, 13_300 / apparent))
    assert total.dc_voltage_v is None and total.dc_current_a is None and total.signed == ()
    assert total.taken_at == 9.0 and total.utc == single.utc  # as old as the oldest part


def test_aggregation_without_load_uses_the_meters_own_power_factors() -> None:
    idle = [
        _reading(
            1.0,
            voltage_v=PhaseValues(230, 230, 230),
            current_a=PhaseValues(0, 0, 0),
            power_w=0.0,
            power_factor=1.0,
        ),
        _reading(
            1.0,
            voltage_v=PhaseValues(230, 230, 230),
            current_a=PhaseValues(0, 0, 0),
            power_w=0.0,
            power_factor=0.9,
        ),
    ]
    assert aggregate(idle).power_factor == pytest.approx(0.95)


def test_a_single_evse_meter_is_the_station_meter_unchanged() -> None:
    only = _reading(1.0, voltage_v=PhaseValues(230, 0, 0), current_a=PhaseValues(3, 0, 0), power_factor=0.5)
    assert aggregate([only]) is only
