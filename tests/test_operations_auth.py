"""The operations token file and the listen address."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from josev_hal.errors import ConfigError
from josev_hal.operations import auth


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_token_is_created_private_and_kept_across_restarts(tmp_path: Path) -> None:
    first = auth.ensure_token(tmp_path / "state")
    path = tmp_path / "state" / auth.TOKEN_FILE
    assert len(first) == 64 and _mode(path) == 0o600
    assert auth.ensure_token(tmp_path / "state") == first == auth.read_token(tmp_path / "state")


def test_a_token_file_readable_by_others_is_tightened_and_a_short_one_replaced(tmp_path: Path) -> None:
    path = tmp_path / auth.TOKEN_FILE
    path.write_text("x" * 40 + "\n")
    os.chmod(path, 0o644)
    assert auth.ensure_token(tmp_path) == "x" * 40 and _mode(path) == 0o600
    path.write_text("short")
    token = auth.ensure_token(tmp_path)
    assert token != "short" and len(token) == 64 and _mode(path) == 0o600


def test_only_the_exact_bearer_token_is_accepted() -> None:
    token = "a" * 64
    assert auth.check_token(token, f"Bearer {token}")
    for header in (None, "", token, f"Bearer {token[:-1]}", f"Basic {token}", f"Bearer {token}b"):
        assert not auth.check_token(token, header), header


@pytest.mark.parametrize(
    ("listen", "expected", "loopback"),
    [
        ("127.0.0.1:8765", ("127.0.0.1", 8765), True),
        ("localhost:0", ("localhost", 0), True),
        ("[::1]:9000", ("::1", 9000), True),
        ("0.0.0.0:8765", ("0.0.0.0", 8765), False),
        ("192.168.1.20:80", ("192.168.1.20", 80), False),
    ],
)
def test_listen_addresses(listen: str, expected: tuple[str, int], loopback: bool) -> None:
    assert auth.parse_listen(listen) == expected
    assert auth.is_loopback(expected[0]) is loopback


@pytest.mark.parametrize("listen", ["8765", "host:", ":80", "host:99999", "host:port"])
def test_bad_listen_addresses_are_config_errors(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"\[operations\] listen"):
        auth.parse_listen(listen)


def test_the_endpoint_file_is_written_read_and_removed(tmp_path: Path) -> None:
    auth.write_endpoint(tmp_path, "http://127.0.0.1:1234")
    assert auth.read_endpoint(tmp_path) == {"url": "http://127.0.0.1:1234", "pid": os.getpid()}
    assert _mode(tmp_path / auth.ENDPOINT_FILE) == 0o600
    auth.remove_endpoint(tmp_path)
    assert auth.read_endpoint(tmp_path) is None
    (tmp_path / auth.ENDPOINT_FILE).write_text("not json")
    assert auth.read_endpoint(tmp_path) is None
