"""Oracle tests: josev-hal held against the official Josev API contract, an independent source.

They need the contract (a ``josev-api`` directory with ``schemas/``, ``examples/`` and
``MESSAGES.md``; README "Tests and the Josev API contract"): without it this whole module is one
skip with one reason. ``tests/test_messages_mutations.py`` (every contract example mutated, both
verdicts compared) is the other oracle module; ``pytest -m josev_contract`` runs all of them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from josev_hal.messages import SPECS, Message, decode, encode, error_response, utc_timestamp
from tests.support.cli import josev_hal_command
from tests.support.contract import (
    API_DIR,
    PROJECT_EXAMPLES,
    SKIP_REASON,
    Contract,
    official_contract_present,
)

if not official_contract_present():
    pytest.skip(SKIP_REASON, allow_module_level=True)

from josev_hal.functions.firmware import FirmwareStatus
from josev_hal.messages import payloads as p
from josev_hal.station.fault_names import FAULT_NAME_TABLE

pytestmark = pytest.mark.josev_contract

N = p.HardwareFaultName
CS_EXAMPLES = sorted((API_DIR / "examples").glob("*.json"))
EXAMPLES = sorted(PROJECT_EXAMPLES.glob("*.json"))


def _is_cs_topic(path: Path) -> bool:
    doc = json.loads(path.read_text())
    return (doc["name"], doc["type"]) in SPECS


def test_every_cs_topic_pair_of_the_contract_has_a_struct(contract: Contract) -> None:
    pairs = set()
    for path in (contract.root / "schemas").glob("*.json"):
        x = json.loads(path.read_text())["x-josev"]
        if "josev/cs" in x["topic"] or "cs/josev" in x["topic"] or x["topic"].startswith("reverse"):
            pairs.add(tuple(path.name.split(".")[:2]))
    assert pairs == set(SPECS)
    assert len(SPECS) == 85  # MESSAGES.md section 3: 49 names / 85 pairs on the CS topics


@pytest.mark.parametrize("path", [pytest.param(p_, id=p_.stem) for p_ in CS_EXAMPLES if _is_cs_topic(p_)])
def test_contract_example_decodes_and_reencodes_equal_as_data(path: Path, contract: Contract) -> None:
    raw = path.read_bytes()
    msg = decode(raw, strict=True)
    out = encode(msg)
    assert json.loads(out) == json.loads(raw)
    contract.validate(out)


def test_utc_timestamp_matches_the_contract_pattern(contract: Contract) -> None:
    doc = contract.schema_doc("meter_values", "update")
    pattern = doc["properties"]["data"]["properties"]["timestamp"]["pattern"]
    stamp = utc_timestamp()
    assert re.search(pattern, stamp), stamp
    assert stamp.endswith("Z")


# Requests Josev sends and the CS answers (the rest are requests the CS itself may send).
ANSWERED_BY_CS = sorted(
    n for (n, t), s in SPECS.items() if t == "request" and s.incoming and (n, "response") in SPECS
)


@pytest.mark.parametrize("name", ANSWERED_BY_CS)
def test_error_response_is_schema_valid_where_the_api_has_one(name: str, contract: Contract) -> None:
    req_cls = SPECS[(name, "request")].payload_cls
    example = contract.root / "examples" / f"{name}.request.json"
    request = decode(example.read_bytes(), strict=True) if example.exists() else None
    assert request is None or type(request.data) is req_cls
    if request is None:
        pytest.skip("no example request")
    payload = error_response(request, "handler failed: boom")
    if payload is None:
        props = contract.schema_doc(name, "response")["properties"]["data"].get("properties", {})
        status = props.get("status", {})
        assert not {"error", "rejected", "invalid", "failed"} & set(status.get("enum", []))
        return
    contract.validate(encode(Message.response_to(request, payload)))


def test_validate_command_checks_whole_message_files(contract: Contract) -> None:
    files = [str(p_) for p_ in CS_EXAMPLES if _is_cs_topic(p_)]
    proc = subprocess.run([*josev_hal_command(), "validate", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    assert len(proc.stdout.splitlines()) == len(files)


def test_every_project_example_satisfies_the_official_schema(contract: Contract) -> None:
    errors = {path.name: contract.schema_errors(json.loads(path.read_text())) for path in EXAMPLES}
    assert not {name: e for name, e in errors.items() if e}


def test_every_table_entry_is_a_contract_fault_name(contract: Contract) -> None:
    data = contract.schema_doc("hardware_fault", "update")["properties"]["data"]
    enum = set(data["properties"]["fault_name"]["enum"])
    assert {name.value for name in FAULT_NAME_TABLE.values()} <= enum
    assert {name.value for name in N} == enum


def test_published_statuses_are_all_values_of_the_schema_enum(contract: Contract) -> None:
    schema = contract.schema_doc("firmware_status", "update")
    allowed = set(schema["properties"]["data"]["properties"]["status"]["enum"])
    assert {s.value for s in FirmwareStatus} <= allowed


def test_generated_schema_accepts_what_the_contract_example_holds() -> None:
    from jsonschema import Draft202012Validator

    from josev_hal.messages.schema import message_schema

    for path in CS_EXAMPLES:
        doc = json.loads(path.read_text())
        if (doc["name"], doc["type"]) in SPECS:
            schema = message_schema(SPECS[(doc["name"], doc["type"])])
            assert not list(Draft202012Validator(schema).iter_errors(doc)), path.name
