"""upload_logs end to end (Josev's request over mosquitto, the HAL's rotating log files, a local
HTTP server receiving the upload) and the logging setup those files come from."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import io
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.functions.config import LogsSettings
from josev_hal.functions.logs import cut_window
from josev_hal.logging_setup import SECURITY_LOGGER, parse_record_time, setup_logging
from josev_hal.messages import utc_timestamp
from tests.support.contract import Contract
from tests.support.ftp_server import LocalFtpServer
from tests.support.functions_rig import FunctionsRig, wait_until

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _stamp(hours_ago: float) -> str:
    return utc_timestamp(NOW - dt.timedelta(hours=hours_ago))


class UploadServer:
    """Accepts PUT/POST; the first ``fail_first`` requests get HTTP 500, ``always_status`` forces one."""

    def __init__(self, *, fail_first: int = 0, always_status: int | None = None) -> None:
        self.bodies: list[tuple[str, str, bytes, str]] = []  # method, path, body, content type
        self.auth: list[str | None] = []
        self.fail_first = fail_first
        self.always_status = always_status
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _receive(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.bodies.append((self.command, self.path, body, self.headers.get("Content-Type", "")))
                server.auth.append(self.headers.get("Authorization"))
                if server.always_status is not None:
                    status = server.always_status
                elif server.fail_first > 0:
                    server.fail_first -= 1
                    status = 500
                else:
                    status = 201
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = _receive
            do_POST = _receive

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/upload/") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _write_logs(state_dir: Path) -> None:
    """Two rotated files and the live one, as the rotating handler leaves them (mtime = last line)."""
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    files = {
        "josev-hal.log.2": ([(5.0, "INFO a: too old to send"), (4.5, "INFO a: also too old")], 4.5),
        "josev-hal.log.1": (
            [
                (3.5, "INFO a: still before the window"),
                (
                    2.5,
                    "ERROR a: inside the window with a traceback\nTraceback (most recent call last):\n  boom",
                ),
            ],
            2.5,
        ),
        "josev-hal.log": (
            [(1.5, "WARNING a: inside the window, live file"), (0.2, "INFO a: newest line")],
            0.2,
        ),
        "security.log": ([(2.0, "WARNING josev_hal.security: firmware signature invalid")], 2.0),
    }
    for name, (records, last) in files.items():
        text = "".join(f"{_stamp(h)} {line}\n" for h, line in records)
        (logs / name).write_text(text)
        when = (NOW - dt.timedelta(hours=last)).timestamp()
        os.utime(logs / name, (when, when))


@pytest.fixture
def server() -> Iterator[UploadServer]:
    instance = UploadServer()
    yield instance
    instance.close()


@pytest.fixture
def rig(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[FunctionsRig]:
    (tmp_path / "state").mkdir()
    _write_logs(tmp_path / "state")
    instance = FunctionsRig(broker, tmp_path / "state", logs=LogsSettings(timeout_s=2.0, default_retries=0))
    yield instance
    instance.close()


def _statuses(rig: FunctionsRig, request_id: int) -> list[str]:
    return [m["data"]["status"] for m in rig.updates("logs_status") if m["data"]["request_id"] == request_id]


def _upload(rig: FunctionsRig, contract: Contract, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    response = rig.request("upload_logs", data)
    contract.validate(response)
    statuses = wait_until(lambda: (s := _statuses(rig, data["request_id"])) and s[-1] != "uploading" and s)
    for message in rig.updates("logs_status"):
        contract.validate(message)
    return response["data"], statuses


def test_upload_contains_the_window_and_not_the_lines_before_it(
    rig: FunctionsRig, server: UploadServer, contract: Contract
) -> None:
    data, statuses = _upload(
        rig,
        contract,
        {
            "request_id": 1,
            "log_type": "diagnostics_log",
            "remote_location": server.url(),
            "oldest_timestamp": _stamp(3.0),
            "latest_timestamp": _stamp(0.0),
        },
    )
    assert data["status"] == "accepted" and data["filename"].endswith(".log")
    assert statuses == ["uploading", "uploaded"]
    method, path, body, _ = server.bodies[-1]
    assert (method, path) == ("PUT", "/upload/" + data["filename"])
    text = body.decode()
    assert "inside the window with a traceback" in text
    assert "Traceback (most recent call last):\n  boom" in text  # continuation lines travel along
    assert "inside the window, live file" in text
    assert "before the window" not in text and "too old" not in text
    assert "firmware signature invalid" not in text  # security log only when asked for
    # oldest file first: the window reads in time order
    assert text.index("with a traceback") < text.index("live file")


def test_upload_of_a_window_ending_in_the_past_still_yields_its_lines_from_the_live_log(
    rig: FunctionsRig, server: UploadServer, contract: Contract
) -> None:
    # The live file was last written 0.2 h ago, after the window's end; it holds the 1.5 h line.
    data, statuses = _upload(
        rig,
        contract,
        {
            "request_id": 7,
            "log_type": "diagnostics_log",
            "remote_location": server.url(),
            "oldest_timestamp": _stamp(3.0),
            "latest_timestamp": _stamp(1.0),
        },
    )
    assert data["status"] == "accepted"
    assert statuses == ["uploading", "uploaded"]
    text = server.bodies[-1][2].decode()
    assert "inside the window, live file" in text
    assert "inside the window with a traceback" in text
    assert "newest line" not in text and "before the window" not in text


def test_security_log_upload_sends_only_the_security_log(
    rig: FunctionsRig, server: UploadServer, contract: Contract
) -> None:
    _, statuses = _upload(
        rig, contract, {"request_id": 2, "log_type": "security_log", "remote_location": server.url()}
    )
    assert statuses == ["uploading", "uploaded"]
    text = server.bodies[-1][2].decode()
    assert "firmware signature invalid" in text
    assert "live file" not in text


def test_post_upload_sends_multipart_form_data(
    rig: FunctionsRig, server: UploadServer, contract: Contract
) -> None:
    rig.functions.logs.settings = LogsSettings(upload_method="POST", timeout_s=2.0)
    data, statuses = _upload(
        rig, contract, {"request_id": 3, "log_type": "diagnostics_log", "remote_location": server.url("/in")}
    )
    assert statuses == ["uploading", "uploaded"]
    method, path, body, ctype = server.bodies[-1]
    assert (method, path) == ("POST", "/in")
    assert ctype.startswith("multipart/form-data; boundary=")
    assert f'filename="{data["filename"]}"'.encode() in body
    assert b"inside the window, live file" in body


def test_upload_is_retried_as_the_request_says(
    broker: EmbeddedBroker, rig: FunctionsRig, contract: Contract
) -> None:
    flaky = UploadServer(fail_first=2)
    try:
        _, statuses = _upload(
            rig,
            contract,
            {
                "request_id": 4,
                "log_type": "diagnostics_log",
                "remote_location": flaky.url(),
                "retries": 2,
                "retry_interval": 0,
            },
        )
    finally:
        flaky.close()
    assert statuses == ["uploading", "uploaded"]
    assert len(flaky.bodies) == 3


@pytest.mark.parametrize("where", ["refusing", "unreachable"])
def test_failed_upload_reports_upload_failure(rig: FunctionsRig, contract: Contract, where: str) -> None:
    refusing = UploadServer(always_status=403)
    url = refusing.url() if where == "refusing" else "http://127.0.0.1:1/upload/"
    try:
        _, statuses = _upload(
            rig,
            contract,
            {"request_id": 5, "log_type": "diagnostics_log", "remote_location": url, "retries": 0},
        )
    finally:
        refusing.close()
    assert statuses == ["uploading", "upload_failure"]


def test_credentials_in_the_url_become_basic_auth_and_stay_out_of_the_log(
    rig: FunctionsRig, server: UploadServer, contract: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.url().replace("http://", "http://op%40acme:s3cr%3At@")
    with caplog.at_level(logging.INFO):
        _, statuses = _upload(
            rig, contract, {"request_id": 7, "log_type": "diagnostics_log", "remote_location": url}
        )
    assert statuses == ["uploading", "uploaded"]
    assert server.auth[-1] == "Basic " + base64.b64encode(b"op@acme:s3cr:t").decode()
    assert server.bodies[-1][1].startswith("/upload/")
    assert "s3cr" not in caplog.text


def test_upload_to_an_ftp_directory_stores_the_window(
    rig: FunctionsRig, contract: Contract, tmp_path: Path
) -> None:
    root = tmp_path / "ftp"
    (root / "incoming").mkdir(parents=True)
    ftp = LocalFtpServer(root)
    try:
        data, statuses = _upload(
            rig,
            contract,
            {
                "request_id": 8,
                "log_type": "diagnostics_log",
                "remote_location": ftp.url("/incoming/"),
                "oldest_timestamp": _stamp(3.0),
            },
        )
    finally:
        ftp.close()
    assert statuses == ["uploading", "uploaded"]
    text = (root / "incoming" / data["filename"]).read_text()
    assert "inside the window, live file" in text and "too old" not in text


def test_unsupported_scheme_is_rejected(rig: FunctionsRig, contract: Contract) -> None:
    response = rig.request(
        "upload_logs",
        {"request_id": 6, "log_type": "diagnostics_log", "remote_location": "sftp://logs.example/"},
    )
    contract.validate(response)
    assert response["data"] == {"status": "rejected"}
    assert _statuses(rig, 6) == []


def test_cut_window_drops_records_after_the_latest_timestamp_with_their_continuations() -> None:
    lines = [
        f"{_stamp(3)} INFO a: before\n",
        f"{_stamp(2)} INFO a: inside\n",
        "  continuation of inside\n",
        f"{_stamp(1)} ERROR a: after\n",
        "Traceback of after\n",
    ]
    kept, timestamped = cut_window(lines, NOW - dt.timedelta(hours=2.5), NOW - dt.timedelta(hours=1.5))
    assert timestamped
    assert kept == [lines[1], lines[2]]
    foreign, timestamped = cut_window(["vendor format line\n"], None, None)
    assert not timestamped and foreign == []


def test_setup_logging_writes_utc_timestamped_records_and_a_separate_security_log(tmp_path: Path) -> None:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    files = setup_logging(tmp_path, level="DEBUG", stderr=stream, journald=False)
    try:
        logging.getLogger("josev_hal.test").info("hello key=value")
        logging.getLogger(SECURITY_LOGGER).warning("certificate rejected")
    finally:
        files.close()
        root.setLevel(level)
    assert files.diagnostics is not None and files.security is not None
    main_lines = files.diagnostics.read_text().splitlines()
    security_lines = files.security.read_text().splitlines()
    hello = next(line for line in main_lines if "hello key=value" in line)
    when = parse_record_time(hello)
    assert when is not None and abs((when - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert " INFO josev_hal.test: hello key=value" in hello
    assert any("certificate rejected" in line for line in security_lines)
    assert not any("hello" in line for line in security_lines)
    assert "hello key=value" in stream.getvalue()


def test_journald_format_prefixes_every_line_with_the_syslog_priority(tmp_path: Path) -> None:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    files = setup_logging(None, stderr=stream, journald=True)
    try:
        logging.getLogger("josev_hal.test").error("first\nsecond")
        logging.getLogger("josev_hal.test").info("fine")
    finally:
        files.close()
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert "<3>josev_hal.test: first" in lines and "<3>second" in lines
    assert "<6>josev_hal.test: fine" in lines


def test_log_files_rotate_by_size(tmp_path: Path) -> None:
    root = logging.getLogger()
    level = root.level
    files = setup_logging(tmp_path, max_bytes=4096, backup_count=2, stderr=None)
    try:
        for i in range(400):
            logging.getLogger("josev_hal.test").info("line %d %s", i, "x" * 40)
    finally:
        files.close()
        root.setLevel(level)
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["josev-hal.log", "josev-hal.log.1", "josev-hal.log.2", "security.log"]
