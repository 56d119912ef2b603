"""The dependency ranges CI tests: every runtime dependency has a lower bound, and the lowest-versions
stage of ``.ci/run`` pins exactly those bounds (derived by ``.ci/lowest_constraints.py``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".ci" / "lowest_constraints.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lowest_constraints", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lowest_stage_pins_every_runtime_dependency_to_its_lower_bound() -> None:
    pins = _script().lowest_pins(REPO / "pyproject.toml")
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(pins) == len(deps)
    pinned = dict(pin.split("==") for pin in pins)
    # The five the issue names are the ones whose behaviour the HAL depends on most.
    for name in ("msgspec", "paho-mqtt", "pluggy", "python-can", "pymodbus"):
        assert name in pinned, name
    for requirement in deps:
        name = requirement.split(">=")[0].strip()
        assert f">={pinned[name]}" in requirement.replace(" ", ""), requirement


def test_the_script_prints_a_constraints_file() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True)
    lines = [line for line in proc.stdout.splitlines() if not line.startswith("#")]
    assert lines and all("==" in line for line in lines)
    assert any(line.startswith("msgspec==") for line in lines)


@pytest.mark.parametrize(
    ("requirement", "pin"),
    [
        ('"pymodbus>=3.16.1,<4"', "pymodbus==3.16.1"),
        ('"paho-mqtt >= 2.0, <3"', "paho-mqtt==2.0"),
        ('"uvicorn[standard]>=0.30"', "uvicorn==0.30"),
        ("\"tomli>=2; python_version < '3.11'\"", "tomli==2"),
    ],
)
def test_bounds_are_read_from_every_requirement_form(tmp_path: Path, requirement: str, pin: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[project]\nname = "x"\ndependencies = [{requirement}]\n')
    assert _script().lowest_pins(path) == [pin]


@pytest.mark.parametrize("requirement", ['"rich"', '"rich<14"', '"rich==13.1"'])
def test_a_dependency_without_a_lower_bound_is_refused(tmp_path: Path, requirement: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f'[project]\nname = "x"\ndependencies = [{requirement}]\n')
    with pytest.raises(SystemExit, match="needs exactly one '>=' lower bound"):
        _script().lowest_pins(path)
