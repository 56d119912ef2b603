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
from typing import Any

import msgspec

from josev_hal.profile import FirmwareSettings, LogsSettings, ResetMode, ResetSettings

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


def resolve_state_dir(explicit: str | os.PathLike[str] | None = None, profile: Any = None) -> Path:
    """The state dir by precedence: argument, ``$JOSEV_HAL_STATE_DIR``, profile ``[state] dir``,
    default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return Path(env)
    state = getattr(profile, "state", None)
    from_profile = getattr(state, "dir", None)
    if from_profile:
        return Path(from_profile)
    return DEFAULT_STATE_DIR


def _table(profile: Any, name: str, cls: type[Any]) -> Any:
    value = getattr(profile, name, None)
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        # A profile loader that keeps these tables as dicts: convert with the same strictness.
        return msgspec.convert(value, cls)
    return cls()


def settings_from_profile(
    profile: Any, *, state_dir: str | os.PathLike[str] | None = None
) -> FunctionsSettings:
    """Build :class:`FunctionsSettings` from a loaded profile.

    The profile's ``[state] dir`` gives the state dir; its ``[reset]``, ``[firmware]`` and
    ``[logs]`` tables (Structs, or dicts converted with the same strictness) give the rest;
    missing tables mean the defaults.
    """
    return FunctionsSettings(
        state_dir=resolve_state_dir(state_dir, profile),
        reset=_table(profile, "reset", ResetSettings),
        firmware=_table(profile, "firmware", FirmwareSettings),
        logs=_table(profile, "logs", LogsSettings),
    )
