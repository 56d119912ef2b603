"""Authorization from the RFID reader, the connector lock, and the key store -- each through the
bridge on a real broker with the sim board's reader, lock and contactor."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from josev_hal_sim import EvRequest

from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.functions.keystore import CsrSubject, FileKeyStore, KeyStoreError, check_request
from josev_hal.hookspecs import hookimpl
from tests.support.contract import Contract
from tests.support.functions_rig import AC, DC, FunctionsRig, wait_until


class LocalCards:
    """A vendor plugin: a master card is accepted and a blocked card refused without asking Josev."""

    @hookimpl
    def hal_authorize_local_token(self, id_token: str, token_type: str, evse_id: str | None) -> bool | None:
        return {"a1b2c3d4": True, "deadbeef": False}.get(id_token)


@pytest.fixture
def rig(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[FunctionsRig]:
    (tmp_path / "state").mkdir()
    instance = FunctionsRig(broker, tmp_path / "state", extra_plugins=(LocalCards(),))
    instance.functions.authorizer.poll_interval_s = 0.05
    yield instance
    instance.close()


def _answer_authorization(rig: FunctionsRig, status: str, contract: Contract) -> dict[str, Any]:
    """Play Josev: wait for the CS's authorization request and answer it."""
    msgs = rig.peer.wait_for(
        lambda ms: any(m["name"] == "authorization" and m["type"] == "request" for m in ms)
    )
    request = next(m for m in msgs if m["name"] == "authorization" and m["type"] == "request")
    contract.validate(request)
    rig.peer.send(
        {"id": request["id"], "name": "authorization", "type": "response", "data": {"status": status}}
    )
    return request


def _authorized(rig: FunctionsRig, evse_id: str = AC) -> bool:
    return rig.controller(evse_id).authorized


@pytest.mark.parametrize("answer", ["accepted", "rejected"])
def test_a_card_on_the_reader_is_authorized_by_josev_and_the_answer_gates_the_session(
    rig: FunctionsRig, contract: Contract, answer: str
) -> None:
    rig.world(AC).plug()
    rig.world(AC).present_token("04a1b2c3")
    request = _answer_authorization(rig, answer, contract)
    assert request["data"] == {"evse_id": AC, "id_token": "04a1b2c3", "token_type": "ISO14443"}
    wait_until(lambda: rig.functions.authorizer.decisions)
    assert rig.functions.authorizer.decisions[-1] == (AC, "04a1b2c3", answer)
    assert _authorized(rig) is (answer == "accepted")


def test_no_answer_from_josev_never_authorizes(rig: FunctionsRig) -> None:
    rig.functions.authorizer.request_timeout_s = 0.3
    rig.world(AC).present_token("0badc0de")
    wait_until(lambda: rig.functions.authorizer.decisions)
    assert rig.functions.authorizer.decisions[-1] == (AC, "0badc0de", "rejected")
    assert not _authorized(rig)


@pytest.mark.parametrize(("token", "expected"), [("a1b2c3d4", True), ("deadbeef", False)])
def test_the_local_token_hook_decides_without_asking_josev(
    rig: FunctionsRig, token: str, expected: bool
) -> None:
    rig.world(AC).present_token(token)
    wait_until(lambda: rig.functions.authorizer.decisions)
    assert _authorized(rig) is expected
    assert not [m for m in rig.peer.messages() if m["name"] == "authorization"]


def test_an_authorization_update_from_josev_gates_the_evse(rig: FunctionsRig) -> None:
    rig.send_update("authorization", {"evse_id": AC, "token_type": "central", "status": "accepted"})
    wait_until(lambda: _authorized(rig))
    rig.send_update("authorization", {"evse_id": AC, "token_type": "central", "status": "deauthorized"})
    wait_until(lambda: not _authorized(rig))


def _connector(rig: FunctionsRig, contract: Contract, action: str, evse_id: str = AC) -> dict[str, Any]:
    response = rig.request("cs_connector", {"evse_id": evse_id, "connector_id": 1, "action": action})
    contract.validate(response)
    data: dict[str, Any] = response["data"]
    return data


def test_connector_lock_and_unlock_follow_the_lock_feedback(rig: FunctionsRig, contract: Contract) -> None:
    assert _connector(rig, contract, "lock") == {"evse_id": AC, "connector_id": 1, "status": "locked"}
    assert rig.world(AC).lock_state() == (True, True)
    assert _connector(rig, contract, "status")["status"] == "locked"
    assert _connector(rig, contract, "unlock")["status"] == "unlocked"
    assert rig.world(AC).lock_state() == (False, False)
    assert _connector(rig, contract, "status", DC)["status"] == "unknown"  # fixed cable, no lock


def test_unlock_is_refused_while_the_contactor_is_closed(rig: FunctionsRig, contract: Contract) -> None:
    assert _connector(rig, contract, "lock")["status"] == "locked"
    world = rig.world(AC)
    world.plug()
    rig.send_update("authorization", {"evse_id": AC, "token_type": "central", "status": "accepted"})
    world.set_request(EvRequest.CHARGE)
    wait_until(lambda: rig.controller(AC).contactor_closed and world.relay_state() == (True, True))
    refused = _connector(rig, contract, "unlock")
    assert refused["status"] == "locked"
    assert "contactor closed" in refused["info"]
    assert world.lock_state() == (True, True)  # the lock was never commanded open
    world.set_request(EvRequest.IDLE)
    wait_until(lambda: world.relay_state() == (False, False))
    assert _connector(rig, contract, "unlock")["status"] == "unlocked"


# ------------------------------------------------------------------------------------------------
# keys
# ------------------------------------------------------------------------------------------------

CSR_CASES = [
    ("charging_station_certificate", None, ec.SECP256R1, hashes.SHA256),
    ("charging_station_certificate", "RSA_SHA256", 2048, hashes.SHA256),
    ("charging_station_certificate", "RSA_SHA384", 3072, hashes.SHA384),
    ("v2g_certificate", "ECDSA_SHA256", ec.SECP256R1, hashes.SHA256),
    ("v2g20_certificate", "ECDSA_SHA512", ec.SECP521R1, hashes.SHA512),
]


@pytest.mark.parametrize(("certificate_type", "algorithm", "key", "digest"), CSR_CASES)
def test_generate_csr_returns_a_signed_pem_csr_with_the_requested_subject_and_key(
    rig: FunctionsRig, contract: Contract, certificate_type: str, algorithm: str | None, key: Any, digest: Any
) -> None:
    data = {
        "certificate_type": certificate_type,
        "common_name": "SIM-0001",
        "organization_name": "Acme Charging",
        "country_name": "DE",
    }
    if algorithm:
        data["algorithm"] = algorithm
    response = rig.request("generate_csr", data)
    contract.validate(response)
    assert response["data"]["status"] == "accepted"
    csr = x509.load_pem_x509_csr(response["data"]["csr"].encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "SIM-0001"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Charging"
    assert csr.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    assert isinstance(csr.signature_hash_algorithm, digest)
    public = csr.public_key()
    if isinstance(key, int):
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == key
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, key)
    # The private key that matches the CSR is stored, readable by the owner only.
    key_path = rig.state_dir / "keys" / f"{certificate_type}.pending.key.pem"
    stored = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert stored.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600


def test_private_key_path_follows_the_certificate_installation(rig: FunctionsRig, contract: Contract) -> None:
    def key_path() -> dict[str, Any]:
        response = rig.request("private_key_path", {"certificate_type": "v2g_certificate"})
        contract.validate(response)
        data: dict[str, Any] = response["data"]
        return data

    assert key_path() == {"status": "failed_not_found"}
    subject = {"common_name": "SIM-0001", "organization_name": "Acme", "country_name": "DE"}
    rig.request("generate_csr", {"certificate_type": "v2g_certificate", **subject})
    pending = rig.state_dir / "keys" / "v2g_certificate.pending.key.pem"
    assert key_path() == {"status": "accepted", "private_key_path": str(pending)}
    rig.send_update(
        "certificate_installation_status", {"certificate_type": "v2g_certificate", "status": "installed"}
    )
    active = rig.state_dir / "keys" / "v2g_certificate.key.pem"
    wait_until(lambda: active.exists())
    assert key_path() == {"status": "accepted", "private_key_path": str(active)}
    # A new CSR whose certificate fails to install does not touch the working key.
    first_key = active.read_bytes()
    rig.request("generate_csr", {"certificate_type": "v2g_certificate", **subject})
    rig.send_update(
        "certificate_installation_status",
        {"certificate_type": "v2g_certificate", "status": "failed_installation"},
    )
    wait_until(lambda: not pending.exists())
    assert active.read_bytes() == first_key
    assert key_path() == {"status": "accepted", "private_key_path": str(active)}


@pytest.mark.parametrize(
    ("certificate_type", "algorithm", "country", "reason"),
    [
        ("v2g_certificate", "RSA_SHA256", "DE", "ECDSA"),
        ("v2g20_certificate", "ECDSA_SHA256", "DE", "ECDSA_SHA512"),
        ("charging_station_certificate", None, "Germany", "2-letter"),
        ("tpm_certificate", None, "DE", "certificate_type"),
    ],
)
def test_csr_requests_that_cannot_be_honoured_are_refused_with_a_reason(
    certificate_type: str, algorithm: str | None, country: str, reason: str
) -> None:
    with pytest.raises(KeyStoreError, match=reason):
        check_request(certificate_type, CsrSubject("SIM-0001", "Acme", country), algorithm)


class FakeTpmStore:
    """A key store a TPM plugin would return: it owns keys by handle, not by file."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def generate_csr(self, certificate_type: str, **subject: Any) -> str:
        self.calls.append(certificate_type)
        raise KeyStoreError("the TPM refuses in this test")

    def private_key_path(self, certificate_type: str) -> Path | None:
        return Path(f"/tpm/handle/0x81000001/{certificate_type}")


class TpmPlugin:
    def __init__(self, store: FakeTpmStore) -> None:
        self.store = store

    @hookimpl
    def hal_key_store(self, state_dir: Path, profile: Any) -> Any:
        return self.store


def test_a_key_store_plugin_replaces_the_file_store(
    broker: EmbeddedBroker, tmp_path: Path, contract: Contract
) -> None:
    (tmp_path / "state").mkdir()
    rig = FunctionsRig(broker, tmp_path / "state", extra_plugins=(TpmPlugin(FakeTpmStore()),))
    try:
        response = rig.request("private_key_path", {"certificate_type": "charging_station_certificate"})
        contract.validate(response)
        assert response["data"] == {
            "status": "accepted",
            "private_key_path": "/tpm/handle/0x81000001/charging_station_certificate",
        }
        refused = rig.request(
            "generate_csr",
            {
                "certificate_type": "charging_station_certificate",
                "common_name": "SIM-0001",
                "organization_name": "Acme",
                "country_name": "DE",
            },
        )
        contract.validate(refused)
        assert refused["data"] == {"status": "rejected", "csr": ""}
        assert not (tmp_path / "state" / "keys").exists()
    finally:
        rig.close()


def test_concurrent_csr_requests_each_get_a_valid_csr(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    results: list[str] = []

    def one() -> None:
        results.append(
            store.generate_csr(
                "charging_station_certificate", common_name="X", organization_name="O", country_name="DE"
            )
        )

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert all(x509.load_pem_x509_csr(r.encode()).is_signature_valid for r in results)
