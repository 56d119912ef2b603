"""What the HAL logs when the broker goes away: the operator reads a cause, not paho's codes."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from josev_hal.bridge import Bridge
from josev_hal.bridge.connection import disconnect_reason
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.mqtt_settings import MqttSettings


@pytest.mark.parametrize(
    ("from_server", "code", "expected"),
    [
        (False, "Unspecified error", "connection lost (closed without a DISCONNECT)"),
        (False, "Keep alive timeout", "keep-alive timeout (no answer from the broker)"),
        (False, "Success", "disconnected by the HAL"),
        (False, "Protocol error", "Protocol error"),
        # MQTT 5 brokers say why they close; then their code is the cause, whatever it is
        (True, "Unspecified error", "broker sent DISCONNECT: Unspecified error"),
        (True, "Server shutting down", "broker sent DISCONNECT: Server shutting down"),
    ],
)
def test_paho_disconnect_codes_are_reported_as_their_cause(
    from_server: bool, code: str, expected: str
) -> None:
    flags = SimpleNamespace(is_disconnect_packet_from_server=from_server)
    assert disconnect_reason(flags, ReasonCode(PacketTypes.DISCONNECT, code)) == expected


def test_a_killed_broker_is_logged_as_a_lost_connection_not_as_an_error_code(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    bridge = Bridge(MqttSettings(broker=broker.url, reconnect_min_s=0.05, reconnect_max_s=0.2))
    try:
        bridge.start(wait_s=10)
        caplog.set_level(logging.WARNING, logger="josev_hal.bridge")
        broker.kill()  # SIGKILL: the socket closes, no DISCONNECT
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            "mqtt offline" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.02)
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("josev_hal.bridge")]
        offline = [line for line in lines if "mqtt offline" in line]
        assert offline, lines
        assert "connection lost (closed without a DISCONNECT)" in offline[0]
        assert not [line for line in lines if "Unspecified error" in line]
    finally:
        bridge.stop()
