"""Default vendor policies: what the HAL does when no product plugin says otherwise.

Every implementation here is ``trylast`` so a product plugin's answer always wins. The defaults are
real, conservative behaviours (documented per hook in :mod:`josev_hal.hookspecs`), not stubs:
a station without a product plugin still resets, stores firmware, collects its own logs and
answers ``data_transfer``.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev_hal.hookspecs import (
    DataTransferResult,
    FirmwareInstallResult,
    FirmwareInstallStatus,
    ResetAction,
    ResetActionKind,
    hookimpl,
)

if TYPE_CHECKING:
    from josev_hal.messages.payloads import UpdateFirmwareRequest
    from josev_hal.profile import Profile

log = logging.getLogger(__name__)

#: Sub-directories of the profile's ``[state] dir`` used by the defaults.
FIRMWARE_SUBDIR = "firmware"
LOGS_SUBDIR = "logs"


@hookimpl(trylast=True)
def hal_reset(kind: str, evse_id: str | None, profile: Profile) -> ResetAction:
    command = tuple(profile.reset.command or ())
    if kind == "station" and command:
        return ResetAction(ResetActionKind.RUN_COMMAND, command=command, reason="profile [reset] command")
    # Without a command (or for one EVSE) the safe, always-possible answer is to restart our own
    # process: the power path is made safe first and the hardware is re-initialised on start.
    return ResetAction(ResetActionKind.RESTART_HAL, reason=f"default policy for a {kind} reset")


@hookimpl(trylast=True)
def hal_install_firmware(
    path: Path, request: UpdateFirmwareRequest | None, state_dir: Path
) -> FirmwareInstallResult:
    target_dir = state_dir / FIRMWARE_SUBDIR
    request_id = request.request_id if request is not None else None
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / Path(path).name
        # Copy to a temporary name and rename: a crash never leaves a half-written image under
        # the final name.
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(path, partial)
        os.replace(partial, target)
    except OSError as exc:
        log.error("firmware install failed request_id=%s path=%s error=%s", request_id, path, exc)
        return FirmwareInstallResult(FirmwareInstallStatus.INSTALLATION_FAILED, detail=str(exc))
    log.info("firmware stored request_id=%s target=%s", request_id, target)
    return FirmwareInstallResult(
        FirmwareInstallStatus.INSTALLED,
        installed_path=target,
        detail="stored in the state directory (no product install mechanism configured)",
    )


def _may_hold_window(mtime: datetime, since: datetime | None) -> bool:
    """Whether a file last modified at ``mtime`` can hold records at or after ``since``.

    Only a file last written before ``since`` is certainly outside the window. The upper end
    (``until``) says nothing about a file: the live log is modified "now" and still holds every
    earlier line, so filtering on it would drop the live log for any window ending in the past.
    :mod:`josev_hal.functions.logs` cuts the window line by line afterwards.
    """
    return since is None or mtime >= since


@hookimpl(trylast=True)
def hal_collect_logs(
    since: datetime | None, until: datetime | None, log_type: str, state_dir: Path
) -> list[Path]:
    logs_dir = state_dir / LOGS_SUBDIR
    if not logs_dir.is_dir():
        return []
    pattern = "security*.log*" if log_type == "security_log" else "*.log*"
    found: list[Path] = []
    for candidate in sorted(logs_dir.glob(pattern)):
        if not candidate.is_file():
            continue
        if log_type != "security_log" and candidate.name.startswith("security"):
            continue  # security logs only go out when asked for explicitly
        mtime = datetime.fromtimestamp(candidate.stat().st_mtime, UTC)
        if _may_hold_window(mtime, since):
            found.append(candidate)
    return found


@hookimpl(trylast=True)
def hal_data_transfer(vendor_id: str, message_id: str | None, data: Any) -> DataTransferResult:
    log.info("data_transfer for unknown vendor vendor_id=%s message_id=%s", vendor_id, message_id)
    return DataTransferResult("unknown_vendor_id")


@hookimpl(trylast=True)
def hal_authorize_local_token(id_token: str, token_type: str, evse_id: str | None) -> bool | None:
    # No local opinion: Josev (OCPP) decides.
    return None
