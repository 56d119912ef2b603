"""The hardware-side second channel under EVerest: the adapter opens by itself (RCD trip, CP
leaving C/D, heartbeat loss), never closes outside C/D or without a live, permitting EVerest, and
bad input never actuates. Through a real mosquitto with the sim board's drivers; the interlock
property test drives the adapter's handlers and supervision cycle directly on sim drivers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from josev_hal_sim import WorldRegistry, default_registry, set_default_registry, sim_board_text

from josev_hal.board import Board
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.everest import messages as m
from josev_hal.everest.bsp import BoardSupport
from josev_hal.everest.emulator import BSP, EverestEmulator
from josev_hal.everest.link import EverestLink
from josev_hal.everest.monitor import ModuleMonitor
from josev_hal.plugins import get_plugin_manager
from josev_hal.station import settings_from_profile
from josev_hal.station.cp import CpLetter
from tests.support.everest_rig import Rig, everest_profile, everest_rig
from tests.support.waiting import eventually

AC = "DE*JHL*E0001"
ALLOW = m.PowerOnOff(allow_power_on=True, reason=m.PowerOnReason.FULL_POWER_CHARGING)
# The spec's default cfg_communication_check_to_s: the bound within which a lost EVerest must be
# noticed (used as a waiting timeout only).
SPEC_CHECK_INTERVAL_S = 5.0


@pytest.fixture(autouse=True)
def own_sim_worlds() -> Iterator[None]:
    previous = set_default_registry(WorldRegistry())
    yield
    set_default_registry(previous).clear()


def _world():  # type: ignore[no-untyped-def]
    world = default_registry().find(AC, 1)
    assert world is not None
    return world


def _no_hardware_cutoff() -> str:
    # The sim RCD drops the coil itself by default; without it only the HAL can open.
    return sim_board_text().replace("hardware_cutoff = true", "hardware_cutoff = false")


def _charging(rig: Rig) -> None:
    emu = rig.emulator
    emu.wait_for(lambda r: r.module_id == "bsp_1" and r.name == "communication_check", 5)
    assert eventually(lambda: rig.bsp(0).snapshot().alive, 5)
    t = time.monotonic()
    emu.send(BSP, "bsp_1", "enable", True)
    emu.sim(AC, "plug")
    emu.send(BSP, "bsp_1", "pwm_on", 26.7)
    emu.send(BSP, "bsp_1", "lock")
    emu.sim(AC, "charge")
    _event(emu, "C", t)
    emu.send(BSP, "bsp_1", "allow_power_on", ALLOW)
    _event(emu, "PowerOn", t)
    assert _world().relay_state() == (True, True)


def _event(emu: EverestEmulator, event: str, after: float, timeout: float = 5.0) -> m.BspEvent:
    rec = emu.wait_for(
        lambda r: r.module_id == "bsp_1" and r.name == "event" and r.value.event.value == event,
        timeout,
        after=after,
    )
    return rec.value  # type: ignore[no-any-return]


def test_rcd_trip_opens_the_contactor_without_waiting_for_everest(broker: EmbeddedBroker) -> None:
    profile = everest_profile(_no_hardware_cutoff())
    with everest_rig(broker, profile) as rig:
        _charging(rig)
        t = time.monotonic()
        _world().rcd_trip(residual_ma=40.0)
        assert eventually(lambda: _world().relay_state() == (False, False), 5)
        _event(rig.emulator, "PowerOff", t)
        raised = rig.emulator.wait_for(lambda r: r.name == "raise_error", 5, after=t)
        assert raised.value.type is m.BspErrorType.AC
        # The trip withdrew the permission: clearing the RCD does not close again by itself.
        _world().rcd_clear()
        rig.emulator.wait_for(lambda r: r.name == "clear_error", 5, after=t)
        time.sleep(0.3)
        assert _world().relay_state() == (False, False)
        assert not rig.bsp(0).snapshot().allow_power_on
        assert rig.emulator.checker.violations == []


def test_unplugging_opens_the_contactor(broker: EmbeddedBroker) -> None:
    with everest_rig(broker, everest_profile(sim_board_text())) as rig:
        _charging(rig)
        t = time.monotonic()
        rig.emulator.sim(AC, "unplug")
        _event(rig.emulator, "A", t)
        _event(rig.emulator, "PowerOff", t)
        assert _world().relay_state() == (False, False)
        assert rig.emulator.checker.violations == []


def test_ev_pause_in_b_opens_and_c_closes_again_only_while_the_permission_stands(
    broker: EmbeddedBroker,
) -> None:
    with everest_rig(broker, everest_profile(sim_board_text())) as rig:
        _charging(rig)
        t = time.monotonic()
        rig.emulator.sim(AC, "pause")
        _event(rig.emulator, "B", t)
        _event(rig.emulator, "PowerOff", t)
        assert _world().relay_state()[0] is False
        t = time.monotonic()
        rig.emulator.sim(AC, "charge")
        _event(rig.emulator, "PowerOn", t)  # allow_power_on still true: EvseManager resumes
        assert rig.emulator.checker.violations == []


def test_heartbeat_loss_opens_and_stops_the_pwm_within_the_check_interval(broker: EmbeddedBroker) -> None:
    with everest_rig(broker, everest_profile(sim_board_text())) as rig:
        _charging(rig)
        t = time.monotonic()
        rig.emulator.stop_heartbeats()
        assert eventually(lambda: _world().relay_state() == (False, False), SPEC_CHECK_INTERVAL_S)
        _event(rig.emulator, "PowerOff", t)
        assert eventually(lambda: rig.bsp(0).snapshot().cp_applied == ("x1", None), SPEC_CHECK_INTERVAL_S)
        # EVerest back: nothing closes until it allows power again.
        rig.emulator.resume_heartbeats()
        assert eventually(lambda: rig.bsp(0).snapshot().alive, 5)
        assert eventually(lambda: rig.bsp(0).snapshot().cp_applied == ("pwm", 26.7), 5)
        time.sleep(0.3)
        assert _world().relay_state() == (False, False)
        t = time.monotonic()
        rig.emulator.send(BSP, "bsp_1", "allow_power_on", ALLOW)
        _event(rig.emulator, "PowerOn", t)


def test_allow_power_on_in_b_does_not_close_until_the_ev_asks_with_c(broker: EmbeddedBroker) -> None:
    with everest_rig(broker, everest_profile(sim_board_text())) as rig:
        emu = rig.emulator
        assert eventually(lambda: rig.bsp(0).snapshot().alive, 5)
        t = time.monotonic()
        emu.send(BSP, "bsp_1", "enable", True)
        emu.sim(AC, "plug")
        emu.send(BSP, "bsp_1", "pwm_on", 26.7)
        emu.send(BSP, "bsp_1", "lock")
        _event(emu, "B", t)
        emu.send(BSP, "bsp_1", "allow_power_on", ALLOW)
        time.sleep(0.5)
        assert _world().relay_state() == (False, False)
        assert not emu.messages("bsp_1", "event") or all(
            r.value.event is not m.BspEventKind.POWER_ON for r in emu.messages("bsp_1", "event")
        )
        emu.sim(AC, "charge")
        _event(emu, "PowerOn", t)
        assert emu.checker.violations == []


def test_a_malformed_command_is_rejected_with_its_path_and_never_actuates(broker: EmbeddedBroker) -> None:
    with everest_rig(broker, everest_profile(sim_board_text())) as rig:
        emu = rig.emulator
        assert eventually(lambda: rig.bsp(0).snapshot().alive, 5)
        t = time.monotonic()
        emu.send(BSP, "bsp_1", "enable", True)
        emu.sim(AC, "plug")
        emu.sim(AC, "charge")
        emu.send(BSP, "bsp_1", "lock")
        _event(emu, "C", t)
        topic = "everest_api/1/evse_board_support/bsp_1/e2m/allow_power_on"
        emu.send_raw(topic, b'{"allow_power_on": "yes", "reason": "FullPowerCharging"}')
        emu.send_raw("everest_api/1/evse_board_support/bsp_1/e2m/pwm_on", b"250")
        link = rig.northbound.link
        assert eventually(lambda: link.stats.rejected >= 2, 5)
        assert any("$.allow_power_on" in r for r in link.stats.rejects), link.stats.rejects
        time.sleep(0.3)
        assert _world().relay_state() == (False, False)
        assert rig.bsp(0).snapshot().cp_applied == ("x1", None)


def test_a_welded_contactor_is_reported_and_power_off_is_never_claimed(broker: EmbeddedBroker) -> None:
    with everest_rig(broker, everest_profile(sim_board_text())) as rig:
        _charging(rig)
        _world().set_welded(True)
        t = time.monotonic()
        rig.emulator.send(
            BSP,
            "bsp_1",
            "allow_power_on",
            m.PowerOnOff(allow_power_on=False, reason=m.PowerOnReason.POWER_OFF),
        )
        raised = rig.emulator.wait_for(lambda r: r.name == "raise_error", 5, after=t)
        assert (raised.value.type, raised.value.sub_type) == (
            m.BspErrorType.MREC17_EVSE_CONTACTOR_FAULT,
            "welded",
        )
        time.sleep(0.3)
        assert all(
            r.value.event is not m.BspEventKind.POWER_OFF
            for r in rig.emulator.messages("bsp_1", "event")
            if r.at >= t
        )
        # The checker itself flags the missing PowerOff after allow_power_on = false.
        rig.emulator.checker.finish(time.monotonic() + 2)
        assert any("no PowerOff" in v for v in rig.emulator.checker.violations)


# ----------------------------------------------------------------------------------------------
# interlock property: random EVerest commands and EV/board events, the adapter in front
# ----------------------------------------------------------------------------------------------

ACTIONS = st.lists(
    st.sampled_from(
        [
            "enable",
            "disable",
            "pwm",
            "x1",
            "state_f",
            "allow",
            "forbid",
            "lock",
            "unlock",
            "plug",
            "unplug",
            "charge",
            "pause",
            "rcd_trip",
            "rcd_clear",
            "heartbeat_lost",
            "heartbeat_back",
            "diode_fault",
            "cp_short",
        ]
    ),
    min_size=1,
    max_size=25,
)


# Most random sequences never get near a closed contactor; half of them start from a session
# that is one step away from power, so the property is exercised where it matters.
READY = ["heartbeat_back", "enable", "pwm", "lock", "plug", "allow"]


def _instant_board() -> str:
    # Relays and lock follow at once: the property steps do not wait for mechanical delays.
    text = _no_hardware_cutoff()
    for old, new in (
        ("close_delay_ms = 30, open_delay_ms = 20", "close_delay_ms = 0, open_delay_ms = 0"),
        ("delay_ms = 200", "delay_ms = 0"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text


def _run_actions(actions: list[str]) -> int:
    """Apply the actions with three supervision cycles each; check after each; return how many
    steps ended with the contactor commanded closed."""
    registry = WorldRegistry()
    previous = set_default_registry(registry)
    pm = get_plugin_manager()
    profile = everest_profile(_instant_board())
    closed_steps = 0
    board = Board.build(profile, pm)
    board.setup()
    try:
        evse = board.evses[0]
        link = EverestLink(profile.mqtt, "mqtt://127.0.0.1:1")  # never started: publishes queue up
        mon = ModuleMonitor("evse_board_support", "bsp_1", 1.0)
        bsp = BoardSupport(link, evse, settings_from_profile(profile, evse.spec), "bsp_1", mon)
        world = registry.find(AC, 1)
        assert world is not None
        for action in actions:
            _apply(action, bsp, world)
            for _ in range(3):  # debounce: a letter is accepted after two agreeing samples
                bsp._cycle()
            _check(bsp, world)
            closed_steps += world.relay_state()[0]
    finally:
        board.release()
        set_default_registry(previous)
        registry.clear()
    return closed_steps


def test_the_property_harness_reaches_a_closed_contactor() -> None:
    # Without this the property below could pass by never closing at all.
    assert _run_actions([*READY, "charge"]) == 1
    assert _run_actions([*READY, "charge", "pause"]) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ready=st.booleans(), actions=ACTIONS)
def test_interlock_property_the_adapter_never_closes_outside_its_conditions(
    ready: bool, actions: list[str]
) -> None:
    _run_actions((READY if ready else []) + actions)


def _apply(action: str, bsp: BoardSupport, world) -> None:  # type: ignore[no-untyped-def]
    handlers = {
        "enable": lambda: bsp._on_enable(True),
        "disable": lambda: bsp._on_enable(False),
        "pwm": lambda: bsp._on_pwm_on(26.7),
        "x1": lambda: bsp._request_cp(("x1", None)),
        "state_f": lambda: bsp._request_cp(("f", None)),
        "allow": lambda: bsp._on_allow_power_on(ALLOW),
        "forbid": lambda: bsp._on_allow_power_on(
            m.PowerOnOff(allow_power_on=False, reason=m.PowerOnReason.POWER_OFF)
        ),
        "lock": lambda: bsp._request_lock(True),
        "unlock": lambda: bsp._request_lock(False),
        "plug": lambda: world.plug(),
        "unplug": lambda: world.unplug(),
        "charge": lambda: world.set_request(__import__("josev_hal_sim").EvRequest.CHARGE),
        "pause": lambda: world.set_request(__import__("josev_hal_sim").EvRequest.IDLE),
        "rcd_trip": lambda: world.rcd_trip(),
        "rcd_clear": lambda: world.rcd_clear(),
        "heartbeat_lost": lambda: bsp.on_alive_change(False),
        "heartbeat_back": lambda: bsp.on_alive_change(True),
        "diode_fault": lambda: world.set_diode_shorted(True),
        "cp_short": lambda: world.set_cp_shorted(True),
    }
    handlers[action]()


def _check(bsp: BoardSupport, world) -> None:  # type: ignore[no-untyped-def]
    s = bsp.snapshot()
    commanded, _ = world.relay_state()
    if commanded:
        assert s.contactor_commanded
        assert s.letter in (CpLetter.C, CpLetter.D), s
        assert s.enabled and s.allow_power_on and s.alive, s
        assert not s.rcd_tripped, s
        assert s.contactor_fault is None, s
        assert world.rcd.tripped is False
        assert world.door.commanded, "closed with the socket not locked"


def test_heartbeat_loss_switches_the_dc_supply_off_and_opens(broker: EmbeddedBroker) -> None:
    from josev_hal.everest.emulator import PSU

    dc = "DE*JHL*E0002"
    with everest_rig(broker, everest_profile(sim_board_text())) as rig:
        emu = rig.emulator
        world = default_registry().find(dc, 1)
        assert world is not None
        emu.wait_for(lambda r: r.module_id == "psu_2" and r.name == "communication_check", 5)
        assert eventually(lambda: rig.northbound.bsps[dc].snapshot().alive, 5)
        t = time.monotonic()
        emu.send(BSP, "bsp_2", "enable", True)
        emu.sim(dc, "plug")
        emu.send(BSP, "bsp_2", "pwm_on", 5.0)
        emu.sim(dc, "charge")
        emu.send(PSU, "psu_2", "export_voltage_current", m.VoltageCurrent(voltage_V=400.0, current_A=50.0))
        emu.send(
            PSU, "psu_2", "mode", m.ModeRequest(mode=m.Mode.EXPORT, charging_phase=m.ChargingPhase.CHARGING)
        )
        emu.send(BSP, "bsp_2", "allow_power_on", ALLOW)
        emu.wait_for(
            lambda r: r.module_id == "psu_2" and r.name == "voltage_current" and r.value.current_A > 20,
            8,
            after=t,
        )
        emu.stop_heartbeats()
        assert eventually(lambda: not world.pm.enabled and world.relay_state() == (False, False), 5)
        emu.wait_for(
            lambda r: r.module_id == "psu_2" and r.name == "mode" and r.value is m.Mode.OFF, 5, after=t
        )
        # Back alive, the old Export request is not resumed: EVerest must ask again.
        emu.resume_heartbeats()
        assert eventually(lambda: rig.northbound.bsps[dc].snapshot().alive, 5)
        time.sleep(0.5)
        assert not world.pm.enabled


def test_power_module_fault_names_map_to_the_interface_errors() -> None:
    from josev_hal.everest.power_supply import error_for_fault

    E = m.PsuErrorType
    assert error_for_fault("output_overvoltage") is E.OVER_VOLTAGE_DC
    assert error_for_fault("input_overvoltage") is E.OVER_VOLTAGE_AC
    assert error_for_fault("input_undervoltage") is E.UNDER_VOLTAGE_AC
    assert error_for_fault("input_phase_lost") is E.UNDER_VOLTAGE_AC
    assert error_for_fault("output_short_circuit") is E.OVER_CURRENT_DC
    assert error_for_fault("over_temperature") is E.OVER_TEMPERATURE
    assert error_for_fault("temperature_derating") is E.VENDOR_WARNING
    assert error_for_fault("fan_fault") is E.HARDWARE_FAULT


def test_unlock_under_load_waits_until_the_contactor_is_confirmed_open(broker: EmbeddedBroker) -> None:
    with everest_rig(broker, everest_profile(sim_board_text())) as rig:
        _charging(rig)
        rig.emulator.send(BSP, "bsp_1", "unlock")
        time.sleep(0.5)
        assert _world().door.commanded is True, "unlocked while the contactor was closed"
        t = time.monotonic()
        rig.emulator.send(
            BSP,
            "bsp_1",
            "allow_power_on",
            m.PowerOnOff(allow_power_on=False, reason=m.PowerOnReason.POWER_OFF),
        )
        _event(rig.emulator, "PowerOff", t)
        assert eventually(lambda: _world().lock_state() == (False, False), 5)


def test_rcd_self_test_and_reset_over_ac_rcd(broker: EmbeddedBroker) -> None:
    text = _no_hardware_cutoff().replace("latching = false", "latching = true")
    with everest_rig(broker, everest_profile(text)) as rig:
        emu = rig.emulator
        assert eventually(lambda: rig.bsp(0).snapshot().alive, 5)
        t = time.monotonic()
        _world().rcd.self_test_passes = False
        emu.send(BSP, "bsp_1", "self_test")
        raised = emu.wait_for(lambda r: r.name == "raise_error", 5, after=t)
        assert (raised.value.type, raised.value.sub_type) == (m.BspErrorType.SELFTEST, "rcd")
        _world().rcd.self_test_passes = True
        emu.send(BSP, "bsp_1", "self_test")
        emu.wait_for(
            lambda r: r.name == "clear_error" and r.value.type is m.BspErrorType.SELFTEST, 5, after=t
        )
        # A latching RCD stays tripped after the fault is gone until EVerest resets it.
        _world().rcd_trip(residual_ma=8.0)
        emu.wait_for(lambda r: r.name == "raise_error" and r.value.type is m.BspErrorType.DC, 5, after=t)
        _world().rcd_clear()
        assert emu.request(BSP, "bsp_1", "reset") is True
        emu.wait_for(lambda r: r.name == "clear_error" and r.value.type is m.BspErrorType.DC, 5, after=t)
        assert emu.checker.violations == []


def test_a_contactor_that_does_not_close_is_a_fault_until_the_ev_leaves(broker: EmbeddedBroker) -> None:
    with everest_rig(broker, everest_profile(sim_board_text())) as rig:
        emu = rig.emulator
        assert eventually(lambda: rig.bsp(0).snapshot().alive, 5)
        _world().set_stuck_open(True)
        t = time.monotonic()
        emu.send(BSP, "bsp_1", "enable", True)
        emu.sim(AC, "plug")
        emu.send(BSP, "bsp_1", "pwm_on", 26.7)
        emu.send(BSP, "bsp_1", "lock")
        emu.sim(AC, "charge")
        emu.send(BSP, "bsp_1", "allow_power_on", ALLOW)
        raised = emu.wait_for(lambda r: r.name == "raise_error", 5, after=t)
        assert (raised.value.type, raised.value.sub_type) == (
            m.BspErrorType.MREC17_EVSE_CONTACTOR_FAULT,
            "failed_to_close",
        )
        assert _world().relay_state()[0] is False, "the coil is released after the failed close"
        assert all(r.value.event is not m.BspEventKind.POWER_ON for r in emu.messages("bsp_1", "event"))
        _world().set_stuck_open(False)
        emu.sim(AC, "unplug")
        emu.wait_for(lambda r: r.name == "clear_error", 5, after=t)
        assert rig.bsp(0).snapshot().contactor_fault is None
        assert emu.checker.violations == []


def test_reclosing_after_a_pause_waits_min_close_interval(broker: EmbeddedBroker) -> None:
    interval = 1.5
    with everest_rig(broker, everest_profile(sim_board_text(), min_close_interval_s=interval)) as rig:
        _charging(rig)
        first = rig.emulator.messages("bsp_1", "event")[-1]
        assert first.value.event is m.BspEventKind.POWER_ON
        t = time.monotonic()
        rig.emulator.sim(AC, "pause")
        _event(rig.emulator, "PowerOff", t)
        rig.emulator.sim(AC, "charge")
        second = rig.emulator.wait_for(
            lambda r: r.name == "event" and r.value.event is m.BspEventKind.POWER_ON, 10, after=t
        )
        # The hold-back is the behaviour under test: the second closing is never earlier.
        assert second.at - first.at >= interval
        assert rig.bsp(0).snapshot().closings == 2


def test_soft_overcurrent_against_everests_limit_opens_and_blocks_until_unplug(
    broker: EmbeddedBroker,
) -> None:
    text = sim_board_text()
    assert "overcurrent_grace_s = 5.0" in text
    text = text.replace("overcurrent_grace_s = 5.0", "overcurrent_grace_s = 0.2")
    with everest_rig(broker, everest_profile(text)) as rig:
        emu = rig.emulator
        assert eventually(lambda: rig.bsp(0).snapshot().alive, 5)
        t = time.monotonic()
        emu.send(BSP, "bsp_1", "enable", True)
        emu.send(BSP, "bsp_1", "ac_overcurrent_limit", 16.0)
        emu.sim(AC, "plug")
        emu.send(BSP, "bsp_1", "pwm_on", 53.3)  # offers 32 A; the EV takes 32 A, twice EVerest's limit
        emu.send(BSP, "bsp_1", "lock")
        emu.sim(AC, "charge")
        emu.send(BSP, "bsp_1", "allow_power_on", ALLOW)
        _event(emu, "PowerOn", t)
        raised = emu.wait_for(lambda r: r.name == "raise_error", 8, after=t)
        assert raised.value.type is m.BspErrorType.MREC4_OVER_CURRENT_FAILURE
        _event(emu, "PowerOff", t)
        emu.send(BSP, "bsp_1", "allow_power_on", ALLOW)  # refused while the trip stands
        time.sleep(0.5)
        assert _world().relay_state() == (False, False)
        emu.sim(AC, "unplug")
        emu.wait_for(
            lambda r: r.name == "clear_error" and r.value.type is m.BspErrorType.MREC4_OVER_CURRENT_FAILURE,
            5,
            after=t,
        )
        assert emu.checker.violations == []


def test_ac_switch_three_phases_runs_the_safe_sequence_on_a_board_with_a_phase_contactor(
    broker: EmbeddedBroker,
) -> None:
    text = sim_board_text()
    for old, new in (
        (
            '  [evse.devices.id_reader]\n  driver = "sim-id-reader"\n',
            '  [evse.devices.id_reader]\n  driver = "sim-id-reader"\n\n'
            '  [evse.devices.phase_switch]\n  driver = "sim-phase-contactor"\n\n'
            "  [evse.phase_switching]\n  min_switch_interval_s = 0\n  pause_timeout_s = 5.0\n"
            "  contactor_timeout_s = 0.5\n  settle_s = 0.3\n",
        ),
        ("[meter]\ninterval_s = 1.0\nstale_after_s = 3.0", "[meter]\ninterval_s = 0.2\nstale_after_s = 1.0"),
    ):
        assert text.count(old) >= 1, old
        text = text.replace(old, new, 1)
    with everest_rig(broker, everest_profile(text)) as rig:
        emu = rig.emulator
        caps = emu.wait_for(lambda r: r.module_id == "bsp_1" and r.name == "capabilities", 5)
        assert caps.value.supports_changing_phases_during_charging is True
        assert caps.value.min_phase_count_import == 1
        emu.wait_for(lambda r: r.module_id == "bsp_1" and r.name == "ac_nr_of_phases" and r.value == 1, 5)
        _world().set_ev_pauses_on_x1(True)  # a polite EV: B while the PWM is withdrawn
        _charging(rig)
        t = time.monotonic()
        emu.send(BSP, "bsp_1", "ac_switch_three_phases_while_charging", m.AcPhaseMode.THREE_PHASES)
        _event(emu, "PowerOff", t)
        three = emu.wait_for(lambda r: r.name == "ac_nr_of_phases" and r.value == 3, 10, after=t)
        again = _event_rec(emu, "PowerOn", t)
        assert again.at > three.at, "power returns only after the phase contactor moved and settled"
        assert _world().relay_state() == (True, True)
        assert emu.checker.violations == []


def _event_rec(emu: EverestEmulator, event: str, after: float, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    return emu.wait_for(
        lambda r: r.module_id == "bsp_1" and r.name == "event" and r.value.event.value == event,
        timeout,
        after=after,
    )
