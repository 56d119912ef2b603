"""Josev fidelity of the message layer: patterns behave like the contract's ECMA-262 patterns,
JSON that is not UTF-8 is a message error wherever the bad byte sits, integral floats count as
integers (as JSON Schema says) and come out as ints, and nothing decoded can be encoded into
invalid JSON."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st
from msgspec import Meta
from msgspec import inspect as mi

from josev_hal.errors import MessageError
from josev_hal.messages import SPECS, Message, MessageType, decode, encode
from josev_hal.messages.patterns import (
    DATE_TIME_PATTERN,
    TRANSFER_URL_PATTERN,
    UUID_PATTERN,
    WS_URL_PATTERN,
)
from josev_hal.messages.schema import message_schemas, render
from tests.strategies import payloads
from tests.support.contract import Contract

ID = "6f1c1a52-1111-4a4a-9c9c-111111111111"

# pattern -> (a value it accepts, whether it is anchored at both ends)
KNOWN_PATTERNS: dict[str, tuple[str, bool]] = {
    UUID_PATTERN: (ID, True),
    DATE_TIME_PATTERN: ("2026-12-06T02:03:04.567Z", True),
    WS_URL_PATTERN: ("wss://csms.example.com/ocpp", False),
    TRANSFER_URL_PATTERN: ("https://files.example.com/fw.bin", False),
}

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _patterns(info: mi.Type, seen: set[int]) -> set[str]:
    """Every string pattern reachable from ``info``."""
    found: set[str] = set()
    if isinstance(info, mi.Metadata):
        extra = (info.extra_json_schema or {}).get("pattern")
        return ({extra} if extra else set()) | _patterns(info.type, seen)
    if isinstance(info, mi.StrType) and info.pattern:
        found.add(info.pattern)
    elif isinstance(info, mi.StructType):
        if id(info.cls) in seen:
            return found
        seen.add(id(info.cls))
        for f in info.fields:
            found |= _patterns(f.type, seen)
    elif isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        found |= _patterns(info.item_type, seen)
    elif isinstance(info, mi.DictType):
        found |= _patterns(info.key_type, seen) | _patterns(info.value_type, seen)
    elif isinstance(info, mi.UnionType):
        for t in info.types:
            found |= _patterns(t, seen)
    return found


def _matches(pattern: str, value: str) -> bool:
    try:
        msgspec.convert(value, Annotated_str(pattern))
    except msgspec.ValidationError:
        return False
    return True


def Annotated_str(pattern: str) -> Any:
    from typing import Annotated

    return Annotated[str, Meta(pattern=pattern)]


def test_every_pattern_of_the_message_layer_is_a_known_ascii_anchored_one() -> None:
    used: set[str] = set()
    for spec in SPECS.values():
        used |= _patterns(mi.type_info(spec.payload_cls), set())
    assert used | {UUID_PATTERN} == set(KNOWN_PATTERNS), "a new pattern needs an entry (and edge cases) here"
    for pattern in used:
        assert pattern.startswith(r"\A"), pattern
        assert "\\d" not in pattern and "\\w" not in pattern, f"Unicode-wide class in {pattern}"


@pytest.mark.parametrize("pattern", sorted(KNOWN_PATTERNS), ids=lambda p: p[:24])
def test_regex_edge_cases_are_refused_like_the_contracts_ecma_patterns(pattern: str) -> None:
    good, anchored_end = KNOWN_PATTERNS[pattern]
    assert _matches(pattern, good)
    refused = [
        "",
        "\n" + good,
        " " + good,
        good.translate(ARABIC_INDIC),
        good.translate(FULLWIDTH),
    ]
    if anchored_end:
        refused += [good + "\n", good + "\r\n", good + "\x00", good + " ", good + "\u2028"]
    for value in refused:
        if value != good:
            assert not _matches(pattern, value), f"{pattern!r} accepted {value!r}"


def test_generated_schemas_spell_patterns_for_ecma_engines() -> None:
    text = "".join(render(schema) for schema in message_schemas().values())
    assert "\\\\A" not in text and "\\\\Z" not in text
    assert '"^[0-9a-fA-F]{8}-' in text


def test_a_uuid_with_a_trailing_newline_is_refused_and_never_spliced_into_an_envelope() -> None:
    raw = json.dumps(
        {
            "id": ID + "\n",
            "name": "clock_sync",
            "type": "update",
            "data": {"current_time": "2026-01-01T00:00:00Z"},
        }
    )
    with pytest.raises(MessageError) as info:
        decode(raw, strict=True)
    assert info.value.path == "$.id"
    assert "UUID" in info.value.reason
    msg = Message(
        id=ID + "\n",
        name="clock_sync",
        type=MessageType.UPDATE,
        data=decode(raw.replace("\\n", ""), strict=True).data,
    )
    with pytest.raises(MessageError, match="UUID"):
        encode(msg)


def test_a_timestamp_with_a_trailing_newline_names_the_field_and_the_format() -> None:
    raw = json.dumps(
        {"id": ID, "name": "clock_sync", "type": "update", "data": {"current_time": "2026-01-01T00:00:00Z\n"}}
    )
    with pytest.raises(MessageError) as info:
        decode(raw, strict=True)
    assert info.value.path == "$.data.current_time"
    assert "RFC 3339" in info.value.reason


_NEAR = st.text(alphabet=st.characters(max_codepoint=0x7F) | st.sampled_from("\n\r\x00\u2028٣０"), max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    id_=st.one_of(st.text(max_size=40), st.builds(lambda a, b: a + ID + b, _NEAR, _NEAR)),
    ts=st.one_of(
        st.text(max_size=30),
        st.builds(lambda a, b: a + "2026-02-03T04:05:06.7+01:00" + b, _NEAR, _NEAR),
        st.from_regex(DATE_TIME_PATTERN),
    ),
)
def test_whatever_decodes_encodes_to_valid_json_that_the_contract_accepts(
    id_: str, ts: str, contract: Contract
) -> None:
    doc = {"id": id_, "name": "clock_sync", "type": "update", "data": {"current_time": ts}}
    compact = json.dumps(doc, separators=(",", ":")).encode()  # the one-pass fast path
    try:
        fast = decode(compact, strict=True)
    except MessageError:
        fast = None
    try:
        msg = decode(json.dumps(doc), strict=True)
    except MessageError:
        assert fast is None, "the fast path accepted what the general path refuses"
        ecma_ok = re.fullmatch(UUID_PATTERN[2:-2], id_, re.ASCII) and re.fullmatch(
            DATE_TIME_PATTERN[2:-2], ts, re.ASCII
        )
        assert not ecma_ok, "refused a message the contract's patterns accept"
        return
    assert fast is not None, "the fast path refused what the general path accepts"
    out = encode(msg)
    assert json.loads(out) == doc  # valid JSON, nothing lost or added
    contract.validate(out)


# --------------------------------------------------------------------------------------------
# UTF-8 (RFC 8259)
# --------------------------------------------------------------------------------------------

_PWM = (
    b'{"id":"%s","name":"cs_connector","type":"request",'
    b'"data":{"evse_id":"%s","connector_id":1,"action":"lock"%s}}'
)


@pytest.mark.parametrize(
    "raw",
    [
        _PWM % (ID.encode(), b"DE*\xc3(", b""),  # inside a value in data
        _PWM % (ID.encode(), b"DE*SEV", b',"\xc3(x":1'),  # inside an unknown key (lenient drops keys)
        _PWM % (ID.encode(), b"DE*SEV", b',"x":"\xff"'),  # inside an unknown key's value
        _PWM % (ID.encode()[:-1] + b"\xe2\x82", b"DE*SEV", b""),  # truncated sequence in the id
        _PWM.replace(b'"name"', b'"n\xedame"') % (ID.encode(), b"DE*SEV", b""),  # an envelope key
        _PWM % (ID.encode(), b"DE*SEV\xed\xa0\x80", b""),  # an encoded surrogate (CESU-8)
        _PWM % (ID.encode(), b"DE*SEV\xc0\xaf", b""),  # an overlong encoding
    ],
    ids=["data-value", "unknown-key", "unknown-value", "id", "envelope-key", "surrogate", "overlong"],
)
@pytest.mark.parametrize("strict", [True, False, None])
def test_invalid_utf8_anywhere_is_a_message_error(raw: bytes, strict: bool | None) -> None:
    with pytest.raises(MessageError) as info:
        decode(raw, strict=strict)
    assert info.value.path == "$"
    assert "invalid UTF-8 at byte" in info.value.reason


def test_valid_non_ascii_utf8_is_decoded() -> None:
    raw = _PWM % (ID.encode(), "DE*SÉV".encode(), b"")
    assert decode(raw).data.evse_id == "DE*SÉV"


def test_a_lone_surrogate_in_a_str_message_is_a_message_error() -> None:
    raw = (_PWM % (ID.encode(), b"DE*SEV", b"")).decode().replace("SEV", "S\ud800")
    with pytest.raises(MessageError, match="UTF-8"):
        decode(raw)


# --------------------------------------------------------------------------------------------
# integral floats (JSON Schema: 3.0 is an integer)
# --------------------------------------------------------------------------------------------


def _floatify(value: Any, info: mi.Type, exponent: bool = False) -> Any:
    """``value`` (plain JSON data of type ``info``) with every integer at an integer position
    written as a float (``3.0``, or ``3e0`` with ``exponent``)."""
    if isinstance(info, mi.Metadata):
        return _floatify(value, info.type)
    if isinstance(info, mi.IntType):
        return _as_float(value, exponent) if type(value) is int else value
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        return {k: _floatify(v, fields[k], exponent) if k in fields else v for k, v in value.items()}
    if isinstance(info, mi.ListType) and isinstance(value, list):
        return [_floatify(v, info.item_type, exponent) for v in value]
    if isinstance(info, mi.UnionType):
        if any(isinstance(t, mi.FloatType) for t in info.types):
            return value
        for t in info.types:
            inner = t.type if isinstance(t, mi.Metadata) else t
            if isinstance(inner, mi.IntType) and type(value) is int:
                return _as_float(value, exponent)
            if isinstance(inner, mi.StructType) and isinstance(value, dict):
                return _floatify(value, inner, exponent)
            if isinstance(inner, mi.ListType) and isinstance(value, list):
                return _floatify(value, inner, exponent)
    return value


def _as_float(value: int, exponent: bool) -> Any:
    return msgspec.Raw(b"%de0" % value) if exponent else float(value)


def _has_int_field(info: mi.Type, seen: set[int]) -> bool:
    if isinstance(info, mi.Metadata):
        return _has_int_field(info.type, seen)
    if isinstance(info, mi.IntType):
        return True
    if isinstance(info, mi.StructType):
        if id(info.cls) in seen:
            return False
        seen.add(id(info.cls))
        return any(_has_int_field(f.type, seen) for f in info.fields)
    if isinstance(info, mi.ListType):
        return _has_int_field(info.item_type, seen)
    if isinstance(info, mi.UnionType):
        return any(_has_int_field(t, seen) for t in info.types)
    return False


INT_PAIRS = sorted(k for k, s in SPECS.items() if _has_int_field(mi.type_info(s.payload_cls), set()))


def test_integer_fields_exist_in_the_contract() -> None:
    assert ("cp_status", "update") in INT_PAIRS and len(INT_PAIRS) >= 15


@pytest.mark.parametrize(("name", "type_"), INT_PAIRS, ids=lambda v: str(v))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(data=st.data(), exponent=st.booleans())
def test_integral_floats_in_every_integer_field_are_accepted_and_normalised_to_int(
    name: str, type_: str, data: st.DataObject, exponent: bool, contract: Contract
) -> None:
    cls = SPECS[(name, type_)].payload_cls
    payload = data.draw(payloads(cls))
    plain = msgspec.to_builtins(payload)
    floated = _floatify(plain, mi.type_info(cls), exponent)
    msg = Message(id=ID, name=name, type=MessageType(type_), data=payload)
    text = msgspec.json.encode({"id": ID, "name": name, "type": type_, "data": floated})
    converted = text.count(b"e0" if exponent else b".0")
    target(converted)  # steer hypothesis towards payloads with many (optional) integer fields
    for strict in (True, False):
        back = decode(text, strict=strict)
        assert back.data == payload
        assert encode(back) == encode(msg), "an integral float was not normalised to int"
    contract.validate(text)


@pytest.mark.parametrize("value", [1.5, 1e-3, float("1e400")], ids=["half", "small", "huge"])
def test_non_integral_numbers_in_an_integer_field_stay_errors(value: float) -> None:
    doc = {
        "id": ID,
        "name": "cp_status",
        "type": "update",
        "data": {"evse_id": "E", "connector_id": 1, "state": "A1"},
    }
    text = json.dumps(doc).replace('"connector_id": 1', f'"connector_id": {value!r}'.replace("inf", "1e400"))
    with pytest.raises(MessageError) as info:
        decode(text, strict=True)
    assert info.value.path == "$.data.connector_id"


@pytest.mark.parametrize("cut", [95, 110, 130, -1])
def test_a_truncated_canonical_message_is_a_message_error_not_a_decoder_exception(cut: int) -> None:
    raw = _PWM % (ID.encode(), b"DE*SEV", b"")
    with pytest.raises(MessageError, match="malformed JSON"):
        decode(raw[:cut])


def test_a_generated_id_cannot_be_changed_so_encode_may_trust_it() -> None:
    from josev_hal.messages import payloads as p

    msg = Message.update(p.ClockSyncUpdate(current_time="2026-01-01T00:00:00Z"))
    with pytest.raises(AttributeError):
        msg.id = ID + "\n"  # type: ignore[misc]
    assert json.loads(encode(msg))["id"] == msg.id
    hand_built = Message(id=ID + "\n", name="clock_sync", type=MessageType.UPDATE, data=msg.data)
    with pytest.raises(MessageError, match="UUID"):
        encode(hand_built)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=40), st.from_regex(DATE_TIME_PATTERN), st.from_regex(UUID_PATTERN)))
def test_the_regex_free_checks_give_the_patterns_verdicts(value: str) -> None:
    from josev_hal.messages.codec import _is_uuid
    from josev_hal.messages.patterns import is_date_time

    assert is_date_time(value) == bool(re.search(DATE_TIME_PATTERN, value))
    assert _is_uuid(value) == bool(re.search(UUID_PATTERN, value))


# --------------------------------------------------------------------------------------------
# the one-pass path serves every pair of the contract
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "type_"), sorted(SPECS), ids=lambda v: str(v))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_pair_in_canonical_form_is_decoded_in_one_pass(
    name: str, type_: str, data: st.DataObject
) -> None:
    # The pair is selected by a fixed window of bytes, or by a second slice where the types of
    # one long name share a window; either way the typed envelope decoder (a Message subclass)
    # answers, not the general path (which builds a plain Message). Non-ASCII text may take the
    # general path (payloads that skip unknown keys need the buffer's UTF-8 checked first).
    payload = data.draw(payloads(SPECS[(name, type_)].payload_cls))
    raw = encode(Message(id=ID, name=name, type=MessageType(type_), data=payload))
    msg = decode(raw, strict=True)
    if raw.isascii():
        assert type(msg) is not Message, "the canonical envelope took the general path"
    assert (msg.id, msg.name, msg.type, msg.data) == (ID, name, MessageType(type_), payload)


@pytest.mark.parametrize(
    "evse_id",
    [b"DE*\xc3(", b"DE*\xff", b"DE*\xed\xa0\x80", b"DE*\xc0\xaf"],
    ids=["cut", "ff", "cesu", "overlong"],
)
def test_invalid_utf8_in_a_payload_that_forbids_unknown_keys_is_a_message_error(evse_id: bytes) -> None:
    # cp_status has no Struct that skips unknown keys, so the one-pass path leaves the UTF-8
    # check to msgspec instead of testing the buffer for ASCII first; the verdict and the error
    # are the same as for every other message.
    raw = (
        b'{"id":"%s","name":"cp_status","type":"update",'
        b'"data":{"evse_id":"%s","connector_id":1,"state":"A1"}}'
    )
    with pytest.raises(MessageError) as info:
        decode(raw % (ID.encode(), evse_id), strict=True)
    assert info.value.path == "$"
    assert "invalid UTF-8 at byte" in info.value.reason


_TAILS = st.sampled_from(
    [
        b',"id":"6F1C1A52-2222-4A4A-9C9C-222222222222"',  # a repeated id, valid
        b',"id":"6f1c1a52-2222-4a4a-9c9c-22222222222"',  # a repeated id, one digit short
        b',"id":"6f1c1a5222224a4a9c9c222222222222"',  # a repeated id without hyphens
        b',"type":"request"',
        b',"type":"update"',
        b',"name":"meter_values"',
        b',"name":"cp_status"',
        b',"data":{}',
        b',"zz":1',
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pair=st.sampled_from(sorted(SPECS)),
    data=st.data(),
    at=st.integers(min_value=0, max_value=56),  # from 28 on: the window stays intact
    byte=st.integers(min_value=0, max_value=255),
    tail=_TAILS | st.just(b""),
)
def test_the_one_pass_path_and_the_general_path_agree_on_damaged_envelopes(
    pair: tuple[str, str], data: st.DataObject, at: int, byte: int, tail: bytes
) -> None:
    # The window after the id only selects a decoder; a damaged name or type, or a key repeated
    # after "data" (the last one counts), must give the verdict the general path gives. A space
    # after the opening brace moves every offset, so that copy never takes the one-pass path.
    name, type_ = pair
    payload = data.draw(payloads(SPECS[pair].payload_cls))
    raw = encode(Message(id=ID, name=name, type=MessageType(type_), data=payload))
    damaged = raw[: 53 + at] + bytes([byte]) + raw[54 + at :] if at < 28 else raw
    damaged = damaged[:-1] + tail + b"}"

    def outcome(doc: bytes) -> tuple[Any, ...]:
        try:
            msg = decode(doc, strict=True)
        except MessageError as exc:
            return ("refused", exc.path)
        return ("accepted", msg.id, msg.name, msg.type, msg.data)

    verdict = outcome(damaged)
    one_pass = verdict[0] == "accepted" and type(decode(damaged)) is not Message
    event(f"{verdict[0]}{' in one pass' if one_pass else ''}")
    assert verdict == outcome(b"{ " + damaged[1:])


@pytest.mark.parametrize(
    "bad", [b'{"k":"\xff"}', b'{"\xc3(":1}', b'["\xed\xa0\x80"]'], ids=["value", "key", "cesu"]
)
def test_invalid_utf8_in_free_form_data_is_a_message_error(bad: bytes) -> None:
    # data_transfer's free-form ``data`` (Any) is read in full by msgspec, so here, too, the
    # one-pass path leaves the UTF-8 check to it.
    raw = b'{"id":"%s","name":"data_transfer","type":"request","data":{"vendor_id":"v","data":%s}}'
    with pytest.raises(MessageError) as info:
        decode(raw % (ID.encode(), bad), strict=True)
    assert info.value.path == "$"
    assert "invalid UTF-8 at byte" in info.value.reason
