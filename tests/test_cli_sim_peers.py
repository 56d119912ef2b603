"""``josev-hal sim`` builds its sub-commands from the plugins' ``hal_sim_peers`` (issue #18): a peer
a plugin offers is a sub-command with the plugin's own options, a name two plugins offer is an
error naming both, and with no plugin offering a peer the command says so."""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping

import pluggy
import pytest

import josev_hal.plugins
from josev_hal import cli
from josev_hal.cli_tools import ToolConflict, collect_tools
from josev_hal.hookspecs import CliTool, hookimpl
from josev_hal.plugins import HalPluginManager


class CountingPeer:
    """Prints one line per ``--times`` and records the arguments it ran with."""

    help = "a peer that counts"

    def __init__(self) -> None:
        self.ran: list[argparse.Namespace] = []

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--times", type=int, required=True)

    def run(self, args: argparse.Namespace, pm: pluggy.PluginManager) -> int:
        self.ran.append(args)
        for i in range(args.times):
            print(f"count {i}")
        return 0


class PeerPlugin:
    def __init__(self, name: str, peers: Mapping[str, CliTool]) -> None:
        self.name = name
        self.peers = peers

    @hookimpl
    def hal_sim_peers(self) -> Mapping[str, CliTool]:
        return self.peers


class BrokenPeerPlugin:
    name = "broken-peers"

    @hookimpl
    def hal_sim_peers(self) -> Mapping[str, CliTool]:
        raise RuntimeError("cannot list peers")


def _with_plugins(
    monkeypatch: pytest.MonkeyPatch, extra: Iterable[object], *, autoload: bool | None = None
) -> None:
    """``josev-hal sim`` in this process sees ``extra`` next to the installed plugins."""
    real: Callable[..., HalPluginManager] = josev_hal.plugins.get_plugin_manager

    def with_extra(**kwargs: object) -> HalPluginManager:
        return real(autoload=autoload, extra_plugins=list(extra))

    monkeypatch.setattr(josev_hal.plugins, "get_plugin_manager", with_extra)


def test_a_peer_a_plugin_offers_is_a_sim_sub_command_with_its_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    peer = CountingPeer()
    _with_plugins(monkeypatch, [PeerPlugin("counting", {"count": peer})])
    assert cli.main(["sim", "count", "--times", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["count 0", "count 1"]
    assert [args.times for args in peer.ran] == [2]


def test_sim_help_lists_the_plugin_peers_next_to_the_first_party_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_plugins(monkeypatch, [PeerPlugin("counting", {"count": CountingPeer()})])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sim", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name, help_text in (
        ("count", "a peer that counts"),
        ("meter", "a Modbus RTU (or TCP) energy meter"),
        ("can", "a group of DC power modules on CAN"),
    ):
        listed = [line.split() for line in out.splitlines()]
        assert any(words[:1] == [name] and help_text in " ".join(words) for words in listed), (name, out)


def test_a_peer_option_error_is_a_one_line_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_plugins(monkeypatch, [PeerPlugin("counting", {"count": CountingPeer()})])
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sim", "count", "--times", "many"])
    assert exit_info.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("josev-hal sim count: error: argument --times")
    assert len(err.strip().splitlines()) == 1


def test_two_plugins_offering_the_same_peer_name_is_an_error_naming_both(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = CountingPeer(), CountingPeer()
    _with_plugins(
        monkeypatch,
        [PeerPlugin("acme-sims", {"count": first}), PeerPlugin("other-sims", {"count": second})],
    )
    assert cli.main(["sim", "count", "--times", "1"]) == cli.EXIT_RUNTIME
    err = capsys.readouterr().err
    assert "'count' is offered by two plugins: 'acme-sims' and 'other-sims'" in err
    assert first.ran == [] and second.ran == []


def test_a_plugin_claiming_a_first_party_peer_name_is_reported_with_both_plugins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_plugins(monkeypatch, [PeerPlugin("my-meter", {"meter": CountingPeer()})])
    assert cli.main(["sim", "meter", "--times", "1"]) == cli.EXIT_RUNTIME
    err = capsys.readouterr().err
    # The order is the plugins' load order (the deferred modbus plugin loads after this one).
    found = re.search(r"'meter' is offered by two plugins: '([^']+)' and '([^']+)'", err)
    assert found is not None, err
    assert set(found.groups()) == {"modbus", "my-meter"}


def test_without_a_plugin_offering_a_peer_sim_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_plugins(monkeypatch, [], autoload=False)  # built-ins only: no first-party plugin
    assert cli.main(["sim", "meter", "--model", "sdm630", "--pair"]) == cli.EXIT_RUNTIME
    err = capsys.readouterr().err
    assert "no installed plugin offers a simulated peer (hook hal_sim_peers)" in err


def test_a_plugin_whose_hook_fails_is_left_out_and_named(caplog: pytest.LogCaptureFixture) -> None:
    pm = josev_hal.plugins.get_plugin_manager(
        autoload=False, extra_plugins=[BrokenPeerPlugin(), PeerPlugin("counting", {"count": CountingPeer()})]
    )
    with caplog.at_level(logging.WARNING, logger="josev_hal.cli_tools"):
        tools = collect_tools(pm, "hal_sim_peers")
    assert list(tools) == ["count"] and tools["count"].plugin == "counting"
    assert "plugin 'broken-peers': hal_sim_peers() failed" in caplog.text


def test_an_entry_that_is_not_a_tool_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    bad = PeerPlugin("bad", {"no-run": object(), "with space": CountingPeer()})  # type: ignore[dict-item]
    pm = josev_hal.plugins.get_plugin_manager(autoload=False, extra_plugins=[bad])
    with caplog.at_level(logging.WARNING, logger="josev_hal.cli_tools"):
        assert collect_tools(pm, "hal_sim_peers") == {}
    assert "'no-run' left out" in caplog.text and "'with space' left out" in caplog.text


def test_the_conflict_error_is_a_plugin_error_naming_the_later_plugin() -> None:
    pm = josev_hal.plugins.get_plugin_manager(
        autoload=False,
        extra_plugins=[PeerPlugin("a", {"x": CountingPeer()}), PeerPlugin("b", {"x": CountingPeer()})],
    )
    with pytest.raises(ToolConflict) as info:
        collect_tools(pm, "hal_sim_peers")
    assert info.value.plugin == "b"


def test_building_the_sim_command_loads_no_plugin() -> None:
    # main() builds the chosen command's parser before running it; the peers (and so every
    # plugin) are loaded only in run(), so the full CLI parser (top-level --help) does not load
    # plugins on sim's account either.
    script = textwrap.dedent(
        """
        import json, sys
        from josev_hal.cli import build_parser
        build_parser(only="sim")
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("josev_hal_"))))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
