"""Liveness of the daemon's loops: every loop that must keep turning owns a :class:`Heartbeat`.

A loop calls :meth:`Heartbeat.beat` once per turn. The daemon's watchdog asks
:meth:`Liveness.overdue` which loops have not turned within their limit and, for each, the stack of
the thread that last beat it (so a log line shows *where* it is stuck, not just that it is).

Why a registry and not a flag per loop: the watchdog must tell systemd "alive" only while *every*
safety-relevant loop turns (sampling scheduler, bridge network loop); a single stuck loop is enough
for the station to be unsafe, and the watchdog must name it.

Beating is a plain attribute store (no lock): it runs on the hot sampling path, and a torn read by
the watchdog can at worst see the previous timestamp.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable

import msgspec

__all__ = ["Heartbeat", "Liveness", "Overdue"]


class Heartbeat:
    """One loop's pulse. Create through :meth:`Liveness.register`."""

    __slots__ = ("_clock", "_ident", "_last", "_owner", "limit_s", "name")

    def __init__(self, owner: Liveness, name: str, limit_s: float, clock: Callable[[], float]) -> None:
        self._owner = owner
        self.name = name
        self.limit_s = limit_s
        self._clock = clock
        self._last = clock()
        self._ident: int | None = None

    def beat(self) -> None:
        """The loop turned. Records the time and the calling thread (for the stack on a hang)."""
        self._last = self._clock()
        self._ident = threading.get_ident()

    @property
    def last(self) -> float:
        return self._last

    @property
    def thread_ident(self) -> int | None:
        return self._ident

    def close(self) -> None:
        """The loop ended on purpose (shutdown): stop watching it."""
        self._owner.unregister(self)

    def __repr__(self) -> str:
        return f"Heartbeat({self.name!r}, limit_s={self.limit_s:g})"


class Overdue(msgspec.Struct, frozen=True):
    """A loop that missed its limit: how long since it last turned and where its thread is now."""

    name: str
    age_s: float
    limit_s: float
    stack: str

    def describe(self) -> str:
        return f"loop {self.name!r} has not turned for {self.age_s:.2f}s (limit {self.limit_s:g}s)"


class Liveness:
    """The set of loops the watchdog checks. Thread-safe; ``clock`` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[int, Heartbeat] = {}

    def register(self, name: str, limit_s: float) -> Heartbeat:
        """A new loop to watch. ``limit_s`` is how long it may go without a beat (its period plus
        the worst legitimate pause, e.g. a slow bus read)."""
        if limit_s <= 0:
            raise ValueError(f"liveness limit for {name!r} must be > 0, got {limit_s!r}")
        hb = Heartbeat(self, name, limit_s, self._clock)
        with self._lock:
            self._beats[id(hb)] = hb
        return hb

    def unregister(self, hb: Heartbeat) -> None:
        with self._lock:
            self._beats.pop(id(hb), None)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(hb.name for hb in self._beats.values())

    def overdue(self, now: float | None = None) -> list[Overdue]:
        """Loops past their limit, with the current stack of the thread that last beat each."""
        t = self._clock() if now is None else now
        with self._lock:
            beats = list(self._beats.values())
        late = [(hb, t - hb.last) for hb in beats if t - hb.last > hb.limit_s]
        if not late:
            return []
        frames = sys._current_frames()
        out = []
        for hb, age in late:
            frame = frames.get(hb.thread_ident) if hb.thread_ident is not None else None
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(thread not found)\n"
            out.append(Overdue(hb.name, age, hb.limit_s, stack))
        return out
