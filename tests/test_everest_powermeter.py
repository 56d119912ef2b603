"""powermeter_values from meter readings: the reading's own time, AC per phase, DC in the DC
fields, nothing when the meter is silent or has no import register."""

from __future__ import annotations

from datetime import UTC, datetime

from josev_hal.devices import MeterReading, PhaseValues
from josev_hal.everest import codec
from josev_hal.everest.powermeter import powermeter_values

T = datetime(2026, 12, 6, 2, 0, 1, 250000, tzinfo=UTC)


def test_an_ac_reading_keeps_its_timestamp_and_phases() -> None:
    reading = MeterReading(
        taken_at=1.0,
        utc=T,
        voltage_v=PhaseValues(230.0, 231.0, 229.0),
        current_a=PhaseValues(16.0, 15.9, 16.1),
        power_w=11_000.0,
        energy_import_wh=1234.5,
        energy_export_wh=0.0,
        frequency_hz=50.01,
    )
    values = powermeter_values(reading, "SIM-1")
    assert values is not None
    doc = codec.decode(("powermeter", "m2e", "powermeter_values"), codec.encode(values))
    assert doc.timestamp == "2026-12-06T02:00:01.250Z", "the reading's time, UTC, 3 fractional digits"
    assert (doc.voltage_V.L2, doc.current_A.L3, doc.frequency_Hz.L1) == (231.0, 16.1, 50.01)
    assert (doc.energy_Wh_import.total, doc.power_W.total) == (1234.5, 11_000.0)


def test_a_dc_reading_fills_the_dc_fields() -> None:
    reading = MeterReading(
        utc=T, dc_voltage_v=400.0, dc_current_a=100.0, power_w=40_000.0, energy_import_wh=10.0
    )
    values = powermeter_values(reading, "DC-1")
    assert values is not None
    assert (values.voltage_V.DC, values.current_A.DC) == (400.0, 100.0)  # type: ignore[union-attr]


def test_a_reading_without_an_import_register_is_not_sent_as_zero() -> None:
    assert powermeter_values(MeterReading(utc=T, power_w=10.0), "X") is None
