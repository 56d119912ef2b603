"""Signed (OCMF) transactions that survive a restart: the open transaction of a meter on disk.

A signed meter (WM3M4C) holds the start reading of a transaction until it is told to end it. If
the HAL dies in between (power loss, crash, kill), the transaction stays open on the meter and the
signed dataset would be lost. So the driver records the transaction in ``<transaction_dir>/
<device>.json`` before it sends the begin command (``"opening"``), marks it ``"open"`` once the
meter confirms, and removes the file after a successful end. At the next start the driver finds
the record and closes the transaction on the meter (:meth:`ModbusMeter.recover_transaction`);
the signed dataset it gets is written to ``<transaction_dir>/recovered/<transaction id>.json``
and attached to the meter's readings (``signed_meter_values`` of ``meter_values``) for
``recovered_hold_s``, so Josev receives the end value of the interrupted transaction.

Files are written atomically (temporary file, fsync, rename, fsync of the directory), so a power
loss while writing leaves either the old or the new record, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

__all__ = ["TransactionStore"]

log = logging.getLogger(__name__)


def _safe(name: str) -> str:
    """A file-name-safe form of a device id or transaction id."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:120] or "_"


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class TransactionStore:
    """The open-transaction record of one meter (see the module docstring)."""

    def __init__(self, directory: str | Path, device_id: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"{_safe(device_id)}.json"

    def save(self, record: dict[str, Any]) -> None:
        """Write the record (raises OSError: the caller decides whether to go on)."""
        _write_atomic(self.path, {**record, "saved_at": time.time()})

    def load(self) -> dict[str, Any] | None:
        """The record, or None. A record that cannot be parsed is moved aside (``.bad``) and
        reported, never silently dropped."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("transaction_id"), str):
                raise ValueError("not a transaction record")
        except ValueError as exc:
            bad = self.path.with_suffix(".bad")
            os.replace(self.path, bad)
            log.error("ocmf transaction record unreadable, moved to %s: %s", bad, exc)
            return None
        return data

    def clear(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def save_recovered(self, transaction_id: str, record: dict[str, Any]) -> Path:
        path = self.directory / "recovered" / f"{_safe(transaction_id)}.json"
        _write_atomic(path, record)
        return path

    def save_failed(self, record: dict[str, Any], reason: str) -> Path:
        path = self.directory / "failed" / f"{_safe(str(record.get('transaction_id')))}.json"
        _write_atomic(path, {**record, "reason": reason})
        return path
