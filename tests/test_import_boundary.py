"""Issue #18: the core does not import first-party plugin modules; plugins reach it through hooks.

Every ``import``/``from ... import`` (module level or inside a function) and every
``importlib.import_module("...")`` with a literal name in ``josev_hal/`` is read with ``ast``;
the plugin loader (``josev_hal/plugins.py``) is the one place allowed to import plugins. What is
left is listed in ``ALLOWED`` with the reason it still exists: the list may only shrink -- a new
core -> plugin import fails, and so does an entry whose import is gone (delete it then).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from josev_hal.daemon import BUILTIN_BOARD, load_board_profile
from josev_hal.errors import ConfigError
from josev_hal.plugins import get_plugin_manager

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "josev_hal"
LOADER = {"josev_hal/plugins.py"}
PLUGINS = set(
    tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["josev_hal"].values()
)


#: (file, imported plugin module) -> why it is still there.
ALLOWED: dict[tuple[str, str], str] = {}


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return found


def core_to_plugin_imports() -> set[tuple[str, str]]:
    """Every (core file, plugin module) import outside the plugin loader."""
    pairs: set[tuple[str, str]] = set()
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in LOADER:
            continue
        for module in _imports(ast.parse(path.read_text(encoding="utf-8"), rel)):
            if module.split(".")[0] in PLUGINS:
                pairs.add((rel, module))
    return pairs


def test_the_scan_sees_function_local_and_importlib_imports() -> None:
    source = "\n".join(
        [
            "def f():",
            "    from josev_hal_sim import x",
            "    import importlib",
            "    importlib.import_module('a.b')",
        ]
    )
    assert _imports(ast.parse(source)) == {"josev_hal_sim", "importlib", "a.b"}
    assert {"josev_hal_sim", "josev_hal_modbus", "josev_hal_i2c"} <= PLUGINS


def test_the_core_imports_no_first_party_plugin_module_beyond_the_shrinking_allow_list() -> None:
    found = core_to_plugin_imports()
    new = sorted(found - set(ALLOWED))
    assert new == [], f"core -> plugin imports (go through a hook instead): {new}"


def test_every_allow_list_entry_still_exists() -> None:
    stale = sorted(set(ALLOWED) - core_to_plugin_imports())
    assert stale == [], f"these imports are gone: delete them from ALLOWED: {stale}"


def test_the_built_in_board_comes_from_the_sim_plugin_through_its_hook() -> None:
    pm = get_plugin_manager()
    profile, source = load_board_profile(None, pm)
    assert source == BUILTIN_BOARD
    assert [e.id for e in profile.evse] == ["DE*JHL*E0001", "DE*JHL*E0002"]
    assert 'driver = "sim-phase-contactor"' in pm.hook.hal_builtin_board(name="sim-pv")
    assert pm.hook.hal_builtin_board(name="no-such-board") is None


def test_without_the_sim_plugin_no_board_is_a_clear_config_error() -> None:
    pm = get_plugin_manager(autoload=False)  # built-ins only: the sim plugin is not there
    with pytest.raises(ConfigError, match=r"no plugin provides the built-in sim board \(plugin 'sim'"):
        load_board_profile(None, pm)
