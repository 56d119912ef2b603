"""Client side of the operations endpoint, for ``josev-hal status`` / ``monitor`` / ``ctl``.

The daemon is found through its state dir (``--state-dir``, ``$JOSEV_HAL_STATE_DIR``, the system
state dir, then the built-in sim board's per-user dir), where it wrote ``operations.json`` and the
token, or through an explicit ``--url`` (then the token comes from ``--token-file`` or the state
dir). Plain :mod:`urllib`: a CLI on a station needs nothing more.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from josev_hal.errors import HalError
from josev_hal.operations import auth

__all__ = ["Endpoint", "EndpointError", "add_endpoint_arguments", "find_endpoint", "request"]


class EndpointError(HalError):
    """The daemon's endpoint cannot be found or reached."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    token: str | None


def _candidate_dirs(explicit: Path | None) -> list[Path]:
    if explicit is not None:
        return [explicit]
    env = os.environ.get("JOSEV_HAL_STATE_DIR")
    if env:
        return [Path(env)]
    from josev_hal.functions.config import DEFAULT_STATE_DIR

    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return [Path(DEFAULT_STATE_DIR), Path(base) / "josev-hal-sim"]


def add_endpoint_arguments(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """``--state-dir``/``--url``/``--token-file``/``--timeout``. ``nested``: on a sub-command's
    parser too (defaults suppressed there, so they never overwrite what was given before it)."""
    kw: dict[str, Any] = {"default": argparse.SUPPRESS} if nested else {}
    parser.add_argument(
        "--state-dir", type=Path, help="the daemon's state dir (default: $JOSEV_HAL_STATE_DIR)", **kw
    )
    parser.add_argument("--url", help="the endpoint URL (default: read from the state dir)", **kw)
    parser.add_argument(
        "--token-file", type=Path, help="operations token (default: <state dir>/operations.token)", **kw
    )
    parser.add_argument(
        "--timeout", type=float, metavar="S", help="HTTP timeout (default 10 s)", **(kw or {"default": 10.0})
    )


def find_endpoint(args: argparse.Namespace) -> Endpoint:
    token: str | None = None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="ascii").strip() or None
        except OSError as exc:
            raise EndpointError(f"--token-file {args.token_file}: {exc}") from exc
    dirs = _candidate_dirs(args.state_dir)
    if args.url:
        if token is None:
            token = next((t for t in (auth.read_token(d) for d in dirs) if t), None)
        return Endpoint(args.url.rstrip("/"), token)
    stale = []
    for state_dir in dirs:
        info = auth.read_endpoint(state_dir)
        if info is None:
            continue
        if "pid" in info and not auth.pid_alive(info["pid"]):
            # a daemon killed without its clean stop leaves the file behind
            stale.append(f"{state_dir / auth.ENDPOINT_FILE} names pid {info['pid']}, which is not running")
            continue
        return Endpoint(str(info["url"]).rstrip("/"), token or auth.read_token(state_dir))
    looked = ", ".join(str(d) for d in dirs)
    why = "; ".join(stale) if stale else f"no {auth.ENDPOINT_FILE} in {looked}"
    raise EndpointError(f"no running daemon found ({why}); give --state-dir or --url")


def operator_name() -> str:
    """Who is acting, for the daemon's audit log."""
    return f"{login_name()}@{socket.gethostname()}"[:64]


def login_name() -> str:
    """The person behind this process: the sudo caller, else the account (not just a uid)."""
    import pwd

    name = os.environ.get("SUDO_USER")
    if name:
        return name
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry (containers)
        return os.environ.get("USER") or str(os.getuid())


def request(
    endpoint: Endpoint, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float = 10.0
) -> tuple[int, Any]:
    """``(status, decoded body)``; JSON bodies are decoded, others returned as text.
    Raises :class:`EndpointError` when the daemon does not answer at all."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(endpoint.url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if endpoint.token:
        req.add_header("Authorization", f"Bearer {endpoint.token}")
    req.add_header("X-Operator", operator_name())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, _decode(resp.read(), resp.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as exc:
        return exc.code, _decode(exc.read(), exc.headers.get("Content-Type", ""))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EndpointError(f"{endpoint.url}: daemon not reachable ({reason})") from exc


def _decode(raw: bytes, content_type: str) -> Any:
    if content_type.startswith("application/json"):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw.decode("utf-8", "replace")
