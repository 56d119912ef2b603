"""Settings of the station functions (reset mode, firmware and log transfer limits).

The Structs live here so that the functions package owns its own knobs; a profile may carry them
as ``[firmware]`` / ``[logs]`` tables. :func:`settings_from_profile` reads whatever the
profile carries and falls back to the defaults below, so a profile without these tables still gets
safe behaviour (reset only when idle, no shell commands, HTTP(S) transfers with bounded sizes).

The **state dir** holds everything the HAL must keep across restarts (availability, keys,
downloaded firmware, rotating logs). Resolution order: explicit argument, ``$JOSEV_HAL_STATE_DIR``,
the profile's ``[state] dir``, then ``/var/lib/josev-hal``.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated, Any

import msgspec

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


class ResetMode(enum.StrEnum):
    """When a ``reset`` request is carried out.

    The Josev ``reset`` request carries no OCPP reset type (Immediate/OnIdle): Josev forwards the
    request when the reset should happen, so the station decides. ``on_idle`` (the default) never
    cuts a running transaction: it blocks new sessions and waits for the running ones to end.
    ``immediate`` stops charging (contactors open through the normal interlocks) and resets.
    """

    ON_IDLE = "on_idle"
    IMMEDIATE = "immediate"


class ResetSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How a ``reset`` request is carried out. *What* it does (a command, a restart of the HAL,
    a rejection) is decided by the ``hal_reset`` hook; the default policy runs the profile's
    ``[reset] command`` (an argv list, executed without a shell) or restarts the HAL."""

    mode: ResetMode = ResetMode.ON_IDLE
    command_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    # Time between publishing the response and acting, so the response leaves the broker first.
    delay_s: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    # How long an "on idle" reset waits for transactions before giving up (0 = forever).
    max_wait_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0


class FirmwareSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[firmware]``: limits and defaults for ``update_firmware``."""

    max_size_bytes: Annotated[int, msgspec.Meta(gt=0)] = 512 * 1024 * 1024
    # Socket timeout of every connect/read; a server that stalls longer fails the attempt.
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # Used when the request carries no retries / retry_interval.
    default_retries: Annotated[int, msgspec.Meta(ge=0)] = 2
    default_retry_interval_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    # Progress is logged every this many percent (or every 1 MiB when the size is unknown).
    progress_step_percent: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    # PEM file with the manufacturer root certificate(s); when set, the signing certificate of a
    # secure update must be issued directly by one of them.
    trusted_ca_file: str | None = None
    # Refuse unsigned updates (OCPP security profile 3 stations set this).
    require_signature: bool = False


class LogsSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``[logs]``: the HAL's own rotating log files and ``upload_logs``."""

    max_bytes: Annotated[int, msgspec.Meta(ge=4096)] = 5 * 1024 * 1024
    backup_count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    level: str = "INFO"
    # "PUT" sends the log file as the body; "POST" sends multipart/form-data (field "file").
    upload_method: str = "PUT"
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    default_retries: Annotated[int, msgspec.Meta(ge=0)] = 2
    default_retry_interval_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    max_upload_bytes: Annotated[int, msgspec.Meta(gt=0)] = 64 * 1024 * 1024


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

    The profile's ``[state] dir`` gives the state dir; ``[firmware]`` and ``[logs]`` tables (when
    the profile carries them, as these Structs or dicts) override the defaults. ``[reset]`` in the
    profile holds the command used by the ``hal_reset`` policy; the reset *mode* is read from its
    ``mode`` key when present.
    """
    reset = ResetSettings()
    mode = getattr(getattr(profile, "reset", None), "mode", None)
    if mode is not None:
        reset = ResetSettings(mode=ResetMode(mode))
    return FunctionsSettings(
        state_dir=resolve_state_dir(state_dir, profile),
        reset=reset,
        firmware=_table(profile, "firmware", FirmwareSettings),
        logs=_table(profile, "logs", LogsSettings),
    )
