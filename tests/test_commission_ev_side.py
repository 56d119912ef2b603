"""Who plays the EV during ``josev-hal commission``: the ``hal_ev_side`` hook (#18).

A plugin offers an EV side for the board (the sim plugin its simulated EVs, a test rig its
hardware EV simulator); the run drives every CP state through it and sends ``--inject-sim``
commands to it. When no plugin offers one, a person with the test adapter is prompted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from josev_hal_sim import DRIVERS, SimulatedEv, sim_board_text
from josev_hal_sim.registry import WorldRegistry, set_default_registry

from josev_hal.board import Board
from josev_hal.daemon import load_board_profile
from josev_hal.devices import Driver
from josev_hal.hookspecs import hookimpl
from josev_hal.operations.commission import Commissioning, OperatorAdapter, SimCommandTarget, ev_side_for
from josev_hal.plugins import HalPluginManager, get_plugin_manager
from josev_hal.profile import load_profile_text
from tests.support.hal_process import AC, DC

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(autouse=True)
def private_sim_worlds() -> Iterator[None]:
    """The boards below attach sim worlds under the sim board's EVSE ids in this process: a
    registry of their own keeps worlds other tests left attached out of their way."""
    previous = set_default_registry(WorldRegistry())
    try:
        yield
    finally:
        set_default_registry(previous)


class _SimDriversOnly:
    """The sim plugin's drivers without its hooks: a board of simulated devices that no plugin
    offers an EV side for (as a real station's board)."""

    @hookimpl
    def hal_register_drivers(self) -> Mapping[str, type[Driver]]:
        return dict(DRIVERS)


class _RigEv:
    """A test rig's EV simulator: it records what commissioning asks of it and drives the sim
    board's EVs to do it."""

    simulated = True

    def __init__(self) -> None:
        self._sim = SimulatedEv()
        self.states: list[tuple[str, int, str]] = []
        self.commands: list[str | bytes] = []

    def set_state(self, evse_id: str, connector_id: int, state: str) -> None:
        self.states.append((evse_id, connector_id, state))
        self._sim.set_state(evse_id, connector_id, state)

    def command(self, payload: str | bytes) -> None:
        self.commands.append(payload)
        self._sim.command(payload)


class _RigPlugin:
    def __init__(self, ev: _RigEv) -> None:
        self.ev = ev
        self.asked_for: list[list[str]] = []

    @hookimpl
    def hal_ev_side(self, board: Board) -> _RigEv:
        self.asked_for.append([evse.id for evse in board.evses])
        return self.ev


def _sim_board(pm: HalPluginManager) -> Board:
    board = Board.build(load_profile_text(sim_board_text(), "sim board", pm), pm)
    board.setup()
    return board


def test_the_sim_plugin_offers_its_simulated_evs_for_the_sim_board() -> None:
    pm = get_plugin_manager()
    board = _sim_board(pm)
    try:
        ev = ev_side_for(board, pm)
    finally:
        board.release()
    assert isinstance(ev, SimulatedEv) and ev.simulated
    assert isinstance(ev, SimCommandTarget)  # --inject-sim can reach it


def test_without_an_ev_side_plugin_a_person_with_the_test_adapter_plays_the_ev() -> None:
    pm = get_plugin_manager(autoload=False)  # built-ins only: no plugin implements hal_ev_side
    pm.register_plugin(_SimDriversOnly(), "sim-drivers-only")
    board = _sim_board(pm)
    try:
        ev = ev_side_for(board, pm)
    finally:
        board.release()
    assert isinstance(ev, OperatorAdapter) and not ev.simulated
    assert not isinstance(ev, SimCommandTarget)  # a person takes no sim commands


def test_the_sim_plugin_does_not_offer_its_evs_for_a_board_it_does_not_simulate() -> None:
    pm = get_plugin_manager()
    board = _sim_board(pm)
    set_default_registry(WorldRegistry())  # the sim plugin's side sees none of the board's EVs
    try:
        ev = ev_side_for(board, pm)
    finally:
        board.release()
    assert isinstance(ev, OperatorAdapter)


def test_commissioning_drives_the_ev_side_a_plugin_offers_and_injects_through_it() -> None:
    pm = get_plugin_manager()
    profile, source = load_board_profile(
        None, pm
    )  # loads the sim plugin before the rig: the rig answers first
    rig = _RigPlugin(_RigEv())
    pm.register_plugin(rig, "test-rig")
    lines: list[str] = []
    job = Commissioning(profile, pm, source=source, profile_bytes=sim_board_text().encode(), out=lines.append)
    injected = f'{{"evse_id": "{AC}", "connector_id": 1, "action": "meter_online"}}'
    job.inject_sim(injected)
    report = job.run()
    assert rig.asked_for == [[AC, DC]]
    assert rig.ev.commands[0] == injected and f"injected: {injected}" in lines
    assert (AC, 1, "C") in rig.ev.states and (DC, 1, "E") in rig.ev.states
    assert report["mode"] == "simulated EV"
    assert report["passed"] is True, [c for c in report["checks"] if not c["passed"]]


def test_inject_sim_with_a_person_playing_the_ev_is_refused_before_any_check() -> None:
    pm = get_plugin_manager(autoload=False)
    pm.register_plugin(_SimDriversOnly(), "sim-drivers-only")
    profile = load_profile_text(sim_board_text(), "sim board", pm)
    job = Commissioning(profile, pm, source="sim board", profile_bytes=b"", out=lambda line: None)
    job.inject_sim(f'{{"evse_id": "{AC}", "action": "weld_contactor"}}')
    with pytest.raises(ValueError, match="--inject-sim needs the simulated board"):
        job.run()
    assert job.checks == []
