"""The first-run experience through the installed console script: demo, run, emulate-josev."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from tests.support.cli import josev_hal_command
from tests.support.contract import Contract


def run_cli(*args: str, timeout: float = 120.0, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*josev_hal_command(), *args], capture_output=True, text=True, timeout=timeout, **kwargs
    )


@pytest.mark.parametrize("dc", [False, True], ids=["ac", "dc"])
def test_demo_fast_completes_a_session_with_no_contract_violation(dc: bool) -> None:
    proc = run_cli("demo", "--fast", "--embedded-broker", *(["--dc"] if dc else []))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "PASSED" in out
    assert "contract violations" in out and "│ 0 " in out.split("contract violations")[1][:40]
    assert "cp_status.update" in out and "cs_contactor_status.update" in out
    assert ("cable_check.response" in out) is dc


def test_demo_summary_counts_the_whole_sessions_energy_and_names_fit_their_column() -> None:
    import re

    proc = run_cli("demo", "--fast")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = proc.stdout
    evse = "DE*JHL*E0001"
    values = re.findall(
        rf"meter_values\.(response|update) +evse_id={re.escape(evse)} total_active_energy_imported=([0-9.]+)",
        out,
    )
    responses = [float(v) for kind, v in values if kind == "response"]
    start = next(v for v in responses if v is not None)  # read when the contactor closed
    last = float(values[-1][1])  # the update after the contactor opened
    m = re.search(r"energy delivered\s*│\s*([0-9.]+) Wh", out)
    assert m, out[-2000:]
    assert float(m.group(1)) == pytest.approx(last - start, abs=0.051) and last - start > 0
    # A message name longer than the column still leaves a space before its fields.
    assert not re.search(r"\.(request|response|update)evse_id=", out)


def test_demo_fails_when_the_cs_breaks_the_contract() -> None:
    proc = run_cli("demo", "--fast", "--inject-violation")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "FAILED" in proc.stdout
    assert "$.data.state: expected one of A1" in proc.stdout


def test_demo_is_private_by_default_and_publishes_nothing_to_the_station_broker(
    broker: EmbeddedBroker,
) -> None:
    # ``broker`` stands in for the station's production broker (tests never touch 1883): it is
    # where $JOSEV_HAL_BROKER points, as it would on a station.
    station = _Recorder(broker.port, topic="#")
    try:
        env = {**os.environ, "JOSEV_HAL_BROKER": broker.url}
        proc = run_cli("demo", "--fast", env=env)
        time.sleep(0.5)  # anything published there would have arrived by now
    finally:
        station.close()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "private broker: mosquitto" in proc.stdout or "private broker: amqtt" in proc.stdout
    assert f":{broker.port}" not in proc.stdout
    assert station.messages == []


def test_demo_with_broker_says_that_it_publishes_there(broker: EmbeddedBroker) -> None:
    seen = _Recorder(broker.port, topic="#")
    try:
        proc = run_cli("demo", "--fast", "--broker", broker.url)
    finally:
        seen.close()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert f"publishing a simulated Josev conversation to {broker.url}" in proc.stdout
    assert seen.messages, "the named broker must carry the conversation"


def test_demo_with_a_named_broker_that_does_not_answer_is_a_runtime_error() -> None:
    from josev_hal.embedded_broker import free_port

    port = free_port()
    proc = run_cli("demo", "--fast", "--broker", f"mqtt://127.0.0.1:{port}")
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"no broker answers at mqtt://127.0.0.1:{port}" in proc.stderr
    assert "private broker" not in proc.stdout


class _Recorder:
    """Collects everything on cs/josev."""

    def __init__(self, url_port: int, topic: str = "cs/josev") -> None:
        self.messages: list[bytes] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:6]}")
        self.client.on_message = lambda c, u, m: self.messages.append(bytes(m.payload))
        self.client.connect("127.0.0.1", url_port)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        # Only a confirmed subscription makes "saw nothing" mean something.
        assert subscribed.wait(10), "subscription not confirmed"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_run_answers_the_emulator_and_every_message_satisfies_the_contract(
    broker: EmbeddedBroker, tmp_path: Path, contract: Contract
) -> None:
    recorder = _Recorder(broker.port)
    env = {**os.environ, "JOSEV_HAL_BROKER": broker.url}
    hal = subprocess.Popen(
        [
            *josev_hal_command(),
            "run",
            "--state-dir",
            str(tmp_path / "state"),
            "--wait-broker",
            "10",
            "--log-level",
            "INFO",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        assert hal.poll() is None, hal.stderr.read() if hal.stderr else ""
        proc = run_cli("emulate-josev", "--broker", broker.url, "--scenario", "ac")
        assert proc.returncode == 0, proc.stdout[-4000:]
    finally:
        hal.send_signal(signal.SIGTERM)
        _out, err = hal.communicate(timeout=20)
        recorder.close()
    assert hal.returncode == 0, err[-3000:]
    assert "stopped" in err
    assert recorder.messages
    for raw in recorder.messages:
        doc = json.loads(raw)
        if (doc.get("name") is not None and doc["name"] in {"cp_status", "meter_values"}) or True:
            contract.validate(doc)
    # Clean shutdown: the contactor is reported open in the final state.
    contactor = [json.loads(m) for m in recorder.messages if b'"cs_contactor_status"' in m]
    assert contactor and contactor[-1]["data"]["status"] == "opened"


class _BrokenCs:
    """A deliberately broken CS: answers cs_parameters with a wrong count, ignores the rest, and
    publishes an update with a bad enum and one with an unknown key."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"broken-{uuid.uuid4().hex[:6]}"
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("josev/cs", qos=1)
        self.client.loop_start()
        self._sent_junk = threading.Event()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        req = json.loads(msg.payload)
        if req.get("type") != "request":
            return
        if req["name"] == "cs_parameters":
            data = {"sw_version": "1", "hw_version": "1", "number_of_evses": 2, "parameters": []}
            self._pub({"id": req["id"], "name": "cs_parameters", "type": "response", "data": data})
        if not self._sent_junk.is_set():
            self._sent_junk.set()
            bad = {"evse_id": "E", "connector_id": 1, "state": "Z"}
            self._pub({"id": str(uuid.uuid4()), "name": "cp_status", "type": "update", "data": bad})
            extra = {"evse_id": "E", "status": "closed", "colour": "red"}
            self._pub(
                {"id": str(uuid.uuid4()), "name": "cs_contactor_status", "type": "update", "data": extra}
            )

    def _pub(self, doc: dict[str, Any]) -> None:
        self.client.publish("cs/josev", json.dumps(doc), qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_emulate_josev_reports_every_violation_of_a_broken_cs(broker: EmbeddedBroker) -> None:
    cs = _BrokenCs(broker.port)
    try:
        proc = run_cli("emulate-josev", "--broker", broker.url, "--scenario", "startup", "--timeout", "1")
    finally:
        cs.close()
    assert proc.returncode == 1
    out = proc.stdout
    assert "number_of_evses=2 but 0 EVSE entries" in out
    assert "$.data.state: expected one of" in out
    assert "$.data.colour: unknown field" in out
    assert "cs_status_and_limits.request: no response within 1.0 s" in out
    assert "device_model.request: no response within 1.0 s" in out


def test_emulate_josev_without_a_broker_is_a_runtime_error() -> None:
    from josev_hal.embedded_broker import free_port

    proc = run_cli("emulate-josev", "--broker", f"mqtt://127.0.0.1:{free_port()}", "--timeout", "1")
    assert proc.returncode == 3
    assert "cannot reach the broker" in proc.stderr


def test_help_lists_every_command_in_one_coherent_page() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("run", "demo", "emulate-josev", "check", "plugins", "probe", "validate", "schemas"):
        assert command in proc.stdout, command
    for command in ("run", "demo", "emulate-josev", "validate", "schemas"):
        sub = run_cli(command, "--help")
        assert (sub.returncode == 0 and "Exit codes" in sub.stdout) or command == "schemas", command
