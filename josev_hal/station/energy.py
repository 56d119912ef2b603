"""The station's energy supervisor (issue #22): grid-side limits, local limits and the offline
policy, applied to the EVSE controllers through their public API.

It runs one thread that, every ``interval_s``:

1. reads the grid operator's input (``grid_limit`` device: active = dim to ``active_limit_w``)
   and the mains meter at the grid connection (``mains_meter`` device, limit
   ``site_max_current_a`` per phase);
2. shares those station-wide limits and a station-scope local limit over the EVSEs
   (:func:`josev_hal.station.limits.share`: priority first, then fair; an EVSE with an EV
   plugged in asks for its own limit, an empty one reserves its minimum current so an arriving
   EV can start without pushing the site over its limit);
3. hands each EVSE its ``grid_input`` / ``site`` / ``local`` limit (``set_limit``; the controller
   takes the minimum with its rating, cable, temperature derating and Josev's request and lowers
   the PWM at once);
4. watches Josev (:class:`~josev_hal.station.offline.JosevWatch`) and applies the offline policy.

**Reaction time.** A site overload seen by the mains meter reaches the PWM within
``interval_s`` plus one meter read (default 0.5 s + the read); IEC 61851-1 gives the EV 5 s to
follow a lower duty cycle. A mains meter that cannot be read for ``mains_stale_after_s`` leaves
no headroom: the EVSEs are held at 0 A (paused) until it answers, because the HAL cannot know
what the rest of the site draws -- the fuse is the one thing that must not be guessed.

Local limits arrive through :meth:`EnergySupervisor.set_local_limit` (Python) or the MQTT topic
``josev-hal/<client_id>/limits/set`` (JSON ``{"scope": "*" | "<evse_id>", "amps": 16,
"ttl_s": 600}`` or ``"watts"`` instead of ``"amps"``; ``{"scope": ..., "clear": true}``).
A rejected command is logged with the JSON path of the offending value and changes nothing.

The supervisor never holds its lock while calling a controller, a driver or the bridge.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from josev_hal.devices import Contactor, DigitalInput, Meter, MeterReading, Role
from josev_hal.errors import DeviceError
from josev_hal.hookspecs import hookimpl
from josev_hal.messages import payloads as p
from josev_hal.station.limits import (
    STATION_SCOPE,
    EffectiveLimit,
    LimitSource,
    LocalLimit,
    LocalLimits,
    share,
    site_headroom_a,
)
from josev_hal.station.offline import (
    JosevWatch,
    OfflineAction,
    OfflineEpisode,
    OfflinePolicy,
    OnJosevLost,
    SessionKind,
    decide_offline,
)
from josev_hal.station.phases import PhaseInputs, PhaseSettings, PhaseSwitcher

if TYPE_CHECKING:
    from josev_hal.board import Board
    from josev_hal.messages import Message
    from josev_hal.profile import Profile

__all__ = [
    "EnergySettings",
    "EnergySupervisor",
    "EvseEnergy",
    "LimitCommand",
    "LimitedEvse",
    "energy_from_profile",
    "limits_topic",
]

log = logging.getLogger(__name__)


def limits_topic(client_id: str) -> str:
    """Where a local energy manager sets limits (outside the Josev API's topics)."""
    return f"josev-hal/{client_id}/limits/set"


class LimitedEvse(Protocol):
    """What the supervisor uses of an EVSE controller (all public, all thread-safe)."""

    evse_id: str

    @property
    def cp_states(self) -> Mapping[int, str | None]: ...

    @property
    def hlc_active(self) -> bool: ...

    @property
    def contactor_closed(self) -> bool: ...

    def is_transaction_active(self) -> bool: ...

    def set_limit(self, source: LimitSource, amps: float | None, detail: str = "") -> None: ...

    def limits(self) -> EffectiveLimit: ...

    def meter_values(self, now: float | None = None) -> MeterReading: ...

    def handle_stop_charging(self) -> Any: ...


class GridInput(Protocol):
    """A digital input: ``read()`` returns something with ``active: bool``."""

    def read(self) -> Any: ...


class MainsMeter(Protocol):
    def read(self) -> MeterReading: ...


class EvseEnergy(msgspec.Struct, frozen=True):
    """What the sharing needs to know about one EVSE."""

    voltage_v: float = 230.0
    phases: int = 3
    min_current_a: float = 6.0
    priority: int = 0


class EnergySettings(msgspec.Struct, frozen=True):
    """Profile ``[limits]`` / ``[sessions]`` (see README, "Energy")."""

    interval_s: float = 0.5
    #: [limits.grid] active_limit_w: the station's power while the grid operator's input is active
    grid_active_limit_w: float | None = None
    #: [limits.site] max_current_a: per phase at the grid connection (mains meter)
    site_max_current_a: float | None = None
    mains_stale_after_s: float = 3.0
    evses: Mapping[str, EvseEnergy] = msgspec.field(default_factory=dict)
    offline: OfflinePolicy = msgspec.field(default_factory=OfflinePolicy)


class LimitCommand(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A message on ``josev-hal/<client_id>/limits/set``."""

    scope: str = STATION_SCOPE
    amps: float | None = None
    watts: float | None = None
    ttl_s: float | None = None
    clear: bool = False


class EnergySupervisor:
    """See the module docstring. ``controllers``: evse_id -> controller."""

    def __init__(
        self,
        controllers: Mapping[str, LimitedEvse],
        settings: EnergySettings,
        *,
        bridge: Any = None,
        grid_input: GridInput | None = None,
        mains_meter: MainsMeter | None = None,
        clock: Callable[[], float] = time.monotonic,
        phase_switches: Mapping[str, tuple[PhaseSwitcher, Contactor]] | None = None,
        hysteresis_w: Mapping[str, float] | None = None,
    ) -> None:
        self.controllers = dict(controllers)
        #: evse_id -> (sequencer, phase contactor) for EVSEs with 1p/3p switching
        self.phase_switches = dict(phase_switches or {})
        self._hysteresis_w = dict(hysteresis_w or {})
        self._budget_w: dict[str, float] = {}
        self._phase_cmd: dict[str, bool] = {}
        self._phase_note: dict[str, str] = {}
        self._phases_reported: dict[str, int | None] = {}
        self._offer_seen: dict[str, float] = {}
        self._offer_mark: dict[str, float] = {}
        self.settings = settings
        #: the EVSEs that share the station-wide AC limits (all, unless the settings name them:
        #: DC EVSEs take no part); the offline policy applies to every EVSE
        self.sharing = [eid for eid in self.controllers if not settings.evses or eid in settings.evses]
        self.bridge = bridge
        self.grid_input = grid_input
        self.mains_meter = mains_meter
        self.clock = clock
        self.local = LocalLimits()
        self._lock = threading.Lock()
        self._applied: dict[tuple[str, LimitSource], float | None] = {}
        self._mains_ok_at: float | None = None
        self._grid_active: bool | None = None
        self.watch = JosevWatch(settings.offline, clock())
        self.episode: OfflineEpisode | None = None
        self.last_report: str = ""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._probe: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self.bridge is not None and hasattr(self.bridge, "subscribe_raw"):
            client_id = self.bridge.settings.client_id
            self.bridge.subscribe_raw(limits_topic(client_id), self.on_limit_message)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="energy", daemon=True)
        self._thread.start()
        log.info("energy supervisor up evses=%s", ",".join(self.controllers))

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def _loop(self) -> None:
        # The only thread that ticks while running: the sequencers and the offline episode are
        # not shared between threads, and no lock is held while calling controllers or drivers.
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # one bad turn must not end the supervision
                log.exception("energy supervisor turn failed")
            self._wake.wait(self.settings.interval_s)
            self._wake.clear()

    def _soon(self) -> None:
        """Re-evaluate now: wake the loop, or (not started: tests, tools) tick on this thread."""
        if self._thread is not None and self._thread.is_alive():
            self._wake.set()
        else:
            self.tick()

    # -- local limits ------------------------------------------------------------------------
    def set_local_limit(
        self,
        scope: str,
        *,
        amps: float | None = None,
        watts: float | None = None,
        ttl_s: float | None = None,
        origin: str = "",
    ) -> LocalLimit:
        """Set a local limit; ``ValueError`` (naming the field) for bad input or an unknown EVSE."""
        if scope != STATION_SCOPE and scope not in self.sharing:
            known = ", ".join(["*", *self.sharing])
            raise ValueError(f"scope: not an AC EVSE of this station: {scope!r} (known: {known})")
        now = self.clock()
        limit = self.local.set(scope, now=now, amps=amps, watts=watts, ttl_s=ttl_s, origin=origin)
        log.info("local limit set %s", limit.describe(now))
        self._soon()
        return limit

    def clear_local_limit(self, scope: str) -> bool:
        cleared = self.local.clear(scope)
        if cleared:
            log.info("local limit cleared scope=%s", scope)
            self._soon()
        return cleared

    def on_limit_message(self, topic: str, payload: bytes) -> None:
        """MQTT callback (bridge worker thread): never raises."""
        try:
            cmd = msgspec.json.decode(payload, type=LimitCommand)
            if cmd.clear:
                self.clear_local_limit(cmd.scope)
            else:
                self.set_local_limit(
                    cmd.scope, amps=cmd.amps, watts=cmd.watts, ttl_s=cmd.ttl_s, origin="mqtt"
                )
        except msgspec.ValidationError as exc:
            log.warning("local limit rejected topic=%s error=%s", topic, _path_text(str(exc)))
        except (msgspec.DecodeError, ValueError) as exc:
            log.warning("local limit rejected topic=%s error=%s", topic, exc)

    # -- one turn ----------------------------------------------------------------------------
    def tick(self) -> None:
        """Recompute and apply every limit, then the offline policy. Called by the supervisor's
        own thread (or directly when it is not started)."""
        now = self.clock()
        plugged = {eid: _plugged(self.controllers[eid]) for eid in self.sharing}
        wanted: dict[tuple[str, LimitSource], tuple[float | None, str]] = {}
        own = {eid: self._own_limit_a(self.controllers[eid]) for eid in self.sharing}
        self._budget_w = {}
        self._local_limits(now, plugged, own, wanted)
        self._grid_limits(plugged, own, wanted)
        self._site_limits(now, plugged, own, wanted)
        self._phase_switching(now, wanted)
        for (eid, source), (amps, detail) in wanted.items():
            with self._lock:
                if (eid, source) in self._applied and self._applied[(eid, source)] == amps:
                    continue
                self._applied[(eid, source)] = amps
            self.controllers[eid].set_limit(source, amps, detail)
        for eid in self.sharing:
            self._note_offer(eid)  # a reading older than an offer change is not taken at face value
        self._offline(now)

    def _own_limit_a(self, ctl: LimitedEvse) -> float:
        """What the EVSE could use without the station-wide limits (its demand in a share)."""
        report = ctl.limits()
        others = [lim for lim in report.limits if lim.source not in _STATION_WIDE]
        values = [lim.amps for lim in others if lim.valid]
        return min(values) if values else 0.0

    def _info(self, eid: str) -> EvseEnergy:
        return self.settings.evses.get(eid, EvseEnergy())

    def _phases(self, eid: str) -> int:
        """The phases the EVSE charges on now (a switch in progress or faulted counts as 1)."""
        switch = self.phase_switches.get(eid)
        if switch is None:
            return self._info(eid).phases
        return switch[0].phases or 1

    def _min_phases(self, eid: str) -> int:
        """The fewest phases the EVSE can charge on (1 with a phase switch)."""
        return 1 if eid in self.phase_switches else self._info(eid).phases

    def _note_budget(self, eid: str, watts: float) -> None:
        """A power-based limit for ``eid`` (the phase-switching policy looks at the lowest)."""
        self._budget_w[eid] = min(watts, self._budget_w.get(eid, math.inf))

    def _demands_a(self, plugged: Mapping[str, bool], own: Mapping[str, float]) -> dict[str, float]:
        # An empty EVSE reserves its minimum so an arriving EV can start inside the limit.
        return {
            eid: own[eid] if plugged[eid] else min(own[eid], self._info(eid).min_current_a)
            for eid in self.sharing
        }

    def _share_a(
        self, total_a: float, plugged: Mapping[str, bool], own: Mapping[str, float]
    ) -> dict[str, float]:
        return share(
            total_a,
            self._demands_a(plugged, own),
            minimums={eid: self._info(eid).min_current_a for eid in self.sharing},
            priorities={eid: self._info(eid).priority for eid in self.sharing},
        )

    def _share_w(
        self, total_w: float, plugged: Mapping[str, bool], own: Mapping[str, float]
    ) -> dict[str, float]:
        """Share a power over the EVSEs and convert each share to amperes at its phases."""
        watts_per_a = {eid: self._info(eid).voltage_v * self._phases(eid) for eid in self.sharing}
        demands = self._demands_a(plugged, own)
        # the minimum at the fewest phases: an EVSE that can switch to one phase keeps a share
        # that one phase can use (the phase-switching policy then switches)
        min_w: dict[str, float] = {}
        for eid in self.sharing:
            info = self._info(eid)
            min_w[eid] = info.min_current_a * info.voltage_v * self._min_phases(eid)
        shares_w = share(
            total_w,
            # demand at the most phases the EVSE can use: the power it could take after a switch
            {eid: demands[eid] * self._info(eid).voltage_v * self._info(eid).phases for eid in self.sharing},
            minimums=min_w,
            priorities={eid: self._info(eid).priority for eid in self.sharing},
        )
        for eid in self.sharing:
            self._note_budget(eid, shares_w[eid])
        return {eid: shares_w[eid] / watts_per_a[eid] for eid in self.sharing}

    def _local_limits(
        self,
        now: float,
        plugged: Mapping[str, bool],
        own: Mapping[str, float],
        wanted: dict[tuple[str, LimitSource], tuple[float | None, str]],
    ) -> None:
        active = self.local.active(now)
        station = active.get(STATION_SCOPE)
        station_share: dict[str, float] = {}
        if station is not None:
            if station.amps is not None:
                station_share = self._share_a(station.amps, plugged, own)
            else:
                assert station.watts is not None
                station_share = self._share_w(station.watts, plugged, own)
        for eid in self.sharing:
            candidates: list[tuple[float, str]] = []
            limit = active.get(eid)
            if limit is not None:
                info = self._info(eid)
                candidates.append((limit.to_amps(info.voltage_v, self._phases(eid)), limit.describe(now)))
                if limit.watts is not None:
                    self._note_budget(eid, limit.watts)
            if station is not None:
                candidates.append((station_share[eid], f"share of {station.describe(now)}"))
            wanted[(eid, LimitSource.LOCAL)] = min(candidates) if candidates else (None, "")

    def _grid_limits(
        self,
        plugged: Mapping[str, bool],
        own: Mapping[str, float],
        wanted: dict[tuple[str, LimitSource], tuple[float | None, str]],
    ) -> None:
        limit_w = self.settings.grid_active_limit_w
        if self.grid_input is None or limit_w is None:
            return
        try:
            active = bool(self.grid_input.read().active)
        except DeviceError as exc:
            # An unreadable control-box input is treated as active: dimming is the grid
            # operator's instruction, and missing it is the non-compliant side.
            log.warning("grid limit input unreadable, treated as active: %s", exc)
            active = True
        if active != self._grid_active:
            log.warning("grid limit input %s (limit %g W)", "active" if active else "released", limit_w)
            self._grid_active = active
        shares = self._share_w(limit_w, plugged, own) if active else {}
        for eid in self.sharing:
            wanted[(eid, LimitSource.GRID_INPUT)] = (
                (shares[eid], f"grid operator limit {limit_w:g} W") if active else (None, "")
            )

    def _site_limits(
        self,
        now: float,
        plugged: Mapping[str, bool],
        own: Mapping[str, float],
        wanted: dict[tuple[str, LimitSource], tuple[float | None, str]],
    ) -> None:
        site_max = self.settings.site_max_current_a
        if self.mains_meter is None or site_max is None:
            return
        headroom: float | None = None
        try:
            reading = self.mains_meter.read()
            currents = reading.current_a
            if currents is None:
                raise DeviceError("mains meter reports no phase currents")
            evse_a = sum(self._evse_draw_a(eid) for eid in self.sharing)
            headroom = site_headroom_a(site_max, (currents.l1, currents.l2, currents.l3), evse_a)
            self._mains_ok_at = now
        except DeviceError as exc:
            stale = self._mains_ok_at is None or now - self._mains_ok_at > self.settings.mains_stale_after_s
            log.warning("mains meter unreadable%s: %s", " -- EVSEs held at 0 A" if stale else "", exc)
            if not stale:
                return  # keep the last applied shares for a short gap
            headroom = 0.0
        shares = self._share_a(headroom, plugged, own)
        for eid in self.sharing:
            wanted[(eid, LimitSource.SITE)] = (shares[eid], f"site {site_max:g} A, headroom {headroom:.1f} A")

    def _offer_a(self, eid: str) -> float:
        """What the EVSE's PWM offers now (0 below its minimum current: X1)."""
        return self.controllers[eid].limits().offer_a(self._info(eid).min_current_a)

    def _note_offer(self, eid: str) -> tuple[float, float | None]:
        """Track offer changes: remember the EVSE meter reading current at the change, so only
        readings taken after it count as measurements of the new offer."""
        offer = self._offer_a(eid)
        try:
            taken: float | None = self.controllers[eid].meter_values().taken_at
        except DeviceError:
            taken = None
        if self._offer_seen.get(eid) != offer:
            self._offer_seen[eid] = offer
            self._offer_mark[eid] = taken if taken is not None else -math.inf
        return offer, taken

    def _evse_draw_a(self, eid: str) -> float:
        """The EVSE's draw for the site balance. The EVSE meters are polled (about once a second)
        while the mains meter is read every turn: a reading from before the last offer change
        would make the balance swing (the shares oscillate and the site overshoots), so until a
        newer reading exists the draw is taken as the offer the EV follows. Without any reading
        the draw counts as 0 -- it is then part of the 'other load' the mains meter sees, the
        safe side."""
        ctl = self.controllers[eid]
        offer, taken = self._note_offer(eid)
        if taken is None:
            return 0.0
        if taken <= self._offer_mark.get(eid, -math.inf):
            return offer if ctl.contactor_closed else 0.0
        return _evse_current_a(ctl, 0.0)

    # -- 1p/3p switching ---------------------------------------------------------------------
    def _wanted_phases(self, eid: str) -> int:
        """3 unless the power budget no longer carries the minimum current on three phases but
        does on one; back to 3 only ``hysteresis_w`` above the three-phase minimum."""
        budget = self._budget_w.get(eid)
        info = self._info(eid)
        if budget is None:
            return 3
        min3 = info.min_current_a * info.voltage_v * 3
        min1 = info.min_current_a * info.voltage_v
        current = self._phases(eid)
        if current == 3:
            return 1 if min1 <= budget < min3 else 3
        return 3 if budget >= min3 + self._hysteresis_w.get(eid, 500.0) else 1

    def _phase_switching(
        self, now: float, wanted: dict[tuple[str, LimitSource], tuple[float | None, str]]
    ) -> None:
        for eid, (switch, contactor) in self.phase_switches.items():
            ctl = self.controllers[eid]
            want = self._wanted_phases(eid) if _plugged(ctl) else None
            if want is not None and want != switch.phases and not switch.busy:
                _accepted, why = switch.request(want, now)
                note = f"switch to {want} phases: {why}"
                if note != self._phase_note.get(eid):
                    self._phase_note[eid] = note
                    log.info("evse=%s phase %s", eid, note)
            cmd = switch.advance(self._phase_inputs(ctl, contactor, now))
            if eid not in self._phase_cmd:
                # first turn: the command matches what the contactor read at start; never drive
                # it blind (an unreadable contactor assumed open might be closed under load) --
                # a mismatch becomes the sequencer's fault instead
                self._phase_cmd[eid] = cmd.phase_closed
            elif self._phase_cmd[eid] is not cmd.phase_closed:
                # only ever moved by the sequencer with the EV paused and the main contactor open
                self._phase_cmd[eid] = cmd.phase_closed
                try:
                    contactor.close() if cmd.phase_closed else contactor.open()
                except DeviceError as exc:
                    log.error("evse=%s phase contactor command failed: %s", eid, exc)
            if switch.fault is not None:
                wanted[(eid, LimitSource.PHASE_SWITCH)] = (0.0, f"phase switch fault: {switch.fault}")
            elif cmd.withdraw_pwm:
                wanted[(eid, LimitSource.PHASE_SWITCH)] = (0.0, f"switching to {switch.target} phases")
            else:
                wanted[(eid, LimitSource.PHASE_SWITCH)] = (None, "")
            set_phases = getattr(ctl, "set_active_phases", None)
            if set_phases is not None and switch.phases != self._phases_reported.get(eid):
                # cs_status_and_limits: 0 A on the phases the EVSE does not supply now
                self._phases_reported[eid] = switch.phases
                set_phases(switch.phases)

    def _phase_inputs(self, ctl: LimitedEvse, contactor: Contactor, now: float) -> PhaseInputs:
        states = [s for s in ctl.cp_states.values() if s is not None]
        try:
            currents = ctl.meter_values().current_a
            values = [] if currents is None else [abs(c) for c in (currents.l1, currents.l2, currents.l3)]
            current: float | None = max(values) if values else None
        except DeviceError:
            current = None  # no reading: nothing counts as "no current"
        status = getattr(ctl, "contactor_status", None)
        main_closed = (status() != "opened") if status is not None else ctl.contactor_closed
        try:
            phase_closed = contactor.read().feedback_closed
        except DeviceError:
            # unreadable: report the opposite of the command, so the sequencer's supervision
            # turns it into a fault instead of trusting a contactor it cannot see
            phase_closed = not self._phase_cmd.get(ctl.evse_id, True)
        return PhaseInputs(now, states[0] if states else None, current, main_closed, phase_closed)

    # -- offline policy ----------------------------------------------------------------------
    def on_service_status(self, service: str, status: str) -> None:
        """Josev's service_status update or response (any thread)."""
        with self._lock:
            self.watch.on_service_status(service, status, self.clock())

    @hookimpl
    def hal_josev_update(self, message: Message) -> None:
        """Registered on the plugin manager (``pm.register(supervisor)``): every update Josev
        sends reaches the plugins' hook, service_status among them."""
        data = message.data
        if isinstance(data, p.ServiceStatusUpdate):
            self.on_service_status(str(data.service), str(data.status))

    def _offline(self, now: float) -> None:
        if self.bridge is None:
            return  # no broker, no Josev to lose (tests, a station run without a bridge)
        connected = bool(getattr(self.bridge, "connected", False))
        with self._lock:
            self.watch.on_broker(connected, now)
            probe = self.watch.probe_due(now) and hasattr(self.bridge, "request")
            if probe:
                self.watch.on_probe_sent(now)
            transition = self.watch.check(now)
            lost_for = self.watch.lost_for(now)
        if probe:
            self._send_probe()
        if transition is not None and transition.lost:
            self.episode = OfflineEpisode(started_at=transition.at, reason=transition.reason)
            log.warning("josev lost: %s (policy: %s)", transition.reason, self.settings.offline.on_josev_lost)
        elif transition is not None:
            self._josev_back(now)
        if self.episode is None or lost_for is None:
            return
        for eid, ctl in self.controllers.items():
            if eid in self.episode.stopped():
                continue
            kind = _session_kind(ctl)
            if decide_offline(self.settings.offline, lost_for, kind) is OfflineAction.STOP:
                detail = (
                    "iso15118 session cannot go on without josev"
                    if kind is SessionKind.HLC
                    else f"on_josev_lost = stop_after_s ({self.settings.offline.stop_after_s:g} s)"
                )
                log.warning("josev lost: stopping evse=%s (%s)", eid, detail)
                ctl.handle_stop_charging()
                self.episode.record(now, eid, OfflineAction.STOP, detail)

    def _josev_back(self, now: float) -> None:
        episode, self.episode = self.episode, None
        if episode is None:
            log.info("josev present")
            return
        episode.ended_at = now
        continued = [
            eid for eid, ctl in self.controllers.items() if _session_kind(ctl) is not SessionKind.NONE
        ]
        self.last_report = episode.report(continued)
        log.warning("josev back: %s", self.last_report)

    def _send_probe(self) -> None:
        if self._probe is not None and self._probe.is_alive():
            return
        self._probe = threading.Thread(target=self._probe_once, name="energy-probe", daemon=True)
        self._probe.start()

    def _probe_once(self) -> None:
        try:
            answer = self.bridge.request(
                p.ServiceStatusRequest(), timeout=self.settings.offline.probe_timeout_s
            )
        except Exception as exc:  # a timeout or a broker error: the watch times the probe out
            log.debug("service_status probe unanswered: %s", exc)
            return
        data = getattr(answer, "data", None)
        if isinstance(data, p.ServiceStatusResponse):
            self.on_service_status(str(data.service), str(data.status))

    def status(self) -> dict[str, Any]:
        """For logs/status output: per-EVSE effective limit and binding source, Josev's state."""
        now = self.clock()
        with self._lock:
            lost_for = self.watch.lost_for(now)
            reason = self.watch.reason
        return {
            "evses": {eid: self.controllers[eid].limits().as_dict() for eid in self.sharing},
            "local_limits": {s: lim.describe(now) for s, lim in self.local.active(now).items()},
            "grid_input_active": self._grid_active,
            "josev": {"lost_for_s": lost_for, "reason": reason, "last_report": self.last_report},
        }


#: limits the supervisor sets itself (not part of an EVSE's own demand)
_STATION_WIDE = (LimitSource.GRID_INPUT, LimitSource.SITE, LimitSource.LOCAL, LimitSource.PHASE_SWITCH)


def _plugged(ctl: LimitedEvse) -> bool:
    return any(s is not None and not s.startswith("A") for s in ctl.cp_states.values())


def _session_kind(ctl: LimitedEvse) -> SessionKind:
    if ctl.hlc_active:
        return SessionKind.HLC
    if ctl.contactor_closed or ctl.is_transaction_active():
        return SessionKind.BASIC_AC
    return SessionKind.NONE


def _evse_current_a(ctl: LimitedEvse, now: float) -> float:
    """The EVSE's highest phase current now (0 without a fresh reading: it then draws what the
    mains meter sees anyway, so it is counted as 'other load' -- the safe side)."""
    try:
        currents = ctl.meter_values().current_a
    except DeviceError:
        return 0.0
    if currents is None:
        return 0.0
    values = [abs(c) for c in (currents.l1, currents.l2, currents.l3) if c is not None and math.isfinite(c)]
    return max(values) if values else 0.0


def _path_text(text: str) -> str:
    """msgspec's "... - at `$.amps`" as "$.amps: ..."."""
    head, sep, path = text.rpartition(" - at `")
    return f"{path.rstrip('`')}: {head}" if sep else text


def energy_from_profile(
    profile: Profile,
    board: Board,
    controllers: Mapping[str, LimitedEvse],
    *,
    bridge: Any = None,
    clock: Callable[[], float] = time.monotonic,
) -> EnergySupervisor:
    """The supervisor for a board: ``[limits]``, ``[sessions]``, the ``grid_limit`` and
    ``mains_meter`` devices, every AC EVSE (DC EVSEs take no part in the AC current sharing)."""
    lim, ses = profile.limits, profile.sessions
    grid = mains = None
    for board_evse in board.evses:
        found = board_evse.devices.get(Role.GRID_LIMIT)
        if isinstance(found, DigitalInput):
            grid = found
        meter = board_evse.devices.get(Role.MAINS_METER)
        if isinstance(meter, Meter):
            mains = meter
    switches: dict[str, tuple[PhaseSwitcher, Contactor]] = {}
    hysteresis: dict[str, float] = {}
    for board_evse in board.evses:
        cfg = board_evse.spec.phase_switching
        contactor = board_evse.devices.get(Role.PHASE_SWITCH)
        if cfg is None or not isinstance(contactor, Contactor):
            continue
        settings_ = PhaseSettings(
            min_switch_interval_s=cfg.min_switch_interval_s,
            pause_timeout_s=cfg.pause_timeout_s,
            contactor_timeout_s=cfg.contactor_timeout_s,
            settle_s=cfg.settle_s,
        )
        try:
            closed = bool(contactor.read().feedback_closed)
        except DeviceError as exc:
            log.warning(
                "evse=%s phase contactor unreadable at start (%s): assuming one phase", board_evse.id, exc
            )
            closed = False
        switches[board_evse.id] = (PhaseSwitcher(settings_, phases=3 if closed else 1), contactor)
        hysteresis[board_evse.id] = cfg.hysteresis_w
    evses = {
        spec.id: EvseEnergy(
            voltage_v=spec.nominal_voltage_v,
            phases=spec.phases,
            min_current_a=spec.min_current_a,
            priority=spec.priority,
        )
        for spec in profile.evse
        if spec.kind.value == "ac"
    }
    policy = OfflinePolicy(
        on_josev_lost=OnJosevLost(ses.on_josev_lost.value),
        stop_after_s=ses.stop_after_s,
        hlc_stop_after_s=ses.hlc_stop_after_s,
        probe_interval_s=ses.probe_interval_s,
        probe_timeout_s=ses.probe_timeout_s,
    )
    settings = EnergySettings(
        interval_s=lim.interval_s,
        grid_active_limit_w=lim.grid.active_limit_w if lim.grid is not None else None,
        site_max_current_a=lim.site.max_current_a if lim.site is not None else None,
        mains_stale_after_s=lim.site.stale_after_s if lim.site is not None else 3.0,
        evses=evses,
        offline=policy,
    )
    return EnergySupervisor(
        controllers,
        settings,
        bridge=bridge,
        grid_input=grid,
        mains_meter=mains,
        clock=clock,
        phase_switches=switches,
        hysteresis_w=hysteresis,
    )
