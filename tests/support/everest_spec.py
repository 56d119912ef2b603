"""The EVerest API specification in ``../shared/everest-api`` (or ``$EVEREST_API_DIR``), read with
PyYAML, as jsonschema validators per message.

The AsyncAPI files are one document per API type; a message's payload schema is validated with
the whole document as the root, so the file's own ``#/components/...`` references resolve.
References into files the shared copy does not contain (``evse_manager_consumer_API.yaml``,
``auth_consumer_API.yaml``) are reported as such, and tests skip those messages naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

REPO = Path(__file__).resolve().parents[2]
EVEREST_DIR = Path(os.environ.get("EVEREST_API_DIR", REPO.parent / "shared" / "everest-api"))

# jsonschema's own date-time check needs an optional package; the spec's timestamps are RFC 3339.
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value.upper() or not (value.endswith(("Z", "z")) or value[-6] in "+-"):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    return True


#: The one reason every test that needs the external EVerest API files skips with.
SKIP_REASON = (
    f"oracle test: needs the EVerest API spec (AsyncAPI files), not found at {EVEREST_DIR}; "
    "set EVEREST_API_DIR"
)

#: Whether the EVerest API files are there (oracle modules skip as a whole without them).
EVEREST_DIR_PRESENT = (EVEREST_DIR / "evse_board_support_API.yaml").exists()


def require_spec() -> Path:
    if not EVEREST_DIR_PRESENT:
        pytest.skip(SKIP_REASON)
    return EVEREST_DIR


@dataclass(frozen=True)
class SpecMessage:
    api_type: str
    direction: str  # e2m | m2e | reply
    name: str
    message: str  # components.messages key
    payload: Any  # the payload schema (None: the message has no payload)
    external_ref: str | None  # a referenced file missing from the shared copy
    examples: tuple[Any, ...]


@cache
def load_document(file_name: str) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((require_spec() / file_name).read_text(encoding="utf-8")))


def _external(schema: Any) -> str | None:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return ref.split("#", 1)[0]
        for value in schema.values():
            found = _external(value)
            if found:
                return found
    if isinstance(schema, list):
        for value in schema:
            found = _external(value)
            if found:
                return found
    return None


def _message_of(doc: dict[str, Any], channel: dict[str, Any]) -> str:
    (entry,) = channel["messages"].values()
    return str(entry["$ref"]).rsplit("/", 1)[-1]


def messages(file_name: str, api_type: str) -> list[SpecMessage]:
    """Every message of one API file with its direction and name as our codec keys it."""
    doc = load_document(file_name)
    channels: dict[str, Any] = doc["channels"]
    out: list[SpecMessage] = []
    reply_names: dict[str, str] = {}
    for op in doc.get("operations", {}).values():
        reply = op.get("reply")
        if reply:
            request_channel = channels[str(op["channel"]["$ref"]).rsplit("/", 1)[-1]]
            reply_channel = str(reply["channel"]["$ref"]).rsplit("/", 1)[-1]
            reply_names[reply_channel] = str(request_channel["address"]).rsplit("/", 1)[-1]
    for key, channel in channels.items():
        address = channel.get("address")
        if address is None:
            if key not in reply_names:
                continue
            direction, name = "reply", reply_names[key]
        else:
            direction, _, name = str(address).partition("/")
        msg_key = _message_of(doc, channel)
        message = doc["components"]["messages"][msg_key]
        payload = message.get("payload")
        if payload == {}:
            payload = None
        examples = tuple(e["payload"] for e in message.get("examples", []) if "payload" in e)
        out.append(SpecMessage(api_type, direction, name, msg_key, payload, _external(payload), examples))
    return out


@cache
def validator(file_name: str, message: str) -> Draft202012Validator:
    doc = load_document(file_name)
    schema = {**doc, "$ref": f"#/components/messages/{message}/payload"}
    return Draft202012Validator(schema, format_checker=FORMATS)


FILES = {
    "evse_board_support": "evse_board_support_API.yaml",
    "powermeter": "powermeter_API.yaml",
    "isolation_monitor": "isolation_monitor_API.yaml",
    "power_supply_DC": "power_supply_DC_API.yaml",
    "auth_token_provider": "auth_token_provider_API.yaml",
}
