"""The station: one :class:`EvseController` per EVSE, wired to the board and the bridge.

:class:`Station` builds the controllers from a loaded profile and a built board, binds (through
the routing table, :mod:`josev_hal.routing`) the power-path handlers (``cs_parameters``,
``cs_status_and_limits``, ``cp_pwm``, ``cs_contactor_status``, ``meter_values``, ``stop_charging``,
``cable_check``, ``power_electronics_setpoint``) and the listen-only updates that change behaviour
(``hlc_charging``, ``authorization``, ``transaction_status``, ``slac_status``), and adds a snapshot
provider so Josev gets the current CP, contactor, limits and cable state after every (re)connect.

Other station functions that also need one of these updates subscribe with
:meth:`Station.add_update_listener` (the bridge allows one handler per message).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from msgspec import UNSET

from josev_hal.derating import DeratingMonitors
from josev_hal.devices import (
    ConnectorLock,
    Contactor,
    ControlPilot,
    DcCapabilities,
    DcPowerModule,
    IsolationMonitor,
    Meter,
    ProximityPilot,
    Rcd,
    Role,
)
from josev_hal.errors import HalError
from josev_hal.liveness import Liveness
from josev_hal.messages import Message, MessageType, Payload
from josev_hal.messages import payloads as p
from josev_hal.routing import Handler, Router, Routes
from josev_hal.station.config import (
    CableCheckSettings,
    ConnectorSettings,
    EvseKind,
    EvseSettings,
    RcdResetPolicy,
    SafetySettings,
    WeldingDetection,
)
from josev_hal.station.cp import CpThresholds
from josev_hal.station.evse import EvseController, EvseDevices
from josev_hal.station.pp import PpWindows
from josev_hal.station.scheduler import Scheduler
from josev_hal.station.station_meter import StationMeter, station_meter_device

if TYPE_CHECKING:
    from josev_hal.board import Board, BoardEvse
    from josev_hal.profile import EvseSpec, Profile

__all__ = ["BridgeLike", "Station", "settings_from_profile"]

log = logging.getLogger(__name__)


class BridgeLike(Protocol):
    """What the station needs from :class:`josev_hal.bridge.Bridge`."""

    def register(self, name: str, type: str, handler: Callable[[Message], Any]) -> None: ...

    def publish_update(self, payload: Payload) -> Any: ...

    def add_snapshot_provider(self, provider: Callable[[], list[Payload]]) -> None: ...


def settings_from_profile(profile: Profile, evse: EvseSpec, *, free_charging: bool = False) -> EvseSettings:
    """The controller settings of ``evse`` (profile defaults merged with per-EVSE overrides)."""
    cp = profile.cp_settings(evse)
    diode = cp.diode_fault_above_v if cp.diode_check else 1e9  # disabled: never above
    thresholds = CpThresholds(
        a_min_v=cp.state_a_v[0],
        a_max_v=cp.state_a_v[1],
        b_min_v=cp.state_b_v[0],
        b_max_v=cp.state_b_v[1],
        c_min_v=cp.state_c_v[0],
        c_max_v=cp.state_c_v[1],
        d_min_v=cp.state_d_v[0],
        d_max_v=cp.state_d_v[1],
        e_min_v=cp.state_e_v[0],
        f_min_v=cp.state_f_v[0],
        f_max_v=cp.state_f_v[1],
        f_hyst_v=cp.state_f_v[1] + 1.0,  # chargebyte: -11..-10 V stays F only when it was F
        diode_fault_above_v=diode,
    )
    windows = sorted(profile.pp.windows, key=lambda w: w.max_ohm)
    pp = PpWindows(
        fault_below_ohm=profile.pp.fault_below_ohm,
        no_cable_above_ohm=profile.pp.no_cable_above_ohm,
        upper_edges=tuple((w.max_ohm, w.ampacity_a) for w in windows),
    )
    s = profile.safety
    safety = SafetySettings(
        rcd_trip=s.rcd_trip.value,
        cp_loss_shutdown=s.cp_loss_shutdown.value,
        welding_detection=WeldingDetection(s.welding_detection.value),
        open_on_meter_loss=s.open_on_meter_loss,
        open_on_board_link_loss=s.open_on_board_link_loss,
        rcd_reset=RcdResetPolicy(s.rcd_reset.value),
        rcd_self_test=s.rcd_self_test.value,
        overcurrent_tolerance_a=s.overcurrent_tolerance_a,
        overcurrent_grace_s=s.overcurrent_grace_s,
    )
    cc = profile.cable_check
    dc = evse.dc
    max_current = evse.max_current_a or (dc.max_current_a if dc is not None else 32.0)
    return EvseSettings(
        evse_id=evse.id,
        kind=EvseKind(evse.kind.value),
        phases=evse.phases,
        nominal_voltage_v=evse.nominal_voltage_v,
        max_current_a=max_current,
        connectors=tuple(
            ConnectorSettings(
                id=c.id,
                cable=c.cable.value,
                max_cable_current_a=c.max_cable_current_a,
                iso15118_type=c.iso15118_type.value,
            )
            for c in evse.connectors
        )
        or (ConnectorSettings(1),),
        safety=safety,
        cp_thresholds=thresholds,
        cp_sample_interval_s=cp.sample_interval_ms / 1000.0,
        cp_debounce_samples=cp.debounce_samples,
        pp_windows=pp,
        contactor_feedback_timeout_s=profile.contactor.feedback_timeout_ms / 1000.0,
        min_close_interval_s=profile.contactor.min_close_interval_s,
        pp_fault_after_s=profile.pp.missing_fault_after_s,
        ventilation=evse.ventilation,
        cable_check=CableCheckSettings(
            current_limit_a=cc.current_limit_a,
            voltage_v=cc.voltage_v,
            ramp_tolerance_v=cc.ramp_tolerance_v,
            discharge_timeout_s=cc.discharge_timeout_s,
            close_timeout_s=cc.close_timeout_s,
            ramp_timeout_s=cc.ramp_timeout_s,
            self_test_timeout_s=cc.self_test_timeout_s,
            measure_timeout_s=cc.measure_timeout_s,
        ),
        meter_interval_s=profile.meter.interval_s,
        meter_stale_after_s=profile.meter.stale_after_s,
        free_charging=free_charging,
        dc_peak_current_ripple_a=dc.peak_current_ripple_a if dc is not None else 1.0,
        dc_current_reg_tolerance_a=dc.current_reg_tolerance_a if dc is not None else None,
        dc_limits=DcCapabilities(
            max_voltage_v=dc.max_voltage_v,
            min_voltage_v=dc.min_voltage_v,
            max_current_a=dc.max_current_a,
            min_current_a=dc.min_current_a,
            max_power_w=dc.max_power_w,
        )
        if dc is not None
        else None,
    )


def _role(board_evse: BoardEvse, role: Role, cls: type[Any]) -> Any:
    """The driver for ``role`` if it implements ``cls`` (``BoardEvse.get`` wants concrete classes
    for typing; the role ABCs are abstract)."""
    driver = board_evse.devices.get(role)
    if driver is None:
        return None
    if not isinstance(driver, cls):
        raise HalError(f"evse {board_evse.id}: device {driver.device_id} is not a {cls.__name__}")
    return driver


def devices_of(board_evse: BoardEvse) -> EvseDevices:
    """The role drivers of one board EVSE, in the controller's shape."""
    cp = _role(board_evse, Role.CONTROL_PILOT, ControlPilot)
    if cp is None:
        raise HalError(f"evse {board_evse.id}: no cp device")
    first = board_evse.spec.connectors[0].id if board_evse.spec.connectors else 1
    pp = _role(board_evse, Role.PROXIMITY_PILOT, ProximityPilot)
    return EvseDevices(
        cp={(cp.config.connector_id or first): cp},
        pp={(pp.config.connector_id or first): pp} if pp is not None else {},
        contactor=_role(board_evse, Role.CONTACTOR, Contactor),
        rcd=_role(board_evse, Role.RCD, Rcd),
        meter=_role(board_evse, Role.METER, Meter),
        power_module=_role(board_evse, Role.DC_POWER_MODULE, DcPowerModule),
        isolation_monitor=_role(board_evse, Role.ISOLATION_MONITOR, IsolationMonitor),
        lock=_role(board_evse, Role.CONNECTOR_LOCK, ConnectorLock),
    )


class Station:
    """All EVSEs of one station behind one bridge (see the module docstring).

    ``free_charging``: AC basic charging starts without an authorization (a station without
    OCPP/RFID, or a demo). ``clock`` is passed to every controller (tests).
    """

    def __init__(
        self,
        profile: Profile,
        board: Board,
        bridge: BridgeLike,
        *,
        free_charging: bool = False,
        clock: Callable[[], float] | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.profile = profile
        self.board = board
        self.bridge = bridge
        self.controllers: dict[str, EvseController] = {}
        self._liveness = liveness
        self.sampler: Scheduler | None = None
        self.slow: Scheduler | None = None
        self._listeners: dict[str, list[Callable[[Payload], None]]] = {}
        for board_evse in board.evses:
            settings = settings_from_profile(profile, board_evse.spec, free_charging=free_charging)
            self.controllers[board_evse.id] = EvseController(
                settings,
                devices_of(board_evse),
                bridge.publish_update,
                clock=clock if clock is not None else time.monotonic,
                liveness=liveness,
            )
        self.station_meter = StationMeter(self.controllers, station_meter_device(board))
        # Temperature derating (#21): feeds set_derating_limit from each EVSE's temperature device.
        self.derating = DeratingMonitors.for_station(profile, board, self.controllers)
        self._registered = False

    # -- lifecycle -----------------------------------------------------------------------------
    def routes(self) -> Routes:
        """The core's handlers by (name, type); josev_hal.routing decides that they are the core's."""
        req, upd = MessageType.REQUEST, MessageType.UPDATE
        routes: dict[tuple[str, MessageType], Handler] = {
            ("cs_parameters", req): self._on_cs_parameters,
            ("cs_status_and_limits", req): self._on_cs_status_and_limits,
            ("cp_pwm", req): self._on_cp_pwm,
            ("cs_contactor_status", req): self._on_contactor_status,
            ("meter_values", req): self._on_meter_values,
            ("stop_charging", req): self._on_stop_charging,
            ("cable_check", req): self._on_cable_check,
            ("power_electronics_setpoint", req): self._on_setpoint,
        }
        for name in ("hlc_charging", "authorization", "transaction_status", "slac_status", "ev_rated_limits"):
            routes[(name, upd)] = self._on_update
        return routes

    def register(self, router: Router | None = None) -> None:
        """Bind the handlers through the routing table and add the snapshot provider (once);
        without ``router`` (a station on its own) a router over the station's bridge is used."""
        if self._registered:
            return
        self._registered = True
        (router if router is not None else Router(self.bridge)).bind("station", self.routes())
        self.bridge.add_snapshot_provider(self.snapshot)

    def start(self) -> None:
        """Register with the bridge and start the board's two schedulers (board already set up):
        one thread samples every EVSE's CP at its interval, one polls the meters and runs the
        self-tests (``josev_hal.station.scheduler``; notifications still act at once)."""
        self.register()
        intervals = [c.settings.cp_sample_interval_s for c in self.controllers.values()] or [0.05]
        meters = [c.settings.meter_interval_s for c in self.controllers.values()] or [1.0]
        # limits: a loop that does not turn for this long is stuck (the watchdog restarts the HAL)
        self.sampler = Scheduler("sampler", liveness=self._liveness, limit_s=max(5.0, 20 * max(intervals)))
        self.slow = Scheduler("slow", liveness=self._liveness, limit_s=max(20.0, 3 * max(meters) + 10.0))
        for controller in self.controllers.values():
            controller.attach(self.sampler, self.slow)
        self.sampler.start()
        self.slow.start()
        self.derating.start()
        log.info("station started evses=%s", ",".join(self.controllers))

    def stop(self, timeout: float = 2.0) -> None:
        """Stop for good: every contactor is commanded open first (all EVSEs, before any waiting),
        then each controller's loops are joined, the opening confirmed and the final state
        published -- bounded by ``timeout`` even while the bridge is wedged. The board's drivers
        may be released afterwards: no controller touches them again."""
        self.derating.stop()
        for controller in self.controllers.values():
            controller.begin_stop()
        deadline = time.monotonic() + timeout
        # no scheduled job acts any more (begin_stop cancelled them); wait briefly for the one
        # that may be running, so no sampling touches a driver after we return
        for scheduler in (self.sampler, self.slow):
            if scheduler is not None:
                scheduler.stop(max(0.1, min(0.5, deadline - time.monotonic())))
        for controller in self.controllers.values():
            controller.finish_stop(max(0.1, deadline - time.monotonic()))

    def snapshot(self) -> list[Payload]:
        """Current cp_status, contactor, limits and cable state of every EVSE."""
        out: list[Payload] = []
        for controller in self.controllers.values():
            out.extend(controller.snapshot())
        return out

    def controller(self, evse_id: str) -> EvseController:
        """The controller of ``evse_id``; HalError naming the known ids when there is none."""
        try:
            return self.controllers[evse_id]
        except KeyError:
            known = ", ".join(self.controllers)
            raise HalError(f"unknown evse_id {evse_id!r} (this station has: {known})") from None

    def add_update_listener(self, name: str, fn: Callable[[Payload], None]) -> None:
        """Also receive the listen-only update ``name`` (after the station consumed it)."""
        self._listeners.setdefault(name, []).append(fn)

    # -- request handlers (bridge worker threads) ----------------------------------------------
    def _on_cs_parameters(self, msg: Message) -> p.CsParametersResponse:
        params = []
        for spec in self.profile.evse:
            connectors = []
            for c in spec.connectors:
                services: dict[str, Any] = {}
                ctype = p.Iso15118ConnectorType(c.iso15118_type.value)
                mode = p.ControlMode(c.control_mode.value)
                names = {s.value for s in c.services}
                if "ac" in names:
                    services["ac"] = p.CsParametersAc(
                        connector_type=ctype, control_mode=mode, nominal_voltage=int(spec.nominal_voltage_v)
                    )
                if "ac_bpt" in names:
                    services["ac_bpt"] = p.CsParametersAcBpt(
                        connector_type=ctype, control_mode=mode, nominal_voltage=int(spec.nominal_voltage_v)
                    )
                if "dc" in names:
                    services["dc"] = p.CsParametersDc(connector_type=ctype, control_mode=mode)
                if "dc_bpt" in names:
                    services["dc_bpt"] = p.CsParametersDcBpt(connector_type=ctype, control_mode=mode)
                connectors.append(
                    p.CsParametersConnector(id=c.id, services=p.CsParametersServices(**services))
                )
            params.append(
                p.CsParametersParameter(
                    evse_id=spec.id,
                    supports_eim=spec.supports_eim,
                    network_interface=spec.network_interface,
                    connectors=connectors,
                )
            )
        st = self.profile.station
        return p.CsParametersResponse(
            sw_version=st.sw_version, hw_version=st.hw_version, number_of_evses=len(params), parameters=params
        )

    def _on_cs_status_and_limits(self, msg: Message) -> p.CsStatusAndLimitsResponse:
        return p.CsStatusAndLimitsResponse(
            evses=[p.CsStatusAndLimitsEvse(**c.status_and_limits_entry()) for c in self.controllers.values()]
        )

    def _on_cp_pwm(self, msg: Message) -> p.CpPwmResponse:
        req = msg.data
        assert isinstance(req, p.CpPwmRequest)
        controller = self.controllers.get(req.evse_id)
        if controller is None:
            return p.CpPwmResponse(evse_id=req.evse_id, status=p.CpPwmStatus.INVALID, info="unknown evse_id")
        return controller.handle_cp_pwm(req)

    def _on_contactor_status(self, msg: Message) -> p.CsContactorStatusResponse:
        req = msg.data
        assert isinstance(req, p.CsContactorStatusRequest)
        return self.controller(req.evse_id).handle_contactor_status()

    def _on_stop_charging(self, msg: Message) -> p.StopChargingResponse:
        req = msg.data
        assert isinstance(req, p.StopChargingRequest)
        return self.controller(req.evse_id).handle_stop_charging()

    def _on_cable_check(self, msg: Message) -> p.CableCheckResponse:
        req = msg.data
        assert isinstance(req, p.CableCheckRequest)
        return self.controller(req.evse_id).handle_cable_check(req.cable_check_action)

    def _on_setpoint(self, msg: Message) -> p.PowerElectronicsSetpointResponse:
        req = msg.data
        assert isinstance(req, p.PowerElectronicsSetpointRequest)
        controller = self.controllers.get(req.evse_id)
        if controller is None:
            return p.PowerElectronicsSetpointResponse(evse_id=req.evse_id, status=p.AcceptedRejected.REJECTED)
        return controller.handle_power_electronics_setpoint(req)

    def _on_meter_values(self, msg: Message) -> p.MeterValuesResponse:
        """A fresh reading with its own timestamp, or an exception: the meter_values response
        cannot say "error", so the bridge logs the failure and Josev's request times out -- which
        is honest, whereas an old value under a new timestamp would not be."""
        req = msg.data
        assert isinstance(req, p.MeterValuesRequest)
        if req.evse_id is UNSET:  # the whole station (OCPP evseId 0): see station_meter.py
            return self.station_meter.response()
        controller = self.controller(str(req.evse_id))
        reading = controller.meter_values()
        payload: p.MeterValuesResponse = controller.meter_payload(reading, p.MeterValuesResponse)
        return payload

    # -- listen-only updates ---------------------------------------------------------------------
    def _on_update(self, msg: Message) -> None:
        data = msg.data
        evse_id = getattr(data, "evse_id", UNSET)
        controller = self.controllers.get(evse_id) if isinstance(evse_id, str) else None
        if isinstance(data, p.HlcChargingUpdate) and controller is not None:
            controller.on_hlc_charging(data.status)
        elif isinstance(data, p.SlacStatusUpdate) and controller is not None:
            controller.on_slac_status(data.status)
        elif isinstance(data, p.AuthorizationUpdate) and controller is not None:
            controller.on_authorization(data.status)
        elif isinstance(data, p.EvRatedLimitsUpdate) and controller is not None:
            dc = data.dc_rated_limits
            if isinstance(dc, p.EvRatedLimitsDcRatedLimits) and isinstance(dc.max_voltage, (int, float)):
                controller.on_ev_rated_limits(float(dc.max_voltage))
        elif isinstance(data, p.TransactionStatusUpdate):
            # evse_id may be absent; then the transaction is known only if one EVSE has it
            targets = (
                [controller]
                if controller is not None
                else [c for c in self.controllers.values() if c.has_transaction(data.transaction_id)]
            )
            for target in targets:
                target.on_transaction_status(data.transaction_id, data.status)
        elif evse_id is not UNSET and controller is None:
            log.warning("%s update for unknown evse_id=%s ignored", msg.name, evse_id)
        for fn in self._listeners.get(msg.name, ()):
            try:
                fn(data)
            except Exception:
                log.exception("update listener for %s failed", msg.name)
