"""Issue #13 item 3: sd_notify over a real Unix datagram socket (a fake ``NOTIFY_SOCKET``) and the
liveness watchdog that pings only while every loop turns."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from josev_hal.liveness import Liveness, Overdue
from josev_hal.watchdog import SdNotify, Watchdog, watchdog_interval_s
from tests.support.waiting import eventually


class NotifySocket:
    """What systemd listens on: a Unix datagram socket; records every datagram."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path if not path.startswith("@") else "\0" + path[1:])
        self.sock.settimeout(0.1)
        self.datagrams: list[str] = []
        self.times: list[float] = []  # arrival (time.time()) of each datagram
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096).decode()
                self.times.append(time.time())
                self.datagrams.append(data)
            except TimeoutError:
                continue
            except OSError:
                return

    def count(self, line: str) -> int:
        return sum(line in d.split("\n") for d in list(self.datagrams))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    s = NotifySocket(str(tmp_path / "notify"))
    yield s
    s.close()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sd_notify_sends_ready_watchdog_and_status_datagrams_to_the_notify_socket(
    notify_socket: NotifySocket,
) -> None:
    n = SdNotify(notify_socket.path)
    assert n.enabled
    assert n.ready("up") and n.watchdog() and n.stopping("bye")
    assert eventually(lambda: len(notify_socket.datagrams) == 3)
    ready, ping, stopping = notify_socket.datagrams
    assert ready.split("\n") == ["READY=1", f"MAINPID={os.getpid()}", "STATUS=up"]
    assert ping == "WATCHDOG=1"
    assert stopping.split("\n") == ["STOPPING=1", "STATUS=bye"]
    n.close()


def test_sd_notify_reaches_an_abstract_namespace_socket() -> None:
    name = f"@josev-hal-test-{uuid.uuid4().hex}"
    s = NotifySocket(name)
    try:
        assert SdNotify(name).watchdog()
        assert eventually(lambda: s.datagrams == ["WATCHDOG=1"])
    finally:
        s.close()


def test_sd_notify_without_notify_socket_is_a_silent_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = SdNotify()
    assert not n.enabled
    assert n.ready() is False and n.watchdog() is False


def test_sd_notify_to_a_vanished_socket_logs_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n = SdNotify(str(tmp_path / "gone"))
    with caplog.at_level(logging.ERROR, logger="josev_hal.watchdog"):
        assert n.watchdog() is False
        assert n.watchdog() is False
    assert len([r for r in caplog.records if "sd_notify" in r.getMessage()]) == 1


def test_watchdog_interval_is_half_of_watchdog_usec_and_only_for_this_process() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}) == 5.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "ten"}) is None


def test_watchdog_pings_while_every_loop_is_fresh(notify_socket: NotifySocket) -> None:
    clock = Clock()
    liveness = Liveness(clock)
    a, b = liveness.register("station.cp.E1", 1.0), liveness.register("bridge network loop", 5.0)
    stuck: list[list[Overdue]] = []
    dog = Watchdog(liveness, SdNotify(notify_socket.path), interval_s=0.5, on_stuck=stuck.append)
    for _ in range(3):
        clock.now += 0.5
        a.beat()
        b.beat()
        assert dog.check() == []
    assert eventually(lambda: notify_socket.count("WATCHDOG=1") == 3)
    assert stuck == [] and dog.pings == 3


def test_a_loop_that_stops_turning_trips_the_watchdog_once_with_its_stack_and_pings_stop(
    notify_socket: NotifySocket, caplog: pytest.LogCaptureFixture
) -> None:
    liveness = Liveness()
    hung = threading.Event()
    release = threading.Event()

    def sampling_loop() -> None:
        hb = liveness.register("station.cp.E1", 0.2)
        hb.beat()
        hung.set()
        release.wait(30)  # the loop hangs here, inside a "driver call"

    thread = threading.Thread(target=sampling_loop, name="cp-E1", daemon=True)
    thread.start()
    assert hung.wait(5)
    stuck: list[list[Overdue]] = []
    dog = Watchdog(liveness, SdNotify(notify_socket.path), interval_s=0.05, on_stuck=stuck.append)
    try:
        with caplog.at_level(logging.CRITICAL, logger="josev_hal.watchdog"):
            dog.start()
            assert eventually(lambda: bool(stuck), 10)
            pings_at_trip = notify_socket.count("WATCHDOG=1")
            threading.Event().wait(0.3)  # several more check intervals
    finally:
        dog.stop()
        release.set()
    assert len(stuck) == 1  # reported once, not every interval
    (overdue,) = stuck[0]
    assert overdue.name == "station.cp.E1"
    assert "sampling_loop" in overdue.stack and "release.wait(30)" in overdue.stack
    assert notify_socket.count("WATCHDOG=1") == pings_at_trip  # no pings once tripped
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(logged) == 1 and "station.cp.E1" in logged[0] and "sampling_loop" in logged[0]


def test_a_loop_that_ended_on_purpose_is_not_watched(notify_socket: NotifySocket) -> None:
    clock = Clock()
    liveness = Liveness(clock)
    hb = liveness.register("meter", 1.0)
    hb.close()
    clock.now += 100
    stuck: list[list[Overdue]] = []
    dog = Watchdog(liveness, SdNotify(notify_socket.path), interval_s=1.0, on_stuck=stuck.append)
    assert dog.check() == [] and stuck == []
