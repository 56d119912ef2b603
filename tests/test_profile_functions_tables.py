"""The station functions' knobs are board-profile tables: ``[reset]`` (mode ...), ``[firmware]``
and ``[logs]``, defined once in :mod:`josev_hal.profile` and read by
:func:`josev_hal.functions.config.settings_from_profile`."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.support.loopback as loopback
from josev_hal.errors import ProfileError
from josev_hal.functions import config as functions_config
from josev_hal.functions.config import settings_from_profile
from josev_hal.plugins import HalPluginManager, get_plugin_manager
from josev_hal.profile import FirmwareSettings, LogsSettings, ResetMode, ResetSettings, load_profile_text

TABLES = """
[firmware]
max_size_bytes = 1048576
timeout_s = 5.0
require_signature = true
trusted_ca_file = "/etc/josev-hal/vendor-ca.pem"

[logs]
backup_count = 3
upload_method = "POST"
default_retries = 0

[buses.board]"""


@pytest.fixture(scope="module")
def pm() -> HalPluginManager:
    return get_plugin_manager(extra_plugins=[loopback])


def _with(text: str) -> str:
    return loopback.AC_PROFILE.replace(
        '[reset]\ncommand = ["systemctl", "reboot"]\n',
        '[reset]\ncommand = ["systemctl", "reboot"]\n' + text,
        1,
    )


def test_functions_settings_structs_have_one_definition_in_the_profile() -> None:
    assert functions_config.ResetSettings is ResetSettings
    assert functions_config.FirmwareSettings is FirmwareSettings
    assert functions_config.LogsSettings is LogsSettings
    assert functions_config.ResetMode is ResetMode


def test_reset_mode_firmware_and_logs_tables_reach_the_functions_settings(pm: HalPluginManager) -> None:
    text = _with('mode = "immediate"\ndelay_s = 0.5\n').replace("\n[buses.board]", TABLES, 1)
    profile = load_profile_text(text, "boards/x.toml", pm)
    settings = settings_from_profile(profile, state_dir="/tmp/state")
    assert settings.reset.mode is ResetMode.IMMEDIATE and settings.reset.delay_s == 0.5
    assert settings.reset.command == ["systemctl", "reboot"]
    assert settings.firmware.max_size_bytes == 1048576 and settings.firmware.timeout_s == 5.0
    assert settings.firmware.require_signature is True
    assert settings.firmware.trusted_ca_file == "/etc/josev-hal/vendor-ca.pem"
    assert settings.logs.backup_count == 3 and settings.logs.upload_method == "POST"
    assert settings.logs.default_retries == 0
    assert settings.logs.max_bytes == LogsSettings().max_bytes  # untouched keys keep their defaults


def test_without_the_tables_the_functions_get_the_safe_defaults(pm: HalPluginManager) -> None:
    profile = load_profile_text(loopback.AC_PROFILE, "boards/x.toml", pm)
    settings = settings_from_profile(profile, state_dir="/tmp/state")
    assert settings.reset.mode is ResetMode.ON_IDLE
    assert settings.firmware == FirmwareSettings()
    assert settings.logs == LogsSettings()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ('mode = "later"\n', "boards/x.toml:29: reset.mode: invalid enum value 'later'"),
        ("delay_s = -1\n", "reset.delay_s: expected float >= 0.0"),
        ("[firmware]\ntimeout_s = 0\n", "firmware.timeout_s: expected float > 0.0"),
        ("[logs]\nbackup_cuont = 3\n", "logs.backup_cuont: unknown key (did you mean 'backup_count'?)"),
    ],
)
def test_bad_function_tables_fail_with_the_key_path(pm: HalPluginManager, edit: str, expected: str) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile_text(_with(edit), "boards/x.toml", pm)
    assert any(expected in problem for problem in info.value.problems), info.value.problems


def test_the_state_dir_comes_from_the_argument_then_the_environment_then_the_profile(
    pm: HalPluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = loopback.AC_PROFILE.replace('dir = "/tmp/josev-hal-test-state"', 'dir = "/srv/from-profile"', 1)
    profile = load_profile_text(text, "boards/x.toml", pm)
    monkeypatch.delenv(functions_config.STATE_DIR_ENV, raising=False)
    assert functions_config.resolve_state_dir(None, profile) == Path("/srv/from-profile")
    assert settings_from_profile(profile).state_dir == Path("/srv/from-profile")
    assert functions_config.resolve_state_dir(None, None) == functions_config.DEFAULT_STATE_DIR
    monkeypatch.setenv(functions_config.STATE_DIR_ENV, "/srv/from-env")
    assert functions_config.resolve_state_dir(None, profile) == Path("/srv/from-env")
    assert functions_config.resolve_state_dir("/srv/explicit", profile) == Path("/srv/explicit")
    assert settings_from_profile(profile, state_dir="/srv/explicit").state_dir == Path("/srv/explicit")


def test_a_profile_without_a_state_table_keeps_state_in_the_default_dir(
    pm: HalPluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(functions_config.STATE_DIR_ENV, raising=False)
    text = loopback.AC_PROFILE.replace('[state]\ndir = "/tmp/josev-hal-test-state"\n', "", 1)
    assert "[state]" not in text
    profile = load_profile_text(text, "boards/x.toml", pm)
    assert settings_from_profile(profile).state_dir == functions_config.DEFAULT_STATE_DIR
