""":class:`EverestNorthbound`: the EVerest API served for the profile's EVerest EVSEs.

Built from a loaded profile and a set-up :class:`~josev_hal.board.Board`; one MQTT connection for
all modules. Per EVSE (``[evse.northbound]`` module ids, defaults below):

=========================  =====================  ==========================================
API type                   default module id      served when the EVSE has
=========================  =====================  ==========================================
``evse_board_support``     ``bsp_<ocpp_id>``      a ``cp`` device (always)
``powermeter``             ``powermeter_<n>``     a ``meter``
``isolation_monitor``      ``imd_<n>``            an ``isolation_monitor``
``power_supply_DC``        ``psu_<n>``            a ``power_module``
``auth_token_provider``    ``auth_<n>``           an ``id_reader``
=========================  =====================  ==========================================

Start order: adapters are wired and their threads started (the board is already in its safe
state: contactor open, CP X1) before the connection comes up; stop order: threads stopped,
contactors opened and CP at X1 by each adapter, then the connection closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from josev_hal.board import Board, BoardEvse
from josev_hal.devices import DcPowerModule, IdTokenReader, IsolationMonitor, Meter, Role
from josev_hal.errors import ConfigError
from josev_hal.everest.auth import AuthTokenAdapter
from josev_hal.everest.bsp import BoardSupport, device
from josev_hal.everest.codec import ApiType
from josev_hal.everest.config import everest_evses, module_ids
from josev_hal.everest.isolation import IsolationAdapter
from josev_hal.everest.link import EverestLink
from josev_hal.everest.monitor import CommunicationMonitor, ModuleMonitor
from josev_hal.everest.power_supply import PowerSupplyAdapter
from josev_hal.everest.powermeter import PowermeterAdapter
from josev_hal.liveness import Liveness
from josev_hal.profile import Profile

if TYPE_CHECKING:
    import pluggy

__all__ = ["EverestNorthbound", "everest_evses", "module_ids"]

log = logging.getLogger(__name__)


class EverestNorthbound:
    """All EVerest API modules of one board (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        board: Board,
        *,
        broker_url: str | None = None,
        client_id: str | None = None,
        evse_ids: Iterable[str] | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        from josev_hal.station import settings_from_profile

        self.profile = profile
        self.board = board
        self.liveness = liveness
        wanted = set(evse_ids) if evse_ids is not None else {e.id for e in everest_evses(profile)}
        settings = profile.mqtt
        if client_id is not None:
            import msgspec

            settings = msgspec.structs.replace(settings, client_id=client_id)
        self.link = EverestLink(settings, broker_url)
        #: what the sim plugin's hal_startup looks for (it subscribes ``sim/cs`` through it)
        self.bridge = self.link
        nb = profile.northbound
        self.monitor = CommunicationMonitor(
            self.link, heartbeat_timeout_s=nb.heartbeat_timeout_s, check_interval_s=nb.communication_check_s
        )
        self.bsps: dict[str, BoardSupport] = {}
        self.meters: dict[str, PowermeterAdapter] = {}
        self.imds: dict[str, IsolationAdapter] = {}
        self.psus: dict[str, PowerSupplyAdapter] = {}
        self.auths: dict[str, AuthTokenAdapter] = {}
        self._by_module: dict[tuple[str, str], list[Any]] = {}
        seen: dict[tuple[str, str], str] = {}
        for board_evse in board.evses:
            if board_evse.id not in wanted:
                continue
            ids = module_ids(board_evse.spec)
            for api, module_id in ids.items():
                other = seen.get((api.value, module_id))
                if other is not None:
                    raise ConfigError(
                        f"evse {board_evse.id}: {api.value} module id {module_id!r} "
                        f"is already used by evse {other}"
                    )
                seen[(api.value, module_id)] = board_evse.id
            self._build_evse(board_evse, ids, settings_from_profile(profile, board_evse.spec))
        if not self.bsps:
            raise ConfigError('no EVSE runs under EVerest ([northbound] kind = "everest")')
        self.monitor.register()
        self.monitor.on_alive_change(self._on_alive_change)
        self.monitor.on_ready_beacon(self._on_ready_beacon)
        self.link.on_session(self._on_session)

    def _track(self, api: ApiType, module_id: str, adapter: Any) -> ModuleMonitor:
        self._by_module.setdefault((api.value, module_id), []).append(adapter)
        return self.monitor.add(api.value, module_id)

    def _build_evse(self, board_evse: BoardEvse, ids: dict[ApiType, str], settings: Any) -> None:
        profile = self.profile
        evse_id = board_evse.id
        bsp_id = ids[ApiType.EVSE_BOARD_SUPPORT]
        mon = self.monitor.add(ApiType.EVSE_BOARD_SUPPORT.value, bsp_id)
        bsp = BoardSupport(self.link, board_evse, settings, bsp_id, mon)
        self._by_module.setdefault((ApiType.EVSE_BOARD_SUPPORT.value, bsp_id), []).append(bsp)
        self.bsps[evse_id] = bsp
        meter: Meter | None = device(board_evse, Role.METER, Meter)
        if meter is not None:
            pm_id = ids[ApiType.POWERMETER]
            self._track(ApiType.POWERMETER, pm_id, None)
            self.meters[evse_id] = PowermeterAdapter(
                self.link, meter, pm_id, interval_s=profile.meter.interval_s, evse_id=evse_id
            )
            self.meters[evse_id].listeners.append(bsp.on_meter_reading)
        module: DcPowerModule | None = device(board_evse, Role.DC_POWER_MODULE, DcPowerModule)
        if module is not None:
            psu_id = ids[ApiType.POWER_SUPPLY_DC]
            psu = PowerSupplyAdapter(self.link, module, psu_id, limits=board_evse.spec.dc)
            self._track(ApiType.POWER_SUPPLY_DC, psu_id, psu)
            self.psus[evse_id] = psu
        imd: IsolationMonitor | None = device(board_evse, Role.ISOLATION_MONITOR, IsolationMonitor)
        if imd is not None:
            imd_id = ids[ApiType.ISOLATION_MONITOR]
            self._track(ApiType.ISOLATION_MONITOR, imd_id, None)
            dc = board_evse.spec.dc
            self.imds[evse_id] = IsolationAdapter(
                self.link,
                imd,
                imd_id,
                voltage_source=module,
                band_voltage_v=dc.max_voltage_v if dc is not None else None,
            )
        reader: IdTokenReader | None = device(board_evse, Role.ID_TOKEN_READER, IdTokenReader)
        if reader is not None:
            auth_id = ids[ApiType.AUTH_TOKEN_PROVIDER]
            self._track(ApiType.AUTH_TOKEN_PROVIDER, auth_id, None)
            self.auths[evse_id] = AuthTokenAdapter(
                self.link, reader, auth_id, connector_id=board_evse.spec.ocpp_id
            )

    def adapters(self) -> list[Any]:
        return [
            *self.bsps.values(),
            *self.meters.values(),
            *self.imds.values(),
            *self.psus.values(),
            *self.auths.values(),
        ]

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, *, wait_s: float | None = None, pm: pluggy.PluginManager | None = None) -> None:
        """Wire and start every adapter, then connect. With ``pm``, plugins get ``hal_startup``
        with this object (``.board``, ``.bridge.subscribe_raw``): the sim plugin subscribes its
        EV commands on ``sim/cs`` through it. Pass it only when no Josev station runs in the
        same process (the station already gave the plugins their start)."""
        for adapter in self.adapters():
            adapter.register()
        if pm is not None:
            from josev_hal.plugins import call_each

            call_each(pm, "hal_startup", station=self)  # logs a failing plugin by name
        for adapter in self.adapters():
            if self.liveness is not None and hasattr(adapter, "heartbeat"):
                # The watchdog sees a hung supervision or polling loop (a wedged bus call).
                limit = max(5.0, 20 * getattr(adapter, "loop_period_s", 0.25))
                adapter.heartbeat = self.liveness.register(f"everest.{adapter.module_id}", limit)
            adapter.start()
        self.monitor.start()
        try:
            self.link.start(wait_s=wait_s)
        except BaseException:
            self.stop()
            raise
        log.info(
            "everest northbound running broker=%s modules=%s",
            self.link.address.url,
            ",".join(f"{t}/{i}" for t, i in sorted(self.monitor.modules)),
        )

    def stop(self) -> None:
        """Adapters first (contactors open, CP X1, supplies off), then the connection. Idempotent."""
        self.monitor.stop()
        for adapter in reversed(self.adapters()):
            try:
                adapter.stop()
            except Exception:
                log.exception("everest adapter stop failed: %r", adapter)
            hb = getattr(adapter, "heartbeat", None)
            if hb is not None:
                hb.close()
                adapter.heartbeat = None
        self.link.stop()

    def __enter__(self) -> EverestNorthbound:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- events ----------------------------------------------------------------------------------

    def _on_alive_change(self, module: ModuleMonitor, alive: bool) -> None:
        for adapter in self._by_module.get((module.api_type, module.module_id), []):
            handler = getattr(adapter, "on_alive_change", None)
            if handler is not None:
                handler(alive)

    def _publish_state(self) -> None:
        for adapter in self.adapters():
            publish = getattr(adapter, "publish_state", None)
            if publish is not None:
                publish()

    def _on_session(self) -> None:
        self._publish_state()
        for adapter in self.adapters():
            errors = getattr(adapter, "errors", None)
            if errors is not None:
                errors.flush()

    def _on_ready_beacon(self) -> None:
        # EVerest (re)started: it knows nothing of us. Everything that is state goes out again.
        self._publish_state()
        for adapter in self.adapters():
            errors = getattr(adapter, "errors", None)
            if errors is not None:
                errors.republish()
