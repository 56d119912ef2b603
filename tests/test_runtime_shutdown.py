"""Issue #13 items 2 and 5: ``josev-hal run`` stops for good, with the contactors open first, and
always finishes - broker up, broker down, or a broker that accepts TCP and never answers.

Real processes: the daemon is a child process on the sim board, the broker a private mosquitto;
the EV is driven over ``sim/cs``. No wall-clock thresholds: "finished in time" means the process
exited with code 0 by itself (the forced exit after ``SHUTDOWN_DEADLINE_S`` would be code 3 and
logs that it fired); the generous waits only bound a broken run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from tests.support.broker import JosevPeer
from tests.support.hal_process import AC, HalProcess

pytestmark = pytest.mark.timeout(120)


class BlackHole:
    """A TCP listener that accepts every connection and never sends a byte (a wedged broker)."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)  # kept open, never read: the peer's bytes pile up

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def hal(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[HalProcess]:
    with HalProcess(broker, tmp_path / "state").start() as process:
        yield process


def _charging(hal: HalProcess) -> None:
    hal.sim("plug", cable_a=32)
    hal.sim("charge")
    hal.wait_evse(
        AC, lambda e: e["contactor"]["status"] == "closed" and e["connectors"][0]["cp_state"] == "C2"
    )


def _terminate(hal: HalProcess, timeout: float = 30.0) -> tuple[int, str]:
    assert hal.proc is not None
    hal.proc.send_signal(signal.SIGTERM)
    code = hal.proc.wait(timeout)
    hal.proc = None
    return code, hal.stderr()


def _after_stop(log: str) -> str:
    start = log.index("stopping: signal SIGTERM")
    return log[start:]


def _assert_opened_and_never_closed_again(log: str) -> None:
    tail = _after_stop(log)
    assert f"evse={AC} contactor open" in tail, tail[-3000:]
    assert f"evse={AC} contactor close" not in tail, tail[-3000:]
    assert "shutdown did not finish" not in tail
    # Item 7: drivers are released only after every user stopped; teardown is not a link loss.
    assert "device link lost" not in tail and "not set up" not in tail, tail[-3000:]
    assert tail.rstrip().endswith("stopped"), tail[-2000:]


def test_sigterm_during_charging_opens_first_and_the_last_published_contactor_state_is_opened(
    hal: HalProcess, broker: EmbeddedBroker
) -> None:
    peer = JosevPeer(broker, clean_session=True)
    try:
        _charging(hal)
        code, log = _terminate(hal)
        statuses = [
            m["data"]["status"]
            for m in peer.messages()
            if m["name"] == "cs_contactor_status" and m["type"] == "update" and m["data"]["evse_id"] == AC
        ]
    finally:
        peer.close()
    assert code == 0, log[-3000:]
    _assert_opened_and_never_closed_again(log)
    assert "closed" in statuses
    assert statuses[-1] == "opened", statuses
    last_closed = max(i for i, s in enumerate(statuses) if s == "closed")
    assert "opened" in statuses[last_closed:], statuses


def test_sigterm_with_the_broker_down_still_opens_the_contactor_and_exits_by_itself(
    hal: HalProcess, broker: EmbeddedBroker
) -> None:
    _charging(hal)
    broker.kill()
    assert hal.wait_evse(AC, lambda e: e["contactor"]["status"] == "closed")  # charging goes on offline
    code, log = _terminate(hal)
    assert code == 0, log[-3000:]
    _assert_opened_and_never_closed_again(log)


def test_sigterm_with_a_broker_that_accepts_tcp_and_never_answers_exits_by_itself(
    hal: HalProcess, broker: EmbeddedBroker
) -> None:
    _charging(hal)
    port = broker.port
    broker.kill()
    hole = BlackHole(port)  # the HAL reconnects into a silent peer
    try:
        assert hal.wait_evse(AC, lambda e: e["contactor"]["status"] == "closed")
        # Wait until the HAL sits in a connection attempt to the black hole.
        deadline_log = ""
        for _ in range(200):
            if hole.accepted:
                break
            threading.Event().wait(0.05)
        assert hole.accepted, "the HAL never tried the black-holing broker"
        code, log = _terminate(hal)
        deadline_log = log
    finally:
        hole.close()
    assert code == 0, deadline_log[-3000:]
    _assert_opened_and_never_closed_again(deadline_log)


_HANGING_STOP = textwrap.dedent(
    """
    import sys, threading
    from josev_hal.daemon import Daemon, install_signal_handlers, load_board_profile
    from josev_hal.plugins import get_plugin_manager

    pm = get_plugin_manager()
    profile, source = load_board_profile(None, pm)
    daemon = Daemon(profile, pm, source=source)
    install_signal_handlers(daemon)
    # A driver call that never returns during the stop (the test double: stop() hangs).
    daemon.stop = lambda **kw: threading.Event().wait()
    print("ready", flush=True)
    sys.exit(daemon.serve())
    """
)


def test_a_second_sigterm_exits_at_once_while_the_first_stop_hangs(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "XDG_STATE_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HANGING_STOP], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        proc.send_signal(signal.SIGTERM)
        threading.Event().wait(0.3)
        assert proc.poll() is None  # the first one only started the (hanging) stop
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    finally:
        proc.kill()
    assert code == 128 + signal.SIGTERM
    assert proc.stderr is not None
    assert b"second SIGTERM: exiting now" in proc.stderr.read()


def test_a_stop_that_hangs_is_ended_by_the_shutdown_deadline_with_a_failure_code(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "XDG_STATE_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HANGING_STOP], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    finally:
        proc.kill()
    assert code == 3
    assert proc.stderr is not None
    assert b"shutdown did not finish within" in proc.stderr.read()


def test_systemd_unit_stop_timeout_is_above_the_shutdown_deadline_and_uses_the_watchdog() -> None:
    from josev_hal.daemon import SHUTDOWN_DEADLINE_S

    unit = Path(__file__).resolve().parents[1] / "packaging" / "josev-hal.service"
    lines = [line for line in unit.read_text().splitlines() if "=" in line and not line.startswith("#")]
    settings = dict(line.split("=", 1) for line in lines)
    assert settings["Type"] == "notify"
    assert float(settings["TimeoutStopSec"]) > SHUTDOWN_DEADLINE_S
    assert float(settings["WatchdogSec"]) > 0
    assert settings.get("NotifyAccess") == "main"
