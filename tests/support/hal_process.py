"""``josev-hal run`` on the sim board as a child process, with its operations endpoint.

The board is the built-in sim board with ``[operations] listen = "127.0.0.1:0"`` (any free port;
the daemon writes the address into its state dir, where the tests -- like the CLI -- find it).
EVs are driven the way a user drives them: JSON commands on the MQTT topic ``sim/cs``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from josev_hal_sim import sim_board_text

from josev_hal.embedded_broker import EmbeddedBroker

#: what the sim plugin logs for every sim/cs command it applied
_SIM_APPLIED = "sim command applied"
AC = "DE*JHL*E0001"
DC = "DE*JHL*E0002"


def board_text(listen: str = "127.0.0.1:0", extra: str = "", replace: dict[str, str] | None = None) -> str:
    """The sim board with an ``[operations]`` table (top-level tables go before the EVSEs)."""
    text = sim_board_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    head, sep, tail = text.partition("[[evse]]")
    return f'{head}[operations]\nlisten = "{listen}"\n{extra}\n{sep}{tail}'


class HalProcess:
    """One daemon; ``start()`` waits until ``/status`` answers and says the broker session is up."""

    def __init__(self, broker: EmbeddedBroker, state_dir: Path, board: str | None = None) -> None:
        self.broker = broker
        self.state_dir = state_dir
        self.board_path = state_dir.parent / f"{state_dir.name}-board.toml"
        self.board_path.write_text(board if board is not None else board_text())
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._mqtt: mqtt.Client | None = None

    @property
    def token(self) -> str:
        return (self.state_dir / "operations.token").read_text().strip()

    def start(self, timeout_s: float = 30.0) -> HalProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        endpoint = self.state_dir / "operations.json"
        if endpoint.exists():
            endpoint.unlink()  # a file left by a killed run must not be mistaken for this one
        argv = [sys.executable, "-m", "josev_hal.cli", "run", "--board", str(self.board_path)]
        argv += ["--broker", self.broker.url, "--state-dir", str(self.state_dir), "--free-charging"]
        argv += ["--wait-broker", "10"]
        env = {**os.environ, "JOSEV_HAL_DISABLE_PLUGIN_AUTOLOAD": ""}
        # stderr to a file, not a pipe: nobody reads a pipe, and a full one would block the HAL.
        with (self.state_dir.parent / f"{self.state_dir.name}-stderr.txt").open("ab") as stderr:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"josev-hal run exited {self.proc.returncode}: {self.stderr()[-3000:]}")
            if endpoint.exists():
                try:
                    self.url = json.loads(endpoint.read_text())["url"]
                    code, status = self.get("/status")
                    # Ready once the MQTT session is up: the HAL subscribes to sim/cs on its
                    # persistent session, and a command published before that is not for it.
                    if code == 200 and status.get("bridge", {}).get("connected"):
                        return self
                except (ValueError, KeyError, OSError):
                    pass
            time.sleep(0.05)
        raise TimeoutError(f"the operations endpoint did not come up: {self.stderr()[-3000:]}")

    def stderr(self) -> str:
        path = self.state_dir.parent / f"{self.state_dir.name}-stderr.txt"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> int:
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()
            self._mqtt = None
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self.proc = None
        return code

    # -- HTTP ----------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "default",
        raw: bytes | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token == "default":
            token = self.token
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                payload, code, headers = resp.read(), resp.status, dict(resp.headers)
        except urllib.error.HTTPError as exc:
            payload, code, headers = exc.read(), exc.code, dict(exc.headers)
        if headers.get("Content-Type", "").startswith("application/json"):
            return code, json.loads(payload), headers
        return code, payload.decode(), headers

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        code, body, _ = self.request("GET", path, **kw)
        return code, body

    def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        code, answer, _ = self.request("POST", path, body, **kw)
        return code, answer

    def evse(self, evse_id: str) -> dict[str, Any]:
        code, status = self.get("/status")
        assert code == 200, status
        return next(e for e in status["evses"] if e["evse_id"] == evse_id)

    def wait_evse(self, evse_id: str, predicate: Any, timeout_s: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            entry = self.evse(evse_id)
            if predicate(entry):
                return entry
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout_s}s: {json.dumps(entry, indent=1)}")
            time.sleep(0.05)

    # -- the simulated EVs ---------------------------------------------------------------------
    def sim(self, action: str, evse_id: str = AC, **fields: Any) -> None:
        if self._mqtt is None:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-driver-{os.getpid()}")
            client.connect("127.0.0.1", self.broker.port, keepalive=10)
            client.loop_start()
            self._mqtt = client
        command = {"evse_id": evse_id, "action": action, **fields}
        applied = self.stderr().count(_SIM_APPLIED)
        self._mqtt.publish("sim/cs", json.dumps(command), qos=1).wait_for_publish(5)
        # The HAL applies sim/cs commands on its own thread, some time after the broker's PUBACK:
        # wait for its log line, so the next step (an HTTP action, say) sees the changed sim.
        deadline = time.monotonic() + 10.0
        while self.stderr().count(_SIM_APPLIED) <= applied:
            if time.monotonic() > deadline:
                tail = self.stderr()[-2000:]
                raise AssertionError(f"sim command {command} not applied within 10 s: {tail}")
            time.sleep(0.02)

    def __enter__(self) -> HalProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
