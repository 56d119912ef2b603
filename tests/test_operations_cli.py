"""``josev-hal status`` / ``ctl`` / ``monitor`` as console scripts against a running daemon."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from tests.support.hal_process import AC, DC, HalProcess

pytestmark = pytest.mark.timeout(120)


def _script() -> str:
    found = shutil.which("josev-hal", path=str(Path(sys.executable).parent)) or shutil.which("josev-hal")
    if found is None:
        pytest.skip("the josev-hal console script is not installed (pip install -e .)")
    return found


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_script(), *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


@pytest.fixture
def hal(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[HalProcess]:
    with HalProcess(broker, tmp_path / "state").start() as process:
        yield process


def test_status_prints_a_table_of_every_evse_found_through_the_state_dir(hal: HalProcess) -> None:
    done = _run("status", "--state-dir", str(hal.state_dir))
    assert done.returncode == 0, done.stderr
    assert AC in done.stdout and DC in done.stdout
    assert "mqtt connected" in done.stdout and "cp_not_c2_d2" in done.stdout


def test_status_json_is_the_endpoints_document_and_env_var_finds_the_daemon(hal: HalProcess) -> None:
    done = _run("status", "--json", env={"JOSEV_HAL_STATE_DIR": str(hal.state_dir)})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [e["evse_id"] for e in doc["evses"]] == [AC, DC]
    assert doc["evses"][0]["connectors"][0]["cp_state"] == "A1"


def test_status_without_a_daemon_says_where_it_looked_and_exits_3(tmp_path: Path) -> None:
    done = _run("status", "--state-dir", str(tmp_path))
    assert done.returncode == 3
    assert "no running daemon found" in done.stderr and str(tmp_path) in done.stderr
    done = _run("status", "--url", "http://127.0.0.1:9", "--state-dir", str(tmp_path))
    assert done.returncode == 3 and "not reachable" in done.stderr
    # a daemon that was killed (no clean stop) leaves its endpoint file: named, not tried
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "operations.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": dead.pid}))
    done = _run("status", "--state-dir", str(tmp_path))
    assert done.returncode == 3 and f"names pid {dead.pid}, which is not running" in done.stderr


def test_ctl_actions_go_through_the_core_and_refusals_exit_1_with_the_reason(hal: HalProcess) -> None:
    sd = ("--state-dir", str(hal.state_dir))
    done = _run("ctl", *sd, "available", AC, "off")
    assert done.returncode == 0 and done.stdout.startswith(f"ok available {AC}"), done.stderr
    assert hal.evse(AC)["available"] is False
    done = _run("ctl", "available", AC, "on", *sd)  # options after the action work too
    assert done.returncode == 0
    hal.sim("plug")
    hal.sim("charge")
    hal.wait_evse(AC, lambda e: e["contactor"]["status"] == "closed")
    done = _run("ctl", *sd, "unlock", AC)
    assert done.returncode == 1
    assert done.stderr.strip() == f"refused unlock {AC}: unlock refused: contactor closed"
    done = _run("ctl", *sd, "clear-faults", AC)
    assert done.returncode == 0 and "cleared=[]" in done.stdout
    done = _run("ctl", *sd, "reset-rcd", "DE*NOPE*E1")
    assert done.returncode == 1 and "unknown evse_id" in done.stderr


def test_ctl_without_the_token_is_refused(hal: HalProcess, tmp_path: Path) -> None:
    empty = tmp_path / "no-token"
    empty.write_text("")
    done = _run(
        "ctl", "--url", hal.url, "--token-file", str(empty), "--state-dir", str(tmp_path), "reset-rcd", AC
    )
    assert done.returncode == 1 and "token" in done.stderr


def test_ctl_usage_errors_exit_2() -> None:
    assert _run("ctl").returncode == 2
    done = _run("ctl", "available", AC, "maybe")
    assert done.returncode == 2 and "expected on or off" in done.stderr


def test_monitor_renders_live_frames_on_a_terminal(hal: HalProcess) -> None:
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [_script(), "monitor", "--state-dir", str(hal.state_dir), "--frames", "3", "--hz", "5"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = out.decode("utf-8", "replace")
    assert AC in text and DC in text and "mqtt connected" in text
    assert "\x1b[" in text  # rendered for a terminal (rich live display), not plain text
