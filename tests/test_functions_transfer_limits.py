"""Issue #13 item 6: every transfer is bounded - response body size, overall deadline, minimum rate.

Hostile HTTP peers on raw sockets: one answers an upload with a 400 MB body, one drips its answer
a byte at a time (the per-read timeout never fires for it), one drips a firmware image.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.functions.config import LogsSettings
from josev_hal.functions.transfer import (
    MAX_RESPONSE_BODY,
    TransferBudget,
    TransferError,
    open_request,
    read_some,
)
from tests.support.contract import Contract
from tests.support.functions_rig import FunctionsRig, wait_until

pytestmark = pytest.mark.timeout(120)


class HostileHttp:
    """Reads one request, then ``behaviour(conn)`` answers it; counts the bytes it got out."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.sent = 0
        self.requests = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str = "/upload/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        self.requests += 1

    def _answer(self, conn: socket.socket) -> None:
        try:
            self._read_request(conn)
            if self.behaviour == "huge":
                conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 400000000\r\n\r\n")
                block = b"x" * 65536
                while self.sent < 400_000_000 and not self._stop.is_set():
                    conn.sendall(block)
                    self.sent += len(block)
            elif self.behaviour == "drip-status":
                for byte in b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n":
                    if self._stop.wait(0.4):
                        return
                    conn.sendall(bytes([byte]))
                    self.sent += 1
            elif self.behaviour == "drip-body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
                while not self._stop.wait(0.05):
                    conn.sendall(b"f")
                    self.sent += 1
        except OSError:
            pass  # the client gave up: that is the point
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def rig(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[FunctionsRig]:
    state = tmp_path / "state"
    (state / "logs").mkdir(parents=True)
    (state / "logs" / "josev-hal.log").write_text("2026-01-01T00:00:00.000Z INFO a: line\n")
    instance = FunctionsRig(broker, state, logs=LogsSettings(timeout_s=1.0, default_retries=0))
    yield instance
    instance.close()


def _upload(rig: FunctionsRig, contract: Contract, url: str, request_id: int) -> tuple[list[str], float]:
    started = time.monotonic()
    response = rig.request(
        "upload_logs",
        {"log_type": "diagnostics_log", "request_id": request_id, "remote_location": url},
    )
    contract.validate(response)

    def statuses() -> list[str]:
        return [
            m["data"]["status"] for m in rig.updates("logs_status") if m["data"]["request_id"] == request_id
        ]

    final = wait_until(lambda: (s := statuses()) and s[-1] != "uploading" and s, timeout=60)
    return final, time.monotonic() - started


def test_an_upload_answered_with_a_huge_body_reads_only_a_small_part_of_it(
    rig: FunctionsRig, contract: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    server = HostileHttp("huge")
    try:
        statuses, _ = _upload(rig, contract, server.url(), 71)
    finally:
        time.sleep(0.2)
        sent = server.sent
        server.close()
    assert server.requests == 1
    assert statuses[-1] == "uploaded"  # the status line said 201; the body is not the HAL's business
    # The HAL stopped reading after MAX_RESPONSE_BODY: the server got out only what socket buffers
    # hold, not 400 MB.
    assert sent < 32 * 1024 * 1024, sent
    assert any("response body over" in r.getMessage() for r in caplog.records)
    assert MAX_RESPONSE_BODY <= 64 * 1024


def test_an_upload_whose_server_drips_its_answer_fails_by_the_deadline(
    rig: FunctionsRig, contract: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    server = HostileHttp("drip-status")  # one byte per 0.4 s: every read succeeds in time
    try:
        statuses, _ = _upload(rig, contract, server.url(), 72)
    finally:
        server.close()
    assert statuses[-1] == "upload_failure"
    assert any("did not finish within its deadline" in r.getMessage() for r in caplog.records)
    # The full answer would take ~17 s of dripping; the HAL did not wait for it.
    assert server.sent < 40


def test_a_download_that_drips_fails_on_the_minimum_rate_without_waiting_for_a_full_chunk() -> None:
    server = HostileHttp("drip-body")
    try:
        request = urllib.request.Request(server.url("/fw.bin"))
        budget = TransferBudget("firmware download", deadline_s=60.0, grace_s=0.5, min_rate_bps=1024)
        received = 0
        with (
            pytest.raises(TransferError, match="too slow"),
            budget,
            open_request(request, 5.0, budget) as response,
        ):
            while True:
                budget.check(received)
                chunk = read_some(response, 65536)
                if not chunk:
                    break
                received += len(chunk)
    finally:
        server.close()
    assert 0 < received < 1000


def test_the_deadline_shuts_the_socket_of_a_read_that_is_blocked_in_the_kernel() -> None:
    server = HostileHttp("drip-status")
    try:
        request = urllib.request.Request(server.url("/x"), data=b"x", method="PUT")
        budget = TransferBudget("log upload", deadline_s=0.5, grace_s=60.0)
        failure: list[BaseException] = []

        def attempt() -> Any:
            try:
                with budget, open_request(request, 30.0, budget) as response:
                    response.read()
            except BaseException as exc:  # recorded: which exception does not matter
                failure.append(exc)

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(20)  # the per-read timeout (30 s) would never fire for a drip
        assert not thread.is_alive()
    finally:
        server.close()
    assert budget.expired and failure
