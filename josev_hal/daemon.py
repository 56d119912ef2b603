"""The daemon: profile -> board -> bridge -> station -> station functions, and back down.

``josev-hal run`` and ``josev-hal demo`` both use :class:`Daemon`. Start order matters for
safety: the board is set up (outputs in their safe state) before anything can ask for power, and
the station's controllers run before the bridge lets Josev in. Stop order is the reverse, with the
contactors opened *first*, then the final state published, then the broker connection closed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev_hal.errors import ConfigError, HalError

if TYPE_CHECKING:
    from josev_hal.board import Board
    from josev_hal.bridge import Bridge
    from josev_hal.everest.northbound import EverestNorthbound
    from josev_hal.functions import Functions
    from josev_hal.operations.server import OperationsServer
    from josev_hal.plugins import HalPluginManager
    from josev_hal.profile import Profile
    from josev_hal.station import Station

__all__ = ["BUILTIN_BOARD", "Daemon", "load_board_profile"]

log = logging.getLogger(__name__)

#: What ``--board`` names in messages when the built-in simulated board is used.
BUILTIN_BOARD = "<built-in sim board>"


def load_board_profile(board: str | Path | None, pm: HalPluginManager) -> tuple[Profile, str]:
    """The profile at ``board``, or the built-in simulated board when ``board`` is None."""
    from josev_hal.profile import load_profile, load_profile_text

    if board is not None:
        return load_profile(board, pm), str(board)
    try:
        from josev_hal_sim import sim_board_text
    except ImportError as exc:  # pragma: no cover - the sim plugin ships with josev-hal
        raise ConfigError("no --board given and the built-in sim plugin (josev_hal_sim) is missing") from exc
    return load_profile_text(sim_board_text(), BUILTIN_BOARD, pm), BUILTIN_BOARD


class Daemon:
    """One running HAL (see the module docstring).

    ``broker_url`` overrides the profile's ``[mqtt] broker`` (``--broker`` / ``$JOSEV_HAL_BROKER``
    are resolved by the caller); ``state_dir`` overrides ``[state] dir``.
    """

    def __init__(
        self,
        profile: Profile,
        pm: HalPluginManager,
        *,
        source: str = "",
        broker_url: str | None = None,
        state_dir: str | Path | None = None,
        free_charging: bool = False,
    ) -> None:
        self.profile = profile
        self.pm = pm
        self.source = source
        self.broker_url = broker_url
        self.state_dir = state_dir
        self.free_charging = free_charging
        self.board: Board | None = None
        self.bridge: Bridge | None = None
        self.station: Station | None = None
        self.functions: Functions | None = None
        self.operations: OperationsServer | None = None  # operations endpoint (#19)
        self.everest: EverestNorthbound | None = None  # EVerest northbound (#20)

    def start(self, *, wait_s: float | None = None) -> None:
        """Bring everything up. With ``wait_s``, fail when the broker is not reachable in time;
        without, keep retrying in the background (a daemon outlives broker restarts)."""
        from josev_hal.board import Board
        from josev_hal.bridge import Bridge, resolve_broker_url
        from josev_hal.functions import install
        from josev_hal.functions.config import settings_from_profile
        from josev_hal.plugins import call_each
        from josev_hal.station import Station

        self.board = Board.build(self.profile, self.pm)
        self.board.setup()
        try:
            url = resolve_broker_url(self.profile.mqtt, self.broker_url)
            # --- EVerest northbound (#20): EVerest EVSEs never reach the station core
            josev_profile, josev_board = self._start_everest(url, wait_s)
            if josev_board is None:
                log.info("josev-hal running board=%s under EVerest only", self.source or "?")
                return
            # --- end EVerest
            self.bridge = Bridge(self.profile.mqtt, broker_url=url)
            self.station = Station(josev_profile, josev_board, self.bridge, free_charging=self.free_charging)
            self.station.register()
            settings = settings_from_profile(self.profile, state_dir=self.state_dir)
            self.functions = install(
                self.station, self.bridge, self.pm, self.profile, settings=settings, start=False
            )
            self.station.start()
            self.functions.start()
            # --- operations endpoint (#19): after the station runs; its failure never stops charging
            self._start_operations(settings.state_dir)
            # --- end operations
            self.bridge.start(wait_s=wait_s)
        except BaseException:
            self.stop()
            raise
        for plugin, exc in call_each(self.pm, "hal_startup", station=self.station):
            if isinstance(exc, BaseException):
                log.error("plugin %s failed in hal_startup: %s", plugin, exc)
        log.info("josev-hal running board=%s broker=%s", self.source or "?", self.bridge.address.url)

    def stop(self, *, flush_s: float = 2.0) -> None:
        """Contactors open first, final state published, then disconnect and release. Idempotent."""
        from josev_hal.plugins import call_each

        # --- operations endpoint (#19): stop it first, so no operator action races the shutdown
        if self.operations is not None:
            self.operations.stop()
            self.operations = None
        # --- end operations
        if self.station is not None:
            self.station.stop()  # every controller opens its contactor and leaves CP at X1
            if self.bridge is not None:
                for payload in self.station.snapshot():
                    self.bridge.publish_update(payload)
                self._flush(flush_s)
            call_each(self.pm, "hal_shutdown", station=self.station)
        if self.functions is not None:
            self.functions.close()
        if self.bridge is not None:
            self.bridge.stop()
        # --- EVerest northbound (#20): contactors open, CP X1, supplies off, then disconnect
        if self.everest is not None:
            self.everest.stop()
            self.everest = None
        # --- end EVerest
        if self.board is not None:
            self.board.release()
        self.station = self.functions = self.bridge = None
        self.board = None

    def _start_everest(self, url: str, wait_s: float | None) -> tuple[Profile, Board | None]:
        """EVerest northbound (#20): serve the EVSEs with ``[northbound] kind = "everest"`` through
        :mod:`josev_hal.everest` (own MQTT connection, client id ``<client_id>-everest`` when Josev
        EVSEs share the process). Returns the profile and board the station core gets: only the
        Josev EVSEs, or ``None`` for the board when every EVSE runs under EVerest."""
        import msgspec

        from josev_hal.board import Board
        from josev_hal.everest.config import everest_evses
        from josev_hal.everest.northbound import EverestNorthbound

        assert self.board is not None
        ids = {e.id for e in everest_evses(self.profile)}
        if not ids:
            return self.profile, self.board
        josev = [e for e in self.board.evses if e.id not in ids]
        client_id = f"{self.profile.mqtt.client_id}-everest" if josev else None
        self.everest = EverestNorthbound(self.profile, self.board, broker_url=url, client_id=client_id)
        # Plugins get hal_startup from the station when there is one, else from the northbound.
        self.everest.start(wait_s=wait_s, pm=None if josev else self.pm)
        if not josev:
            return self.profile, None
        profile = msgspec.structs.replace(self.profile, evse=[e.spec for e in josev])
        return profile, Board(profile, self.board.buses, josev)

    def _start_operations(self, state_dir: Path) -> None:
        """The local control endpoint (#19). A port in use is logged, not fatal: the station
        charges without its status page rather than not at all."""
        from josev_hal.operations import start_operations

        assert self.station is not None
        try:
            self.operations = start_operations(
                self.profile, self.station, self.bridge, state_dir, self.source, self.functions
            )
        except (OSError, HalError) as exc:
            log.error("operations endpoint not started (%s): %s", self.profile.operations.listen, exc)

    def _flush(self, timeout: float) -> None:
        """Give the final updates a moment to leave (they are QoS 1 and in order)."""
        assert self.bridge is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.bridge.connected and self.bridge.stats().queue_depth:
            time.sleep(0.02)
        time.sleep(0.1 if self.bridge.connected else 0)

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
