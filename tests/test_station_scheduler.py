"""One sampling scheduler per board (issue #17 item 2): a deadline heap on one thread, each job at
its own interval, staggered, failures and overruns contained; the station runs every EVSE on two
such threads instead of two per EVSE, and a driver's notify still reacts on its own thread."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from josev_hal.liveness import Liveness
from josev_hal.station.scheduler import Scheduler
from tests.support.station import SimEvse
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    s = Scheduler("test", limit_s=5.0)
    yield s
    s.stop(2.0)


def test_each_job_keeps_its_own_interval_on_one_thread(scheduler: Scheduler) -> None:
    threads: set[str] = set()
    counts = {"fast": 0, "slow": 0}

    def job(name: str) -> None:
        threads.add(threading.current_thread().name)
        counts[name] += 1

    scheduler.every(0.01, lambda: job("fast"), name="fast")
    scheduler.every(0.1, lambda: job("slow"), name="slow")
    scheduler.start()
    assert eventually(lambda: counts["slow"] >= 5, timeout_s=30)
    assert threads == {"station-test"}
    # relative, not absolute: the 10 ms job ran clearly more often than the 100 ms one
    assert counts["fast"] > 3 * counts["slow"]


def test_jobs_of_one_interval_share_one_wake_up() -> None:
    now = [100.0]
    s = Scheduler("batch", clock=lambda: now[0])
    for i in range(4):
        s.every(0.05, lambda: None, name=f"evse{i}")
    now[0] = 100.07  # an EVSE added later falls in step with the others
    s.every(0.05, lambda: None, name="late")
    s.every(1.0, lambda: None, name="meter")
    deadlines = sorted({round(d, 6) for d, _, job in s._heap if job.interval_s == 0.05})
    assert deadlines == [100.0, 100.1], "one wake-up per period for every 50 ms job"
    meter = [d for d, _, job in s._heap if job.name == "meter"]
    assert meter == [100.07], "a new job runs at once (a meter has a reading from the start)"


def test_a_failing_job_is_logged_and_keeps_running_and_so_do_the_others(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    runs = {"bad": 0, "good": 0}

    def bad() -> None:
        runs["bad"] += 1
        raise RuntimeError("driver bug")

    def good() -> None:
        runs["good"] += 1

    scheduler.every(0.01, bad, name="bad")
    scheduler.every(0.01, good, name="good")
    scheduler.start()
    assert eventually(lambda: runs["bad"] >= 3 and runs["good"] >= 3, timeout_s=20)
    assert any("job bad failed" in r.getMessage() for r in caplog.records)


def test_an_overrunning_job_is_not_run_in_a_burst_afterwards(scheduler: Scheduler) -> None:
    starts: list[float] = []

    def slow() -> None:
        starts.append(time.monotonic())
        if len(starts) == 1:
            time.sleep(0.3)  # misses ~30 periods of 10 ms

    job = scheduler.every(0.01, slow, name="slow")
    scheduler.start()
    assert eventually(lambda: len(starts) >= 4, timeout_s=20)
    assert job.overruns >= 1
    # after the overrun the next runs follow the period again instead of catching up 30 at once
    # (a lower bound only: a loaded machine makes the gaps longer, never shorter)
    gaps = [b - a for a, b in itertools.pairwise(starts[1:])]
    assert all(g > 0.002 for g in gaps[:2])


def test_a_late_job_goes_on_at_its_next_grid_point_not_straight_again() -> None:
    # The thread was held up for 2.5 periods: the late run is followed by the next point of the
    # job's own grid (0.5 period later), not by an immediate second run.
    now = [100.0]
    s = Scheduler("late", clock=lambda: now[0])
    job = s.every(1.0, lambda: None, name="meter")
    assert s._next_due() is job and job.deadline == 100.0
    now[0] = 102.5
    s._reschedule(job)
    assert job.overruns == 1
    assert [d for d, _, j in s._heap if j is job] == [103.0]
    now[0] = 103.0
    assert s._next_due() is job and job.deadline == 103.0
    now[0] = 103.01  # on time again: one period on, no overrun counted
    s._reschedule(job)
    assert job.overruns == 1 and [d for d, _, j in s._heap if j is job] == [104.0]


def test_a_stuck_job_shows_in_the_watchdog_with_its_stack() -> None:
    fake = [0.0]
    liveness = Liveness(clock=lambda: fake[0])
    s = Scheduler("stuck", liveness=liveness, limit_s=1.0)
    release, entered = threading.Event(), threading.Event()

    def hang() -> None:
        entered.set()
        release.wait(30)

    s.every(0.01, hang, name="hang")
    s.start()
    try:
        assert entered.wait(20)
        fake[0] += 5.0
        late = liveness.overdue()
        assert [o.name for o in late] == ["station.stuck"]
        assert "hang" in late[0].stack
    finally:
        release.set()
        assert s.stop(2.0)
    assert liveness.names() == []


def test_cancelled_jobs_stop_and_stop_joins_the_thread(scheduler: Scheduler) -> None:
    runs = [0]
    job = scheduler.every(0.01, lambda: runs.__setitem__(0, runs[0] + 1), name="j")
    scheduler.start()
    assert eventually(lambda: runs[0] >= 2, timeout_s=20)
    scheduler.cancel(job)
    time.sleep(0.05)
    seen = runs[0]
    time.sleep(0.1)
    assert runs[0] == seen
    assert scheduler.stop(2.0)


def test_attached_controllers_sample_on_the_board_scheduler_and_still_react_on_notify() -> None:
    rig = SimEvse("ac")
    sampler, slow = Scheduler("sampler"), Scheduler("slow")
    try:
        rig.ctl.attach(sampler, slow)
        names = sorted(j.name for j in sampler.jobs() + slow.jobs())
        assert names == [f"cp {rig.evse_id}", f"meter {rig.evse_id}", f"self-tests {rig.evse_id}"]
        sampler.start()
        slow.start()
        # time stands still on the manual clock; the scheduler runs on wall time and evaluates
        rig.plug()
        assert eventually(lambda: rig.world.rcd.self_tests != [], timeout_s=10), (
            "self-test on the slow thread"
        )
        rig.charge()
        assert eventually(lambda: rig.ctl.contactor_closed, timeout_s=10)
        rig.pause()  # the CP driver's notify opens on this thread, not on the scheduler's
        assert not rig.ctl.contactor_closed
        rig.ctl.begin_stop()
        assert sampler.jobs() == [] and slow.jobs() == []
    finally:
        sampler.stop(2.0)
        slow.stop(2.0)
        rig.close()
