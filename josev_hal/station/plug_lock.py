"""The connector lock of a socket outlet, as the station core drives and supervises it.

A socket outlet (``cable = "socket"``) lets the driver bring the cable; its lock keeps the plug in
the socket. The core locks when a session runs (EV plugged and authorized, or an ISO 15118 session)
and only closes the contactor once the lock's *feedback* confirms it (interlock blocker
``plug_not_locked``); it never commands an unlock while the contactor is, or may be, closed. The
lock is released when the session is over (EV unplugged, stopped, authorization withdrawn) and
the contactor is open.

A lock whose feedback does not follow the command within ``timeout_s`` is a hardware fault
(component ``lock``); a lock without feedback counts as locked ``settle_s`` after the command
(the actuator's travel time), since there is nothing better to go by.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from josev_hal.devices import ConnectorLock
from josev_hal.errors import DeviceError
from josev_hal.messages import payloads as p

__all__ = ["LockFaultSink", "PlugLock"]

log = logging.getLogger(__name__)

#: Fault-table key of a lock that does not follow its command.
LOCK_FAULT = "lock"


class LockFaultSink(Protocol):
    """How the lock reports faults to its controller."""

    def set_fault(self, key: str, component: str, name: p.HardwareFaultName, detail: str) -> None: ...

    def clear_fault(self, key: str) -> None: ...

    def link_fault(self, what: str, exc: DeviceError) -> None: ...


class PlugLock:
    """State and supervision of one connector lock (all methods run under the controller lock)."""

    def __init__(
        self,
        evse_id: str,
        device: ConnectorLock,
        connector_id: int,
        faults: LockFaultSink,
        *,
        timeout_s: float,
        settle_s: float,
        now: float,
        on_command: Callable[[int, bool], None] | None = None,
    ) -> None:
        self.evse_id = evse_id
        self.device = device
        self.connector_id = connector_id
        self._faults = faults
        self.timeout_s = timeout_s
        self.settle_s = settle_s
        self.commanded: bool | None = None  #: what the lock says it was commanded (None: unread)
        self.feedback: bool | None = None  #: the position switch (None: no feedback)
        self.readable = False
        self.confirmed = False  #: locked, as far as the feedback (or the settle time) says
        self._cmd_at = now
        self._mismatch_since: float | None = None
        #: told of every lock/unlock command (the controller turns it into a StationEvent)
        self._on_command = on_command

    # -- inputs --------------------------------------------------------------------------------
    def read(self, now: float) -> None:
        """Read command and feedback; supervise that the feedback follows the command."""
        try:
            sample = self.device.read()
        except DeviceError as exc:
            self.readable = False
            self.confirmed = False  # an unreadable lock never counts as locked
            self._faults.link_fault(LOCK_FAULT, exc)
            return
        self._faults.clear_fault(f"link:{LOCK_FAULT}")
        self.readable = True
        if self.commanded is not None and sample.commanded_locked != self.commanded:
            self._cmd_at = now  # someone else (cs_connector, the board) moved it
        self.commanded = sample.commanded_locked
        self.feedback = sample.locked
        if sample.locked is None:
            self.confirmed = self.commanded and now - self._cmd_at >= self.settle_s
            return
        self.confirmed = sample.locked
        if sample.locked == sample.commanded_locked:
            self._mismatch_since = None
            self._faults.clear_fault(LOCK_FAULT)
            return
        if self._mismatch_since is None:
            self._mismatch_since = max(now, self._cmd_at)
        if now - self._mismatch_since >= self.timeout_s:
            what = "did not lock" if sample.commanded_locked else "did not unlock"
            self._faults.set_fault(
                LOCK_FAULT,
                "lock",
                p.HardwareFaultName.OTHER,
                f"connector {self.connector_id} lock {what} within {self.timeout_s:g}s",
            )

    # -- actuation -----------------------------------------------------------------------------
    def drive(self, want_locked: bool, contactor_may_be_closed: bool, now: float) -> None:
        """Command the lock towards ``want_locked``; an unlock waits while the contactor may be
        closed (commanded, feedback closed or unreadable)."""
        if not self.readable:
            return
        locked = want_locked or contactor_may_be_closed
        if locked == self.commanded:
            return
        try:
            if locked:
                self.device.lock()
            else:
                self.device.unlock()
        except DeviceError as exc:
            log.error(
                "evse=%s connector lock %s failed: %s", self.evse_id, "lock" if locked else "unlock", exc
            )
            self._faults.link_fault(LOCK_FAULT, exc)
            return
        log.info("evse=%s connector=%s %s", self.evse_id, self.connector_id, "lock" if locked else "unlock")
        self.commanded = locked
        self._cmd_at = now
        if self._on_command is not None:
            self._on_command(self.connector_id, locked)
        self._mismatch_since = None
        if not locked:
            self.confirmed = False

    @property
    def settled(self) -> bool:
        """Readable and nothing timed is under way (no mismatch being timed, no lock without
        feedback waiting out its settle time): only a new reading or command changes it."""
        if not self.readable or self._mismatch_since is not None:
            return False
        return not (self.feedback is None and self.commanded and not self.confirmed)

    def status(self, faulted: bool) -> p.CableLockStatus:
        """The lock state for ``cable_info``."""
        if faulted:
            return p.CableLockStatus.ERROR
        if not self.readable:
            return p.CableLockStatus.UNKNOWN
        position = self.feedback if self.feedback is not None else self.confirmed
        return p.CableLockStatus.LOCKED if position else p.CableLockStatus.UNLOCKED
