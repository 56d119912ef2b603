"""The bridge against a real mosquitto: dispatch, responses, errors, hostile input, CS requests."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest

from josev_hal.bridge import Bridge
from josev_hal.errors import ConfigError, MessageError, RequestTimeout
from josev_hal.messages import Message, decode
from josev_hal.messages import payloads as p
from tests.support.broker import JosevPeer
from tests.support.contract import Contract

BridgeFactory = Callable[..., Bridge]


def example(contract: Contract, name: str, type_: str) -> dict[str, Any]:
    """The contract's example envelope for (name, type), with a fresh id (the project's own
    example when the official contract is absent)."""
    return contract.example(name, type_)


def example_payload(contract: Contract, name: str, type_: str) -> Any:
    return decode(json.dumps(example(contract, name, type_)), strict=True).data


class Recorder:
    """A handler that records every call (to prove that no handler ran for bad input)."""

    def __init__(self, result: Any = None) -> None:
        self.calls: list[Message] = []
        self.result = result
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> Any:
        with self._lock:
            self.calls.append(message)
        return self.result


def assert_all_valid(peer: JosevPeer, contract: Contract) -> None:
    for msg in peer.messages():
        contract.validate(msg)


@pytest.fixture(autouse=True)
def every_published_message_satisfies_the_contract(
    request: pytest.FixtureRequest, contract: Contract
) -> Iterator[None]:
    """After each test that used the Josev peer: everything the bridge published on ``cs/josev``
    validates against the contract's JSON Schemas (jsonschema, Draft 2020-12)."""
    peer = request.getfixturevalue("josev_peer") if "josev_peer" in request.fixturenames else None
    yield
    if peer is not None:
        assert_all_valid(peer, contract)


REQUEST_TYPES = [
    "cs_status_and_limits",
    "cp_pwm",
    "reset",
    "meter_values",
    "cs_contactor_status",
    "cs_parameters",
]


@pytest.mark.parametrize("name", REQUEST_TYPES)
def test_request_is_answered_with_its_id_name_and_the_handler_payload(
    name: str, bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    answer = example_payload(contract, name, "response")
    handler = Recorder(answer)
    bridge_factory({(name, "request"): handler})
    request = example(contract, name, "request")

    response = josev_peer.request(request)

    assert response["id"] == request["id"]
    assert response["name"] == name
    assert response["data"] == json.loads(msgspec.json.encode(answer))
    assert [m.id for m in handler.calls] == [request["id"]]
    assert_all_valid(josev_peer, contract)


def test_concurrent_requests_are_answered_in_any_order_with_the_right_ids(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    count = 12
    # The first request takes longest: if handlers ran one after another the responses would
    # come back in request order; concurrent workers answer the last request first.
    delays = {f"DE*ACM*E{i:04d}": (count - i) * 0.03 for i in range(count)}

    def cp_pwm(message: Message) -> p.CpPwmResponse:
        time.sleep(delays[message.data.evse_id])
        return p.CpPwmResponse(evse_id=message.data.evse_id, status=p.CpPwmStatus.VALID)

    bridge = bridge_factory({("cp_pwm", "request"): cp_pwm})
    sent = []
    for evse_id in delays:
        req = example(contract, "cp_pwm", "request")
        req["data"]["evse_id"] = evse_id
        sent.append(req)
        josev_peer.send(req)

    msgs = josev_peer.wait_for(lambda ms: len(ms) >= count)

    by_id = {m["id"]: m for m in msgs}
    assert set(by_id) == {r["id"] for r in sent}
    for req in sent:
        assert by_id[req["id"]]["data"]["evse_id"] == req["data"]["evse_id"]
    arrival = [m["id"] for m in msgs]
    assert arrival != [r["id"] for r in sent], (
        "responses came back strictly in order: handlers did not overlap"
    )
    assert bridge.stats().messages_out["cp_pwm.response"] == count
    assert_all_valid(josev_peer, contract)


def test_handler_that_raises_gets_an_error_response_with_the_request_id(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(message: Message) -> Any:
        raise RuntimeError("relay board did not answer")

    bridge = bridge_factory({("reset", "request"): broken})
    request = example(contract, "reset", "request")

    response = josev_peer.request(request)

    assert response["id"] == request["id"]
    assert response["data"] == {"status": "rejected"}
    assert bridge.stats().handler_errors == 1
    assert any(
        "handler for reset.request" in r.getMessage() and "RuntimeError" in r.getMessage()
        for r in caplog.records
    )
    assert_all_valid(josev_peer, contract)


def test_handler_returning_the_wrong_payload_gets_an_error_response(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    # A cp_pwm payload is no answer to change_availability: a bug, answered as an error.
    wrong = p.CpPwmResponse(evse_id="DE*ACM*E0001", status=p.CpPwmStatus.VALID)
    bridge = bridge_factory({("change_availability", "request"): Recorder(wrong)})
    request = example(contract, "change_availability", "request")

    response = josev_peer.request(request)

    assert response["id"] == request["id"]
    assert response["data"]["status"] == "rejected"
    assert bridge.stats().handler_errors == 1


def test_handler_exceeding_its_deadline_gets_an_error_response_and_its_late_answer_is_dropped(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    release = threading.Event()
    answer = example_payload(contract, "cs_contactor_status", "response")

    def slow(message: Message) -> Any:
        release.wait(5)
        return answer

    bridge = bridge_factory({("cs_contactor_status", "request"): slow}, handler_deadline_s=0.2)
    request = example(contract, "cs_contactor_status", "request")

    response = josev_peer.request(request)
    release.set()

    assert response["id"] == request["id"]
    assert response["data"]["status"] == "error"
    deadline = time.monotonic() + 5
    while bridge.stats().late_results_dropped == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = bridge.stats()
    assert stats.handler_timeouts == 1
    assert stats.late_results_dropped == 1
    # Exactly one answer went out for the request: the error, not the late result.
    assert [m["id"] for m in josev_peer.messages()] == [request["id"]]
    assert_all_valid(josev_peer, contract)


def test_request_without_a_handler_is_answered_with_an_error_and_counted(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    bridge = bridge_factory()
    request = example(contract, "stop_charging", "request")

    response = josev_peer.request(request)

    assert response["id"] == request["id"]
    assert response["data"]["status"] == "rejected"
    assert bridge.stats().rejects == {"no_handler": 1}
    assert_all_valid(josev_peer, contract)


def test_registering_a_message_josev_never_sends_is_a_config_error(bridge_factory: BridgeFactory) -> None:
    bridge = bridge_factory(start=False)
    with pytest.raises(ConfigError, match="published by the CS"):
        bridge.register("meter_values", "update", Recorder())
    with pytest.raises(ConfigError, match="not a message"):
        bridge.register("no_such_message", "request", Recorder())
    bridge.register("reset", "request", Recorder())
    with pytest.raises(ConfigError, match="already registered"):
        bridge.register("reset", "request", Recorder())


def test_update_handler_sees_josev_updates_in_arrival_order(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    handler = Recorder()
    bridge_factory({("websocket_status", "update"): handler})
    sent = []
    for _ in range(30):
        update = example(contract, "websocket_status", "update")
        sent.append(update["id"])
        josev_peer.send(update)

    deadline = time.monotonic() + 5
    while len(handler.calls) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.01)

    assert [m.id for m in handler.calls] == sent


def test_cs_request_to_josev_returns_the_response_with_the_same_id(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    bridge = bridge_factory()
    results: dict[str, Message] = {}

    def ask(evse_id: str) -> None:
        results[evse_id] = bridge.request(
            p.AuthorizationRequest(evse_id=evse_id, id_token="04A1B2C3", token_type=p.TokenType.ISO14443),
            timeout=5,
        )

    threads = [threading.Thread(target=ask, args=(f"DE*ACM*E000{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    requests = josev_peer.wait_for(lambda ms: len(ms) == 2)
    # Josev answers the second request first, each with the id of the one it answers.
    for req in reversed(requests):
        status = "accepted" if req["data"]["evse_id"].endswith("0") else "rejected"
        josev_peer.send(
            {"id": req["id"], "name": "authorization", "type": "response", "data": {"status": status}}
        )
    for t in threads:
        t.join(5)

    assert results["DE*ACM*E0000"].data.status == p.AuthorizationStatus.ACCEPTED
    assert results["DE*ACM*E0001"].data.status == p.AuthorizationStatus.REJECTED
    assert bridge.stats().messages_in["authorization.response"] == 2
    assert_all_valid(josev_peer, contract)


def test_cs_request_without_an_answer_raises_request_timeout(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer
) -> None:
    bridge = bridge_factory()

    with pytest.raises(RequestTimeout, match=r"websocket_status request id=.* within 0.2s"):
        bridge.request(p.WebsocketStatusRequest(), timeout=0.2)

    assert bridge.stats().request_timeouts == 1


def test_publish_update_rejects_an_invalid_payload_before_sending(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer
) -> None:
    bridge = bridge_factory()
    with pytest.raises(MessageError):
        bridge.publish_update(p.CpStatusUpdate(evse_id="DE*ACM*E0001", connector_id=1, state="Z9"))  # type: ignore[arg-type]
    with pytest.raises(MessageError, match="not an update"):
        bridge.publish_update(p.WebsocketStatusRequest())
    bridge.publish_update(p.CpStatusUpdate(evse_id="DE*ACM*E0001", connector_id=1, state=p.CpState.B1))

    msgs = josev_peer.wait_for(lambda ms: len(ms) == 1)
    assert msgs[0]["data"] == {"evse_id": "DE*ACM*E0001", "connector_id": 1, "state": "B1"}


def test_raw_subscription_receives_non_josev_topics(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer
) -> None:
    got: list[tuple[str, bytes]] = []
    bridge = bridge_factory()
    bridge.subscribe_raw("sim/#", lambda topic, payload: got.append((topic, payload)))
    time.sleep(0.1)  # the SUBACK travels on the network thread
    josev_peer.send(b'{"cp":"C"}', topic="sim/cs")

    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)

    assert got == [("sim/cs", b'{"cp":"C"}')]
    with pytest.raises(ConfigError, match="overlaps"):
        bridge.subscribe_raw("josev/#", lambda t, b: None)


def test_stats_count_in_out_and_latency_and_format_as_one_line(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    answer = example_payload(contract, "cs_status_and_limits", "response")
    bridge = bridge_factory({("cs_status_and_limits", "request"): Recorder(answer)})
    for _ in range(5):
        josev_peer.request(example(contract, "cs_status_and_limits", "request"))
    josev_peer.send(b"not json")
    josev_peer.request(example(contract, "cs_status_and_limits", "request"))

    stats = bridge.stats()
    line = bridge.format_stats()

    assert stats.connected
    assert stats.messages_in == {"cs_status_and_limits.request": 6}
    assert stats.messages_out == {"cs_status_and_limits.response": 6}
    assert stats.rejects == {"malformed_json": 1}
    assert stats.handler_latency.count == 6
    assert 0 < stats.handler_latency.p50_ms <= stats.handler_latency.p99_ms <= stats.handler_latency.max_ms
    assert "\n" not in line
    assert "in=6 out=6 rejects=1[malformed_json:1]" in line
    assert "connected=yes" in line


# --------------------------------------------------------------------------------------------
# hostile input
# --------------------------------------------------------------------------------------------


def _hostile_payloads(contract: Contract, rng: random.Random) -> list[tuple[str, bytes]]:
    """(expected reject reason, payload) x 1000, deterministic for the seed."""
    valid_pwm = example(contract, "cp_pwm", "request")
    out: list[tuple[str, bytes]] = []

    def env(**overrides: Any) -> dict[str, Any]:
        doc = dict(valid_pwm, id=str(uuid.uuid4()), data=dict(valid_pwm["data"]))
        doc.update(overrides)
        return doc

    def dumps(doc: Any) -> bytes:
        return json.dumps(doc).encode()

    generators: list[Callable[[], tuple[str, bytes]]] = [
        # random bytes (0xff can never start JSON)
        lambda: ("malformed_json", b"\xff" + rng.randbytes(rng.randint(0, 300))),
        # truncated valid message
        lambda: ("malformed_json", dumps(env())[: rng.randint(1, 60)]),
        # JSON that is not an object
        lambda: ("invalid_envelope", dumps(rng.choice([1, "x", None, True, [1, 2], 3.5]))),
        # deep nesting, as the whole message and inside data
        lambda: ("invalid_envelope", b"[" * 5000 + b"]" * 5000),
        lambda: (
            "schema_violation",
            dumps(env(data={"evse_id": "E", "hlc": [[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]})),
        ),
        lambda: ("malformed_json", b'{"id":"' + str(uuid.uuid4()).encode() + b'","data":' + b"[" * 100_000),
        # huge strings: over the size limit, and within it in places that cannot take them
        lambda: ("too_large", dumps(env(data={"evse_id": "E" * 300_000, "hlc": True}))),
        lambda: ("unknown_message", dumps(env(name="x" * 100_000))),
        lambda: ("invalid_envelope", dumps(env(id="9" * 50_000))),
        # wrong types in data
        lambda: ("schema_violation", dumps(env(data=dict(valid_pwm["data"], hlc="yes")))),
        lambda: ("schema_violation", dumps(env(data=dict(valid_pwm["data"], evse_id=42)))),
        lambda: ("schema_violation", dumps(env(data={}))),
        lambda: ("schema_violation", dumps(env(data=[1, 2, 3]))),
        lambda: ("schema_violation", dumps(env(data=None))),
        # wrong envelope
        lambda: ("invalid_envelope", dumps({k: v for k, v in env().items() if k != "data"})),
        lambda: ("invalid_envelope", dumps(env(extra=1))),
        lambda: ("invalid_envelope", dumps(env(id="not-a-uuid"))),
        lambda: ("invalid_envelope", dumps(env(type="command"))),
        lambda: ("invalid_envelope", dumps(env(name=7))),
        # names the contract does not know (or not with that type)
        lambda: ("unknown_message", dumps(env(name=f"cs_{rng.randint(0, 10**6)}"))),
        lambda: ("unknown_message", dumps(env(name="reset", type="update"))),
        # a response nobody waits for
        lambda: (
            "unexpected_response",
            dumps(env(name="authorization", type="response", data={"status": "accepted"})),
        ),
        # a message only the CS publishes, sent to the CS
        lambda: (
            "wrong_direction",
            dumps(
                env(name="cp_status", type="update", data={"evse_id": "E", "connector_id": 1, "state": "A1"})
            ),
        ),
    ]
    for i in range(1000):
        out.append(generators[i % len(generators)]())
    rng.shuffle(out)
    return out


def test_a_thousand_hostile_payloads_are_rejected_counted_and_the_bridge_keeps_serving(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    pwm = Recorder(p.CpPwmResponse(evse_id="DE*SEV*E123456789", status=p.CpPwmStatus.VALID))
    others = {
        key: Recorder(example_payload(contract, key[0], "response"))
        for key in [("reset", "request"), ("cs_status_and_limits", "request"), ("meter_values", "request")]
    }
    auth_update = Recorder()
    bridge = bridge_factory({("cp_pwm", "request"): pwm, ("authorization", "update"): auth_update, **others})
    hostile = _hostile_payloads(contract, random.Random(20261126))
    expected: dict[str, int] = {}
    for reason, _ in hostile:
        expected[reason] = expected.get(reason, 0) + 1

    for _, payload in hostile:
        josev_peer.client.publish("josev/cs", payload, qos=1)
    valid = example(contract, "cp_pwm", "request")
    response = josev_peer.request(valid, timeout=30)

    assert response["id"] == valid["id"]
    assert [m.id for m in pwm.calls] == [valid["id"]], "a handler ran for hostile input"
    assert all(not r.calls for r in others.values()) and not auth_update.calls
    assert bridge.stats().rejects == expected
    assert sum(expected.values()) == 1000
    # Besides the one valid answer, only readable cp_pwm requests with unreadable data were
    # answered, at once and with "invalid" (#15 item 4); bad input never reached a handler.
    answerable = {json.loads(raw)["id"] for reason, raw in hostile if reason == "schema_violation"}
    out = josev_peer.messages()
    assert out[-1]["id"] == valid["id"]
    assert {m["id"] for m in out[:-1]} == answerable and len(out) == len(answerable) + 1
    assert all(m["name"] == "cp_pwm" and m["data"]["status"] == "invalid" for m in out[:-1])


def test_a_stopped_bridge_can_be_started_again_and_answers_requests(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    answer = example_payload(contract, "reset", "response")
    handler = Recorder(answer)
    bridge = bridge_factory({("reset", "request"): handler})
    bridge.stop()
    assert not bridge.connected

    bridge.start(wait_s=10)
    request = example(contract, "reset", "request")
    response = josev_peer.request(request)

    assert response["id"] == request["id"]
    assert [m.id for m in handler.calls] == [request["id"]]


def test_a_request_whose_deadline_passes_while_queued_is_answered_with_an_error_and_never_handled(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    release = threading.Event()
    calls: list[str] = []
    answer = example_payload(contract, "cs_contactor_status", "response")

    def blocking(message: Message) -> Any:
        calls.append(message.id)
        release.wait(5)
        return answer

    # One worker: the second request waits behind the first until both deadlines have passed.
    bridge = bridge_factory({("cs_contactor_status", "request"): blocking}, handler_deadline_s=0.2, workers=1)
    first = example(contract, "cs_contactor_status", "request")
    second = example(contract, "cs_contactor_status", "request")
    josev_peer.send(first)
    josev_peer.send(second)
    msgs = josev_peer.wait_for(lambda ms: len(ms) == 2)
    release.set()
    deadline = time.monotonic() + 5
    while bridge.stats().late_results_dropped < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    assert {m["id"] for m in msgs} == {first["id"], second["id"]}
    assert all(m["data"]["status"] == "error" for m in msgs)
    assert calls == [first["id"]], "a handler ran after Josev had been told the request failed"
    assert bridge.stats().handler_timeouts == 2
    assert bridge.stats().late_results_dropped == 2
    assert len(josev_peer.messages()) == 2
