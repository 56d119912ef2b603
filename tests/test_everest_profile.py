"""Profile keys of the EVerest northbound: ``[northbound]`` and ``[evse.northbound]``."""

from __future__ import annotations

from pathlib import Path

import pytest
from josev_hal_sim import sim_board_text

from josev_hal.errors import ProfileError
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import NorthboundKind, load_profile_text

REPO = Path(__file__).resolve().parents[1]


def _with(extra_top: str = "", evse_table: str = "") -> str:
    text = sim_board_text()
    if extra_top:
        text = extra_top + "\n" + text
    if evse_table:
        # Into the first EVSE, right after its connector table starts being declared.
        text = text.replace("  [[evse.connectors]]", evse_table + "\n  [[evse.connectors]]", 1)
    return text


def test_the_default_northbound_is_josev_for_every_evse() -> None:
    profile = load_profile_text(sim_board_text(), "sim.toml", get_plugin_manager())
    assert [profile.northbound_of(e) for e in profile.evse] == [NorthboundKind.JOSEV] * 2


def test_station_kind_and_per_evse_override_with_module_ids() -> None:
    text = _with(
        '[northbound]\nkind = "everest"\nheartbeat_timeout_s = 2.5\n',
        '  [evse.northbound]\n  kind = "josev"\n  evse_board_support = "bsp_left"\n',
    )
    profile = load_profile_text(text, "x.toml", get_plugin_manager())
    assert profile.northbound.heartbeat_timeout_s == 2.5
    first, second = profile.evse
    assert profile.northbound_of(first) is NorthboundKind.JOSEV
    assert profile.northbound_of(second) is NorthboundKind.EVEREST
    assert first.northbound is not None and first.northbound.evse_board_support == "bsp_left"


def test_a_module_id_that_is_not_one_topic_level_is_rejected_at_its_line_and_key() -> None:
    text = _with(evse_table='  [evse.northbound]\n  powermeter = "pm/1"\n')
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, "x.toml", get_plugin_manager())
    (problem,) = info.value.problems
    line = next(i for i, row in enumerate(text.splitlines(), 1) if 'powermeter = "pm/1"' in row)
    assert problem.startswith(f"x.toml:{line}: evse[0].northbound.powermeter:"), problem


def test_an_unknown_northbound_kind_is_rejected() -> None:
    with pytest.raises(ProfileError, match=r"northbound\.kind"):
        load_profile_text(_with('[northbound]\nkind = "ocpp"\n'), "x.toml", get_plugin_manager())


def test_committed_everest_schemas_match_a_fresh_generation() -> None:
    from josev_hal.commands.schemas import generate_everest

    files = generate_everest()
    committed = {f"everest/{p.name}": p.read_text() for p in (REPO / "schemas" / "everest").glob("*.json")}
    assert files == committed, "schemas/everest is out of date; run `josev-hal schemas --out schemas`"


def test_the_shipped_everest_sim_board_is_the_sim_board_under_everest() -> None:
    text = (REPO / "boards" / "sim-everest.toml").read_text()
    _, sep, rest = text.partition("communication_check_s = 1.0\n\n")
    assert sep and rest == sim_board_text(), "boards/sim-everest.toml must be the sim board plus [northbound]"
    profile = load_profile_text(text, "boards/sim-everest.toml", get_plugin_manager())
    assert {profile.northbound_of(e) for e in profile.evse} == {NorthboundKind.EVEREST}


def test_probe_drafts_keep_the_northbound_tables_and_probe_board_sets_up_an_everest_board(
    tmp_path: Path,
) -> None:
    import tomllib

    from josev_hal.cli import main
    from josev_hal.probe.draft import load_draft, render_draft

    text = _with(
        '[northbound]\nkind = "everest"\n', '  [evse.northbound]\n  kind = "josev"\n  powermeter = "pm_a"\n'
    )
    path = tmp_path / "draft.toml"
    path.write_text(text)
    back = tomllib.loads(render_draft(load_draft(path)))
    assert back["northbound"] == {"kind": "everest"}
    assert back["evse"][0]["northbound"] == {"kind": "josev", "powermeter": "pm_a"}
    assert main(["check", str(path)]) == 0
    from josev_hal_sim import WorldRegistry, set_default_registry

    previous = set_default_registry(WorldRegistry())
    try:
        assert main(["probe", "board", "--board", str(REPO / "boards" / "sim-everest.toml")]) == 0
    finally:
        set_default_registry(previous).clear()
