"""The operations token and the endpoint file in the state dir.

``<state dir>/operations.token`` (mode 0600, created once, kept across restarts) is the shared
secret for operator actions: whoever can read it may act, which on a station means root or the
service user -- the same people who could stop the daemon. ``<state dir>/operations.json`` says
where the running daemon listens, so ``josev-hal status`` finds it through the state dir alone.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
from pathlib import Path
from typing import Any

from josev_hal.errors import ConfigError

__all__ = [
    "ENDPOINT_FILE",
    "TOKEN_FILE",
    "check_token",
    "ensure_token",
    "is_loopback",
    "parse_listen",
    "pid_alive",
    "read_endpoint",
    "read_token",
    "write_endpoint",
]

TOKEN_FILE = "operations.token"
ENDPOINT_FILE = "operations.json"


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600 from the first byte (never world-readable, not even briefly)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def ensure_token(state_dir: Path) -> str:
    """The token, created (32 random bytes, hex) on first use. A token file readable by others
    is tightened to 0600 rather than trusted as it is."""
    path = state_dir / TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        token = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the operations token: {exc}") from exc
    if len(token) < 32:
        token = secrets.token_hex(32)
        state_dir.mkdir(parents=True, exist_ok=True)
        _write_private(path, (token + "\n").encode("ascii"))
    elif path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return token


def read_token(state_dir: Path) -> str | None:
    try:
        token = (state_dir / TOKEN_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None


def check_token(expected: str, header: str | None) -> bool:
    """``Authorization: Bearer <token>`` against the expected token (constant time)."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), expected.encode())


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"[operations] listen {listen!r}: expected host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if number > 65535:
        raise ConfigError(f"[operations] listen {listen!r}: port must be 0..65535")
    return host, number


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def write_endpoint(state_dir: Path, url: str) -> None:
    """Record where this daemon listens (and its pid, so a stale file is recognised)."""
    data = json.dumps({"url": url, "pid": os.getpid()}).encode()
    _write_private(state_dir / ENDPOINT_FILE, data)


def read_endpoint(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / ENDPOINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("url"), str) else None


def pid_alive(pid: object) -> bool:
    """Whether a process with this pid exists (a pid we may not signal exists too)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_endpoint(state_dir: Path) -> None:
    try:
        (state_dir / ENDPOINT_FILE).unlink()
    except OSError:
        pass
