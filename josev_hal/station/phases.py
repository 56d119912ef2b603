"""1-phase / 3-phase switching sequencer (issue #22).

A second contactor (or a phase relay) connects L2/L3; with it open the EVSE supplies one phase.
Switching it under load arcs the contacts and an EV that sees phases appear or vanish while it
charges may fault, so the change is a sequence with the EV paused (IEC 61851-1 Table A.6: the
EVSE withdraws the PWM, the EV goes to B, then the supply may change):

1. ``withdraw``: hold the PWM at X1 and wait (at most ``pause_timeout_s``) until the EV has left
   C/D (CP A or B) *and* the meter shows no more current than ``idle_current_a``. An EV that does
   not pause in time: the switch is abandoned (PWM restored, no fault; the EV decides).
2. ``open``: hold the main contactor open and wait for its mirror contact (at most
   ``contactor_timeout_s``; a main contactor that does not open is the main contactor's fault,
   reported by the core's supervision -- here it ends the sequence with a latched fault).
3. ``switch``: command the phase contactor, wait for its mirror contact (at most
   ``contactor_timeout_s``). One that does not follow is **stuck**: a latched fault, the phase
   count becomes unknown and the sequence keeps the EVSE paused until an operator clears it.
4. ``settle``: wait ``settle_s`` (EVs need a moment to see the new supply before the PWM returns).
5. ``restore``: release the PWM; the ordinary interlock closes the main contactor again when the
   EV goes back to C.

Invariant (property-tested): the phase contactor is only ever commanded to a new position while
the main contactor's mirror contact is open, the EV is not in C/D and no current flows. Switches
are at least ``min_switch_interval_s`` apart (end of one to the request of the next) so breakers
and EVs are not stressed by a PV controller that flaps.

Pure: :meth:`PhaseSwitcher.advance` takes what the core observed and returns what it must hold; the
core applies it (and never lets the interlock close while ``hold_open`` is set).
"""

from __future__ import annotations

import enum
import math

import msgspec

__all__ = ["PhaseCommand", "PhaseInputs", "PhaseSettings", "PhaseStep", "PhaseSwitcher"]

_POWER_STATES = ("C", "D")


class PhaseStep(enum.StrEnum):
    IDLE = "idle"
    WITHDRAW = "withdraw"
    OPEN = "open"
    SWITCH = "switch"
    SETTLE = "settle"
    FAULT = "fault"


class PhaseSettings(msgspec.Struct, frozen=True):
    """Profile ``[evse.phases]`` (besides the ``switch`` device)."""

    min_switch_interval_s: float = 300.0
    pause_timeout_s: float = 10.0
    contactor_timeout_s: float = 1.0
    settle_s: float = 2.0
    idle_current_a: float = 0.5

    def validate(self) -> None:
        names = (
            "min_switch_interval_s",
            "pause_timeout_s",
            "contactor_timeout_s",
            "settle_s",
            "idle_current_a",
        )
        for name in names:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {value}")
        if self.pause_timeout_s <= 0 or self.contactor_timeout_s <= 0:
            raise ValueError("pause_timeout_s/contactor_timeout_s: must be > 0")


class PhaseInputs(msgspec.Struct, frozen=True):
    """What the core observed at ``now``. ``cp_state``: the accepted CP state (``"C2"``, ``"B1"``,
    None before the first sample); ``current_a``: the highest phase current the meter reads
    (None: no reading -- then nothing counts as "no current"); ``main_closed``: the main
    contactor's mirror contact (None without feedback: the command is used); ``phase_closed``:
    the phase contactor's mirror contact (None: it has none)."""

    now: float
    cp_state: str | None
    current_a: float | None
    main_closed: bool | None
    phase_closed: bool | None


class PhaseCommand(msgspec.Struct, frozen=True):
    """What the core must do now: ``withdraw_pwm`` (hold X1), ``hold_open`` (the interlock may not
    close the main contactor), ``phase_closed`` (command of the phase contactor: closed = three
    phases)."""

    withdraw_pwm: bool
    hold_open: bool
    phase_closed: bool


class PhaseSwitcher(msgspec.Struct):
    """The sequencer of one EVSE. ``phases`` is the phase count in force (None after a stuck
    phase contactor: unknown until cleared)."""

    settings: PhaseSettings
    phases: int | None = 3
    step_: PhaseStep = PhaseStep.IDLE
    target: int | None = None
    since: float = 0.0
    last_switch_end: float | None = None
    fault: str | None = None
    last_outcome: str = ""
    #: (time, event) of every step, in order -- the tests assert the sequence from it
    timeline: list[tuple[float, str]] = msgspec.field(default_factory=list)
    _phase_command: bool = True
    #: when the phase contactor's command last changed (None: not applied yet)
    _command_since: float | None = None

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ValueError(f"phases: must be 1 or 3, got {self.phases}")
        self._phase_command = self.phases == 3

    @property
    def step(self) -> PhaseStep:
        return self.step_

    @property
    def busy(self) -> bool:
        return self.step_ not in (PhaseStep.IDLE, PhaseStep.FAULT)

    def request(self, phases: int, now: float) -> tuple[bool, str]:
        """Ask for ``phases`` (1 or 3). Returns ``(accepted, why)``; nothing changes when refused."""
        if phases not in (1, 3):
            return False, f"phases must be 1 or 3, got {phases!r}"
        if self.step_ is PhaseStep.FAULT:
            return False, f"phase switch faulted: {self.fault}"
        if self.busy:
            return False, f"switch to {self.target} phases in progress"
        if phases == self.phases:
            return False, f"already {phases} phases"
        if self.last_switch_end is not None:
            wait = self.settings.min_switch_interval_s - (now - self.last_switch_end)
            if wait > 0:
                return False, f"min_switch_interval_s: wait {wait:.0f} s"
        self.target = phases
        self._enter(PhaseStep.WITHDRAW, now, f"request {phases} phases")
        return True, "switching"

    def clear_fault(self, phase_closed: bool | None, now: float) -> bool:
        """Operator action after a stuck phase contactor was repaired; the phase count is what
        the mirror contact reads (or the last command without feedback)."""
        if self.step_ is not PhaseStep.FAULT:
            return False
        closed = self._phase_command if phase_closed is None else phase_closed
        self.phases = 3 if closed else 1
        self._phase_command = closed
        self.fault = None
        self._enter(PhaseStep.IDLE, now, f"fault cleared, {self.phases} phases")
        return True

    def command(self) -> PhaseCommand:
        """What to hold in the current step (without advancing)."""
        step = self.step_
        return PhaseCommand(
            withdraw_pwm=step is not PhaseStep.IDLE,
            hold_open=step in (PhaseStep.OPEN, PhaseStep.SWITCH, PhaseStep.SETTLE, PhaseStep.FAULT),
            phase_closed=self._phase_command,
        )

    def advance(self, i: PhaseInputs) -> PhaseCommand:
        """Advance on the observations ``i`` and return what the core must hold now."""
        s = self.settings
        if self._command_since is None:
            self._command_since = i.now
        elapsed = i.now - self.since
        if self.step_ is PhaseStep.WITHDRAW:
            if self._ev_paused(i):
                self._enter(PhaseStep.OPEN, i.now, f"ev paused cp={i.cp_state}")
            elif elapsed >= s.pause_timeout_s:
                self.last_outcome = f"abandoned: ev did not pause within {s.pause_timeout_s:g} s"
                self._enter(PhaseStep.IDLE, i.now, self.last_outcome)
                self.target = None
        if self.step_ is PhaseStep.OPEN:
            if not self._ev_paused(i):
                self._enter(PhaseStep.WITHDRAW, i.now, f"ev resumed cp={i.cp_state}")
            elif i.main_closed is False or i.main_closed is None:
                self._phase_command = self.target == 3
                self._command_since = i.now
                position = "closed" if self._phase_command else "open"
                self._enter(PhaseStep.SWITCH, i.now, f"phase contactor -> {position}")
            elif elapsed >= s.contactor_timeout_s:
                self._fail(i.now, "main contactor did not open for the phase switch")
        if self.step_ is PhaseStep.SWITCH:
            elapsed = i.now - self.since
            if i.phase_closed is None or i.phase_closed is self._phase_command:
                if i.phase_closed is None and elapsed < s.contactor_timeout_s:
                    pass  # no mirror contact: give it the contactor time to move
                else:
                    self._enter(PhaseStep.SETTLE, i.now, "phase contactor followed")
            elif elapsed >= s.contactor_timeout_s:
                self._fail(i.now, "phase contactor stuck (mirror contact did not follow)")
        if self.step_ is PhaseStep.SETTLE and i.now - self.since >= s.settle_s:
            self.phases = self.target
            self.last_switch_end = i.now
            self.last_outcome = f"switched to {self.phases} phases"
            self.target = None
            self._enter(PhaseStep.IDLE, i.now, f"restore pwm, {self.phases} phases")
        if (
            self.step_ is PhaseStep.IDLE
            and i.phase_closed is not None
            and i.phase_closed is not self._phase_command
            and i.now - self._command_since >= s.contactor_timeout_s
        ):
            # the phase contactor moved on its own (or is stuck since start-up): never trust
            # the phase count then
            self._fail(i.now, "phase contactor does not match its command")
        return self.command()

    # -- internals ---------------------------------------------------------------------------
    def _ev_paused(self, i: PhaseInputs) -> bool:
        letter = (i.cp_state or "")[:1]
        if letter in _POWER_STATES or letter not in ("A", "B"):
            return False  # C/D draw power; E/F/unknown are no pause to switch in
        amps = i.current_a
        return amps is not None and math.isfinite(amps) and amps <= self.settings.idle_current_a

    def _fail(self, now: float, why: str) -> None:
        self.fault = why
        self.phases = None
        self.last_outcome = f"fault: {why}"
        self._enter(PhaseStep.FAULT, now, why)

    def _enter(self, step: PhaseStep, now: float, event: str) -> None:
        self.step_ = step
        self.since = now
        self.timeline.append((now, f"{step.value}: {event}"))
