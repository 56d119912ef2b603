"""The README's per-message coverage table ("What happens with each message Josev sends") says
what the code does: every request Josev may send has a row, and its "invalid data" and "cannot
answer" columns name the status the codec answers with, or say "no answer" where it has none."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

from josev_hal.messages import SPECS, MessageError, decode, error_response, invalid_request_response
from tests.support.contract import Contract

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "#### What happens with each message Josev sends"
INCOMING_REQUESTS = sorted(n for (n, t), s in SPECS.items() if t == "request" and s.incoming)


def _rows() -> dict[str, list[str]]:
    text = README.read_text()
    assert SECTION in text, "the coverage table is missing from the README"
    body = text.split(SECTION, 1)[1].split("\n#", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in body.splitlines():
        m = re.match(r"\| `([a-z0-9_]+)` request \|(.*)\|\s*$", line)
        if m:
            rows[m[1]] = [c.strip() for c in m[2].split(" | ")]
    return rows


def _said(cell: str, payload: object | None) -> None:
    if payload is None:
        assert cell.startswith("no answer"), cell
        return
    doc = msgspec.to_builtins(payload)
    status = doc.get("status") or doc.get("result") or doc.get("error_code")
    assert f"`{status}`" in cell, f"{cell!r} does not name {status!r}"


def test_every_request_josev_sends_has_a_row() -> None:
    assert sorted(_rows()) == INCOMING_REQUESTS


def _updates_and_responses_listed(kind: str) -> set[str]:
    text = README.read_text().split(SECTION, 1)[1].split("\n#", 1)[0]
    line = next(line for line in text.splitlines() if line.startswith(f"| every {kind}"))
    return set(re.findall(r"`([a-z0-9_]+)`", line.split(" | ")[0]))


def test_every_update_and_response_josev_sends_is_listed() -> None:
    updates = {n for (n, t), s in SPECS.items() if t == "update" and s.incoming}
    responses = {
        n for (n, t), s in SPECS.items() if t == "response" and s.incoming and n != "reset_ocpp_router_state"
    }
    assert _updates_and_responses_listed("update") == updates
    assert _updates_and_responses_listed("response") == responses


@pytest.mark.parametrize("name", INCOMING_REQUESTS)
def test_the_invalid_and_cannot_answer_columns_match_the_codec(name: str, contract: Contract) -> None:
    _valid, invalid, cannot = _rows()[name]
    example = contract.example(name, "request")  # the project's own when the contract is absent
    request = decode(json.dumps(example), strict=True)
    _said(cannot, error_response(request, "handler failed"))
    data = example["data"]
    key = next((k for k in data if k not in ("evse_id", "connector_id", "ocpp_version")), None)
    example["data"] = ["not an object"] if key is None else {**data, key: [[1]]}
    raw = json.dumps(example)
    with pytest.raises(MessageError) as info:
        decode(raw)
    answer = invalid_request_response(raw, info.value)
    _said(invalid, None if answer is None else answer.data)
