"""Every hook is declared with types and documentation, tested, and listed in the architecture doc."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from josev_hal.hookspecs import PROJECT, HalSpec

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
HOOKS = sorted(name for name in vars(HalSpec) if name.startswith("hal_"))


def _spec_opts(name: str) -> dict[str, object]:
    opts = getattr(getattr(HalSpec, name), f"{PROJECT}_spec", None)
    assert opts is not None, f"{name} is not marked with @hookspec"
    return opts


def test_hooks_are_found() -> None:
    # Guards the enumeration itself: the two original hooks must be among them.
    assert {"hal_register_drivers", "hal_register_bus_kinds"} <= set(HOOKS)
    assert len(HOOKS) >= 13


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_typed_and_documents_when_it_fires_and_how_it_is_called(name: str) -> None:
    fn = getattr(HalSpec, name)
    doc = inspect.getdoc(fn) or ""
    assert doc, f"{name} has no docstring"
    assert "When:" in doc, f"{name}: the docstring must say when the hook fires ('When: ...')"
    calling = re.search(r"Calling: (firstresult|all results)", doc)
    assert calling, f"{name}: the docstring must say 'Calling: firstresult' or 'Calling: all results'"
    firstresult = bool(_spec_opts(name).get("firstresult"))
    assert (calling.group(1) == "firstresult") == firstresult, f"{name}: docstring and @hookspec disagree"
    signature = inspect.signature(fn)
    assert signature.return_annotation is not inspect.Signature.empty, f"{name} has no return type"
    for param in list(signature.parameters.values())[1:]:
        assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name}) has no type"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name: str) -> None:
    files = [p for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name]
    using = [p.name for p in files if name in p.read_text(encoding="utf-8")]
    assert using, f"hook {name} is not exercised by any test file: add a test that implements or calls it"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_listed_in_the_architecture_doc(name: str) -> None:
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert f"`{name}" in doc, f"list {name} in docs/architecture.md (Plugins section)"
