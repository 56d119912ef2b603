"""Settings of the station functions (reset mode, firmware and log transfer limits).

The knobs are the board profile's ``[reset]``, ``[firmware]`` and ``[logs]`` tables; their one
definition is in :mod:`josev_hal.profile` (re-exported here for the functions' callers).
:func:`settings_from_profile` reads them; a profile without these tables gets the defaults: reset
only when idle, no shell commands, HTTP(S) transfers with bounded sizes.

The **state dir** holds everything the HAL must keep across restarts (availability, keys,
downloaded firmware, rotating logs). Resolution order: explicit argument, ``$JOSEV_HAL_STATE_DIR``,
the profile's ``[state] dir``, then ``/var/lib/josev-hal``.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from josev_hal.profile import FirmwareSettings, LogsSettings, Profile, ResetMode, ResetSettings

__all__ = [
    "DEFAULT_STATE_DIR",
    "FirmwareSettings",
    "FunctionsSettings",
    "LogsSettings",
    "ResetMode",
    "ResetSettings",
    "resolve_state_dir",
    "settings_from_profile",
]

DEFAULT_STATE_DIR = Path("/var/lib/josev-hal")
STATE_DIR_ENV = "JOSEV_HAL_STATE_DIR"


class FunctionsSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Everything :func:`josev_hal.functions.install` needs besides the station and the bridge."""

    state_dir: Path = DEFAULT_STATE_DIR
    reset: ResetSettings = msgspec.field(default_factory=ResetSettings)
    firmware: FirmwareSettings = msgspec.field(default_factory=FirmwareSettings)
    logs: LogsSettings = msgspec.field(default_factory=LogsSettings)


def resolve_state_dir(explicit: str | os.PathLike[str] | None = None, profile: Profile | None = None) -> Path:
    """The state dir by precedence: argument, ``$JOSEV_HAL_STATE_DIR``, profile ``[state] dir``,
    default (also the ``[state] dir`` default)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return Path(env)
    if profile is not None:
        return Path(profile.state.dir)
    return DEFAULT_STATE_DIR


def settings_from_profile(
    profile: Profile, *, state_dir: str | os.PathLike[str] | None = None
) -> FunctionsSettings:
    """Build :class:`FunctionsSettings` from a loaded profile: its ``[state] dir`` (unless
    ``state_dir`` or the environment says otherwise) and its ``[reset]``, ``[firmware]`` and
    ``[logs]`` tables (the loader fills in the defaults of missing tables)."""
    return FunctionsSettings(
        state_dir=resolve_state_dir(state_dir, profile),
        reset=profile.reset,
        firmware=profile.firmware,
        logs=profile.logs,
    )
