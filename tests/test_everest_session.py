"""The emulator's AC and DC sessions against the simulated board through a real mosquitto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from josev_hal_sim import WorldRegistry, set_default_registry, sim_board_text

from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.everest.emulator import run_scenario
from tests.support.everest_rig import everest_profile, everest_rig, modules_of


@pytest.fixture(autouse=True)
def own_sim_worlds() -> Iterator[None]:
    previous = set_default_registry(WorldRegistry())
    yield
    set_default_registry(previous).clear()


def _report(result: object, events: list[tuple[str, str, str | None]]) -> str:
    return f"{result}\n" + "\n".join(f"{d:10} {t}" + (f"  !! {v}" if v else "") for d, t, v in events[-60:])


def test_ac_session_on_the_sim_board_passes_with_no_violation(broker: EmbeddedBroker) -> None:
    profile = everest_profile(sim_board_text())
    with everest_rig(broker, profile) as rig:
        result = run_scenario(rig.emulator, "ac", modules_of(profile, 0), charge_s=1.0)
        assert result.ok, _report(result, rig.events)
        assert rig.bsp(0).snapshot().closings == 1


def test_dc_session_on_the_sim_board_passes_with_no_violation(broker: EmbeddedBroker) -> None:
    profile = everest_profile(sim_board_text())
    with everest_rig(broker, profile) as rig:
        result = run_scenario(rig.emulator, "dc", modules_of(profile, 1), charge_s=1.0, step_timeout_s=8.0)
        assert result.ok, _report(result, rig.events)


def test_every_everest_loop_beats_the_watchdogs_liveness_registry(broker: EmbeddedBroker) -> None:
    from josev_hal.liveness import Liveness

    liveness = Liveness()
    profile = everest_profile(sim_board_text())
    with everest_rig(broker, profile, liveness=liveness) as rig:
        names = set(liveness.names())
        assert {
            "everest.bsp_1",
            "everest.powermeter_1",
            "everest.bsp_2",
            "everest.psu_2",
            "everest.imd_2",
        } <= names
        rig.emulator.wait_for(lambda r: r.name == "powermeter_values", 5)
        assert liveness.overdue() == []
    assert liveness.names() == [], "heartbeats closed when the northbound stops"
