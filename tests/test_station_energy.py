"""The energy supervisor on real EVSE controllers (issue #22): local limits with expiry and the
binding-limit report, the grid operator's input and the mains-meter site limit shared over two
EVSEs, and the offline policy both ways -- on the sim board; the MQTT paths through a real
mosquitto.

The single-EVSE tests drive a :class:`~tests.support.station.SimEvse` on a manual clock and call
``tick()`` themselves; the station tests run a two-EVSE sim board with the supervisor's own
thread, and measure (not assert) how long the site limit took to hold."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from josev_hal_sim import WorldRegistry, set_default_registry

from josev_hal.board import Board
from josev_hal.messages import payloads as p
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from josev_hal.station.energy import (
    EnergySettings,
    EnergySupervisor,
    EvseEnergy,
    energy_from_profile,
    limits_topic,
)
from josev_hal.station.limits import STATION_SCOPE, LimitSource
from josev_hal.station.offline import OfflinePolicy, OnJosevLost
from josev_hal.station.pwm import duty_from_current
from josev_hal.station.station import Station
from tests.support.broker import JosevPeer
from tests.support.station import SimEvse
from tests.support.waiting import eventually


@pytest.fixture
def rig() -> Iterator[SimEvse]:
    rig = SimEvse("ac", free_charging=True)
    yield rig
    rig.close()


def charging(rig: SimEvse) -> None:
    rig.plug()
    rig.charge()
    rig.settle(1.0)
    assert rig.ctl.contactor_closed


def supervisor(rig: SimEvse, **settings: Any) -> EnergySupervisor:
    return EnergySupervisor({rig.evse_id: rig.ctl}, EnergySettings(**settings), clock=rig.clock.now)


def offered_a(rig: SimEvse) -> float:
    duty = rig.world.cp.duty_percent
    assert duty is not None
    return round(duty * 0.6, 1)


# -- local limits --------------------------------------------------------------------------------


def test_a_local_limit_lowers_the_pwm_and_names_itself_as_binding(rig: SimEvse) -> None:
    charging(rig)
    assert offered_a(rig) == 32.0
    sup = supervisor(rig)
    sup.set_local_limit(rig.evse_id, amps=10.0, ttl_s=60.0, origin="ems")
    rig.settle(0.2)
    assert rig.world.cp.duty_percent == pytest.approx(duty_from_current(10.0), abs=0.01)
    report = rig.ctl.limits()
    assert report.amps == 10.0 and report.binding == (LimitSource.LOCAL,)
    assert "local DE*TST*E0001 10 A by ems" in report.describe()
    assert rig.ctl.ac_limit_a() == 10.0
    pushed = rig.of(p.CsStatusAndLimitsUpdate)[-1].evses[0].ac
    assert pushed.max_current.l1 == 10.0  # type: ignore[union-attr]


def test_a_local_limit_expires_and_the_offer_returns(rig: SimEvse) -> None:
    charging(rig)
    sup = supervisor(rig)
    sup.set_local_limit(rig.evse_id, amps=10.0, ttl_s=60.0)
    rig.settle(0.2)
    assert offered_a(rig) == 10.0
    rig.clock.advance(59.0)
    sup.tick()
    rig.settle(0.1)
    assert offered_a(rig) == 10.0
    rig.clock.advance(1.5)
    sup.tick()
    rig.settle(0.1)
    assert offered_a(rig) == 32.0
    assert LimitSource.LOCAL not in {lim.source for lim in rig.ctl.limits().limits}


def test_a_local_watt_limit_converts_at_the_evse_phases(rig: SimEvse) -> None:
    charging(rig)
    sup = EnergySupervisor(
        {rig.evse_id: rig.ctl},
        EnergySettings(evses={rig.evse_id: EvseEnergy(voltage_v=230.0, phases=3)}),
        clock=rig.clock.now,
    )
    sup.set_local_limit(STATION_SCOPE, watts=11_040.0)  # 16 A on three phases
    rig.settle(0.2)
    assert offered_a(rig) == 16.0
    assert "share of local station 11040 W" in rig.ctl.limits().describe()


def test_a_local_limit_below_the_minimum_pauses_the_ev(rig: SimEvse) -> None:
    charging(rig)
    sup = supervisor(rig)
    sup.set_local_limit(rig.evse_id, amps=4.0)
    rig.settle(7.0)  # the polite withdrawal: X1, the EV goes to B, the contactor opens
    assert rig.world.cp.mode.value == "x1"
    assert not rig.ctl.contactor_closed


def test_the_lowest_limit_binds_and_lifting_it_lets_the_next_one_bind(rig: SimEvse) -> None:
    charging(rig)
    sup = supervisor(rig)
    rig.ctl.set_derating_limit(20.0)
    sup.set_local_limit(rig.evse_id, amps=12.0)
    assert rig.ctl.limits().binding == (LimitSource.LOCAL,)
    sup.clear_local_limit(rig.evse_id)
    assert rig.ctl.limits().binding == (LimitSource.TEMPERATURE,)
    rig.settle(0.2)
    assert offered_a(rig) == 20.0


@pytest.mark.parametrize(
    ("payload", "logged"),
    [
        (b'{"scope": "*", "amps": "ten"}', "$.amps"),
        (b'{"scope": "*", "amps": 10, "colour": 1}', "colour"),
        (b'{"scope": "*", "amps": -3}', "amps: must be"),
        (b'{"scope": "*", "amps": 10, "watts": 100}', "amps/watts"),
        (b'{"scope": "NOPE", "amps": 10}', "scope: not an AC EVSE"),
        (b"not json", "rejected"),
    ],
)
def test_a_bad_local_limit_message_is_logged_and_changes_nothing(
    rig: SimEvse, caplog: pytest.LogCaptureFixture, payload: bytes, logged: str
) -> None:
    sup = supervisor(rig)
    with caplog.at_level(logging.WARNING, logger="josev_hal.station.energy"):
        sup.on_limit_message("josev-hal/x/limits/set", payload)
    assert logged in caplog.text
    assert sup.local.active(rig.clock.now()) == {}
    assert LimitSource.LOCAL not in {lim.source for lim in rig.ctl.limits().limits}


def test_a_local_limit_message_sets_and_clears(rig: SimEvse) -> None:
    charging(rig)
    sup = supervisor(rig)
    sup.on_limit_message("t", json.dumps({"scope": rig.evse_id, "amps": 8, "ttl_s": 30}).encode())
    rig.settle(0.2)
    assert offered_a(rig) == 8.0
    sup.on_limit_message("t", json.dumps({"scope": rig.evse_id, "clear": True}).encode())
    rig.settle(0.2)
    assert offered_a(rig) == 32.0


# -- offline policy on one EVSE ------------------------------------------------------------------


class BrokerView:
    """The bridge as the supervisor sees it: connected or not, and service_status probes that
    are answered or not (a real bridge + mosquitto do the same in the station test below)."""

    def __init__(self) -> None:
        self.connected = True
        self.answering = True
        self.probes = 0

    def request(self, payload: Any, timeout: float | None = None) -> Any:
        self.probes += 1
        if not self.answering:
            raise TimeoutError("no answer")
        data = p.ServiceStatusResponse(service="ocpp", software_version="1", api_version="1", status="ready")  # type: ignore[arg-type]
        return type("Answer", (), {"data": data})()


def offline_rig(rig: SimEvse, policy: OfflinePolicy) -> tuple[EnergySupervisor, BrokerView]:
    view = BrokerView()
    sup = EnergySupervisor(
        {rig.evse_id: rig.ctl}, EnergySettings(offline=policy), bridge=view, clock=rig.clock.now
    )
    sup.tick()
    assert eventually(lambda: view.probes >= 1)
    assert eventually(lambda: (sup.tick(), not sup.watch.lost)[1])
    return sup, view


def test_basic_ac_goes_on_while_josev_is_lost_by_default(rig: SimEvse) -> None:
    sup, view = offline_rig(rig, OfflinePolicy())
    charging(rig)
    view.connected = False
    for _ in range(20):
        rig.clock.advance(60.0)
        sup.tick()
    rig.settle(0.2)
    assert rig.ctl.contactor_closed, "the default policy keeps a basic AC session going"
    view.connected = True
    assert eventually(lambda: (rig.clock.advance(1.0), sup.tick(), not sup.watch.lost)[2])
    assert "continued: DE*TST*E0001" in sup.last_report


def test_basic_ac_stops_after_stop_after_s_with_that_policy(rig: SimEvse) -> None:
    policy = OfflinePolicy(on_josev_lost=OnJosevLost.STOP_AFTER_S, stop_after_s=120.0)
    sup, view = offline_rig(rig, policy)
    charging(rig)
    view.connected = False
    sup.tick()
    rig.clock.advance(119.0)
    sup.tick()
    rig.settle(0.2)
    assert rig.ctl.contactor_closed
    rig.clock.advance(1.0)
    sup.tick()
    rig.settle(7.0)
    assert not rig.ctl.contactor_closed
    view.connected = True
    assert eventually(lambda: (rig.clock.advance(1.0), sup.tick(), not sup.watch.lost)[2])
    assert "DE*TST*E0001: stop after 120" in sup.last_report


def test_an_unanswered_probe_counts_as_josev_lost(rig: SimEvse) -> None:
    policy = OfflinePolicy(probe_interval_s=5.0, probe_timeout_s=3.0)
    sup, view = offline_rig(rig, policy)
    view.answering = False
    rig.clock.advance(5.0)
    sup.tick()
    rig.clock.advance(3.0)
    sup.tick()
    assert sup.watch.lost and "no service_status answer" in sup.watch.reason


# -- a two-EVSE station through a real mosquitto --------------------------------------------------

TWO_AC = """
[station]
vendor = "josev-hal"
model = "two AC"
serial_number = "T-1"
sw_version = "0.1.0"
hw_version = "sim"

[mqtt]
broker = "@BROKER@"
client_id = "@CLIENT@"

[safety]
rcd_trip = "hardware"
cp_loss_shutdown = "hal"
welding_detection = "hal"
open_on_meter_loss = false
open_on_board_link_loss = true
rcd_reset = "manual"

[sessions]
on_josev_lost = "@POLICY@"
stop_after_s = 1.0
probe_interval_s = 0.3
probe_timeout_s = 0.5

[limits]
interval_s = 0.2
[limits.grid]
active_limit_w = 4200
[limits.site]
max_current_a = 32

@EVSES@
"""

EVSE_TEMPLATE = """
[[evse]]
id = "DE*TST*E00{n}"
ocpp_id = {n}
kind = "ac"
network_interface = "lo"
phases = 3
max_current_a = 32

  [[evse.connectors]]
  id = 1
  ocpp_type = "cType2"
  iso15118_type = "AC_three_phase_core"
  services = ["ac"]
  cable = "fixed"
  max_cable_current_a = 32

  [evse.devices.cp]
  driver = "sim-cp"
  options = {{ noise_v = 0.0, ev_draw_a = 16.0 }}
  [evse.devices.contactor]
  driver = "sim-contactor"
  [evse.devices.meter]
  driver = "sim-meter"
{extra}
"""

STATION_DEVICES = """
  [evse.devices.grid_limit]
  driver = "sim-grid-input"
  [evse.devices.mains_meter]
  driver = "sim-mains-meter"
  options = { world = "mains" }
"""


class JosevResponder:
    """Answers the HAL's service_status requests on josev/cs like Josev's OCPP service, while
    ``answering`` is set (clear it and Josev has hung without a word)."""

    def __init__(self, peer: JosevPeer) -> None:
        self.peer = peer
        self.answering = True
        self._done: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            if not self.answering:
                continue
            for msg in self.peer.messages():
                if msg.get("name") != "service_status" or msg.get("type") != "request":
                    continue
                if msg["id"] in self._done:
                    continue
                self._done.add(msg["id"])
                data = {"service": "ocpp", "software_version": "1.0", "api_version": "1.0", "status": "ready"}
                self.peer.send({"id": msg["id"], "name": "service_status", "type": "response", "data": data})

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


@pytest.fixture
def station_rig(
    request: pytest.FixtureRequest, broker: Any, josev_peer: JosevPeer, bridge_factory: Callable[..., Any]
) -> Iterator[dict[str, Any]]:
    from josev_hal_sim import RealClock

    policy = getattr(request, "param", "stop_after_s")
    responder = JosevResponder(josev_peer)

    registry = WorldRegistry(RealClock())
    previous = set_default_registry(registry)
    evses = EVSE_TEMPLATE.format(n=1, extra=STATION_DEVICES) + EVSE_TEMPLATE.format(n=2, extra="")
    client = "josev-hal-energy-test"
    text = TWO_AC.replace("@EVSES@", evses).replace("@BROKER@", broker.url).replace("@CLIENT@", client)
    text = text.replace("@POLICY@", policy)
    pm = get_plugin_manager()
    profile = load_profile_text(text, "boards/two-ac.toml", pm)
    board = Board.build(profile, pm)
    board.setup()
    bridge = bridge_factory(start=False, client_id=client)
    station = Station(profile, board, bridge, free_charging=True)
    sup = energy_from_profile(profile, board, station.controllers, bridge=bridge)
    sup.start()
    station.start()
    bridge.start(wait_s=10)
    try:
        yield {
            "station": station,
            "sup": sup,
            "registry": registry,
            "peer": josev_peer,
            "client": client,
            "responder": responder,
        }
    finally:
        responder.close()
        sup.stop()
        station.stop()
        board.release()
        set_default_registry(previous)
        registry.clear()


def _charge_both(registry: WorldRegistry) -> None:
    from josev_hal_sim.physics import EvRequest

    for eid in ("DE*TST*E001", "DE*TST*E002"):
        world = registry.find(eid)
        assert world is not None
        world.plug()
        world.set_request(EvRequest.CHARGE)


def _phase_a(registry: WorldRegistry, eid: str) -> float:
    world = registry.find(eid)
    assert world is not None
    return world.phase_currents().l1


def test_the_grid_operator_input_holds_the_station_at_4200_w(station_rig: dict[str, Any]) -> None:
    registry = station_rig["registry"]
    _charge_both(registry)
    assert eventually(
        lambda: _phase_a(registry, "DE*TST*E001") > 15 and _phase_a(registry, "DE*TST*E002") > 15
    )
    started = time.monotonic()
    grid_world = registry.find("DE*TST*E001")
    assert grid_world is not None
    grid_world.set_grid_limit(True)  # the control box's relay closes
    total_w = lambda: 230.0 * 3 * (_phase_a(registry, "DE*TST*E001") + _phase_a(registry, "DE*TST*E002"))  # noqa: E731
    assert eventually(lambda: total_w() <= 4200.0 + 1e-6, timeout_s=10.0)
    reaction = time.monotonic() - started
    print(f"grid input -> station under 4200 W after {reaction:.2f} s (limits interval 0.2 s)")
    ctl = station_rig["station"].controller("DE*TST*E001")
    assert LimitSource.GRID_INPUT in ctl.limits().binding
    grid_world.set_grid_limit(False)
    assert eventually(lambda: _phase_a(registry, "DE*TST*E001") > 15, timeout_s=10.0)


def test_the_mains_meter_keeps_the_site_under_its_limit(station_rig: dict[str, Any]) -> None:
    registry = station_rig["registry"]
    _charge_both(registry)
    assert eventually(lambda: _phase_a(registry, "DE*TST*E002") > 15)
    started = time.monotonic()
    mains = registry.get("mains")
    assert mains is not None
    mains.set_house_load(18.0, 10.0, 10.0)  # the heat pump starts

    def site_a() -> float:
        return 18.0 + _phase_a(registry, "DE*TST*E001") + _phase_a(registry, "DE*TST*E002")

    assert eventually(lambda: site_a() <= 32.0 + 1e-6, timeout_s=10.0)
    print(f"mains meter -> site under 32 A after {time.monotonic() - started:.2f} s (limits interval 0.2 s)")
    # 14 A of headroom: 7 A each (fair share, both above the 6 A minimum)
    assert eventually(lambda: abs(_phase_a(registry, "DE*TST*E001") - 7.0) < 0.1, timeout_s=10.0)
    ctl = station_rig["station"].controller("DE*TST*E002")
    assert ctl.limits().binding == (LimitSource.SITE,)


def test_a_local_limit_over_mqtt_reaches_the_evse_and_josev_sees_it(station_rig: dict[str, Any]) -> None:
    registry, peer, client = station_rig["registry"], station_rig["peer"], station_rig["client"]
    _charge_both(registry)
    ctl = station_rig["station"].controller("DE*TST*E002")
    for _ in range(50):  # the subscription may lag the connection
        peer.send({"scope": "DE*TST*E002", "amps": 10, "ttl_s": 600}, topic=limits_topic(client))
        if eventually(lambda: ctl.ac_limit_a() == 10.0, timeout_s=0.2):
            break
    # the site share settles once the EVSE meters caught up with the mains meter (1 s polls)
    assert eventually(lambda: ctl.limits().binding == (LimitSource.LOCAL,), timeout_s=10.0)
    assert eventually(lambda: abs(_phase_a(registry, "DE*TST*E002") - 10.0) < 0.1)

    def josev_saw_10_a() -> bool:
        for msg in peer.messages():
            if msg.get("name") == "cs_status_and_limits" and msg.get("type") == "update":
                for evse in msg["data"]["evses"]:
                    ac = evse.get("ac") or {}
                    if evse.get("evse_id") == "DE*TST*E002" and ac.get("max_current", {}).get("l1") == 10.0:
                        return True
        return False

    assert eventually(josev_saw_10_a)


def _both_closed(station: Station) -> bool:
    return all(station.controller(e).contactor_closed for e in ("DE*TST*E001", "DE*TST*E002"))


def test_josev_silent_stops_basic_ac_after_stop_after_s_and_reports_when_back(
    station_rig: dict[str, Any],
) -> None:
    station, sup, responder = station_rig["station"], station_rig["sup"], station_rig["responder"]
    assert eventually(lambda: not sup.watch.lost, timeout_s=10.0)
    _charge_both(station_rig["registry"])
    assert eventually(lambda: _both_closed(station))
    responder.answering = False  # Josev hangs: probes go unanswered
    assert eventually(lambda: sup.watch.lost, timeout_s=10.0)
    assert "no service_status answer" in sup.watch.reason
    assert eventually(
        lambda: not any(station.controller(e).contactor_closed for e in ("DE*TST*E001",)), timeout_s=15.0
    )
    responder.answering = True
    assert eventually(lambda: "josev was lost" in sup.last_report, timeout_s=10.0)
    assert "DE*TST*E001: stop after" in sup.last_report and "DE*TST*E002: stop after" in sup.last_report


@pytest.mark.parametrize("station_rig", ["continue"], indirect=True)
def test_josev_silent_lets_basic_ac_continue_by_default(station_rig: dict[str, Any]) -> None:
    station, sup, responder = station_rig["station"], station_rig["sup"], station_rig["responder"]
    assert eventually(lambda: not sup.watch.lost, timeout_s=10.0)
    _charge_both(station_rig["registry"])
    assert eventually(lambda: _both_closed(station))
    responder.answering = False
    assert eventually(lambda: sup.watch.lost, timeout_s=10.0)
    time.sleep(2.0)  # well past stop_after_s, which this policy does not use
    assert _both_closed(station)
    responder.answering = True
    assert eventually(lambda: "josev was lost" in sup.last_report, timeout_s=10.0)
    assert "continued: DE*TST*E001, DE*TST*E002" in sup.last_report


def test_the_daemon_runs_the_energy_supervisor_and_takes_a_local_limit_over_mqtt(
    broker: Any, josev_peer: JosevPeer, tmp_path: Any
) -> None:
    from josev_hal.daemon import Daemon, load_board_profile

    pm = get_plugin_manager()
    profile, source = load_board_profile(None, pm)  # the built-in sim board
    daemon = Daemon(profile, pm, source=source, broker_url=broker.url, state_dir=tmp_path)
    daemon.start(wait_s=10)
    try:
        assert daemon.energy is not None and daemon.station is not None
        assert pm.get_plugin("josev_hal.energy") is daemon.energy  # for an energy-manager plugin
        ctl = daemon.station.controller("DE*JHL*E0001")
        topic = limits_topic(profile.mqtt.client_id)
        for _ in range(50):  # the subscription may lag the connection
            josev_peer.send({"scope": "DE*JHL*E0001", "amps": 9, "ttl_s": 60}, topic=topic)
            if eventually(lambda: ctl.ac_limit_a() == 9.0, timeout_s=0.2):
                break
        assert ctl.limits().binding == (LimitSource.LOCAL,)
        assert "DE*JHL*E0002" not in daemon.energy.sharing  # DC takes no part in AC sharing
        # Josev's service_status updates reach the supervisor (plugin hook hal_josev_update)
        energy = daemon.energy
        update = {
            "id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
            "name": "service_status",
            "type": "update",
            "data": {"service": "ocpp", "software_version": "1", "api_version": "3.10.0", "status": "error"},
        }
        josev_peer.send(update)
        assert eventually(lambda: "ocpp error" in energy.watch.reason, timeout_s=10.0)
    finally:
        daemon.stop()
    assert daemon.energy is None


def test_an_iso15118_dc_session_stops_when_josev_is_lost_whatever_the_policy() -> None:
    from tests.test_interlocks import apply_dc

    rig = SimEvse("dc")
    try:
        sup, view = offline_rig(rig, OfflinePolicy())  # "continue" is for basic AC only
        apply_dc(rig, "dc_session")
        rig.settle(1.0)
        assert rig.ctl.contactor_closed and rig.ctl.hlc_active
        view.connected = False
        sup.tick()
        rig.clock.advance(1.9)
        sup.tick()
        rig.settle(0.2)
        assert rig.ctl.contactor_closed
        rig.clock.advance(0.2)
        sup.tick()
        rig.settle(1.0)
        assert not rig.ctl.contactor_closed
        assert not rig.world.pm.enabled or rig.world.pm.target_a == 0.0
        assert sup.episode is not None and "DE*TST*E0002" in sup.episode.stopped()
    finally:
        rig.close()


# -- failures of the station-level devices ----------------------------------------------------------


def test_an_unreadable_grid_input_counts_as_active(rig: SimEvse, caplog: pytest.LogCaptureFixture) -> None:
    charging(rig)
    grid = rig._make("sim-grid-input", broken=True)
    sup = EnergySupervisor(
        {rig.evse_id: rig.ctl},
        EnergySettings(grid_active_limit_w=4200.0, evses={rig.evse_id: EvseEnergy()}),
        grid_input=grid,
        clock=rig.clock.now,
    )
    with caplog.at_level(logging.WARNING, logger="josev_hal.station.energy"):
        sup.tick()
    rig.settle(0.2)
    assert "treated as active" in caplog.text
    assert rig.ctl.limits().binding == (LimitSource.GRID_INPUT,)
    assert offered_a(rig) == pytest.approx(4200.0 / 690.0, abs=0.1)


def test_a_silent_mains_meter_pauses_the_evse_after_stale_after_s(rig: SimEvse) -> None:
    charging(rig)
    mains = rig._make("sim-mains-meter")
    sup = EnergySupervisor(
        {rig.evse_id: rig.ctl},
        EnergySettings(site_max_current_a=63.0, mains_stale_after_s=3.0, evses={rig.evse_id: EvseEnergy()}),
        mains_meter=mains,
        clock=rig.clock.now,
    )
    rig.ctl.poll_meter()
    sup.tick()
    rig.settle(0.2)
    assert offered_a(rig) == 32.0  # plenty of headroom
    rig.world.set_meter_online(False)  # the mains meter and the EVSE meter share this world
    rig.clock.advance(2.0)
    sup.tick()
    rig.settle(0.1)
    assert offered_a(rig) == 32.0, "a short gap keeps the last shares"
    rig.clock.advance(1.5)
    sup.tick()
    rig.settle(0.2)
    assert rig.ctl.limits().of(LimitSource.SITE) is not None
    assert rig.ctl.ac_limit_a() == 0.0  # the fuse must not be guessed
    rig.world.set_meter_online(True)
    rig.ctl.poll_meter()
    sup.tick()
    assert rig.ctl.ac_limit_a() == 32.0


def test_the_site_share_settles_instead_of_oscillating_while_the_evse_meters_lag(
    station_rig: dict[str, Any],
) -> None:
    """The EVSE meters are polled every second, the mains meter every turn: right after a change
    the EVSE readings are older than the new offer and must not be taken at face value (that
    would swing the shares between 7 A and 16 A and the site over its limit every second)."""
    registry = station_rig["registry"]
    _charge_both(registry)
    assert eventually(lambda: _phase_a(registry, "DE*TST*E002") > 15)
    mains = registry.get("mains")
    assert mains is not None
    mains.set_house_load(18.0, 10.0, 10.0)
    time.sleep(0.6)  # the reaction time: a limits turn (0.2 s) with margin for a loaded machine
    seen = []
    deadline = time.monotonic() + 3.0  # three EVSE meter polls
    while time.monotonic() < deadline:
        seen.append((_phase_a(registry, "DE*TST*E001"), _phase_a(registry, "DE*TST*E002")))
        time.sleep(0.05)
    assert all(18.0 + a + b <= 32.0 + 0.05 for a, b in seen), max(a + b for a, b in seen)  # duty rounding
    assert all(abs(a - 7.0) < 0.1 and abs(b - 7.0) < 0.1 for a, b in seen), sorted(set(seen))
