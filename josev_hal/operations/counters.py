"""Wear and health counters per EVSE that survive restarts (``<state dir>/operations/counters.json``).

Counted from the station's events (every contactor operation, not one per poll): contactor
operations and those under load, lock cycles, RCD trips and self-tests (passed/failed), CP state
changes, and the energy delivered (sum of the meter's import increments, so a meter swap or a
register reset does not lose or invent energy).

Listeners run on the control threads, so :meth:`WearCounters.on_event` only queues; one writer
thread applies the events and writes the file atomically at most every ``flush_s`` (a power cut
loses at most that much). A counter file that cannot be read is kept aside as ``.corrupt`` and
counting starts again: wear data is information, never a reason not to start.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from josev_hal.station.events import EventKind, StationEvent

__all__ = ["COUNTER_FIELDS", "EvseCounters", "WearCounters"]

log = logging.getLogger(__name__)

FILE_VERSION = 1


class EvseCounters(msgspec.Struct, kw_only=True):
    """The persisted counters of one EVSE."""

    contactor_operations: int = 0  #: close + open commands (each is one mechanical operation)
    contactor_closings: int = 0
    contactor_openings_under_load: int = 0  #: openings while current flowed (contact wear)
    lock_cycles: int = 0  #: lock commands (each lock is one cycle; unlocks are its return)
    unlock_commands: int = 0
    rcd_trips: int = 0
    rcd_self_tests: int = 0
    rcd_self_tests_failed: int = 0
    cp_state_changes: int = 0
    faults_raised: int = 0
    energy_wh: float = 0.0  #: delivered energy summed from meter increments
    last_meter_wh: float | None = None  #: the register at the last increment (not a counter)


COUNTER_FIELDS: tuple[str, ...] = tuple(f for f in EvseCounters.__struct_fields__ if f != "last_meter_wh")


class _File(msgspec.Struct):
    version: int
    evses: dict[str, EvseCounters]


class WearCounters:
    """Counters of all EVSEs, persisted under ``directory`` (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str], *, flush_s: float = 2.0) -> None:
        self.path = Path(directory) / "counters.json"
        self._flush_s = flush_s
        self._lock = threading.Lock()
        self._evses: dict[str, EvseCounters] = self._load()
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._dirty = False
        self._closed = False
        self._thread: threading.Thread | None = None
        #: observers of every event after it was counted (metrics histograms)
        self._observers: list[Callable[[StationEvent], None]] = []

    # -- persistence ---------------------------------------------------------------------------
    def _load(self) -> dict[str, EvseCounters]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.error("wear counters %s unreadable (%s): counting from zero", self.path, exc)
            return {}
        try:
            data = msgspec.json.decode(raw, type=_File)
            if data.version != FILE_VERSION:
                raise ValueError(f"file version {data.version}, expected {FILE_VERSION}")
            return data.evses
        except (msgspec.DecodeError, ValueError) as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            log.error("wear counters %s invalid (%s): kept as %s, counting from zero", self.path, exc, aside)
            try:
                os.replace(self.path, aside)
            except OSError:
                pass
            return {}

    def save(self) -> None:
        """Write the file now (atomically: a crash leaves the old or the new file, never half)."""
        with self._lock:
            data = msgspec.json.encode(_File(FILE_VERSION, dict(self._evses)))
            self._dirty = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("wear counters not saved to %s: %s", self.path, exc)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wear-counters", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Apply what is queued, write the file and stop the writer thread. Events that arrive
        later are ignored (the station cannot unsubscribe a listener)."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(5.0)
            self._thread = None
        self.save()

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._flush_s)
            except queue.Empty:
                if self._dirty:
                    self.save()
                continue
            if item is None:
                return
            try:
                item()
            except Exception:
                log.exception("wear counter update failed")

    def add_observer(self, fn: Callable[[StationEvent], None]) -> None:
        self._observers.append(fn)

    # -- input ---------------------------------------------------------------------------------
    def on_event(self, event: StationEvent) -> None:
        """Station event listener: queue only (runs on a control thread)."""
        if not self._closed:
            self._queue.put(lambda: self._apply(event))

    def on_energy(self, evse_id: str, register_wh: float | None) -> None:
        """A meter import register seen for ``evse_id`` (queued like the events)."""
        if register_wh is not None and not self._closed:
            self._queue.put(lambda: self._apply_energy(evse_id, register_wh))

    def _apply(self, event: StationEvent) -> None:
        d = event.detail
        with self._lock:
            c = self._evses.setdefault(event.evse_id, EvseCounters())
            kind = event.kind
            if kind is EventKind.CONTACTOR_CLOSED:
                c.contactor_operations += 1
                c.contactor_closings += 1
            elif kind is EventKind.CONTACTOR_OPENED:
                c.contactor_operations += 1
                if d.get("under_load"):
                    c.contactor_openings_under_load += 1
            elif kind is EventKind.LOCK:
                if d.get("locked"):
                    c.lock_cycles += 1
                else:
                    c.unlock_commands += 1
            elif kind is EventKind.RCD_TRIP:
                c.rcd_trips += 1
            elif kind is EventKind.RCD_SELF_TEST:
                c.rcd_self_tests += 1
                if not d.get("passed"):
                    c.rcd_self_tests_failed += 1
            elif kind is EventKind.CP_STATE:
                c.cp_state_changes += 1
            elif kind is EventKind.FAULT_SET:
                c.faults_raised += 1
            self._dirty = True
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:
                log.exception("wear counter observer failed")

    def _apply_energy(self, evse_id: str, register_wh: float) -> None:
        with self._lock:
            c = self._evses.setdefault(evse_id, EvseCounters())
            last = c.last_meter_wh
            if last is not None and register_wh > last:
                c.energy_wh += register_wh - last
            # A lower register is a new meter or a reset: start from it, count nothing.
            if last != register_wh:
                c.last_meter_wh = register_wh
                self._dirty = True

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until everything queued so far is applied (for snapshots that must be current)."""
        done = threading.Event()
        self._queue.put(done.set)
        if self._thread is None:
            while not done.is_set():
                item = self._queue.get()
                if item is not None:
                    item()
            return
        done.wait(timeout)

    # -- output --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``{evse_id: {counter: value}}`` (JSON-ready)."""
        with self._lock:
            out: dict[str, dict[str, Any]] = {}
            for evse_id, c in self._evses.items():
                values = msgspec.structs.asdict(c)
                values.pop("last_meter_wh", None)
                values["energy_wh"] = round(values["energy_wh"], 3)
                out[evse_id] = values
            return out

    def dumps(self) -> str:
        return json.dumps(self.snapshot(), sort_keys=True)
