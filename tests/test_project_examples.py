"""The project's own example messages (tests/data/josev_examples), the inputs of tests that run
without the official Josev API contract: valid for josev-hal's strict decoder always, and for the
official contract's schemas when it is present (an oracle test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from josev_hal.messages import decode
from tests.support.contract import PROJECT_EXAMPLES

EXAMPLES = sorted(PROJECT_EXAMPLES.glob("*.json"))


def test_there_are_project_examples() -> None:
    assert len(EXAMPLES) >= 13


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_a_project_example_decodes_strictly_and_is_named_after_its_message(path: Path) -> None:
    message = decode(path.read_bytes(), strict=True)
    assert f"{message.name}.{message.type.value}" == path.stem
