"""The Josev API contract for tests: the official one in ``$JOSEV_API_DIR`` (default
``../shared/josev-api``) when it is there, else the project's own generated schemas.

Two kinds of tests use it:

* **Oracle tests** (marker ``josev_contract``; ``test_messages*.py``): they compare the project
  with the official contract -- its examples, its schemas' verdicts on mutants, its patterns. They
  only mean something against an independent source, so without the contract they are skipped,
  all with one reason (:data:`SKIP_REASON`). Run only them with ``pytest -m josev_contract``.
* **Behaviour tests** that also check every message the CS sent (bridge, functions, station):
  the ``contract`` fixture gives them the official schemas when present and otherwise the
  committed ``schemas/*.json`` (generated from the Structs, kept in sync by the schema tests), so
  they run -- and still validate what was sent -- on a fresh clone without ``../shared``. Their
  input messages come from :meth:`Contract.example`: the official example, or the project's own
  (``tests/data/josev_examples``) without the contract.

Either way messages are validated with the ``jsonschema`` library (Draft 2020-12, with its format
checker), never with the project's own decoder.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

REPO = Path(__file__).resolve().parents[2]
API_DIR = Path(os.environ.get("JOSEV_API_DIR", REPO.parent / "shared" / "josev-api"))
#: The marker of the oracle tests (registered in pyproject.toml).
ORACLE_MARKER = "josev_contract"
SKIP_REASON = (
    f"oracle test: needs the official Josev API contract (schemas/ and examples/), not found at {API_DIR}; "
    "set JOSEV_API_DIR (README: 'Tests and the Josev API contract')"
)


#: The project's own example messages (written for josev-hal, each checked against the official
#: schema by tests/test_project_examples.py): what tests use as input when the contract is absent.
PROJECT_EXAMPLES = REPO / "tests" / "data" / "josev_examples"


def official_contract_present() -> bool:
    return (API_DIR / "schemas").is_dir()


class Contract:
    """Access to the contract's schemas (and, for the official one, its examples).

    ``official`` is False for the fallback built from the project's own ``schemas/`` directory.
    """

    def __init__(self, root: Path, *, official: bool = True) -> None:
        self._root = root
        self.official = official
        self.schema_dir = root / "schemas"

    @property
    def root(self) -> Path:
        """The official contract directory (examples, MESSAGES.md). A test that reads the official
        examples is an oracle test: with the fallback it is skipped here, with the one reason."""
        if not self.official:
            pytest.skip(SKIP_REASON)
        return self._root

    @cache  # noqa: B019 - one Contract per session; caching validators is the point
    def validator(self, name: str, type_: str) -> Draft202012Validator:
        path = self.schema_dir / f"{name}.{type_}.json"
        schema = json.loads(path.read_text())
        return Draft202012Validator(schema, format_checker=FormatChecker())

    def has(self, name: str, type_: str) -> bool:
        return (self.schema_dir / f"{name}.{type_}.json").exists()

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

    def example(self, name: str, type_: str) -> dict[str, Any]:
        """An example envelope for (name, type) with a fresh id, as input for a test: the official
        contract's example, or without the contract the project's own (:data:`PROJECT_EXAMPLES`);
        skips with :data:`SKIP_REASON` when there is neither."""
        folder = self._root / "examples" if self.official else PROJECT_EXAMPLES
        path = folder / f"{name}.{type_}.json"
        if not self.official and not path.exists():
            pytest.skip(SKIP_REASON)
        doc = json.loads(path.read_text())
        doc["id"] = str(uuid.uuid4())
        return doc

    def examples(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        for path in sorted((self.root / "examples").glob("*.json")):  # root skips for the fallback
            yield path, json.loads(path.read_text())

    def schema_doc(self, name: str, type_: str) -> dict[str, Any]:
        """The official schema document (its layout, enums, patterns): oracle-only, like
        :attr:`root` (the generated schemas are shaped differently, with ``$defs``)."""
        return json.loads((self.root / "schemas" / f"{name}.{type_}.json").read_text())


def contract_or_skip() -> Contract:
    """The official contract, or skip the calling (oracle) test with :data:`SKIP_REASON`."""
    if not official_contract_present():
        pytest.skip(SKIP_REASON)
    return Contract(API_DIR)


@pytest.fixture(scope="session")
def _official_or_generated() -> Contract:
    if official_contract_present():
        return Contract(API_DIR)
    # The committed generated schemas sit directly in REPO/schemas (root = REPO).
    return Contract(REPO, official=False)


@pytest.fixture(scope="session")
def contract(_official_or_generated: Contract) -> Contract:
    """The Josev API contract to validate against: the official one, else the project's generated
    schemas (tests marked ``josev_contract`` are skipped at collection when it is absent, and a
    test that reads the official examples through ``contract.root`` skips there)."""
    return _official_or_generated


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Oracle tests skip before their fixtures run (a parametrised test over the contract's examples
    # must not build brokers or boards only to skip).
    if official_contract_present():
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.get_closest_marker(ORACLE_MARKER) is not None:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    if official_contract_present():
        return f"josev api contract: {API_DIR} (oracle tests run)"
    return (
        f"josev api contract: not found at {API_DIR}; oracle tests skip, others validate against "
        "schemas/ (set JOSEV_API_DIR)"
    )
