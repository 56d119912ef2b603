"""A private MQTT broker for ``josev-hal demo`` and for the test-suite.

:class:`EmbeddedBroker` starts its own ``mosquitto`` (``/usr/sbin/mosquitto`` or the first one on
``PATH``) on a free port of 127.0.0.1, with a configuration file generated into a private
directory. It never touches a system broker, so the demo and tests can run next to a production
mosquitto on port 1883.

* **Persistence** is on (``persistence true``) with the database in the private directory, and
  :meth:`EmbeddedBroker.restart` reuses the same port and directory, so persistent sessions
  (``clean_session=False``) and their queued QoS 1 messages survive a restart exactly as they
  do on a station whose broker is restarted by systemd.
* **TLS**: pass :class:`BrokerTls` (server certificate, key, CA) to add a second, TLS-only
  listener; :attr:`EmbeddedBroker.tls_url` is its ``mqtts://`` URL.
* **Passwords**: pass ``users={"name": "secret"}`` to turn anonymous access off and generate a
  password file (with ``mosquitto_passwd`` when installed, otherwise with the same PBKDF2-SHA512
  hash format mosquitto 2 reads).

Without mosquitto the class falls back to an in-process amqtt broker (plain and TLS listeners,
anonymous only, sessions kept in memory) and says so in :attr:`EmbeddedBroker.kind`,
:attr:`EmbeddedBroker.is_fallback` and a warning in the log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from josev_hal.errors import ConfigError, HalError

__all__ = [
    "BrokerTls",
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "answers_mqtt",
    "find_mosquitto",
    "free_port",
    "port_open",
]

log = logging.getLogger(__name__)

BrokerKind = Literal["mosquitto", "amqtt"]

# How long start() waits for the listener to accept connections before giving up.
_START_TIMEOUT_S = 10.0


class EmbeddedBrokerError(HalError):
    """The private broker could not be started (the message includes mosquitto's own output)."""


@dataclass(frozen=True)
class BrokerTls:
    """Files for the TLS listener. ``require_client_cert`` makes the broker demand a client
    certificate signed by ``ca_file`` (mutual TLS)."""

    cert_file: str | os.PathLike[str]
    key_file: str | os.PathLike[str]
    ca_file: str | os.PathLike[str]
    require_client_cert: bool = False


def find_mosquitto() -> str | None:
    """Path of the mosquitto executable: ``$JOSEV_HAL_MOSQUITTO``, ``/usr/sbin/mosquitto`` or ``PATH``."""
    explicit = os.environ.get("JOSEV_HAL_MOSQUITTO")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("mosquitto")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def answers_mqtt(host: str, port: int) -> bool:
    """True when an MQTT broker (not just any listener) answers CONNECT on host:port."""
    client_id = b"josev-hal-probe"
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(bytes([0x10, len(body)]) + body)
            answer = sock.recv(4)
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")  # DISCONNECT
            return answer[:1] == b"\x20"  # CONNACK (accepted or not: it is a broker)
    except OSError:
        return False


def _mosquitto_password_hash(password: str) -> str:
    """A mosquitto 2 password-file hash (``$7$`` = PBKDF2-SHA512, 101 iterations, 12-byte salt)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    return f"$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the broker when the thread that started it exits (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: stop() / close() remain the way to end the broker


class EmbeddedBroker:
    """A private MQTT broker on a free port of 127.0.0.1.

    Use as a context manager or call :meth:`start` / :meth:`stop`. :meth:`stop` followed by
    :meth:`start` (or :meth:`restart`) brings the broker back on the same port with the same
    persistence database; :meth:`kill` simulates a crash (SIGKILL, nothing saved since the last
    autosave).

    The mosquitto process is tied to the thread that started it (Linux ``PR_SET_PDEATHSIG``): if
    that thread or the whole process dies without :meth:`stop`, the broker is terminated too, so
    start it from a long-lived thread (normally the main thread).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls: BrokerTls | None = None,
        tls_port: int | None = None,
        users: Mapping[str, str] | None = None,
        persistence: bool = True,
        workdir: str | os.PathLike[str] | None = None,
        prefer: Literal["auto", "mosquitto", "amqtt"] = "auto",
        mosquitto: str | None = None,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self._auto_ports = port is None and tls_port is None
        self._started_once = False
        self._port = port or free_port(host)
        self._tls = tls
        self._tls_port = (tls_port or free_port(host)) if tls else None
        self._users = dict(users or {})
        self._persistence = persistence
        self._verbose = verbose
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="josev-hal-broker-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        exe = mosquitto or (find_mosquitto() if prefer != "amqtt" else None)
        if exe is None and prefer == "mosquitto":
            raise EmbeddedBrokerError(
                "mosquitto was requested but is not installed (looked in /usr/sbin, PATH)"
            )
        self._exe = exe
        self.kind: BrokerKind = "mosquitto" if exe else "amqtt"
        if self.kind == "amqtt":
            log.warning(
                "embedded broker: mosquitto not found, falling back to in-process amqtt "
                "(sessions do not survive restart, no password file)"
            )
            if self._users:
                raise ConfigError("embedded broker: password authentication needs mosquitto (amqtt fallback)")
        self._proc: subprocess.Popen[bytes] | None = None
        self._amqtt: _AmqttThread | None = None
        self._log_file = self.workdir / "mosquitto.log"

    # -- public properties -------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Port of the plain listener."""
        return self._port

    @property
    def tls_port(self) -> int | None:
        """Port of the TLS listener, ``None`` without TLS."""
        return self._tls_port

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>`` of the plain listener."""
        return f"mqtt://{self.host}:{self._port}"

    @property
    def tls_url(self) -> str:
        """``mqtts://127.0.0.1:<tls_port>`` of the TLS listener."""
        if self._tls_port is None:
            raise ConfigError("embedded broker has no TLS listener (pass tls=BrokerTls(...))")
        return f"mqtts://{self.host}:{self._tls_port}"

    @property
    def is_fallback(self) -> bool:
        """True when this is the in-process amqtt broker rather than mosquitto."""
        return self.kind == "amqtt"

    @property
    def sessions_survive_restart(self) -> bool:
        """Whether persistent sessions and queued QoS 1 messages survive :meth:`restart`."""
        return self.kind == "mosquitto" and self._persistence

    @property
    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self._amqtt is not None

    @property
    def log_text(self) -> str:
        """mosquitto's log so far (empty for amqtt); handy in assertion messages."""
        try:
            return self._log_file.read_text(errors="replace")
        except OSError:
            return ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until the listeners accept connections."""
        if self.running:
            return self
        for attempt in range(3):
            try:
                if self.kind == "mosquitto":
                    self._start_mosquitto()
                else:
                    self._amqtt = _AmqttThread(self._amqtt_config())
                    self._amqtt.start()
                self._wait_listening()
                break
            except Exception as exc:
                # free_port() can only pick a port that is free *now*; on a busy machine another
                # process may take it before the broker binds. Pick new ports (first start only:
                # restart() must keep its port so that clients find the broker again).
                in_use = "in use" in str(exc).lower()
                if not (in_use and self._auto_ports and not self._started_once and attempt < 2):
                    raise
                self.stop()
                self._port = free_port(self.host)
                self._tls_port = free_port(self.host) if self._tls else None
                log.info("embedded broker: port taken, retrying on %d", self._port)
        self._started_once = True
        log.info("embedded broker up kind=%s url=%s tls_port=%s", self.kind, self.url, self._tls_port)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop gracefully (SIGTERM: mosquitto writes its persistence database first)."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._amqtt is not None:
            self._amqtt.stop()
            self._amqtt = None
        self._wait_port_free()

    def kill(self) -> None:
        """Crash the broker (SIGKILL). State since the last autosave is lost, as on power loss."""
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.kill()
            proc.wait()
            self._wait_port_free()
        else:
            self.stop()

    def restart(self) -> EmbeddedBroker:
        """Stop and start again on the same port(s) with the same persistence database."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and remove the private directory (when this object created it)."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddedBroker(kind={self.kind!r}, url={self.url!r}, running={self.running})"

    # -- mosquitto ---------------------------------------------------------------------------

    def _config_text(self) -> str:
        lines = [
            "# generated by josev_hal.embedded_broker",
            # Run as whoever started us: as root mosquitto would otherwise switch to the user
            # "mosquitto", which cannot write the private (0700) directory.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "per_listener_settings false",
            f"allow_anonymous {'false' if self._users else 'true'}",
            f"log_dest file {self._log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            # Queue generously for offline persistent sessions: the default of 1000 would drop
            # updates of a subscriber that is away for a while.
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            # Without it Nagle's algorithm meets delayed ACKs and a request/response round trip
            # takes ~40-90 ms instead of well under one (recommended for station brokers too).
            "set_tcp_nodelay true",
        ]
        if self._verbose:
            lines.append("log_type all")
        if self._persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "persistence_file mosquitto.db",
                # Save often so that even kill() loses little; a graceful stop always saves.
                "autosave_interval 1",
            ]
        if self._users:
            lines.append(f"password_file {self._write_password_file()}")
        lines.append(f"listener {self._port} {self.host}")
        if self._tls is not None:
            lines += [
                f"listener {self._tls_port} {self.host}",
                f"certfile {Path(self._tls.cert_file).resolve()}",
                f"keyfile {Path(self._tls.key_file).resolve()}",
                f"cafile {Path(self._tls.ca_file).resolve()}",
                f"require_certificate {'true' if self._tls.require_client_cert else 'false'}",
            ]
        return "\n".join(lines) + "\n"

    def _write_password_file(self) -> Path:
        path = self.workdir / "passwd"
        passwd_tool = shutil.which("mosquitto_passwd") or (
            "/usr/bin/mosquitto_passwd" if os.access("/usr/bin/mosquitto_passwd", os.X_OK) else None
        )
        path.write_text("")
        path.chmod(0o600)
        if passwd_tool:
            for user, password in self._users.items():
                subprocess.run(
                    [passwd_tool, "-b", str(path), user, password], check=True, capture_output=True
                )
        else:
            path.write_text(
                "".join(f"{user}:{_mosquitto_password_hash(pw)}\n" for user, pw in self._users.items())
            )
        return path

    def _start_mosquitto(self) -> None:
        assert self._exe is not None
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self._config_text())
        self._proc = subprocess.Popen(
            [self._exe, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Own process group: a Ctrl-C on the demo's terminal reaches josev-hal, which then
            # stops the broker in order, rather than the broker dying first.
            start_new_session=True,
            # ...but if josev-hal is killed outright, the private broker must not outlive it.
            preexec_fn=_die_with_parent,
        )

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        ports = [self._port] + ([self._tls_port] if self._tls_port else [])
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                stderr = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self._proc = None
                raise EmbeddedBrokerError(
                    f"mosquitto exited at start-up: {stderr.strip()} {self.log_text.strip()}".strip()
                )
            # The plain listener must answer MQTT (a bare port check would also accept whoever
            # grabbed the port before us); the TLS listener only has to accept connections.
            if answers_mqtt(self.host, self._port) and all(port_open(self.host, p) for p in ports[1:]):
                return
            time.sleep(0.02)
        self.stop()
        raise EmbeddedBrokerError(
            f"{self.kind} did not listen on {self.host}:{ports} within {_START_TIMEOUT_S}s"
        )

    def _wait_port_free(self) -> None:
        # restart() re-binds the same port; wait until the old listener is really gone.
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline and port_open(self.host, self._port):
            time.sleep(0.02)

    # -- amqtt fallback ----------------------------------------------------------------------

    def _amqtt_config(self) -> dict[str, Any]:
        listeners: dict[str, Any] = {"default": {"type": "tcp", "bind": f"{self.host}:{self._port}"}}
        if self._tls is not None:
            listeners["tls"] = {
                "type": "tcp",
                "bind": f"{self.host}:{self._tls_port}",
                "ssl": True,
                "certfile": str(self._tls.cert_file),
                "keyfile": str(self._tls.key_file),
                "cafile": str(self._tls.ca_file),
            }
        return {
            "listeners": listeners,
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }


async def _cancel_other_tasks() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _AmqttThread:
    """amqtt's asyncio broker on its own thread and event loop."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt-broker", daemon=True)
        self._broker: Any = None

    def start(self) -> None:
        from amqtt.broker import Broker  # imported lazily: only the fallback needs it

        self._thread.start()

        async def _start() -> Any:
            broker = Broker(self._config)
            await broker.start()
            return broker

        self._broker = asyncio.run_coroutine_threadsafe(_start(), self._loop).result(_START_TIMEOUT_S)

    def stop(self) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(_START_TIMEOUT_S)
            # amqtt's shutdown leaves client connections open; cancel their tasks so the sockets
            # close and clients notice at once, as they would with a stopped mosquitto.
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(_cancel_other_tasks(), self._loop).result(_START_TIMEOUT_S)
            # ...and make sure the listeners are gone even if amqtt's shutdown stopped half-way,
            # so that restart() can bind the same port again.
            for server in list(getattr(self._broker, "_servers", {}).values()):
                instance = getattr(server, "instance", None)
                if instance is not None:
                    self._loop.call_soon_threadsafe(instance.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_START_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()
