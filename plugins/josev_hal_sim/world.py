"""The simulated world of one connector: an EV with its IEC 61851 resistor network and the parts
of the board around it (CP generator, PP, contactor, RCD, meter, lock, RFID reader, DC power
module, isolation monitor).

Everything the drivers read is *derived* at read time from the physical state and the clock:
CP plateaus from the resistor network, contactor feedback from the command plus the relay's delay,
energy from integrating V·I over monotonic time. There is no "CP state" field to cheat with.

Threading: one re-entrant lock per world guards all state. Listeners (the drivers' ``notify``)
are always called *outside* the lock. Changes caused by a driver command (close the contactor,
set the PWM) are never announced synchronously from inside that command: the core may hold its
own lock while commanding, and a synchronous callback into it could deadlock or recurse. They are
announced from the clock's timer thread instead, like an interrupt on a real board. Changes made
from outside (the EV plugging in, an RCD trip from :class:`~josev_hal_sim.control.SimControl`)
are announced synchronously on the caller's thread.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable

import msgspec

from josev_hal.devices import CpMode, IsolationStatus, PhaseValues, Role
from josev_hal_sim.clock import Clock, RealClock, TimerHandle
from josev_hal_sim.physics import (
    GENERATOR_V,
    EvRequest,
    cp_voltage,
    ev_load_ohm,
    offered_current_a,
    pp_resistance_ohm,
)

__all__ = [
    "SimCpGenerator",
    "SimEv",
    "SimImd",
    "SimLock",
    "SimMeterModel",
    "SimPowerModule",
    "SimRcd",
    "SimRelay",
    "SimWorld",
]

log = logging.getLogger(__name__)

Listener = Callable[[], None]

# Isolation thresholds of IEC 61851-23 (per volt of the test voltage): above 500 Ω/V is valid,
# 100-500 Ω/V a warning, below 100 Ω/V (hardware-facts §7.6) a fault.
ISOLATION_VALID_OHM_PER_V = 500.0
ISOLATION_FAULT_OHM_PER_V = 100.0


class SimEv(msgspec.Struct):
    """The EV side of one connector.

    ``request`` says which resistors the EV switches in; the CP voltage follows from
    :func:`~josev_hal_sim.physics.cp_voltage`. ``draw_a`` is what the EV wants to draw (per phase
    for AC, total for DC); what it actually gets is limited by the PWM offer and the power path.
    """

    plugged: bool = False
    request: EvRequest = EvRequest.IDLE
    diode_shorted: bool = False
    cp_shorted: bool = False  # CP shorted to PE in the cable or vehicle (reads as state E)
    cable_a: int | None = 32  # Type 2 cable rating coded by Rc; None = cable without PP coding
    #: a misbehaving EV that draws ``draw_a`` whenever it may draw at all (PWM on, contactor
    #: closed, state C/D), whatever current the duty cycle offers -- what the soft overcurrent
    #: check (issue #14) must catch
    ignores_pwm: bool = False
    #: a polite EV (IEC 61851-1 Table A.6): with the PWM withdrawn (X1) it goes to B (opens S2)
    #: and asks again (C) once the PWM is back; False keeps it in C1
    pauses_on_x1: bool = False
    #: a PP wiring fault of the plugged cable: "open" (PP wire broken: reads as no cable),
    #: "short" (PP shorted to PE: ~0 ohm, out of every window); None = healthy
    pp_fault: str | None = None
    draw_a: float = 32.0
    phases: int = 3
    battery_v: float = 400.0

    def load_ohm(self) -> float | None:
        """EV load behind the diode, ``None`` when not plugged."""
        return ev_load_ohm(self.request) if self.plugged else None

    @property
    def requests_power(self) -> bool:
        return self.plugged and self.request is not EvRequest.IDLE


class SimCpGenerator(msgspec.Struct):
    """What the EVSE's CP generator outputs (set by ``sim-cp``)."""

    mode: CpMode = CpMode.X1
    duty_percent: float | None = None


class SimRelay(msgspec.Struct):
    """Main contactor with a mirror contact.

    ``feedback`` follows the coil after ``close_delay_s`` / ``open_delay_s``. A welded contact
    stays closed when the coil drops; a contactor stuck open never closes. ``forced_open`` models
    a hardware interlock (the RCD's fault output in the coil path) that de-energises the coil
    whatever the HAL commands.
    """

    close_delay_s: float = 0.03
    open_delay_s: float = 0.02
    has_feedback: bool = True
    commanded: bool = False
    feedback: bool = False
    welded: bool = False
    stuck_open: bool = False  # coil or contact fault: the contacts never close
    forced_open: bool = False
    closings: int = 0

    @property
    def coil(self) -> bool:
        """Whether the contacts are pulled in (commanded, not cut off, not broken)."""
        return self.commanded and not self.forced_open and not self.stuck_open


class SimRcd(msgspec.Struct):
    """Residual-current monitor. ``fault`` is the physical residual current; ``latched`` keeps
    the trip output active after the fault is gone until :meth:`SimWorld.rcd_reset` (modules
    with a manual reset)."""

    fault: bool = False
    residual_ma: float = 0.0
    latching: bool = False
    latched: bool = False
    hardware_cutoff: bool = True
    self_test_passes: bool = True
    #: every self-test run: (world time, contactor mirror contact closed during the test)
    self_tests: list[tuple[float, bool]] = msgspec.field(default_factory=list)

    @property
    def tripped(self) -> bool:
        return self.fault or self.latched


class SimMeterModel(msgspec.Struct):
    """Energy meter: integrates V·I over the world clock, per phase for AC."""

    kind: str = "ac"  # "ac" | "dc"
    nominal_voltage_v: float = 230.0
    phases: int = 3
    frequency_hz: float = 50.0
    online: bool = True
    energy_wh: float = 0.0
    last_t: float = 0.0


class SimLock(msgspec.Struct):
    delay_s: float = 0.2
    has_feedback: bool = True
    commanded: bool = False
    locked: bool = False


class SimPowerModule(msgspec.Struct):
    """DC power module (group): output voltage ramps to the set-point, current ramps to what the
    EV accepts. Values are stored as (value, time) anchors and evaluated linearly, so reads at any
    instant are exact without a simulation thread."""

    max_voltage_v: float = 1000.0
    min_voltage_v: float = 150.0
    max_current_a: float = 125.0
    min_current_a: float = 0.0
    max_power_w: float = 50_000.0
    voltage_ramp_v_per_s: float = 500.0
    current_ramp_a_per_s: float = 100.0
    enabled: bool = False
    target_v: float = 0.0
    target_a: float = 0.0
    faults: set[str] = msgspec.field(default_factory=set)
    v_anchor: tuple[float, float] = (0.0, 0.0)  # (volts, time)
    i_anchor: tuple[float, float] = (0.0, 0.0)  # (amps, time)
    v_goal: float = 0.0
    i_goal: float = 0.0
    #: a short circuit on the DC cable (ohm between DC+ and DC-), ``None`` = none: with the
    #: contactor closed the module runs into its current limit at a low voltage
    short_ohm: float | None = None


class SimImd(msgspec.Struct):
    """Isolation monitor: after :meth:`SimWorld.imd_start` it measures for ``measure_s`` and then
    reports ``isolation_ohm`` with a status judged against ``test_voltage_v``."""

    measure_s: float = 1.0
    isolation_ohm: float = 5_000_000.0
    test_voltage_v: float = 500.0
    self_test_passes: bool = True
    #: 0: the sim IMD measures with its own test voltage (a board IMD that injects it). Above 0:
    #: the measurement is only meaningful with at least this voltage on the DC cable (IEC
    #: 61851-23 cable check): below it the IMD keeps "measuring" with no result, the measuring
    #: time starts when the cable reaches it, and the Ohm/V thresholds refer to the cable voltage.
    min_voltage_v: float = 0.0
    at_voltage_since: float | None = None
    active: bool = False
    started_at: float = 0.0
    last_status: IsolationStatus = IsolationStatus.INVALID

    def status_for(self, ohm: float, volts: float | None = None) -> IsolationStatus:
        per_volt = ohm / (volts if volts else self.test_voltage_v)
        if per_volt >= ISOLATION_VALID_OHM_PER_V:
            return IsolationStatus.VALID
        if per_volt >= ISOLATION_FAULT_OHM_PER_V:
            return IsolationStatus.WARNING
        return IsolationStatus.FAULT


def _nothing(t: float) -> None:
    """A transition that changes nothing by itself: only time passed (a ramp ended, a
    measurement finished) and the readers should look again."""


def _ramp(anchor: tuple[float, float], goal: float, rate: float, t: float) -> float:
    """Value at ``t`` of a linear ramp that started at ``anchor`` and stops at ``goal``."""
    value, t0 = anchor
    step = rate * max(0.0, t - t0)
    if goal >= value:
        return min(goal, value + step)
    return max(goal, value - step)


class SimWorld:
    """One connector's world. Created through :class:`~josev_hal_sim.registry.WorldRegistry`;
    drivers configure their part in ``setup()`` and share everything else."""

    def __init__(self, key: str, clock: Clock | None = None) -> None:
        self.key = key
        self.evse_id: str | None = None
        self.connector_id: int | None = None
        self.clock: Clock = clock or RealClock()
        self.lock = threading.RLock()
        self.ev = SimEv()
        self.cp = SimCpGenerator()
        self.relay = SimRelay()
        self.rcd = SimRcd()
        self.meter = SimMeterModel(last_t=self.clock.now())
        self.door = SimLock()
        self.pm = SimPowerModule()
        self.imd = SimImd()
        self.tokens: deque[str] = deque(maxlen=32)
        #: Temperature sensors (°C by sensor name; None: the sensor is disconnected). Set up by
        #: the sim-temperature driver, changed by the ``temperature`` control command (#21).
        self.temperatures: dict[str, float | None] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._seq = itertools.count()
        self._due: list[tuple[float, int, Callable[[float], None], tuple[str, ...]]] = []
        self._unnotified: set[str] = set()
        self._timers: set[TimerHandle] = set()
        self._closed = False
        #: world time the contactor's contacts last closed (the cable is live from then on)
        self._cable_live_since: float | None = None
        #: a second contactor for L2/L3 (1p/3p switching); None: not installed
        self.phase_relay: SimRelay | None = None
        #: every phase-contactor command: (time, closed, main contacts closed, AC current flowing)
        self.phase_log: list[tuple[float, bool, bool, float]] = []
        #: the grid operator's control input (a sim-grid-input device reads it)
        self.grid_limit_active = False
        #: what the rest of the site (house, heat pump ...) draws per phase, seen by a mains meter
        self.house_a = PhaseValues(0.0, 0.0, 0.0)

    # ------------------------------------------------------------------------------------------
    # notifications and time
    # ------------------------------------------------------------------------------------------
    def subscribe(self, topic: str, listener: Listener) -> None:
        """Call ``listener()`` when what ``topic`` (a :class:`~josev_hal.devices.Role` value) reads
        may have changed."""
        with self.lock:
            self._listeners.setdefault(topic, []).append(listener)

    def unsubscribe(self, topic: str, listener: Listener) -> None:
        with self.lock:
            listeners = self._listeners.get(topic, [])
            if listener in listeners:
                listeners.remove(listener)

    def close(self) -> None:
        """Cancel pending timers; the world is no longer used."""
        with self.lock:
            self._closed = True
            timers, self._timers = self._timers, set()
            self._listeners.clear()
        for timer in timers:
            timer.cancel()

    def poll(self) -> None:
        """Apply what fell due and announce every change not announced yet (timer thread)."""
        with self.lock:
            if self._closed:
                return
            self._advance(self.clock.now())
            topics, self._unnotified = self._unnotified, set()
            listeners = [fn for t in sorted(topics) for fn in self._listeners.get(t, ())]
        for listener in listeners:
            try:
                listener()
            except Exception:  # a listener's bug must not kill the timer thread or the caller
                log.exception("sim world=%s listener failed", self.key)

    def _schedule(
        self, delay_s: float, apply: Callable[[float], None], *topics: str, base: float | None = None
    ) -> None:
        """Run ``apply(t)`` (under the lock, with energy integrated up to ``t``) ``delay_s`` after
        ``base`` (default: now), then announce ``topics``."""
        deadline = (self.clock.now() if base is None else base) + max(0.0, delay_s)
        heapq.heappush(self._due, (deadline, next(self._seq), apply, topics))
        self._arm(deadline)

    def _announce_soon(self, *topics: str) -> None:
        """Announce ``topics`` from the timer thread, not from the calling (driver) thread."""
        self._unnotified.update(topics)
        self._arm(self.clock.now())

    def _arm(self, deadline: float) -> None:
        """Have the clock call :meth:`poll` at ``deadline``."""
        handle: TimerHandle | None = None

        def fire() -> None:
            # Taking the lock also waits until _arm below has stored ``handle``.
            with self.lock:
                if handle is not None:
                    self._timers.discard(handle)
            self.poll()

        with self.lock:
            if self._closed:
                return
            handle = self.clock.call_at(deadline, fire)
            self._timers.add(handle)

    def _advance(self, now: float) -> None:
        """Apply due transitions in time order, integrating energy up to each of them and to now."""
        self._apply_due(now)
        self._integrate(now)

    def _apply_due(self, now: float) -> None:
        """Apply due transitions in time order, integrating energy up to each of them. A read that
        does not report energy stops here: the power only changes at a transition or a mutation,
        and each integrates up to its instant first, so integrating later over the whole span
        (the meter's next read) gives the same energy. This keeps the CP/relay/lock reads of a
        20 Hz sampler from integrating three times per sample (#17)."""
        while self._due and self._due[0][0] <= now:
            deadline, _, apply, topics = heapq.heappop(self._due)
            self._integrate(deadline)
            apply(deadline)
            self._unnotified.update(topics)

    def _external(self, *topics: str) -> None:
        """Announce a change made from outside (SimControl) synchronously."""
        with self.lock:
            self._unnotified.update(topics)
        self.poll()

    def _mutate(self) -> float:
        """Bring the world up to now before a state change (so energy so far uses the old state)."""
        now = self.clock.now()
        self._advance(now)
        return now

    # ------------------------------------------------------------------------------------------
    # physics
    # ------------------------------------------------------------------------------------------
    def cp_plateaus(self) -> tuple[float, float | None, float | None]:
        """(positive plateau, negative plateau or None without a low phase, applied duty %)."""
        with self.lock:
            self._apply_due(self.clock.now())
            ev, gen = self.ev, self.cp
            if ev.plugged and ev.cp_shorted:
                return 0.0, (0.0 if gen.mode is CpMode.PWM else None), gen.duty_percent
            load, shorted = ev.load_ohm(), ev.diode_shorted
            if ev.plugged and ev.pauses_on_x1 and gen.mode is CpMode.X1:
                load = ev_load_ohm(EvRequest.IDLE)  # S2 open while there is no PWM
            if gen.mode is CpMode.X1:
                return cp_voltage(GENERATOR_V, load, diode_shorted=shorted), None, 100.0
            if gen.mode is CpMode.PWM:
                high = cp_voltage(GENERATOR_V, load, diode_shorted=shorted)
                low = cp_voltage(-GENERATOR_V, load, diode_shorted=shorted)
                return high, low, gen.duty_percent
            if gen.mode is CpMode.STATE_F:
                level = cp_voltage(-GENERATOR_V, load, diode_shorted=shorted)
                return level, level, 0.0
            return 0.0, None, None  # state E: generator at 0 V

    def pp_resistance(self) -> float | None:
        with self.lock:
            if not self.ev.plugged or self.ev.cable_a is None or self.ev.pp_fault == "open":
                return None
            if self.ev.pp_fault == "short":
                return 0.5
            return pp_resistance_ohm(self.ev.cable_a)

    def _ac_current_a(self) -> float:
        ev, gen = self.ev, self.cp
        if not (self.relay.feedback and ev.requests_power and not ev.cp_shorted):
            return 0.0
        if gen.mode is not CpMode.PWM or gen.duty_percent is None:
            return 0.0  # x1 / E / F: the EV must not draw
        if ev.ignores_pwm:
            return max(0.0, ev.draw_a)
        return max(0.0, min(ev.draw_a, offered_current_a(gen.duty_percent, hlc_current_a=ev.draw_a)))

    def _ac_phases(self) -> int:
        supply = 3
        if self.phase_relay is not None:
            supply = 3 if self.phase_relay.feedback else 1  # L2/L3 only through the phase contactor
        return max(1, min(self.ev.phases, self.meter.phases, supply))

    def _dc_flowing(self) -> bool:
        return self.relay.feedback and self.ev.requests_power and self.pm.enabled and not self.pm.faults

    def _pm_retarget(self, now: float) -> None:
        """Re-anchor the power-module ramps at ``now`` after any change of their goals."""
        pm = self.pm
        self._imd_track(now)  # with the old anchors, before they move
        v = _ramp(pm.v_anchor, pm.v_goal, pm.voltage_ramp_v_per_s, now)
        i = _ramp(pm.i_anchor, pm.i_goal, pm.current_ramp_a_per_s, now)
        if not self.relay.feedback:
            # No load once the contacts are open: the output current collapses at once (only the
            # voltage on the output capacitors decays along its ramp).
            i = 0.0
        on = pm.enabled and not pm.faults
        pm.v_goal = pm.target_v if on else 0.0
        limit = pm.max_power_w / max(pm.target_v, 1.0)
        if on and self.relay.feedback and pm.short_ohm is not None:
            # A short on the cable: the module regulates current at its limit and the voltage
            # stays at I_limit * R_short -- "current limit reached at low voltage".
            i_limit = max(0.0, min(pm.target_a, limit))
            pm.v_goal = min(pm.target_v, i_limit * pm.short_ohm)
            pm.i_goal = pm.v_goal / pm.short_ohm if pm.short_ohm > 0 else i_limit
        elif self._dc_flowing():
            pm.i_goal = max(0.0, min(pm.target_a, self.ev.draw_a, limit))
        else:
            pm.i_goal = 0.0
        pm.v_anchor, pm.i_anchor = (v, now), (i, now)
        # Announce when both ramps have settled, the way a module's status frame would show it.
        settle = max(
            abs(pm.v_goal - v) / pm.voltage_ramp_v_per_s if pm.voltage_ramp_v_per_s > 0 else 0.0,
            abs(pm.i_goal - i) / pm.current_ramp_a_per_s if pm.current_ramp_a_per_s > 0 else 0.0,
        )
        if settle > 0:
            self._schedule(settle, _nothing, Role.DC_POWER_MODULE, Role.METER, base=now)

    def _cable_voltage(self, t: float) -> float:
        """Voltage on the DC cable (EV side of the contactor): the module's output while the
        contacts are closed, else nothing (the EV's own contactors are open before pre-charge)."""
        if not self.relay.feedback:
            return 0.0
        return _ramp(self.pm.v_anchor, self.pm.v_goal, self.pm.voltage_ramp_v_per_s, t)

    def _imd_track(self, now: float) -> None:
        """Keep ``imd.at_voltage_since`` right: when the cable reached the IMD's minimum voltage
        on the current ramp segment (exact: a segment is linear), or None while below it."""
        imd, pm = self.imd, self.pm
        if imd.min_voltage_v <= 0:
            return
        if self._cable_voltage(now) < imd.min_voltage_v:
            imd.at_voltage_since = None
            return
        if imd.at_voltage_since is not None:
            return
        (v0, t0), rate = pm.v_anchor, pm.voltage_ramp_v_per_s
        crossed = t0 if v0 >= imd.min_voltage_v or rate <= 0 else t0 + (imd.min_voltage_v - v0) / rate
        imd.at_voltage_since = max(crossed, self._cable_live_since or crossed)

    def cable_voltage(self) -> float:
        """Voltage on the DC cable now (what a voltage measurement behind the contactor reads)."""
        with self.lock:
            now = self.clock.now()
            self._advance(now)
            return self._cable_voltage(now)

    def _pm_output(self, t: float) -> tuple[float, float]:
        pm = self.pm
        v = _ramp(pm.v_anchor, pm.v_goal, pm.voltage_ramp_v_per_s, t)
        i = _ramp(pm.i_anchor, pm.i_goal, pm.current_ramp_a_per_s, t)
        return v, i

    def _integrate(self, t: float) -> None:
        m = self.meter
        dt = t - m.last_t
        if dt <= 0:
            return
        if m.kind == "dc":
            # V and I are linear between the ends of their ramps, so P = V·I is quadratic on each
            # piece and Simpson's rule integrates it exactly.
            cuts = sorted({m.last_t, t, *(e for e in self._pm_ramp_ends() if m.last_t < e < t)})
            energy_ws = 0.0
            for a, b in itertools.pairwise(cuts):
                mid = (a + b) / 2
                energy_ws += (b - a) * (self._dc_power(a) + 4 * self._dc_power(mid) + self._dc_power(b)) / 6
            m.energy_wh += energy_ws / 3600.0
        else:
            power = self._ac_current_a() * m.nominal_voltage_v * self._ac_phases()
            m.energy_wh += power * dt / 3600.0
        m.last_t = t

    def _pm_ramp_ends(self) -> tuple[float, float]:
        """When the voltage and the current ramps reach their goals."""
        pm = self.pm
        (v0, tv), (i0, ti) = pm.v_anchor, pm.i_anchor
        v_end = tv + abs(pm.v_goal - v0) / pm.voltage_ramp_v_per_s if pm.voltage_ramp_v_per_s > 0 else tv
        i_end = ti + abs(pm.i_goal - i0) / pm.current_ramp_a_per_s if pm.current_ramp_a_per_s > 0 else ti
        return v_end, i_end

    def _dc_power(self, t: float) -> float:
        if not self.relay.feedback:
            return 0.0
        v, i = self._pm_output(t)
        return v * i

    # ------------------------------------------------------------------------------------------
    # reads used by the drivers (all advance the world to now first)
    # ------------------------------------------------------------------------------------------
    def relay_state(self) -> tuple[bool, bool]:
        """(commanded closed, feedback closed)."""
        with self.lock:
            self._apply_due(self.clock.now())
            return self.relay.commanded, self.relay.feedback

    def rcd_state(self) -> tuple[bool, float]:
        with self.lock:
            return self.rcd.tripped, (self.rcd.residual_ma if self.rcd.tripped else 0.0)

    def meter_values(self) -> tuple[PhaseValues, PhaseValues, float, float, float, float] | None:
        """AC: (voltages, currents, power W, energy Wh, frequency, 0); DC: voltages/currents
        carry the DC values in l1. ``None`` while the meter is offline (the energy register keeps
        counting: it is the communication that is lost, not the meter)."""
        with self.lock:
            now = self.clock.now()
            self._advance(now)
            m = self.meter
            if not m.online:
                return None
            if m.kind == "dc":
                v, i = self._pm_output(now)
                if not self.relay.feedback:
                    i = 0.0
                return PhaseValues(v, 0.0, 0.0), PhaseValues(i, 0.0, 0.0), v * i, m.energy_wh, 0.0, 0.0
            i = self._ac_current_a()
            n = self._ac_phases()
            currents = PhaseValues(*(i if k < n else 0.0 for k in range(3)))
            volts = PhaseValues(*(m.nominal_voltage_v if k < m.phases else 0.0 for k in range(3)))
            return volts, currents, i * n * m.nominal_voltage_v, m.energy_wh, m.frequency_hz, 0.0

    def phase_currents(self) -> PhaseValues:
        """The AC current flowing through this connector per phase, physically (a mains meter
        sees it whether or not the EVSE's own meter answers)."""
        with self.lock:
            self._advance(self.clock.now())
            if self.meter.kind == "dc":
                return PhaseValues(0.0, 0.0, 0.0)
            i, n = self._ac_current_a(), self._ac_phases()
            return PhaseValues(*(i if k < n else 0.0 for k in range(3)))

    def lock_state(self) -> tuple[bool, bool]:
        with self.lock:
            self._apply_due(self.clock.now())
            return self.door.commanded, self.door.locked

    def pop_token(self) -> str | None:
        with self.lock:
            return self.tokens.popleft() if self.tokens else None

    def pm_state(self) -> tuple[float, float, bool, frozenset[str]]:
        with self.lock:
            now = self.clock.now()
            self._advance(now)
            v, i = self._pm_output(now)
            return v, i, self.pm.enabled, frozenset(self.pm.faults)

    def imd_state(self) -> tuple[float | None, IsolationStatus, bool]:
        """(resistance or None, status, measuring)."""
        with self.lock:
            now = self.clock.now()
            self._advance(now)
            imd = self.imd
            if not imd.active:
                return None, imd.last_status, False
            if imd.min_voltage_v > 0:
                # Only meaningful at voltage: the measuring time runs from when the cable got there.
                self._imd_track(now)
                since = imd.at_voltage_since
                if since is None or now < max(since, imd.started_at) + imd.measure_s:
                    return None, IsolationStatus.INVALID, True
                imd.last_status = imd.status_for(imd.isolation_ohm, self._cable_voltage(now))
                return imd.isolation_ohm, imd.last_status, True
            if now < imd.started_at + imd.measure_s:
                return None, IsolationStatus.INVALID, True
            imd.last_status = imd.status_for(imd.isolation_ohm)
            return imd.isolation_ohm, imd.last_status, True

    # ------------------------------------------------------------------------------------------
    # commands from the drivers (announced from the timer thread, never synchronously)
    # ------------------------------------------------------------------------------------------
    def set_cp(self, mode: CpMode, duty_percent: float | None = None) -> None:
        with self.lock:
            now = self._mutate()
            if self.cp.mode is mode and self.cp.duty_percent == duty_percent:
                return
            self.cp.mode, self.cp.duty_percent = mode, duty_percent
            self._pm_retarget(now)
            self._announce_soon(Role.CONTROL_PILOT, Role.METER)

    def command_relay(self, closed: bool) -> None:
        with self.lock:
            self._mutate()
            if closed and not self.relay.commanded:
                self.relay.closings += 1
            self.relay.commanded = closed
            delay = self.relay.close_delay_s if self.relay.coil else self.relay.open_delay_s
            self._schedule(delay, self._settle_relay, Role.CONTACTOR, Role.METER)

    def _settle_relay(self, t: float) -> None:
        """The contacts follow the coil now; a welded contact stays closed."""
        r = self.relay
        was_closed = r.feedback
        r.feedback = r.coil or (r.welded and r.feedback)
        if r.feedback and not was_closed:
            self._cable_live_since = t
        self._pm_retarget(t)

    def rcd_reset(self) -> None:
        with self.lock:
            self._mutate()
            if self.rcd.latched and not self.rcd.fault:
                self.rcd.latched = False
                self._release_interlock()
                self._announce_soon(Role.RCD)

    def rcd_self_test(self) -> bool:
        """A test trip that the module reports on its test path, not as a residual-current fault.
        Every run is logged in ``rcd.self_tests`` with whether the contactor was closed (the
        rule: test with the contactor open)."""
        with self.lock:
            now = self._mutate()
            self.rcd.self_tests.append((now, self.relay.feedback))
            return self.rcd.self_test_passes and not self.rcd.fault

    def set_rcd_self_test(self, passes: bool) -> None:
        """Inject the outcome of the next self-tests (a broken test circuit fails them)."""
        with self.lock:
            self.rcd.self_test_passes = passes

    def command_lock(self, locked: bool) -> None:
        with self.lock:
            self._mutate()
            self.door.commanded = locked
            self._schedule(self.door.delay_s, self._settle_lock, Role.CONNECTOR_LOCK)

    def _settle_lock(self, t: float) -> None:
        self.door.locked = self.door.commanded

    def pm_set_target(self, voltage_v: float, current_a: float) -> None:
        with self.lock:
            now = self._mutate()
            self.pm.target_v, self.pm.target_a = voltage_v, current_a
            self._pm_retarget(now)
            self._announce_soon(Role.DC_POWER_MODULE)

    def pm_enable(self, on: bool) -> None:
        with self.lock:
            now = self._mutate()
            self.pm.enabled = on
            self._pm_retarget(now)
            self._announce_soon(Role.DC_POWER_MODULE)

    def imd_start(self) -> None:
        with self.lock:
            self.imd.active = True
            self.imd.started_at = self.clock.now()
            self.imd.last_status = IsolationStatus.INVALID
            self._schedule(self.imd.measure_s, _nothing, Role.ISOLATION_MONITOR)

    def imd_stop(self) -> None:
        with self.lock:
            if self.imd.active:
                self.imd_state()  # keep the last result for the status after stopping
            self.imd.active = False
            self._announce_soon(Role.ISOLATION_MONITOR)

    # ------------------------------------------------------------------------------------------
    # events from outside (SimControl): announced synchronously
    # ------------------------------------------------------------------------------------------
    def plug(self, cable_a: int | None = None) -> None:
        with self.lock:
            now = self._mutate()
            self.ev.plugged = True
            self.ev.request = EvRequest.IDLE
            if cable_a is not None:
                self.ev.cable_a = cable_a
            self._pm_retarget(now)
        self._external(Role.CONTROL_PILOT, Role.PROXIMITY_PILOT, Role.METER)

    def unplug(self) -> None:
        with self.lock:
            now = self._mutate()
            # A different EV may come next: its diode and wiring are healthy until told otherwise.
            self.ev.plugged = False
            self.ev.request = EvRequest.IDLE
            self.ev.diode_shorted = False
            self.ev.cp_shorted = False
            self.ev.pp_fault = None
            self.ev.ignores_pwm = False
            self._pm_retarget(now)
        self._external(Role.CONTROL_PILOT, Role.PROXIMITY_PILOT, Role.METER)

    def set_request(self, request: EvRequest) -> None:
        with self.lock:
            now = self._mutate()
            self.ev.request = request
            self._pm_retarget(now)
        self._external(Role.CONTROL_PILOT, Role.METER)

    def set_diode_shorted(self, shorted: bool = True) -> None:
        with self.lock:
            self._mutate()
            self.ev.diode_shorted = shorted
        self._external(Role.CONTROL_PILOT)

    def set_cp_shorted(self, shorted: bool = True) -> None:
        with self.lock:
            now = self._mutate()
            self.ev.cp_shorted = shorted
            self._pm_retarget(now)
        self._external(Role.CONTROL_PILOT, Role.METER)

    def set_draw(self, amps: float) -> None:
        with self.lock:
            now = self._mutate()
            self.ev.draw_a = amps
            self._pm_retarget(now)
        self._external(Role.METER, Role.DC_POWER_MODULE)

    def rcd_trip(self, residual_ma: float = 30.0) -> None:
        with self.lock:
            self._mutate()
            self.rcd.fault = True
            self.rcd.residual_ma = residual_ma
            if self.rcd.latching:
                self.rcd.latched = True
            if self.rcd.hardware_cutoff and not self.relay.forced_open:
                # The fault output sits in the coil path: the contactor drops without the HAL.
                self.relay.forced_open = True
                self._schedule(self.relay.open_delay_s, self._settle_relay, Role.CONTACTOR, Role.METER)
        self._external(Role.RCD)

    def rcd_clear(self) -> None:
        with self.lock:
            self._mutate()
            self.rcd.fault = False
            self._release_interlock()
        self._external(Role.RCD)

    def _release_interlock(self) -> None:
        if self.relay.forced_open and not self.rcd.tripped:
            self.relay.forced_open = False
            # If the HAL still commands the contactor closed, the coil pulls in again.
            self._schedule(self.relay.close_delay_s, self._settle_relay, Role.CONTACTOR, Role.METER)

    def set_meter_online(self, online: bool) -> None:
        with self.lock:
            self._mutate()
            self.meter.online = online
        self._external(Role.METER)

    def set_welded(self, welded: bool = True) -> None:
        with self.lock:
            self._mutate()
            self.relay.welded = welded
            if not welded and self.relay.feedback and not self.relay.coil:
                self._schedule(self.relay.open_delay_s, self._settle_relay, Role.CONTACTOR, Role.METER)
        self._external(Role.CONTACTOR)

    def set_stuck_open(self, stuck: bool = True) -> None:
        with self.lock:
            self._mutate()
            self.relay.stuck_open = stuck
            delay = self.relay.open_delay_s if stuck else self.relay.close_delay_s
            self._schedule(delay, self._settle_relay, Role.CONTACTOR, Role.METER)
        self._external(Role.CONTACTOR)

    def present_token(self, uid: str) -> None:
        with self.lock:
            self.tokens.append(uid)
        self._external(Role.ID_TOKEN_READER)

    def set_temperature(self, sensor: str, celsius: float | None) -> None:
        """A sensor's temperature (``None``: the sensor is disconnected and reads fail)."""
        with self.lock:
            self.temperatures[sensor] = celsius
        self._external(Role.TEMPERATURE)

    def set_pp_fault(self, kind: str | None) -> None:
        """A PP wiring fault of the cable: ``"open"``, ``"short"``, or ``None`` (repaired)."""
        if kind not in (None, "open", "short"):
            raise ValueError(f"pp fault must be 'open', 'short' or None, got {kind!r}")
        with self.lock:
            self._mutate()
            self.ev.pp_fault = kind
        self._external(Role.PROXIMITY_PILOT)

    def set_cable_short(self, ohm: float | None) -> None:
        """A short circuit between DC+ and DC- of the cable (``None`` removes it)."""
        if ohm is not None and not ohm >= 0:
            raise ValueError(f"short resistance must be >= 0 ohm, got {ohm}")
        with self.lock:
            now = self._mutate()
            self.pm.short_ohm = ohm
            self._pm_retarget(now)
        self._external(Role.DC_POWER_MODULE, Role.METER)

    def set_ev_pauses_on_x1(self, pauses: bool = True) -> None:
        """Make the EV go to B while the PWM is withdrawn (X1) and back to C when it returns."""
        with self.lock:
            self._mutate()
            self.ev.pauses_on_x1 = pauses
        self._external(Role.CONTROL_PILOT)

    def set_ev_ignores_pwm(self, ignores: bool = True) -> None:
        """Make the plugged EV ignore the PWM's current offer (it draws ``draw_a``); cleared by
        unplugging (the next EV behaves)."""
        with self.lock:
            self._mutate()
            self.ev.ignores_pwm = ignores
        self._external(Role.METER)

    def install_phase_switch(self, close_delay_s: float, open_delay_s: float, has_feedback: bool) -> None:
        """A phase contactor for L2/L3 (sim-phase-contactor); it starts open (one phase)."""
        with self.lock:
            self._mutate()  # L2/L3 leave the energy integration from now on
            self.phase_relay = SimRelay(
                close_delay_s=close_delay_s, open_delay_s=open_delay_s, has_feedback=has_feedback
            )

    def command_phase_relay(self, closed: bool) -> None:
        """Command the phase contactor; logged with what flowed at that moment."""
        with self.lock:
            now = self._mutate()
            relay = self.phase_relay
            if relay is None:
                raise ValueError("no phase switch installed")
            if closed != relay.commanded:
                self.phase_log.append((now, closed, self.relay.feedback, self._ac_current_a()))
            if closed and not relay.commanded:
                relay.closings += 1
            relay.commanded = closed
            delay = relay.close_delay_s if relay.coil else relay.open_delay_s
            self._schedule(delay, self._settle_phase_relay, Role.CONTACTOR, Role.METER)

    def _settle_phase_relay(self, t: float) -> None:
        relay = self.phase_relay
        if relay is not None:
            relay.feedback = relay.coil or (relay.welded and relay.feedback)

    def phase_relay_state(self) -> tuple[bool, bool]:
        """(commanded closed, feedback closed) of the phase contactor."""
        with self.lock:
            self._advance(self.clock.now())
            relay = self.phase_relay
            if relay is None:
                raise ValueError("no phase switch installed")
            return relay.commanded, relay.feedback

    def set_phase_relay_stuck(self, stuck: bool = True) -> None:
        """The phase contactor's contacts no longer move (stuck where they are)."""
        with self.lock:
            self._mutate()
            relay = self.phase_relay
            if relay is None:
                raise ValueError("no phase switch installed")
            if relay.feedback:
                relay.welded = stuck
            else:
                relay.stuck_open = stuck
        self._external(Role.CONTACTOR)

    def set_grid_limit(self, active: bool) -> None:
        """The grid operator's control box switches its output (dim / release)."""
        with self.lock:
            self.grid_limit_active = active
        self._external(Role.GRID_LIMIT)

    def set_house_load(self, l1: float, l2: float, l3: float) -> None:
        """The rest of the site draws this per phase (read by a sim-mains-meter)."""
        with self.lock:
            self.house_a = PhaseValues(l1, l2, l3)
        self._external(Role.METER)

    def set_isolation(self, ohm: float) -> None:
        with self.lock:
            self.imd.isolation_ohm = ohm
        self._external(Role.ISOLATION_MONITOR)

    def set_pm_fault(self, name: str | None) -> None:
        """Raise a power-module fault (the module switches its output off), or clear all (None)."""
        with self.lock:
            now = self._mutate()
            if name is None:
                self.pm.faults.clear()
            else:
                self.pm.faults.add(name)
            self._pm_retarget(now)
        self._external(Role.DC_POWER_MODULE)
