"""Clocks for the simulated world.

The world evaluates everything lazily against ``clock.now()`` (relay feedback, lock feedback,
ramps, energy integration), so reads are exact whenever they happen. ``call_at`` only exists so
the world can *push* a notification when a delayed change becomes visible (a relay's feedback
contact closing 30 ms after the command), the way an interrupt GPIO would on a real board.

:class:`RealClock` runs on ``time.monotonic`` with timer threads; :class:`ManualClock` is for
tests: time stands still until :meth:`ManualClock.advance` moves it and fires what fell due.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "ManualClock", "RealClock", "TimerHandle"]


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the world needs from a clock."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        """Call ``callback()`` (on some thread) once ``now() >= deadline``."""
        ...


class RealClock:
    """``time.monotonic`` with one daemon timer thread per scheduled callback.

    Scheduled callbacks are rare (a relay or lock operation, the end of a ramp or of a cable
    check), so a thread each is cheaper than a scheduler that would run all the time.
    """

    def now(self) -> float:
        return time.monotonic()

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), callback)
        timer.daemon = True
        timer.name = "sim-clock"
        timer.start()
        return timer


class _ManualTimer:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that only moves when told to; callbacks fire synchronously inside :meth:`advance`."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, _ManualTimer, Callable[[], None]]] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        handle = _ManualTimer()
        with self._lock:
            heapq.heappush(self._heap, (deadline, next(self._seq), handle, callback))
        return handle

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing due callbacks in deadline order (time is set to
        each callback's deadline while it runs, so it observes the world at that instant)."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            target = self._now + seconds
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > target:
                    self._now = target
                    return
                deadline, _, handle, callback = heapq.heappop(self._heap)
                self._now = max(self._now, deadline)
            if not handle.cancelled:
                callback()
