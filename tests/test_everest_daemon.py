"""``josev-hal run --board`` serves the northbound(s) the profile names: an EVerest-only board has
no Josev bridge or station at all; a mixed board gives the station core only its Josev EVSEs
while the EVerest EVSE runs the emulator's session. ``emulate-everest`` and ``demo --everest``
through the CLI."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from josev_hal_sim import WorldRegistry, set_default_registry, sim_board_text

from josev_hal.cli import main
from josev_hal.daemon import Daemon
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.everest.emulator import EverestEmulator, run_scenario
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile, load_profile_text
from tests.support.broker import JosevPeer
from tests.support.everest_rig import modules_of

REPO = Path(__file__).resolve().parents[1]
SIM_EVEREST = REPO / "boards" / "sim-everest.toml"


@pytest.fixture(autouse=True)
def own_sim_worlds() -> Iterator[None]:
    previous = set_default_registry(WorldRegistry())
    yield
    set_default_registry(previous).clear()


def test_run_with_an_everest_board_serves_everest_only_and_passes_emulate_everest(
    broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    pm = get_plugin_manager()
    profile = load_profile(SIM_EVEREST, pm)
    profile.mqtt.client_id = f"josev-hal-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as state:
        daemon = Daemon(profile, pm, source=str(SIM_EVEREST), broker_url=broker.url, state_dir=state)
        daemon.start(wait_s=10)
        try:
            assert daemon.bridge is None and daemon.station is None, "no Josev side for an EVerest-only board"
            assert daemon.everest is not None
            assert daemon.watchdog is not None, "the loop watchdog (sd_notify READY) runs under EVerest too"
            assert {"everest.bsp_1", "everest.bsp_2", "everest.psu_2"} <= set(daemon.liveness.names())
            args = ["emulate-everest", "--broker", broker.url, "--board", str(SIM_EVEREST)]
            args += ["--scenario", "ac", "--charge-s", "1", "--heartbeat-ms", "200"]
            code = main(args)
        finally:
            daemon.stop()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "scenario ac on" in out and "PASSED" in out


def test_a_mixed_board_gives_the_station_only_its_josev_evses(broker: EmbeddedBroker) -> None:
    pm = get_plugin_manager()
    text = sim_board_text().replace(
        "  [evse.dc]\n",
        '  [evse.northbound]\n  kind = "everest"\n  power_supply_DC = "psu_left"\n\n  [evse.dc]\n',
        1,
    )
    profile = load_profile_text(text, "mixed.toml", pm)
    profile.mqtt.client_id = f"josev-hal-{uuid.uuid4().hex[:8]}"
    peer = JosevPeer(broker)
    try:
        with tempfile.TemporaryDirectory() as state:
            daemon = Daemon(profile, pm, source="mixed.toml", broker_url=broker.url, state_dir=state)
            daemon.start(wait_s=10)
            try:
                assert daemon.station is not None and daemon.everest is not None
                assert list(daemon.station.controllers) == ["DE*JHL*E0001"]
                assert list(daemon.everest.bsps) == ["DE*JHL*E0002"]
                mods = modules_of(profile, 1)
                assert mods.power_supply_DC == "psu_left"
                with EverestEmulator(broker.url, [mods], heartbeat_ms=200) as emu:
                    result = run_scenario(emu, "dc", mods, charge_s=1.0, step_timeout_s=8.0)
                assert result.ok, result
            finally:
                daemon.stop()
        evse_ids = {
            doc["data"].get("evse_id") for doc in peer.messages() if isinstance(doc.get("data"), dict)
        }
        assert "DE*JHL*E0001" in evse_ids
        assert "DE*JHL*E0002" not in evse_ids, "the EVerest EVSE leaked into the Josev conversation"
    finally:
        peer.close()


def test_demo_everest_runs_the_ac_session_on_a_private_broker(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--everest", "--fast"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PowerOn" in out and "PASSED" in out


def test_emulate_everest_names_an_unknown_evse_as_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["emulate-everest", "--broker", "mqtt://127.0.0.1:1", "--evse", "nope"])
    assert code == 2
    assert "'nope' is not in the profile" in capsys.readouterr().err


def test_emulate_everest_reports_an_unreachable_broker_as_a_runtime_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["emulate-everest", "--broker", "mqtt://127.0.0.1:1"])
    assert code == 3
    assert "cannot reach broker" in capsys.readouterr().err


def test_emulate_everest_rejects_a_bad_broker_url_as_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["emulate-everest", "--broker", "http://x"])
    assert info.value.code == 2
    assert "mqtt://" in capsys.readouterr().err
