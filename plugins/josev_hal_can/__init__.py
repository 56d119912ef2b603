"""josev-hal CAN drivers: DC power modules on a python-can bus.

Registered through the ``josev_hal`` entry-point group (``can = "josev_hal_can"``) exactly like a
third-party plugin. Drivers:

* ``infypower-dc`` -- a group of InfyPower modules speaking the V1.13 protocol
  (:class:`josev_hal_can.infypower.InfyPowerDc`);
* ``winline-dc`` -- a group of Winline modules (:class:`josev_hal_can.winline.WinlineDc`).
"""

from __future__ import annotations

from collections.abc import Mapping

from josev_hal.devices import Driver
from josev_hal.hookspecs import CliTool, hookimpl

from .infypower import InfyPowerDc
from .winline import WinlineDc

__all__ = ["InfyPowerDc", "WinlineDc", "hal_probe_tools", "hal_register_drivers", "hal_sim_peers"]


@hookimpl
def hal_register_drivers() -> Mapping[str, type[Driver]]:
    """Contribute the CAN power-module drivers."""
    return {"infypower-dc": InfyPowerDc, "winline-dc": WinlineDc}


@hookimpl
def hal_sim_peers() -> Mapping[str, CliTool]:
    """``josev-hal sim can``: a simulated InfyPower or Winline module group on a python-can channel
    (:class:`josev_hal_can.sim_cli.SimCan`)."""
    from .sim_cli import SimCan

    return {"can": SimCan()}


@hookimpl
def hal_probe_tools() -> Mapping[str, CliTool]:
    """``josev-hal probe can``: identify the power-module families on a channel
    (:mod:`josev_hal_can.probe`)."""
    from .probe import CanProbe

    return {"can": CanProbe()}
