"""``josev-hal commission`` on the sim board: a complete signed report, injected faults failing the
matching checks, and ``--verify`` catching a report changed after signing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from josev_hal_sim import sim_board_text

from tests.support.hal_process import AC, DC

pytestmark = pytest.mark.timeout(180)

AC_CHECKS = {
    "rcd_self_test",
    "lock_cycle",
    "cp_level_A",
    "cp_level_B",
    "cp_level_C",
    "cp_level_E",
    "pwm_duty",
    "contactor_close_time",
    "meter_plausibility",
    "open_on_cp_c_to_b",
    "contactor_open_time",
    "welding_check",
}
DC_CHECKS = {
    "imd_self_test",
    "cp_level_A",
    "cp_level_B",
    "cp_level_C",
    "cp_level_E",
    "cable_check",
    "contactor_close_time",
    "meter_plausibility",
    "contactor_open_time",
    "welding_check",
}


def _commission(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("josev-hal", path=str(Path(sys.executable).parent))
    argv = [script] if script else [sys.executable, "-m", "josev_hal.cli"]
    env = {k: v for k, v in os.environ.items() if k != "JOSEV_HAL_STATE_DIR"}
    return subprocess.run([*argv, "commission", *args], capture_output=True, text=True, timeout=150, env=env)


def _checks(out: Path) -> dict[tuple[str, str], dict]:
    report = json.loads((out / "report.json").read_text())
    return {(c["evse_id"], c["name"]): c for c in report["checks"]}


@pytest.fixture(scope="module")
def passed_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    base = tmp_path_factory.mktemp("commission")
    out, state = base / "out", base / "state"
    return out, state, _commission("--out", str(out), "--state-dir", str(state))


def test_the_sim_board_passes_every_check_and_the_report_is_complete(
    passed_run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    out, state, done = passed_run
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] is True and report["format"] == "josev-hal-commissioning/1"
    checks = _checks(out)
    assert {name for evse, name in checks if evse == AC} == AC_CHECKS
    assert {name for evse, name in checks if evse == DC} == DC_CHECKS
    failed = [c for c in checks.values() if not c["passed"]]
    assert failed == []
    for check in checks.values():
        assert check["limit"] and check["at"]  # every check says what it was held to, and when
    assert checks[(AC, "contactor_close_time")]["value"] > 0
    assert checks[(AC, "pwm_duty")]["measurements"]["points"][0]["current_a"] == 6.0
    assert report["board"]["sha256"] == hashlib.sha256(sim_board_text().encode()).hexdigest()
    assert report["station"]["serial_number"] == "SIM-0001" and report["software"]["version"]
    assert report["mode"] == "simulated EV"
    page = (out / "report.html").read_text()
    assert "PASSED" in page and "contactor_open_time" in page and report["board"]["sha256"] in page
    assert (state / "keys" / "station-signing.ed25519.key.pem").stat().st_mode & 0o077 == 0


def test_verify_accepts_the_signed_report_and_names_the_stations_key(
    passed_run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    out, state, _ = passed_run
    done = _commission("--verify", str(out / "report.json"), "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"valid {out / 'report.json'}: signed by key ")


def test_verify_rejects_a_report_changed_after_signing(
    passed_run: tuple[Path, Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out, _, _ = passed_run
    report = json.loads((out / "report.json").read_text())
    report["checks"][0]["value"] = "something else"
    forged = tmp_path / "report.json"
    forged.write_text(json.dumps(report))
    done = _commission("--verify", str(forged))
    assert done.returncode == 1 and "changed after signing" in done.stderr


def test_verify_rejects_a_report_signed_by_another_key(
    passed_run: tuple[Path, Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    out, _, _ = passed_run
    done = _commission("--verify", str(out / "report.json"), "--state-dir", str(tmp_path / "other-station"))
    assert done.returncode == 1 and "not by this station's key" in done.stderr


def _faulty_board(tmp_path: Path, old: str, new: str) -> Path:
    text = sim_board_text()
    assert old in text
    path = tmp_path / "board.toml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "inject", "failing", "evse"),
    [
        pytest.param(
            "",
            "",
            json.dumps({"evse_id": AC, "action": "weld_contactor"}),
            {"welding_check", "contactor_open_time"},
            AC,
            id="welded-contactor",
        ),
        pytest.param(
            "options = { hardware_cutoff = true, latching = false }",
            "options = { hardware_cutoff = true, latching = false, self_test_passes = false }",
            None,
            {"rcd_self_test"},
            AC,
            id="rcd-does-not-trip-in-self-test",
        ),
        pytest.param(
            "options = { delay_ms = 200 }",
            "options = { delay_ms = 3000 }",
            None,
            {"lock_cycle"},
            AC,
            id="slow-lock",
        ),
        pytest.param(
            "",
            "",
            json.dumps({"evse_id": DC, "action": "isolation", "ohm": 20_000}),
            {"cable_check"},
            DC,
            id="dc-insulation-fault",
        ),
    ],
)
def test_an_injected_fault_fails_the_matching_check_and_exits_1(
    tmp_path: Path, old: str, new: str, inject: str | None, failing: set[str], evse: str
) -> None:
    args = ["--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state")]
    if old:
        args += ["--board", str(_faulty_board(tmp_path, old, new))]
    if inject:
        args += ["--inject-sim", inject]
    done = _commission(*args)
    assert done.returncode == 1, done.stdout + done.stderr
    checks = _checks(tmp_path / "out")
    failed = {name for (evse, name), c in checks.items() if not c["passed"]}
    assert failing <= failed, checks
    assert all(e == evse for (e, name), c in checks.items() if not c["passed"])
    assert (
        "FAILED" in done.stdout
        and json.loads((tmp_path / "out" / "report.json").read_text())["passed"] is False
    )
    for name in failing:
        assert f"failed: {evse} {name}" in done.stdout


def test_commission_refuses_while_the_daemon_runs_on_the_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "operations.json").write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": os.getppid()}))
    done = _commission("--out", str(tmp_path / "out"), "--state-dir", str(state))
    assert done.returncode == 3 and "stop it first" in done.stderr
    assert not (tmp_path / "out").exists()


def test_commission_without_out_or_verify_is_a_usage_error() -> None:
    done = _commission()
    assert done.returncode == 2 and "--out DIR is required" in done.stderr


@pytest.fixture
def private_sim_worlds() -> Iterator[None]:
    """The in-process commissioning below builds the sim board in this process: give it a registry
    of its own, so worlds another test left attached under the same EVSE ids (the sim board's
    ids are everywhere) cannot receive its adapter commands."""
    from josev_hal_sim.registry import WorldRegistry, set_default_registry

    previous = set_default_registry(WorldRegistry())
    try:
        yield
    finally:
        set_default_registry(previous)


@pytest.mark.usefixtures("private_sim_worlds")
def test_with_an_operator_the_command_prompts_for_each_adapter_state(tmp_path: Path) -> None:
    """The prompting path a technician sees, answered by someone who sets the (simulated) adapter."""
    import re

    from josev_hal_sim import SimulatedEv

    from josev_hal.daemon import load_board_profile
    from josev_hal.operations.commission import Commissioning, OperatorAdapter
    from josev_hal.plugins import get_plugin_manager

    pm = get_plugin_manager()
    profile, source = load_board_profile(None, pm)
    prompts: list[str] = []

    def technician(prompt: str) -> str:
        prompts.append(prompt)
        match = re.match(r"EVSE (\S+) connector (\d+): .*state ([A-E])", prompt)
        assert match, prompt
        SimulatedEv().set_state(match[1], int(match[2]), match[3])
        return ""

    job = Commissioning(
        profile,
        pm,
        source=source,
        profile_bytes=sim_board_text().encode(),
        ev=OperatorAdapter(technician),
        out=lambda line: None,
    )
    report = job.run()
    assert report["mode"] == "operator with test adapter"
    assert report["passed"] is True, [c for c in report["checks"] if not c["passed"]]
    assert (
        f"EVSE {AC} connector 1: set the adapter to state C (charging) with its load on, then press Enter "
        in prompts
    )
    assert any(p.startswith(f"EVSE {DC} connector 1: set the adapter to state E") for p in prompts)


def test_prompting_without_a_terminal_is_a_clear_runtime_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "josev_hal.cli", "commission", "--prompt", "--out", str(tmp_path / "o"),
         "--state-dir", str(tmp_path / "s")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 3 and "needs an operator at the terminal" in done.stderr
