"""The plugin manager: built-ins, entry-point discovery of a real (throwaway) distribution, precise
errors for broken plugins, autoload switch, duplicate names, ``josev-hal plugins``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

import tests.support.loopback as loopback
from josev_hal.board import Board
from josev_hal.cli import main
from josev_hal.devices import Contactor, Role
from josev_hal.errors import PluginError
from josev_hal.hookspecs import hookimpl
from josev_hal.plugins import AUTOLOAD_ENV, BUILTIN_PLUGINS, get_plugin_manager
from josev_hal.profile import load_profile_text

ACME_MODULE = '''
"""A third-party driver: a relay on a GPIO line with a mirror-contact input (in memory here)."""
import msgspec
from josev_hal.devices import Contactor, ContactorSample
from josev_hal.hookspecs import hookimpl


class RelayOptions(msgspec.Struct, forbid_unknown_fields=True):
    gpio: int


class AcmeRelay(Contactor):
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
    return {"acme-relay": AcmeRelay}
'''


def _make_distribution(site: Path, dist: str, version: str, module: str, source: str, entry: str) -> None:
    """Write an installed distribution the way pip would: a module and a .dist-info directory."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[josev_hal]\n{entry} = {module}\n")
    (info / "RECORD").write_text("")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh site directory on sys.path; modules imported from it are forgotten afterwards."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    before = set(sys.modules)
    yield site
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], "__file__", "") and str(site) in str(sys.modules[name].__file__):
            del sys.modules[name]


@pytest.fixture
def acme_site(site: Path) -> Path:
    _make_distribution(site, "acme-hal-plugin", "1.2.3", "acme_hal_plugin", ACME_MODULE, "acme")
    return site


def _acme_profile() -> str:
    text = loopback.AC_PROFILE.replace(
        '[evse.devices.contactor]\n  driver = "loop-contactor"\n  bus = "board"\n  address = 0x12\n',
        '[evse.devices.contactor]\n  driver = "acme-relay"\n  options = { gpio = 17 }\n',
    )
    assert "acme-relay" in text
    return text


def test_builtins_are_registered_without_autoload() -> None:
    pm = get_plugin_manager(autoload=False)
    names = [name for name, _ in pm.list_name_plugin()]
    assert names == list(BUILTIN_PLUGINS)
    info = {i.name: i for i in pm.plugin_info()}
    assert info["josev_hal.builtin.policies"].distribution == "josev-hal"
    assert "hal_reset" in info["josev_hal.builtin.policies"].hooks


def test_throwaway_distribution_is_discovered_and_its_driver_works_from_a_profile(acme_site: Path) -> None:
    pm = get_plugin_manager(extra_plugins=[loopback])
    assert "acme-relay" in pm.drivers
    assert pm.driver_plugin("acme-relay") == "acme"
    info = {i.name: i for i in pm.plugin_info()}["acme"]
    assert (info.distribution, info.version, info.drivers) == ("acme-hal-plugin", "1.2.3", ["acme-relay"])
    assert info.entry_point == "acme = acme_hal_plugin"

    profile = load_profile_text(_acme_profile(), "acme.toml", pm)
    assert profile.evse[0].devices[Role.CONTACTOR].options.gpio == 17
    with Board.build(profile, pm) as board:
        relay = board.evse("DE*ACM*E0001").require(Role.CONTACTOR, Contactor)
        assert type(relay).__name__ == "AcmeRelay" and relay.config.plugin == "acme"
        relay.close()
        assert relay.read().feedback_closed is True


def test_throwaway_driver_options_are_checked_like_any_other(acme_site: Path) -> None:
    from josev_hal.errors import ProfileError

    pm = get_plugin_manager(extra_plugins=[loopback])
    with pytest.raises(
        ProfileError, match=r"evse\[0\]\.devices\.contactor\.options\.gpio: expected int, got \"17\""
    ):
        load_profile_text(_acme_profile().replace("gpio = 17", 'gpio = "17"'), "acme.toml", pm)


def test_plugin_failing_to_import_names_entry_point_and_distribution(site: Path) -> None:
    _make_distribution(
        site, "broken-hal-plugin", "0.0.1", "broken_hal_plugin", "import not_installed_dep\n", "broken"
    )
    pm = get_plugin_manager()  # the broken plugin disables only itself
    (failure,) = pm.failures
    message = failure.message()
    assert "plugin 'broken'" in message and "failed to load and is disabled" in message
    assert "entry point 'broken = broken_hal_plugin'" in message
    assert "distribution broken-hal-plugin 0.0.1" in message
    assert "ModuleNotFoundError" in message and "not_installed_dep" in message
    assert f"{AUTOLOAD_ENV}=1" in message
    assert (failure.name, failure.distribution) == ("broken", "broken-hal-plugin")
    assert pm.get_plugin("broken") is None
    assert "sim-cp" in pm.drivers  # everything else still works


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_autoload_can_be_disabled_by_environment(
    site: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    _make_distribution(
        site, "broken-hal-plugin", "0.0.1", "broken_hal_plugin", "raise RuntimeError('x')\n", "broken"
    )
    _make_distribution(site, "acme-hal-plugin", "1.2.3", "acme_hal_plugin", ACME_MODULE, "acme")
    monkeypatch.setenv(AUTOLOAD_ENV, value)
    pm = get_plugin_manager()  # the broken plugin is not even imported
    assert "acme-relay" not in pm.drivers
    assert pm.get_plugin("acme") is None
    # An explicit argument wins over the environment.
    loaded = get_plugin_manager(autoload=True)
    assert [f.name for f in loaded.failures] == ["broken"]
    assert "acme-relay" in loaded.drivers


def test_duplicate_driver_names_name_both_plugins() -> None:
    class First:
        name = "vendor-a"

        @hookimpl
        def hal_register_drivers(self) -> dict[str, type]:
            return {"relay": loopback.LoopContactor}

    class Second:
        name = "vendor-b"

        @hookimpl
        def hal_register_drivers(self) -> dict[str, type]:
            return {"relay": loopback.LiarContactor}

    with pytest.raises(PluginError) as info:
        get_plugin_manager(autoload=False, extra_plugins=[First(), Second()])
    message = str(info.value)
    assert "driver 'relay' is registered by two plugins" in message
    assert "'vendor-a'" in message and "'vendor-b'" in message


def test_duplicate_bus_kinds_name_both_plugins() -> None:
    class Again:
        name = "loopback-again"

        @hookimpl
        def hal_register_bus_kinds(self) -> dict[str, type]:
            return {"loopback": loopback.LoopbackBus}

    with pytest.raises(
        PluginError, match=r"bus kind 'loopback' is registered by two plugins: 'tests.support.loopback'"
    ):
        get_plugin_manager(autoload=False, extra_plugins=[loopback, Again()])


@pytest.mark.parametrize(
    ("registered", "reason"),
    [
        (object, "is not a subclass of josev_hal.devices.Driver"),
        (Contactor, "leaves abstract methods unimplemented"),
    ],
)
def test_invalid_driver_classes_are_rejected(registered: type, reason: str) -> None:
    class Bad:
        name = "bad-vendor"

        @hookimpl
        def hal_register_drivers(self) -> dict[str, type]:
            return {"thing": registered}

    with pytest.raises(PluginError, match=rf"plugin 'bad-vendor': driver 'thing': .*{reason}"):
        get_plugin_manager(autoload=False, extra_plugins=[Bad()])


def test_unknown_hook_is_rejected_by_check_pending() -> None:
    class Typo:
        name = "typo-vendor"

        @hookimpl
        def hal_regster_drivers(self) -> dict[str, type]:
            return {}

    with pytest.raises(PluginError, match=r"plugin 'typo-vendor' is invalid: .*hal_regster_drivers"):
        get_plugin_manager(autoload=False, extra_plugins=[Typo()])


def test_hook_with_wrong_arguments_is_rejected_at_registration() -> None:
    class WrongArgs:
        name = "wrong-args"

        @hookimpl
        def hal_reset(self, kind: str, evse: str) -> None:
            return None

    with pytest.raises(PluginError, match=r"(?s)plugin 'wrong-args' is invalid: .*'evse'"):
        get_plugin_manager(autoload=False, extra_plugins=[WrongArgs()])


def test_plugins_command_lists_plugins_as_text_and_json(
    acme_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "HOOKS", "DRIVERS", "/", "BUS", "KINDS"]
    acme = next(line for line in lines if line.startswith("acme "))
    assert acme.split() == ["acme", "acme-hal-plugin", "1.2.3", "register_drivers", "acme-relay"]
    assert main(["plugins", "--json"]) == 0
    data = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert data["acme"]["drivers"] == ["acme-relay"]
    assert data["acme"]["hooks"] == ["hal_register_drivers"]
    assert data["josev_hal.builtin.policies"]["version"]


def test_plugins_command_lists_a_broken_plugin_as_failed_and_exits_1(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_distribution(site, "broken-hal-plugin", "0.0.1", "broken_hal_plugin", "1/0\n", "broken")
    assert main(["plugins"]) == 1
    captured = capsys.readouterr()
    assert "broken-hal-plugin 0.0.1" in captured.err and "ZeroDivisionError" in captured.err
    assert AUTOLOAD_ENV in captured.err
    row = next(line for line in captured.out.splitlines() if line.startswith("broken "))
    assert row.split()[:4] == ["broken", "broken-hal-plugin", "0.0.1", "FAILED"]
    assert any(line.startswith("sim ") for line in captured.out.splitlines())


def test_console_scripts_see_the_throwaway_plugin(acme_site: Path, tmp_path: Path) -> None:
    """``josev-hal plugins`` and ``josev-hal check`` work from the installed console script."""
    script = Path(sys.executable).with_name("josev-hal")
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(acme_site), str(repo)])}
    env.pop(AUTOLOAD_ENV, None)
    listed = subprocess.run(
        [script, "plugins", "--json"], capture_output=True, text=True, env=env, check=True
    )
    assert "acme-relay" in {d for p in json.loads(listed.stdout) for d in p["drivers"]}
    profile = tmp_path / "acme.toml"
    profile.write_text(_acme_profile().replace('driver = "acme-relay"', 'driver = "acme-relais"'))
    checked = subprocess.run([script, "check", str(profile)], capture_output=True, text=True, env=env)
    assert checked.returncode == 1
    assert "evse[0].devices.contactor.driver: unknown driver 'acme-relais' (did you mean 'acme-relay'?)" in (
        checked.stdout
    )


def test_plugins_command_writes_a_board_schema_with_the_installed_options(
    acme_site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "board.schema.json"
    assert main(["plugins", "--board-schema", str(target)]) == 0
    schema = json.loads(target.read_text())
    doc = tomllib.loads(_acme_profile().replace('kind = "loopback"', 'kind = "i2c"\nbus = 1'))
    for evse in doc["evse"]:
        for device in evse["devices"].values():
            device.pop("bus", None)  # the loopback drivers are not installed; keep only acme's check
    doc["evse"][0]["devices"] = {"contactor": doc["evse"][0]["devices"]["contactor"]}
    jsonschema.validate(doc, schema)
    doc["evse"][0]["devices"]["contactor"]["options"]["gpoi"] = 1
    with pytest.raises(jsonschema.ValidationError, match="gpoi"):
        jsonschema.validate(doc, schema)
    doc["buses"]["board"]["bus"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
