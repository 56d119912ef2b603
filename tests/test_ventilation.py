"""State D (EV asks for ventilation) and the ``[evse] ventilation`` profile key (issue #14 item 2).

IEC 61851-1: state D means the EV needs a ventilated charging area; an EVSE without ventilation
must not supply energy. The profile says whether the installation ventilates; the default is no,
so D2 is refused with the blocker ``state_d_without_ventilation``. Exercised through the sim
board: the EV switches its 270 ohm resistor in and the CP plateau falls into the D band.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from josev_hal_sim.physics import EvRequest

from josev_hal.plugins import HalPluginManager, get_plugin_manager
from josev_hal.profile import load_profile, load_profile_text
from josev_hal.station.interlocks import Blocker
from tests.support.station import SimEvse

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pm() -> HalPluginManager:
    return get_plugin_manager()


@pytest.fixture
def rig() -> Iterator[SimEvse]:
    rig = SimEvse("ac", free_charging=True)
    try:
        yield rig
    finally:
        rig.close()


def test_ventilation_defaults_to_false_in_the_profile(pm: HalPluginManager) -> None:
    text = (REPO / "boards" / "sim.toml").read_text().replace("ventilation = false", "")
    profile = load_profile_text(text, "boards/sim.toml", pm)
    assert all(evse.ventilation is False for evse in profile.evse)


def test_ventilation_true_is_read_from_the_evse_table(pm: HalPluginManager) -> None:
    text = (REPO / "boards" / "sim.toml").read_text().replace("ventilation = false", "ventilation = true")
    profile = load_profile_text(text, "boards/sim.toml", pm)
    assert profile.evse[0].ventilation is True


def test_a_non_boolean_ventilation_is_rejected_with_its_line(pm: HalPluginManager) -> None:
    text = (REPO / "boards" / "sim.toml").read_text().replace("ventilation = false", 'ventilation = "yes"')
    with pytest.raises(Exception, match=r"boards/sim.toml:\d+.*ventilation"):
        load_profile_text(text, "boards/sim.toml", pm)


def test_the_shipped_boards_state_ventilation_explicitly(pm: HalPluginManager) -> None:
    for name in ("sim.toml", "rpi-ads1115-mcp23017-sdm630.toml"):
        text = (REPO / "boards" / name).read_text()
        assert "ventilation = false" in text, name
        profile = load_profile(REPO / "boards" / name, pm)
        assert profile.evse[0].ventilation is False


def test_state_d_without_ventilation_never_closes_and_reports_why(
    rig: SimEvse, caplog: pytest.LogCaptureFixture
) -> None:
    rig.plug()
    with caplog.at_level(logging.INFO, logger="josev_hal.station.evse"):
        rig.world.set_request(EvRequest.VENTILATION)
        rig.settle(1.0)
    assert rig.ctl.cp_states[1] == "D2"
    assert not rig.ctl.contactor_closed
    assert rig.world.relay.closings == 0
    decision = rig.ctl.last_decision
    assert decision is not None and Blocker.NO_VENTILATION in decision.blockers
    refusals = [r.getMessage() for r in caplog.records if "contactor held open" in r.getMessage()]
    assert len(refusals) == 1, "one log line per change of the reasons, not one per sample"
    assert "state_d_without_ventilation" in refusals[0]


def test_switching_from_c_to_d_without_ventilation_opens_the_contactor(rig: SimEvse) -> None:
    rig.plug()
    rig.charge()
    rig.settle(1.0)
    assert rig.ctl.contactor_closed and rig.world.relay.feedback
    rig.world.set_request(EvRequest.VENTILATION)
    rig.settle(0.5)
    assert rig.ctl.cp_states[1] == "D2"
    assert not rig.ctl.contactor_closed
    assert not rig.world.relay.feedback
