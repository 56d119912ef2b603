"""An EVSE's meter_values updates leave in the order their readings were taken, each with a
timestamp later than the one before (the chaos soak's "reordered meter timestamp", issue #13).

Two paths read an EVSE's meter: the scheduled poll and a caller that finds no reading yet (a
``meter_values`` request or the energy supervisor's first turn right after start-up). Each reads
outside the EVSE lock and records under it, so two reads can cross; and two reads back to back (a
scheduler catching up after its thread was held up) can fall into the same millisecond, the
resolution of the contract's timestamp."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from josev_hal.messages import payloads as p
from josev_hal.messages import utc_timestamp
from tests.support.station import SimEvse

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ac() -> Iterator[SimEvse]:
    rig = SimEvse("ac")
    yield rig
    rig.close()


def _stamps(rig: SimEvse) -> list[str]:
    return [u.timestamp for u in rig.of(p.MeterValuesUpdate)]


def test_a_reading_overtaken_by_a_newer_one_is_never_published_after_it(ac: SimEvse) -> None:
    """The first read is held up in the meter (a slow bus round trip) while a second read on
    another thread is taken, recorded and published: the older reading arriving last must not go
    out after the newer one, nor replace it as the EVSE's current reading."""
    first_inside = threading.Event()
    second_done = threading.Event()
    calls = [0]
    meter = ac.devices.meter
    assert meter is not None
    read = meter.read

    def read_then_wait() -> Any:
        calls[0] += 1
        reading = read()
        if calls[0] == 1:
            first_inside.set()
            assert second_done.wait(10), "the second read did not finish"
        return reading

    meter.read = read_then_wait  # type: ignore[method-assign]
    scheduled = threading.Thread(target=ac.ctl.poll_meter)
    scheduled.start()
    assert first_inside.wait(10)
    newer = ac.ctl.meter_values()  # no reading recorded yet: read on this thread, now
    second_done.set()
    scheduled.join(10)
    assert not scheduled.is_alive()

    stamps = _stamps(ac)
    assert stamps == sorted(set(stamps)), f"meter timestamps out of order: {stamps}"
    assert len(stamps) == 1, "the overtaken reading went out after the newer one"
    assert stamps[0] == utc_timestamp(newer.utc)
    assert ac.ctl.meter_values() is newer, "the older reading replaced the newer one"


def test_two_readings_in_one_millisecond_are_published_once(ac: SimEvse) -> None:
    """Two polls back to back within one millisecond (the wall clock as the meter's driver reads
    it): the contract's timestamp cannot tell them apart, so a second update would repeat the
    first one's time and Josev would see time stand still."""
    same_ms = datetime(2026, 12, 6, 5, 0, 0, 123_000, tzinfo=UTC)
    wall = iter([same_ms, same_ms.replace(microsecond=123_900), same_ms.replace(microsecond=124_000)])
    meter = ac.devices.meter
    assert meter is not None
    read = meter.read

    def read_at_wall_clock() -> Any:
        return msgspec.structs.replace(read(), utc=next(wall))

    meter.read = read_at_wall_clock  # type: ignore[method-assign]
    for _ in range(3):
        ac.ctl.poll_meter()
    assert _stamps(ac) == ["2026-12-06T05:00:00.123Z", "2026-12-06T05:00:00.124Z"]
    # the second reading of that millisecond is still recorded: it is the newest one
    assert ac.ctl.meter_values().utc == same_ms.replace(microsecond=124_000)
