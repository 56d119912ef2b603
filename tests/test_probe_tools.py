"""``josev-hal probe`` is built from tools: the core's (``board``, ``relay``) and the plugins'
(hook ``hal_probe_tools``); what the plugins note on a device of ``probe board`` comes through
``hal_probe_device``.

Test plugins are registered as ``extra_plugins`` of a real plugin manager next to the installed
ones; for the console-script path the command's plugin manager is that one too.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from josev_hal import plugins
from josev_hal.board import Board
from josev_hal.cli import build_parser, main
from josev_hal.cli_tools import ToolConflict
from josev_hal.commands.probe import kinds_parser, offered_tools, probe
from josev_hal.devices import Driver, Role
from josev_hal.hookspecs import CliTool, hookimpl
from josev_hal.plugins import HalPluginManager, get_plugin_manager
from josev_hal.probe.board import probe_board
from josev_hal.profile import load_profile

REPO = Path(__file__).resolve().parent.parent
SIM_BOARD = REPO / "boards" / "sim.toml"
SHIPPED = {"serial": "modbus", "i2c": "i2c", "can": "can", "linux": "linux"}


class AnswerProbe:
    """A test plugin's probe: prints the option it got and whether --json was given."""

    help = "a test plugin's probe"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--answer", type=int, required=True)

    def run(self, args: argparse.Namespace, pm: HalPluginManager) -> int:
        print(f"answer={args.answer} json={args.json} draft={args.draft_profile}")
        return 0 if args.answer == 42 else 1


class ToolPlugin:
    """Offers ``tools`` through ``hal_probe_tools``."""

    def __init__(self, name: str, tools: Mapping[str, CliTool]) -> None:
        self.name = name
        self.tools = tools

    @hookimpl
    def hal_probe_tools(self) -> Mapping[str, CliTool]:
        return self.tools


class ContactorNotes:
    """Notes on every contactor through ``hal_probe_device``."""

    name = "contactor-notes"

    @hookimpl
    def hal_probe_device(self, device: Driver) -> Sequence[str] | None:
        return ["coil wired to the wrong pin"] if device.role is Role.CONTACTOR else None


class BrokenNotes:
    name = "broken-notes"

    @hookimpl
    def hal_probe_device(self, device: Driver) -> Sequence[str] | None:
        raise RuntimeError("plugin bug")


def _pm(*extra: object) -> HalPluginManager:
    pm = get_plugin_manager(autoload=True, extra_plugins=extra)
    pm.load_all()
    return pm


@dataclass
class CliPlugins:
    """Plugins the ``probe`` command's plugin manager gets next to the installed ones, and how
    many plugin managers the CLI built."""

    extra: list[object] = field(default_factory=list)
    built: int = 0


@pytest.fixture
def cli_plugins(monkeypatch: pytest.MonkeyPatch) -> CliPlugins:
    cli = CliPlugins()
    real = plugins.get_plugin_manager

    def with_extra() -> HalPluginManager:
        cli.built += 1
        return real(extra_plugins=list(cli.extra))

    monkeypatch.setattr(plugins, "get_plugin_manager", with_extra)
    return cli


# --------------------------------------------------------------------------------------------
# hal_probe_tools
# --------------------------------------------------------------------------------------------


def test_the_bus_probes_come_from_the_shipped_plugins_and_board_relay_from_the_core() -> None:
    tools = offered_tools(_pm())
    assert {name: tools[name].plugin for name in SHIPPED} == SHIPPED
    assert tools["board"].plugin == tools["relay"].plugin == "josev-hal"
    assert list(tools) == sorted(tools)  # --help lists them in a stable order


def test_a_plugins_tool_runs_under_probe_with_the_shared_options(capsys: pytest.CaptureFixture[str]) -> None:
    pm = _pm(ToolPlugin("answers", {"answer": AnswerProbe()}))
    tools = offered_tools(pm)
    assert tools["answer"].plugin == "answers"
    parser = kinds_parser(tools)
    assert "a test plugin's probe" in parser.format_help()
    assert probe(parser, ["answer", "--answer", "42", "--json", "--draft-profile", "x.toml"], pm) == 0
    assert capsys.readouterr().out == "answer=42 json=True draft=x.toml\n"
    assert probe(parser, ["answer", "--answer", "7"], pm) == 1


def test_a_tool_name_two_plugins_offer_is_an_error_naming_both() -> None:
    pm = _pm(ToolPlugin("first", {"answer": AnswerProbe()}), ToolPlugin("second", {"answer": AnswerProbe()}))
    with pytest.raises(ToolConflict, match=r"'answer' is offered by two plugins: 'first' and 'second'"):
        offered_tools(pm)


def test_a_plugin_offering_a_core_probe_name_is_an_error_naming_both() -> None:
    pm = _pm(ToolPlugin("shadow", {"relay": AnswerProbe()}))
    with pytest.raises(ToolConflict, match=r"'relay' is offered by josev-hal and by plugin 'shadow'"):
        offered_tools(pm)


def test_probe_builds_a_plugins_tool_only_when_probe_is_the_command(
    cli_plugins: CliPlugins, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_plugins.extra.append(ToolPlugin("answers", {"answer": AnswerProbe()}))
    build_parser()  # the full CLI (top-level --help)
    build_parser("run")
    assert cli_plugins.built == 0
    assert main(["probe", "answer", "--answer", "42"]) == 0
    assert capsys.readouterr().out == "answer=42 json=False draft=None\n"
    assert cli_plugins.built == 1


def test_probe_help_lists_the_plugins_tools_and_says_who_offers_them(
    cli_plugins: CliPlugins, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_plugins.extra.append(ToolPlugin("answers", {"answer": AnswerProbe()}))
    with pytest.raises(SystemExit) as exit_:
        main(["probe", "answer", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--answer" in out and "--json" in out and "(offered by plugin 'answers')" in out
    assert "Exit codes:" in out


def test_probe_with_two_plugins_offering_one_name_exits_3_naming_both(
    cli_plugins: CliPlugins, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_plugins.extra.append(ToolPlugin("first", {"serial": AnswerProbe()}))
    assert main(["probe", "serial", "--port", "/dev/null"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("josev-hal probe: plugin error:")
    assert "'serial' is offered by two plugins" in err and "'modbus'" in err and "'first'" in err


# --------------------------------------------------------------------------------------------
# hal_probe_device
# --------------------------------------------------------------------------------------------


@pytest.fixture
def sim_board() -> Iterator[Board]:
    from josev_hal_sim import WorldRegistry, set_default_registry

    # A registry of our own: worlds another test left attached must not stand in for this board's.
    previous = set_default_registry(WorldRegistry())
    pm = _pm()
    board = Board.build(load_profile(SIM_BOARD, pm), pm)
    board.setup()
    try:
        yield board
    finally:
        board.release()
        set_default_registry(previous)


def test_probe_board_carries_the_plugins_notes_on_a_device(sim_board: Board) -> None:
    found = probe_board(sim_board, _pm(ContactorNotes()))
    noted = {f.location["device"]: f.notes for f in found if f.notes}
    contactors = {d.device_id for d in sim_board.devices() if d.role is Role.CONTACTOR}
    assert contactors and noted == {c: ["coil wired to the wrong pin"] for c in contactors}


def test_a_plugin_failing_on_a_device_note_does_not_stop_probe_board(
    sim_board: Board, caplog: pytest.LogCaptureFixture
) -> None:
    found = probe_board(sim_board, _pm(BrokenNotes()))
    assert found and not any(f.notes for f in found)
    assert "broken-notes" in caplog.text


def test_a_plugins_note_makes_probe_board_exit_1(
    cli_plugins: CliPlugins, capsys: pytest.CaptureFixture[str]
) -> None:
    from josev_hal_sim import WorldRegistry, set_default_registry

    cli_plugins.extra.append(ContactorNotes())
    previous = set_default_registry(WorldRegistry())
    try:
        code = main(["probe", "board", "--board", str(SIM_BOARD), "--json"])
    finally:
        set_default_registry(previous)
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert [f["notes"] for f in data if "notes" in f] == [["coil wired to the wrong pin"]] * 2
