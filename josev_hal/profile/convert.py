"""Decoding a profile table by table, so that every problem of a file is found in one run.

msgspec stops at the first error of a document; :func:`convert_struct` converts field by field
(recursing into nested tables and arrays of tables) and records each problem with its key path.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import msgspec

from josev_hal.profile.lines import KeyPath, Problems, show

__all__ = ["FAILED", "Special", "convert_leaf", "convert_struct", "suggest"]

_AT = re.compile(r"^(?P<reason>.*) - at `\$(?P<at>.*)`$")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def _parse_at(at: str) -> KeyPath:
    parts: list[str | int] = []
    for m in _SEGMENT.finditer(at):
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
    return tuple(parts)


def _value_at(value: Any, path: KeyPath) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _msgspec_problem(exc: msgspec.ValidationError, raw: Any, path: KeyPath, problems: Problems) -> None:
    text = str(exc)
    m = _AT.match(text)
    reason, sub = (m.group("reason"), _parse_at(m.group("at"))) if m else (text, ())
    unknown = re.match(r"Object contains unknown field `(.+)`", reason)
    missing = re.match(r"Object missing required field `(.+)`", reason)
    if unknown:
        problems.add(path + sub + (unknown.group(1),), "unknown key")
        return
    if missing:
        problems.add(path + sub + (missing.group(1),), "missing required key")
        return
    got = re.search(r", got `[^`]+`$", reason)
    if got:
        reason = reason[: got.start()] + f", got {show(_value_at(raw, sub))}"
    reason = reason.replace("`", "")
    reason = reason[:1].lower() + reason[1:]
    problems.add(path + sub, reason)


#: What a conversion returns after it recorded a problem (None may be a valid value).
FAILED: Any = object()


def suggest(key: str, choices: Iterator[str] | list[str]) -> str:
    import difflib  # only when a key is wrong: kept off the start-up path

    close = difflib.get_close_matches(key, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    """The Struct class of ``T``, ``T | None`` or ``Annotated[T, ...]``; None for other types."""
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _struct_of(args[0])
    return None


def _list_struct_of(tp: Any) -> type[msgspec.Struct] | None:
    if typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return _struct_of(item)
    return None


Special = Callable[[Any, KeyPath], Any]


@functools.cache
def _fields(cls: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    """A Struct's fields by TOML key. ``msgspec.structs.fields`` resolves the type annotations at
    every call (~0.25 ms a class); a profile load asks for the same few classes many times."""
    return {f.encode_name: f for f in msgspec.structs.fields(cls)}


def convert_struct(
    raw: Any,
    cls: type[msgspec.Struct],
    path: KeyPath,
    problems: Problems,
    special: dict[str, Special] | None = None,
) -> Any:
    """Convert ``raw`` into ``cls`` field by field, recording every problem; ``FAILED`` on error."""
    if not isinstance(raw, dict):
        problems.add(path, f"expected a table, got {show(raw)}")
        return FAILED
    special = special or {}
    fields = _fields(cls)
    forbid = cls.__struct_config__.forbid_unknown_fields
    ok = True
    if forbid:
        for key in raw:
            if key not in fields:
                problems.add((*path, key), "unknown key" + suggest(key, list(fields)))
                ok = False
    values: dict[str, Any] = {}
    for key, info in fields.items():
        if key not in raw:
            if info.required:
                problems.add((*path, key), "missing required key")
                ok = False
            continue
        value = raw[key]
        sub = (*path, key)
        if info.name in special:
            result = special[info.name](value, sub)
        elif (inner := _struct_of(info.type)) is not None and value is not None:
            result = convert_struct(value, inner, sub, problems)
        elif (item_cls := _list_struct_of(info.type)) is not None and isinstance(value, list):
            items = [convert_struct(v, item_cls, (*sub, i), problems) for i, v in enumerate(value)]
            result = FAILED if any(i is FAILED for i in items) else items
        else:
            result = convert_leaf(value, info.type, sub, problems)
        if result is FAILED:
            ok = False
        else:
            values[info.name] = result
    if not ok:
        return FAILED
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        # The Struct's own __post_init__ rules (e.g. a driver's or bus kind's option checks). By
        # convention "<field>: reason" names the field, so the problem points at its line.
        field, sep, reason = str(exc).partition(": ")
        if sep and field in fields:
            problems.add((*path, field), reason)
        else:
            problems.add(path, str(exc))
        return FAILED


def convert_leaf(value: Any, tp: Any, path: KeyPath, problems: Problems) -> Any:
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        _msgspec_problem(exc, value, path, problems)
        return FAILED
