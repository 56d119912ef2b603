"""Issue #18 item 4: the plugin edge is typed and the type information ships.

Hook parameters and results carry real types (no ``Any``: a plugin author's type checker sees
what the HAL passes); the core and every first-party plugin are PEP 561 packages (``py.typed``,
checked in the installed wheel by .ci/run); mypy runs strictly over ``josev_hal`` and ``plugins``.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest

from josev_hal.hookspecs import HalSpec

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
HOOKS = sorted(name for name in vars(HalSpec) if name.startswith("hal_"))


@pytest.mark.parametrize("name", HOOKS)
def test_hook_parameters_and_result_are_typed_without_any(name: str) -> None:
    signature = inspect.signature(getattr(HalSpec, name))
    annotations = [str(p.annotation) for p in list(signature.parameters.values())[1:]]
    annotations.append(str(signature.return_annotation))
    assert not [a for a in annotations if re.search(r"\bAny\b", a)], f"{name}: {annotations}"


def test_core_and_every_first_party_plugin_ship_py_typed() -> None:
    packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert "josev_hal" in packages
    missing = [pkg for pkg in packages if not (REPO / pkg / "py.typed").is_file()]
    assert missing == []
    on_disk = sorted(p.name for p in (REPO / "plugins").iterdir() if (p / "__init__.py").is_file())
    assert sorted(Path(pkg).name for pkg in packages if pkg.startswith("plugins/")) == on_disk


def test_mypy_is_strict_over_core_and_plugins_in_ci() -> None:
    mypy = PYPROJECT["tool"]["mypy"]
    assert mypy["strict"] is True
    assert set(mypy["files"]) == {"josev_hal", "plugins"}
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r'^"\$newest/bin/mypy" josev_hal plugins\b', ci, flags=re.M)
