"""update_firmware end to end: Josev's request over mosquitto, the image from a local HTTP server,
the firmware_status sequence as Josev receives it, and what ends up installed."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.functions.config import FirmwareSettings
from josev_hal.messages import utc_timestamp
from tests.support.contract import Contract
from tests.support.ftp_server import LocalFtpServer
from tests.support.functions_rig import FunctionsRig, wait_until

IMAGE = bytes(range(256)) * 4096  # 1 MiB
FINAL = {
    "installed",
    "install_rebooting",
    "download_failed",
    "installation_failed",
    "install_verification_failed",
    "invalid_signature",
}


class FirmwareServer:
    """Serves ``files``; ``/missing`` is a 404, ``/stall`` sends part of the body and hangs."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.hits: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                if self.path == "/redirect-ftp":
                    self.send_response(302)
                    self.send_header("Location", "ftp://attacker.example/fw.bin")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/no-length":
                    # HTTP/1.0 style: no Content-Length, the body ends when the connection closes.
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(IMAGE)
                    self.close_connection = True
                    return
                if self.path == "/stall":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(IMAGE)))
                    self.end_headers()
                    self.wfile.write(IMAGE[:1000])
                    self.wfile.flush()
                    server.release.wait(10)
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _signer(kind: str) -> tuple[Any, str]:
    """A key and a self-signed PEM certificate valid now."""
    key: Any = (
        ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" else rsa.generate_private_key(65537, 2048)
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Acme Firmware Signing")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def _sign(key: Any, data: bytes) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


@pytest.fixture
def server() -> Iterator[FirmwareServer]:
    instance = FirmwareServer({"/fw-1.2.swu": IMAGE})
    yield instance
    instance.close()


@pytest.fixture
def rig(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[FunctionsRig]:
    (tmp_path / "state").mkdir()
    settings = FirmwareSettings(timeout_s=0.3, default_retries=0, default_retry_interval_s=0.05)
    instance = FunctionsRig(broker, tmp_path / "state", firmware=settings)
    yield instance
    instance.close()


def _statuses(rig: FunctionsRig, request_id: int) -> list[str]:
    return [
        m["data"]["status"] for m in rig.updates("firmware_status") if m["data"]["request_id"] == request_id
    ]


def _run(
    rig: FunctionsRig, data: dict[str, Any], contract: Contract, timeout: float = 10.0
) -> tuple[str, list[str]]:
    data = {"retrieve_datetime": utc_timestamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)), **data}
    response = rig.request("update_firmware", data)
    contract.validate(response)
    status = response["data"]["status"]
    if status != "accepted":
        return status, []
    statuses = wait_until(lambda: (s := _statuses(rig, data["request_id"])) and s[-1] in FINAL and s, timeout)
    for message in rig.updates("firmware_status"):
        contract.validate(message)
    return status, statuses


def _installed(rig: FunctionsRig) -> list[str]:
    directory = rig.state_dir / "firmware"
    return sorted(p.name for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def _leftovers(rig: FunctionsRig) -> list[str]:
    directory = rig.state_dir / "firmware" / "download"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_signed_update_publishes_the_full_sequence_in_order_and_installs(
    rig: FunctionsRig, server: FirmwareServer, contract: Contract, kind: str
) -> None:
    key, cert = _signer(kind)
    status, statuses = _run(
        rig,
        {
            "request_id": 11,
            "location": server.url("/fw-1.2.swu") + "#sha256=" + hashlib.sha256(IMAGE).hexdigest(),
            "signing_certificate": cert,
            "signature": _sign(key, IMAGE),
        },
        contract,
    )
    assert status == "accepted"
    assert statuses == ["downloading", "downloaded", "signature_verified", "installing", "installed"]
    assert _installed(rig) == ["11-fw-1.2.swu"]
    assert (rig.state_dir / "firmware" / "11-fw-1.2.swu").read_bytes() == IMAGE
    assert _leftovers(rig) == []


def test_scheduled_download_and_install_report_their_waiting_states(
    rig: FunctionsRig, server: FirmwareServer, contract: Contract
) -> None:
    now = dt.datetime.now(dt.UTC)
    status, statuses = _run(
        rig,
        {
            "request_id": 12,
            "location": server.url("/fw-1.2.swu"),
            "retrieve_datetime": utc_timestamp(now + dt.timedelta(seconds=0.4)),
            "install_datetime": utc_timestamp(now + dt.timedelta(seconds=0.8)),
        },
        contract,
    )
    assert status == "accepted"
    assert statuses == [
        "download_scheduled",
        "downloading",
        "downloaded",
        "install_scheduled",
        "installing",
        "installed",
    ]


def test_installation_waits_for_the_running_transaction_to_end(
    rig: FunctionsRig, server: FirmwareServer, contract: Contract
) -> None:
    rig.start_transaction()
    response = rig.request(
        "update_firmware",
        {
            "request_id": 13,
            "location": server.url("/fw-1.2.swu"),
            "retrieve_datetime": "2020-01-01T00:00:00Z",
        },
    )
    assert response["data"]["status"] == "accepted"
    wait_until(lambda: _statuses(rig, 13) == ["downloading", "downloaded"])
    # While the session runs nothing is installed, and no new session may start anywhere.
    wait_until(lambda: not rig.controller("DE*JHL*E0002").available)
    assert rig.controller().available  # the running session is not cut
    assert _statuses(rig, 13) == ["downloading", "downloaded"]
    rig.end_transaction()
    wait_until(lambda: _statuses(rig, 13)[-1:] == ["installed"])
    wait_until(lambda: rig.controller().available and rig.controller("DE*JHL*E0002").available)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong_checksum", "install_verification_failed"),
        ("bad_signature", "invalid_signature"),
        ("not_found", "download_failed"),
        ("stalled", "download_failed"),
        ("too_big", "download_failed"),
        ("too_big_without_length", "download_failed"),
        ("redirect_to_ftp", "download_failed"),
    ],
)
def test_failures_publish_the_right_status_and_install_nothing(
    rig: FunctionsRig, server: FirmwareServer, contract: Contract, case: str, expected: str
) -> None:
    key, cert = _signer("ecdsa")
    data: dict[str, Any] = {"request_id": 20, "location": server.url("/fw-1.2.swu")}
    if case == "wrong_checksum":
        data["location"] += "#sha256=" + hashlib.sha256(b"other image").hexdigest()
    elif case == "bad_signature":
        data |= {"signing_certificate": cert, "signature": _sign(key, IMAGE[:-1] + b"\x00")}
    elif case == "not_found":
        data["location"] = server.url("/missing")
    elif case == "stalled":
        data["location"] = server.url("/stall")
    elif case in ("too_big", "too_big_without_length"):
        rig.functions.firmware.settings = FirmwareSettings(
            max_size_bytes=1024, timeout_s=0.3, default_retries=0
        )
        if case == "too_big_without_length":
            data["location"] = server.url("/no-length")
    elif case == "redirect_to_ftp":
        data["location"] = server.url("/redirect-ftp")
    status, statuses = _run(rig, data, contract)
    assert status == "accepted"
    assert statuses[0] == "downloading"
    assert statuses[-1] == expected
    assert "installing" not in statuses and "installed" not in statuses
    assert _installed(rig) == []
    assert _leftovers(rig) == []


def test_download_is_retried_as_the_request_says(
    rig: FunctionsRig, server: FirmwareServer, contract: Contract
) -> None:
    _, statuses = _run(
        rig,
        {"request_id": 30, "location": server.url("/missing"), "retries": 2, "retry_interval": 0},
        contract,
    )
    assert statuses == ["downloading", "download_failed"]
    assert server.hits.count("/missing") == 3


def test_a_new_request_cancels_a_waiting_update(
    rig: FunctionsRig, server: FirmwareServer, contract: Contract
) -> None:
    later = utc_timestamp(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    first = rig.request(
        "update_firmware",
        {"request_id": 40, "location": server.url("/fw-1.2.swu"), "retrieve_datetime": later},
    )
    assert first["data"]["status"] == "accepted"
    wait_until(lambda: _statuses(rig, 40) == ["download_scheduled"])
    status, _ = _run(rig, {"request_id": 41, "location": server.url("/fw-1.2.swu")}, contract)
    assert status == "accepted_canceled"
    wait_until(lambda: _statuses(rig, 41)[-1:] == ["installed"])
    assert _statuses(rig, 40) == ["download_scheduled"]  # the cancelled job says nothing more


def test_firmware_from_an_ftp_server_with_credentials_is_installed(
    rig: FunctionsRig, contract: Contract, tmp_path: Path
) -> None:
    root = tmp_path / "ftp"
    (root / "images").mkdir(parents=True)
    (root / "images" / "fw-2.0.raucb").write_bytes(IMAGE)
    ftp = LocalFtpServer(root)
    try:
        location = ftp.url("/images/fw-2.0.raucb") + "#sha256=" + hashlib.sha256(IMAGE).hexdigest()
        status, statuses = _run(rig, {"request_id": 60, "location": location}, contract)
    finally:
        ftp.close()
    assert status == "accepted"
    assert statuses == ["downloading", "downloaded", "installing", "installed"]
    assert (rig.state_dir / "firmware" / "60-fw-2.0.raucb").read_bytes() == IMAGE


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"signature": "AAAA"}, "rejected"),  # signature without a certificate
        (
            {
                "signing_certificate": "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----",
                "signature": "AA==",
            },
            "invalid_certificate",
        ),
        ({"location": "sftp://fw.example/fw.bin"}, "rejected"),
        ({"location": "ftps://fw.example/fw.bin"}, "rejected"),
        ({"location": "http://127.0.0.1:1/fw.bin#sha256=abc"}, "rejected"),  # malformed checksum
    ],
)
def test_bad_requests_are_answered_without_starting_a_job(
    rig: FunctionsRig, contract: Contract, data: dict[str, Any], expected: str
) -> None:
    base = {
        "request_id": 50,
        "location": "http://127.0.0.1:1/fw.bin",
        "retrieve_datetime": "2020-01-01T00:00:00Z",
    }
    response = rig.request("update_firmware", base | data)
    contract.validate(response)
    assert response["data"]["status"] == expected
    assert rig.functions.firmware.job is None
