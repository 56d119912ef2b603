"""``update_firmware`` and the ``firmware_status`` updates (OCPP 2.0.1 L01/L02).

The request is answered at once (accepted / rejected / invalid_certificate / accepted_canceled);
the work runs on a job thread that publishes every OCPP status as it happens:

``download_scheduled``? -> ``downloading`` -> ``downloaded`` -> ``signature_verified``? ->
``install_scheduled``? -> ``installing`` -> ``installed`` | ``install_rebooting``

with the failures ``download_failed``, ``install_verification_failed`` (checksum),
``invalid_signature`` and ``installation_failed``. A failed job leaves nothing installed: the
partial file is deleted and the installer is never called.

* **Download**: HTTP(S) or FTP with :mod:`urllib` (never a shell), ``retries`` / ``retry_interval`` from
  the request (profile defaults otherwise), a socket timeout per read (a stalled server fails the
  attempt), a size limit checked against ``Content-Length`` and while streaming, progress logged.
* **Checksum**: the API has no checksum field, so a checksum travels in the URL fragment, which
  HTTP clients never send to the server: ``https://host/fw.swu#sha256=<hex>`` (or ``sha512``).
* **Signature** (secure update, L02): ``signature`` is the base64 signature of the whole file,
  made with the key of ``signing_certificate`` (PEM): RSA PKCS#1 v1.5 or ECDSA, both over SHA-256.
  With ``[firmware] trusted_ca_file`` the certificate must be issued by one of those CAs.
* **Installation** waits for ``install_datetime`` and for all transactions to end (new sessions
  are blocked meanwhile), then calls the installer (the ``hal_install_firmware`` hook; the
  default keeps the image in ``<state_dir>/firmware/installed`` for an external updater).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import logging
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec

from josev_hal.functions.config import FirmwareSettings
from josev_hal.functions.ports import opt
from josev_hal.functions.transfer import (
    MIN_RATE_BPS,
    TransferBudget,
    TransferCancelled,
    TransferError,
    check_url,
    describe_error,
    open_request,
    parse_time,
    read_some,
    redact,
    retrying,
    split_credentials,
    user_agent,
    utc_now,
)
from josev_hal.hookspecs import FirmwareInstallResult
from josev_hal.logging_setup import SECURITY_LOGGER

# cryptography (~20 ms to import) is imported when a signed firmware is checked, not at start-up.
if TYPE_CHECKING:
    from cryptography import x509

    from josev_hal.messages.payloads import UpdateFirmwareRequest

__all__ = [
    "FirmwareImage",
    "FirmwareJob",
    "FirmwareRequest",
    "FirmwareStatus",
    "FirmwareUpdater",
    "IdleGate",
    "Installer",
]

log = logging.getLogger(__name__)
security_log = logging.getLogger(SECURITY_LOGGER)

_CHUNK = 64 * 1024


class FirmwareStatus(enum.StrEnum):
    """The ``firmware_status`` values this module publishes (a subset of the schema enum)."""

    DOWNLOAD_SCHEDULED = "download_scheduled"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    DOWNLOAD_FAILED = "download_failed"
    SIGNATURE_VERIFIED = "signature_verified"
    INVALID_SIGNATURE = "invalid_signature"
    INSTALL_VERIFICATION_FAILED = "install_verification_failed"
    INSTALL_SCHEDULED = "install_scheduled"
    INSTALLING = "installing"
    INSTALLED = "installed"
    INSTALL_REBOOTING = "install_rebooting"
    INSTALLATION_FAILED = "installation_failed"


class FirmwareRequest(msgspec.Struct, frozen=True):
    """The fields of an ``update_firmware`` request this module uses (decoupled from msgspec)."""

    request_id: int
    location: str
    retrieve_datetime: str
    install_datetime: str | None = None
    retries: int | None = None
    retry_interval: int | None = None
    signing_certificate: str | None = None
    signature: str | None = None
    #: The original request payload, handed to the ``hal_install_firmware`` hook.
    payload: UpdateFirmwareRequest | None = None

    @classmethod
    def from_payload(cls, req: UpdateFirmwareRequest) -> FirmwareRequest:
        """From a ``p.UpdateFirmwareRequest`` (UNSET optional fields become None)."""
        return cls(
            request_id=req.request_id,
            location=req.location,
            retrieve_datetime=req.retrieve_datetime,
            install_datetime=opt(req.install_datetime),
            retries=opt(req.retries),
            retry_interval=opt(req.retry_interval),
            signing_certificate=opt(req.signing_certificate),
            signature=opt(req.signature),
            payload=req,
        )


class FirmwareImage(msgspec.Struct, frozen=True):
    """A downloaded and verified image handed to the installer."""

    request_id: int
    path: Path
    location: str  # redacted URL (no credentials / query)
    size: int
    sha256: str
    signed: bool
    payload: UpdateFirmwareRequest | None = None


#: Installs an image; the functions layer passes a wrapper around the ``hal_install_firmware`` hook.
Installer = Callable[[FirmwareImage], FirmwareInstallResult | None]


class IdleGate(Protocol):
    """Blocks new sessions and waits until no transaction runs (see availability.py)."""

    def wait_idle(self, reason: str, cancel: threading.Event, timeout_s: float | None = None) -> bool: ...

    def release(self, reason: str) -> None: ...


class _Rejected(Exception):
    """The request is answered with ``status`` (rejected / invalid_certificate) and not started."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _checksum_from_fragment(location: str) -> tuple[str, str] | None:
    """``("sha256", "<hex>")`` from ``...#sha256=<hex>``, None when there is no checksum."""
    fragment = urllib.parse.urlsplit(location).fragment
    if not fragment:
        return None
    params = urllib.parse.parse_qs(fragment)
    for algorithm in ("sha512", "sha256"):
        if algorithm in params:
            value = params[algorithm][0].strip().lower()
            expected_len = hashlib.new(algorithm).digest_size * 2
            if len(value) != expected_len or any(c not in "0123456789abcdef" for c in value):
                raise _Rejected(
                    "rejected", f"{algorithm} checksum in the URL fragment is not {expected_len} hex digits"
                )
            return algorithm, value
    return None


def _load_certificate(pem: str) -> x509.Certificate:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise _Rejected(
            "invalid_certificate", f"signing_certificate is not a PEM certificate: {exc}"
        ) from exc


def _check_certificate(cert: x509.Certificate, settings: FirmwareSettings) -> None:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    now = utc_now()
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        raise _Rejected("invalid_certificate", "signing certificate is outside its validity period")
    if not isinstance(cert.public_key(), (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise _Rejected("invalid_certificate", "signing certificate key is neither RSA nor ECDSA")
    if settings.trusted_ca_file:
        try:
            roots = x509.load_pem_x509_certificates(Path(settings.trusted_ca_file).read_bytes())
        except (OSError, ValueError) as exc:
            raise _Rejected("invalid_certificate", f"cannot read trusted_ca_file: {exc}") from exc
        for root in roots:
            try:
                cert.verify_directly_issued_by(root)
                return
            except (ValueError, TypeError, InvalidSignature):
                continue
        raise _Rejected("invalid_certificate", "signing certificate is not issued by a trusted firmware CA")


def verify_signature(cert: x509.Certificate, signature_b64: str, sha256_digest: bytes) -> bool:
    """Check ``signature_b64`` over a file whose SHA-256 digest is ``sha256_digest``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    key = cert.public_key()
    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, sha256_digest, padding.PKCS1v15(), prehashed)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, sha256_digest, ec.ECDSA(prehashed))
        else:
            return False
    except InvalidSignature:
        return False
    return True


class FirmwareJob(msgspec.Struct):
    """One accepted update; ``done`` is set when the job thread has finished (any outcome)."""

    request: FirmwareRequest
    cancel: threading.Event
    done: threading.Event
    thread: threading.Thread | None = None
    phase: str = "accepted"
    final_status: str | None = None


class FirmwareUpdater:
    """Runs at most one firmware job at a time; see the module docstring for the sequence."""

    def __init__(
        self,
        settings: FirmwareSettings,
        state_dir: Path,
        publish: Callable[[int, str], None],
        installer: Installer,
        idle_gate: IdleGate | None = None,
        on_reboot: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        # Downloads live apart from <state_dir>/firmware/ itself, where the default installer
        # keeps installed images: a download can never overwrite an installed image.
        self.work_dir = Path(state_dir) / "firmware" / "download"
        self._publish = publish
        self._installer = installer
        self._idle_gate = idle_gate
        self._on_reboot = on_reboot
        self._lock = threading.Lock()
        self._job: FirmwareJob | None = None

    @property
    def job(self) -> FirmwareJob | None:
        return self._job

    # -- request ------------------------------------------------------------------------------
    def request(self, req: FirmwareRequest) -> str:
        """Validate ``req``; start it and return the response status for the API."""
        try:
            check_url(req.location)
            checksum = _checksum_from_fragment(req.location)
            if bool(req.signature) != bool(req.signing_certificate):
                raise _Rejected("rejected", "signature and signing_certificate must be given together")
            if self.settings.require_signature and not req.signature:
                raise _Rejected("rejected", "unsigned firmware refused ([firmware] require_signature)")
            cert = None
            if req.signing_certificate:
                cert = _load_certificate(req.signing_certificate)
                _check_certificate(cert, self.settings)
            parse_time(req.retrieve_datetime)
            if req.install_datetime:
                parse_time(req.install_datetime)
        except TransferError as exc:
            log.warning("update_firmware rejected request_id=%s: %s", req.request_id, exc)
            return "rejected"
        except _Rejected as exc:
            target = security_log if exc.status == "invalid_certificate" else log
            target.warning("update_firmware %s request_id=%s: %s", exc.status, req.request_id, exc.reason)
            return exc.status
        except ValueError as exc:
            log.warning("update_firmware rejected request_id=%s: bad time: %s", req.request_id, exc)
            return "rejected"

        status = "accepted"
        with self._lock:
            previous = self._job
            if previous is not None and not previous.done.is_set():
                if previous.phase in ("installing",):
                    log.warning(
                        "update_firmware rejected request_id=%s: request_id=%s is installing",
                        req.request_id,
                        previous.request.request_id,
                    )
                    return "rejected"
                # OCPP L01: a new request replaces an update that is not yet installing.
                previous.cancel.set()
                status = "accepted_canceled"
                log.info(
                    "firmware update request_id=%s cancelled by request_id=%s",
                    previous.request.request_id,
                    req.request_id,
                )
            job = FirmwareJob(request=req, cancel=threading.Event(), done=threading.Event())
            job.thread = threading.Thread(
                target=self._run,
                args=(job, cert, checksum, previous),
                name=f"firmware-{req.request_id}",
                daemon=True,
            )
            self._job = job
            job.thread.start()
        log.info(
            "update_firmware %s request_id=%s location=%s signed=%s",
            status,
            req.request_id,
            redact(req.location),
            cert is not None,
        )
        return status

    def close(self, timeout: float = 5.0) -> None:
        """Cancel a running job and wait for its thread."""
        job = self._job
        if job is not None:
            job.cancel.set()
            if job.thread is not None:
                job.thread.join(timeout)

    # -- job ----------------------------------------------------------------------------------
    def _status(self, job: FirmwareJob, status: FirmwareStatus) -> None:
        job.phase = status.value
        log.info("firmware_status request_id=%s status=%s", job.request.request_id, status.value)
        self._publish(job.request.request_id, status.value)

    def _wait_until(self, job: FirmwareJob, when: datetime) -> None:
        delay = (when - utc_now()).total_seconds()
        if delay > 0 and job.cancel.wait(delay):
            raise TransferCancelled("cancelled while waiting")

    def _run(
        self,
        job: FirmwareJob,
        cert: x509.Certificate | None,
        checksum: tuple[str, str] | None,
        previous: FirmwareJob | None,
    ) -> None:
        req = job.request
        partial = self.work_dir / f"download-{req.request_id}.part"
        try:
            if previous is not None:
                # The replaced job must be gone before we touch the work dir.
                previous.done.wait(self.settings.timeout_s + 5)
            retrieve = parse_time(req.retrieve_datetime)
            if retrieve > utc_now():
                self._status(job, FirmwareStatus.DOWNLOAD_SCHEDULED)
                self._wait_until(job, retrieve)
            self._status(job, FirmwareStatus.DOWNLOADING)
            try:
                size, digests = self._download(job, partial, checksum[0] if checksum else None)
            except TransferError as exc:
                log.error("firmware download failed request_id=%s: %s", req.request_id, exc)
                self._status(job, FirmwareStatus.DOWNLOAD_FAILED)
                return
            self._status(job, FirmwareStatus.DOWNLOADED)
            if checksum is not None:
                algorithm, expected = checksum
                if digests[algorithm].hex() != expected:
                    security_log.warning(
                        "firmware checksum mismatch request_id=%s %s expected=%s got=%s",
                        req.request_id,
                        algorithm,
                        expected,
                        digests[algorithm].hex(),
                    )
                    self._status(job, FirmwareStatus.INSTALL_VERIFICATION_FAILED)
                    return
                log.info("firmware checksum ok request_id=%s %s=%s", req.request_id, algorithm, expected)
            if cert is not None:
                assert req.signature is not None
                if not verify_signature(cert, req.signature, digests["sha256"]):
                    security_log.warning(
                        "firmware signature invalid request_id=%s subject=%s",
                        req.request_id,
                        cert.subject.rfc4514_string(),
                    )
                    self._status(job, FirmwareStatus.INVALID_SIGNATURE)
                    return
                security_log.info(
                    "firmware signature verified request_id=%s subject=%s",
                    req.request_id,
                    cert.subject.rfc4514_string(),
                )
                self._status(job, FirmwareStatus.SIGNATURE_VERIFIED)
            if req.install_datetime:
                install_at = parse_time(req.install_datetime)
                if install_at > utc_now():
                    self._status(job, FirmwareStatus.INSTALL_SCHEDULED)
                    self._wait_until(job, install_at)
            self._install(job, partial, size, digests["sha256"].hex(), cert is not None)
        except TransferCancelled:
            log.info("firmware update request_id=%s cancelled in phase %s", req.request_id, job.phase)
        except Exception:
            # A bug or an OS error must still end in a failure status, never in silence.
            log.exception("firmware update request_id=%s crashed in phase %s", req.request_id, job.phase)
            failure = (
                FirmwareStatus.INSTALLATION_FAILED
                if job.phase in ("installing", "install_scheduled", "signature_verified", "downloaded")
                else FirmwareStatus.DOWNLOAD_FAILED
            )
            self._status(job, failure)
        finally:
            partial.unlink(missing_ok=True)
            job.final_status = job.phase
            job.done.set()

    def _install(self, job: FirmwareJob, partial: Path, size: int, sha256: str, signed: bool) -> None:
        req = job.request
        image_path = self.work_dir / _image_name(req.location, req.request_id)
        os.replace(partial, image_path)
        image = FirmwareImage(
            request_id=req.request_id,
            path=image_path,
            location=redact(req.location),
            size=size,
            sha256=sha256,
            signed=signed,
            payload=req.payload,
        )
        gate = self._idle_gate
        reason = f"firmware:{req.request_id}"
        try:
            if gate is not None:
                log.info("firmware request_id=%s waits for running transactions to end", req.request_id)
                if not gate.wait_idle(reason, job.cancel):
                    raise TransferCancelled("cancelled while waiting for idle")
            with self._lock:
                # Checked under the lock request() uses: from here on a new request is rejected
                # (phase "installing") instead of cancelling an installation half-way.
                if job.cancel.is_set():
                    raise TransferCancelled("cancelled before installing")
                job.phase = FirmwareStatus.INSTALLING.value
            self._status(job, FirmwareStatus.INSTALLING)
            try:
                result = self._installer(image)
            except Exception as exc:
                log.error("firmware installer failed request_id=%s: %s", req.request_id, exc, exc_info=True)
                result = None
            status = _final_status(result)
            if result is not None and result.detail:
                log.info("firmware installer request_id=%s: %s", req.request_id, result.detail)
            self._status(job, status)
            wants_reboot = result is not None and (
                result.reboot_required or status is FirmwareStatus.INSTALL_REBOOTING
            )
            if wants_reboot and status in _SUCCESS and self._on_reboot is not None:
                log.info("firmware request_id=%s installed; station reset follows", req.request_id)
                self._on_reboot()
        finally:
            image_path.unlink(missing_ok=True)
            if gate is not None:
                gate.release(reason)

    def _download(
        self, job: FirmwareJob, partial: Path, checksum_algorithm: str | None
    ) -> tuple[int, dict[str, bytes]]:
        req = job.request
        retries = req.retries if req.retries is not None else self.settings.default_retries
        interval = (
            float(req.retry_interval)
            if req.retry_interval is not None
            else self.settings.default_retry_interval_s
        )
        self.work_dir.mkdir(parents=True, exist_ok=True)

        def attempt(number: int) -> tuple[int, dict[str, bytes]]:
            # Every attempt ends by its deadline and fails when the server drips (average rate
            # below MIN_RATE_BPS after the grace period), not only when one read stalls.
            budget = TransferBudget(
                "firmware download",
                deadline_s=2 * self.settings.timeout_s + self.settings.max_size_bytes / MIN_RATE_BPS,
                grace_s=2 * self.settings.timeout_s,
            )
            try:
                with budget:
                    return self._download_once(job, partial, checksum_algorithm, number, budget)
            except (TransferError, TransferCancelled):
                raise
            except Exception as exc:  # a socket shut down by the deadline fails in many ways
                if budget.expired:
                    raise budget.error() from exc
                if isinstance(exc, (OSError, ValueError)):
                    raise
                raise TransferError(describe_error(exc)) from exc

        return retrying(
            attempt, retries=retries, interval_s=interval, cancel=job.cancel, what="firmware download"
        )

    def _download_once(
        self,
        job: FirmwareJob,
        partial: Path,
        checksum_algorithm: str | None,
        number: int,
        budget: TransferBudget,
    ) -> tuple[int, dict[str, bytes]]:
        req = job.request
        url, auth = split_credentials(urllib.parse.urldefrag(req.location).url)
        limit = self.settings.max_size_bytes
        hashers = {"sha256": hashlib.sha256()}
        if checksum_algorithm and checksum_algorithm not in hashers:
            hashers[checksum_algorithm] = hashlib.new(checksum_algorithm)
        request = urllib.request.Request(url, headers={"User-Agent": user_agent(), **auth})
        log.info("firmware download attempt %d request_id=%s url=%s", number, req.request_id, redact(url))
        with open_request(request, self.settings.timeout_s, budget) as response:
            length_header = response.headers.get("Content-Length")
            total = int(length_header) if length_header and length_header.isdigit() else None
            if total is not None and total > limit:
                raise TransferError(f"firmware is {total} bytes, more than the limit of {limit}")
            received = 0
            next_report = 0
            step = self.settings.progress_step_percent
            with open(partial, "wb") as out:
                while True:
                    if job.cancel.is_set():
                        raise TransferCancelled("firmware download cancelled")
                    budget.check(received)
                    chunk = read_some(response, _CHUNK)
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > limit:
                        raise TransferError(f"firmware exceeds the size limit of {limit} bytes")
                    out.write(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
                    if total:
                        percent = received * 100 // total
                        if percent >= next_report:
                            log.info(
                                "firmware download request_id=%s %d%% (%d/%d bytes)",
                                req.request_id,
                                percent,
                                received,
                                total,
                            )
                            next_report = percent + step
                    elif received >= next_report:
                        log.info("firmware download request_id=%s %d bytes", req.request_id, received)
                        next_report = received + 1024 * 1024
                out.flush()
                os.fsync(out.fileno())
            if total is not None and received != total:
                raise TransferError(f"connection closed after {received} of {total} bytes")
        log.info("firmware downloaded request_id=%s bytes=%d", req.request_id, received)
        return received, {name: hasher.digest() for name, hasher in hashers.items()}


def _image_name(location: str, request_id: int) -> str:
    """``<request_id>-<file name from the URL>``, reduced to safe characters (the name keeps the
    extension, .swu / .raucb / .tar.gz, so an external updater recognises the image)."""
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(location).path)).name
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")[:100]
    return f"{request_id}-{safe or 'firmware.bin'}"


_SUCCESS = frozenset(
    {FirmwareStatus.INSTALLED, FirmwareStatus.INSTALL_REBOOTING, FirmwareStatus.INSTALL_SCHEDULED}
)


def _final_status(result: FirmwareInstallResult | None) -> FirmwareStatus:
    """The ``firmware_status`` to publish for the installer's answer (None = it failed)."""
    if result is None:
        return FirmwareStatus.INSTALLATION_FAILED
    try:
        return FirmwareStatus(str(result.status))
    except ValueError:
        log.error(
            "firmware installer returned unknown status %r; reporting installation_failed", result.status
        )
        return FirmwareStatus.INSTALLATION_FAILED
