"""JSON Schemas generated from the payload Structs (``schemas/<name>.<type>.json``).

The Structs are the source of truth; these files exist for people and tools outside Python (editor
completion, other languages' validators). ``josev-hal schemas --out schemas/`` writes them and a
test fails when the committed files differ from a fresh generation.
"""

from __future__ import annotations

import inspect
import json
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from josev_hal.messages.codec import SPECS, MessageSpec
from josev_hal.messages.patterns import UUID_PATTERN, ecma

__all__ = ["canonical", "message_schema", "message_schemas", "render"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _envelope_type(spec: MessageSpec) -> type:
    # A typed envelope per pair, built only for schema generation (the codec decodes the
    # envelope once and the payload by (name, type), which is faster than a union of these).
    return msgspec.defstruct(
        f"{spec.payload_cls.__name__}Message",
        [
            ("id", Annotated[str, Meta(pattern=UUID_PATTERN)]),
            ("name", Literal[spec.name]),
            ("type", Literal[spec.type.value]),
            ("data", spec.payload_cls),
        ],
        forbid_unknown_fields=True,
    )


def message_schema(spec: MessageSpec) -> dict[str, Any]:
    """The self-contained JSON Schema of one (name, type) envelope."""
    generated = msgspec.json.schema(_envelope_type(spec))
    ref = generated.pop("$ref")
    defs = generated.get("$defs", {})
    root = defs.pop(ref.rsplit("/", 1)[-1])
    schema: dict[str, Any] = {
        "$schema": _DIALECT,
        "$id": f"urn:josev-hal:schema:{spec.name}.{spec.type.value}",
        "title": f"{spec.name} ({spec.type.value})",
        "description": (
            f"Generated from josev_hal.messages.payloads.{spec.payload_cls.__name__}. "
            f"Topic: {spec.topic}. CS obligation: {spec.obligation}."
        ),
        **{k: v for k, v in root.items() if k not in ("title", "description")},
    }
    if defs:
        schema["$defs"] = defs
    return schema


def message_schemas() -> dict[str, dict[str, Any]]:
    """``{"<name>.<type>.json": schema}`` for every pair of the contract."""
    return {f"{n}.{t}.json": message_schema(spec) for (n, t), spec in sorted(SPECS.items())}


def canonical(node: Any) -> Any:
    """``node`` in a form that does not depend on the msgspec release that generated it.

    Why: releases differ in details that do not change what a schema accepts - whether Struct
    docstrings are dedented (0.23 does, earlier ones do not), the order of ``anyOf`` members and of
    keys. Patterns are written in their ECMA-262 spelling (:func:`~josev_hal.messages.patterns.ecma`).
    Descriptions are dedented with :func:`inspect.cleandoc`, ``anyOf`` members sorted by their
    JSON text, and :func:`render` sorts keys, so the committed files are byte-identical under every
    supported msgspec version (a test generates them under the lowest and the newest).
    """
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "description" and isinstance(v, str):
                out[k] = inspect.cleandoc(v)
            elif k == "pattern" and isinstance(v, str):
                out[k] = ecma(v)
            elif k == "anyOf" and isinstance(v, list):
                members = [canonical(m) for m in v]
                out[k] = sorted(members, key=lambda m: json.dumps(m, sort_keys=True))
            else:
                out[k] = canonical(v)
        return out
    if isinstance(node, list):
        return [canonical(v) for v in node]
    return node


def render(schema: dict[str, Any]) -> str:
    """The exact text written to disk (stable across runs and msgspec versions)."""
    return json.dumps(canonical(schema), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
