"""The probe functions (the core's ``josev_hal.probe`` and the plugins' ``probe`` modules)
against the real simulated peers, and drafting.

Meters are pymodbus RTU servers on a pty pair, I2C chips are the register-level simulators behind
the smbus2 API, power modules answer on python-can's ``virtual`` interface, the relay probe runs
on the sim board built from ``boards/sim.toml``. Nothing of the probe is mocked.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from josev_hal_can.probe import probe_can
from josev_hal_can.sim import InfyPowerGroupSim, WinlineGroupSim
from josev_hal_i2c.probe import probe_i2c
from josev_hal_i2c.sim import SimAcBoard, build_ac_board
from josev_hal_modbus.probe import parse_bauds, parse_ids, probe_serial
from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

from josev_hal.board import Board
from josev_hal.buses.can import CanBus, CanBusOptions
from josev_hal.buses.pty_line import PtyLine
from josev_hal.errors import BusError, ConfigError, ProfileError
from josev_hal.plugins import HalPluginManager, get_plugin_manager
from josev_hal.probe import Found, ProbeRefused
from josev_hal.probe.draft import (
    load_draft,
    merge_can,
    merge_i2c,
    merge_relay,
    merge_serial,
    new_draft,
    render_draft,
)
from josev_hal.probe.relay import probe_relay
from josev_hal.profile import load_profile, load_profile_text

REPO = Path(__file__).resolve().parent.parent
SIM_BOARD = REPO / "boards" / "sim.toml"
AC_EVSE = "DE*JHL*E0001"

METER_VALUES = {
    "voltage_l1": 230.1,
    "voltage_l2": 231.2,
    "voltage_l3": 229.9,
    "current_l1": 16.25,
    "frequency": 50.0,
    "energy_import": 1234500.0,
}


@pytest.fixture(scope="module")
def pm() -> HalPluginManager:
    return get_plugin_manager(autoload=True)


def check_problems(draft: dict[str, Any], pm: HalPluginManager) -> list[str]:
    """What ``josev-hal check`` says about the rendered draft (``[]`` = accepted)."""
    try:
        load_profile_text(render_draft(draft), "draft.toml", pm)
    except ProfileError as exc:
        return list(exc.problems)
    return []


# --------------------------------------------------------------------------------------------
# serial
# --------------------------------------------------------------------------------------------


def test_serial_sweep_finds_the_meter_at_its_own_baud_rate_with_a_live_reading() -> None:
    # strict_baud: the peer hears nothing while the probe's port is at another rate.
    with (
        PtyLine(baudrate=19200, strict_baud=True) as line,
        ModbusPeer(line.peer_port, [SimulatedMeter("sdm630", unit=3, values=METER_VALUES)]),
    ):
        found = probe_serial(line.client_port, [9600, 19200], [2, 3], timeout_s=0.05)
    assert [(f.location["baudrate"], f.address, f.model, f.driver) for f in found] == [
        (19200, 3, "sdm630", "modbus-meter")
    ]
    reading = found[0].reading
    assert reading["voltage_v"] == pytest.approx([230.1, 231.2, 229.9])
    assert reading["frequency_hz"] == pytest.approx(50.0)
    assert reading["energy_import_wh"] == pytest.approx(1234500.0)


def test_serial_sweep_reports_a_unit_that_answers_but_matches_no_model() -> None:
    meters = [
        SimulatedMeter("em340", unit=1, values={"frequency": 50.0, "voltage_l1": 230.0}),
        SimulatedMeter("em340", unit=2, values={"frequency": 0.0}),  # no grid: no model fits
    ]
    with PtyLine() as line, ModbusPeer(line.peer_port, meters):
        found = probe_serial(line.client_port, [9600], [1, 2, 3], timeout_s=0.05)
    assert [(f.address, f.model) for f in found] == [(1, "em340"), (2, None)]
    assert found[1].notes and found[1].reading == {}


def test_serial_probe_of_a_missing_port_raises_bus_error() -> None:
    with pytest.raises(BusError, match="/dev/ttyNOPE"):
        probe_serial("/dev/ttyNOPE", [9600], [1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1-3", [1, 2, 3]), ("5,1-2,5", [5, 1, 2]), (" 247 ", [247])],
)
def test_parse_ids_accepts_lists_and_ranges(text: str, expected: list[int]) -> None:
    assert parse_ids(text) == expected


@pytest.mark.parametrize("text", ["0", "1-248", "3-1", "a", "", "1-x"])
def test_parse_ids_rejects_what_is_no_modbus_unit(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ids(text)


@pytest.mark.parametrize("text", ["", "9600,fast", "-1", "0"])
def test_parse_bauds_rejects_non_rates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bauds(text)


# --------------------------------------------------------------------------------------------
# i2c
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("gpio", "adc"), [("mcp23017", "ads1115"), ("pca9555", "ads1015")])
def test_i2c_probe_identifies_every_chip_of_the_board(gpio: str, adc: str) -> None:
    board = build_ac_board(gpio_chip=gpio, adc_chip=adc)
    board.cp.override = (12.0, 12.0)  # keeps the ADC inputs away from 0 V so the chip is decidable
    found = probe_i2c(board.bus, 1)
    assert [(f.address, f.model) for f in found] == [
        (0x20, gpio),
        (0x24, "pn532"),
        (0x40, "pca9685"),
        (0x48, adc),
    ]
    assert all(f.location == {"port": "/dev/i2c-1", "adapter": 1} for f in found)
    assert found[1].reading["ic"] == "0x32"


@pytest.mark.parametrize(
    ("plateaus", "state"),
    [
        ((12.0, 12.0), "A"),
        ((9.0, -12.0), "B"),
        ((6.0, -12.0), "C"),
        ((-12.0, -12.0), "F"),
        ((-5.0, -5.0), "fault"),
    ],
)
def test_i2c_probe_shows_the_cp_state_the_line_voltage_implies(
    plateaus: tuple[float, float], state: str
) -> None:
    board = build_ac_board()
    board.cp.override = plateaus
    adc = next(f for f in probe_i2c(board.bus, 1, addresses=[0x48]))
    assert adc.reading["cp_v"] == pytest.approx(plateaus[0], abs=0.05)
    assert adc.reading["cp_negative_v"] == pytest.approx(plateaus[1], abs=0.05)
    assert adc.reading["cp_state"] == state


@pytest.mark.parametrize(("rc_ohm", "cable_a"), [(None, None), (680.0, 20.0), (220.0, 32.0), (100.0, 63.0)])
def test_i2c_probe_decodes_the_cable_rating_from_pp(rc_ohm: float | None, cable_a: float | None) -> None:
    board = build_ac_board()
    board.pp.rc_ohm = rc_ohm
    (adc,) = probe_i2c(board.bus, 1, addresses=[0x48])
    assert adc.reading["cable_a"] == cable_a
    assert (adc.reading["pp_ohm"] is None) == (rc_ohm is None)
    if rc_ohm is not None:
        assert adc.reading["pp_ohm"] == pytest.approx(rc_ohm, rel=0.01)


def _register_writes(board: SimAcBoard, address: int) -> list[bytes]:
    return [w for w in board.bus.writes_to(address) if len(w) > 1]


def test_i2c_probe_never_writes_a_register_of_the_expander_or_the_pwm_chip() -> None:
    board = build_ac_board()
    probe_i2c(board.bus, 1)
    # Reading a register writes its 1-byte pointer; anything longer would set a register.
    assert _register_writes(board, 0x20) == []
    assert _register_writes(board, 0x40) == []
    assert board.gpio.output_level(board.pins["contactor"]) is None  # still an input: coil off


def test_i2c_probe_of_an_empty_adapter_finds_nothing() -> None:
    board = build_ac_board()
    for address in list(board.bus.chips):
        board.bus.detach(address)
    assert probe_i2c(board.bus, 1) == []


# --------------------------------------------------------------------------------------------
# can
# --------------------------------------------------------------------------------------------


@pytest.fixture
def can_channel() -> Iterator[tuple[str, CanBus]]:
    channel = f"probe-{uuid.uuid4().hex}"
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))
    bus.setup()
    yield channel, bus
    bus.release()


def test_can_probe_identifies_infypower_and_winline_modules_with_their_limits(
    can_channel: tuple[str, CanBus],
) -> None:
    channel, bus = can_channel
    with (
        InfyPowerGroupSim(
            channel=channel, modules=(1, 2), module_max_current_a=50.0, module_rated_power_w=20000.0
        ),
        WinlineGroupSim(channel=channel, modules=(7,)),
    ):
        found = probe_can(bus, listen_s=0.4)
    assert [(f.model, f.address, f.driver) for f in found] == [
        ("infypower", 1, "infypower-dc"),
        ("infypower", 2, "infypower-dc"),
        ("winline", 7, "winline-dc"),
    ]
    infy = found[0].reading
    assert (infy["max_current_a"], infy["rated_power_w"], infy["output_on"]) == (50.0, 20000.0, False)
    assert found[2].reading["faults"] == [] and found[2].reading["output_on"] is False
    assert all(f.location == {"channel": channel, "interface": "virtual"} for f in found)


def test_can_probe_only_reads_it_never_switches_or_sets_a_module(can_channel: tuple[str, CanBus]) -> None:
    channel, bus = can_channel
    with (
        InfyPowerGroupSim(channel=channel, modules=(0,)) as infy,
        WinlineGroupSim(channel=channel) as winline,
    ):
        probe_can(bus, listen_s=0.3)
        # The InfyPower sim records every frame; its own family's carry device 0x0A/0x0B.
        commands = {f.command for f in infy.frames() if f.device in (0x0A, 0x0B)}
        functions = {f.function for f in winline.frames()}
    assert commands == {0x03, 0x04, 0x0A}  # output, status, capabilities: reads only
    assert functions == {0x10}  # Winline "read"; 0x03 would set a register
    assert infy.modules[0].on is False and winline.modules[0].on is False


def test_can_probe_listen_only_sends_nothing(can_channel: tuple[str, CanBus]) -> None:
    channel, bus = can_channel
    with InfyPowerGroupSim(channel=channel, modules=(0,)) as sim:
        found = probe_can(bus, listen_s=0.2, send_requests=False)
        assert sim.frames() == []
    assert found == []


# --------------------------------------------------------------------------------------------
# relay
# --------------------------------------------------------------------------------------------


@pytest.fixture
def sim_board(pm: HalPluginManager) -> Iterator[Board]:
    from josev_hal_sim import WorldRegistry, set_default_registry

    # A registry of our own: worlds another test left attached must not stand in for this board's.
    previous = set_default_registry(WorldRegistry())
    board = Board.build(load_profile(SIM_BOARD, pm), pm)
    board.setup()
    try:
        yield board
    finally:
        board.release()
        set_default_registry(previous)


def _world(board: Board) -> Any:
    from josev_hal_sim import default_registry

    world = default_registry().find(AC_EVSE)
    assert world is not None
    return world


def test_relay_probe_measures_the_mirror_contact_delays(sim_board: Board) -> None:
    found = probe_relay(sim_board, AC_EVSE, cycles=2)
    reading = found.reading
    # sim.toml: close_delay_ms = 30, open_delay_ms = 20; the feedback cannot come earlier.
    assert reading["close_ms"] >= 30.0 and reading["open_ms"] >= 20.0
    assert len(reading["close_ms_each"]) == 2 and reading["cp_state"] == "A"
    assert found.notes == [] and found.model == "sim-contactor"
    assert _world(sim_board).relay_state() == (False, False)  # left open


def test_relay_probe_refuses_while_a_vehicle_is_connected(sim_board: Board) -> None:
    world = _world(sim_board)
    world.plug()
    with pytest.raises(ProbeRefused, match="vehicle is connected"):
        probe_relay(sim_board, AC_EVSE)
    assert world.relay.closings == 0 and world.relay.commanded is False


def test_relay_probe_refuses_when_the_contactor_already_reads_closed(sim_board: Board) -> None:
    world = _world(sim_board)
    world.set_welded(True)
    world.command_relay(True)
    time.sleep(0.1)  # past close_delay_ms: the mirror contact has closed
    world.command_relay(False)  # welded: it stays closed
    closings = world.relay.closings
    with pytest.raises(ProbeRefused, match="already reads closed"):
        probe_relay(sim_board, AC_EVSE, timeout_ms=100)
    assert world.relay.closings == closings


def test_relay_probe_reports_a_contactor_that_never_closes(sim_board: Board) -> None:
    _world(sim_board).set_stuck_open(True)
    found = probe_relay(sim_board, AC_EVSE, timeout_ms=100)
    assert found.reading["close_ms"] is None
    assert any("did not follow a close" in note for note in found.notes)


# --------------------------------------------------------------------------------------------
# drafting
# --------------------------------------------------------------------------------------------


def _i2c_found() -> list[Found]:
    board = build_ac_board()
    return probe_i2c(board.bus, 1)


def _meter_found(unit: int = 1, baud: int = 9600) -> list[Found]:
    where = {"port": "/dev/ttyUSB0", "baudrate": baud, "parity": "N"}
    return [Found("serial", where, unit, "sdm630", {}, "modbus-meter")]


@pytest.mark.parametrize("order", ["i2c-then-serial", "serial-then-i2c"])
def test_i2c_and_serial_findings_merge_into_a_profile_check_accepts(order: str, pm: HalPluginManager) -> None:
    draft = new_draft()
    steps = [lambda: merge_i2c(draft, _i2c_found()), lambda: merge_serial(draft, _meter_found())]
    for step in steps if order == "i2c-then-serial" else reversed(steps):
        step()
    assert check_problems(draft, pm) == []
    profile = load_profile_text(render_draft(draft), "draft.toml", pm)
    devices = profile.evse[0].devices
    assert {role.value: d.driver for role, d in devices.items()} == {
        "cp": "ads1x15-cp",
        "pp": "ads1x15-pp",
        "contactor": "mcp23017-contactor",
        "rcd": "mcp23017-rcd",
        "id_reader": "pn532-reader",
        "meter": "modbus-meter",
    }
    assert len(profile.evse) == 1 and sorted(profile.buses) == ["i2c1", "rs485"]


def test_an_i2c_draft_alone_is_incomplete_and_check_names_the_missing_meter(pm: HalPluginManager) -> None:
    draft = new_draft()
    merge_i2c(draft, _i2c_found())
    problems = check_problems(draft, pm)
    assert len(problems) == 1 and "missing device for required role 'meter'" in problems[0]


def test_probing_the_same_line_twice_keeps_one_bus_and_one_meter() -> None:
    draft = new_draft()
    merge_serial(draft, _meter_found(baud=9600))
    merge_serial(draft, _meter_found(baud=19200))
    assert list(draft["buses"]) == ["rs485"] and draft["buses"]["rs485"]["baudrate"] == 19200
    assert len(draft["evse"]) == 1


def test_probing_the_same_i2c_adapter_twice_keeps_one_evse(pm: HalPluginManager) -> None:
    draft = new_draft()
    merge_i2c(draft, _i2c_found())
    merge_serial(draft, _meter_found())
    merge_i2c(draft, _i2c_found())
    assert len(draft["evse"]) == 1 and check_problems(draft, pm) == []


def test_two_meters_on_one_line_go_to_two_evses() -> None:
    draft = new_draft()
    messages = merge_serial(draft, _meter_found(unit=1) + _meter_found(unit=2))
    assert [e["devices"]["meter"]["address"] for e in draft["evse"]] == [1, 2]
    assert [e["ocpp_id"] for e in draft["evse"]] == [1, 2] and len(messages) == 2


def test_placeholders_are_marked_review_in_the_written_profile(tmp_path: Path, pm: HalPluginManager) -> None:
    draft = new_draft()
    merge_i2c(draft, _i2c_found())
    merge_serial(draft, _meter_found())
    text = render_draft(draft)
    for line in ('vendor = "CHANGE-ME"', 'id = "DE*XXX*E0001"', 'network_interface = "eth1"'):
        assert f"{line}  # REVIEW" in text
    assert "[evse.devices.contactor]  # REVIEW: pins" in text
    assert "address = 0x48" in text  # I2C addresses in hex, as datasheets write them


def test_a_written_draft_is_merged_into_not_replaced(tmp_path: Path, pm: HalPluginManager) -> None:
    from josev_hal.probe.draft import write_draft

    path = tmp_path / "board.toml"
    draft = new_draft()
    merge_i2c(draft, _i2c_found())
    draft["station"]["vendor"] = "Acme"  # the user's edit survives the next probe
    write_draft(path, draft)
    again = load_draft(path)
    merge_serial(again, _meter_found())
    write_draft(path, again)
    assert load_profile(path, pm).station.vendor == "Acme"


def test_a_draft_file_that_is_not_toml_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "board.toml"
    path.write_text("[station\nvendor = 1\n")
    with pytest.raises(ConfigError, match="cannot merge"):
        load_draft(path)


def test_power_modules_draft_a_dc_evse_whose_limits_come_from_the_modules(pm: HalPluginManager) -> None:
    where = {"channel": "can0", "interface": "socketcan"}
    reading = {
        "max_voltage_v": 750.0,
        "min_voltage_v": 200.0,
        "max_current_a": 40.0,
        "rated_power_w": 20000.0,
    }
    found = [Found("can", where, a, "infypower", dict(reading), "infypower-dc") for a in (3, 4)]
    draft = new_draft()
    merge_can(draft, found)
    (evse,) = draft["evse"]
    assert (
        evse["kind"] == "dc" and evse["dc"]["max_current_a"] == 80.0 and evse["dc"]["max_power_w"] == 40000.0
    )
    options = evse["devices"]["power_module"]["options"]
    assert options["modules"] == [3, 4] and options["module_max_voltage_v"] == 750.0
    # Everything but the roles a CAN probe cannot see is valid: they are named as missing.
    problems = check_problems(draft, pm)
    assert problems and all("missing device for required role" in p for p in problems)
    assert not any("power_module" in p for p in problems)


def test_relay_measurement_sets_the_feedback_timeout() -> None:
    draft = new_draft()
    found = Found("board", {}, None, "sim-contactor", {"close_ms": 31.2, "open_ms": 20.1}, "sim-contactor")
    merge_relay(draft, found)
    assert draft["contactor"]["feedback_timeout_ms"] == 70  # 2 x 31.2 rounded up to 10 ms


def test_found_json_has_the_documented_keys() -> None:
    found = Found("serial", {"port": "/dev/ttyUSB0", "baudrate": 9600}, 1, "sdm630", {"frequency_hz": 50.0})
    data = msgspec.json.decode(msgspec.json.encode(found.to_json()))
    assert {"bus", "port", "address", "model", "reading"} <= set(data) and data["bus"] == "serial"


@pytest.mark.parametrize("board", ["sim.toml", "rpi-ads1115-mcp23017-sdm630.toml"])
def test_rewriting_a_shipped_board_as_a_draft_keeps_the_same_profile(
    board: str, pm: HalPluginManager
) -> None:
    path = REPO / "boards" / board
    rewritten = load_profile_text(render_draft(load_draft(path)), "rewritten.toml", pm)
    assert msgspec.to_builtins(rewritten) == msgspec.to_builtins(load_profile(path, pm))
