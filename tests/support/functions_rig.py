"""A complete station for the station-function tests: the sim board profile, real sim drivers,
the real :class:`Station` and bridge on a private mosquitto, the functions installed with
``josev_hal.functions.install`` and a :class:`JosevPeer` playing Josev.

Nothing is faked above the bus level: requests travel as JSON over the broker, the contactor and
lock follow the sim physics, the RFID reader is the sim reader. Each rig gets its own sim world
registry (real clock) and its own state dir, and can be "restarted" (everything torn down and
built again on the same state dir) to prove persistence.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from josev_hal_sim import RealClock, SimWorld, WorldRegistry, set_default_registry, sim_board_text

from josev_hal.board import Board
from josev_hal.bridge import Bridge
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.functions import Functions, install
from josev_hal.functions.config import FirmwareSettings, FunctionsSettings, LogsSettings, ResetSettings
from josev_hal.mqtt_settings import MqttSettings
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text
from josev_hal.station import Station
from tests.support.broker import JosevPeer

AC = "DE*JHL*E0001"
DC = "DE*JHL*E0002"

DEVICE_MODEL_TOML = """
[device_model]
ocpp_csms_url = "ws://csms.example:9000/ocpp"
security_profile = 1
identity = "SIM-0001"
basic_auth_password_file = "{password_file}"
default_message_timeout_s = 30
"""


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, step: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)


def _without_table(text: str, table: str) -> str:
    """``text`` without the top-level ``[table]`` (replaced by the rig's own version)."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            skipping = stripped.split("#")[0].strip() == f"[{table}]"
        if not skipping:
            out.append(line)
    return "".join(out)


def request_doc(name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": name, "type": "request", "data": data or {}}


class FunctionsRig:
    def __init__(
        self,
        broker: EmbeddedBroker,
        state_dir: Path,
        *,
        reset: ResetSettings | None = None,
        firmware: FirmwareSettings | None = None,
        logs: LogsSettings | None = None,
        extra_plugins: tuple[Any, ...] = (),
        peer: JosevPeer | None = None,
        extra_toml: str = "",
    ) -> None:
        self.broker = broker
        self.state_dir = state_dir
        self.restarts: list[str] = []
        self.settings = FunctionsSettings(
            state_dir=state_dir,
            reset=reset or ResetSettings(delay_s=0.05),
            firmware=firmware or FirmwareSettings(timeout_s=2.0, default_retry_interval_s=0.1),
            logs=logs or LogsSettings(timeout_s=2.0, default_retry_interval_s=0.1),
        )
        self.extra_plugins = extra_plugins
        self.extra_toml = extra_toml
        self.password_file = state_dir.parent / "ocpp.pass"
        self.password_file.write_text("s3cret\n")
        self.peer = peer or JosevPeer(broker)
        self._own_peer = peer is None
        self._build()

    def _build(self) -> None:
        self.registry = WorldRegistry(RealClock())
        self._previous_registry = set_default_registry(self.registry)
        self.pm = get_plugin_manager(extra_plugins=self.extra_plugins)
        text = _without_table(sim_board_text(), "device_model")
        text += DEVICE_MODEL_TOML.format(password_file=self.password_file) + self.extra_toml
        self.profile = load_profile_text(text, "sim.toml", self.pm)
        self.board = Board.build(self.profile, self.pm)
        self.board.setup()
        self.bridge = Bridge(
            MqttSettings(
                broker=self.broker.url,
                client_id=f"josev-hal-fn-{uuid.uuid4().hex[:8]}",
                reconnect_min_s=0.05,
                reconnect_max_s=0.5,
                request_timeout_s=5.0,
                handler_deadline_s=10.0,
            )
        )
        self.station = Station(self.profile, self.board, self.bridge)
        self.station.register()
        self.functions: Functions = install(
            self.station,
            self.bridge,
            self.pm,
            self.profile,
            settings=self.settings,
            restart_hal=self._restart,
        )
        self.bridge.start(wait_s=10)
        self.station.start()

    def _restart(self) -> None:
        self.restarts.append(time.strftime("%H:%M:%S"))

    def world(self, evse_id: str = AC) -> SimWorld:
        world = self.registry.find(evse_id)
        assert world is not None
        return world

    def controller(self, evse_id: str = AC) -> Any:
        return self.station.controllers[evse_id]

    def request(self, name: str, data: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a request as Josev and return the response envelope (dict)."""
        return self.peer.request(request_doc(name, data), timeout)

    def updates(self, name: str) -> list[dict[str, Any]]:
        return [m for m in self.peer.messages() if m.get("name") == name and m.get("type") == "update"]

    def send_update(self, name: str, data: dict[str, Any]) -> None:
        self.peer.send({"id": str(uuid.uuid4()), "name": name, "type": "update", "data": data})

    def start_transaction(self, evse_id: str = AC, transaction_id: str = "tx-1") -> None:
        self.send_update(
            "transaction_status", {"transaction_id": transaction_id, "evse_id": evse_id, "status": "started"}
        )
        wait_until(lambda: self.controller(evse_id).is_transaction_active())

    def end_transaction(self, evse_id: str = AC, transaction_id: str = "tx-1") -> None:
        self.send_update(
            "transaction_status", {"transaction_id": transaction_id, "evse_id": evse_id, "status": "ended"}
        )
        wait_until(lambda: not self.controller(evse_id).is_transaction_active())

    def teardown(self) -> None:
        """Stop everything except the broker and the peer (a HAL process exit)."""
        self.functions.close()
        self.station.stop()
        self.bridge.stop()
        self.board.release()
        set_default_registry(self._previous_registry)
        self.registry.clear()

    def restart(self) -> None:
        """A restart of the HAL on the same state dir."""
        self.teardown()
        self._build()

    def close(self) -> None:
        self.teardown()
        if self._own_peer:
            self.peer.close()
