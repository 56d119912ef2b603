"""Operations: see, steer and commission a running station.

* :mod:`~josev_hal.operations.station_view` -- the only module that touches the station core
* :mod:`~josev_hal.operations.server` -- the daemon's HTTP endpoint (status, metrics, actions, page)
* :mod:`~josev_hal.operations.counters` -- wear and health counters persisted in the state dir
* :mod:`~josev_hal.operations.metrics` -- the Prometheus registry behind ``/metrics``
* :mod:`~josev_hal.operations.client` -- what the ``status`` / ``monitor`` / ``ctl`` commands use
* :mod:`~josev_hal.operations.commission` / :mod:`~josev_hal.operations.report` -- the signed
  commissioning report
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from josev_hal.functions import Functions
    from josev_hal.operations.server import OperationsServer
    from josev_hal.profile import Profile
    from josev_hal.station import Station

__all__ = ["start_operations"]

log = logging.getLogger(__name__)


def start_operations(
    profile: Profile,
    station: Station,
    bridge: Any,
    state_dir: Path,
    source: str = "",
    functions: Functions | None = None,
) -> OperationsServer | None:
    """Start the endpoint of a daemon as ``[operations]`` says (None when it is disabled)."""
    from josev_hal.operations.server import OperationsServer

    settings = profile.operations
    if not settings.enabled:
        log.info("operations endpoint disabled ([operations] enabled = false)")
        return None
    server = OperationsServer(
        station, state_dir, listen=settings.listen, bridge=bridge, functions=functions, source=source
    )
    server.start()
    return server
