"""JSON Schemas of the EVerest API payloads as josev-hal's Structs define them
(``schemas/everest/<api_type>.<direction>.<name>.json``, written by ``josev-hal schemas``).

They document what the HAL sends and accepts; the upstream AsyncAPI files stay the authority and
``tests/test_everest_codec.py`` proves the Structs agree with them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from josev_hal.everest.codec import PAYLOADS

__all__ = ["everest_schemas"]


def everest_schemas() -> dict[str, dict[str, Any]]:
    """``everest/<api_type>.<direction>.<name>.json`` -> schema, for every message with a payload."""
    out: dict[str, dict[str, Any]] = {}
    for (api, direction, name), tp in sorted(PAYLOADS.items()):
        if tp is None:
            continue
        schema = dict(msgspec.json.schema(tp))
        schema["title"] = f"everest_api/1/{api}/<module_id>/{direction}/{name}"
        out[f"everest/{api}.{direction}.{name}.json"] = schema
    return out
