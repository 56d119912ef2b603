"""Plugins load on first use (issue #17 item 3) and a broken plugin disables only itself (#16).

Entry points are discovered without importing them; a plugin that declares its drivers and bus
kinds (groups ``josev_hal.drivers`` / ``josev_hal.bus_kinds``) is imported when a profile names one
of them. A plugin that fails is recorded in ``pm.failures`` with a message naming its entry point,
distribution and ``JOSEV_HAL_DISABLE_PLUGIN_AUTOLOAD``; only a board that needs it fails.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tests.support.loopback as loopback
from josev_hal.errors import ProfileError
from josev_hal.hookspecs import hookimpl
from josev_hal.plugins import (
    AUTOLOAD_ENV,
    BUS_KIND_INDEX_GROUP,
    DRIVER_INDEX_GROUP,
    ENTRY_POINT_GROUP,
    get_plugin_manager,
)
from josev_hal.profile import load_profile_text
from tests.support.cli import josev_hal_command
from tests.support.distributions import make_distribution

REPO = Path(__file__).resolve().parents[1]

RELAY_MODULE = """
import msgspec
from josev_hal.devices import Contactor, ContactorSample
from josev_hal.hookspecs import hookimpl

IMPORTED = True


class RelayOptions(msgspec.Struct, forbid_unknown_fields=True):
    gpio: int


class Relay(Contactor):
    Options = RelayOptions

    def __init__(self, config):
        super().__init__(config)
        self._closed = False

    @property
    def has_feedback(self):
        return True

    def close(self):
        self._closed = True

    def open(self):
        self._closed = False

    def read(self):
        return ContactorSample(commanded_closed=self._closed, feedback_closed=self._closed)


@hookimpl
def hal_register_drivers():
    return {"acme-relay": Relay}


SEEN = []


@hookimpl
def hal_board_loaded(profile, source):
    SEEN.append(dict(profile.plugins.get("acme", {})))
    return None
"""


class _Loopback:
    """tests.support.loopback as an extra plugin (the loop-* drivers of AC_PROFILE)."""

    name = "loopback"

    @hookimpl
    def hal_register_drivers(self) -> dict[str, type]:
        return loopback.hal_register_drivers()

    @hookimpl
    def hal_register_bus_kinds(self) -> dict[str, type]:
        return loopback.hal_register_bus_kinds()


def _relay_profile() -> str:
    text = loopback.AC_PROFILE.replace(
        '[evse.devices.contactor]\n  driver = "loop-contactor"\n  bus = "board"\n  address = 0x12\n',
        '[evse.devices.contactor]\n  driver = "acme-relay"\n  options = { gpio = 17 }\n',
    )
    assert "acme-relay" in text
    return text


def _declared(group: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for ep in md.distribution("josev-hal").entry_points:
        if ep.group == group:
            out.setdefault(ep.value, set()).add(ep.name)
    return out


def test_the_declarations_list_exactly_what_each_first_party_plugin_registers() -> None:
    pm = get_plugin_manager(autoload=True)
    pm.load_all()
    assert not pm.failures, [f.message() for f in pm.failures]
    first_party = [
        info for info in pm.plugin_info() if info.distribution == "josev-hal" and info.entry_point is not None
    ]
    assert {info.name for info in first_party} >= {"can", "i2c", "mculink", "modbus", "sim"}
    drivers, kinds = _declared(DRIVER_INDEX_GROUP), _declared(BUS_KIND_INDEX_GROUP)
    for info in first_party:
        hint = f'pyproject.toml [project.entry-points."{DRIVER_INDEX_GROUP}"] for plugin {info.name!r}'
        assert drivers.get(info.name, set()) == set(info.drivers), hint
        assert kinds.get(info.name, set()) == set(info.bus_kinds), hint


def _imported_plugins_after_loading(board: str) -> list[str]:
    """In a fresh interpreter: load ``board`` and list which first-party plugin modules got imported."""
    code = f"""
import json, sys
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile
pm = get_plugin_manager(autoload=True)
load_profile({board!r}, pm)
mods = ["can", "i2c", "linux", "mculink", "modbus", "sim"]
print(json.dumps(["josev_hal_" + m for m in mods if "josev_hal_" + m in sys.modules]))
"""
    env = {k: v for k, v in os.environ.items() if k != AUTOLOAD_ENV}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_a_board_imports_only_the_plugins_of_the_drivers_it_names() -> None:
    assert _imported_plugins_after_loading("boards/rpi-ads1115-mcp23017-sdm630.toml") == [
        "josev_hal_i2c",
        "josev_hal_modbus",
    ]
    assert _imported_plugins_after_loading("boards/sim.toml") == ["josev_hal_sim"]


def test_a_declared_third_party_plugin_is_imported_only_when_a_profile_names_its_driver(
    plugin_site: Path,
) -> None:
    make_distribution(
        plugin_site, "acme-hal", "1.0", "acme_hal_lazy", RELAY_MODULE, "acme", drivers=["acme-relay"]
    )
    pm = get_plugin_manager(autoload=True, extra_plugins=[_Loopback()])
    assert "acme" in pm.deferred and "acme_hal_lazy" not in sys.modules
    load_profile_text(loopback.AC_PROFILE, "boards/x.toml", pm)
    assert "acme_hal_lazy" not in sys.modules, "a board without acme-relay must not import it"
    profile = load_profile_text(_relay_profile(), "boards/x.toml", pm)
    assert sys.modules["acme_hal_lazy"].IMPORTED
    assert profile.evse[0].devices["contactor"].driver == "acme-relay"
    assert pm.driver_plugin("acme-relay") == "acme" and pm.deferred == [
        name for name in pm.deferred if name != "acme"
    ]


def test_a_plugin_table_loads_its_plugin_for_hal_board_loaded(plugin_site: Path) -> None:
    make_distribution(
        plugin_site, "acme-hal", "1.0", "acme_hal_table", RELAY_MODULE, "acme", drivers=["acme-relay"]
    )
    pm = get_plugin_manager(autoload=True, extra_plugins=[_Loopback()])
    load_profile_text(loopback.AC_PROFILE + '\n[plugins.acme]\ncolour = "red"\n', "boards/x.toml", pm)
    assert sys.modules["acme_hal_table"].SEEN == [{"colour": "red"}]


def test_a_broken_plugin_that_the_board_does_not_use_changes_nothing(plugin_site: Path) -> None:
    make_distribution(
        plugin_site, "broken-hal", "0.0.1", "broken_hal_lazy", "1/0\n", "broken", drivers=["broken-relay"]
    )
    pm = get_plugin_manager(autoload=True, extra_plugins=[_Loopback()])
    profile = load_profile_text(loopback.AC_PROFILE, "boards/x.toml", pm)
    assert profile.evse and pm.failures == []  # never even imported


def test_a_board_that_needs_a_broken_plugin_gets_its_error_in_the_profile_problem(plugin_site: Path) -> None:
    make_distribution(
        plugin_site, "acme-hal", "2.0", "acme_hal_broken", "import not_installed_dep\n", "acme",
        drivers=["acme-relay"],
    )  # fmt: skip
    pm = get_plugin_manager(autoload=True, extra_plugins=[_Loopback()])
    with pytest.raises(ProfileError) as info:
        load_profile_text(_relay_profile(), "boards/x.toml", pm)
    (problem,) = [p for p in info.value.problems if "acme-relay" in p]
    assert "evse[0].devices.contactor.driver: driver 'acme-relay' is not available" in problem
    assert "plugin 'acme' (entry point 'acme = acme_hal_broken', distribution acme-hal 2.0)" in problem
    assert "ModuleNotFoundError" in problem and "not_installed_dep" in problem
    assert f"{AUTOLOAD_ENV}=1" in problem
    assert problem.startswith("boards/x.toml:")


def test_an_undeclared_broken_plugin_is_reported_and_the_rest_keeps_working(plugin_site: Path) -> None:
    make_distribution(
        plugin_site, "broken-hal", "0.0.1", "broken_hal_eager", "raise RuntimeError('no')\n", "broken"
    )
    pm = get_plugin_manager(autoload=True)
    assert [f.name for f in pm.failures] == ["broken"]
    assert "sim-cp" in pm.drivers
    # A typo'd driver name mentions the failed plugin: it might have provided it.
    with pytest.raises(
        ProfileError, match=r"unknown driver 'acme-relay'.*not loaded because they failed: plugin 'broken'"
    ):
        load_profile_text(
            _relay_profile(), "boards/x.toml", get_plugin_manager(autoload=True, extra_plugins=[_Loopback()])
        )


def test_a_plugin_reusing_a_driver_name_is_disabled_and_the_original_kept(plugin_site: Path) -> None:
    source = RELAY_MODULE.replace('{"acme-relay": Relay}', '{"sim-contactor": Relay}')
    make_distribution(plugin_site, "copycat-hal", "1.0", "copycat_hal", source, "copycat")
    pm = get_plugin_manager(autoload=True)
    pm.load_all()
    (failure,) = pm.failures
    assert (
        failure.name == "copycat" and "driver 'sim-contactor' is registered by two plugins" in failure.error
    )
    assert pm.driver_plugin("sim-contactor") == "sim"


def test_check_passes_for_a_board_beside_a_broken_plugin_and_warns_with_the_variable(
    plugin_site: Path,
) -> None:
    make_distribution(plugin_site, "broken-hal", "0.0.1", "broken_hal_cli", "1/0\n", "broken")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_site), str(REPO)])}
    env.pop(AUTOLOAD_ENV, None)
    proc = subprocess.run(
        [*josev_hal_command(), "check", "boards/sim.toml"], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok boards/sim.toml" in proc.stdout
    assert "plugin 'broken'" in proc.stderr and "ZeroDivisionError" in proc.stderr
    assert f"{AUTOLOAD_ENV}=1" in proc.stderr
    assert ENTRY_POINT_GROUP  # the group the throwaway plugin registered under
