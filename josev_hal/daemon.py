"""The daemon: profile -> board -> bridge -> station -> station functions, and back down.

``josev-hal run`` and ``josev-hal demo`` both use :class:`Daemon`. Start order matters for
safety: the board is set up (outputs in their safe state) before anything can ask for power, and
the station's controllers run before the bridge lets Josev in. Stop order is the reverse, with the
contactors opened *first* (the station's stop is bounded and never waits on MQTT), then the final
state handed to the broker for at most ``FINAL_FLUSH_S``, then the functions, the connection and
finally the board's drivers released - after every user of them has stopped, so a device being torn
down is never mistaken for a lost link.

The process side (``josev-hal run``, :meth:`Daemon.serve`): SIGTERM/SIGINT request the stop above;
a second one exits at once (exit code 128 + signal). A hard deadline (``SHUTDOWN_DEADLINE_S``)
ends the process even if some driver call hangs in the stop; the systemd unit's
``TimeoutStopSec`` is above it. The liveness watchdog (:mod:`josev_hal.watchdog`) tells systemd
``READY=1``/``WATCHDOG=1`` and, when a loop hangs, reports a ``hardware_fault`` and ends the process
with ``EXIT_WATCHDOG`` so systemd restarts it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev_hal.errors import ConfigError, HalError
from josev_hal.liveness import Liveness, Overdue
from josev_hal.watchdog import DEFAULT_CHECK_INTERVAL_S, SdNotify, Watchdog, watchdog_interval_s

if TYPE_CHECKING:
    from josev_hal.board import Board
    from josev_hal.bridge import Bridge
    from josev_hal.everest.northbound import EverestNorthbound
    from josev_hal.functions import Functions
    from josev_hal.operations.server import OperationsServer
    from josev_hal.plugins import HalPluginManager
    from josev_hal.profile import Profile
    from josev_hal.station import Station
    from josev_hal.station.energy import EnergySupervisor

__all__ = [
    "BUILTIN_BOARD",
    "EXIT_WATCHDOG",
    "FINAL_FLUSH_S",
    "SHUTDOWN_DEADLINE_S",
    "Daemon",
    "install_signal_handlers",
    "load_board_profile",
]

log = logging.getLogger(__name__)

#: Exit code when the watchdog found a hung loop (systemd restarts the HAL on any non-zero exit).
EXIT_WATCHDOG = 4
#: How long the final state may take to reach the broker at shutdown.
FINAL_FLUSH_S = 1.0
#: The whole stop (contactors, final publish, release) must end within this; then the process
#: exits anyway. packaging/josev-hal.service has TimeoutStopSec above it.
SHUTDOWN_DEADLINE_S = 6.0
# Station stop: contactors commanded open at once, confirmation and final state within this.
_STATION_STOP_S = 2.0

#: What ``--board`` names in messages when the built-in simulated board is used.
BUILTIN_BOARD = "<built-in sim board>"
#: The plugin (entry-point name) whose ``hal_builtin_board`` hook ships that board.
BUILTIN_BOARD_PLUGIN = "sim"


def load_board_profile(
    board: str | Path | None, pm: HalPluginManager, *, warnings: list[str] | None = None
) -> tuple[Profile, str]:
    """The profile at ``board``, or the built-in simulated board when ``board`` is None.
    ``warnings`` collects what does not stop a board (see :func:`josev_hal.profile.load_profile`)."""
    from josev_hal.profile import load_profile, load_profile_text

    if board is not None:
        return load_profile(board, pm, warnings=warnings), str(board)
    # The board ships in the sim plugin: load it (lazy loading deferred it) and ask through the
    # hook -- the core never imports a plugin module (#18 import boundary).
    pm.load_plugin(BUILTIN_BOARD_PLUGIN)
    text: str | None = pm.hook.hal_builtin_board(name="sim")
    if text is None:
        raise ConfigError(
            f"no --board given and no plugin provides the built-in sim board (plugin "
            f"{BUILTIN_BOARD_PLUGIN!r} missing or disabled: see `josev-hal plugins`)"
        )
    return load_profile_text(text, BUILTIN_BOARD, pm), BUILTIN_BOARD


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
        # runtime (#13): liveness of every loop, the watchdog on it, and the stop request
        self.liveness = Liveness()
        self.notifier = SdNotify()
        self.watchdog: Watchdog | None = None
        self._stop_requested = threading.Event()
        self.exit_code = 0
        self.everest: EverestNorthbound | None = None  # EVerest northbound (#20)
        self.energy: EnergySupervisor | None = None  # station-wide limits, offline policy (#22)

    def start(self, *, wait_s: float | None = None) -> None:
        """Bring everything up. With ``wait_s``, fail when the broker is not reachable in time;
        without, keep retrying in the background (a daemon outlives broker restarts)."""
        from josev_hal.board import Board
        from josev_hal.bridge import Bridge, resolve_broker_url
        from josev_hal.functions import install
        from josev_hal.functions.config import settings_from_profile
        from josev_hal.plugins import call_each
        from josev_hal.routing import Router
        from josev_hal.station import Station

        self.board = Board.build(self.profile, self.pm)
        self.board.setup()
        try:
            url = resolve_broker_url(self.profile.mqtt, self.broker_url)
            # --- EVerest northbound (#20): EVerest EVSEs never reach the station core
            josev_profile, josev_board = self._start_everest(url, wait_s)
            if josev_board is None:
                self._start_watchdog()  # READY=1 and the loop watchdog under EVerest too
                self._start_watchdog()  # runtime (#13): READY=1 for Type=notify on this path too
                log.info("josev-hal running board=%s under EVerest only", self.source or "?")
                return
            # --- end EVerest
            self.bridge = Bridge(self.profile.mqtt, broker_url=url, liveness=self.liveness)
            self.station = Station(
                josev_profile,
                josev_board,
                self.bridge,
                free_charging=self.free_charging,
                liveness=self.liveness,
            )
            # one routing table decides who answers each message (josev_hal.routing, #18)
            router = Router(self.bridge)
            self.station.register(router)
            settings = settings_from_profile(self.profile, state_dir=self.state_dir)
            self.functions = install(
                self.station,
                self.bridge,
                self.pm,
                self.profile,
                settings=settings,
                router=router,
                start=False,
            )
            router.claim_from_plugins(self.pm)  # a plugin claiming an owned message fails here
            router.check_complete()
            self.station.start()
            self.functions.start()
            # --- energy (#22): station-wide limits and the offline policy, once the station runs
            self._start_energy(josev_profile, josev_board)
            # --- end energy
            # Josev first (#17): the bridge connects on its own thread while the operations
            # endpoint (HTTP server + prometheus_client, ~20 ms of imports) comes up on this one,
            # so Josev's first request after a (re)start is answered that much sooner; the
            # endpoint is for people and follows a moment later.
            self.bridge.start(wait_s=wait_s)
            # Plugins start with the bridge, before anything slower: the sim plugin's sim/cs
            # subscription must be up by the time the first cp_status tells a client the station
            # is there. call_each logs a failing plugin by name and goes on.
            call_each(self.pm, "hal_startup", station=self.station)
            # --- operations endpoint (#19): after the station runs; its failure never stops charging
            self._start_operations(settings.state_dir)
            # --- end operations
        except BaseException:
            self.stop()
            raise
        self._start_watchdog()
        log.info("josev-hal running board=%s broker=%s", self.source or "?", self.bridge.address.url)

    def stop(self, *, flush_s: float = FINAL_FLUSH_S) -> None:
        """Contactors open first, final state to the broker (bounded), then functions, the
        connection and the board's drivers. Idempotent; bounded whatever the broker does."""
        from josev_hal.plugins import call_each

        self._stop_requested.set()
        if self.board is not None:  # once: stop() is idempotent, run calls it again in `finally`
            self.notifier.stopping("stopping")
        if self.watchdog is not None:
            # Loops end on purpose from here on; the shutdown deadline guards the rest.
            self.watchdog.stop()
            self.watchdog = None
        # --- energy (#22): no limit change or offline stop while the station shuts down
        if self.energy is not None:
            self.energy.stop()
            self.pm.unregister(self.energy)
            self.energy = None
        # --- end energy
        if self.station is not None:
            self.station.stop(_STATION_STOP_S)  # every contactor open and confirmed, CP at X1/F
            if self.bridge is not None:
                for payload in self.station.snapshot():
                    try:
                        self.bridge.publish_update(payload)  # never blocks
                    except Exception:
                        log.exception("final state: invalid payload %s", type(payload).__name__)
            call_each(self.pm, "hal_shutdown", station=self.station)  # logs a failing plugin by name
        # --- EVerest northbound (#20): right after the Josev contactors, the EVerest ones open (CP X1,
        # supplies off); then its own connection closes (bounded)
        if self.everest is not None:
            self.everest.stop()
            self.everest = None
        # --- end EVerest
        # --- operations endpoint (#19): after the contactors are open (its HTTP shutdown takes up
        # to 0.5 s); once stopping, the station closes nothing, so no operator action can race it
        if self.operations is not None:
            self.operations.stop()
            self.operations = None
        # --- end operations
        if self.functions is not None:
            self.functions.close()
        if self.bridge is not None:
            self.bridge.stop(flush_s)  # hands the final state over, or gives up at the deadline
            log.info("final %s", self.bridge.format_stats())  # the run's totals, for the record
        if self.board is not None:
            self.board.release()
        self.station = self.functions = self.bridge = None
        self.board = None

    def _start_everest(self, url: str, wait_s: float | None) -> tuple[Profile, Board | None]:
        """EVerest northbound (#20): serve the EVSEs with ``[northbound] kind = "everest"`` through
        :mod:`josev_hal.everest` (own MQTT connection, client id ``<client_id>-everest`` when Josev
        EVSEs share the process). Returns the profile and board the station core gets: only the
        Josev EVSEs, or ``None`` for the board when every EVSE runs under EVerest."""
        from josev_hal.profile import NorthboundKind

        assert self.board is not None
        if all(self.profile.northbound_of(e) is not NorthboundKind.EVEREST for e in self.profile.evse):
            # No EVerest EVSE: the EVerest modules (~30 ms of imports) stay unloaded (#17 start-up).
            return self.profile, self.board
        import msgspec

        from josev_hal.board import Board
        from josev_hal.everest.config import everest_evses
        from josev_hal.everest.northbound import EverestNorthbound

        ids = {e.id for e in everest_evses(self.profile)}
        josev = [e for e in self.board.evses if e.id not in ids]
        client_id = f"{self.profile.mqtt.client_id}-everest" if josev else None
        self.everest = EverestNorthbound(
            self.profile, self.board, broker_url=url, client_id=client_id, liveness=self.liveness
        )
        # Plugins get hal_startup from the station when there is one, else from the northbound.
        self.everest.start(wait_s=wait_s, pm=None if josev else self.pm)
        if not josev:
            return self.profile, None
        profile = msgspec.structs.replace(self.profile, evse=[e.spec for e in josev])
        return profile, Board(profile, self.board.buses, josev)

    def _start_energy(self, profile: Profile, board: Board) -> None:
        """The energy supervisor (#22); registered as a plugin to hear Josev's service_status."""
        from josev_hal.station.energy import energy_from_profile

        assert self.station is not None
        self.energy = energy_from_profile(profile, board, self.station.controllers, bridge=self.bridge)
        self.pm.register(self.energy, name="josev_hal.energy")
        self.energy.start()

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

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- runtime (#13): watchdog, stop requests, the process's main loop --------------------------

    def _start_watchdog(self) -> None:
        interval = watchdog_interval_s()
        self.watchdog = Watchdog(
            self.liveness,
            self.notifier,
            interval_s=interval or DEFAULT_CHECK_INTERVAL_S,
            on_stuck=self._on_stuck,
        )
        self.watchdog.start()
        self.notifier.ready(f"running; watching {', '.join(self.liveness.names())}")

    def _on_stuck(self, overdue: list[Overdue]) -> None:
        """A loop hangs (the watchdog logged where). Report it while the bridge may still carry
        it, then end the process non-zero: a restart is the only remedy that is certain."""
        from josev_hal.messages import payloads as p

        station, bridge = self.station, self.bridge
        if station is not None and bridge is not None:
            for evse_id in station.controllers:
                try:  # never blocks (the outbox); nothing leaves if the bridge loop is the stuck one
                    bridge.publish_update(
                        p.HardwareFaultUpdate(
                            evse_id=evse_id, component_name="hal", fault_name=p.HardwareFaultName.OTHER
                        )
                    )
                except Exception:
                    log.exception("watchdog: could not queue the hardware_fault for evse=%s", evse_id)
        names = ", ".join(o.name for o in overdue)
        self.request_stop(f"watchdog: not turning: {names}", EXIT_WATCHDOG)

    def request_stop(self, reason: str, exit_code: int = 0) -> None:
        """Ask :meth:`serve` to stop (any thread, signal handlers too). A failure code is kept
        even when a plain stop request came first."""
        if not self._stop_requested.is_set():
            log.info("stopping: %s", reason)
        if exit_code and not self.exit_code:
            self.exit_code = exit_code
        self._stop_requested.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def serve(self, *, stats_interval: float = 0.0) -> int:
        """Run until :meth:`request_stop`, then stop within ``SHUTDOWN_DEADLINE_S``; the exit code.

        For the process that owns the daemon (``josev-hal run``): past the deadline the process
        is ended with ``os._exit`` - a hung driver call must not keep a station "stopping" forever.
        """
        while not self._stop_requested.wait(stats_interval or 3600.0):
            if stats_interval and self.bridge is not None:
                log.info("stats %s", self.bridge.format_stats())
        timer = threading.Timer(SHUTDOWN_DEADLINE_S, self._force_exit)
        timer.daemon = True
        timer.start()
        try:
            self.stop()
        finally:
            timer.cancel()
        return self.exit_code

    def _force_exit(self) -> None:
        code = self.exit_code or 3
        log.critical("shutdown did not finish within %gs; exiting now (code %d)", SHUTDOWN_DEADLINE_S, code)
        logging.shutdown()
        os._exit(code)


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGTERM/SIGINT: a clean, bounded stop; the second one: exit at once (main thread only).

    The immediate exit skips the rest of the shutdown on purpose - the operator insists. The
    first signal has already commanded every contactor open unless that very call hangs, and the
    board's hardware interlocks never depend on this process.
    """

    def on_signal(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if daemon.stop_requested:
            log.warning("second %s: exiting now without finishing the shutdown", name)
            logging.shutdown()
            os._exit(128 + signum)
        daemon.request_stop(f"signal {name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
