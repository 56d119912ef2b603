"""JSON Schema of the board profile (``schemas/board.schema.json``), generated from the Structs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from josev_hal.devices import Role
from josev_hal.profile.format import Profile
from josev_hal.profile.layers import EXTENDS_KEY

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = ["board_json_schema"]


def board_json_schema(pm: HalPluginManager | None = None) -> dict[str, Any]:
    """JSON Schema (2020-12) of the board profile, for editor completion.

    Without ``pm`` (what ``schemas/board.schema.json`` holds) bus and device ``options`` are open
    objects, because they depend on the installed plugins. With ``pm`` the schema also knows every
    installed bus kind's and driver's options (``josev-hal plugins --board-schema FILE``).
    ``load_profile`` validates options either way.
    """
    option_types: list[type[msgspec.Struct]] = []
    if pm is not None:
        option_types = [cls.Options for cls in pm.bus_kinds.values()] + [
            cls.Options for cls in pm.drivers.values()
        ]
    (schema, *option_refs), defs = msgspec.json.schema_components(
        [Profile, *option_types], ref_template="#/$defs/{name}"
    )
    bus: dict[str, Any] = {
        "title": "BusSpec",
        "description": "A [buses.<name>] table: kind (serial, i2c, can, or a plugin's kind) plus that kind's "
        "options in the same table.",
        "type": "object",
        "properties": {"kind": {"type": "string"}},
        "required": ["kind"],
        "additionalProperties": True,
    }
    device = defs["DeviceSpec"]
    device["properties"]["options"] = {
        "type": "object",
        "description": "The driver's own options (its Options Struct).",
    }
    defs["EvseSpec"]["properties"]["devices"]["propertyNames"] = {"enum": [role.value for role in Role]}
    # Read before decoding (josev_hal.profile.layers), so it is not a Profile field.
    defs["Profile"]["properties"][EXTENDS_KEY] = {
        "type": "string",
        "description": "A base profile (path relative to this file) that this one is merged over: tables "
        "key by key, [[...]] entries with an id by id, everything else replaced.",
    }
    if pm is not None:
        bus_refs = option_refs[: len(pm.bus_kinds)]
        driver_refs = option_refs[len(pm.bus_kinds) :]
        bus["properties"]["kind"] = {"enum": sorted(pm.bus_kinds)}
        bus["allOf"] = []
        for kind, ref in zip(pm.bus_kinds, bus_refs, strict=True):
            options = defs[ref["$ref"].rsplit("/", 1)[1]]
            # The options sit next to "kind" in the same table, so the kind's schema is inlined
            # with "kind" added rather than referenced.
            then = {
                "properties": {**options.get("properties", {}), "kind": {"const": kind}},
                "additionalProperties": False,
            }
            if options.get("required"):
                then["required"] = options["required"]
            bus["allOf"].append({"if": {"properties": {"kind": {"const": kind}}}, "then": then})
        device["properties"]["driver"] = {"enum": sorted(pm.drivers)}
        device["allOf"] = [
            {
                "if": {"properties": {"driver": {"const": name}}, "required": ["driver"]},
                "then": {"properties": {"options": ref}},
            }
            for name, ref in zip(pm.drivers, driver_refs, strict=True)
        ]
    defs["BusSpec"] = bus
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "josev-hal board profile",
        **schema,
        "$defs": defs,
    }
