"""The built-in sim board: the packaged profile and boards/sim.toml are the same file, it passes the
profile checks with the installed sim plugin, and every device in it can be built and driven."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from josev_hal_sim import ManualClock, SimControl, WorldRegistry, set_default_registry, sim_board_text

from josev_hal.devices import DeviceConfig, Driver, IsolationStatus, Role
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import EvseKind, Profile, load_profile, load_profile_text

REPO = Path(__file__).resolve().parents[1]
AC, DC = "DE*JHL*E0001", "DE*JHL*E0002"


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile_text(sim_board_text(), "josev_hal_sim/sim_board.toml", get_plugin_manager())


def test_packaged_sim_board_is_identical_to_boards_sim_toml() -> None:
    # One source of truth (the packaged file, used by `josev-hal run` without --board); the copy in
    # boards/ is what users browse and what `josev-hal check boards/*.toml` sees.
    assert (REPO / "boards" / "sim.toml").read_text(encoding="utf-8") == sim_board_text()


def test_boards_sim_toml_passes_the_profile_check() -> None:
    loaded = load_profile(REPO / "boards" / "sim.toml", get_plugin_manager())
    assert [e.id for e in loaded.evse] == [AC, DC]


def test_sim_board_has_an_ac_32a_three_phase_and_a_dc_50kw_evse(profile: Profile) -> None:
    ac, dc = profile.evse
    assert (ac.id, ac.kind, ac.phases, ac.max_current_a) == (AC, EvseKind.AC, 3, 32)
    assert (dc.id, dc.kind) == (DC, EvseKind.DC)
    assert dc.dc is not None and dc.dc.max_power_w == 50_000
    assert dc.devices[Role.DC_POWER_MODULE].driver == "sim-power-module"
    assert dc.devices[Role.ISOLATION_MONITOR].driver == "sim-imd"
    for evse in profile.evse:
        assert all(spec.driver.startswith("sim-") for spec in evse.devices.values())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def built(profile: Profile, clock: ManualClock) -> Iterator[dict[tuple[str, Role], Any]]:
    """Every device of the sim board, built the way the board builder does and set up."""
    registry = WorldRegistry(clock)
    previous = set_default_registry(registry)
    pm = get_plugin_manager()
    devices: dict[tuple[str, Role], Driver] = {}
    for index, evse in enumerate(profile.evse):
        for role, spec in evse.devices.items():
            cls = pm.drivers[spec.driver]
            config = DeviceConfig(
                device_id=f"evse[{index}].{role.value}",
                options=spec.options,
                evse_id=evse.id,
                connector_id=spec.connector,
                plugin="sim",
            )
            driver = cls(config)
            driver.setup()
            devices[(evse.id, role)] = driver
    try:
        yield devices
    finally:
        for driver in devices.values():
            driver.release()
        set_default_registry(previous)
        assert registry.worlds() == []


def test_ac_evse_of_the_sim_board_charges_from_commands(
    built: dict[tuple[str, Role], Any], clock: ManualClock
) -> None:
    control = SimControl()
    cp, pp, contactor, meter = (
        built[(AC, r)] for r in (Role.CONTROL_PILOT, Role.PROXIMITY_PILOT, Role.CONTACTOR, Role.METER)
    )
    assert 11.0 <= cp.read().positive_v <= 13.0
    assert control.handle_payload(b'{"evse_id": "DE*JHL*E0001", "action": "plug"}') is None
    assert 8.0 <= cp.read().positive_v <= 10.0
    assert 150 <= pp.read().resistance_ohm <= 330  # 32 A cable
    control.handle(b'{"evse_id": "DE*JHL*E0001", "action": "charge"}')
    cp.set_pwm(16 / 0.6)
    contactor.close()
    clock.advance(60.0)
    reading = meter.read()
    assert 5.0 <= cp.read().positive_v <= 7.0
    assert reading.current_a.l1 == pytest.approx(16.0)
    assert reading.energy_import_wh == pytest.approx(16 * 230 * 3 * (60 - 0.03) / 3600, rel=1e-3)


def test_dc_evse_of_the_sim_board_runs_a_cable_check_and_delivers_power(
    built: dict[tuple[str, Role], Any], clock: ManualClock
) -> None:
    control = SimControl()
    cp, contactor, pm, imd, meter = (
        built[(DC, r)]
        for r in (
            Role.CONTROL_PILOT,
            Role.CONTACTOR,
            Role.DC_POWER_MODULE,
            Role.ISOLATION_MONITOR,
            Role.METER,
        )
    )
    control.handle(b'{"evse_id": "DE*JHL*E0002", "action": "plug"}')
    cp.set_pwm(5.0)
    control.handle(b'{"evse_id": "DE*JHL*E0002", "action": "charge"}')
    contactor.close()
    imd.start()
    pm.set_target(500, 0)
    pm.enable(True)
    clock.advance(1.0)
    assert imd.read().status is IsolationStatus.VALID
    pm.set_target(400, 120)
    clock.advance(5.0)
    out = pm.read()
    assert out.voltage_v == pytest.approx(400.0) and out.current_a == pytest.approx(120.0)  # 48 kW < 50 kW
    assert meter.read().dc_current_a == pytest.approx(120.0)
