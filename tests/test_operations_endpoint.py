"""The daemon's operations endpoint, end to end: ``josev-hal run`` on the sim board as a child
process, its own mosquitto, a real HTTP client, EVs driven on ``sim/cs``."""

from __future__ import annotations

import json
import os
import stat
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from josev_hal.embedded_broker import EmbeddedBroker
from tests.support.broker import JosevPeer
from tests.support.hal_process import AC, DC, HalProcess, board_text

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def hal(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[HalProcess]:
    with HalProcess(broker, tmp_path / "state").start() as process:
        yield process


def _charging(hal: HalProcess) -> dict:
    hal.sim("plug", cable_a=32)
    hal.sim("charge")
    return hal.wait_evse(
        AC,
        lambda e: (
            e["contactor"]["status"] == "closed"
            and e["connectors"][0]["cp_state"] == "C2"
            and (e["meter"] or {}).get("power_w", 0) > 1000
        ),
    )


def _metrics(hal: HalProcess) -> dict[str, dict[tuple, float]]:
    code, text, headers = hal.request("GET", "/metrics", token=None)
    assert code == 200 and headers["Content-Type"].startswith("text/plain")
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_the_daemon_writes_its_address_and_a_private_token_into_the_state_dir(hal: HalProcess) -> None:
    endpoint = json.loads((hal.state_dir / "operations.json").read_text())
    assert endpoint["url"] == hal.url and endpoint["url"].startswith("http://127.0.0.1:")
    token_file = hal.state_dir / "operations.token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert len(hal.token) >= 32


def test_status_shows_each_sim_evse_with_cp_contactor_meter_and_why_it_may_not_close(
    hal: HalProcess,
) -> None:
    code, status = hal.get("/status", token=None)  # reads on loopback need no token
    assert code == 200
    assert [e["evse_id"] for e in status["evses"]] == [AC, DC]
    assert status["bridge"]["connected"] is True and status["bridge"]["messages_out"] > 0
    assert status["bridge"]["last_error"] is None
    ac = hal.wait_evse(AC, lambda e: e["connectors"][0]["cp_state"] == "A1" and e["meter"]["ok"])
    assert ac["kind"] == "ac" and ac["available"] is True and ac["rcd_tripped"] is False
    assert ac["connectors"][0]["cp_high_v"] == pytest.approx(12.0, abs=0.5)
    assert ac["contactor"] == {"commanded_closed": False, "status": "opened"}
    assert "cp_not_c2_d2" in ac["blockers"] and ac["may_close"] is False
    assert ac["faults"] == []
    assert ac["meter"]["age_s"] < 30 and ac["meter"]["voltage_v"] == pytest.approx([230.0] * 3, abs=5)
    dc = hal.evse(DC)
    assert dc["kind"] == "dc" and "cable_check_not_passed" in dc["blockers"]


def test_status_follows_a_plug_in_and_a_charging_session(hal: HalProcess) -> None:
    hal.sim("plug", cable_a=20)
    plugged = hal.wait_evse(AC, lambda e: e["connectors"][0]["cp_state"] == "B2")
    conn = plugged["connectors"][0]
    assert conn["cable"]["ampacity_a"] == 20 and conn["pwm_duty_percent"] == pytest.approx(20 / 0.6, abs=0.1)
    assert plugged["limit_a"] == 20
    assert plugged["current_limit"]["binding"] == ["cable"] and plugged["current_limit"]["amps"] == 20
    hal.sim("charge")
    charging = hal.wait_evse(AC, lambda e: e["contactor"]["status"] == "closed")
    assert charging["connectors"][0]["cp_state"] == "C2" and charging["blockers"] == []
    hal.sim("unplug")
    hal.wait_evse(
        AC, lambda e: e["contactor"]["status"] == "opened" and e["connectors"][0]["cp_state"] == "A1"
    )


def test_metrics_parse_as_prometheus_text_and_count_what_happened(hal: HalProcess) -> None:
    _charging(hal)
    hal.sim("unplug")
    hal.wait_evse(AC, lambda e: e["contactor"]["status"] == "opened")
    hal.wait_evse(AC, lambda e: e["counters"].get("contactor_operations", 0) >= 2)
    m = _metrics(hal)
    assert m["josev_hal_mqtt_connected"][()] == 1.0
    assert m["josev_hal_uptime_seconds"][()] > 0
    out = m["josev_hal_messages_out_total"]
    assert out[(("message", "cp_status"), ("type", "update"))] >= 3
    assert (("evse", AC),) in m["josev_hal_contactor_operations_total"]
    assert m["josev_hal_contactor_operations_total"][(("evse", AC),)] >= 2
    assert m["josev_hal_cp_state_changes_total"][(("evse", AC),)] >= 3
    # every switching of the mirror contact lands in the histogram
    closes = m["josev_hal_contactor_switch_seconds_count"][(("direction", "close"), ("evse", AC))]
    assert closes >= 1
    # every meter poll lands in the poll latency histogram, by result
    polls = m["josev_hal_meter_poll_seconds_count"][(("evse", AC), ("result", "ok"))]
    assert polls >= 1
    assert m["josev_hal_meter_poll_seconds_sum"][(("evse", AC), ("result", "ok"))] >= 0.0
    assert m["josev_hal_cp_state"][(("connector", "1"), ("evse", AC), ("state", "A1"))] == 1.0
    assert "josev_hal_queue_depth" in m
    # a request from Josev lands in the handler latency histogram
    peer = JosevPeer(hal.broker)
    try:
        answer = peer.request(
            {"id": str(uuid.uuid4()), "name": "cs_parameters", "type": "request", "data": {}}
        )
    finally:
        peer.close()
    assert answer["name"] == "cs_parameters" and answer["type"] == "response" and answer["data"]
    m = _metrics(hal)
    assert m["josev_hal_handler_latency_seconds_count"][()] >= 1
    assert (
        m["josev_hal_handler_latency_seconds_bucket"][(("le", "+Inf"),)]
        == m["josev_hal_handler_latency_seconds_count"][()]
    )
    assert m["josev_hal_handler_latency_seconds_sum"][()] > 0
    assert (("quantile", "0.99"),) in m["josev_hal_handler_latency_recent_seconds"]
    # OpenMetrics for scrapers that ask for it
    req = urllib.request.Request(hal.url + "/metrics", headers={"Accept": "application/openmetrics-text"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        assert resp.read().rstrip().endswith(b"# EOF")


def test_actions_without_or_with_a_wrong_token_are_refused(hal: HalProcess) -> None:
    for token in (None, "0" * 64):
        code, answer = hal.post("/actions/available", {"evse_id": AC, "available": False}, token=token)
        assert code == 401 and "token" in answer["reason"]
    assert hal.evse(AC)["available"] is True
    assert "operator action refused (no or wrong token)" in hal.stderr()


def test_bad_action_bodies_name_the_json_path_and_unknown_evses_are_404(hal: HalProcess) -> None:
    code, answer = hal.post("/actions/available", {"evse_id": AC, "available": "no"})
    assert code == 400 and answer["reason"].startswith("$.available: Expected `bool`")
    code, answer = hal.post("/actions/available", {"evse_id": AC})
    assert code == 400 and answer["reason"] == "$.available: missing required field"
    code, answer = hal.post("/actions/clear-faults", {"evse_id": AC, "typo": 1})
    assert code == 400 and answer["reason"] == "$.typo: unknown field"
    code, answer = hal.request("POST", "/actions/reset-rcd", raw=b"{not json")[:2]
    assert code == 400 and answer["reason"].startswith("$: invalid JSON")
    code, answer = hal.request("POST", "/actions/reset-rcd", raw=b'{"evse_id": "\xff"}')[:2]
    assert code == 400 and answer["reason"].startswith("$: invalid JSON")  # invalid UTF-8
    code, answer = hal.post("/actions/reset-rcd", {"evse_id": "DE*XXX*E9"})
    assert code == 404 and "DE*JHL*E0001" in answer["reason"]
    code, answer = hal.post("/actions/explode", {"evse_id": AC})
    assert code == 404
    code, answer = hal.request("POST", "/actions/reset-rcd", raw=b"x" * 5000)[:2]
    assert code == 413


def test_unlock_under_load_is_refused_by_the_interlock_with_its_reason(hal: HalProcess) -> None:
    _charging(hal)
    code, answer = hal.post("/actions/lock", {"evse_id": AC, "locked": False})
    assert code == 409 and "contactor closed" in answer["reason"]
    entry = hal.evse(AC)
    assert entry["contactor"]["status"] == "closed" and entry["connectors"][0]["cable"]["lock"] == "locked"
    hal.sim("pause")
    hal.wait_evse(AC, lambda e: e["contactor"]["status"] == "opened")
    code, answer = hal.post("/actions/lock", {"evse_id": AC, "locked": False})
    assert code == 200 and answer["lock"] == "unlocked"
    # the unlocked plug keeps the contactor open (the interlock, not the endpoint, says so)
    hal.sim("charge")
    entry = hal.wait_evse(AC, lambda e: e["connectors"][0]["cp_state"] == "C2")
    assert entry["contactor"]["status"] == "opened" and "plug_not_locked" in entry["blockers"]


def test_an_inoperative_evse_never_closes_and_the_change_persists(hal: HalProcess) -> None:
    code, answer = hal.post("/actions/available", {"evse_id": AC, "available": False})
    assert code == 200 and answer["available"] is False
    hal.sim("plug")
    hal.sim("charge")
    entry = hal.wait_evse(AC, lambda e: e["connectors"][0]["cp_state"] in ("F", "C1"))
    assert entry["available"] is False and entry["contactor"]["status"] == "opened"
    persisted = json.loads((hal.state_dir / "availability.json").read_text())
    assert AC in json.dumps(persisted)
    code, answer = hal.post("/actions/available", {"evse_id": AC, "available": True})
    assert code == 200
    hal.wait_evse(AC, lambda e: e["contactor"]["status"] == "closed")
    assert "operator action=available evse=DE*JHL*E0001" in hal.stderr()


def test_reset_rcd_is_refused_while_the_residual_current_flows_and_works_after(hal: HalProcess) -> None:
    _charging(hal)
    hal.sim("rcd_trip", residual_ma=35.0)
    tripped = hal.wait_evse(AC, lambda e: e["rcd_tripped"] and e["contactor"]["status"] == "opened")
    assert "rcd_tripped" in tripped["blockers"] or tripped["status_code"] == "evse_emergency_shutdown"
    code, answer = hal.post("/actions/reset-rcd", {"evse_id": AC})
    assert code == 409 and "still reads tripped" in answer["reason"]
    hal.sim("rcd_clear")
    # manual reset policy: the trip stays latched until the operator resets it
    assert hal.wait_evse(AC, lambda e: e["rcd_tripped"])
    code, answer = hal.post("/actions/reset-rcd", {"evse_id": AC})
    assert code == 200, answer
    hal.wait_evse(AC, lambda e: not e["rcd_tripped"] and e["contactor"]["status"] == "closed")
    assert hal.evse(AC)["counters"]["rcd_trips"] == 1


def test_clear_faults_keeps_a_welded_contactor_latched_until_it_is_repaired(hal: HalProcess) -> None:
    _charging(hal)
    hal.sim("weld_contactor")
    hal.sim("pause")
    welded = hal.wait_evse(AC, lambda e: any(f["key"] == "contactor_welded" for f in e["faults"]))
    assert welded["contactor"]["status"] == "error"
    code, answer = hal.post("/actions/clear-faults", {"evse_id": AC})
    assert (
        code == 409
        and "contactor_welded" in answer["reason"]
        and answer["still_latched"] == ["contactor_welded"]
    )
    hal.sim("unweld_contactor")
    # the repaired contacts open after their delay: the technician retries until the core agrees
    deadline = time.monotonic() + 10
    while (result := hal.post("/actions/clear-faults", {"evse_id": AC}))[0] != 200:
        assert time.monotonic() < deadline, result
        time.sleep(0.1)
    assert "contactor_welded" in result[1]["cleared"]
    assert not any(f["key"] == "contactor_welded" for f in hal.evse(AC)["faults"])


def test_wear_counters_survive_a_restart_of_the_daemon(broker: EmbeddedBroker, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with HalProcess(broker, state).start() as first:
        _charging(first)
        first.wait_evse(AC, lambda e: e["counters"].get("energy_wh", 0) > 0)
        first.sim("unplug")
        before = first.wait_evse(
            AC,
            lambda e: e["counters"].get("contactor_operations", 0) >= 2 and e["counters"]["lock_cycles"] >= 1,
        )["counters"]
    assert json.loads((state / "operations" / "counters.json").read_text())["evses"][AC]
    with HalProcess(broker, state).start() as second:
        after = second.evse(AC)["counters"]
        for key in ("contactor_operations", "contactor_closings", "lock_cycles", "cp_state_changes"):
            assert after[key] >= before[key] > 0, key
        assert after["energy_wh"] >= before["energy_wh"] > 0
        m = _metrics(second)
        assert m["josev_hal_contactor_operations_total"][(("evse", AC),)] >= before["contactor_operations"]


def test_a_port_in_use_is_logged_and_the_station_runs_without_its_endpoint(
    broker: EmbeddedBroker, tmp_path: Path, hal: HalProcess
) -> None:
    taken = hal.url.rsplit(":", 1)[1]
    other = HalProcess(broker, tmp_path / "other", board_text(listen=f"127.0.0.1:{taken}"))
    other.board_path.write_text(
        board_text(
            listen=f"127.0.0.1:{taken}",
            replace={'client_id = "josev-hal-sim"': 'client_id = "josev-hal-sim-2"'},
        )
    )
    with pytest.raises(TimeoutError):
        other.start(timeout_s=6)
    try:
        assert other.proc is not None and other.proc.poll() is None  # still running, charging possible
        assert "operations endpoint not started" in other.stderr()
    finally:
        other.stop()


def test_off_loopback_every_request_needs_the_token(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with HalProcess(broker, tmp_path / "state", board_text(listen="0.0.0.0:0")).start() as process:
        assert process.url.startswith("http://0.0.0.0:")
        code, answer = process.get("/status", token=None)
        assert code == 401 and "token" in answer["reason"]
        code, answer = process.get("/metrics", token="wrong")
        assert code == 401
        code, status = process.get("/status")
        assert code == 200 and len(status["evses"]) == 2


def test_rcd_self_test_runs_through_the_core_and_a_failing_rcd_blocks_charging(hal: HalProcess) -> None:
    # the core may also test on its own (its self-test policy): count from here, at least ours
    before = hal.evse(AC)["counters"]
    code, answer = hal.post("/actions/rcd-test", {"evse_id": AC})
    assert code == 200 and answer["passed"] is True, answer
    _charging(hal)
    code, answer = hal.post("/actions/rcd-test", {"evse_id": AC})
    assert code == 409 and answer["reason"] == "refused: contactor closed"
    assert hal.evse(AC)["contactor"]["status"] == "closed"  # a refused test changes nothing
    hal.sim("unplug")
    hal.wait_evse(AC, lambda e: e["contactor"]["status"] == "opened")
    hal.sim("rcd_self_test", passes=False)
    code, answer = hal.post("/actions/rcd-test", {"evse_id": AC})
    assert code == 409 and answer["passed"] is False and answer["reason"].startswith("RCD self-test failed")
    hal.sim("plug")
    hal.sim("charge")
    blocked = hal.wait_evse(AC, lambda e: e["connectors"][0]["cp_state"] in ("C1", "C2"))
    assert blocked["contactor"]["status"] == "opened" and "rcd_self_test_failed" in blocked["blockers"]
    ran = before.get("rcd_self_tests", 0) + 2
    counters = hal.wait_evse(AC, lambda e: e["counters"].get("rcd_self_tests", 0) >= ran)["counters"]
    assert counters["rcd_self_tests_failed"] >= before.get("rcd_self_tests_failed", 0) + 1
    m = _metrics(hal)
    assert m["josev_hal_rcd_self_test_results_total"][(("evse", AC), ("result", "failed"))] >= 1
    assert m["josev_hal_rcd_self_test_results_total"][(("evse", AC), ("result", "passed"))] >= 1


def test_malformed_http_is_answered_and_the_endpoint_keeps_serving(hal: HalProcess) -> None:
    import socket

    host, port = hal.url.removeprefix("http://").rsplit(":", 1)
    for length in ("-5", "many"):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                f"POST /actions/reset-rcd HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
            )
            answer = b""
            while chunk := sock.recv(4096):  # the server closes after answering
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400") and b"invalid Content-Length" in answer
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"BREW /coffee HTCPCP/1.0\r\n\r\n")
        assert b"400" in sock.recv(4096)  # bad request syntax
    assert hal.get("/status")[0] == 200


def test_with_operations_disabled_the_daemon_runs_without_an_endpoint(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    process = HalProcess(broker, tmp_path / "state", board_text(extra="enabled = false"))
    with process, pytest.raises(TimeoutError):
        process.start(timeout_s=6)
    # start() gave up waiting for the endpoint; the daemon itself was running until stop()
    assert "operations endpoint disabled" in process.stderr()
    assert not (tmp_path / "state" / "operations.json").exists()
