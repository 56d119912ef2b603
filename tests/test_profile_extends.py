"""Profile variants (issue #16 item 7): ``extends = "base.toml"`` merges a variant over its base;
the result is validated as one profile and every problem names the file and line that set it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from josev_hal.errors import ProfileError
from josev_hal.plugins import HalPluginManager, get_plugin_manager
from josev_hal.profile import load_profile
from tests.support.cli import josev_hal_command

REPO = Path(__file__).resolve().parents[1]
BASE = (REPO / "boards" / "rpi-ads1115-mcp23017-sdm630.toml").read_text()


@pytest.fixture(scope="module")
def pm() -> HalPluginManager:
    return get_plugin_manager(autoload=True)


def _line(text: str, needle: str) -> int:
    (index,) = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return index


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


VARIANT = """\
extends = "base.toml"

[station]
model = "Wallbox 11 Pi"

[[evse]]
id = "DE*ACM*E0001"
max_current_a = 16
  [evse.devices.meter]
  options = { model = "sdm72dm" }
"""


def test_a_variant_changes_only_what_it_states(tmp_path: Path, pm: HalPluginManager) -> None:
    _write(tmp_path, "base.toml", BASE)
    profile = load_profile(_write(tmp_path, "variant.toml", VARIANT), pm)
    base = load_profile(tmp_path / "base.toml", pm)
    assert profile.station.model == "Wallbox 11 Pi" and profile.station.vendor == base.station.vendor
    (evse,) = profile.evse
    assert evse.max_current_a == 16 and evse.ocpp_id == base.evse[0].ocpp_id
    meter = evse.devices[next(r for r in evse.devices if r.value == "meter")]
    assert meter.options.model == "sdm72dm" and meter.address == 1 and meter.bus == "rs485"
    assert set(evse.devices) == set(base.evse[0].devices)
    assert evse.connectors == base.evse[0].connectors


def test_an_entry_with_a_new_id_is_appended_and_plain_arrays_are_replaced(
    tmp_path: Path, pm: HalPluginManager
) -> None:
    _write(tmp_path, "base.toml", BASE)
    second = BASE[BASE.index("[[evse]]") :].replace('id = "DE*ACM*E0001"', 'id = "DE*ACM*E0002"')
    second = second.replace("ocpp_id = 1", "ocpp_id = 2").replace("address = 1\n", "address = 2\n")
    for old in ("0x48", "0x20", "0x24"):
        second = second.replace(f"address = {old}", f"address = {hex(int(old, 16) + 1)}")
    second = second.replace("pwm_address = 0x40", "pwm_address = 0x41")
    text = 'extends = "base.toml"\n' + second
    text += (
        '\n[[evse]]\nid = "DE*ACM*E0001"\n  [[evse.connectors]]\n  id = 1\n  services = ["ac", "ac_bpt"]\n'
    )
    profile = load_profile(_write(tmp_path, "two.toml", text), pm)
    assert [e.id for e in profile.evse] == ["DE*ACM*E0001", "DE*ACM*E0002"]
    assert [s.value for s in profile.evse[0].connectors[0].services] == ["ac", "ac_bpt"]


def test_problems_point_at_the_file_and_line_that_set_the_value(tmp_path: Path, pm: HalPluginManager) -> None:
    base = BASE.replace("baudrate = 9600", "baudrate = 9601")
    base_path = _write(tmp_path, "base.toml", base)
    variant = VARIANT.replace("max_current_a = 16", 'max_current_a = "sixteen"')
    variant_path = _write(tmp_path, "variant.toml", variant)
    with pytest.raises(ProfileError) as info:
        load_profile(variant_path, pm)
    problems = info.value.problems
    assert f"{variant_path}:{_line(variant, 'sixteen')}: evse[0].max_current_a: expected float | null" in (
        "\n".join(problems)
    )
    assert any(
        p.startswith(f"{base_path}:{_line(base, 'baudrate = 9601')}: buses.rs485.baudrate: 9601 is not")
        for p in problems
    ), problems
    # The variant's own problems come first (it is the file the user is editing).
    assert problems[0].startswith(str(variant_path))


def test_a_value_the_variant_overrides_is_reported_at_the_variant(
    tmp_path: Path, pm: HalPluginManager
) -> None:
    _write(tmp_path, "base.toml", BASE)
    variant = VARIANT.replace('options = { model = "sdm72dm" }', "address = 300")
    variant_path = _write(tmp_path, "variant.toml", variant)
    with pytest.raises(ProfileError) as info:
        load_profile(variant_path, pm)
    (problem,) = info.value.problems
    assert problem == (
        f"{variant_path}:{_line(variant, 'address = 300')}: evse[0].devices.meter.address: "
        "Modbus unit id must be 1..247, got 300"
    )


def test_chains_work_and_cycles_and_missing_bases_are_reported_at_the_extends_line(
    tmp_path: Path, pm: HalPluginManager
) -> None:
    _write(tmp_path, "base.toml", BASE)
    _write(tmp_path, "mid.toml", 'extends = "base.toml"\n[station]\nhw_version = "rev-B"\n')
    top = _write(tmp_path, "top.toml", 'extends = "mid.toml"\n[station]\nmodel = "Top"\n')
    profile = load_profile(top, pm)
    assert (profile.station.model, profile.station.hw_version) == ("Top", "rev-B")

    _write(tmp_path, "a.toml", '# a\nextends = "b.toml"\n')
    _write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(ProfileError, match=r"b\.toml:1: extends: 'a\.toml' is already in the chain"):
        load_profile(tmp_path / "a.toml", pm)
    missing = _write(tmp_path, "orphan.toml", '\n\nextends = "nowhere.toml"\n')
    with pytest.raises(ProfileError, match=rf"{missing}:3: extends: cannot read .*nowhere\.toml"):
        load_profile(missing, pm)
    with pytest.raises(ProfileError, match=r"extends: expected a file name"):
        load_profile(_write(tmp_path, "bad.toml", "extends = 3\n"), pm)


def test_check_accepts_a_variant_from_the_command_line(tmp_path: Path) -> None:
    _write(tmp_path, "base.toml", BASE)
    variant = _write(tmp_path, "variant.toml", VARIANT)
    proc = subprocess.run(
        [*josev_hal_command(), "check", "--strict", str(variant)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"ok {variant}"
