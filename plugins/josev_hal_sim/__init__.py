"""josev-hal simulated board: a simulated EV and board per connector, with drivers for every
device role (``sim-cp``, ``sim-pp``, ``sim-contactor``, ``sim-rcd``, ``sim-meter``, ``sim-lock``,
``sim-id-reader``, ``sim-power-module``, ``sim-imd``) and external control (:class:`SimControl`,
MQTT topic ``sim/cs``).

Registered through the ``josev_hal`` entry-point group like any third-party plugin. The built-in
sim board profile ships with the package (:func:`sim_board_text`); ``boards/sim.toml`` in the
source tree is a copy kept identical by a test.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING

from josev_hal.devices import Driver
from josev_hal.hookspecs import StationHandle, hookimpl
from josev_hal_sim.clock import ManualClock, RealClock
from josev_hal_sim.control import ACTIONS, SimCommand, SimCommandError, SimControl
from josev_hal_sim.drivers import DRIVERS
from josev_hal_sim.ev_side import SimulatedEv
from josev_hal_sim.physics import EvRequest
from josev_hal_sim.registry import WorldRegistry, default_registry, set_default_registry, world_key
from josev_hal_sim.script import ScriptStep, SimEvScript
from josev_hal_sim.world import SimEv, SimWorld

__all__ = [
    "ACTIONS",
    "CONTROL_TOPIC",
    "DRIVERS",
    "SIM_BOARD_RESOURCE",
    "EvRequest",
    "ManualClock",
    "RealClock",
    "ScriptStep",
    "SimCommand",
    "SimCommandError",
    "SimControl",
    "SimEv",
    "SimEvScript",
    "SimWorld",
    "SimulatedEv",
    "WorldRegistry",
    "default_registry",
    "hal_ev_side",
    "hal_register_drivers",
    "set_default_registry",
    "sim_board_text",
    "sim_pv_board_text",
    "world_key",
]

if TYPE_CHECKING:
    from josev_hal.board import Board

log = logging.getLogger(__name__)

# MQTT topic on which the station subscribes SimControl (see README "Simulated board").
CONTROL_TOPIC = "sim/cs"
SIM_BOARD_RESOURCE = "sim_board.toml"


def sim_board_text() -> str:
    """The built-in sim board profile (what ``josev-hal run`` uses without ``--board``)."""
    return resources.files(__name__).joinpath(SIM_BOARD_RESOURCE).read_text(encoding="utf-8")


#: The AC EVSE of the built-in board with a 1p/3p switch, for ``josev-hal demo --scenario
#: pv-surplus``: short intervals so the demo shows 3 -> 1 -> 3 phases within seconds.
_PV_SWITCH = """
  [evse.devices.phase_switch]
  driver = "sim-phase-contactor"

  [evse.phase_switching]
  min_switch_interval_s = 2
  pause_timeout_s = 5
  contactor_timeout_s = 0.5
  settle_s = 0.5
"""


def sim_pv_board_text() -> str:
    """The built-in sim board with a phase switch on the AC EVSE (demo ``pv-surplus``)."""
    text = sim_board_text()
    anchor = '  [evse.devices.id_reader]\n  driver = "sim-id-reader"\n'
    first = text.index(anchor) + len(anchor)  # the AC EVSE is the first one
    text = text[:first] + _PV_SWITCH + text[first:]
    text = text.replace("min_close_interval_s = 10.0", "min_close_interval_s = 1.0", 1)
    return text + "\n[limits]\ninterval_s = 0.2\n"


@hookimpl
def hal_register_drivers() -> Mapping[str, type[Driver]]:
    return dict(DRIVERS)


@hookimpl
def hal_builtin_board(name: str) -> str | None:
    """The built-in boards by name: ``sim`` and ``sim-pv`` (with a phase switch)."""
    if name == "sim":
        return sim_board_text()
    if name == "sim-pv":
        return sim_pv_board_text()
    return None


@hookimpl
def hal_ev_side(board: Board) -> SimulatedEv | None:
    """The simulated EVs play the EV for ``josev-hal commission`` when every EVSE of the board
    has one (connector 1); otherwise ``None`` and someone else (by default a person) does."""
    ev = SimulatedEv()
    return ev if all(ev.covers(evse.id) for evse in board.evses) else None


@hookimpl
def hal_startup(station: StationHandle) -> None:
    """Listen for EV commands on ``sim/cs`` when the station runs simulated devices."""
    uses_sim = any(
        isinstance(driver, tuple(DRIVERS.values()))
        for evse in station.board.evses
        for driver in evse.devices.values()
    )
    if uses_sim:
        station.bridge.subscribe_raw(CONTROL_TOPIC, SimControl().on_message)
        log.info("simulated board: EV commands accepted on %s", CONTROL_TOPIC)
