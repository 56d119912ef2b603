"""The sample broker configuration in ``packaging/`` really enforces what the README promises:
TLS only, passwords, and a topic ACL where the CS may write only ``cs/josev`` and Josev only
``josev/cs``. The file is used as shipped; only paths and the port are substituted."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import ssl
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from josev_hal.embedded_broker import find_mosquitto, free_port

REPO = Path(__file__).resolve().parents[1]
PASSWORDS = {"josev-hal": "hal-secret", "josev": "josev-secret"}


def _cert(subject: str, issuer_key: Any, issuer: x509.Name | None, key: Any, ca: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_pki(d: Path) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("station CA", ca_key, None, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("broker", ca_key, ca.subject, key, False)
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "broker.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "broker.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


@pytest.fixture
def station_broker(tmp_path: Path) -> Any:
    mosquitto = find_mosquitto()
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if mosquitto is None or not Path(passwd).exists():
        pytest.skip("mosquitto and mosquitto_passwd are needed to run the sample configuration")
    _write_pki(tmp_path)
    pwfile = tmp_path / "josev.passwd"
    for i, (user, pw) in enumerate(PASSWORDS.items()):
        subprocess.run([passwd, *(["-c"] if i == 0 else []), "-b", str(pwfile), user, pw], check=True)
    pwfile.chmod(0o600)
    acl = tmp_path / "josev.acl"
    shutil.copy(REPO / "packaging" / "mosquitto-josev.acl", acl)
    acl.chmod(0o600)
    port = free_port()
    substitutions = {
        "listener": f"listener {port} 127.0.0.1",
        "cafile": f"cafile {tmp_path / 'ca.pem'}",
        "certfile": f"certfile {tmp_path / 'broker.pem'}",
        "keyfile": f"keyfile {tmp_path / 'broker.key'}",
        "password_file": f"password_file {pwfile}",
        "acl_file": f"acl_file {acl}",
        "persistence_location": f"persistence_location {tmp_path}/",
    }
    lines = []
    for line in (REPO / "packaging" / "mosquitto-josev.conf").read_text().splitlines():
        key = line.split(" ", 1)[0]
        lines.append(substitutions.get(key, line))
    # The one addition: run as the test's user (as root, mosquitto would switch to "mosquitto",
    # which cannot read the test's private files).
    lines.insert(0, f"user {pwd.getpwuid(os.geteuid()).pw_name}")
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            import socket

            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"mosquitto refused the sample configuration:\n{out}")
            time.sleep(0.05)
    yield port, tmp_path / "ca.pem"
    proc.terminate()
    proc.wait(timeout=5)


class _Client:
    def __init__(self, port: int, ca: Path, user: str, password: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.reason: Any = None
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
        self.c.username_pw_set(user, password)
        self.c.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload)))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.connected.wait(5)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.reason = reason
        self.connected.set()

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_sample_broker_config_lets_each_side_write_only_its_own_topic(station_broker: Any) -> None:
    port, ca = station_broker
    hal = _Client(port, ca, "josev-hal", PASSWORDS["josev-hal"])
    josev = _Client(port, ca, "josev", PASSWORDS["josev"])
    try:
        assert not hal.reason.is_failure and not josev.reason.is_failure
        hal.c.subscribe("#", qos=1)
        josev.c.subscribe("#", qos=1)
        time.sleep(0.3)
        hal.c.publish("cs/josev", b"from-cs-ok", qos=1).wait_for_publish(5)
        hal.c.publish("josev/cs", b"from-cs-forbidden", qos=1).wait_for_publish(5)
        josev.c.publish("josev/cs", b"from-josev-ok", qos=1).wait_for_publish(5)
        josev.c.publish("cs/josev", b"from-josev-forbidden", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not (
            ("cs/josev", b"from-cs-ok") in josev.received and ("josev/cs", b"from-josev-ok") in hal.received
        ):
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        hal.close()
        josev.close()
    assert ("cs/josev", b"from-cs-ok") in josev.received
    assert ("josev/cs", b"from-josev-ok") in hal.received
    everything = [payload for _t, payload in hal.received + josev.received]
    assert b"from-cs-forbidden" not in everything
    assert b"from-josev-forbidden" not in everything


def test_sample_broker_config_refuses_a_wrong_password(station_broker: Any) -> None:
    port, ca = station_broker
    intruder = _Client(port, ca, "josev-hal", "wrong")
    try:
        assert intruder.reason is not None and intruder.reason.is_failure
    finally:
        intruder.close()
