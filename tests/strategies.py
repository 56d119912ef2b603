"""Hypothesis strategies that build any payload Struct from its msgspec type information.

Values respect the Struct's own constraints (ranges, patterns, lengths, enums); cross-field rules
are enforced by constructing through ``msgspec.convert`` and discarding what the rules reject.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from hypothesis import strategies as st
from msgspec import UNSET
from msgspec import inspect as mi

_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12)


def _number(info: mi.IntType | mi.FloatType, integer: bool) -> st.SearchStrategy[Any]:
    lo = (
        info.ge
        if info.ge is not None
        else (info.gt + (1 if integer else 1e-6) if info.gt is not None else None)
    )
    hi = (
        info.le
        if info.le is not None
        else (info.lt - (1 if integer else 1e-6) if info.lt is not None else None)
    )
    if integer:
        return st.integers(
            min_value=lo if lo is not None else -(2**31), max_value=hi if hi is not None else 2**31
        )
    return st.floats(
        min_value=lo if lo is not None else -1e9,
        max_value=hi if hi is not None else 1e9,
        allow_nan=False,
        allow_infinity=False,
    )


def for_type(info: mi.Type) -> st.SearchStrategy[Any]:
    """Plain-Python (JSON-shaped) values for ``info``."""
    if isinstance(info, mi.Metadata):
        # a pattern checked in __post_init__ (DateTime) is only in the schema annotation
        pattern = (info.extra_json_schema or {}).get("pattern")
        if pattern and isinstance(info.type, mi.StrType) and not info.type.pattern:
            return st.from_regex(pattern, fullmatch=False)
        return for_type(info.type)
    if isinstance(info, mi.IntType):
        return _number(info, True)
    if isinstance(info, mi.FloatType):
        return _number(info, False)
    if isinstance(info, mi.BoolType):
        return st.booleans()
    if isinstance(info, mi.StrType):
        if info.pattern:
            return st.from_regex(info.pattern, fullmatch=False).filter(
                lambda s: len(s) <= (info.max_length or 10_000) and "\x00" not in s
            )
        return st.text(max_size=info.max_length or 12, min_size=info.min_length or 0)
    if isinstance(info, mi.EnumType):
        return st.sampled_from([m.value for m in info.cls])
    if isinstance(info, mi.LiteralType):
        return st.sampled_from(list(info.values))
    if isinstance(info, mi.ListType):
        return st.lists(
            for_type(info.item_type), min_size=info.min_length or 0, max_size=min(info.max_length or 3, 3)
        )
    if isinstance(info, mi.DictType):
        return st.dictionaries(_TEXT, st.integers() | _TEXT, max_size=3)
    if isinstance(info, mi.StructType):
        return struct_dicts(info.cls)
    if isinstance(info, mi.AnyType):
        return st.integers() | _TEXT
    if isinstance(info, mi.UnionType):
        return st.one_of([for_type(t) for t in info.types])
    raise NotImplementedError(repr(info))


@cache
def struct_dicts(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    required = {f.encode_name: for_type(f.type) for f in info.fields if f.required}
    optional = {f.encode_name: for_type(f.type) for f in info.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def payloads(cls: type) -> st.SearchStrategy[Any]:
    """Valid instances of the payload Struct ``cls``."""

    def build(d: dict[str, Any]) -> Any:
        try:
            return msgspec.convert(d, cls)
        except msgspec.ValidationError:
            return UNSET  # rejected by a cross-field rule

    return struct_dicts(cls).map(build).filter(lambda v: v is not UNSET)
