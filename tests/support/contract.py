"""The external oracle: the Josev API contract in ``../shared/josev-api`` (or ``$JOSEV_API_DIR``).

Tests validate what the project sends against the contract's own JSON Schemas with the
``jsonschema`` library (Draft 2020-12, with its format checker), never against the project's
generated schemas. When the contract directory is absent, tests that need it are skipped with a
reason that says where it was looked for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

REPO = Path(__file__).resolve().parents[2]
API_DIR = Path(os.environ.get("JOSEV_API_DIR", REPO.parent / "shared" / "josev-api"))


class Contract:
    """Access to the shared schemas and examples."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @cache  # noqa: B019 - one Contract per session; caching validators is the point
    def validator(self, name: str, type_: str) -> Draft202012Validator:
        path = self.root / "schemas" / f"{name}.{type_}.json"
        schema = json.loads(path.read_text())
        return Draft202012Validator(schema, format_checker=FormatChecker())

    def has(self, name: str, type_: str) -> bool:
        return (self.root / "schemas" / f"{name}.{type_}.json").exists()

    def schema_errors(self, message: bytes | str | dict[str, Any]) -> list[str]:
        """Every contract violation of one envelope, as ``<json path>: <reason>`` lines."""
        doc = json.loads(message) if isinstance(message, (bytes, str)) else message
        if not isinstance(doc, dict) or not self.has(str(doc.get("name")), str(doc.get("type"))):
            return [f"$: no schema for name={doc.get('name')!r} type={doc.get('type')!r}"]  # type: ignore[union-attr]
        validator = self.validator(doc["name"], doc["type"])
        return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]

    def accepts(self, message: bytes | str | dict[str, Any]) -> bool:
        doc = json.loads(message) if isinstance(message, (bytes, str)) else message
        if not isinstance(doc, dict):
            return False
        name, type_ = doc.get("name"), doc.get("type")
        if not (isinstance(name, str) and isinstance(type_, str) and self.has(name, type_)):
            return False
        return self.validator(name, type_).is_valid(doc)

    def validate(self, message: bytes | str | dict[str, Any]) -> None:
        """Assert that ``message`` satisfies the contract (the assertion lists every error)."""
        errors = self.schema_errors(message)
        assert not errors, f"contract violation in {message!r}:\n" + "\n".join(errors)

    def examples(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        for path in sorted((self.root / "examples").glob("*.json")):
            yield path, json.loads(path.read_text())

    def schema_doc(self, name: str, type_: str) -> dict[str, Any]:
        return json.loads((self.root / "schemas" / f"{name}.{type_}.json").read_text())


def contract_or_skip() -> Contract:
    if not (API_DIR / "schemas").is_dir():
        pytest.skip(f"Josev API contract not found at {API_DIR} (set JOSEV_API_DIR)")
    return Contract(API_DIR)


@pytest.fixture(scope="session")
def contract() -> Contract:
    """The shared Josev API contract (skips the test when ``../shared`` is absent)."""
    return contract_or_skip()
