"""Every pluggy hook of josev-hal (project name ``josev_hal``, prefix ``hal_``).

Plugins implement hooks with :data:`hookimpl`; the plugin manager from
:func:`josev_hal.plugins.get_plugin_manager` validates them against these specs.
Hooks are for *contribution* (driver classes, bus kinds) and *lifecycle*; hot-path work
(sampling the CP, switching a relay, polling a meter) goes through plain driver objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from josev_hal.buses import Bus
    from josev_hal.devices import Driver

PROJECT = "josev_hal"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HalSpec:
    """Namespace of the hook specifications."""

    @hookspec
    def hal_register_drivers(self) -> Mapping[str, type[Driver]]:
        """Contribute driver classes by name (the name used as ``driver = "..."`` in profiles).

        Called once per plugin manager, all implementations are merged; a name registered by two
        plugins is a :class:`~josev_hal.errors.PluginError` naming both.
        """
        raise NotImplementedError

    @hookspec
    def hal_register_bus_kinds(self) -> Mapping[str, type[Bus]]:
        """Contribute bus classes by kind (``kind = "..."`` in ``[buses.<name>]``)."""
        raise NotImplementedError
