"""One thread that runs the periodic jobs of every EVSE of a board, by deadline (issue #17 item 2).

Two threads per EVSE (CP sampling at 20 Hz, meter polling at 1 Hz) cost a core's tenth at 32 EVSEs
in wake-ups alone. A :class:`Scheduler` keeps one heap of ``(deadline, job)`` and sleeps until the
earliest deadline, so N EVSEs cost one thread and N short calls per period. Each job keeps its own
interval (per-EVSE ``sample_interval_ms`` / ``[meter] interval_s``); jobs with the same interval
run back to back in one wake-up (one wake-up per period, not one per EVSE).

The station runs two of them (:class:`~josev_hal.station.station.Station`): the *sampler* for the
CP evaluations, which must never wait on a slow device, and the *slow* scheduler for the meters'
Modbus round trips and the self-tests (seconds each, worst case). A driver's ``notify()`` still
evaluates at once on the notifying thread: the scheduler only replaces the polling.

A job that raises is logged and rescheduled (a driver bug must not stop sampling for every EVSE).
A job that overruns does not cause a burst afterwards: its next deadline is moved to "now". The
scheduler beats its :class:`~josev_hal.liveness.Heartbeat` every turn, so a job stuck in a call
shows up in the watchdog with the stack of this thread.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable

import msgspec

from josev_hal.liveness import Heartbeat, Liveness

__all__ = ["Job", "Scheduler"]

log = logging.getLogger(__name__)


class Job(msgspec.Struct, eq=False):
    name: str
    interval_s: float
    fn: Callable[[], None]
    deadline: float = 0.0
    runs: int = 0
    overruns: int = 0
    cancelled: bool = msgspec.field(default=False)


class Scheduler:
    """Periodic jobs on one thread (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        liveness: Liveness | None = None,
        limit_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._liveness = liveness
        self.limit_s = limit_s
        self._clock = clock
        self._heap: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._hb: Heartbeat | None = None
        self._anchors: dict[float, float] = {}

    def every(self, interval_s: float, fn: Callable[[], None], *, name: str) -> Job:
        """Run ``fn()`` every ``interval_s`` from now on (in step with its peers)."""
        if not interval_s > 0:
            raise ValueError(f"job {name!r}: interval must be > 0, got {interval_s!r}")
        job = Job(name, interval_s, fn)
        with self._cv:
            # Jobs of one interval share their deadlines (aligned to the first such job), so they
            # run back to back in one wake-up: one wake-up per period for all EVSEs is what saves
            # the CPU; spreading them would cost one wake-up each, as separate threads do.
            now = self._clock()
            anchor = self._anchors.setdefault(interval_s, now)
            periods = math.ceil((now - anchor) / interval_s)  # the first job runs at once
            heapq.heappush(self._heap, (anchor + periods * interval_s, next(self._seq), job))
            self._cv.notify()
        return job

    def cancel(self, job: Job) -> None:
        with self._cv:
            job.cancelled = True
            self._cv.notify()

    def jobs(self) -> list[Job]:
        with self._cv:
            return [job for _, _, job in self._heap if not job.cancelled]

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        if self._liveness is not None:
            self._hb = self._liveness.register(f"station.{self.name}", self.limit_s)
        self._thread = threading.Thread(target=self._run, name=f"station-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop after the job that runs now. True when the thread ended within ``timeout``."""
        with self._cv:
            self._stopped = True
            self._cv.notify()
        thread, self._thread = self._thread, None
        if self._hb is not None:
            self._hb.close()
            self._hb = None
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.error("scheduler %s did not stop within %gs (a job is stuck in a call)", self.name, timeout)
            return False
        return True

    def _run(self) -> None:
        while True:
            with self._cv:
                job = self._next_due()
                if job is None:
                    return
            if self._hb is not None:
                self._hb.beat()
            try:
                job.fn()
            except Exception:  # the sampling of every EVSE must survive one job's bug
                log.exception("scheduler %s: job %s failed", self.name, job.name)
            job.runs += 1
            with self._cv:
                if not job.cancelled and not self._stopped:
                    self._reschedule(job)

    def _next_due(self) -> Job | None:
        """Wait (under the condition) for the earliest job to fall due; None once stopped."""
        while not self._stopped:
            while self._heap and self._heap[0][2].cancelled:
                heapq.heappop(self._heap)
            if not self._heap:
                self._cv.wait(self.limit_s / 2)
                if self._hb is not None:
                    self._hb.beat()  # idle, not stuck
                continue
            deadline, _, job = self._heap[0]
            delay = deadline - self._clock()
            if delay > 0:
                self._cv.wait(min(delay, self.limit_s / 2))
                if self._hb is not None:
                    self._hb.beat()
                continue
            heapq.heappop(self._heap)
            job.deadline = deadline
            return job
        return None

    def _reschedule(self, job: Job) -> None:
        now = self._clock()
        nxt = job.deadline + job.interval_s
        if nxt <= now:
            # Overran (a slow device, or this thread held up): go on at the job's first grid
            # point after now. Neither a burst to catch up nor a second run straight after the
            # late one -- two meter readings in one millisecond, published with one timestamp
            # (#13 soak, a held-up process).
            job.overruns += 1
            nxt = job.deadline + (math.floor((now - job.deadline) / job.interval_s) + 1) * job.interval_s
        heapq.heappush(self._heap, (nxt, next(self._seq), job))
