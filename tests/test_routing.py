"""Issue #18 item 1: one routing table decides which code answers each message Josev sends.

The table (josev_hal/routing.py) covers every CS-side (name, type) of the contract exactly once;
components bind only the rows it gives them; a plugin claiming an owned message fails the
daemon's start-up with an error naming both claimants; a plugin may answer a message ignored by
design, end to end through a private mosquitto; ``josev-hal plugins --routes`` prints it; the
README's coverage table agrees with it.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from josev_hal.errors import PluginError
from josev_hal.hookspecs import hookimpl
from josev_hal.messages import SPECS, Message, MessageType
from josev_hal.messages import payloads as p
from josev_hal.plugins import get_plugin_manager
from josev_hal.routing import ROUTES, RouteKind, Router, RoutingError, check_table, format_routes, route
from tests.support.broker import JosevPeer
from tests.support.functions_rig import request_doc

README = Path(__file__).resolve().parents[1] / "README.md"
INCOMING = {(n, MessageType(t)) for (n, t), s in SPECS.items() if s.incoming}


class Recorder:
    """A bridge stand-in that records registrations (the router's only bridge call)."""

    def __init__(self) -> None:
        self.registered: list[tuple[str, str]] = []

    def register(self, name: str, type: str, handler: Any) -> None:
        self.registered.append((name, type))


def _ignore(message: Message) -> None:
    return None


# -- the table -------------------------------------------------------------------------------


def test_every_message_josev_sends_has_exactly_one_owner() -> None:
    counts = Counter(r.key for r in ROUTES)
    assert set(counts) == INCOMING
    assert [k for k, n in counts.items() if n != 1] == []


def test_a_table_missing_a_contract_row_or_holding_two_is_refused_naming_the_pair() -> None:
    without = [r for r in ROUTES if r.key != ("cp_pwm", MessageType.REQUEST)]
    with pytest.raises(
        RoutingError, match=r"cp_pwm\.request: Josev sends it but the routing table has no row"
    ):
        check_table(without)
    twice = [*ROUTES, msgspec.structs.replace(route("reset", "request"), owner="station")]
    with pytest.raises(RoutingError, match=r"reset\.request: two rows \(functions\.reset, station\)"):
        check_table(twice)
    foreign = [
        *ROUTES,
        msgspec.structs.replace(route("reset", "request"), name="cp_status", type=MessageType.UPDATE),
    ]
    with pytest.raises(RoutingError, match=r"cp_status\.update: Josev never sends it"):
        check_table(foreign)


def test_only_rows_ignored_by_design_are_claimable_and_responses_never_are() -> None:
    claimable = {r.key for r in ROUTES if r.claimable}
    assert claimable == {("reset_ocpp_router_state", MessageType.REQUEST)}
    assert all(r.owner == "bridge" for r in ROUTES if r.kind is RouteKind.RESPONSE)


# -- binding -----------------------------------------------------------------------------------


def test_a_component_binding_a_row_the_table_gives_to_another_is_refused_naming_both() -> None:
    bridge = Recorder()
    router = Router(bridge)
    with pytest.raises(
        RoutingError, match=r"functions\.reset registers cp_pwm\.request.*gives it to station"
    ):
        router.bind("functions.reset", {("cp_pwm", MessageType.REQUEST): _ignore})
    assert bridge.registered == []  # refused before anything was registered


def test_binding_a_row_twice_is_refused_naming_who_bound_it() -> None:
    router = Router(Recorder())
    router.bind("functions.reset", {("reset", MessageType.REQUEST): _ignore})
    with pytest.raises(RoutingError, match=r"registers reset\.request again \(functions\.reset did\)"):
        router.bind("functions.reset", {("reset", MessageType.REQUEST): _ignore})


def test_start_up_check_names_every_owned_row_without_a_handler() -> None:
    router = Router(Recorder())
    router.bind("station", {("cp_pwm", MessageType.REQUEST): _ignore})
    with pytest.raises(RoutingError) as info:
        router.check_complete()
    assert "cs_parameters.request (station)" in str(info.value)
    assert "reset.request (functions.reset)" in str(info.value)
    assert "cp_pwm.request" not in str(info.value)


def test_station_and_functions_bind_every_owned_row_through_the_router(tmp_path: Path) -> None:
    from josev_hal.board import Board
    from josev_hal.daemon import load_board_profile
    from josev_hal.functions import FunctionsSettings, install
    from josev_hal.station import Station

    pm = get_plugin_manager()
    profile, _ = load_board_profile(None, pm)
    board = Board.build(profile, pm)  # not set up: binding needs no hardware

    class Bridge(Recorder):
        def publish_update(self, payload: Any) -> None: ...

        def add_snapshot_provider(self, provider: Any) -> None: ...

        def request(self, payload: Any, *, timeout: float | None = None) -> Any: ...

    bridge = Bridge()
    router = Router(bridge)
    station = Station(profile, board, bridge)
    station.register(router)
    functions = install(
        station,
        bridge,
        pm,
        profile,
        settings=FunctionsSettings(state_dir=tmp_path),
        router=router,
        start=False,
    )
    try:
        router.check_complete()
        owned = {
            r.key for r in ROUTES if r.kind in (RouteKind.STATION, RouteKind.FUNCTION, RouteKind.LISTENER)
        }
        assert {(n, MessageType(t)) for n, t in bridge.registered} == owned
        assert len(bridge.registered) == len(owned)  # each once
        assert all(router.bound[r.key] == r.owner for r in ROUTES if r.key in owned)
    finally:
        functions.close()


# -- plugins -----------------------------------------------------------------------------------


class ClaimsCpPwm:
    @hookimpl
    def hal_claim_messages(self) -> dict[tuple[str, str], Any]:
        return {("cp_pwm", "request"): _ignore}


class AnswersRouterReset:
    """A vendor's test-harness plugin: answers the request the HAL ignores by design."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def hal_claim_messages(self) -> dict[tuple[str, str], Any]:
        return {("reset_ocpp_router_state", "request"): self.answer}

    def answer(self, message: Message) -> p.ResetOcppRouterStateResponse:
        data: p.ResetOcppRouterStateRequest = message.data
        self.seen.append(str(data.test_name))
        return p.ResetOcppRouterStateResponse()


def test_a_plugin_claiming_an_owned_message_fails_start_up_naming_both(broker: Any, tmp_path: Path) -> None:
    from josev_hal.daemon import Daemon, load_board_profile

    pm = get_plugin_manager(extra_plugins=[ClaimsCpPwm()])
    profile, source = load_board_profile(None, pm)
    daemon = Daemon(profile, pm, source=source, broker_url=broker.url, state_dir=tmp_path)
    with pytest.raises(PluginError) as info:
        daemon.start(wait_s=10)
    text = str(info.value)
    assert "ClaimsCpPwm" in text and "cp_pwm.request" in text and "station owns" in text
    assert daemon.station is None and daemon.bridge is None  # start-up undone


def test_two_plugins_claiming_the_same_message_fail_naming_both() -> None:
    first, second = AnswersRouterReset(), AnswersRouterReset()
    pm = get_plugin_manager(autoload=False, extra_plugins=[first, second])
    names = [impl.plugin_name for impl in pm.hook.hal_claim_messages.get_hookimpls()]
    with pytest.raises(PluginError) as info:
        Router(Recorder()).claim_from_plugins(pm)
    assert "reset_ocpp_router_state.request" in str(info.value)
    assert all(name in str(info.value) for name in names)


def test_a_plugin_result_that_is_not_a_mapping_of_pairs_is_refused_naming_the_plugin() -> None:
    class Broken:
        @hookimpl
        def hal_claim_messages(self) -> Any:
            return {"reset_ocpp_router_state": _ignore}

    pm = get_plugin_manager(autoload=False, extra_plugins=[Broken()])
    with pytest.raises(PluginError, match=r"Broken.*is not \(name, type\)"):
        Router(Recorder()).claim_from_plugins(pm)


def test_a_plugin_answers_a_message_ignored_by_design_through_the_broker(
    broker: Any, josev_peer: JosevPeer, tmp_path: Path
) -> None:
    from josev_hal.daemon import Daemon, load_board_profile

    plugin = AnswersRouterReset()
    pm = get_plugin_manager(extra_plugins=[plugin])
    profile, source = load_board_profile(None, pm)
    daemon = Daemon(profile, pm, source=source, broker_url=broker.url, state_dir=tmp_path)
    daemon.start(wait_s=10)
    try:
        answer = josev_peer.request(request_doc("reset_ocpp_router_state", {"test_name": "t1"}), timeout=10)
    finally:
        daemon.stop()
    assert answer["type"] == "response" and answer["name"] == "reset_ocpp_router_state"
    assert plugin.seen == ["t1"]


# -- printed and documented --------------------------------------------------------------------


def test_plugins_routes_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    from josev_hal.cli import main

    assert main(["plugins", "--routes"]) == 0
    out = capsys.readouterr().out
    assert out == format_routes() + "\n"
    lines = out.splitlines()[1:]
    assert len(lines) == len(ROUTES)
    assert any(re.match(r"cp_pwm\s+request\s+station\s+station\b", line) for line in lines)
    assert any(re.match(r"reset_ocpp_router_state\s+request\s+-\s+ignored\b", line) for line in lines)


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("#### What happens with each message Josev sends", 1)[1].split("\n#", 1)[0]


def test_readme_coverage_table_agrees_with_the_routing_table() -> None:
    section = _readme_section()
    rows = dict(re.findall(r"^\| `([a-z0-9_]+)` request \| ([^|]*)\|", section, flags=re.M))
    requests = {r.name for r in ROUTES if r.type is MessageType.REQUEST}
    assert set(rows) == requests
    for r in ROUTES:
        if r.type is MessageType.REQUEST and r.kind is RouteKind.IGNORED:
            assert rows[r.name].startswith("ignored"), f"{r.name}: the README must say it is ignored"
        elif r.type is MessageType.REQUEST:
            assert not rows[r.name].startswith("ignored"), f"{r.name} is answered by {r.owner}"

    def listed(kind: str) -> set[str]:
        line = next(line for line in section.splitlines() if line.startswith(f"| every {kind}"))
        return set(re.findall(r"`([a-z0-9_]+)`", line.split(" | ")[0]))

    assert listed("update") == {r.name for r in ROUTES if r.type is MessageType.UPDATE}
    assert listed("response") == {r.name for r in ROUTES if r.kind is RouteKind.RESPONSE}


def test_the_architecture_doc_shows_the_current_routing_table() -> None:
    doc = (README.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert f"```\n{format_routes()}\n```" in doc, (
        "paste `josev-hal plugins --routes` into docs/architecture.md"
    )
