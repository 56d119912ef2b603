"""The message layer: encoding, strict decoding, generated schemas, `josev-hal validate`; every message
checked against the contract the tests have (the official one, else the generated schemas). The
tests that need the official contract are in tests/test_oracle_josev.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from josev_hal.messages import (
    SPECS,
    Message,
    MessageError,
    MessageType,
    UnknownMessageError,
    decode,
    encode,
    set_incoming_lenient,
)
from josev_hal.messages import (
    payloads as p,
)
from tests.strategies import payloads
from tests.support.cli import josev_hal_command
from tests.support.contract import Contract

REPO = Path(__file__).resolve().parents[1]


def test_encode_is_compact_and_omits_unset_fields() -> None:
    msg = Message.update(p.CpStatusUpdate(evse_id="DE*JHL*E0001", connector_id=1, state=p.CpState.B2))
    out = encode(msg)
    assert b" " not in out
    assert b"null" not in out and b"max_voltage" not in out
    assert list(json.loads(out)) == ["id", "name", "type", "data"]


def test_response_carries_the_request_id_and_name() -> None:
    req = Message.request(p.StopChargingRequest(evse_id="E"))
    resp = Message.response_to(req, p.StopChargingResponse(evse_id="E", status=p.AcceptedRejected.ACCEPTED))
    assert (resp.id, resp.name, resp.type) == (req.id, "stop_charging", MessageType.RESPONSE)
    with pytest.raises(TypeError, match="does not answer"):
        Message.response_to(req, p.CpPwmResponse(evse_id="E", status=p.CpPwmStatus.VALID))


def test_invalid_enum_error_names_path_and_allowed_values() -> None:
    raw = (
        b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"cp_status","type":"update",'
        b'"data":{"evse_id":"E","connector_id":1,"state":"X9"}}'
    )
    with pytest.raises(MessageError) as info:
        decode(raw)
    assert str(info.value) == '$.data.state: expected one of A1, A2, B1, B2, C1, C2, D1, D2, E, F, got "X9"'
    assert info.value.name == "cp_status" and info.value.msg_id == "6f1c1a52-1111-4a4a-9c9c-111111111111"


@pytest.mark.parametrize(
    ("raw", "path", "reason"),
    [
        (b"{nope", "$", "malformed JSON"),
        (b"[]", "$", "expected `object`, got `array`"),
        (b'{"id":"x","name":"cp_status","type":"update","data":{}}', "$.id", "expected a UUID string"),
        (
            b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"cp_status","type":"update"}',
            "$.data",
            "required field is missing",
        ),
        (
            b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"cp_status","type":"update","data":{},"x":1}',
            "$.x",
            "unknown field",
        ),
        (
            b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"cp_status","type":"update","data":[]}',
            "$.data",
            "expected `object`, got `array`",
        ),
        (
            b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"cp_status","type":"update",'
            b'"data":{"evse_id":"E","state":"A1"}}',
            "$.data.connector_id",
            "required field is missing",
        ),
        (
            b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"cs_status_and_limits","type":"response",'
            b'"data":{"evses":[{"evse_id":"E","status_code":"evse_ready"}]}}',
            "$.data.evses[0]",
            "needs at least one of: ac, ac_bpt, dc, dc_bpt",
        ),
    ],
)
def test_decode_error_names_json_path_and_reason(raw: bytes, path: str, reason: str) -> None:
    with pytest.raises(MessageError) as info:
        decode(raw, strict=True)
    assert info.value.path == path
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"cp_status","type":"update","data":'
        + b"[" * 100_000,
        b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"ocpp_message","type":"request","data":'
        b'{"ocpp_version":"ocpp2.0.1","message_name":"GetVariables","payload":' + b'{"a":' * 50_000 + b"}",
    ],
    ids=["array", "data", "open-object"],
)
def test_absurdly_deep_nesting_is_a_message_error_not_a_crash(raw: bytes) -> None:
    with pytest.raises(MessageError, match=r"nesting too deep|malformed|expected"):
        decode(raw)


def test_unknown_name_type_pair_is_its_own_error() -> None:
    raw = b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"cp_status","type":"request","data":{}}'
    with pytest.raises(UnknownMessageError) as info:
        decode(raw)
    assert info.value.msg_id == "6f1c1a52-1111-4a4a-9c9c-111111111111"
    assert isinstance(info.value, ValueError)


def test_incoming_unknown_keys_are_ignored_only_while_lenient() -> None:
    raw = (
        b'{"id":"6f1c1a52-1111-4a4a-9c9c-111111111111","name":"hlc_charging","type":"update",'
        b'"data":{"evse_id":"E","status":true,"new_field_from_a_newer_josev":1}}'
    )
    if (("hlc_charging", "update")) not in SPECS:  # pragma: no cover - contract guard
        pytest.skip("hlc_charging.update not in the contract")
    try:
        msg = decode(raw)  # the default policy: incoming messages tolerate unknown keys
        assert msg.name == "hlc_charging"
        with pytest.raises(MessageError, match=r"\$\.data\.new_field_from_a_newer_josev: unknown field"):
            decode(raw, strict=True)
        set_incoming_lenient(False)
        with pytest.raises(MessageError):
            decode(raw)
    finally:
        set_incoming_lenient(True)


def test_outgoing_messages_are_always_strict() -> None:
    msg = Message.update(p.CpStatusUpdate(evse_id="E", connector_id=1, state=p.CpState.C2, duty_cycle=150.0))
    with pytest.raises(MessageError, match=r"\$\.data\.duty_cycle"):
        encode(msg)
    # Cross-field rules already refuse to build the payload (msgspec runs __post_init__ on init).
    with pytest.raises(ValueError, match="at least one of"):
        p.ConnectorAndChargingUpdate(evse_id="E", connector_id=1)


def test_encode_refuses_an_id_that_is_not_a_uuid() -> None:
    payload = p.CpStatusUpdate(evse_id="E", connector_id=1, state=p.CpState.A1)
    msg = Message(id='x","name":"evil', name="cp_status", type=MessageType.UPDATE, data=payload)
    with pytest.raises(MessageError, match=r"^\$\.id: expected a UUID string"):
        encode(msg)


def test_a_hand_built_message_is_matched_to_its_payload_by_value() -> None:
    # Message.update() carries the payload's own NAME and the MessageType member; a message built
    # by hand may carry equal strings instead and encodes the same, while a name or type that
    # does not belong to the payload is refused before anything is encoded.
    payload = p.CpStatusUpdate(evse_id="E", connector_id=1, state=p.CpState.A1)
    ident = "6f1c1a52-1111-4a4a-9c9c-111111111111"
    built = Message(id=ident, name="cp_status", type=MessageType.UPDATE, data=payload)
    by_hand = Message(id=ident, name="".join(["cp_", "status"]), type="update", data=payload)  # type: ignore[arg-type]
    assert encode(by_hand) == encode(built)
    for name, type_ in (("evse_status", MessageType.UPDATE), ("cp_status", MessageType.REQUEST)):
        wrong = Message(id=ident, name=name, type=type_, data=payload)
        with pytest.raises(MessageError, match=r"^\$\.data: payload CpStatusUpdate does not match"):
            encode(wrong)


@pytest.mark.parametrize(("name", "type_"), sorted(SPECS), ids=lambda v: str(v))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(data=st.data())
def test_every_struct_round_trips_and_satisfies_the_contract(
    name: str, type_: str, data: st.DataObject, contract: Contract
) -> None:
    cls = SPECS[(name, type_)].payload_cls
    payload = data.draw(payloads(cls))
    msg = Message(id="6f1c1a52-1111-4a4a-9c9c-111111111111", name=name, type=MessageType(type_), data=payload)
    out = encode(msg)
    back = decode(out, strict=True)
    assert back.data == payload
    assert encode(back) == out
    contract.validate(out)


def test_committed_schemas_match_a_fresh_generation() -> None:
    from josev_hal.commands.schemas import generate

    files = generate()
    committed = {p_.name: p_.read_text() for p_ in (REPO / "schemas").glob("*.json")}
    stale = sorted(n for n, text in files.items() if committed.get(n) != text)
    extra = sorted(set(committed) - set(files))
    assert not stale and not extra, (
        f"schemas/ is out of date (stale: {stale}, unexpected: {extra}); "
        "run `josev-hal schemas --out schemas/`"
    )


def test_validate_command_prints_one_verdict_per_line_and_fails_on_any_error(tmp_path: Path) -> None:
    good = json.dumps(
        {
            "id": "6f1c1a52-1111-4a4a-9c9c-111111111111",
            "name": "cp_status",
            "type": "update",
            "data": {"evse_id": "E", "connector_id": 1, "state": "B2"},
        }
    )
    bad = good.replace('"B2"', '"X9"')
    src = tmp_path / "in.jsonl"
    src.write_text(f"{good}\n\n{bad}\n{{broken\n")
    proc = subprocess.run(
        [*josev_hal_command(), "validate", "--jsonl", str(src)], capture_output=True, text=True
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        "ok cp_status.update",
        'error $.data.state: expected one of A1, A2, B1, B2, C1, C2, D1, D2, E, F, got "X9"',
        proc.stdout.splitlines()[2],
    ]
    assert proc.stdout.splitlines()[2].startswith("error $: malformed JSON")
    ok = subprocess.run(
        [*josev_hal_command(), "validate", "--jsonl", "-"], input=good + "\n", capture_output=True, text=True
    )
    assert ok.returncode == 0 and ok.stdout == "ok cp_status.update\n"


def test_msgspec_struct_instances_reject_bad_values_on_decode_only() -> None:
    # Constructing a Struct in Python does not check constraints (msgspec checks on decode);
    # encode() re-validates, which is why outgoing messages are strict.
    payload = p.CpStatusUpdate(evse_id="E", connector_id=1, state=p.CpState.A1, duty_cycle=-1.0)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(payload), type=p.CpStatusUpdate)
