"""reset over mosquitto: answered first, never cuts a session "on idle", stops it "immediate",
runs the profile's command as an argv list without a shell, or restarts the HAL."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.functions.config import ResetMode, ResetSettings
from josev_hal.hookspecs import ResetAction, ResetActionKind, hookimpl
from tests.support.contract import Contract
from tests.support.functions_rig import AC, DC, FunctionsRig, wait_until


def _make(broker: EmbeddedBroker, tmp_path: Path, **kwargs: Any) -> FunctionsRig:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    return FunctionsRig(broker, state, **kwargs)


@pytest.fixture
def rigs() -> Iterator[list[FunctionsRig]]:
    made: list[FunctionsRig] = []
    yield made
    for rig in made:
        rig.close()


def _reset(rig: FunctionsRig, contract: Contract, evse_id: str | None = None) -> str:
    response = rig.request("reset", {"evse_id": evse_id} if evse_id else {})
    contract.validate(response)
    return str(response["data"]["status"])


def test_reset_on_idle_waits_for_the_transaction_to_end(
    broker: EmbeddedBroker, tmp_path: Path, rigs: list[FunctionsRig], contract: Contract
) -> None:
    rig = _make(broker, tmp_path)
    rigs.append(rig)
    rig.start_transaction(AC)
    assert _reset(rig, contract) == "accepted"
    # New sessions are blocked at once where nothing runs ...
    wait_until(lambda: not rig.controller(DC).available)
    time.sleep(0.5)
    # ... but the running session goes on and nothing is reset yet.
    assert rig.controller(AC).available
    assert rig.restarts == []
    assert rig.functions.reset.pending
    rig.end_transaction(AC)
    wait_until(lambda: rig.restarts)
    assert rig.functions.reset.last_outcome == "restart_hal"
    assert not rig.controller(AC).available  # held unavailable until the process goes away


def test_reset_immediate_stops_the_session_before_acting(
    broker: EmbeddedBroker, tmp_path: Path, rigs: list[FunctionsRig], contract: Contract
) -> None:
    rig = _make(broker, tmp_path, reset=ResetSettings(mode=ResetMode.IMMEDIATE, delay_s=0.05))
    rigs.append(rig)
    rig.start_transaction(AC)
    assert _reset(rig, contract) == "accepted"
    wait_until(lambda: rig.restarts)
    assert not rig.controller(AC).available and not rig.controller(AC).contactor_closed


def test_reset_runs_the_profile_command_as_argv_without_a_shell(
    broker: EmbeddedBroker, tmp_path: Path, rigs: list[FunctionsRig], contract: Contract
) -> None:
    marker = tmp_path / "marker.txt"
    hostile = "$(touch pwned); `id` && echo"
    script = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(sys.argv[2])"
    argv = [sys.executable, "-c", script, str(marker), hostile]
    toml_list = ", ".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in argv)
    rig = _make(broker, tmp_path, extra_toml=f"\n[reset]\ncommand = [{toml_list}]\n")
    rigs.append(rig)
    assert _reset(rig, contract) == "accepted"
    wait_until(lambda: rig.functions.reset.last_outcome is not None)
    assert rig.functions.reset.last_outcome == "command_exit_0"
    assert marker.read_text() == hostile  # passed literally: no shell expanded anything
    assert not (Path.cwd() / "pwned").exists()
    assert rig.restarts == []
    # A command that did not take the station down leaves it usable.
    wait_until(lambda: rig.controller(AC).available and rig.controller(DC).available)


def test_failing_reset_command_is_logged_and_the_station_keeps_running(
    broker: EmbeddedBroker, tmp_path: Path, rigs: list[FunctionsRig], contract: Contract
) -> None:
    rig = _make(broker, tmp_path, extra_toml='\n[reset]\ncommand = ["/nonexistent/reboot-tool"]\n')
    rigs.append(rig)
    assert _reset(rig, contract) == "accepted"
    wait_until(lambda: rig.functions.reset.last_outcome == "command_failed")
    wait_until(lambda: rig.controller(AC).available and rig.controller(DC).available)


class RejectEvseResets:
    @hookimpl
    def hal_reset(self, kind: str, evse_id: str | None, profile: Any) -> ResetAction | None:
        if kind == "evse":
            return ResetAction(ResetActionKind.REJECT, reason="this product resets the whole station only")
        return None


def test_policy_can_reject_a_reset_and_unknown_evses_are_rejected(
    broker: EmbeddedBroker, tmp_path: Path, rigs: list[FunctionsRig], contract: Contract
) -> None:
    rig = _make(broker, tmp_path, extra_plugins=(RejectEvseResets(),))
    rigs.append(rig)
    assert _reset(rig, contract, AC) == "rejected"
    assert _reset(rig, contract, "DE*XXX*E9999") == "rejected"
    time.sleep(0.2)
    assert not rig.functions.reset.pending and rig.restarts == []


def test_evse_reset_restarts_only_that_evse_and_leaves_the_other_session_alone(
    broker: EmbeddedBroker, tmp_path: Path, rigs: list[FunctionsRig], contract: Contract
) -> None:
    rig = _make(broker, tmp_path)
    rigs.append(rig)
    rig.start_transaction(DC, "tx-dc")
    assert _reset(rig, contract, AC) == "accepted"
    wait_until(lambda: rig.functions.reset.last_outcome == "evse_restarted")
    assert rig.restarts == []  # the HAL keeps running
    assert rig.controller(DC).available and rig.controller(DC).is_transaction_active()
    wait_until(lambda: rig.controller(AC).available)  # back in service after the restart


def test_evse_reset_waits_for_the_session_on_that_evse(
    broker: EmbeddedBroker, tmp_path: Path, rigs: list[FunctionsRig], contract: Contract
) -> None:
    rig = _make(broker, tmp_path)
    rigs.append(rig)
    rig.start_transaction(AC)
    assert _reset(rig, contract, AC) == "accepted"
    time.sleep(0.4)
    assert rig.functions.reset.last_outcome is None and rig.controller(AC).is_transaction_active()
    assert rig.controller(DC).available  # only the reset EVSE is held
    rig.end_transaction(AC)
    wait_until(lambda: rig.functions.reset.last_outcome == "evse_restarted")
    assert rig.restarts == []


def test_a_second_reset_while_one_is_pending_is_accepted_once(
    broker: EmbeddedBroker, tmp_path: Path, rigs: list[FunctionsRig], contract: Contract
) -> None:
    rig = _make(broker, tmp_path)
    rigs.append(rig)
    rig.start_transaction(AC)
    assert _reset(rig, contract) == "accepted"
    assert _reset(rig, contract) == "accepted"
    rig.end_transaction(AC)
    wait_until(lambda: rig.restarts)
    time.sleep(0.3)
    assert len(rig.restarts) == 1
