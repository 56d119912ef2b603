"""TLS and password authentication between the bridge and a real mosquitto."""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from josev_hal.bridge import Bridge
from josev_hal.embedded_broker import BrokerTls, EmbeddedBroker
from josev_hal.errors import BridgeError
from josev_hal.mqtt_settings import MqttSettings

BrokerFactory = Callable[..., EmbeddedBroker]


@dataclass
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path
    client_cert_file: Path
    client_key_file: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def make_pki(directory: Path, label: str, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Pki:
    """A CA and a server certificate for ``hosts`` signed by it (EC P-256, valid for a day)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label} test CA"))
        .issuer_name(_name(f"{label} test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("josev-hal station"))
        .issuer_name(ca_cert.subject)
        .public_key(client_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server.key",
        directory / "client.pem",
        directory / "client.key",
    )
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, pki.key_file)
    pki.client_cert_file.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(client_key, pki.client_key_file)
    return pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), "station")


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other-pki"), "rogue")


@pytest.fixture
def tls_broker(broker_factory: BrokerFactory, pki: Pki) -> EmbeddedBroker:
    return broker_factory(tls=BrokerTls(pki.cert_file, pki.key_file, pki.ca_file))


def _bridge(url: str, **settings: object) -> Bridge:
    return Bridge(
        MqttSettings(broker=url, reconnect_min_s=0.05, reconnect_max_s=0.2, **settings)  # type: ignore[arg-type]
    )


def test_bridge_connects_over_tls_verifying_the_broker_against_the_ca(
    tls_broker: EmbeddedBroker, pki: Pki
) -> None:
    bridge = _bridge(tls_broker.tls_url, ca_file=str(pki.ca_file))
    try:
        bridge.start(wait_s=10)
        assert bridge.connected
        assert bridge.address.tls
    finally:
        bridge.stop()


def test_bridge_refuses_a_broker_certificate_from_another_ca(
    tls_broker: EmbeddedBroker, other_pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = _bridge(tls_broker.tls_url, ca_file=str(other_pki.ca_file))
    try:
        with pytest.raises(
            BridgeError, match=r"TLS certificate of mqtts://127\.0\.0\.1:\d+ rejected"
        ) as info:
            bridge.start(wait_s=1.0)
        assert "mqtt.ca_file" in str(info.value)
        assert not bridge.connected
        assert bridge.stats().connect_failures >= 1
    finally:
        bridge.stop()


def test_bridge_refuses_a_certificate_issued_for_another_host(
    broker_factory: BrokerFactory, tmp_path: Path
) -> None:
    wrong_host = make_pki(tmp_path / "pki", "station", hosts=("broker.example.com",))
    tls_broker = broker_factory(tls=BrokerTls(wrong_host.cert_file, wrong_host.key_file, wrong_host.ca_file))
    bridge = _bridge(tls_broker.tls_url, ca_file=str(wrong_host.ca_file))
    try:
        with pytest.raises(BridgeError, match="rejected"):
            bridge.start(wait_s=1.0)
    finally:
        bridge.stop()


def test_plain_mqtt_url_to_a_tls_listener_fails_with_a_clear_error(tls_broker: EmbeddedBroker) -> None:
    assert tls_broker.tls_port is not None
    bridge = _bridge(f"mqtt://127.0.0.1:{tls_broker.tls_port}")
    try:
        with pytest.raises(BridgeError, match=r"mqtt://127\.0\.0\.1.*is this a TLS port"):
            bridge.start(wait_s=1.0)
    finally:
        bridge.stop()


def test_a_broker_that_once_answered_and_now_drops_connections_is_not_called_a_tls_mismatch(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    # A restarting broker accepts TCP and closes before CONNACK, just as a TLS listener does to a
    # plain client; after a successful CONNECT to the same address the TLS hint would mislead.
    bridge = _bridge(broker.url)
    listener: socket.socket | None = None
    stop = threading.Event()
    try:
        bridge.start(wait_s=10)
        broker.stop()
        listener = socket.create_server(("127.0.0.1", broker.port), reuse_port=False)
        listener.settimeout(0.05)

        def accept_and_close() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                conn.close()

        threading.Thread(target=accept_and_close, daemon=True).start()
        caplog.set_level(logging.ERROR, logger="josev_hal.bridge.connection")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            hits = [r.getMessage() for r in caplog.records if "before answering CONNECT" in r.getMessage()]
            if hits:
                break
            time.sleep(0.02)
        assert hits, "the dropped CONNECT was not reported"
        assert "restarting" in hits[0]
        assert "TLS" not in hits[0]
    finally:
        stop.set()
        bridge.stop()
        if listener is not None:
            listener.close()


def test_bridge_presents_its_client_certificate_to_a_broker_that_requires_one(
    broker_factory: BrokerFactory, pki: Pki, other_pki: Pki
) -> None:
    mtls = broker_factory(tls=BrokerTls(pki.cert_file, pki.key_file, pki.ca_file, require_client_cert=True))
    good = _bridge(
        mtls.tls_url,
        ca_file=str(pki.ca_file),
        cert_file=str(pki.client_cert_file),
        key_file=str(pki.client_key_file),
    )
    foreign = _bridge(
        mtls.tls_url,
        ca_file=str(pki.ca_file),
        cert_file=str(other_pki.client_cert_file),
        key_file=str(other_pki.client_key_file),
        client_id="foreign",
    )
    try:
        good.start(wait_s=10)
        assert good.connected
        with pytest.raises(BridgeError, match="client certificate signed by its CA"):
            foreign.start(wait_s=1.0)
        assert not foreign.connected
    finally:
        good.stop()
        foreign.stop()


def test_unreadable_tls_files_are_reported_when_the_bridge_is_built(tmp_path: Path) -> None:
    with pytest.raises(BridgeError, match="cannot load TLS files"):
        _bridge("mqtts://127.0.0.1:8883", ca_file=str(tmp_path / "missing-ca.pem"))
    with pytest.raises(BridgeError, match="cert_file and key_file must be given together"):
        _bridge("mqtts://127.0.0.1:8883", cert_file=str(tmp_path / "c.pem"))


@pytest.fixture
def auth_broker(broker_factory: BrokerFactory) -> EmbeddedBroker:
    return broker_factory(users={"station": "s3cret-pass"})


def test_bridge_logs_in_with_username_and_password_file(auth_broker: EmbeddedBroker, tmp_path: Path) -> None:
    password_file = tmp_path / "mqtt.pass"
    password_file.write_text("s3cret-pass\n")
    bridge = _bridge(auth_broker.url, username="station", password_file=str(password_file))
    try:
        bridge.start(wait_s=10)
        assert bridge.connected
    finally:
        bridge.stop()


def test_wrong_credentials_give_a_clear_error_and_retries_with_backoff(
    auth_broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = _bridge(auth_broker.url, username="station", password="wrong")
    try:
        with pytest.raises(BridgeError, match="refused the connection: Not authorized") as info:
            bridge.start(wait_s=1.5)
        assert "check mqtt.username and mqtt.password_file" in str(info.value)
        # It keeps trying (the password may be fixed on the broker side), with growing delays.
        deadline = time.monotonic() + 5
        while bridge.stats().connect_failures < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bridge.stats().connect_failures >= 4
        attempts = [r.created for r in caplog.records if "refused the connection" in r.getMessage()]
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert len(gaps) >= 3
        # Never a hot loop: every retry waits at least half of reconnect_min_s (the jitter floor);
        # the growth of the delays is proven deterministically in test_bridge_config.py.
        assert min(gaps) >= 0.05 / 2, f"retried without backoff: {gaps}"
        assert not bridge.connected
    finally:
        bridge.stop()


def test_anonymous_bridge_is_refused_by_a_broker_with_a_password_file(auth_broker: EmbeddedBroker) -> None:
    bridge = _bridge(auth_broker.url)
    try:
        with pytest.raises(BridgeError, match="refused"):
            bridge.start(wait_s=1.0)
    finally:
        bridge.stop()
