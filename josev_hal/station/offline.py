"""What an ongoing session does when Josev goes silent (issue #22, "offline policy").

**Detecting silence.** Josev sends no heartbeat. What the HAL can observe is (MESSAGES.md §3):

* the broker connection: while the HAL is disconnected it hears nothing from Josev;
* ``service_status`` updates Josev's services publish when their state changes
  (``ready`` / ``starting`` / ``stopping`` / ``error`` / ``busy``);
* the answer to a ``service_status`` request the HAL may send: :class:`JosevWatch` asks every
  ``probe_interval_s`` and counts Josev as lost when no answer came within ``probe_timeout_s``
  (a broker that is up while the Josev process hangs or died without a word).

Josev counts as *lost* when any of these says so, and *back* once connected, no watched service
reports ``stopping``/``error`` and a probe (or any service_status) was answered since.

**The policy** (profile ``[sessions]``):

* ``on_josev_lost = "continue"`` (default) -- a basic AC session (IEC 61851 PWM, no ISO 15118)
  goes on at the current it was offered. That is safe: the HAL owns the PWM, the contactor and
  every interlock, none of which needs Josev; the meter keeps counting, so the energy can be
  reported to the CSMS when Josev returns. Stopping a paying driver's charge because a process on
  the box restarted would be the worse outcome.
* ``on_josev_lost = "stop_after_s"`` -- a basic AC session is stopped (PWM withdrawn, contactor
  opened the usual way) once Josev has been lost for ``stop_after_s``: for operators who must not
  deliver energy that the CSMS may never bill.
* **ISO 15118 / DIN sessions (AC HLC and every DC session) are always stopped** after
  ``hlc_stop_after_s`` (default 2 s, the order of ISO 15118's message timeouts): the EV expects
  Josev's answers in the V2G loop, the DC power module's set-point comes from Josev, and nobody
  else can do either. Continuing would be driving a DC module on a stale set-point.

When Josev returns, :meth:`OfflineEpisode.report` says what the HAL did while it was gone (which
EVSE, which action, when); the station publishes it and logs it.

Everything here is pure: the station feeds observations and the time, and applies the actions.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable

import msgspec

__all__ = [
    "WATCHED_SERVICES",
    "JosevWatch",
    "OfflineAction",
    "OfflineEpisode",
    "OfflinePolicy",
    "OnJosevLost",
    "SessionKind",
    "decide_offline",
]

#: Services whose ``stopping``/``error`` means a session can no longer be served.
WATCHED_SERVICES = frozenset({"ocpp", "iso15118"})
_DOWN = frozenset({"stopping", "error"})


class OnJosevLost(enum.StrEnum):
    CONTINUE = "continue"
    STOP_AFTER_S = "stop_after_s"


class SessionKind(enum.StrEnum):
    """What kind of session an EVSE runs (the policy differs)."""

    NONE = "none"
    BASIC_AC = "basic_ac"
    HLC = "hlc"  # ISO 15118 / DIN: AC HLC and every DC session


class OfflineAction(enum.StrEnum):
    NONE = "none"
    STOP = "stop"


class OfflinePolicy(msgspec.Struct, frozen=True):
    """The profile's ``[sessions]`` policy. ``validate()`` raises ``ValueError`` naming the key."""

    on_josev_lost: OnJosevLost = OnJosevLost.CONTINUE
    stop_after_s: float = 300.0
    hlc_stop_after_s: float = 2.0
    probe_interval_s: float = 10.0
    probe_timeout_s: float = 5.0

    def validate(self) -> None:
        for name in ("stop_after_s", "hlc_stop_after_s", "probe_interval_s", "probe_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {value}")
        if self.probe_interval_s <= 0 or self.probe_timeout_s <= 0:
            raise ValueError("probe_interval_s/probe_timeout_s: must be > 0")


def decide_offline(policy: OfflinePolicy, lost_for_s: float | None, session: SessionKind) -> OfflineAction:
    """What to do with one EVSE's session after Josev has been lost for ``lost_for_s``
    (``None``: Josev is there)."""
    if lost_for_s is None or session is SessionKind.NONE:
        return OfflineAction.NONE
    if session is SessionKind.HLC:
        return OfflineAction.STOP if lost_for_s >= policy.hlc_stop_after_s else OfflineAction.NONE
    if policy.on_josev_lost is OnJosevLost.STOP_AFTER_S and lost_for_s >= policy.stop_after_s:
        return OfflineAction.STOP
    return OfflineAction.NONE


class Transition(msgspec.Struct, frozen=True):
    """Josev was lost (``lost=True``) or came back, at ``at``, and why."""

    lost: bool
    at: float
    reason: str


class JosevWatch:
    """Tracks whether Josev can be heard. Feed it what the bridge sees; call :meth:`check`
    regularly; it returns a :class:`Transition` when the verdict changes. Not thread-safe: one
    owner (the station's offline supervisor) calls it under its own lock."""

    def __init__(self, policy: OfflinePolicy, now: float) -> None:
        self.policy = policy
        self.connected = False
        self.down_services: dict[str, str] = {}
        self.lost_since: float | None = now  # nothing heard yet: not "there" until it answers
        self.reason = "not heard yet"
        self._probe_sent_at: float | None = None
        self._last_probe_at: float | None = None
        self._heard_since_connect = False

    @property
    def lost(self) -> bool:
        return self.lost_since is not None

    def lost_for(self, now: float) -> float | None:
        return None if self.lost_since is None else max(0.0, now - self.lost_since)

    # -- observations ------------------------------------------------------------------------
    def on_broker(self, connected: bool, now: float) -> None:
        self.connected = connected
        if not connected:
            self._heard_since_connect = False
            self._probe_sent_at = None
            self._last_probe_at = None  # ask at once after reconnecting

    def on_service_status(self, service: str, status: str, now: float) -> None:
        """Any service_status update or response: Josev answered."""
        self._heard_since_connect = True
        self._probe_sent_at = None
        if service in WATCHED_SERVICES and status in _DOWN:
            self.down_services[service] = status
        else:
            self.down_services.pop(service, None)

    def probe_due(self, now: float) -> bool:
        """Whether the caller should send a service_status request now (every
        ``probe_interval_s`` while connected, answered or not)."""
        if not self.connected:
            return False
        return self._last_probe_at is None or now - self._last_probe_at >= self.policy.probe_interval_s

    def on_probe_sent(self, now: float) -> None:
        # the *first* unanswered probe counts: re-asking does not restart the timeout
        if self._probe_sent_at is None:
            self._probe_sent_at = now
        self._last_probe_at = now

    # -- verdict -----------------------------------------------------------------------------
    def check(self, now: float) -> Transition | None:
        """Re-evaluate at ``now``; a :class:`Transition` when the verdict changed."""
        reason = self._why_lost(now)
        if reason is not None:
            self.reason = reason
            if self.lost_since is None:
                self.lost_since = now
                return Transition(True, now, reason)
            return None
        if self.lost_since is not None:
            self.lost_since, self.reason = None, ""
            return Transition(False, now, "josev answers")
        return None

    def _why_lost(self, now: float) -> str | None:
        if not self.connected:
            return "broker connection lost"
        if self.down_services:
            return ", ".join(f"{s} {st}" for s, st in sorted(self.down_services.items()))
        sent = self._probe_sent_at
        if sent is not None and now - sent >= self.policy.probe_timeout_s:
            return f"no service_status answer within {self.policy.probe_timeout_s:g} s"
        if not self._heard_since_connect:
            return "not heard since connecting"
        return None


class OfflineEpisode(msgspec.Struct):
    """One period without Josev and what the HAL did in it."""

    started_at: float
    reason: str
    ended_at: float | None = None
    actions: list[tuple[float, str, OfflineAction, str]] = msgspec.field(default_factory=list)

    def record(self, at: float, evse_id: str, action: OfflineAction, detail: str) -> None:
        self.actions.append((at, evse_id, action, detail))

    def stopped(self) -> set[str]:
        return {evse for _, evse, action, _ in self.actions if action is OfflineAction.STOP}

    def report(self, continued: Iterable[str] = ()) -> str:
        """One log/info line: what happened while Josev was away."""
        duration = "" if self.ended_at is None else f" for {self.ended_at - self.started_at:.1f} s"
        parts = [f"josev was lost{duration} ({self.reason})"]
        for at, evse, action, detail in self.actions:
            parts.append(f"{evse}: {action.value} after {at - self.started_at:.1f} s ({detail})")
        kept = sorted(set(continued) - self.stopped())
        if kept:
            parts.append(f"continued: {', '.join(kept)}")
        if len(parts) == 1:
            parts.append("no session affected")
        return "; ".join(parts)
