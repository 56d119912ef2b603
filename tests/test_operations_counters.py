"""Wear counters: what each station event counts, energy from meter increments, persistence."""

from __future__ import annotations

import json
from pathlib import Path

from josev_hal.operations.counters import WearCounters
from josev_hal.station.events import EventKind, StationEvent

E = "DE*TST*E0001"


def _ev(kind: EventKind, **detail: object) -> StationEvent:
    return StationEvent(E, kind, 0.0, dict(detail))


def _fed(path: Path, *events: StationEvent) -> WearCounters:
    counters = WearCounters(path)
    for event in events:
        counters.on_event(event)
    counters.drain()
    return counters


def test_each_event_kind_counts_where_it_belongs(tmp_path: Path) -> None:
    c = _fed(
        tmp_path,
        _ev(EventKind.CONTACTOR_CLOSED, reason="x"),
        _ev(EventKind.CONTACTOR_OPENED, reason="x", under_load=True, current_a=16.0),
        _ev(EventKind.CONTACTOR_CLOSED, reason="x"),
        _ev(EventKind.CONTACTOR_OPENED, reason="x", under_load=False, current_a=0.0),
        _ev(EventKind.LOCK, connector_id=1, locked=True),
        _ev(EventKind.LOCK, connector_id=1, locked=False),
        _ev(EventKind.RCD_TRIP, dc_6ma=None),
        _ev(EventKind.RCD_SELF_TEST, passed=True, detail=""),
        _ev(EventKind.RCD_SELF_TEST, passed=False, detail="no trip"),
        _ev(EventKind.CP_STATE, connector_id=1, state="B1", previous="A1"),
        _ev(EventKind.FAULT_SET, key="meter", component="meter", name="other", detail="", blocks=False),
        _ev(EventKind.AVAILABILITY, available=False),
    ).snapshot()[E]
    assert c["contactor_operations"] == 4 and c["contactor_closings"] == 2
    assert c["contactor_openings_under_load"] == 1
    assert c["lock_cycles"] == 1 and c["unlock_commands"] == 1
    assert c["rcd_trips"] == 1 and c["rcd_self_tests"] == 2 and c["rcd_self_tests_failed"] == 1
    assert c["cp_state_changes"] == 1 and c["faults_raised"] == 1


def test_energy_sums_register_increments_and_survives_a_meter_reset(tmp_path: Path) -> None:
    c = WearCounters(tmp_path)
    for register in (1000.0, 1500.0, 1500.0, 2500.0, 10.0, 60.0):  # 10.0: a new meter
        c.on_energy(E, register)
    c.on_energy(E, None)  # no reading: nothing happens
    c.drain()
    assert c.snapshot()[E]["energy_wh"] == 1500.0 + 50.0


def test_counters_persist_across_instances_and_stop_writes_what_is_queued(tmp_path: Path) -> None:
    first = WearCounters(tmp_path)
    first.start()
    first.on_event(_ev(EventKind.CONTACTOR_CLOSED, reason="x"))
    first.on_energy(E, 100.0)
    first.on_energy(E, 350.0)
    first.stop()
    doc = json.loads((tmp_path / "counters.json").read_text())
    assert doc["version"] == 1 and doc["evses"][E]["contactor_operations"] == 1
    second = _fed(tmp_path, _ev(EventKind.CONTACTOR_OPENED, reason="x", under_load=False))
    snap = second.snapshot()[E]
    assert snap["contactor_operations"] == 2 and snap["energy_wh"] == 250.0
    second.on_energy(E, 400.0)  # continues from the persisted register
    second.drain()
    assert second.snapshot()[E]["energy_wh"] == 300.0


def test_a_corrupt_counter_file_is_kept_aside_and_counting_restarts(tmp_path: Path) -> None:
    (tmp_path / "counters.json").write_text(
        '{"version": 1, "evses": {"x": {"contactor_operations": "many"}}}'
    )
    counters = WearCounters(tmp_path)
    assert counters.snapshot() == {}
    assert (tmp_path / "counters.json.corrupt").exists()
    counters.on_event(_ev(EventKind.CONTACTOR_CLOSED, reason="x"))
    counters.drain()
    counters.save()
    assert json.loads((tmp_path / "counters.json").read_text())["evses"][E]["contactor_operations"] == 1


def test_a_failing_observer_does_not_stop_counting(tmp_path: Path) -> None:
    counters = WearCounters(tmp_path)
    seen: list[StationEvent] = []

    def broken(event: StationEvent) -> None:
        raise RuntimeError("observer bug")

    counters.add_observer(broken)
    counters.add_observer(seen.append)
    counters.on_event(_ev(EventKind.RCD_TRIP))
    counters.on_event(_ev(EventKind.RCD_TRIP))
    counters.drain()
    assert counters.snapshot()[E]["rcd_trips"] == 2 and len(seen) == 2


def test_events_after_stop_are_ignored_not_queued_forever(tmp_path: Path) -> None:
    counters = WearCounters(tmp_path)
    counters.start()
    counters.on_event(_ev(EventKind.RCD_TRIP))
    counters.stop()
    counters.on_event(_ev(EventKind.RCD_TRIP))
    counters.on_energy(E, 100.0)
    assert counters._queue.empty()
    assert json.loads((tmp_path / "counters.json").read_text())["evses"][E]["rcd_trips"] == 1
