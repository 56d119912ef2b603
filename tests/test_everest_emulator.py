"""The EVerest emulator itself: it answers discovery like EVerest's API modules, and against a
deliberately broken fake board it reports every violation (schema, PowerOn ordering, error
pairing) instead of passing. The fake board is a plain paho client on a real mosquitto."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.everest import messages as m
from josev_hal.everest.emulator import BSP, EmulatedModules, EverestEmulator, run_scenario

MODS = EmulatedModules(evse_id="DE*X*E1", evse_board_support="bsp_x", powermeter="pm_x")
PREFIX = "everest_api/1/evse_board_support/bsp_x/m2e"


class FakeBoard:
    """A paho client that publishes what we tell it and records what it receives."""

    def __init__(self, broker: EmbeddedBroker, *topics: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fake-{uuid.uuid4().hex[:6]}")
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in topics] or [("none", 1)])
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self._ready.wait(5)

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((msg.topic, bytes(msg.payload)))

    def pub(self, topic: str, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, body, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_discovery_gets_one_reply_per_module_with_its_monitoring_parameters(broker: EmbeddedBroker) -> None:
    fake = FakeBoard(broker, "reply/#", "everest_api/ready_beacon")
    try:
        with EverestEmulator(broker.url, [MODS], heartbeat_ms=200, communication_check_to_s=4):
            fake.pub("everest_api/discover", {"headers": {"replyTo": "reply/all"}})
            fake.pub("everest_api/query-modules/powermeter", {"headers": {"replyTo": "reply/pm"}})
            deadline = time.monotonic() + 5
            while (
                time.monotonic() < deadline
                and len([t for t, _ in fake.received if t.startswith("reply/")]) < 3
            ):
                time.sleep(0.02)
        replies = [(t, json.loads(p)) for t, p in fake.received if t.startswith("reply/")]
        assert sorted((t, r["apis"][0]["module_id"]) for t, r in replies) == [
            ("reply/all", "bsp_x"),
            ("reply/all", "pm_x"),
            ("reply/pm", "pm_x"),
        ]
        monitoring = replies[0][1]["apis"][0]["communication_monitoring"]
        assert monitoring["heartbeat_period_ms"] == 200 and monitoring["communication_check_period_s"] == 4
        assert any(t == "everest_api/ready_beacon" for t, _ in fake.received)
    finally:
        fake.close()


def test_a_broken_board_is_reported_with_every_violation(broker: EmbeddedBroker) -> None:
    fake = FakeBoard(broker)
    try:
        with EverestEmulator(broker.url, [MODS], heartbeat_ms=200) as emu:
            fake.pub(f"{PREFIX}/communication_check", True)
            fake.pub("everest_api/1/powermeter/pm_x/m2e/communication_check", True)
            fake.pub(f"{PREFIX}/capabilities", {"max_current_A_import": 32})  # required keys missing
            fake.pub(f"{PREFIX}/event", {"event": "B"})
            fake.pub(f"{PREFIX}/event", {"event": "PowerOn"})  # in B, without allow_power_on
            fake.pub(f"{PREFIX}/clear_error", {"type": "MREC14PilotFault"})  # never raised
            fake.pub(f"{PREFIX}/raise_error", {"type": "DiodeFault"})
            fake.pub(f"{PREFIX}/raise_error", {"type": "DiodeFault"})  # twice
            fake.pub(f"{PREFIX}/event", {"event": "Disconnected"})  # EV-side only
            fake.pub(f"{PREFIX}/nonsense", 1)
            fake.pub(f"{PREFIX}/event", {"event": "C"})
            emu.send(
                BSP,
                "bsp_x",
                "allow_power_on",
                m.PowerOnOff(allow_power_on=True, reason=m.PowerOnReason.FULL_POWER_CHARGING),
            )
            time.sleep(0.2)
            fake.pub(f"{PREFIX}/event", {"event": "PowerOn"})  # fine: C and allowed
            fake.pub(f"{PREFIX}/event", {"event": "B"})  # ... but no PowerOff follows
            result = run_scenario(emu, "startup", MODS, step_timeout_s=2)
            emu.checker.finish(time.monotonic() + 2)
        text = "\n".join(emu.checker.violations)
        assert not result.ok
        assert "capabilities: payload violates the schema" in text
        assert "PowerOn without allow_power_on" in text
        assert "cleared but never raised" in text
        assert "raised twice" in text
        assert "Disconnected is EV-side only" in text
        assert "has no m2e message 'nonsense'" in text
        assert "no PowerOff within" in text
        assert text.count("PowerOn") == 1, "the PowerOn in C after allow_power_on is not a violation"
    finally:
        fake.close()


def test_a_board_that_stops_its_communication_check_is_reported(broker: EmbeddedBroker) -> None:
    fake = FakeBoard(broker)
    try:
        with EverestEmulator(broker.url, [MODS], heartbeat_ms=200, communication_check_to_s=1) as emu:
            fake.pub(f"{PREFIX}/communication_check", True)
            emu.wait_for(lambda r: r.name == "communication_check", 5)
            emu.checker.finish(time.monotonic() + 1.5)
        assert any("no communication_check" in v for v in emu.checker.violations)
    finally:
        fake.close()
