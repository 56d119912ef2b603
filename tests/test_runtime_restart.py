"""Issue #13 item 4 end to end: a restarted ``josev-hal run`` never acts on what was sent before it
started (a ``cp_pwm`` request and a ``sim/cs`` command queued by the broker for the previous
run's persistent session), and still handles what is sent while the *broker* restarts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from tests.support.broker import JosevPeer
from tests.support.hal_process import AC, HalProcess

pytestmark = pytest.mark.timeout(120)


def _cp_pwm(evse_id: str) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "name": "cp_pwm",
        "type": "request",
        "data": {"evse_id": evse_id, "hlc": True, "error_state": False, "fault_state": False},
    }


def test_requests_and_sim_commands_queued_before_the_hal_started_are_never_acted_on(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    if not broker.sessions_survive_restart:
        pytest.skip("the amqtt fallback has no persistent sessions to leave anything in")
    peer = JosevPeer(broker)
    state = tmp_path / "state"
    try:
        first = HalProcess(broker, state).start()
        assert first.stop() == 0
        # The HAL is gone; its persistent session at the broker collects these:
        stale = _cp_pwm(AC)
        peer.send(stale)
        peer.send(json.dumps({"evse_id": AC, "action": "plug", "cable_a": 32}).encode(), topic="sim/cs")

        second = HalProcess(broker, state).start()
        try:
            fresh = _cp_pwm("DE*JHL*E0002")  # a request sent now is handled
            answer = peer.request(fresh, timeout=10)
            assert answer["data"]["evse_id"] == "DE*JHL*E0002"
            entry = second.evse(AC)
            log = second.stderr()
        finally:
            second.stop()
    finally:
        peer.close()
    assert stale["id"] not in {m["id"] for m in peer.messages()}, "the stale cp_pwm was answered"
    assert entry["connectors"][0]["cp_state"].startswith("A"), entry  # the stale plug was not applied
    run2 = log[log.rindex("mqtt cleared any session") :]
    assert "cp output pwm" not in run2 and "action=plug" not in run2
