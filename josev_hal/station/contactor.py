"""The contactor of one EVSE: commands, mirror-contact supervision and the closing interval.

:class:`ContactorSupervisor` is the only code that switches the contactor. It does not decide
*whether* to (that is :func:`~josev_hal.station.interlocks.decide`, called by the controller's
evaluate step); it carries out open/close, checks that the mirror contact follows, and keeps the
facts the interlock needs about the past: when the contactor last closed
(``[contactor] min_close_interval_s``).

Supervision (``[contactor] feedback_timeout_ms``), two separate checks:

* **failed to close**: commanded closed, the mirror contact still reads open after the timeout.
  Always checked when the contactor has a mirror contact: it says the power path is not what the
  HAL thinks it is, whoever is responsible for welding detection.
* **welded**: commanded open, the mirror contact still reads closed after the timeout. Checked
  unless ``[safety] welding_detection = "none"`` (issue #14 item 12: "none" used to switch off
  both checks).

Both latch a ``hardware_fault`` (component ``contactor``) until an operator clears it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from josev_hal.devices import Contactor
from josev_hal.errors import DeviceError
from josev_hal.messages import payloads as p
from josev_hal.station.config import WeldingDetection
from josev_hal.station.events import EventKind
from josev_hal.station.faults import Emit, FaultBook

__all__ = ["UNDER_LOAD_A", "ContactorSupervisor"]

log = logging.getLogger(__name__)

#: Above this current [A] an opening counts as "under load" for the wear counters.
UNDER_LOAD_A = 0.5

_CONTACTOR_FAULTS = ("contactor_welded", "contactor_feedback", "link:contactor")


class ContactorSupervisor:
    """Commands and supervision of one contactor (all methods run under the EVSE lock, except
    :meth:`confirm_open`, which the controller calls during shutdown)."""

    def __init__(
        self,
        evse_id: str,
        device: Contactor | None,
        faults: FaultBook,
        emit: Emit,
        *,
        feedback_timeout_s: float,
        welding_detection: WeldingDetection,
        min_close_interval_s: float,
        now: float,
        before_open: Callable[[], None] = lambda: None,
        present_current_a: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.evse_id = evse_id
        self.device = device
        self._faults = faults
        self._emit = emit
        self.feedback_timeout_s = feedback_timeout_s
        self.welding_detection = welding_detection
        self.min_close_interval_s = min_close_interval_s
        self._before_open = before_open
        self._present_current_a = present_current_a
        self.closed = False  #: what the core has *commanded*
        self.cmd_at = now
        self.last_close_at: float | None = None
        self.feedback: bool | None = None
        self._mismatch_since: float | None = None
        self._awaiting_confirmation = False
        #: set once the station stops: nothing may close any more
        self.frozen = False
        #: set once the station stopped: the driver may be released, touch it no more
        self.released = False

    # -- commands ------------------------------------------------------------------------------
    def open(self, why: str, now: float) -> None:
        """Open now. Never raises: a failing driver is logged and reported, not propagated."""
        if self.released:
            return
        if self.closed:
            self._before_open()  # DC: switch the module off first
        if self.device is not None:
            try:
                self.device.open()
            except Exception as exc:  # opening is sacred: report, never propagate
                log.error("evse=%s contactor open FAILED: %s", self.evse_id, exc)
        if not self.closed:
            return
        log.info("evse=%s contactor open reason=%s", self.evse_id, why)
        current = self._present_current_a()
        self.closed = False
        self.cmd_at = now
        self._mismatch_since = None
        self._awaiting_confirmation = True
        self._emit(
            EventKind.CONTACTOR_OPENED,
            now,
            reason=why,
            under_load=current is not None and current > UNDER_LOAD_A,
            current_a=current,
        )

    def close(self, now: float) -> bool:
        """Close (the interlock allowed it). False when the driver failed or the station stops."""
        if self.device is None or self.frozen or self.released:
            return False
        try:
            self.device.close()
        except DeviceError as exc:
            log.error("evse=%s contactor close failed: %s", self.evse_id, exc)
            self._faults.link_fault("contactor", exc)
            return False
        log.info("evse=%s contactor close", self.evse_id)
        self.closed = True
        self.cmd_at = now
        self.last_close_at = now
        self._mismatch_since = None
        self._awaiting_confirmation = True
        self._emit(EventKind.CONTACTOR_CLOSED, now, reason="interlock clear")
        return True

    # -- supervision ---------------------------------------------------------------------------
    def read(self, now: float) -> None:
        """Read the mirror contact; confirm the last command or raise a feedback fault."""
        device = self.device
        if device is None or self.released:
            return
        try:
            sample = device.read()
        except DeviceError as exc:
            self._faults.link_fault("contactor", exc)
            return
        self._faults.clear_fault("link:contactor")
        self.feedback = sample.feedback_closed
        if not device.has_feedback or sample.feedback_closed is None:
            self._mismatch_since = None
            return
        if sample.feedback_closed == self.closed:
            self._mismatch_since = None
            if self._awaiting_confirmation:
                self._awaiting_confirmation = False
                self._emit(
                    EventKind.CONTACTOR_CONFIRMED,
                    now,
                    closed=self.closed,
                    switch_time_s=max(0.0, now - self.cmd_at),
                )
            return
        if self._mismatch_since is None:
            self._mismatch_since = now
        if now - self._mismatch_since < self.feedback_timeout_s:
            return
        if self.closed:
            self.open("contactor did not close (feedback stayed open)", now)
            self._faults.set_fault(
                "contactor_feedback",
                "contactor",
                p.HardwareFaultName.OTHER,
                "feedback did not follow the close command",
                latched=True,
            )
        elif self.welding_detection is not WeldingDetection.NONE:
            self._faults.set_fault(
                "contactor_welded",
                "contactor",
                p.HardwareFaultName.OTHER,
                "contacts welded: feedback closed after the open command",
                latched=True,
            )

    def confirm_open(self, timeout_s: float) -> DeviceError | bool:
        """Shutdown: wait (bounded, wall time) for the mirror contact to read open. Runs without
        the EVSE lock (it sleeps); the caller reports the outcome under the lock with
        :meth:`report_shutdown`. True: open (or nothing to check); False: still closed; a
        DeviceError: unreadable."""
        device = self.device
        if device is None or not device.has_feedback or self.released:
            return True
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                closed = device.read().feedback_closed
            except DeviceError as exc:
                return exc
            if not closed:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def report_shutdown(self, outcome: DeviceError | bool, timeout_s: float) -> None:
        """Record :meth:`confirm_open`'s outcome (under the EVSE lock). A contact still closed is
        reported as welded (latched), so the final state says ``error``, not ``opened``."""
        if isinstance(outcome, DeviceError):
            self._faults.link_fault("contactor", outcome)
        elif outcome:
            if self.device is not None and self.device.has_feedback:
                self.feedback = False
        else:
            self.feedback = True
            self._faults.set_fault(
                "contactor_welded",
                "contactor",
                p.HardwareFaultName.OTHER,
                f"contacts still closed {timeout_s:g}s after the open command at shutdown",
                latched=True,
            )

    def still_welded(self) -> bool:
        """For clearing faults: the contact reads closed while commanded open (or is unreadable)."""
        device = self.device
        if device is None or not device.has_feedback or self.closed:
            return False
        try:
            return bool(device.read().feedback_closed)
        except DeviceError:
            return True

    def forget_mismatch(self) -> None:
        self._mismatch_since = None

    # -- views ---------------------------------------------------------------------------------
    def since_last_close(self, now: float) -> float | None:
        return None if self.last_close_at is None else now - self.last_close_at

    @property
    def settled(self) -> bool:
        """No feedback supervision is under way (no command awaits its confirmation, no mismatch
        is being timed): only a new reading or command can change this supervisor's state. A
        contactor without a mirror contact has nothing to await (its command stays unconfirmed)."""
        if self._mismatch_since is not None:
            return False
        awaiting = self._awaiting_confirmation and self.device is not None and self.device.has_feedback
        return not awaiting

    def may_be_closed(self) -> bool:
        """Commanded closed, mirror contact closed (welded), or state unknown."""
        return bool(self.closed or self.feedback or "link:contactor" in self._faults)

    def status(self) -> str:
        """``closed`` / ``opened`` from the feedback (or the command without feedback), ``error``
        while a contactor fault is active."""
        if any(k in self._faults for k in _CONTACTOR_FAULTS):
            return "error"
        closed = self.feedback if self.feedback is not None else self.closed
        return "closed" if closed else "opened"
