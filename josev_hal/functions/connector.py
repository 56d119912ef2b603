"""``cs_connector``: lock, unlock or report the connector lock (OCPP 2.0.1 F05 UnlockConnector).

* ``status`` reads the lock (feedback when the lock has one, else the commanded state).
* ``lock`` commands locked and waits (up to ``wait_s``, locks take ~1 s) for the feedback.
* ``unlock`` is **refused while the contactor is closed** (or its state cannot be read): pulling a
  plug under load draws an arc. The answer is then the real state (``locked``) with an ``info``.
* On a socket outlet the station core drives the lock itself (locked during a session, see
  :mod:`josev_hal.station.plug_lock`); lock/unlock then go through the core
  (``request_lock``), so the core neither fights the request nor unlocks under load. An unlock
  with no session active simply unlocks; an unlock during a session with the contactor open
  releases the plug and keeps the contactor open until the session restarts.

A connector without a lock (fixed cable) answers ``unknown``; an unknown EVSE/connector or a lock
that does not follow its command answers ``error`` with the reason in ``info``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from josev_hal.devices import ConnectorLock
from josev_hal.errors import DeviceError
from josev_hal.functions.ports import StationEvse
from josev_hal.messages import Message
from josev_hal.messages import payloads as p

__all__ = ["ConnectorService"]

log = logging.getLogger(__name__)


def _state(lock: ConnectorLock) -> bool:
    sample = lock.read()
    return sample.locked if sample.locked is not None else sample.commanded_locked


class ConnectorService:
    """Handles ``cs_connector`` requests for the EVSEs given (:class:`StationEvse` objects)."""

    def __init__(self, evses: Sequence[StationEvse], *, wait_s: float = 2.0, poll_s: float = 0.05) -> None:
        self._evses = {e.evse_id: e for e in evses}
        self.wait_s = wait_s
        self.poll_s = poll_s

    def handle_request(self, message: Message) -> p.CsConnectorResponse:
        req: p.CsConnectorRequest = message.data
        status, info = self.act(req.evse_id, req.connector_id, str(req.action))
        # Echo the connector id as an integer when it is one (the schema allows any number).
        echoed: float = (
            int(req.connector_id) if req.connector_id == int(req.connector_id) else req.connector_id
        )
        response = p.CsConnectorResponse(
            evse_id=req.evse_id, connector_id=echoed, status=p.CableLockStatus(status)
        )
        if info:
            response.info = info
        (log.info if status != "error" else log.warning)(
            "cs_connector evse_id=%s connector_id=%s action=%s -> %s %s",
            req.evse_id,
            req.connector_id,
            req.action,
            status,
            info or "",
        )
        return response

    def act(self, evse_id: str, connector_id: float, action: str) -> tuple[str, str]:
        """Carry out ``action``; returns (status, info)."""
        port = self._evses.get(evse_id)
        if port is None:
            return "error", f"unknown evse_id {evse_id}"
        if connector_id != int(connector_id) or int(connector_id) not in port.connector_ids:
            return "error", f"unknown connector_id {connector_id:g}"
        lock = port.lock_driver(int(connector_id))
        if lock is None:
            return "unknown", "connector has no lock"
        try:
            if action == "status":
                return ("locked" if _state(lock) else "unlocked"), ""
            if action in ("lock", "unlock"):
                locked = action == "lock"
                if not locked and port.contactor_closed():
                    state = "locked" if _state(lock) else "unlocked"
                    return state, "unlock refused: contactor closed"
                refusal = port.request_lock(int(connector_id), locked)
                if refusal is not None:
                    state = "locked" if _state(lock) else "unlocked"
                    return state, refusal
                return self._await(lock, locked)
        except DeviceError as exc:
            return "error", str(exc)
        return "error", f"unknown action {action}"

    def _await(self, lock: ConnectorLock, locked: bool) -> tuple[str, str]:
        deadline = time.monotonic() + self.wait_s
        while True:
            if _state(lock) is locked:
                return ("locked" if locked else "unlocked"), ""
            if time.monotonic() >= deadline:
                word = "lock" if locked else "unlock"
                return "error", f"{word} did not engage within {self.wait_s:g}s"
            time.sleep(self.poll_s)
