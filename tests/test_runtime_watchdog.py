"""Issue #13 item 3 end to end: the daemon under a fake systemd notify socket.

* A healthy ``josev-hal run`` sends ``READY=1`` and then ``WATCHDOG=1`` every ``WATCHDOG_USEC/2``,
  and ``STOPPING=1`` on SIGTERM.
* A daemon whose CP sampling loop hangs (the test holds the EVSE's lock from another thread, as a
  driver call that never returns would) logs the loop with its stack, publishes a
  ``hardware_fault``, stops pinging and exits non-zero (4) by itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from tests.support.broker import JosevPeer
from tests.support.hal_process import board_text
from tests.support.waiting import eventually
from tests.test_watchdog import NotifySocket

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    s = NotifySocket(str(tmp_path / "notify"))
    yield s
    s.close()


def _env(notify: NotifySocket, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.getcwd(),
        "NOTIFY_SOCKET": notify.path,
        "WATCHDOG_USEC": "400000",  # WatchdogSec=0.4 s -> a ping every 0.2 s
        "XDG_STATE_HOME": str(tmp_path),
    }


def test_a_healthy_daemon_is_ready_then_pings_the_watchdog_and_says_stopping(
    broker: EmbeddedBroker, notify_socket: NotifySocket, tmp_path: Path
) -> None:
    board = tmp_path / "board.toml"
    board.write_text(board_text())
    argv = [sys.executable, "-m", "josev_hal.cli", "run", "--board", str(board), "--broker", broker.url]
    argv += ["--state-dir", str(tmp_path / "state")]
    proc = subprocess.Popen(argv, env=_env(notify_socket, tmp_path), stderr=subprocess.PIPE)
    try:
        assert eventually(lambda: notify_socket.count("READY=1") == 1, 30)
        ready_at = notify_socket.datagrams.index(next(d for d in notify_socket.datagrams if "READY=1" in d))
        assert eventually(lambda: notify_socket.count("WATCHDOG=1") >= 5, 20)
        assert all("READY=1" not in d for d in notify_socket.datagrams[ready_at + 1 :])
        ready = next(d for d in notify_socket.datagrams if "READY=1" in d)
        assert f"MAINPID={proc.pid}" in ready.split("\n")
        assert "station." in ready and "bridge network loop" in ready  # STATUS names the loops
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        proc.kill()
    assert notify_socket.count("STOPPING=1") == 1


_HANGING_LOOP = textwrap.dedent(
    """
    import sys, threading, time
    from josev_hal.daemon import Daemon, install_signal_handlers, load_board_profile
    from josev_hal.logging_setup import setup_logging
    from josev_hal.plugins import get_plugin_manager
    from josev_hal.profile import load_profile

    setup_logging(None, level="INFO")
    pm = get_plugin_manager()
    profile = load_profile(sys.argv[2], pm)
    daemon = Daemon(profile, pm, source="test", broker_url=sys.argv[1], state_dir=sys.argv[3])
    install_signal_handlers(daemon)
    daemon.start(wait_s=10)
    controller = daemon.station.controller("DE*JHL*E0001")

    def driver_call_that_never_returns():
        with controller._lock:  # the test double: a hung call inside the sampling path
            time.sleep(3600)

    threading.Thread(target=driver_call_that_never_returns, name="hung-driver", daemon=True).start()
    print("hanging", flush=True)
    sys.exit(daemon.serve())
    """
)


def test_a_hung_sampling_loop_is_logged_with_its_stack_reported_and_the_process_exits_non_zero(
    broker: EmbeddedBroker, notify_socket: NotifySocket, tmp_path: Path
) -> None:
    board = tmp_path / "board.toml"
    board.write_text(board_text())
    peer = JosevPeer(broker, clean_session=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HANGING_LOOP, broker.url, str(board), str(tmp_path / "state")],
        env=_env(notify_socket, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"hanging"
        code = proc.wait(60)
        exited = time.time()
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
        faults = [
            m["data"]
            for m in peer.messages()
            if m["name"] == "hardware_fault" and m["data"]["component_name"] == "hal"
        ]
    finally:
        proc.kill()
        peer.close()
    assert code == 4, err[-3000:]
    # The station's sampling loop (one scheduler thread for every EVSE) is named, with the stack
    # that shows where it hangs: waiting for the EVSE lock inside the sampling call.
    assert "watchdog: loop 'station." in err and "has not turned" in err
    assert "josev_hal/station/evse.py" in err and "self._lock" in err, err[-6000:]
    assert {f["evse_id"] for f in faults} >= {"DE*JHL*E0001"} and all(
        f["fault_name"] == "other" for f in faults
    )
    # The pings stopped when the watchdog tripped (systemd would kill a HAL whose exit hangs),
    # although the process lived on for its shutdown deadline.
    tripped_line = next(line for line in err.splitlines() if "watchdog: loop" in line)
    tripped = datetime.fromisoformat(tripped_line.split()[0].replace("Z", "+00:00")).timestamp()
    last_ping = max(
        t for t, d in zip(notify_socket.times, notify_socket.datagrams, strict=True) if d == "WATCHDOG=1"
    )
    assert last_ping < tripped + 0.3
    assert exited - tripped > 2.0  # the shutdown deadline (6 s) ran in between, without pings
