"""Commissioning: run the safety functions step by step and record what they did.

The command owns the station while it runs (the daemon must be stopped): it builds the board and
the station core from the profile exactly as the daemon does, without a broker, and drives every
step through the core so the interlocks decide as in service. Per EVSE:

AC: RCD self-test, connector lock cycle and its feedback time, CP levels in A, B, C and E, PWM
duty at a few currents (requested through Josev's ``cp_pwm`` path), contactor close and open times
from the mirror contact, the core's reaction from CP C->B to the open command, the welding check
after opening, and meter plausibility (energy increments against V*I over time).
DC: IMD self-test, CP levels in A, B, C and E, then an ISO 15118 session the way Josev runs it (5 %
PWM, cable check, pre-charge, current demand): cable check result, contactor close/open times,
welding check and meter plausibility.

The EV side comes from an :class:`~josev_hal.hookspecs.EvSide`: a plugin offers one for the board
through the ``hal_ev_side`` hook (the sim plugin drives its simulated EVs itself); when none does,
a person does it: the command prompts the operator to set the test adapter ("set the adapter on
EVSE ... to state C") and measures after Enter (:class:`OperatorAdapter`).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from josev_hal import __version__
from josev_hal.errors import HalError
from josev_hal.hookspecs import EvSide
from josev_hal.operations.client import operator_name
from josev_hal.operations.report import FORMAT, Check
from josev_hal.operations.station_view import StationView
from josev_hal.station.events import EventKind, StationEvent

if TYPE_CHECKING:
    from josev_hal.board import Board
    from josev_hal.plugins import HalPluginManager
    from josev_hal.profile import Profile

__all__ = ["Commissioning", "OperatorAdapter", "SimCommandTarget", "ev_side_for"]

log = logging.getLogger(__name__)

#: IEC 61851-1: the supply is switched off within 100 ms after the EV leaves state C/D.
OPEN_REACTION_LIMIT_S = 0.100
#: Basic-charging currents whose duty cycle is checked (capped at the EVSE's limit).
PWM_TEST_CURRENTS_A = (6.0, 10.0, 16.0, 32.0)
#: Duty tolerance held to the generator (IEC 61851-1 allows the EV +-... of the nominal; the
#: EVSE generator itself should be well inside): percentage points.
PWM_TOLERANCE_PCT = 0.5
#: Meter plausibility: energy increment vs. integrated V*I, and P vs. V*I.
METER_TOLERANCE = 0.05
METER_WINDOW_S = 3.0
#: The window starts once two readings in a row agree on P within this fraction (ramp done).
METER_STEADY = 0.02
METER_SETTLE_S = 15.0
#: DC session of the commissioning run: the set-points Josev would send for a 400 V battery (or the
#: operator's DC load), and how long the cable check may take.
DC_TEST_VOLTAGE_V = 380.0
DC_PRECHARGE_A = 2.0
DC_TEST_CURRENT_A = 100.0
CABLE_CHECK_TIMEOUT_S = 20.0


def _conn(status: dict[str, Any], connector_id: int) -> dict[str, Any]:
    """The ``connectors[]`` entry of ``connector_id`` in a status (empty when there is none)."""
    found: dict[str, Any] = next((c for c in status["connectors"] if c["id"] == connector_id), {})
    return found


def _lock_reads(connector_id: int, word: str) -> Callable[[dict[str, Any]], bool]:
    """A status predicate: the connector's lock feedback reads ``word`` (locked/unlocked)."""
    return lambda status: (_conn(status, connector_id).get("cable") or {}).get("lock") == word


def _utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@runtime_checkable
class SimCommandTarget(EvSide, Protocol):
    """An EV side that also takes sim commands (the JSON of ``sim/cs``): what ``--inject-sim``
    needs to apply a fault before the run. The sim plugin's EV side is one; a person with a test
    adapter is not."""

    def command(self, payload: str | bytes) -> None: ...


class OperatorAdapter:
    """A person with the test adapter (IEC 61851 EV simulator box): prompt, then wait for Enter."""

    simulated = False

    def __init__(self, ask: Callable[[str], str] = input) -> None:
        self._ask = ask

    def set_state(self, evse_id: str, connector_id: int, state: str) -> None:
        what = {
            "A": "unplug the adapter (state A)",
            "B": "set the adapter to state B (vehicle connected)",
            "C": "set the adapter to state C (charging) with its load on",
            "D": "set the adapter to state D",
            "E": "set the adapter to state E (CP short to PE)",
        }[state]
        try:
            self._ask(f"EVSE {evse_id} connector {connector_id}: {what}, then press Enter ")
        except EOFError:
            raise HalError(
                "commissioning a real station needs an operator at the terminal with the test adapter "
                "(standard input is closed)"
            ) from None


def ev_side_for(board: Board, pm: HalPluginManager) -> EvSide:
    """Who plays the EV on ``board``: the side a plugin offers through ``hal_ev_side`` (the sim
    plugin's simulated EVs, a test rig's EV simulator), else a person with the test adapter."""
    pm.load_all()  # an EV side may come from any installed plugin, loaded or deferred
    offered: EvSide | None = pm.hook.hal_ev_side(board=board)
    return offered if offered is not None else OperatorAdapter()


class _Events:
    """Every station event with the index it arrived at, for 'wait for X after step Y'."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._events: list[StationEvent] = []

    def __call__(self, event: StationEvent) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return len(self._events)

    def wait(
        self,
        since: int,
        evse_id: str,
        kind: EventKind,
        timeout_s: float,
        pred: Callable[[StationEvent], bool],
    ) -> StationEvent | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for event in self._events[since:]:
                    if event.evse_id == evse_id and event.kind is kind and pred(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


class _Sink:
    """Where the core's updates go while no Josev is connected: a count, for the report."""

    def __init__(self) -> None:
        self.updates = 0

    def register(self, name: str, type: str, handler: Any) -> None:
        pass  # no broker: nothing will ever call the handlers

    def publish_update(self, payload: Any) -> None:
        self.updates += 1

    def add_snapshot_provider(self, provider: Any) -> None:
        pass


class Commissioning:
    """One commissioning run over every EVSE of a profile (see the module docstring)."""

    def __init__(
        self,
        profile: Profile,
        pm: HalPluginManager,
        *,
        source: str,
        profile_bytes: bytes,
        ev: EvSide | None = None,
        out: Callable[[str], None] = print,
    ) -> None:
        self.profile = profile
        self.pm = pm
        self.source = source
        self.profile_sha256 = hashlib.sha256(profile_bytes).hexdigest()
        self._ev = ev
        self._out = out
        self.checks: list[Check] = []
        self.events = _Events()
        self.view: StationView | None = None
        self._injections: list[str] = []

    def inject_sim(self, command: str) -> None:
        """A sim command applied after the board is up (a welded contactor ...); sim board only."""
        self._injections.append(command)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from josev_hal.board import Board
        from josev_hal.station import Station

        started = _utc()
        board = Board.build(self.profile, self.pm)
        board.setup()
        sink = _Sink()
        station = None
        try:
            station = Station(self.profile, board, sink, free_charging=True)
            self.view = StationView(station)
            self.view.add_event_listener(self.events)
            station.start()
            ev = self._ev if self._ev is not None else ev_side_for(board, self.pm)
            for command in self._injections:
                if not isinstance(ev, SimCommandTarget):
                    raise ValueError("--inject-sim needs the simulated board")
                ev.command(command)
                self._out(f"injected: {command}")
            for evse_id in self.view.evse_ids():
                self._commission_evse(evse_id, ev)
        finally:
            if station is not None:
                station.stop()
            board.release()
        return {
            "format": FORMAT,
            "passed": all(c.passed for c in self.checks),
            "station": self.view.station_info() if self.view else {},
            "board": {"source": self.source, "sha256": self.profile_sha256},
            "software": {"name": "josev-hal", "version": __version__, "python": sys.version.split()[0]},
            "operator": operator_name(),
            "mode": "simulated EV" if ev.simulated else "operator with test adapter",
            "started_at": started,
            "finished_at": _utc(),
            "checks": [c.as_dict() for c in self.checks],
        }

    def _record(self, check: Check) -> Check:
        check.at = check.at or _utc()
        self.checks.append(check)
        value = "" if check.value is None else f" {check.value}{(' ' + check.unit) if check.unit else ''}"
        self._out(
            f"{'PASS' if check.passed else 'FAIL'} {check.evse_id} {check.name}{value} "
            f"({check.limit}) {check.detail}"
        )
        return check

    # -- helpers -------------------------------------------------------------------------------
    def _status(self, evse_id: str) -> dict[str, Any]:
        assert self.view is not None
        return self.view.evse_status(evse_id)

    def _wait(
        self, evse_id: str, pred: Callable[[dict[str, Any]], bool], timeout_s: float
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout_s
        while True:
            status = self._status(evse_id)
            if pred(status):
                return status
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)

    def _cp_level(self, evse_id: str, cid: int, ev: EvSide, letter: str) -> None:
        assert self.view is not None
        ev.set_state(evse_id, cid, letter)
        band = self.view.profile_cp_bands(evse_id)[letter]
        name = f"cp_level_{letter}"
        reached = self._wait(
            evse_id,
            lambda s: (_conn(s, cid).get("cp_state") or "").startswith(letter),
            5.0,
        )
        line = self.view.cp_line(evse_id, cid)
        volts = line.get("positive_v")
        limit = f"{band[0]:g}..{band[1]:g} V"
        if reached is None or volts is None:
            state = _conn(self._status(evse_id), cid).get("cp_state")
            self._record(
                Check(
                    evse_id,
                    name,
                    False,
                    volts,
                    limit,
                    "V",
                    f"state {letter} not reached (CP reads {state})",
                    measurements=line,
                )
            )
            return
        ok = band[0] <= volts <= band[1]
        self._record(
            Check(
                evse_id,
                name,
                ok,
                round(volts, 2),
                limit,
                "V",
                f"CP high level in state {letter}",
                measurements=line,
            )
        )

    # -- per EVSE ------------------------------------------------------------------------------
    def _commission_evse(self, evse_id: str, ev: EvSide) -> None:
        assert self.view is not None
        view = self.view
        dc = view.is_dc(evse_id)
        cid = view.controller(evse_id).connector_ids[0]
        self._out(f"== {evse_id} ({'DC' if dc else 'AC'})")
        ev.set_state(evse_id, cid, "A")
        self._wait(evse_id, lambda s: s["connectors"][0].get("cp_state") == "A1", 5.0)
        if view.has_rcd(evse_id):
            passed, detail = view.commissioning_rcd_self_test(evse_id)
            self._record(
                Check(
                    evse_id,
                    "rcd_self_test",
                    passed,
                    "tripped" if passed else "no trip",
                    "trips on its test",
                    "",
                    detail,
                )
            )
        if dc and view.has_imd(evse_id):
            passed, detail = view.imd_self_test(evse_id)
            self._record(
                Check(
                    evse_id,
                    "imd_self_test",
                    passed,
                    "ok" if passed else "failed",
                    "passes its self-test",
                    "",
                    detail,
                )
            )
        lock_cid = view.lock_connector(evse_id)
        if lock_cid is not None:
            self._lock_cycle(evse_id, lock_cid)
        self._cp_level(evse_id, cid, ev, "A")
        self._cp_level(evse_id, cid, ev, "B")
        if not dc:
            self._pwm_duty(evse_id, cid)
        self._charge_cycle(evse_id, cid, ev, dc=dc)
        self._cp_level(evse_id, cid, ev, "E")
        ev.set_state(evse_id, cid, "A")
        self._wait(evse_id, lambda s: s["connectors"][0].get("cp_state") == "A1", 5.0)

    def _lock_cycle(self, evse_id: str, cid: int) -> None:
        assert self.view is not None
        limit_s = self.view.timing_limits(evse_id)["lock_timeout_s"]
        times: dict[str, float | None] = {}
        detail = []
        for locked in (True, False):
            word = "locked" if locked else "unlocked"
            t0 = time.monotonic()
            refusal = self.view.request_lock_core(evse_id, cid, locked)
            if refusal is not None:
                detail.append(f"{word}: refused ({refusal})")
                times[word] = None
                continue
            reached = self._wait(evse_id, _lock_reads(cid, word), limit_s + 1.0)
            times[word] = None if reached is None else round(time.monotonic() - t0, 3)
            if reached is None:
                detail.append(f"feedback never showed {word}")
        measured = [t for t in times.values() if t is not None]
        ok = len(measured) == 2 and max(measured) <= limit_s
        worst = max(measured) if measured else None
        if ok:
            detail.append("lock and unlock confirmed by the feedback")
        elif measured and max(measured) > limit_s:
            detail.append("the lock is too slow")
        self._record(
            Check(
                evse_id,
                "lock_cycle",
                ok,
                worst,
                f"<= {limit_s:g} s each way",
                "s",
                "; ".join(detail),
                measurements=times,
            )
        )

    def _pwm_duty(self, evse_id: str, cid: int) -> None:
        from josev_hal.station.pwm import duty_from_current

        assert self.view is not None
        ceiling = self._status(evse_id)["limit_a"]
        currents = [a for a in PWM_TEST_CURRENTS_A if a <= ceiling] or [6.0]
        rows = []
        ok = True
        worst = 0.0
        for amps in currents:
            accepted, info = self.view.request_basic_pwm(evse_id, amps)
            expected = duty_from_current(amps)
            time.sleep(0.1)  # let a board that measures the line see a few periods
            line = self.view.cp_line(evse_id, cid)
            duty = line.get("measured_duty_percent")
            if duty is None:
                duty = line.get("output_duty_percent")
            error = None if duty is None else abs(duty - expected)
            rows.append(
                {
                    "current_a": amps,
                    "expected_percent": round(expected, 2),
                    "duty_percent": duty,
                    "accepted": accepted,
                    "info": info,
                }
            )
            if not accepted or error is None or error > PWM_TOLERANCE_PCT:
                ok = False
            worst = max(worst, error if error is not None else float("inf"))
        self.view.request_basic_pwm(evse_id, float(ceiling))
        source = (
            "measured on the line"
            if rows and self.view.cp_line(evse_id, cid).get("measured_duty_percent") is not None
            else "reported by the generator"
        )
        self._record(
            Check(
                evse_id,
                "pwm_duty",
                ok,
                round(worst, 3) if worst != float("inf") else None,
                f"|duty - IEC 61851 duty| <= {PWM_TOLERANCE_PCT} %-points",
                "%-points",
                f"at {', '.join(f'{a:g} A' for a in currents)}; duty {source}",
                measurements={"points": rows},
            )
        )

    def _charge_cycle(self, evse_id: str, cid: int, ev: EvSide, *, dc: bool = False) -> None:
        assert self.view is not None
        view = self.view
        limits = view.timing_limits(evse_id)
        fb_limit = limits["contactor_feedback_timeout_s"]
        # close: EV to C, the interlock closes, the mirror contact confirms. DC goes the way
        # Josev's ISO 15118 session does: 5 % PWM, cable check, pre-charge closes the contactor.
        mark = self.events.mark()
        if dc:
            started, info = view.dc_begin_hlc(evse_id)
            if not started:
                self._record(Check(evse_id, "contactor_close_time", False, None, "", "ms", info))
                return
        ev.set_state(evse_id, cid, "C")
        if dc:
            self._cp_level_now(evse_id, cid, "C")
            if not self._cable_check(evse_id):
                view.dc_end_hlc(evse_id)
                ev.set_state(evse_id, cid, "B")
                return
            # (the core may close already for the cable check: the first close after `mark` counts)
            view.dc_setpoint(evse_id, precharge=True, voltage_v=DC_TEST_VOLTAGE_V, current_a=DC_PRECHARGE_A)
        closed = self.events.wait(
            mark, evse_id, EventKind.CONTACTOR_CONFIRMED, 10.0, lambda e: e.detail.get("closed") is True
        )
        if not dc:
            self._cp_level_now(evse_id, cid, "C")
        if closed is None:
            status = self._status(evse_id)
            why = ", ".join(status["blockers"]) or status["contactor"]["status"]
            self._record(
                Check(
                    evse_id,
                    "contactor_close_time",
                    False,
                    None,
                    f"<= {fb_limit * 1000:g} ms",
                    "ms",
                    f"no confirmed close ({why})",
                )
            )
        else:
            t = float(closed.detail["switch_time_s"])
            self._record(
                Check(
                    evse_id,
                    "contactor_close_time",
                    t <= fb_limit,
                    round(t * 1000, 1),
                    f"<= {fb_limit * 1000:g} ms",
                    "ms",
                    "command to mirror contact closed",
                )
            )
            if dc:
                with self._current_demand(evse_id):
                    self._meter_plausibility(evse_id)
            else:
                self._meter_plausibility(evse_id)
        # open: EV back to B (DC: the session ends first); the mirror contact confirms
        mark = self.events.mark()
        if dc:
            view.dc_end_hlc(evse_id)
        ev_left_c = time.monotonic()  # the station clock: events carry time.monotonic() too
        ev.set_state(evse_id, cid, "B")
        opened_cmd = self.events.wait(mark, evse_id, EventKind.CONTACTOR_OPENED, 5.0, lambda e: True)
        cp_change = self.events.wait(
            mark, evse_id, EventKind.CP_STATE, 5.0, lambda e: str(e.detail.get("state", "")).startswith("B")
        )
        confirmed = self.events.wait(
            mark,
            evse_id,
            EventKind.CONTACTOR_CONFIRMED,
            fb_limit + 1.0,
            lambda e: e.detail.get("closed") is False,
        )
        if closed is not None:
            if dc:
                pass  # DC opens on the end of the ISO 15118 session, not on the CP change
            elif opened_cmd is not None and cp_change is not None:
                # With a simulated EV the moment it left C is known: measure from there (CP
                # sampling, debounce and the decision). With an operator's adapter only the core's
                # own part is measurable: from the accepted B to the open command.
                core = max(0.0, opened_cmd.at - cp_change.at)
                total = max(0.0, opened_cmd.at - ev_left_c) if ev.simulated else None
                reaction = total if total is not None else core
                self._record(
                    Check(
                        evse_id,
                        "open_on_cp_c_to_b",
                        reaction <= OPEN_REACTION_LIMIT_S,
                        round(reaction * 1000, 1),
                        f"<= {OPEN_REACTION_LIMIT_S * 1000:g} ms",
                        "ms",
                        "EV left C to the open command"
                        if total is not None
                        else "core accepted B (after debounce) to the open command",
                        measurements={
                            "ev_left_c_to_open_command_s": total,
                            "cp_b_accepted_to_open_command_s": core,
                            "ev_left_c_to_mirror_open_s": None
                            if confirmed is None or not ev.simulated
                            else max(0.0, confirmed.at - ev_left_c),
                        },
                    )
                )
            else:
                self._record(
                    Check(
                        evse_id,
                        "open_on_cp_c_to_b",
                        False,
                        None,
                        f"<= {OPEN_REACTION_LIMIT_S * 1000:g} ms",
                        "ms",
                        "no open command after the EV left C",
                    )
                )
            if confirmed is None:
                self._record(
                    Check(
                        evse_id,
                        "contactor_open_time",
                        False,
                        None,
                        f"<= {fb_limit * 1000:g} ms",
                        "ms",
                        "the mirror contact never showed open",
                    )
                )
            else:
                t = float(confirmed.detail["switch_time_s"])
                self._record(
                    Check(
                        evse_id,
                        "contactor_open_time",
                        t <= fb_limit,
                        round(t * 1000, 1),
                        f"<= {fb_limit * 1000:g} ms",
                        "ms",
                        "command to mirror contact open",
                    )
                )
        # welding: after the feedback timeout the mirror contact must read open and no fault latch
        time.sleep(fb_limit + 0.2)
        status = self._status(evse_id)
        welded = [f for f in status["faults"] if f["key"] in ("contactor_welded", "contactor_feedback")]
        ok = not welded and status["contactor"]["status"] == "opened"
        detail = (
            "; ".join(f"{f['key']}: {f['detail']}" for f in welded)
            or f"contactor reads {status['contactor']['status']}"
        )
        self._record(
            Check(
                evse_id,
                "welding_check",
                ok,
                status["contactor"]["status"],
                "mirror contact open after opening",
                "",
                detail,
            )
        )

    def _cable_check(self, evse_id: str) -> bool:
        assert self.view is not None
        level, detail = self.view.dc_cable_check(evse_id, CABLE_CHECK_TIMEOUT_S)
        ok = level in ("valid", "warning")
        self._record(
            Check(
                evse_id, "cable_check", ok, level, "isolation valid (or warning)", "", f"cable check {detail}"
            )
        )
        return ok

    @contextmanager
    def _current_demand(self, evse_id: str) -> Iterator[None]:
        """Josev's current demand loop (a set-point every 250 ms) while the block runs."""
        assert self.view is not None
        view, stop = self.view, threading.Event()

        def loop() -> None:
            while not stop.wait(0.25):
                view.dc_setpoint(
                    evse_id, precharge=False, voltage_v=DC_TEST_VOLTAGE_V, current_a=DC_TEST_CURRENT_A
                )

        view.dc_setpoint(evse_id, precharge=False, voltage_v=DC_TEST_VOLTAGE_V, current_a=DC_TEST_CURRENT_A)
        thread = threading.Thread(target=loop, name=f"commission-demand-{evse_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5.0)

    def _cp_level_now(self, evse_id: str, cid: int, letter: str) -> None:
        """The CP level of the state the EV is in already (no prompt)."""
        assert self.view is not None
        band = self.view.profile_cp_bands(evse_id)[letter]
        reached = self._wait(
            evse_id, lambda s: (s["connectors"][0].get("cp_state") or "").startswith(letter), 5.0
        )
        line = self.view.cp_line(evse_id, cid)
        volts = line.get("positive_v")
        ok = reached is not None and volts is not None and band[0] <= volts <= band[1]
        self._record(
            Check(
                evse_id,
                f"cp_level_{letter}",
                ok,
                None if volts is None else round(volts, 2),
                f"{band[0]:g}..{band[1]:g} V",
                "V",
                f"CP high level in state {letter}",
                measurements=line,
            )
        )

    def _meter_readings(
        self, evse_id: str, until: Callable[[list[dict[str, Any]]], bool], timeout_s: float
    ) -> list[dict[str, Any]]:
        """Distinct meter readings (with ``t``: when each was taken, monotonic) until ``until``."""
        points: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not (points and until(points)):
            meter = self._status(evse_id)["meter"]
            if meter and meter.get("ok"):
                taken = time.monotonic() - float(meter["age_s"])
                if not points or abs(taken - points[-1]["t"]) > 0.05:
                    points.append({**meter, "t": taken})
            time.sleep(0.1)
        return points

    def _meter_plausibility(self, evse_id: str) -> None:
        """Energy increments against the integral of P over the readings (trapezoids), and P against
        V*I, over a window that starts once the load is steady (a ramping module is not a fault)."""

        def steady(points: list[dict[str, Any]]) -> bool:
            if len(points) < 2:
                return False
            a, b = float(points[-2]["power_w"] or 0), float(points[-1]["power_w"] or 0)
            return b > 0 and abs(b - a) <= METER_STEADY * b

        settle = self._meter_readings(evse_id, steady, METER_SETTLE_S)
        if not settle or not steady(settle):
            power = settle[-1]["power_w"] if settle else None
            detail = "no steady load current: connect a load" if settle else "the meter does not answer"
            self._record(
                Check(
                    evse_id, "meter_plausibility", False, power, f"within {METER_TOLERANCE:.0%}", "W", detail
                )
            )
            return
        t0 = settle[-1]["t"]
        window = [
            settle[-1],
            *self._meter_readings(
                evse_id, lambda pts: pts[-1]["t"] - t0 >= METER_WINDOW_S, METER_WINDOW_S + 5.0
            ),
        ]
        first, last = window[0], window[-1]
        energy = float(last["energy_wh"]) - float(first["energy_wh"])
        expected = sum(
            (float(a["power_w"]) + float(b["power_w"])) / 2 * (b["t"] - a["t"]) / 3600.0
            for a, b in itertools.pairwise(window)
        )
        vi = None
        if last.get("voltage_v") and last.get("current_a"):
            vi = sum(v * a for v, a in zip(last["voltage_v"], last["current_a"], strict=False))
        elif last.get("dc_voltage_v") is not None and last.get("dc_current_a") is not None:
            vi = float(last["dc_voltage_v"]) * float(last["dc_current_a"])
        energy_err = abs(energy - expected) / expected if expected > 0 else None
        power_err = abs(float(last["power_w"]) - vi) / vi if vi else None
        ok = (
            energy_err is not None
            and power_err is not None
            and energy_err <= METER_TOLERANCE
            and power_err <= METER_TOLERANCE
        )
        errors = [e for e in (energy_err, power_err) if e is not None]
        self._record(
            Check(
                evse_id,
                "meter_plausibility",
                ok,
                round(max(errors) * 100, 2) if errors else None,
                f"energy vs P*t and P vs V*I within {METER_TOLERANCE:.0%}",
                "%",
                f"{energy:.2f} Wh in {last['t'] - t0:.1f} s vs {expected:.2f} Wh from P; "
                f"P {last['power_w']:.0f} W vs V*I {vi or 0:.0f} W",
                measurements={
                    "energy_wh": energy,
                    "expected_wh": expected,
                    "power_w": last["power_w"],
                    "v_times_i_w": vi,
                    "window_s": last["t"] - t0,
                    "readings": len(window),
                },
            )
        )
