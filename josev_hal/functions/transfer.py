"""HTTP(S) and FTP transfer helpers shared by firmware download and log upload.

Everything runs in-process (:mod:`urllib.request`, :mod:`ftplib`): URLs are never handed to a
shell or an external program, so a hostile URL cannot inject commands. ``http``, ``https`` and
plain ``ftp`` are supported (the API also allows ``ftps``/``sftp``; those are refused up front so
the request is answered ``rejected`` instead of failing later).
"""

from __future__ import annotations

import base64
import ftplib
import http.client
import io
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from josev_hal import __version__
from josev_hal.errors import HalError

__all__ = [
    "MAX_RESPONSE_BODY",
    "MIN_RATE_BPS",
    "SUPPORTED_SCHEMES",
    "TransferBudget",
    "TransferCancelled",
    "TransferError",
    "check_url",
    "ftp_upload",
    "parse_time",
    "read_capped",
    "read_some",
    "redact",
    "retrying",
    "split_credentials",
    "user_agent",
    "utc_now",
]

log = logging.getLogger(__name__)

SUPPORTED_SCHEMES = ("http", "https", "ftp")

T = TypeVar("T")


class TransferError(HalError):
    """One transfer attempt failed (HTTP status, timeout, size limit, connection refused)."""


class TransferCancelled(HalError):
    """The job was cancelled (a newer request replaced it, or the HAL shuts down)."""


def user_agent() -> str:
    return f"josev-hal/{__version__}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str) -> datetime:
    """RFC 3339 string (``Z`` or offset; no offset means UTC) to an aware datetime."""
    parsed = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_url(url: str) -> urllib.parse.SplitResult:
    """Parse ``url`` and refuse schemes we cannot transfer with; raises :class:`TransferError`."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in SUPPORTED_SCHEMES:
        raise TransferError(
            f"unsupported URL scheme {parts.scheme!r} (supported: {', '.join(SUPPORTED_SCHEMES)})"
        )
    if not parts.hostname:
        raise TransferError("URL has no host")
    return parts


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """``(url without user info, headers)``: credentials in the URL (``https://user:pw@host/``,
    common in OCPP GetLog/UpdateFirmware locations) become an HTTP Basic ``Authorization`` header,
    because urllib does not use the user info by itself."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None or parts.scheme.lower() not in ("http", "https"):
        # FTP URLs keep their user info: urllib's FTP handler logs in with it.
        return url, {}
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    clean = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return clean, {"Authorization": f"Basic {token}"}


def redact(url: str) -> str:
    """The URL without user info, query or fragment, for log lines (credentials stay out of logs)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def describe_error(exc: BaseException) -> str:
    """A short, specific reason for a failed attempt."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"connection failed: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "timed out (server stalled)"
    if isinstance(exc, ftplib.Error):
        return f"FTP error: {exc}"
    return f"{type(exc).__name__}: {exc}"


def retrying(
    attempt: Callable[[int], T],
    *,
    retries: int,
    interval_s: float,
    cancel: threading.Event,
    what: str,
) -> T:
    """Call ``attempt(n)`` up to ``1 + retries`` times, waiting ``interval_s`` between tries.

    Failures of type :class:`TransferError`, :class:`OSError` and :class:`urllib.error.URLError`
    are retried; the last one is re-raised as :class:`TransferError`. ``cancel`` aborts the wait.
    """
    last: BaseException | None = None
    for number in range(1 + max(0, retries)):
        if cancel.is_set():
            raise TransferCancelled(f"{what} cancelled")
        try:
            return attempt(number + 1)
        except TransferCancelled:
            raise
        except (TransferError, OSError, urllib.error.URLError, ValueError, ftplib.Error, EOFError) as exc:
            last = exc
            log.warning(
                "%s attempt %d/%d failed: %s", what, number + 1, 1 + max(0, retries), describe_error(exc)
            )
        if number < retries and cancel.wait(interval_s):
            raise TransferCancelled(f"{what} cancelled")
    assert last is not None
    raise TransferError(
        f"{what} failed after {1 + max(0, retries)} attempt(s): {describe_error(last)}"
    ) from last


def open_request(
    request: urllib.request.Request, timeout_s: float, budget: TransferBudget | None = None
) -> Any:
    """Open ``request`` with ``timeout_s`` for connect and every read; with ``budget`` its
    sockets are shut down when the budget's deadline passes.

    Proxies from the environment are honoured (stations behind a proxy need them); redirects are
    followed only to http/https.
    """
    handlers: list[Any] = [_SafeRedirects]
    if budget is not None:
        handlers += _deadline_handlers(budget)
    opener = urllib.request.build_opener(*handlers)
    return opener.open(request, timeout=timeout_s)


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http/https: a server must not be able to send the HAL elsewhere
    (another protocol, or FTP with credentials it chose)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise TransferError(f"redirect to {redact(newurl)} refused (only http/https)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def ftp_upload(url: str, filename: str, body: bytes, timeout_s: float) -> str:
    """Store ``body`` on the FTP server of ``url`` (passive mode); returns the remote path.

    A URL ending in ``/`` names a directory (the file is stored as ``filename`` in it); otherwise
    the URL names the file. Without user info the login is anonymous.
    """
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(parts.path)
    directory, name = (path, filename) if path.endswith("/") or not path else path.rsplit("/", 1)
    user = urllib.parse.unquote(parts.username) if parts.username else "anonymous"
    password = urllib.parse.unquote(parts.password or "") if parts.username else "anonymous@"
    with ftplib.FTP(timeout=timeout_s) as ftp:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(user, password)
        if directory.strip("/"):
            ftp.cwd(directory)
        ftp.storbinary(f"STOR {name}", io.BytesIO(body))
    return f"{directory.rstrip('/')}/{name}"


# -- overall limits of one transfer (issue #13 item 6) ---------------------------------------------

#: Slowest average rate a transfer may sustain after its grace period (curl's ``--speed-limit``):
#: far below any real link (a poor cellular uplink does 30 kB/s), far above a server that drips.
MIN_RATE_BPS = 4 * 1024
#: The most of an upload's HTTP response body the HAL reads (the status line decides; a server
#: that answers with hundreds of megabytes must not be buffered).
MAX_RESPONSE_BODY = 64 * 1024


class TransferBudget:
    """Overall limits of one transfer attempt, on top of the per-read socket timeout.

    * an absolute **deadline**: when it passes, every socket of the attempt is shut down (a timer
      thread does it), so a read or write blocked on a stalled or dripping server returns at once;
    * a minimum average **rate** after ``grace_s`` (:meth:`check`, called between reads).

    Use as a context manager around :func:`open_request` and the reads; pass it to
    :func:`open_request` so the sockets it opens are registered.
    """

    def __init__(self, what: str, *, deadline_s: float, grace_s: float, min_rate_bps: float = MIN_RATE_BPS):
        self.what = what
        self.deadline_s = deadline_s
        self.grace_s = grace_s
        self.min_rate_bps = min_rate_bps
        self.started = time.monotonic()
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(deadline_s, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> TransferBudget:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def check(self, transferred: int) -> None:
        """Raise :class:`TransferError` when the deadline passed or, after the grace period, the
        average rate is below ``min_rate_bps``."""
        elapsed = time.monotonic() - self.started
        if self.expired or elapsed > self.deadline_s:
            raise self.error()
        if elapsed > self.grace_s and transferred < self.min_rate_bps * elapsed:
            raise TransferError(
                f"{self.what}: server too slow ({transferred} bytes in {elapsed:.0f} s, "
                f"below {self.min_rate_bps:g} B/s)"
            )

    def error(self) -> TransferError:
        return TransferError(f"{self.what} did not finish within its deadline of {self.deadline_s:g} s")


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def read_capped(response: Any, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of ``response``'s body: ``(data, truncated)``. The rest is left
    unread (the connection is closed with the response)."""
    data = response.read(limit + 1)
    return data[:limit], len(data) > limit


def read_some(response: Any, size: int) -> bytes:
    """What the server has sent, up to ``size`` bytes, without waiting for ``size`` to fill up
    (``read1``): a dripping server is then noticed between reads, not after the chunk is full."""
    read1 = getattr(response, "read1", None)
    return bytes(read1(size)) if read1 is not None else bytes(response.read(size))


def _deadline_handlers(budget: TransferBudget) -> list[urllib.request.BaseHandler]:
    """HTTP(S) handlers whose connections register their socket with ``budget``."""

    def connection_class(base: type[http.client.HTTPConnection]) -> Any:
        class Watched(base):  # type: ignore[valid-type,misc]
            def connect(self) -> None:
                super().connect()
                budget.watch(self.sock)

        return Watched

    plain = connection_class(http.client.HTTPConnection)
    tls = connection_class(http.client.HTTPSConnection)

    class Http(urllib.request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(plain, req)

    class Https(urllib.request.HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            return self.do_open(tls, req, context=self._context)  # type: ignore[attr-defined]

    return [Http(), Https()]
