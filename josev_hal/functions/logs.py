"""``upload_logs`` and the ``logs_status`` updates (OCPP 2.0.1 N01 GetLog).

The request is answered at once (``accepted`` with the file name, ``rejected`` for a URL we cannot
upload to, ``accepted_canceled`` when it replaces a running upload); a job thread then publishes
``uploading`` and finally ``uploaded`` or ``upload_failure``.

The files come from the ``hal_collect_logs`` hook (default: the HAL's rotating logs in
``<state_dir>/logs``, see :mod:`josev_hal.logging_setup`). Lines of the HAL's own format carry a
UTC timestamp, so the requested window (``oldest_timestamp`` .. ``latest_timestamp``) is cut at
line level: a record and its continuation lines (tracebacks) are included exactly when the record's
time lies in the window. Files in another format (a vendor's) are included whole.

The upload uses HTTP(S) ``PUT`` (the file is the body) or ``POST`` (multipart/form-data, field
``file``), per ``[logs] upload_method``, or FTP ``STOR`` (passive mode) for ``ftp://`` locations,
with the request's ``retries`` / ``retry_interval``.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

import msgspec

from josev_hal.functions.config import LogsSettings
from josev_hal.functions.ports import opt
from josev_hal.functions.transfer import (
    MAX_RESPONSE_BODY,
    MIN_RATE_BPS,
    TransferBudget,
    TransferCancelled,
    TransferError,
    check_url,
    describe_error,
    ftp_upload,
    open_request,
    parse_time,
    read_capped,
    redact,
    retrying,
    split_credentials,
    user_agent,
    utc_now,
)
from josev_hal.logging_setup import parse_record_time
from josev_hal.messages import Message
from josev_hal.messages import payloads as p

__all__ = ["LogRequest", "LogUploader", "cut_window"]

log = logging.getLogger(__name__)

#: ``collect(since, until, log_type) -> files``: a wrapper around the ``hal_collect_logs`` hook.
Collector = Callable[[datetime | None, datetime | None, str], Sequence[Path]]


class LogRequest(msgspec.Struct, frozen=True):
    request_id: int
    log_type: str
    remote_location: str
    retries: int | None = None
    retry_interval: int | None = None
    oldest: datetime | None = None
    latest: datetime | None = None


def _in_window(when: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or when >= since) and (until is None or when <= until)


def cut_window(
    lines: Iterable[str], since: datetime | None, until: datetime | None
) -> tuple[list[str], bool]:
    """Keep the records of ``lines`` whose timestamp lies in the window.

    Returns ``(kept_lines, timestamped)``; ``timestamped`` is False when no line carried the HAL's
    timestamp (a foreign file; the caller then keeps it whole).
    """
    kept: list[str] = []
    keep = False
    timestamped = False
    for line in lines:
        when = parse_record_time(line)
        if when is not None:
            timestamped = True
            keep = _in_window(when, since, until)
        if keep:
            kept.append(line)
    return kept, timestamped


def build_log_body(
    files: Sequence[Path], since: datetime | None, until: datetime | None, limit: int, header: str
) -> bytes:
    """The upload: a header comment, then the window of every file, oldest file first.

    Beyond ``limit`` bytes the *oldest* lines are dropped (the newest explain the problem the
    operator asked about) and a note says so.
    """
    chunks: list[str] = []
    for path in sorted(files, key=_age_key):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines = handle.readlines()
        except OSError as exc:
            log.warning("log file skipped path=%s: %s", path, exc)
            continue
        kept, timestamped = cut_window(lines, since, until)
        if not timestamped:
            kept = lines
        if kept:
            chunks.append(f"# --- {path.name}\n")
            chunks.extend(line if line.endswith("\n") else line + "\n" for line in kept)
    body = header + "".join(chunks)
    data = body.encode("utf-8")
    if len(data) > limit:
        data = data[len(data) - limit :]
        cut = data.find(b"\n")
        data = header.encode() + b"# (older lines dropped: size limit)\n" + data[cut + 1 :]
    return data


def _age_key(path: Path) -> tuple[float, str]:
    # Rotated files (.log.5 ... .log.1) are older than the live file; mtime orders them, the name
    # breaks ties deterministically.
    try:
        return (path.stat().st_mtime, path.name)
    except OSError:
        return (0.0, path.name)


class _Job(msgspec.Struct):
    request: LogRequest
    filename: str
    cancel: threading.Event
    done: threading.Event
    thread: threading.Thread | None = None


class LogUploader:
    """Runs at most one upload at a time."""

    def __init__(
        self,
        settings: LogsSettings,
        collect: Collector,
        publish: Callable[[int, str], None],
        *,
        station_name: str = "josev-hal",
    ) -> None:
        self.settings = settings
        self._collect = collect
        self._publish = publish
        self._station_name = (
            "".join(c if c.isalnum() or c in "-_" else "_" for c in station_name) or "station"
        )
        self._lock = threading.Lock()
        self._job: _Job | None = None

    @property
    def job(self) -> _Job | None:
        return self._job

    def handle_request(self, message: Message) -> p.UploadLogsResponse:
        req: p.UploadLogsRequest = message.data
        oldest, latest = opt(req.oldest_timestamp), opt(req.latest_timestamp)
        try:
            request = LogRequest(
                request_id=req.request_id,
                log_type=str(req.log_type),
                remote_location=req.remote_location,
                retries=opt(req.retries),
                retry_interval=opt(req.retry_interval),
                oldest=parse_time(oldest) if oldest else None,
                latest=parse_time(latest) if latest else None,
            )
        except ValueError as exc:
            log.warning("upload_logs rejected request_id=%s: bad timestamp: %s", req.request_id, exc)
            return p.UploadLogsResponse(status=p.UploadLogsStatus.REJECTED)
        status, filename = self.start(request)
        response = p.UploadLogsResponse(status=p.UploadLogsStatus(status))
        if filename:
            response.filename = filename
        return response

    def start(self, request: LogRequest) -> tuple[str, str | None]:
        """Validate and start; returns (response status, file name)."""
        try:
            check_url(request.remote_location)
        except TransferError as exc:
            log.warning("upload_logs rejected request_id=%s: %s", request.request_id, exc)
            return "rejected", None
        if self.settings.upload_method.upper() not in ("PUT", "POST"):
            log.error("upload_logs rejected: [logs] upload_method must be PUT or POST")
            return "rejected", None
        stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
        filename = f"{self._station_name}-{request.log_type}-{request.request_id}-{stamp}.log"
        status = "accepted"
        with self._lock:
            previous = self._job
            if previous is not None and not previous.done.is_set():
                # OCPP N01: a new GetLog cancels the running upload; the new one is AcceptedCanceled.
                previous.cancel.set()
                status = "accepted_canceled"
                log.info(
                    "log upload request_id=%s cancelled by request_id=%s",
                    previous.request.request_id,
                    request.request_id,
                )
            job = _Job(request, filename, threading.Event(), threading.Event())
            job.thread = threading.Thread(
                target=self._run, args=(job, previous), name=f"logs-{request.request_id}", daemon=True
            )
            self._job = job
            job.thread.start()
        log.info(
            "upload_logs %s request_id=%s type=%s to=%s",
            status,
            request.request_id,
            request.log_type,
            redact(request.remote_location),
        )
        return status, filename

    def close(self, timeout: float = 5.0) -> None:
        job = self._job
        if job is not None:
            job.cancel.set()
            if job.thread is not None:
                job.thread.join(timeout)

    def _status(self, job: _Job, status: str) -> None:
        log.info("logs_status request_id=%s status=%s", job.request.request_id, status)
        self._publish(job.request.request_id, status)

    def _run(self, job: _Job, previous: _Job | None) -> None:
        req = job.request
        try:
            if previous is not None:
                previous.done.wait(self.settings.timeout_s + 5)
            self._status(job, "uploading")
            files = list(self._collect(req.oldest, req.latest, req.log_type))
            header = (
                f"# josev-hal {req.log_type} station={self._station_name} request_id={req.request_id} "
                f"window={_iso(req.oldest)}..{_iso(req.latest)} files={len(files)}\n"
            )
            body = build_log_body(files, req.oldest, req.latest, self.settings.max_upload_bytes, header)
            retries = req.retries if req.retries is not None else self.settings.default_retries
            interval = (
                float(req.retry_interval)
                if req.retry_interval is not None
                else self.settings.default_retry_interval_s
            )
            retrying(
                lambda n: self._upload_once(job, body, n),
                retries=retries,
                interval_s=interval,
                cancel=job.cancel,
                what="log upload",
            )
            log.info("logs uploaded request_id=%s bytes=%d file=%s", req.request_id, len(body), job.filename)
            self._status(job, "uploaded")
        except TransferCancelled:
            log.info("log upload request_id=%s cancelled", req.request_id)
        except TransferError as exc:
            log.error("log upload failed request_id=%s: %s", req.request_id, exc)
            self._status(job, "upload_failure")
        except Exception:
            log.exception("log upload request_id=%s crashed", req.request_id)
            self._status(job, "upload_failure")
        finally:
            job.done.set()

    def _upload_once(self, job: _Job, body: bytes, number: int) -> None:
        req = job.request
        if urllib.parse.urlsplit(req.remote_location).scheme.lower() == "ftp":
            log.info(
                "log upload attempt %d request_id=%s FTP %s",
                number,
                req.request_id,
                redact(req.remote_location),
            )
            ftp_upload(req.remote_location, job.filename, body, self.settings.timeout_s)
            return
        method = self.settings.upload_method.upper()
        url, auth = split_credentials(req.remote_location)
        headers = {"User-Agent": user_agent(), **auth}
        if method == "PUT":
            # PUT to a directory-like URL names the file; to a file URL it is used as given.
            if url.endswith("/"):
                url += job.filename
            data = body
            headers["Content-Type"] = "text/plain; charset=utf-8"
        else:
            boundary = uuid.uuid4().hex
            data = (
                (
                    f"--{boundary}\r\n"
                    f'Content-Disposition: form-data; name="file"; filename="{job.filename}"\r\n'
                    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                ).encode()
                + body
                + f"\r\n--{boundary}--\r\n".encode()
            )
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        log.info("log upload attempt %d request_id=%s %s %s", number, req.request_id, method, redact(url))
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        # Every attempt ends by its deadline, whatever the server does (it may accept the body
        # and then drip its answer a byte at a time): the per-read timeout alone never fires then.
        budget = TransferBudget(
            "log upload",
            deadline_s=2 * self.settings.timeout_s + len(data) / MIN_RATE_BPS,
            grace_s=self.settings.timeout_s,
        )
        try:
            with budget, open_request(request, self.settings.timeout_s, budget) as response:
                code = getattr(response, "status", 200)
                if not 200 <= code < 300:
                    raise TransferError(f"server answered HTTP {code}")
                # The status decides; the body is read only up to a small cap (a hostile server
                # answering with hundreds of megabytes must not be buffered).
                _, truncated = read_capped(response, MAX_RESPONSE_BODY)
                if truncated:
                    log.warning(
                        "log upload request_id=%s: server's response body over %d bytes; not read",
                        req.request_id,
                        MAX_RESPONSE_BODY,
                    )
        except (TransferError, TransferCancelled):
            raise
        except Exception as exc:  # a socket shut down by the deadline fails in many ways
            if budget.expired:
                raise budget.error() from exc
            if isinstance(exc, (OSError, ValueError)):
                raise
            raise TransferError(describe_error(exc)) from exc


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else "-"
