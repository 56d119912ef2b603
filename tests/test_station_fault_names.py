"""Driver fault names map to the contract's hardware_fault fault_name by an explicit table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from josev_hal.messages import payloads as p
from josev_hal.station.fault_names import contract_fault_name, contract_fault_name_of
from tests.support.station import SimEvse

N = p.HardwareFaultName


@pytest.mark.parametrize(
    ("driver_name", "expected"),
    [
        ("output_short_circuit", N.OVERCURRENT_FAULT),
        ("output_overcurrent", N.OVERCURRENT_FAULT),
        ("isolation", N.GROUND_FAULT),
        ("isolation_fault", N.GROUND_FAULT),
        ("ground_fault", N.GROUND_FAULT),
        ("emergency_stop", N.EMERGENCY_STOP),
        ("input_undervoltage", N.POWER_QUALITY),
        ("input_overvoltage", N.POWER_QUALITY),
        ("input_unbalanced", N.POWER_QUALITY),
        ("input_phase_lost", N.POWER_LOSS),
        ("mains_loss", N.POWER_LOSS),
        ("module_reset", N.REBOOT),
        ("energy_limit_reached", N.ENERGY_LIMIT_REACHED),
        ("Output_Short_Circuit", N.OVERCURRENT_FAULT),  # drivers' spelling of case varies
        # module-internal conditions have no closer contract name
        ("output_overvoltage", N.OTHER),
        ("over_temperature", N.OTHER),
        ("fan_fault", N.OTHER),
        ("module_fault", N.OTHER),
        ("communication_interrupted", N.OTHER),
        ("something_new_from_a_vendor", N.OTHER),
    ],
)
def test_driver_fault_name_maps_to_the_contract_fault_name(driver_name: str, expected: N) -> None:
    assert contract_fault_name(driver_name) is expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ({"over_temperature", "output_short_circuit"}, N.OVERCURRENT_FAULT),
        ({"input_undervoltage", "input_phase_lost"}, N.POWER_LOSS),
        ({"isolation", "output_short_circuit"}, N.GROUND_FAULT),
        ({"fan_fault"}, N.OTHER),
        (set(), N.OTHER),
    ],
)
def test_simultaneous_faults_report_the_most_specific_contract_name(names: set[str], expected: N) -> None:
    assert contract_fault_name_of(names) is expected


@pytest.fixture
def dc() -> Iterator[SimEvse]:
    rig = SimEvse("dc")
    yield rig
    rig.close()


def test_power_module_short_circuit_is_reported_as_overcurrent_fault(dc: SimEvse) -> None:
    dc.world.set_pm_fault("output_short_circuit")
    dc.tick()
    faults = [(f.component_name, f.fault_name) for f in dc.of(p.HardwareFaultUpdate)]
    assert faults == [("power_module", N.OVERCURRENT_FAULT)]
    assert dc.ctl.faults["power_module"].blocks
