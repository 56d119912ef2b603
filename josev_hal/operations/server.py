"""The daemon's local control endpoint: status, metrics, operator actions and the status page.

One stdlib :class:`~http.server.ThreadingHTTPServer` on its own thread (one short-lived thread per
request): the daemon is thread-based (paho's network thread, bridge workers, one sampling thread
per EVSE), so a blocking server that never touches the control loops fits without an event loop.
Requests read the station through :class:`StationView` and act through the core's own entry
points; nothing here holds a lock while calling into the station.

Routes::

    GET  /                      status page (static HTML, polls /status)
    GET  /status                JSON: station, bridge, every EVSE with its counters
    GET  /metrics               Prometheus text format (OpenMetrics on request)
    POST /actions/clear-faults  {"evse_id": ...}
    POST /actions/reset-rcd     {"evse_id": ...}
    POST /actions/rcd-test      {"evse_id": ...}
    POST /actions/available     {"evse_id": ..., "available": true|false}
    POST /actions/lock          {"evse_id": ..., "connector_id": 1, "locked": true|false}

Actions need ``Authorization: Bearer <token>`` (``<state dir>/operations.token``); on an address
other than loopback every route does. Answers: 200 done, 409 refused by the core (``reason`` says
why), 400 bad request (JSON path of the bad value), 401 no/wrong token, 404 unknown EVSE or route.
"""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from josev_hal import __version__
from josev_hal.operations import auth
from josev_hal.operations.counters import WearCounters
from josev_hal.operations.metrics import Metrics
from josev_hal.operations.station_view import ActionResult, StationView, UnknownEvse

if TYPE_CHECKING:
    from josev_hal.functions import Functions
    from josev_hal.station import Station

__all__ = ["OperationsServer"]

log = logging.getLogger(__name__)
#: Operator actions go to their own logger so they can be routed to an audit file.
audit_log = logging.getLogger("josev_hal.operations.audit")

MAX_BODY = 4096
#: How often the delivered-energy counter samples the meter register.
ENERGY_INTERVAL_S = 1.0

EvseId = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class _EvseAction(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    evse_id: EvseId


class _Available(_EvseAction, forbid_unknown_fields=True, kw_only=True):
    available: bool
    #: inoperative at once, even during a session (the contactor opens through the interlock)
    force: bool = False


class _Lock(_EvseAction, forbid_unknown_fields=True, kw_only=True):
    locked: bool
    connector_id: Annotated[int, msgspec.Meta(ge=1, le=255)] | None = None


_ACTIONS: dict[str, type[_EvseAction]] = {
    "clear-faults": _EvseAction,
    "reset-rcd": _EvseAction,
    "rcd-test": _EvseAction,
    "available": _Available,
    "lock": _Lock,
}


def _page() -> bytes:
    return resources.files("josev_hal.operations").joinpath("page.html").read_bytes()


class OperationsServer:
    """Endpoint + counters of one daemon. ``start()`` binds and writes the endpoint file."""

    def __init__(
        self,
        station: Station,
        state_dir: Path,
        *,
        listen: str = "127.0.0.1:8765",
        bridge: Any = None,
        functions: Functions | None = None,
        source: str = "",
    ) -> None:
        self.view = StationView(station, functions)
        self.state_dir = Path(state_dir)
        self.host, self.port = auth.parse_listen(listen)
        self.loopback = auth.is_loopback(self.host)
        self.bridge = bridge
        self.source = source
        self.started_at = time.monotonic()
        self.token = auth.ensure_token(self.state_dir)
        self.counters = WearCounters(self.state_dir / "operations")
        self.metrics = Metrics(
            self.view, self.counters, None if bridge is None else bridge.stats, started_at=self.started_at
        )
        self.counters.add_observer(self.metrics.observe)
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._page = _page()
        self.url = ""

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> str:
        """Bind, serve on a thread, write ``operations.json``; returns the URL."""
        server_cls = _Server6 if ":" in self.host else _Server4
        handler = type("Handler", (_Handler,), {"ops": self})
        self._httpd = server_cls((self.host, self.port), handler)
        port = self._httpd.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}"
        self.counters.start()
        # Only now: a listener of an endpoint that never bound would queue events forever.
        self.view.add_event_listener(self.counters.on_event)
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="operations-http",
                daemon=True,
            ),
            threading.Thread(target=self._energy_loop, name="operations-energy", daemon=True),
        ]
        for t in self._threads:
            t.start()
        auth.write_endpoint(self.state_dir, self.url)
        log.info(
            "operations endpoint listening url=%s token_file=%s", self.url, self.state_dir / auth.TOKEN_FILE
        )
        return self.url

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        for t in self._threads:
            t.join(5.0)
        self._threads = []
        self.counters.stop()
        auth.remove_endpoint(self.state_dir)

    def _energy_loop(self) -> None:
        while not self._stop.wait(ENERGY_INTERVAL_S):
            self.sample_energy()

    def sample_energy(self) -> None:
        for evse_id in self.view.evse_ids():
            try:
                self.counters.on_energy(evse_id, self.view.energy_wh(evse_id))
            except Exception:
                log.exception("energy sample failed evse=%s", evse_id)

    # -- content -------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        counters = self.counters.snapshot()
        evses = []
        for evse_id in self.view.evse_ids():
            entry = self.view.evse_status(evse_id)
            entry["counters"] = counters.get(evse_id, {})
            evses.append(entry)
        out: dict[str, Any] = {
            "generated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "version": __version__,
            "board": self.source,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "evses": evses,
            "buses": self.view.bus_stats(),
        }
        if self.bridge is not None:
            s = self.bridge.stats()
            out["bridge"] = {
                "connected": s.connected,
                "messages_in": s.total_in,
                "messages_out": s.total_out,
                "rejects": dict(s.rejects),
                "reconnects": s.reconnects,
                "queue_depth": s.queue_depth,
                "handler_errors": s.handler_errors,
                "handler_p99_ms": round(s.handler_latency.p99_ms, 3),
            }
            error = self.bridge.last_error  # kept after a later success: the last trouble
            out["bridge"]["last_error"] = None if error is None else str(error)
        return out

    def act(self, action: str, body: _EvseAction) -> ActionResult:
        v = self.view
        if action == "clear-faults":
            return v.clear_faults(body.evse_id)
        if action == "reset-rcd":
            return v.reset_rcd(body.evse_id)
        if action == "rcd-test":
            return v.rcd_self_test(body.evse_id)
        if isinstance(body, _Available):
            return v.set_available(body.evse_id, body.available, force=body.force)
        if isinstance(body, _Lock):
            return v.set_lock(body.evse_id, body.connector_id, body.locked)
        raise AssertionError(action)  # pragma: no cover - _ACTIONS and this dispatch are one table


class _Server4(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server4):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    ops: OperationsServer
    server_version = f"josev-hal/{__version__}"
    protocol_version = "HTTP/1.1"
    #: socket timeout: a client that connects and sends nothing does not keep a thread forever
    timeout = 15.0

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s " + format, self.client_address[0], *args)

    # -- plumbing ------------------------------------------------------------------------------
    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, data: Any) -> None:
        self._send(code, json.dumps(data).encode(), "application/json")

    def _error(self, code: int, reason: str, **extra: Any) -> None:
        self._json(code, {"ok": False, "reason": reason, **extra})

    def _authorized(self) -> bool:
        return auth.check_token(self.ops.token, self.headers.get("Authorization"))

    # -- routes --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not self.ops.loopback and not self._authorized():
            self._error(401, "this endpoint is not on loopback: every request needs the token")
            return
        try:
            if path == "/":
                self._send(200, self.ops._page, "text/html; charset=utf-8")
            elif path == "/status":
                self._json(200, self.ops.status())
            elif path == "/metrics":
                body, ctype = self.ops.metrics.render(self.headers.get("Accept", ""))
                self._send(200, body, ctype)
            else:
                self._error(404, f"no route {path}")
        except Exception as exc:
            log.exception("operations GET %s failed", path)
            self._error(500, f"internal error: {type(exc).__name__}: {exc}")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        who = self.headers.get("X-Operator", "")[:64] or "-"
        peer = self.client_address[0]
        action = path.removeprefix("/actions/") if path.startswith("/actions/") else None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._error(400, "invalid Content-Length")
            return
        if length > MAX_BODY:
            self.close_connection = True
            self._error(413, f"body of {length} bytes exceeds {MAX_BODY}")
            return
        raw = self.rfile.read(length) if length > 0 else b""
        if action not in _ACTIONS:
            self._error(404, f"no route {path} (actions: {', '.join(_ACTIONS)})")
            return
        if not self._authorized():
            audit_log.warning(
                "operator action refused (no or wrong token) action=%s peer=%s by=%s", action, peer, who
            )
            self._error(401, f"missing or wrong token (Authorization: Bearer <{auth.TOKEN_FILE}>)")
            return
        try:
            body = msgspec.json.decode(raw or b"{}", type=_ACTIONS[action])
        except msgspec.ValidationError as exc:
            self._error(400, _path_message(str(exc)))
            return
        except msgspec.DecodeError as exc:
            self._error(400, f"$: invalid JSON: {exc}")
            return
        except UnicodeDecodeError as exc:  # msgspec before 0.23 raises this for invalid UTF-8 in a string
            self._error(400, f"$: invalid JSON: invalid UTF-8 at byte {exc.start}")
            return
        try:
            result = self.ops.act(action, body)
        except UnknownEvse as exc:
            self._error(404, str(exc))
            return
        except Exception as exc:
            log.exception("operator action %s failed", action)
            self._error(500, f"internal error: {type(exc).__name__}: {exc}")
            return
        audit_log.info(
            "operator action=%s evse=%s body=%s peer=%s by=%s ok=%s reason=%s",
            action,
            body.evse_id,
            msgspec.json.encode(body).decode(),
            peer,
            who,
            result.ok,
            result.reason or "-",
        )
        data = {"ok": result.ok, "action": action, "evse_id": body.evse_id, **(result.detail or {})}
        if result.ok:
            self._json(200, data)
        else:
            self._json(409, {**data, "reason": result.reason})


def _path_message(text: str) -> str:
    """msgspec's "<reason> - at `$.x`" as "$.x: <reason>" (missing fields at their own path)."""
    reason, sep, at = text.rpartition(" - at `")
    if not sep:
        reason, at = text, "$`"
    path = at.rstrip("`")
    if reason.startswith("Object missing required field `"):
        field = reason.split("`")[1]
        return f"{path}.{field}: missing required field"
    if reason.startswith("Object contains unknown field `"):
        field = reason.split("`")[1]
        return f"{path}.{field}: unknown field"
    return f"{path}: {reason}"
