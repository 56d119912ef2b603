"""Board profiles: decoding, every problem at once with file:line: key.path, semantic checks,
the JSON Schema, the shipped boards and ``josev-hal check``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

import tests.support.loopback as loopback
from josev_hal.cli import main
from josev_hal.devices import Role
from josev_hal.errors import ProfileError
from josev_hal.messages.schema import render
from josev_hal.plugins import HalPluginManager, get_plugin_manager
from josev_hal.profile import (
    CpSettings,
    EvseKind,
    PpSettings,
    Profile,
    Protection,
    board_json_schema,
    check_profile,
    load_profile,
    load_profile_text,
)

REPO = Path(__file__).resolve().parent.parent
BOARDS = sorted((REPO / "boards").glob("*.toml"))


@pytest.fixture(scope="module")
def pm() -> HalPluginManager:
    return get_plugin_manager(extra_plugins=[loopback])


def _load(text: str, pm: HalPluginManager) -> Profile:
    return load_profile_text(text, "boards/x.toml", pm)


def _problems(text: str, pm: HalPluginManager) -> list[str]:
    with pytest.raises(ProfileError) as info:
        _load(text, pm)
    return info.value.problems


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(needle)


def test_reference_profile_loads_with_typed_options_and_defaults(pm: HalPluginManager) -> None:
    profile = _load(loopback.AC_PROFILE + loopback.DC_EVSE, pm)
    assert [e.id for e in profile.evse] == ["DE*ACM*E0001", "DE*ACM*E0002"]
    ac, dc = profile.evse
    assert ac.kind is EvseKind.AC and dc.kind is EvseKind.DC
    meter = ac.devices[Role.METER]
    assert isinstance(meter.options, loopback.MeterOptions)
    assert meter.options.baudrate == 9600 and meter.address == 0x14
    assert isinstance(profile.buses["board"].options, loopback.LoopbackOptions)
    assert profile.safety.rcd_trip is Protection.HAL
    # Values not in the file come from hardware-facts §1/§2 defaults.
    assert profile.cp.debounce_samples == 3 and profile.cp.pwm_frequency_hz == 1000.0
    assert profile.cp.state_b_v == (8.0, 10.0)
    assert profile.cp_settings(ac) is profile.cp
    assert [w.ampacity_a for w in profile.pp.windows] == [13.0, 20.0, 32.0, 63.0]
    assert profile.contactor.feedback_timeout_ms == 250
    assert profile.reset.command == ["systemctl", "reboot"]
    assert profile.evse_by_id("DE*ACM*E0002") is dc


# Each row: what is broken, the edit, and the exact "key.path: reason" the error must carry.
BROKEN = [
    (
        "typo in a key",
        "max_current_a = 32",
        "max_curent_a = 32",
        "evse[0].max_curent_a: unknown key (did you mean 'max_current_a'?)",
    ),
    (
        "wrong type",
        "baudrate = 9600, model",
        'baudrate = "fast", model',
        'evse[0].devices.meter.options.baudrate: expected int, got "fast"',
    ),
    (
        "unknown driver",
        'driver = "loop-meter"',
        'driver = "loop-metre"',
        "evse[0].devices.meter.driver: unknown driver 'loop-metre' (did you mean 'loop-meter'?)",
    ),
    (
        "missing role",
        '[evse.devices.contactor]\n  driver = "loop-contactor"\n  bus = "board"\n  address = 0x12\n',
        "",
        "evse[0].devices.contactor: missing device for required role 'contactor'",
    ),
    (
        "address clash on one bus",
        "address = 0x14",
        "address = 0x13",
        "evse[0].devices.meter.address: address 19 on bus 'board' is already used by evse[0].devices.rcd",
    ),
    ("unknown top-level table", "[meter]", "[meters]", "meters: unknown key (did you mean 'meter'?)"),
    (
        "invalid enum value",
        'rcd_trip = "hal"',
        'rcd_trip = "mcu"',
        "safety.rcd_trip: invalid enum value 'mcu'",
    ),
    ("missing required key", 'vendor = "Acme"\n', "", "station.vendor: missing required key"),
    (
        "out of range",
        "debounce_samples = 3",
        "debounce_samples = 0",
        "cp.debounce_samples: expected int >= 1",
    ),
    (
        "unknown role",
        "[evse.devices.rcd]",
        "[evse.devices.rcdd]",
        "evse[0].devices.rcdd: unknown role (did you mean 'rcd'?)",
    ),
    (
        "driver for another role",
        'driver = "loop-rcd"',
        'driver = "loop-meter"',
        "evse[0].devices.rcd.driver: driver 'loop-meter' implements role 'meter', not 'rcd'",
    ),
    (
        "unknown bus",
        'bus = "board"\n  address = 0x14',
        'bus = "boardd"\n  address = 0x14',
        "evse[0].devices.meter.bus: no bus named 'boardd' (did you mean 'board'?) in [buses]",
    ),
    (
        "bus of the wrong kind",
        'kind = "loopback"',
        'kind = "can"\nchannel = "vcan0"\ninterface = "virtual"',
        "evse[0].devices.cp.bus: bus 'board' is a can bus, driver 'loop-cp' needs loopback",
    ),
    (
        "unknown bus kind",
        'kind = "loopback"',
        'kind = "loopbak"',
        "buses.board.kind: unknown bus kind 'loopbak'",
    ),
    (
        "bus option typo",
        'kind = "loopback"',
        'kind = "loopback"\nlabell = "x"',
        "buses.board.labell: unknown key (did you mean 'label'?)",
    ),
    ("missing address", "address = 0x12\n", "\n", "evse[0].devices.contactor.address: missing required key"),
    (
        "services do not fit the EVSE kind",
        'services = ["ac"]',
        'services = ["dc"]',
        "evse[0].connectors[0].services: dc not possible on a ac EVSE",
    ),
    (
        "AC EVSE without max current",
        "max_current_a = 32\n",
        "\n",
        "evse[0].max_current_a: required for an AC EVSE",
    ),
    (
        "fixed cable without its rating",
        'cable = "socket"',
        'cable = "fixed"',
        "evse[0].connectors[0].max_cable_current_a: required for a fixed cable",
    ),
    (
        "CP bands overlap",
        "debounce_samples = 3",
        "debounce_samples = 3\nstate_b_v = [6.5, 10.0]",
        "cp.state_b_v: overlaps state_c_v",
    ),
    (
        "stale limit below poll interval",
        "stale_after_s = 3.0",
        "stale_after_s = 0.5",
        "meter.stale_after_s: must be greater than interval_s",
    ),
    (
        "single-phase connector type on a three-phase EVSE",
        '"AC_three_phase_core"',
        '"AC_single_phase_core"',
        "evse[0].connectors[0].iso15118_type: AC_single_phase_core does not match phases = 3",
    ),
    (
        "no CP-loss protection declared",
        'cp_loss_shutdown = "hal"',
        'cp_loss_shutdown = "none"',
        'safety.cp_loss_shutdown: must be "hardware" or "hal"',
    ),
    (
        "device on an unknown connector",
        "address = 0x11\n",
        "address = 0x11\n  connector = 2\n",
        "evse[0].devices.pp.connector: no connector with id 2 on this EVSE",
    ),
]


@pytest.mark.parametrize(("what", "old", "new", "expected"), BROKEN, ids=[row[0] for row in BROKEN])
def test_broken_profile_fails_with_the_key_path(
    pm: HalPluginManager, what: str, old: str, new: str, expected: str
) -> None:
    problems = _problems(_replace(loopback.AC_PROFILE, old, new), pm)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("boards/x.toml") for p in problems)


@pytest.mark.parametrize(
    ("what", "edit", "expected"),
    [
        (
            "duplicate EVSE id",
            ('id = "DE*ACM*E0002"', 'id = "DE*ACM*E0001"'),
            "evse[1].id: duplicate EVSE id 'DE*ACM*E0001' (also evse[0])",
        ),
        ("duplicate OCPP id", ("ocpp_id = 2", "ocpp_id = 1"), "evse[1].ocpp_id: duplicate ocpp_id 1"),
        (
            "DC EVSE without power module",
            ('[evse.devices.power_module]\n  driver = "loop-power"\n  bus = "board"\n  address = 0x23\n', ""),
            "evse[1].devices.power_module: missing device for required role 'power_module'",
        ),
        (
            "DC EVSE without DC limits",
            (
                "  [evse.dc]\n  max_voltage_v = 920\n  min_voltage_v = 150\n  max_current_a = 200\n"
                "  min_current_a = 0\n  max_power_w = 150000\n",
                "",
            ),
            "evse[1].dc: missing required table for a DC EVSE",
        ),
        (
            "AC connector type on a DC EVSE",
            ('"DC_extended"', '"AC_three_phase_core"'),
            "evse[1].connectors[0].iso15118_type: AC_three_phase_core on a dc EVSE",
        ),
    ],
)
def test_broken_two_evse_profile_fails_with_the_key_path(
    pm: HalPluginManager, what: str, edit: tuple[str, str], expected: str
) -> None:
    text = loopback.AC_PROFILE + _replace(loopback.DC_EVSE, *edit)
    problems = _problems(text, pm)
    assert any(expected in p for p in problems), problems


def test_problem_lines_point_at_the_offending_key(pm: HalPluginManager) -> None:
    text = _replace(loopback.AC_PROFILE, "baudrate = 9600", 'baudrate = "fast"')
    (problem,) = _problems(text, pm)
    line = _line_of(text, 'baudrate = "fast"')
    assert (
        problem == f'boards/x.toml:{line}: evse[0].devices.meter.options.baudrate: expected int, got "fast"'
    )


@pytest.mark.parametrize(
    ("old", "new", "needle", "path"),
    [
        # A key of the second EVSE's connector: array-of-tables indices are tracked per parent.
        (
            "max_cable_current_a = 200",
            "max_cable_current_a = -5",
            "max_cable_current_a = -5",
            "evse[1].connectors[0].max_cable_current_a",
        ),
        # A dotted key inside a device table.
        (
            "  options = { channel = 0, gain = 1 }",
            '  options.channel = 0\n  options.gain = "x"',
            "options.gain",
            "evse[0].devices.cp.options.gain",
        ),
        # A quoted key and a comment containing '=' before it.
        ("interval_s = 1.0", '# interval = seconds\n"interval_s" = "1s"', '"interval_s"', "meter.interval_s"),
    ],
)
def test_problem_lines_follow_tables_arrays_and_dotted_keys(
    pm: HalPluginManager, old: str, new: str, needle: str, path: str
) -> None:
    text = _replace(loopback.AC_PROFILE + loopback.DC_EVSE, old, new)
    (problem,) = _problems(text, pm)
    assert problem.startswith(f"boards/x.toml:{_line_of(text, needle)}: {path}: "), problem


def test_every_problem_of_a_file_is_reported_at_once_in_line_order(pm: HalPluginManager) -> None:
    text = loopback.AC_PROFILE
    text = _replace(text, 'rcd_trip = "hal"', 'rcd_trip = "mcu"')
    text = _replace(text, "max_current_a = 32", "max_current_a = 32\nmax_curent_a = 16")
    text = _replace(text, "gain = 1", 'gain = "high"')
    text = _replace(text, 'driver = "loop-meter"', 'driver = "nope"')
    problems = _problems(text, pm)
    assert len(problems) == 4, problems
    expected_lines = [
        _line_of(text, 'rcd_trip = "mcu"'),
        _line_of(text, "max_curent_a"),
        _line_of(text, 'gain = "high"'),
        _line_of(text, 'driver = "nope"'),
    ]
    assert [int(p.split(":")[1]) for p in problems] == expected_lines
    assert 'evse[0].devices.cp.options.gain: expected int, got "high"' in problems[2]


def test_missing_key_points_at_its_table_header(pm: HalPluginManager) -> None:
    text = _replace(loopback.AC_PROFILE, "address = 0x12\n", "\n")
    problems = _problems(text, pm)
    assert problems == [
        f"boards/x.toml:{_line_of(text, '[evse.devices.contactor]')}: evse[0].devices.contactor.address: "
        "missing required key (driver 'loop-contactor' needs an address)"
    ]


def test_toml_syntax_error_names_the_line(pm: HalPluginManager) -> None:
    text = _replace(loopback.AC_PROFILE, "ocpp_id = 1", "ocpp_id = ")
    (problem,) = _problems(text, pm)
    assert problem.startswith(f"boards/x.toml:{_line_of(text, 'ocpp_id = ')}: TOML syntax error")


def test_shareable_drivers_may_share_an_address(pm: HalPluginManager) -> None:
    # loop-cp and loop-contactor model one MCU that is both: the same address is fine for them.
    text = _replace(loopback.AC_PROFILE, "address = 0x12", "address = 0x10")
    assert _load(text, pm).evse[0].devices[Role.CONTACTOR].address == 0x10


def test_rcd_is_optional_when_the_hardware_trips(pm: HalPluginManager) -> None:
    text = _replace(loopback.AC_PROFILE, 'rcd_trip = "hal"', 'rcd_trip = "hardware"')
    text = _replace(
        text, '[evse.devices.rcd]\n  driver = "loop-rcd"\n  bus = "board"\n  address = 0x13\n', ""
    )
    assert Role.RCD not in _load(text, pm).evse[0].devices


def test_per_evse_cp_settings_override_the_station(pm: HalPluginManager) -> None:
    text = _replace(
        loopback.AC_PROFILE,
        "  [[evse.connectors]]",
        "  [evse.cp]\n  debounce_samples = 5\n\n  [[evse.connectors]]",
    )
    profile = _load(text, pm)
    assert profile.cp_settings(profile.evse[0]).debounce_samples == 5


def test_check_profile_returns_problems_instead_of_raising(pm: HalPluginManager, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(loopback.AC_PROFILE)
    bad = tmp_path / "bad.toml"
    bad.write_text(_replace(loopback.AC_PROFILE, "phases = 3", "phases = 2"))
    assert check_profile(good, pm) == []
    assert check_profile(bad, pm) == [
        f"{bad}:{_line_of(bad.read_text(), 'phases = 2')}: evse[0].phases: invalid enum value 2"
    ]


def test_load_profile_reads_a_file_and_names_it(pm: HalPluginManager, tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(_replace(loopback.AC_PROFILE, "ocpp_id = 1", "ocpp_id = 0"))
    with pytest.raises(ProfileError) as info:
        load_profile(path, pm)
    assert info.value.path == str(path)
    assert info.value.problems == [
        f"{path}:{_line_of(path.read_text(), 'ocpp_id = 0')}: evse[0].ocpp_id: expected int >= 1"
    ]
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.toml", pm)


def test_defaults_match_the_hardware_facts() -> None:
    cp = CpSettings()
    assert (cp.state_a_v, cp.state_b_v, cp.state_c_v, cp.state_d_v) == ((11, 13), (8, 10), (5, 7), (2, 4))
    assert cp.state_f_v == (-13, -11) and cp.debounce_samples == 2 and cp.pwm_frequency_hz == 1000
    pp = PpSettings()
    assert [(w.min_ohm, w.max_ohm) for w in pp.windows] == [(1000, 2200), (330, 1000), (150, 330), (75, 150)]


# -- JSON Schema ------------------------------------------------------------------------------


def test_board_schema_file_is_in_sync_with_the_structs() -> None:
    committed = (REPO / "schemas" / "board.schema.json").read_text()
    assert committed == render(board_json_schema()), (
        "schemas/board.schema.json is stale: run `josev-hal schemas` and commit the result"
    )


def test_board_schema_accepts_the_reference_profile_and_rejects_typos() -> None:
    schema = board_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = tomllib.loads(loopback.AC_PROFILE + loopback.DC_EVSE)
    jsonschema.validate(doc, schema)
    doc["station"]["vendr"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


# -- shipped boards and the check command -------------------------------------------------------


@pytest.mark.parametrize("board", BOARDS, ids=[b.name for b in BOARDS])
def test_shipped_board_passes_check(board: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(board)]) == 0, capsys.readouterr().out
    assert capsys.readouterr().out.strip() == f"ok {board}"


def test_check_command_reports_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[station]\nvendor = 1\n[safety]\nrcd_trip = "hal"\n')
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{bad}:2: station.vendor: expected str, got 1" in out
    assert f"{bad}:3: safety.cp_loss_shutdown: missing required key" in out
    assert f"{bad}:1: station.model: missing required key" in out


def test_check_command_exit_code_is_1_if_any_file_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = BOARDS[0] if BOARDS else None
    bad = tmp_path / "bad.toml"
    bad.write_text("not toml [")
    args = ["check", str(bad)] + ([str(good)] if good else [])
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"{bad}:1: TOML syntax error" in out
    if good:
        assert f"ok {good}" in out


def test_committed_board_schema_declares_the_2020_12_dialect() -> None:
    # The committed schema parses as plain JSON with the 2020-12 dialect declared.
    data = json.loads((REPO / "schemas" / "board.schema.json").read_text())
    assert data["$schema"].endswith("2020-12/schema")


# -- the README's bring-up walkthrough stays true ------------------------------------------------


def _readme_block(marker: str, language: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"<!-- {marker}")
    block_start = text.index(f"```{language}\n", start) + len(f"```{language}\n")
    return text[block_start : text.index("```", block_start)]


def test_readme_bring_up_profile_and_plugin_check_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acme_hal.py").write_text(_readme_block("bring-up-plugin", "python"))
    monkeypatch.syspath_prepend(str(tmp_path))
    import acme_hal  # type: ignore[import-not-found]

    try:
        pm = get_plugin_manager(extra_plugins=[acme_hal])
        profile = load_profile_text(_readme_block("bring-up-profile", "toml"), "boards/acme.toml", pm)
        assert profile.evse[0].devices[Role.CONTACTOR].options.coil_gpio == 17
        without = get_plugin_manager()
        with pytest.raises(ProfileError) as info:
            load_profile_text(_readme_block("bring-up-profile", "toml"), "boards/acme.toml", without)
        readme = (REPO / "README.md").read_text(encoding="utf-8")
        first = info.value.problems[0]
        assert first.split("; drivers for role")[0] in readme, first
    finally:
        import sys

        sys.modules.pop("acme_hal", None)
