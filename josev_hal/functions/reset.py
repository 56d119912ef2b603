"""``reset`` (OCPP 2.0.1 B11/B12): answer first, make the power path safe, then act.

*What* a reset does is the ``hal_reset`` hook's decision (default policy: the profile's
``[reset] command`` for a station reset, otherwise a restart of the HAL). *When* it happens is
:class:`~josev_hal.functions.config.ResetSettings.mode`:

* ``on_idle`` (default): the affected EVSEs are held unavailable for new sessions, and the reset
  waits until every running transaction on them has ended -- it never cuts a session;
* ``immediate``: the affected EVSEs are made unavailable at once, which opens their contactors
  through the normal interlock path, and the reset follows.

Commands run as an argv list **without a shell** (:func:`subprocess.run` with ``shell=False``).
A reset of one EVSE re-initialises that EVSE when the station core can; otherwise it waits like a
station reset (restarting the HAL must not cut sessions on the other EVSEs either).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence

from josev_hal.functions.availability import AvailabilityManager
from josev_hal.functions.config import ResetMode, ResetSettings
from josev_hal.functions.ports import StationEvse, opt
from josev_hal.hookspecs import ResetAction, ResetActionKind
from josev_hal.messages import Message
from josev_hal.messages import payloads as p

__all__ = ["ResetManager", "restart_by_signal", "run_command"]

log = logging.getLogger(__name__)

#: ``decide(kind, evse_id) -> ResetAction | None``: a wrapper around the ``hal_reset`` hook.
Decide = Callable[[str, str | None], ResetAction | None]
#: ``run(argv, timeout_s) -> exit code`` (raises OSError / TimeoutExpired).
Runner = Callable[[Sequence[str], float], int]

_HOLD = "reset"


def run_command(argv: Sequence[str], timeout_s: float) -> int:
    """Run ``argv`` without a shell; log its output; return the exit code."""
    import subprocess  # only when a reset runs a command: kept off the start-up path

    result = subprocess.run(
        list(argv), shell=False, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        for line in (text or "").splitlines()[-20:]:
            log.info("reset command %s: %s", stream, line)
    return result.returncode


def restart_by_signal() -> None:
    """Default HAL restart: SIGTERM to ourselves, so the daemon shuts down cleanly (contactors
    open, board released) and the service manager (``Restart=always``) starts it again."""
    log.warning("reset: restarting josev-hal (SIGTERM to pid %d)", os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)


class ResetManager:
    """Handles ``reset`` requests; at most one reset is carried out at a time."""

    def __init__(
        self,
        evses: Sequence[StationEvse],
        availability: AvailabilityManager,
        settings: ResetSettings,
        decide: Decide,
        *,
        restart_hal: Callable[[], None] | None = None,
        run: Runner = run_command,
    ) -> None:
        self._evses = {e.evse_id: e for e in evses}
        self._availability = availability
        self.settings = settings
        self._decide = decide
        self._restart_hal = restart_hal or restart_by_signal
        self._run = run
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        #: Set when the reset action has been performed (tests and the daemon may wait on it).
        self.performed = threading.Event()
        self.last_outcome: str | None = None

    @property
    def pending(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def handle_request(self, message: Message) -> p.ResetResponse:
        req: p.ResetRequest = message.data
        evse_id = opt(req.evse_id)
        status = self.request(evse_id)
        return p.ResetResponse(status=p.AcceptedRejected(status))

    def request(self, evse_id: str | None) -> str:
        """Decide and schedule a reset; returns ``accepted`` / ``rejected``."""
        if evse_id is not None and evse_id not in self._evses:
            log.warning("reset rejected: unknown evse_id %r", evse_id)
            return "rejected"
        kind = "evse" if evse_id is not None else "station"
        try:
            action = self._decide(kind, evse_id)
        except Exception:
            log.exception("hal_reset policy failed; reset rejected")
            return "rejected"
        if action is None:
            log.error("reset rejected: no hal_reset policy answered")
            return "rejected"
        if action.kind is ResetActionKind.REJECT:
            log.info("reset rejected by policy kind=%s evse_id=%s reason=%s", kind, evse_id, action.reason)
            return "rejected"
        with self._lock:
            if self.pending:
                log.info("reset already pending; request kind=%s evse_id=%s accepted again", kind, evse_id)
                return "accepted"
            self.performed.clear()
            self._cancel.clear()
            self._thread = threading.Thread(
                target=self._carry_out, args=(action, evse_id), name="reset", daemon=True
            )
            self._thread.start()
        log.info(
            "reset accepted kind=%s evse_id=%s action=%s mode=%s reason=%s",
            kind,
            evse_id,
            action.kind.value,
            self.settings.mode.value,
            action.reason,
        )
        return "accepted"

    def close(self) -> None:
        """Abandon a pending reset (HAL shutdown)."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(2)

    # -- carrying out ----------------------------------------------------------------------------
    def _carry_out(self, action: ResetAction, evse_id: str | None) -> None:
        try:
            # Let the response leave first: Josev must see "accepted" before the HAL goes away.
            if self._cancel.wait(self.settings.delay_s):
                return
            port = self._evses.get(evse_id) if evse_id is not None else None
            # A per-EVSE restart re-initialises only that EVSE's controller (the core supports it).
            per_evse_restart = port is not None and action.kind is ResetActionKind.RESTART_HAL
            scope = [evse_id] if per_evse_restart and evse_id is not None else list(self._evses)
            if evse_id is not None and action.kind is ResetActionKind.RUN_COMMAND:
                scope = [evse_id]
            if not self._make_safe(scope):
                return
            self._perform(action, evse_id, port if per_evse_restart else None)
        except Exception:
            log.exception("reset failed")
            self.last_outcome = "failed"
            self._availability.release(_HOLD)

    def _make_safe(self, scope: list[str]) -> bool:
        if self.settings.mode is ResetMode.IMMEDIATE:
            log.warning("reset immediate: stopping sessions on %s", scope)
            self._availability.hold(_HOLD, scope)
            self._availability.force_unavailable(scope)
            return True
        if self._availability.transactions_active(scope):
            log.info("reset on idle: waiting for transactions to end on %s", scope)
        timeout = self.settings.max_wait_s or None
        if not self._availability.wait_idle(_HOLD, self._cancel, timeout, scope):
            if not self._cancel.is_set():
                log.error("reset abandoned: transactions still running after %ss", self.settings.max_wait_s)
                self.last_outcome = "abandoned"
            return False
        return True

    def _perform(self, action: ResetAction, evse_id: str | None, per_evse_port: StationEvse | None) -> None:
        if action.kind is ResetActionKind.RUN_COMMAND:
            argv = list(action.command)
            if evse_id is not None:
                argv = [arg.replace("{evse_id}", evse_id) for arg in argv]
            log.warning("reset: running %s", argv)
            self.performed.set()
            import subprocess  # SubprocessError: only imported when a reset runs a command

            try:
                code = self._run(argv, self.settings.command_timeout_s)
            except (OSError, subprocess.SubprocessError) as exc:
                log.error("reset command %s failed: %s", argv, exc)
                self.last_outcome = "command_failed"
            else:
                self.last_outcome = f"command_exit_{code}"
                (log.info if code == 0 else log.error)("reset command %s exited with %d", argv, code)
            # A command that did not take the station down (a board reset script) leaves it running.
            self._availability.release(_HOLD)
        elif per_evse_port is not None:
            log.warning("reset: re-initialising evse_id=%s", evse_id)
            per_evse_port.restart()
            self.last_outcome = "evse_restarted"
            self.performed.set()
            self._availability.release(_HOLD)
        else:
            self.last_outcome = "restart_hal"
            self.performed.set()
            self._restart_hal()
