"""JSON Schemas generated from the payload Structs (``schemas/<name>.<type>.json``).

The Structs are the source of truth; these files exist for people and tools outside Python (editor
completion, other languages' validators). ``josev-hal schemas --out schemas/`` writes them and a
test fails when the committed files differ from a fresh generation.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from josev_hal.messages.codec import SPECS, UUID_PATTERN, MessageSpec

__all__ = ["message_schema", "message_schemas", "render"]

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


def render(schema: dict[str, Any]) -> str:
    """The exact text written to disk (stable across runs)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
