"""The transfer helpers: which URLs are accepted, how credentials are handled, what reaches logs,
and how retries behave."""

from __future__ import annotations

import base64
import threading

import pytest

from josev_hal.functions.transfer import (
    TransferCancelled,
    TransferError,
    check_url,
    parse_time,
    redact,
    retrying,
    split_credentials,
)


@pytest.mark.parametrize("url", ["http://h/x", "https://h:8443/x?y=1", "ftp://u:p@h/dir/"])
def test_supported_urls_pass(url: str) -> None:
    assert check_url(url).hostname == "h"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sftp://h/x", "unsupported URL scheme"),
        ("ftps://h/x", "unsupported"),
        ("file:///etc/passwd", "unsupported"),
        ("http:///x", "no host"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(TransferError, match=reason):
        check_url(url)


def test_http_credentials_become_a_basic_header_and_leave_the_url() -> None:
    url, headers = split_credentials("https://op%40acme:p%3Aw@[fd00::1]:8443/in/?k=v")
    assert url == "https://[fd00::1]:8443/in/?k=v"
    assert headers == {"Authorization": "Basic " + base64.b64encode(b"op@acme:p:w").decode()}


def test_ftp_credentials_stay_in_the_url_for_the_ftp_login() -> None:
    assert split_credentials("ftp://u:p@h/x") == ("ftp://u:p@h/x", {})


def test_redact_drops_credentials_query_and_fragment() -> None:
    assert redact("https://u:secret@h:8443/fw.bin?token=abc#sha256=00") == "https://h:8443/fw.bin"


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-11-26T10:00:00Z", "2026-11-26T10:00:00+00:00"),
        ("2026-11-26t12:00:00.5+02:00", "2026-11-26T12:00:00.500000+02:00"),
        ("2026-11-26T10:00:00", "2026-11-26T10:00:00+00:00"),
    ],
)
def test_parse_time_accepts_the_contract_formats(text: str, iso: str) -> None:
    assert parse_time(text).isoformat() == iso


def test_retrying_tries_one_plus_retries_times_then_names_the_last_error() -> None:
    calls: list[int] = []

    def attempt(n: int) -> None:
        calls.append(n)
        raise TransferError(f"HTTP 503 on attempt {n}")

    with pytest.raises(TransferError, match=r"after 3 attempt\(s\): .*attempt 3"):
        retrying(attempt, retries=2, interval_s=0, cancel=threading.Event(), what="upload")
    assert calls == [1, 2, 3]


def test_retrying_stops_waiting_when_cancelled() -> None:
    cancel = threading.Event()

    def attempt(n: int) -> None:
        cancel.set()
        raise TransferError("down")

    with pytest.raises(TransferCancelled):
        retrying(attempt, retries=5, interval_s=30, cancel=cancel, what="download")
