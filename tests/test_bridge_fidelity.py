"""Josev fidelity at the bridge, against a real mosquitto: a readable request with unreadable data
is answered at once with the response's error status, requests in the wrong direction and JSON
that is not UTF-8 are dropped (counted, one rate-limited log line), never handled."""

from __future__ import annotations

import enum
import json
from typing import Any

import msgspec
import pytest

from josev_hal.bridge.core import _REJECT_LOG_BURST
from josev_hal.messages import SPECS, MessageType
from josev_hal.messages import payloads as p
from josev_hal.messages.codec import _INVALID_STATUSES
from tests.support.broker import JosevPeer
from tests.support.contract import Contract
from tests.test_bridge import BridgeFactory, Recorder, example

INCOMING_REQUESTS = sorted(n for (n, t), s in SPECS.items() if t == "request" and s.incoming)


def _status_field(name: str) -> tuple[str, str] | None:
    """(field, the status an invalid request gets) of ``name``'s response, if it has one."""
    cls = SPECS[(name, "response")].payload_cls
    if cls is p.OcppMessageResponse:
        return ("message_type", "CallError")
    for f in msgspec.structs.fields(cls):
        if f.name in ("status", "result") and isinstance(f.type, type) and issubclass(f.type, enum.Enum):
            values = [m.value for m in f.type]
            return (f.name, next(s for s in _INVALID_STATUSES if s in values))
    return None


ANSWERED = [n for n in INCOMING_REQUESTS if _status_field(n) is not None]
SILENT = [n for n in INCOMING_REQUESTS if _status_field(n) is None]


def _invalid(contract: Contract, name: str) -> dict[str, Any]:
    """The contract example of ``name`` with one field of the wrong JSON type."""
    doc = example(contract, name, "request")
    data = dict(doc["data"])
    key = next((k for k in data if k not in ("evse_id", "connector_id", "ocpp_version")), None)
    # An open object without fields cannot hold a wrong field: then data is not an object.
    doc["data"] = ["not an object"] if key is None else {**data, key: [[1]]}
    return doc


def test_the_answered_and_silent_sets_cover_every_request_josev_sends() -> None:
    assert set(ANSWERED) | set(SILENT) == set(INCOMING_REQUESTS)
    assert {"cp_pwm", "cs_connector", "reset", "change_availability", "ocpp_message"} <= set(ANSWERED)
    assert "meter_values" in SILENT  # its response has no status to say "invalid" with


@pytest.mark.parametrize("name", ANSWERED)
def test_invalid_data_in_a_request_with_an_error_status_is_answered_with_it_at_once(
    name: str, bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    handler = Recorder()
    bridge = bridge_factory({(name, "request"): handler})
    request = _invalid(contract, name)

    response = josev_peer.request(request)

    field, status = _status_field(name)  # type: ignore[misc]
    assert response["name"] == name and response["type"] == "response"
    assert response["data"][field] == status
    contract.validate(response)
    assert not handler.calls, "a handler ran for invalid data"
    assert bridge.stats().rejects == {"schema_violation": 1}


@pytest.mark.parametrize("name", SILENT)
def test_invalid_data_in_a_request_without_an_error_status_is_not_answered(
    name: str, bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract
) -> None:
    handler = Recorder(p.CpPwmResponse(evse_id="DE*SEV*E123456789", status=p.CpPwmStatus.VALID))
    bridge = bridge_factory({(name, "request"): Recorder(), ("cp_pwm", "request"): handler})
    josev_peer.send(_invalid(contract, name))
    probe = example(contract, "cp_pwm", "request")

    josev_peer.request(probe)  # answered after everything sent before it was processed

    assert [m["id"] for m in josev_peer.messages()] == [probe["id"]]
    assert bridge.stats().rejects == {"schema_violation": 1}


def test_a_device_model_reset_request_from_josev_is_dropped_as_wrong_direction(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    assert not SPECS[("device_model_reset", "request")].incoming
    assert SPECS[("device_model_reset", "request")].outgoing
    handler = Recorder(p.CpPwmResponse(evse_id="DE*SEV*E123456789", status=p.CpPwmStatus.VALID))
    bridge = bridge_factory({("cp_pwm", "request"): handler})
    for _ in range(25):
        josev_peer.send(example(contract, "device_model_reset", "request"))
    probe = example(contract, "cp_pwm", "request")

    josev_peer.request(probe)

    assert [m["id"] for m in josev_peer.messages()] == [probe["id"]]
    assert bridge.stats().rejects == {"wrong_direction": 25}
    lines = [r for r in caplog.records if "wrong_direction" in r.getMessage()]
    assert 1 <= len(lines) <= _REJECT_LOG_BURST + 1 < 25, "reject logging is not rate-limited"


def test_a_device_model_reset_request_cannot_be_registered_as_a_josev_request(
    bridge_factory: BridgeFactory,
) -> None:
    from josev_hal.errors import ConfigError

    bridge = bridge_factory(start=False)
    with pytest.raises(ConfigError, match="published by the CS"):
        bridge.register("device_model_reset", MessageType.REQUEST, Recorder())


def test_invalid_utf8_in_a_key_is_dropped_as_malformed_never_acted_on(
    bridge_factory: BridgeFactory, josev_peer: JosevPeer, contract: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    lock = Recorder(
        p.CsConnectorResponse(evse_id="DE*SEV*E123456789", connector_id=1, status=p.CableLockStatus.LOCKED)
    )
    bridge = bridge_factory({("cs_connector", "request"): lock})
    for bad in (b',"\xc3(x":1', b',"x":"\xc3("'):
        for _ in range(15):
            doc = example(contract, "cs_connector", "request")
            raw = json.dumps(doc).encode()
            josev_peer.send(raw[:-2] + bad + b"}}")
    probe = example(contract, "cs_connector", "request")

    josev_peer.request(probe)

    assert [m.id for m in lock.calls] == [probe["id"]], "a request with invalid UTF-8 was acted on"
    assert [m["id"] for m in josev_peer.messages()] == [probe["id"]]
    assert bridge.stats().rejects == {"malformed_json": 30}
    rejects = [r for r in caplog.records if "malformed_json" in r.getMessage()]
    assert 1 <= len(rejects) <= _REJECT_LOG_BURST + 1 < 30, "reject logging is not rate-limited"
    assert "invalid UTF-8" in rejects[0].getMessage()
    assert not any(r.exc_info for r in caplog.records), "a traceback was logged for bad input"
