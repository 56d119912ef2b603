"""Key store for the station's own certificates: ``generate_csr`` and ``private_key_path``.

Josev (OCPP) asks the station to create a key pair and return a PEM PKCS#10 CSR
(``generate_csr``); the CSMS signs it, Josev installs the certificate and announces the result
(``certificate_installation_status``), and later asks where the private key lives
(``private_key_path``) so its TLS stack can use it.

:class:`FileKeyStore` (the default) keeps keys as PEM files (mode 0600) under
``<state_dir>/keys``. A freshly generated key is *pending* until its certificate is reported
installed; only then does it replace the active key, so a CSR that never comes back cannot
destroy a working identity. A TPM or HSM is plugged in by returning another
:class:`josev_hal.hookspecs.KeyStore` from the ``hal_key_store`` hook; a store that also has
``certificate_status(certificate_type, status, private_key_path)`` is told about installations.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from josev_hal.errors import HalError
from josev_hal.logging_setup import SECURITY_LOGGER
from josev_hal.messages import Message
from josev_hal.messages import payloads as p

# cryptography (~20 ms to import) is imported where a key or CSR is made, not at start-up: the
# daemon imports this module for its handlers, most stations never make a key after commissioning.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    Digest = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

__all__ = [
    "ALGORITHMS",
    "CsrSubject",
    "FileKeyStore",
    "KeyService",
    "KeyStoreError",
    "default_algorithm",
]

log = logging.getLogger(__name__)
security_log = logging.getLogger(SECURITY_LOGGER)

# Certificate types as the Josev API names them.
CHARGING_STATION = "charging_station_certificate"
V2G = "v2g_certificate"
V2G20 = "v2g20_certificate"
CERTIFICATE_TYPES = (CHARGING_STATION, V2G, V2G20)
#: The station's document-signing key (commissioning reports), next to the certificate keys.
SIGNING_KEY_FILE = "station-signing.ed25519.key.pem"


class KeyStoreError(HalError):
    """A key or CSR could not be produced (bad subject, algorithm not allowed, storage failed)."""


class _Algorithm(msgspec.Struct, frozen=True):
    kind: str  # "ec" | "rsa"
    curve_name: str | None  # a class name in cryptography's ``ec`` module
    rsa_bits: int
    digest_name: str  # a class name in cryptography's ``hashes`` module

    def curve(self) -> ec.EllipticCurve:
        from cryptography.hazmat.primitives.asymmetric import ec

        assert self.curve_name is not None
        curve: ec.EllipticCurve = getattr(ec, self.curve_name)()
        return curve

    def digest(self) -> Digest:
        from cryptography.hazmat.primitives import hashes

        digest: Digest = getattr(hashes, self.digest_name)()
        return digest


# The generate_csr ``algorithm`` values. ECDSA_SHA512 uses P-521, the curve ISO 15118-20 pairs with
# SHA-512; RSA sizes follow the OCPP security whitepaper minimum (2048) and NIST pairing for 384.
ALGORITHMS: dict[str, _Algorithm] = {
    "ECDSA_SHA256": _Algorithm("ec", "SECP256R1", 0, "SHA256"),
    "ECDSA_SHA512": _Algorithm("ec", "SECP521R1", 0, "SHA512"),
    "RSA_SHA256": _Algorithm("rsa", None, 2048, "SHA256"),
    "RSA_SHA384": _Algorithm("rsa", None, 3072, "SHA384"),
}


def default_algorithm(certificate_type: str) -> str:
    """The algorithm used when the request names none: ISO 15118-20 needs P-521/SHA-512,
    ISO 15118-2 and the OCPP station certificate get P-256/SHA-256."""
    return "ECDSA_SHA512" if certificate_type == V2G20 else "ECDSA_SHA256"


class CsrSubject(msgspec.Struct, frozen=True):
    """Subject of the CSR as the request gives it."""

    common_name: str
    organization_name: str
    country_name: str


def check_request(certificate_type: str, subject: CsrSubject, algorithm: str | None) -> str:
    """Validate a CSR request; returns the algorithm to use or raises :class:`KeyStoreError`."""
    if certificate_type not in CERTIFICATE_TYPES:
        raise KeyStoreError(f"certificate_type {certificate_type!r} is not one of {CERTIFICATE_TYPES}")
    chosen = algorithm or default_algorithm(certificate_type)
    if chosen not in ALGORITHMS:
        raise KeyStoreError(f"algorithm {chosen!r} is not one of {sorted(ALGORITHMS)}")
    if certificate_type in (V2G, V2G20) and ALGORITHMS[chosen].kind != "ec":
        # ISO 15118 SECC certificates are ECDSA only; an RSA key would be useless for the V2G TLS.
        raise KeyStoreError(f"{certificate_type} needs an ECDSA key, not {chosen}")
    if certificate_type == V2G20 and chosen != "ECDSA_SHA512":
        raise KeyStoreError("v2g20_certificate needs algorithm ECDSA_SHA512")
    if len(subject.country_name) != 2 or not subject.country_name.isalpha():
        raise KeyStoreError(f"country_name {subject.country_name!r} is not a 2-letter country code")
    if not subject.common_name:
        raise KeyStoreError("common_name is empty")
    return chosen


def _new_key(algorithm: _Algorithm) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if algorithm.kind == "ec":
        return ec.generate_private_key(algorithm.curve())
    return rsa.generate_private_key(public_exponent=65537, key_size=algorithm.rsa_bits)


def build_csr(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, subject: CsrSubject, digest: Digest
) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    """PEM PKCS#10 CSR for ``subject`` signed with ``key``."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, subject.common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject.organization_name),
            x509.NameAttribute(NameOID.COUNTRY_NAME, subject.country_name.upper()),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, digest)
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret atomically with mode 0600 (never world-readable, not even briefly)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class FileKeyStore:
    """Keys as PEM files under ``directory`` (created with mode 0700)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def _active(self, certificate_type: str) -> Path:
        return self.directory / f"{certificate_type}.key.pem"

    def _pending(self, certificate_type: str) -> Path:
        return self.directory / f"{certificate_type}.pending.key.pem"

    def generate_csr(
        self,
        certificate_type: str,
        *,
        common_name: str,
        organization_name: str,
        country_name: str,
        algorithm: str | None = None,
    ) -> str:
        """New pending key pair for ``certificate_type``; returns the PEM CSR (KeyStoreError to reject)."""
        subject = CsrSubject(common_name, organization_name, country_name)
        chosen = check_request(certificate_type, subject, algorithm)
        spec = ALGORITHMS[chosen]
        key = _new_key(spec)
        try:
            csr = build_csr(key, subject, spec.digest())
        except ValueError as exc:  # cryptography refuses e.g. an over-long CN
            raise KeyStoreError(f"CSR subject rejected: {exc}") from exc
        from cryptography.hazmat.primitives import serialization

        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with self._lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                _write_private(self._pending(certificate_type), pem)
            except OSError as exc:
                raise KeyStoreError(f"cannot store key in {self.directory}: {exc}") from exc
        security_log.info(
            "key generated certificate_type=%s algorithm=%s cn=%s pending=%s",
            certificate_type,
            chosen,
            subject.common_name,
            self._pending(certificate_type),
        )
        return csr

    def private_key_path(self, certificate_type: str) -> Path | None:
        """The active key, or the pending one while no certificate was ever installed."""
        # The active key belongs to the installed certificate. A pending key is offered only when
        # no certificate was ever installed, because Josev may ask before it announces the install.
        with self._lock:
            for path in (self._active(certificate_type), self._pending(certificate_type)):
                if path.is_file():
                    return path
        return None

    def signing_key(self) -> ed25519.Ed25519PrivateKey:
        """The station's own Ed25519 key for documents it signs (commissioning reports), created
        on first use. Separate from the certificate keys: a CSMS-driven key rotation must not
        invalidate the signatures of reports made before it."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        path = self.directory / SIGNING_KEY_FILE
        with self._lock:
            try:
                loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except FileNotFoundError:
                key = ed25519.Ed25519PrivateKey.generate()
                pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                try:
                    self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                    _write_private(path, pem)
                except OSError as exc:
                    raise KeyStoreError(f"cannot store the signing key in {self.directory}: {exc}") from exc
                security_log.info("station signing key generated path=%s", path)
                return key
            except (OSError, ValueError) as exc:
                raise KeyStoreError(f"{path}: unreadable signing key: {exc}") from exc
        if not isinstance(loaded, ed25519.Ed25519PrivateKey):
            raise KeyStoreError(f"{path}: not an Ed25519 key")
        return loaded

    def certificate_status(self, certificate_type: str, status: str, private_key_path: str | None) -> None:
        """Josev's ``certificate_installation_status``: activate, discard or delete keys.

        Optional for key stores (the functions call it when the store has it)."""
        active, pending = self._active(certificate_type), self._pending(certificate_type)
        with self._lock:
            if status == "installed":
                if pending.is_file():
                    os.replace(pending, active)
                    security_log.info(
                        "certificate installed, key activated certificate_type=%s", certificate_type
                    )
            elif status == "failed_installation":
                if pending.is_file():
                    pending.unlink()
                    security_log.warning(
                        "certificate installation failed, pending key discarded certificate_type=%s",
                        certificate_type,
                    )
            elif status == "deleted":
                for path in (active, pending):
                    if path.is_file():
                        path.unlink()
                security_log.info("certificate deleted, keys removed certificate_type=%s", certificate_type)
            else:
                log.warning("unknown certificate status %r for %s ignored", status, certificate_type)


class KeyService:
    """``generate_csr`` / ``private_key_path`` handlers over a key store (file, TPM, ...)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def handle_generate_csr(self, message: Message) -> p.GenerateCsrResponse:
        req: p.GenerateCsrRequest = message.data
        algorithm = None if isinstance(req.algorithm, msgspec.UnsetType) else str(req.algorithm)
        try:
            csr = self.store.generate_csr(
                str(req.certificate_type),
                common_name=req.common_name,
                organization_name=req.organization_name,
                country_name=req.country_name,
                algorithm=algorithm,
            )
        except (HalError, ValueError) as exc:
            security_log.warning("generate_csr rejected certificate_type=%s: %s", req.certificate_type, exc)
            # Josev's response model needs ``csr`` even on rejection (MESSAGES.md, generate_csr).
            return p.GenerateCsrResponse(status=p.AcceptedRejected.REJECTED, csr="")
        return p.GenerateCsrResponse(status=p.AcceptedRejected.ACCEPTED, csr=csr)

    def handle_private_key_path(self, message: Message) -> p.PrivateKeyPathResponse:
        req: p.PrivateKeyPathRequest = message.data
        try:
            path = self.store.private_key_path(str(req.certificate_type))
        except Exception:
            log.exception("key store failed for private_key_path %s", req.certificate_type)
            path = None
        if path is None:
            log.info("private_key_path certificate_type=%s: no key", req.certificate_type)
            return p.PrivateKeyPathResponse(status=p.PrivateKeyPathStatus.FAILED_NOT_FOUND)
        return p.PrivateKeyPathResponse(status=p.PrivateKeyPathStatus.ACCEPTED, private_key_path=str(path))

    def on_certificate_status(self, message: Message) -> None:
        data: p.CertificateInstallationStatusUpdate = message.data
        hook = getattr(self.store, "certificate_status", None)
        if hook is None:
            return
        key_path = None if isinstance(data.private_key_path, msgspec.UnsetType) else data.private_key_path
        try:
            hook(str(data.certificate_type), str(data.status), key_path)
        except Exception:
            log.exception("key store failed on certificate_installation_status")
