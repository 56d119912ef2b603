"""Envelope, registry and the fast codec of the Josev API.

Decoding a canonical envelope (Josev's compact ``{"id","name","type","data"}`` order; all ASCII
unless msgspec checks the UTF-8 of every byte itself, see ``_FAST``) is one msgspec pass: the
bytes after the id select a decoder typed down to the payload for that ``(name, type)`` (see
``_NAME_AT``) and only the id's format is checked in Python, by a byte translation instead of a
regex. Anything else takes the general path: the envelope decoder reads
``id``, ``name`` and ``type`` and keeps ``data`` as a zero-copy ``msgspec.Raw`` slice, then the
payload decoder chosen by ``(name, type)`` decodes that slice; it also explains every error with
its JSON path and does the repairs the contract allows (integral floats, unknown keys while
lenient). Both paths give the same verdict on every input. Encoding validates too: the payload is
encoded, decoded again by the strict decoder of its class (types, ranges, patterns, cross-field
rules) and only then spliced into the envelope, so a message that Josev would reject never leaves
the process.

Incoming-leniency policy (contract, MESSAGES.md section 1: newer Josev versions add fields):

* **Outgoing** (``cs/josev``, what the CS publishes): always strict.
* **Incoming** (``josev/cs``, what Josev sends): by default *lenient about unknown keys only*. An
  unknown key anywhere in ``data`` is dropped with a warning and the message is accepted; wrong
  types, missing required fields, out-of-range numbers and unknown enum values are still errors,
  because the HAL cannot act safely on a value it does not understand.
* The envelope itself is always strict (exactly ``id``, ``name``, ``type``, ``data``).
* The single switch is :func:`set_incoming_lenient` (or ``decode(..., strict=True)`` per call,
  which ``josev-hal validate`` and the contract tests use). Strict decoding agrees with the
  contract's JSON Schemas (see ``tests/test_messages_mutations.py`` for the measured agreement).
"""

from __future__ import annotations

import builtins
import enum
import logging
import re
import uuid
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta
from msgspec import inspect as mi

from josev_hal.errors import MessageError, UnknownMessageError
from josev_hal.messages.base import MessageType, Payload
from josev_hal.messages.patterns import (
    DATE_TIME_PATTERN,
    TRANSFER_URL_PATTERN,
    UUID_PATTERN,
    WS_URL_PATTERN,
)
from josev_hal.messages.payloads import CONTRACT, OcppMessageResponse

__all__ = [
    "SPECS",
    "UUID_PATTERN",
    "Message",
    "MessageSpec",
    "decode",
    "encode",
    "error_response",
    "invalid_request_response",
    "set_incoming_lenient",
    "utc_timestamp",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """One (name, type) pair of the contract."""

    name: str
    type: MessageType
    payload_cls: builtins.type[Payload]  # ``type`` is a field name here
    topic: str
    publisher: str
    obligation: str

    incoming: bool = dc_field(init=False)
    """Whether Josev sends this message to the CS (it travels on ``josev/cs``)."""
    outgoing: bool = dc_field(init=False)
    """Whether the CS may publish this message (on ``cs/josev``)."""

    def __post_init__(self) -> None:
        # Only the topics the contract states count; a parenthesised remark such as "(schema text
        # says josev/cs)" records a contradiction in the sources, not a direction. So a
        # device_model_reset *request* (CS -> Josev) that arrives on josev/cs is a wrong-direction
        # message like any other. Computed once: the bridge asks for every message.
        stated = re.sub(r"\([^)]*\)", "", self.topic)
        reverse = stated.startswith("reverse")
        object.__setattr__(self, "incoming", "josev/cs" in stated or reverse)
        object.__setattr__(self, "outgoing", "cs/josev" in stated or reverse)


SPECS: dict[tuple[str, str], MessageSpec] = {
    (name, type_): MessageSpec(name, MessageType(type_), cls, topic, publisher, obligation)
    for name, type_, cls, topic, publisher, obligation in CONTRACT
}


class Message(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The envelope ``{id, name, type, data}`` with ``data`` decoded into its payload Struct."""

    id: str
    name: str
    type: MessageType
    data: Any

    @classmethod
    def _new(cls, payload: Payload, type_: MessageType, msg_id: str | None = None) -> Message:
        if payload.TYPE is not type_:
            raise TypeError(f"{type(payload).__name__} is a {payload.TYPE} payload, not a {type_}")
        if msg_id is None and cls is Message:
            # A fresh uuid4 is a valid id by construction, and the frozen subclass keeps it so:
            # encode() skips the id check for it.
            return _Generated(id=str(uuid.uuid4()), name=payload.NAME, type=type_, data=payload)
        return cls(id=msg_id or str(uuid.uuid4()), name=payload.NAME, type=type_, data=payload)

    @classmethod
    def update(cls, payload: Payload) -> Message:
        """An update with a fresh id."""
        return cls._new(payload, MessageType.UPDATE)

    @classmethod
    def request(cls, payload: Payload) -> Message:
        """A request with a fresh id."""
        return cls._new(payload, MessageType.REQUEST)

    @classmethod
    def response_to(cls, request: Message, payload: Payload) -> Message:
        """The response to ``request``: same id, same name."""
        if request.name != payload.NAME:
            raise TypeError(f"{type(payload).__name__} does not answer a {request.name!r} request")
        return cls._new(payload, MessageType.RESPONSE, request.id)


class _Generated(Message, frozen=True):  # type: ignore[misc]  # frozen subclass: msgspec allows it
    """A Message whose id this process generated (uuid4) and which cannot be changed."""


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    id: Annotated[str, Meta(pattern=UUID_PATTERN)]
    name: str
    type: MessageType
    data: msgspec.Raw


class _Header(msgspec.Struct):
    """What is left to say about a message that failed to decode (error context)."""

    id: Any = None
    name: Any = None
    type: Any = None


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_header_decoder = msgspec.json.Decoder(_Header)
_encoder = msgspec.json.Encoder()
_lenient_incoming = True


def set_incoming_lenient(lenient: bool) -> None:
    """The one switch of the incoming-leniency policy (see the module docstring)."""
    global _lenient_incoming
    _lenient_incoming = lenient


@cache
def _decoder(cls: type[Payload]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(cls)


# -- the fast path's byte-level envelope check ---------------------------------------------------
#
# Josev writes ``{"id":"<36 chars>","name":"<name>","type":"<type>","data":...}`` compactly and
# in that order. For such a canonical envelope the bytes from offset 53 up to ``","data":`` spell
# name and type at once, so a slice and a dict lookup pick a decoder typed down to the payload
# (name as a Literal, type as the enum): one msgspec pass validates everything but the id's format,
# which is checked on the decoded string (the value msgspec kept, so a repeated "id" key is judged
# as JSON Schema validators judge it: last one wins). No Python ``re`` runs per message.
#
# The slice is first the fixed window of 28 bytes from offset 53 (to _WINDOW_END): for a name of
# up to 15 characters they hold the name, '","type":"' and at least three letters of the type
# (req/res/upd), which is enough to tell every pair apart without searching the bytes for
# '","data":' (search, slice and lookup were the largest per-message cost after msgspec itself).
# Where one longer name shares its window between its types, a second slice up to the first three
# letters of the type tells them apart (_SHARED); the search is left for bytes that fit no key.
# Either way the bytes only *select* a candidate: the typed decoder's verdict on the whole
# document counts.
_ID_OPEN = b'{"id":"'
_NAME_OPEN = b'","name":"'
_NAME_AT = 53  # len(_ID_OPEN) + 36 + len(_NAME_OPEN)
_DATA_OPEN = b'","data":'
_WINDOW_END = _NAME_AT + 28  # shortest name (3) + '","type":"' (10) + "update" (6) + _DATA_OPEN (9)

# bytes.translate table: hex digits -> "x", "-" -> "-", every other byte -> NUL
_UUID_TABLE = bytes(
    0x78 if chr(b) in "0123456789abcdefABCDEF" else (0x2D if b == 0x2D else 0) for b in range(256)
)
_UUID_SHAPE = b"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"


def _is_uuid(ident: object) -> bool:
    """Exactly :data:`UUID_PATTERN`'s verdict (ASCII hex, 8-4-4-4-12), without ``re``."""
    # isascii first: a UUID is ASCII, and encode() of an ASCII str cannot fail (no surrogates).
    if ident.__class__ is not str or not ident.isascii():  # type: ignore[attr-defined,unused-ignore]
        return False
    return ident.encode().translate(_UUID_TABLE) == _UUID_SHAPE  # type: ignore[attr-defined,unused-ignore]


def _reads_every_byte(info: mi.Type, seen: set[type] | None = None) -> bool:
    """Whether msgspec, decoding ``info``, reads every string it meets (so it checks their UTF-8
    itself, see _FAST). A Struct that tolerates unknown keys skips their values unread;
    anything this function does not know counts as skipping, to stay on the safe side."""
    seen = set() if seen is None else seen
    if isinstance(info, mi.Metadata):
        return _reads_every_byte(info.type, seen)
    if isinstance(info, mi.StructType):
        if info.cls in seen:
            return True
        seen.add(info.cls)
        return info.forbid_unknown_fields and all(_reads_every_byte(f.type, seen) for f in info.fields)
    if isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        return _reads_every_byte(info.item_type, seen)
    if isinstance(info, mi.DictType):
        return _reads_every_byte(info.key_type, seen) and _reads_every_byte(info.value_type, seen)
    if isinstance(info, mi.UnionType):
        return all(_reads_every_byte(t, seen) for t in info.types)
    return isinstance(
        info,
        (
            mi.AnyType,
            mi.NoneType,
            mi.BoolType,
            mi.IntType,
            mi.FloatType,
            mi.StrType,
            mi.EnumType,
            mi.LiteralType,
        ),
    )


_FastEntry = tuple[Any, MessageType, bool]

# Decoders for canonical envelopes by the bytes at _NAME_AT, typed down to the payload. An entry
# is ``(decode, type, utf8_checked)``: the bound ``decode`` of a decoder whose envelope type has
# the name as a Literal and the payload class as ``data``; the message type to confirm after
# decoding (a repeated "type" key wins over the one the key was read from); and whether msgspec
# itself checks the UTF-8 of every byte of such a message (no Struct in the payload tolerates
# unknown keys, so no value is skipped unread: msgspec checks UTF-8 in every string it decodes,
# and a non-ASCII byte outside a string is a syntax error); only where it does not, decode()
# checks that the buffer is ASCII before taking the fast path. A plain dict (its ``get`` is the
# cheapest lookup per message); _fast_entry() fills it.
_FAST: dict[bytes, _FastEntry] = {}
_fast_get = _FAST.get


def _fast_keys() -> tuple[dict[bytes, MessageSpec], dict[bytes, int]]:
    """The keys that name a pair, and where the second key ends for windows two pairs share.

    Keys: each pair's window (where no other pair has the same one); for pairs of one long name
    that share a window, name + '","type":"' + the type's first three letters (req/res/upd), which
    _SHARED says how far to slice; and every pair's full name + '","type":"' + type, for the
    search. None of them equals another pair's key of another kind (different lengths, or it
    would have to spell that pair's name and type), so they live in one table.
    """
    full = {b'%s","type":"%s' % (n.encode(), t.encode()): s for (n, t), s in SPECS.items()}
    by_window: dict[bytes, list[MessageSpec]] = {}
    for key, spec in full.items():
        by_window.setdefault((key + _DATA_OPEN)[: _WINDOW_END - _NAME_AT], []).append(spec)
    keys = {window: specs[0] for window, specs in by_window.items() if len(specs) == 1}
    shared: dict[bytes, int] = {}
    for window, specs in by_window.items():
        lengths = {len(spec.name) for spec in specs}
        if len(specs) > 1 and len(lengths) == 1:  # else: found by the search
            shared[window] = _NAME_AT + lengths.pop() + len('","type":"') + 3
            for spec in specs:
                keys[b'%s","type":"%s' % (spec.name.encode(), spec.type.value[:3].encode())] = spec
    return {**keys, **full}, shared


_FAST_KEYS, _SHARED = _fast_keys()
_shared_get = _SHARED.get


def _fast_entry(payload: bytes) -> _FastEntry | None:
    """The entry for a canonical envelope that decode() did not find in _FAST: its pair's decoder
    is built on the first message (building all 85 up front cost ~14 ms on the way to the first
    answer), or the pair is found by searching for '","data":' (bytes that fit no key). Bytes
    that name no (name, type) pair of the contract give None and are not remembered (hostile
    input must not grow the table)."""
    key = payload[_NAME_AT:_WINDOW_END]
    spec = _FAST_KEYS.get(key)
    if spec is None:
        end = _SHARED.get(key)
        if end is not None:
            key = payload[_NAME_AT:end]
            spec = _FAST_KEYS.get(key)
    if spec is None:
        key = payload[_NAME_AT : payload.find(_DATA_OPEN, _NAME_AT)]
        entry = _FAST.get(key)
        if entry is not None:
            return entry
        spec = _FAST_KEYS.get(key)
        if spec is None:
            return None
    typed = msgspec.defstruct(
        f"{spec.payload_cls.__name__}Envelope",
        [
            ("id", str),
            ("name", Literal[spec.name]),
            ("type", MessageType),
            ("data", spec.payload_cls),
        ],
        bases=(Message,),
        kw_only=True,
        forbid_unknown_fields=True,
        # Not tracked by the cycle collector (cheaper to create and free): it holds two strs, an
        # enum member and a payload, which is itself untracked (Payload has gc=False).
        gc=False,
    )
    utf8_checked = _reads_every_byte(mi.type_info(typed))
    entry = _FAST[key] = (msgspec.json.Decoder(typed).decode, spec.type, utf8_checked)
    return entry


# --------------------------------------------------------------------------------------------
# decode
# --------------------------------------------------------------------------------------------


def decode(payload: bytes | str, *, strict: bool | None = None) -> Message:
    """Decode and validate one Josev API message.

    ``strict=None`` follows the incoming-leniency switch for messages Josev sends and is strict for
    everything else; ``True``/``False`` force the policy. Raises :class:`MessageError` (JSON path
    and reason) or :class:`UnknownMessageError`.
    """
    try:
        # Fast path (see _NAME_AT). The bytes at _NAME_AT only *select* a candidate decoder; its
        # verdict on the whole document is what counts.
        if payload.__class__ is bytes:
            window = payload[_NAME_AT:_WINDOW_END]
            entry = _fast_get(window)
            if entry is None:  # a long name that shares its window (see _SHARED), or not built yet
                end = _shared_get(window)
                entry = (end and _fast_get(payload[_NAME_AT:end])) or _fast_entry(payload)
                if entry is None:
                    return _decode(payload, strict)
            if entry[2] or payload.isascii():
                try:
                    msg: Message = entry[0](payload)
                except (msgspec.DecodeError, UnicodeDecodeError):  # ValidationError included
                    # the general path below explains what is wrong (or repairs it). msgspec
                    # before 0.23 (0.19 is our lowest) raises UnicodeDecodeError for invalid UTF-8.
                    pass
                else:
                    # a "type" repeated later in the object; the id's format (msg.id is a str
                    # msgspec decoded: valid UTF-8, so encode() cannot fail)
                    if msg.type is entry[1] and msg.id.encode().translate(_UUID_TABLE) == _UUID_SHAPE:
                        return msg
        return _decode(payload, strict)
    except RecursionError:
        # msgspec refuses absurd nesting by raising RecursionError; to callers it is bad input.
        raise MessageError("malformed JSON: nesting too deep", path="$") from None


def _decode(payload: bytes | str, strict: bool | None) -> Message:
    if isinstance(payload, str):
        if not payload.isascii():
            try:
                payload.encode()
            except UnicodeEncodeError as exc:  # a lone surrogate cannot be UTF-8 on any wire
                raise MessageError(
                    f"malformed JSON: not encodable as UTF-8 at character {exc.start}", path="$"
                ) from None
    else:
        if payload.__class__ is not bytes:
            payload = bytes(payload)  # bytearray / memoryview
        if not payload.isascii():
            # JSON on the wire is UTF-8 (RFC 8259). msgspec checks UTF-8 only in the strings it
            # decodes: bytes in ``data`` that the envelope keeps raw, or in a skipped unknown key,
            # would get past it. One check of the whole buffer (cheap: ASCII is the common case)
            # makes every position a message error, never an exception from deeper down.
            _check_utf8(payload)
    try:
        env = _envelope_decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _envelope_error(payload, exc) from None
    spec = SPECS.get((env.name, env.type))
    if spec is None:
        raise UnknownMessageError(
            f"unknown message name={env.name!r} type={env.type.value!r}",
            path="$.name",
            name=env.name,
            type=env.type.value,
            msg_id=env.id,
        )
    cls = spec.payload_cls
    try:
        data = _decoder(cls).decode(env.data)
    except msgspec.ValidationError as exc:
        lenient = (_lenient_incoming and spec.incoming) if strict is None else not strict
        data = _repair(cls, env, exc, lenient)
    except msgspec.DecodeError as exc:  # malformed JSON inside ``data`` (the envelope kept it raw)
        raise MessageError(f"malformed JSON: {_split(exc)[0]}", path="$.data") from None
    return Message(id=env.id, name=env.name, type=env.type, data=data)


def _check_utf8(payload: bytes) -> None:
    try:
        payload.decode()
    except UnicodeDecodeError as exc:
        raise MessageError(f"malformed JSON: invalid UTF-8 at byte {exc.start}", path="$") from None


_INTEGRAL_FLOAT = "Expected `int`, got `float`"


def _repair(cls: type[Payload], env: _Envelope, exc: msgspec.ValidationError, lenient: bool) -> Payload:
    """The slow path after a failed payload decode: what the contract's JSON Schemas accept but
    msgspec's typed decoder does not.

    * Integral floats (``3.0``, ``1e3``) where the schema says ``integer``: JSON Schema counts them
      as integers, so they are accepted and normalised to ``int`` (a Python peer may compute an
      integer as a float). ``3.5`` stays an error.
    * Unknown keys, only while ``lenient`` (incoming-leniency policy): dropped with a warning.

    Anything else raises the MessageError of the first real fault, with its JSON path.
    """
    reason = str(exc)
    if not (reason.startswith(_INTEGRAL_FLOAT) or (lenient and "unknown field" in reason)):
        raise _payload_error(cls, exc, env)
    raw = msgspec.json.decode(env.data)
    dropped: list[str] = []
    fixed = _normalise(raw, mi.type_info(cls), "$.data", dropped if lenient else None)
    try:
        data: Payload = msgspec.convert(fixed, cls, strict=True)
    except msgspec.ValidationError as again:
        raise _payload_error(cls, again, env) from None
    if dropped:
        log.warning("message name=%s id=%s: ignored unknown keys %s", env.name, env.id, ", ".join(dropped))
    return data


def _normalise(value: Any, info: mi.Type, path: str, dropped: list[str] | None) -> Any:
    """``value`` with integral floats at integer positions turned into ints and, when ``dropped``
    is a list, keys that ``info`` does not know removed (and recorded there), recursively."""
    info = _unwrap(info)
    if isinstance(info, mi.IntType):
        if value.__class__ is float and value.is_integer():
            return int(value)
        return value
    if isinstance(info, mi.UnionType):
        if value.__class__ is float and any(isinstance(_unwrap(t), mi.FloatType) for t in info.types):
            return value  # a float member takes it as it is
        if isinstance(value, dict):
            members = [t for t in info.types if isinstance(_unwrap(t), (mi.StructType, mi.DictType))]
        elif isinstance(value, list):
            members = [t for t in info.types if isinstance(_unwrap(t), mi.ListType)]
        else:
            members = [t for t in info.types if isinstance(_unwrap(t), mi.IntType)]
        return _normalise(value, members[0], path, dropped) if len(members) == 1 else value
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f for f in info.fields}
        out = {}
        for key, item in value.items():
            field = fields.get(key)
            if field is None:
                if dropped is not None and info.forbid_unknown_fields:
                    dropped.append(f"{path}.{key}")
                    continue
                out[key] = item
            else:
                out[key] = _normalise(item, field.type, f"{path}.{key}", dropped)
        return out
    if isinstance(info, mi.DictType) and isinstance(value, dict):
        return {k: _normalise(v, info.value_type, f"{path}.{k}", dropped) for k, v in value.items()}
    if isinstance(info, (mi.ListType, mi.FrozenSetType, mi.SetType, mi.VarTupleType)) and isinstance(
        value, list
    ):
        return [_normalise(v, info.item_type, f"{path}[{i}]", dropped) for i, v in enumerate(value)]
    return value


_PATTERN_WORDS = {
    repr(UUID_PATTERN): "expected a UUID string (8-4-4-4-12 hex digits)",
    repr(DATE_TIME_PATTERN): "expected an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm])",
    repr(WS_URL_PATTERN): "expected a ws:// or wss:// URL",
    repr(TRANSFER_URL_PATTERN): "expected an http(s)://, ftp(s):// or sftp:// URL",
}
_AT = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_SEG = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def _split(exc: Exception) -> tuple[str, str]:
    m = _AT.match(str(exc))
    assert m is not None  # the pattern matches any string
    return m["reason"], m["path"] or "$"


def _envelope_error(payload: bytes | str, exc: Exception) -> MessageError:
    reason, path = _split(exc)
    # ValidationError subclasses DecodeError: test for the narrower type first.
    if not isinstance(exc, msgspec.ValidationError):
        return MessageError(f"malformed JSON: {reason}", path="$")
    header = _Header()
    try:
        header = _header_decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    path, reason = _refine(None, path, reason)
    return MessageError(
        reason,
        path=path,
        name=header.name if isinstance(header.name, str) else None,
        type=header.type if isinstance(header.type, str) else None,
        msg_id=header.id if isinstance(header.id, str) else None,
    )


def _payload_error(cls: type[Payload], exc: Exception, env: _Envelope) -> MessageError:
    reason, path = _split(exc)
    path, reason = _refine(cls, path, reason)
    return MessageError(reason, path="$.data" + path[1:], name=env.name, type=env.type.value, msg_id=env.id)


def _refine(cls: type | None, path: str, reason: str) -> tuple[str, str]:
    """Turn msgspec's wording into the project's: missing/unknown keys get their own path
    segment, and an invalid enum value lists the allowed values."""
    if m := re.match(r"field `(\w+)`: (.*)", reason, re.S):  # rules.date_times names its field
        return f"{path}.{m[1]}", m[2]
    if m := re.match(r"Object missing required field `(.+)`", reason):
        return f"{path}.{m[1]}", "required field is missing"
    if m := re.match(r"Object contains unknown field `(.+)`", reason):
        return f"{path}.{m[1]}", "unknown field (the contract forbids extra keys here)"
    if m := re.match(r"Invalid enum value (.+)", reason):
        allowed = _allowed_values(cls, path) if cls is not None else None
        got = m[1].strip("'")
        if allowed:
            return path, f"expected one of {', '.join(allowed)}, got {msgspec.json.encode(got).decode()}"
        return path, f"unknown value {msgspec.json.encode(got).decode()}"
    if reason.startswith("Expected `str` matching regex"):
        for pattern, words in _PATTERN_WORDS.items():
            if pattern in reason:  # msgspec quotes the pattern with repr()
                return path, words
    if reason.startswith("Expected `"):
        return path, reason[0].lower() + reason[1:]
    return path, reason


def _allowed_values(cls: type, path: str) -> list[str] | None:
    info: mi.Type = mi.type_info(cls)
    for m in _SEG.finditer(path):
        info = _unwrap(info)
        if m[1] is not None and isinstance(info, mi.StructType):
            found = [f.type for f in info.fields if f.encode_name == m[1]]
            if not found:
                return None
            info = found[0]
        elif m[2] is not None and isinstance(info, mi.ListType):
            info = info.item_type
        else:
            return None
    info = _unwrap(info)
    if isinstance(info, mi.EnumType):
        return [str(member.value) for member in info.cls]
    if isinstance(info, mi.LiteralType):
        return [str(v) for v in info.values]
    return None


def _unwrap(info: mi.Type) -> mi.Type:
    # msgspec.inspect already drops UnsetType from ``T | UnsetType``; only metadata wraps remain.
    if isinstance(info, mi.Metadata):
        return _unwrap(info.type)
    return info


# --------------------------------------------------------------------------------------------
# encode
# --------------------------------------------------------------------------------------------


# Per payload class (one class per (name, type)): the bound ``decode`` of its strict decoder, the
# contract's name and type, and the envelope bytes between the id and the payload, built once.
_ENCODE: dict[type, tuple[Any, str, MessageType, bytes]] = {}
_encode_payload = _encoder.encode


def _encode_entry(message: Message) -> tuple[Any, str, MessageType, bytes]:
    """The entry of the message's payload class, or the MessageError saying that the payload
    does not belong to the message's name and type (checked by equality: a hand-built message
    may carry the type as a plain string)."""
    data = message.data
    cls = data.__class__
    entry = _ENCODE.get(cls)
    if entry is None:
        spec = next((s for s in SPECS.values() if s.payload_cls is cls), None)
        if spec is not None:
            middle = b'","name":"%s","type":"%s","data":' % (spec.name.encode(), spec.type.value.encode())
            entry = _ENCODE[cls] = (_decoder(cls).decode, spec.name, spec.type, middle)
    if entry is None or message.name != entry[1] or message.type != entry[2]:
        raise MessageError(
            f"payload {type(data).__name__} does not match name={message.name!r} type={message.type!r}",
            path="$.data",
            name=message.name,
            msg_id=message.id,
        )
    return entry


def encode(message: Message) -> bytes:
    """Compact JSON for ``message``, validated against the contract first (always strict).

    Raises :class:`MessageError` naming the JSON path when the payload violates the contract
    (a bug in the caller: the message is not sent).
    """
    data = message.data
    entry = _ENCODE.get(data.__class__)
    # Identity first: messages built by Message.update/request/response_to carry the payload's
    # own NAME and the MessageType member; anything else is compared by value in _encode_entry.
    if entry is None or message.name is not entry[1] or message.type is not entry[2]:
        entry = _encode_entry(message)
    body = _encode_payload(data)
    try:
        # Validation by the strict decoder of the class: types, ranges, patterns and the
        # cross-field rules exactly as on the receiving side (a Struct built in Python is not
        # type-checked by msgspec, so this is the one place where a wrong value is caught).
        # A check in Python of every field was measured slower than this decode (a generated
        # per-class check of meter_values: 1.8 µs against 1.2 µs; H6-notes.md).
        entry[0](body)
    except msgspec.ValidationError as exc:
        envelope = _Envelope(message.id, message.name, message.type, msgspec.Raw(body))
        raise _payload_error(type(data), exc, envelope) from None
    ident = message.id
    if message.__class__ is not _Generated and not _is_uuid(ident):
        raise MessageError(
            f"expected a UUID string (8-4-4-4-12 hex digits), got {ident!r}",
            path="$.id",
            name=message.name,
            type=entry[2].value,
        )
    # Every part is plain ASCII without quotes (a UUID checked above, name and type from the
    # contract), so the envelope is spliced around the already-encoded payload.
    return b"".join((_ID_OPEN, ident.encode(), entry[3], body, b"}"))


# --------------------------------------------------------------------------------------------
# helpers for handlers
# --------------------------------------------------------------------------------------------


def utc_timestamp(when: datetime | None = None) -> str:
    """RFC 3339 UTC with millisecond precision, as the contract's date-time pattern wants."""
    when = datetime.now(UTC) if when is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


_ERROR_STATUSES = ("error", "rejected", "invalid", "failed", "failed_not_found", "discarded", "unknown")
# For a request the CS could not even read, "invalid" says it best; "unknown" (a lock or link
# state) would be a statement about the hardware, not about the request, so it is not used.
_INVALID_STATUSES = ("invalid", "rejected", "error", "failed", "failed_not_found", "discarded")


def error_response(request: Message, reason: str) -> Payload | None:
    """The error-shaped response to ``request`` when its handler failed, or None when the
    response schema cannot express an error.

    Picks the first of ``error``, ``rejected``, ``invalid``, ``failed``, ``failed_not_found``,
    ``discarded``, ``unknown`` that the response's ``status`` (or ``result``) enum offers (an
    ``ocpp_message`` gets an OCPP CallError ``InternalError``), copies ``evse_id`` /
    ``connector_id`` from the request when the response needs them, and fills ``status_info`` /
    ``info`` text fields with ``reason`` where present.
    """
    spec = SPECS.get((request.name, MessageType.RESPONSE.value))
    if spec is None:
        return None
    if spec.payload_cls is OcppMessageResponse:
        return _ocpp_call_error(request.data, "InternalError", reason)
    return _error_payload(spec.payload_cls, request.data, reason, _ERROR_STATUSES)


def invalid_request_response(payload: bytes | str, exc: MessageError) -> Message | None:
    """The immediate answer to a request whose envelope is valid but whose ``data`` is not, or
    None when the daemon must stay silent.

    Answered: a request Josev may send (``josev/cs``) whose response schema has a status meaning
    invalid / rejected / error / failed (first of those it offers). ``evse_id`` / ``connector_id``
    are echoed only when the request carried them with a valid type; when the response requires
    them and they are missing or of the wrong type, ``evse_id`` is answered as ``""`` (the id
    of the message is what Josev matches; the status and ``info`` say why). Not answered: errors
    in the envelope (no trustworthy id), unknown (name, type) pairs, wrong-direction requests,
    and responses without such a status (the README's coverage table lists them).
    """
    if not exc.path.startswith("$.data") or exc.type != MessageType.REQUEST.value:
        return None
    try:  # the envelope itself must be valid: only then are its id and name trustworthy
        env = _envelope_decoder.decode(payload)
    except (msgspec.DecodeError, RecursionError):  # ValidationError included
        return None
    spec = SPECS.get((env.name, MessageType.REQUEST.value))
    answer = SPECS.get((env.name, MessageType.RESPONSE.value))
    if env.type is not MessageType.REQUEST or spec is None or answer is None or not spec.incoming:
        return None
    try:
        raw = msgspec.json.decode(env.data)
    except (msgspec.DecodeError, RecursionError):
        raw = None
    reason = f"invalid request: {exc}"
    echo = _Echo(raw if isinstance(raw, dict) else {})
    data: Payload | None
    if answer.payload_cls is OcppMessageResponse:
        data = _ocpp_call_error(echo, "FormatViolation", reason)
    else:
        data = _error_payload(answer.payload_cls, echo, reason, _INVALID_STATUSES)
    if data is None:
        return None
    return Message(id=env.id, name=spec.name, type=MessageType.RESPONSE, data=data)


def _ocpp_call_error(request_data: Any, code: str, reason: str) -> Payload | None:
    """An OCPP CallError answering an ``ocpp_message`` request (OCPP-J error ``code``: e.g.
    FormatViolation for unreadable data, InternalError for a failed handler), in the request's own
    ``ocpp_version`` (required; without a valid one there is no answer)."""
    version = getattr(request_data, "ocpp_version", UNSET)
    try:
        return msgspec.convert(
            {
                "ocpp_version": version.value if isinstance(version, enum.Enum) else version,
                "message_type": "CallError",
                "error_code": code,
                "error_description": reason[:255],
                "error_details": {},
            },
            OcppMessageResponse,
            strict=True,
        )
    except msgspec.ValidationError:
        return None


class _Echo:
    """Attribute access to the request's raw ``evse_id`` / ``connector_id`` (UNSET if absent)."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return self._raw.get(name, UNSET)


def _error_payload(
    cls: type[Payload], request_data: Any, reason: str, statuses: tuple[str, ...]
) -> Payload | None:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    py_types = {f.name: f.type for f in msgspec.structs.fields(cls)}
    kwargs: dict[str, Any] = {}
    for f in info.fields:
        ftype = _unwrap(f.type)
        if f.name in ("status", "result") and isinstance(ftype, mi.EnumType):
            values = [m.value for m in ftype.cls]
            status = next((s for s in statuses if s in values), None)
            if status is None:
                return None
            kwargs[f.name] = ftype.cls(status)
        elif f.name in ("evse_id", "connector_id") and _fits(
            getattr(request_data, f.name, UNSET), py_types[f.name]
        ):
            kwargs[f.name] = getattr(request_data, f.name)
        elif f.name in ("status_info", "info", "rejected_reason") and isinstance(ftype, mi.StrType):
            kwargs[f.name] = reason[: ftype.max_length or None]
        elif f.required and isinstance(ftype, mi.StrType) and not ftype.pattern:
            # e.g. generate_csr's mandatory ``csr``: empty alongside a "rejected" status.
            kwargs[f.name] = ""
    if "status" not in kwargs and "result" not in kwargs:
        return None
    try:
        return msgspec.convert(kwargs, cls, from_attributes=False, strict=True)
    except msgspec.ValidationError:
        return None


def _fits(value: Any, type_: Any) -> bool:
    """Whether ``value`` (echoed from a request) is valid for the response field; a value of the
    wrong JSON type is never coerced, it counts as absent."""
    if value is UNSET:
        return False
    try:
        msgspec.convert(value, type_, strict=True)
    except msgspec.ValidationError:
        return False
    return True
