"""Lifecycle and vendor-policy hooks: the built-in defaults and how a product plugin overrides them."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tests.support.loopback as loopback
from josev_hal.board import Board
from josev_hal.errors import ProfileError
from josev_hal.hookspecs import (
    DataTransferResult,
    FirmwareInstallStatus,
    KeyStore,
    ResetAction,
    ResetActionKind,
    hookimpl,
)
from josev_hal.plugins import HalPluginManager, call_each, get_plugin_manager
from josev_hal.profile import Profile, load_profile_text


def _pm(*extra: object) -> HalPluginManager:
    return get_plugin_manager(autoload=False, extra_plugins=[loopback, *extra])


def _profile(pm: HalPluginManager, text: str = loopback.AC_PROFILE) -> Profile:
    return load_profile_text(text, "boards/x.toml", pm)


# -- hal_board_loaded ---------------------------------------------------------------------------


class DisplayPlugin:
    """Reads its own [plugins.display] table and reports problems in it."""

    name = "display"

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def hal_board_loaded(self, profile: Profile, source: str) -> list[str]:
        table = profile.plugins.get("display", {})
        self.seen.append((source, table))
        if table.get("brightness", 0) > 100:
            return ["plugins.display.brightness: must be at most 100"]
        return []


def test_hal_board_loaded_gives_plugins_their_table() -> None:
    plugin = DisplayPlugin()
    pm = _pm(plugin)
    _profile(pm, loopback.AC_PROFILE + "\n[plugins.display]\nbrightness = 80\n")
    assert plugin.seen == [("boards/x.toml", {"brightness": 80})]


def test_hal_board_loaded_problems_are_reported_with_file_and_line() -> None:
    pm = _pm(DisplayPlugin())
    text = loopback.AC_PROFILE + "\n[plugins.display]\nbrightness = 180\n"
    with pytest.raises(ProfileError) as info:
        _profile(pm, text)
    line = text.splitlines().index("brightness = 180") + 1
    assert info.value.problems == [f"boards/x.toml:{line}: plugins.display.brightness: must be at most 100"]


# -- hal_startup / hal_shutdown / hal_josev_update / hal_probe_lines ------------------------------


class Hmi:
    name = "hmi"

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def hal_startup(self, station: Any) -> None:
        self.events.append(("startup", station))

    @hookimpl
    def hal_shutdown(self, station: Any) -> None:
        self.events.append(("shutdown", station))

    @hookimpl
    def hal_josev_update(self, message: Any) -> None:
        self.events.append(("update", message))

    @hookimpl
    def hal_probe_lines(self, board: Board) -> list[str]:
        return [f"display attached to {len(board.evses)} EVSE(s)"]


class Crashing:
    name = "crashing"

    @hookimpl
    def hal_startup(self, station: Any) -> None:
        raise RuntimeError("display not found")

    @hookimpl
    def hal_josev_update(self, message: Any) -> None:
        raise RuntimeError("bad text")

    @hookimpl
    def hal_probe_lines(self, board: Board) -> list[str]:
        raise RuntimeError("no firmware version")


@pytest.mark.parametrize("hook", ["hal_startup", "hal_shutdown"])
def test_lifecycle_hooks_reach_every_plugin_even_if_one_fails(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    hmi = Hmi()
    pm = _pm(hmi, Crashing())
    station = object()
    with caplog.at_level(logging.ERROR, logger="josev_hal.plugins"):
        call_each(pm, hook, station=station)
    assert hmi.events == [(hook.removeprefix("hal_"), station)]
    if hook == "hal_startup":
        assert "plugin=crashing hook=hal_startup" in caplog.text


def test_hal_josev_update_offers_messages_to_listeners(caplog: pytest.LogCaptureFixture) -> None:
    hmi = Hmi()
    pm = _pm(Crashing(), hmi)
    message = {"name": "display_and_personal_msg", "type": "update"}
    call_each(pm, "hal_josev_update", message=message)
    assert hmi.events == [("update", message)]
    assert "plugin=crashing hook=hal_josev_update" in caplog.text


def test_hal_probe_lines_collects_lines_per_plugin() -> None:
    pm = _pm(Hmi(), Crashing())
    board = Board.build(_profile(pm), pm)
    results = call_each(pm, "hal_probe_lines", board=board)
    assert results == [("hmi", ["display attached to 1 EVSE(s)"])]


# -- hal_reset ----------------------------------------------------------------------------------


def test_hal_reset_default_runs_the_profile_command_for_a_station_reset() -> None:
    pm = _pm()
    action = pm.hook.hal_reset(kind="station", evse_id=None, profile=_profile(pm))
    assert action == ResetAction(
        ResetActionKind.RUN_COMMAND, ("systemctl", "reboot"), "profile [reset] command"
    )


def test_hal_reset_default_restarts_the_hal_without_command_or_for_one_evse() -> None:
    pm = _pm()
    no_command = _profile(pm, loopback.AC_PROFILE.replace('[reset]\ncommand = ["systemctl", "reboot"]\n', ""))
    assert (
        pm.hook.hal_reset(kind="station", evse_id=None, profile=no_command).kind
        is ResetActionKind.RESTART_HAL
    )
    evse = pm.hook.hal_reset(kind="evse", evse_id="DE*ACM*E0001", profile=_profile(pm))
    assert evse.kind is ResetActionKind.RESTART_HAL


def test_hal_reset_product_policy_wins_over_the_default() -> None:
    class NoEvseReset:
        @hookimpl
        def hal_reset(self, kind: str, evse_id: str | None) -> ResetAction | None:
            return ResetAction(ResetActionKind.REJECT, reason="single power path") if kind == "evse" else None

    pm = _pm(NoEvseReset())
    profile = _profile(pm)
    assert (
        pm.hook.hal_reset(kind="evse", evse_id="DE*ACM*E0001", profile=profile).kind is ResetActionKind.REJECT
    )
    # None falls through to the default.
    assert (
        pm.hook.hal_reset(kind="station", evse_id=None, profile=profile).kind is ResetActionKind.RUN_COMMAND
    )


def test_reset_action_refuses_a_run_command_without_command() -> None:
    with pytest.raises(ValueError, match="needs a command"):
        ResetAction(ResetActionKind.RUN_COMMAND)


# -- hal_install_firmware -------------------------------------------------------------------------


class _Request:
    request_id = 7


def test_hal_install_firmware_default_stores_the_image_in_the_state_dir(tmp_path: Path) -> None:
    image = tmp_path / "download" / "fw-1.5.0.bin"
    image.parent.mkdir()
    image.write_bytes(b"\x7fELF firmware")
    pm = _pm()
    result = pm.hook.hal_install_firmware(path=image, request=_Request(), state_dir=tmp_path / "state")
    assert result.status is FirmwareInstallStatus.INSTALLED
    assert result.installed_path == tmp_path / "state" / "firmware" / "fw-1.5.0.bin"
    assert result.installed_path.read_bytes() == b"\x7fELF firmware"
    assert not list((tmp_path / "state" / "firmware").glob("*.partial"))


def test_hal_install_firmware_default_reports_failure_when_the_state_dir_is_unusable(tmp_path: Path) -> None:
    image = tmp_path / "fw.bin"
    image.write_bytes(b"x")
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    result = _pm().hook.hal_install_firmware(path=image, request=_Request(), state_dir=blocker)
    assert result.status is FirmwareInstallStatus.INSTALLATION_FAILED and result.installed_path is None


# -- hal_collect_logs -------------------------------------------------------------------------------


def _touch(path: Path, when: datetime) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("log line\n")
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def test_hal_collect_logs_default_returns_files_in_the_window_by_type(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    logs = tmp_path / "logs"
    recent = _touch(logs / "hal.log", now - timedelta(hours=1))
    _touch(logs / "hal.log.1", now - timedelta(days=3))
    security = _touch(logs / "security.log", now - timedelta(hours=2))
    pm = _pm()
    since = now - timedelta(days=1)
    diagnostics = pm.hook.hal_collect_logs(
        since=since, until=None, log_type="diagnostics_log", state_dir=tmp_path
    )
    assert diagnostics == [recent]
    assert pm.hook.hal_collect_logs(since=since, until=now, log_type="security_log", state_dir=tmp_path) == [
        security
    ]
    assert (
        pm.hook.hal_collect_logs(since=None, until=None, log_type="diagnostics_log", state_dir=tmp_path / "x")
        == []
    )


# -- hal_data_transfer ------------------------------------------------------------------------------


class AcmeDataTransfer:
    @hookimpl
    def hal_data_transfer(
        self, vendor_id: str, message_id: str | None, data: Any
    ) -> DataTransferResult | None:
        if vendor_id != "com.acme":
            return None
        if message_id == "echo":
            return DataTransferResult("accepted", data)
        return DataTransferResult("unknown_message_id")


def test_hal_data_transfer_default_is_unknown_vendor_id() -> None:
    result = _pm().hook.hal_data_transfer(vendor_id="com.other", message_id="x", data=None)
    assert result == DataTransferResult("unknown_vendor_id")


def test_hal_data_transfer_vendor_plugin_answers_its_own_vendor_id_only() -> None:
    pm = _pm(AcmeDataTransfer())
    assert pm.hook.hal_data_transfer(
        vendor_id="com.acme", message_id="echo", data={"a": 1}
    ) == DataTransferResult("accepted", {"a": 1})
    assert (
        pm.hook.hal_data_transfer(vendor_id="com.acme", message_id="?", data=None).status
        == "unknown_message_id"
    )
    assert (
        pm.hook.hal_data_transfer(vendor_id="org.x", message_id=None, data=None).status == "unknown_vendor_id"
    )


# -- hal_authorize_local_token ----------------------------------------------------------------------


def test_hal_authorize_local_token_default_asks_josev() -> None:
    assert (
        _pm().hook.hal_authorize_local_token(id_token="04a1b2", token_type="ISO14443", evse_id=None) is None
    )


def test_hal_authorize_local_token_master_card_plugin_decides_locally() -> None:
    class MasterCard:
        @hookimpl
        def hal_authorize_local_token(self, id_token: str, token_type: str) -> bool | None:
            return True if id_token == "deadbeef" else None

    pm = _pm(MasterCard())
    assert pm.hook.hal_authorize_local_token(id_token="deadbeef", token_type="ISO14443", evse_id="E1") is True
    assert pm.hook.hal_authorize_local_token(id_token="04a1b2", token_type="ISO14443", evse_id="E1") is None


# -- hal_key_store ----------------------------------------------------------------------------------


class TpmKeyStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def generate_csr(
        self,
        certificate_type: str,
        *,
        common_name: str,
        organization_name: str,
        country_name: str,
        algorithm: str | None = None,
    ) -> str:
        return f"-----BEGIN CERTIFICATE REQUEST-----\n{common_name}\n-----END CERTIFICATE REQUEST-----\n"

    def private_key_path(self, certificate_type: str) -> Path | None:
        return self.root / f"{certificate_type}.handle"


def test_hal_key_store_has_no_builtin_answer_so_the_functions_layer_uses_its_file_store(
    tmp_path: Path,
) -> None:
    pm = _pm()
    assert pm.hook.hal_key_store(state_dir=tmp_path, profile=_profile(pm)) is None


def test_hal_key_store_plugin_provides_a_key_store(tmp_path: Path) -> None:
    class Tpm:
        @hookimpl
        def hal_key_store(self, state_dir: Path) -> KeyStore:
            return TpmKeyStore(state_dir / "tpm")

    pm = _pm(Tpm())
    store = pm.hook.hal_key_store(state_dir=tmp_path, profile=_profile(pm))
    assert isinstance(store, KeyStore)
    assert store.private_key_path("v2g_certificate") == tmp_path / "tpm" / "v2g_certificate.handle"


def test_hal_collect_logs_default_keeps_the_live_log_for_a_window_ending_in_the_past(tmp_path: Path) -> None:
    # The live log is always modified "now"; its earlier lines are still inside a past window.
    now = datetime.now(UTC)
    logs = tmp_path / "logs"
    live = _touch(logs / "hal.log", now)
    rotated = _touch(logs / "hal.log.1", now - timedelta(hours=5))
    _touch(logs / "hal.log.2", now - timedelta(days=3))  # last written before the window began
    found = _pm().hook.hal_collect_logs(
        since=now - timedelta(hours=6),
        until=now - timedelta(hours=2),
        log_type="diagnostics_log",
        state_dir=tmp_path,
    )
    assert found == [live, rotated]
