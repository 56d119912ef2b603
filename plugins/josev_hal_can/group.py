"""What every CAN DC-module family driver shares: a group of paralleled modules acting as one supply.

A family (InfyPower, Winline ...) only says how frames look (:meth:`ModuleGroupDriver._encode_*`,
:meth:`ModuleGroupDriver._decode`); this base does the rest the same way for all:

* **Set-points** go to every module, each with its share of the current (``I_total / N`` over
  the modules that currently answer, capped at the per-module limit); **on/off** to every module.
* A **poll thread** asks every module for its output and status every ``poll_interval_s`` and
  re-sends the last set-point and on/off command: modules switch themselves off after some
  seconds without hearing the controller, and a module that rebooted has forgotten its set-point.
* Replies are decoded on the CAN bus's receive thread and stored with their **receive time**.
  :meth:`ModuleGroupDriver.read` aggregates the stored replies; it never asks the bus itself, so
  the reading's ``taken_at`` is when the modules last spoke. A module silent for longer than
  ``offline_after_s`` drops out of the aggregate (fault ``module_offline``); when every module is
  silent :meth:`read` raises :class:`~josev_hal.errors.DeviceOffline`.
* **Warnings** (vendor alarms a module survives, e.g. InfyPower's fan fault or over-temperature:
  it derates itself) are reported in ``DcSample.warnings``, not as faults, while the module still
  delivers. A module that shows a warning *and* has switched its output off although the group
  is on (seen in a status received at least one poll after the on command) no longer delivers:
  its warnings count as faults then.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import can
import msgspec

from josev_hal.buses.can import CanBus
from josev_hal.devices import DcCapabilities, DcPowerModule, DcSample, DeviceConfig
from josev_hal.errors import BusError, DeviceError, DeviceOffline, DeviceTimeout

__all__ = ["MODULE_OFFLINE", "GroupOptions", "ModuleGroupDriver", "ModuleStatus", "Reply"]

log = logging.getLogger(__name__)

#: Fault reported when some (not all) modules of the group stopped answering.
MODULE_OFFLINE = "module_offline"


class GroupOptions(msgspec.Struct, forbid_unknown_fields=True):
    """Options every module-group driver has. Per-module limits are the module's datasheet
    values; the group's capabilities are these times the number of modules (voltage limits are
    not multiplied: the modules are paralleled). Defaults describe a 30 kW, 1000 V module."""

    #: Module addresses (as set on the module's dial/DIP switch) in this group.
    modules: list[int] = msgspec.field(default_factory=lambda: [0])
    #: Our source address on the bus.
    controller_address: int = 0xF0
    #: How often each module is polled for output and status (seconds).
    poll_interval_s: float = 1.0
    #: A module silent for longer than this is offline. Keep it above the module's own
    #: controller watchdog so a short bus hiccup never flips state.
    offline_after_s: float = 15.0
    #: Re-send the last set-point and on/off command with every poll.
    resend_setpoints: bool = True
    module_max_voltage_v: float = 1000.0
    module_min_voltage_v: float = 150.0
    module_max_current_a: float = 100.0
    module_min_current_a: float = 0.0
    module_max_power_w: float = 30000.0

    def problems(self) -> list[str]:
        """Every inconsistency of these options (family subclasses add theirs)."""
        found: list[str] = []
        if not self.modules:
            found.append("modules: at least one module address is needed")
        if len(set(self.modules)) != len(self.modules):
            found.append(f"modules: duplicate addresses in {self.modules}")
        if not 0 <= self.controller_address <= 0xFF:
            found.append(f"controller_address: {self.controller_address} outside 0..255")
        if self.poll_interval_s <= 0:
            found.append("poll_interval_s: must be > 0")
        if self.offline_after_s <= self.poll_interval_s:
            found.append("offline_after_s: must be longer than poll_interval_s")
        if not 0 <= self.module_min_voltage_v < self.module_max_voltage_v:
            found.append("module_min_voltage_v/module_max_voltage_v: need 0 <= min < max")
        if not 0 <= self.module_min_current_a < self.module_max_current_a:
            found.append("module_min_current_a/module_max_current_a: need 0 <= min < max")
        if self.module_max_power_w <= 0:
            found.append("module_max_power_w: must be > 0")
        return found

    def __post_init__(self) -> None:
        # Raised as ValueError so that `josev-hal check` reports it at the option's key path.
        found = self.problems()
        if found:
            raise ValueError("; ".join(found))


@dataclass(frozen=True, slots=True)
class ModuleStatus:
    """A decoded status word: ``faults`` (readable names), ``states`` (normal conditions such as
    ``power_limiting``), whether the output is switched on, and ``warnings`` (vendor warnings the
    module survives; see the module docstring)."""

    faults: frozenset[str]
    states: frozenset[str]
    output_on: bool
    warnings: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Reply:
    """One decoded frame from a module. ``kind`` says which fields are set:

    ``voltage`` / ``current`` (present output), ``status``, ``capabilities`` (a dict for
    :meth:`describe`), ``count`` (modules in the group), ``rejected`` (the module refused a
    command; ``detail`` says which)."""

    address: int
    kind: str
    voltage_v: float | None = None
    current_a: float | None = None
    status: ModuleStatus | None = None
    info: dict[str, Any] | None = None
    count: int | None = None
    detail: str = ""


@dataclass(slots=True)
class _ModuleState:
    """What one module last told us, with monotonic/UTC receive times (``None`` = never)."""

    address: int
    voltage_v: float | None = None
    voltage_at: tuple[float, datetime] | None = None
    current_a: float | None = None
    current_at: tuple[float, datetime] | None = None
    status: ModuleStatus | None = None
    status_at: tuple[float, datetime] | None = None
    last_heard: float | None = None
    reported: dict[str, Any] = field(default_factory=dict)
    rejected_commands: int = 0
    offline: bool = False


class ModuleGroupDriver(DcPowerModule):
    """Base of the CAN module-group drivers; a family implements the ``_encode_*`` and
    ``_decode`` hooks and sets ``family``."""

    Options: ClassVar[type[msgspec.Struct]] = GroupOptions
    bus_kind: ClassVar[str | None] = "can"
    requires_address: ClassVar[bool] = False
    #: Human name of the protocol family (logs, describe()).
    family: ClassVar[str] = "?"

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        opts = config.options
        assert isinstance(opts, GroupOptions)
        self.opts: GroupOptions = opts
        self._modules = {addr: _ModuleState(addr) for addr in opts.modules}
        self._state_lock = threading.Lock()
        self._target: tuple[float, float] | None = None
        self._on = False
        #: monotonic time of the last off -> on command (a status older than this plus one
        #: poll may still show the output off without meaning anything)
        self._on_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: int | None = None
        self._started_at: float | None = None
        self._reported_count: int | None = None
        self._last_summary: tuple[frozenset[str], bool] | None = None
        self._last_warnings: frozenset[str] = frozenset()

    # -- family hooks ------------------------------------------------------------------------
    @abstractmethod
    def _listen_filter(self) -> tuple[int, int]:
        """``(can_id, mask)`` matching the frames addressed to this controller."""

    @abstractmethod
    def _encode_setpoint(self, address: int, voltage_v: float, current_a: float) -> list[can.Message]:
        """Frames setting one module's voltage and current limit."""

    @abstractmethod
    def _encode_on_off(self, address: int, on: bool) -> list[can.Message]:
        """Frames switching one module's output."""

    @abstractmethod
    def _encode_poll(self, address: int) -> list[can.Message]:
        """Frames asking one module for its output and status."""

    def _encode_setup(self) -> list[can.Message]:
        """Frames sent once at setup (identification, capability and count queries)."""
        return []

    @abstractmethod
    def _decode(self, msg: can.Message) -> Reply | None:
        """Decode one received frame (``None``: not ours / not understood). Raise ``ValueError``
        for a malformed frame of ours. Runs on the bus's receive thread: no I/O."""

    # -- capabilities ------------------------------------------------------------------------
    @property
    def capabilities(self) -> DcCapabilities:
        n = len(self.opts.modules)
        return DcCapabilities(
            max_voltage_v=self.opts.module_max_voltage_v,
            min_voltage_v=self.opts.module_min_voltage_v,
            max_current_a=self.opts.module_max_current_a * n,
            min_current_a=self.opts.module_min_current_a,
            max_power_w=self.opts.module_max_power_w * n,
        )

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def bus(self) -> CanBus:
        bus = self.config.bus
        if not isinstance(bus, CanBus):
            raise self.error(f"needs a bus of kind 'can', got {type(bus).__name__}")
        return bus

    def setup(self) -> None:
        """Listen for the modules' replies, switch them off (known state), start polling."""
        bus = self.bus
        if self._thread is not None:
            return
        can_id, mask = self._listen_filter()
        self._listener = bus.add_listener(self._on_frame, can_id=can_id, mask=mask, extended=True)
        self._started_at = time.monotonic()
        self._stop.clear()
        try:
            self._send_on_off(False)
            self._send_frames(self._encode_setup())
        except DeviceError as exc:
            # A CAN link that is down at boot must not keep the rest of the board (an AC EVSE,
            # the bridge) from starting: polling keeps trying, and the silence surfaces as
            # DeviceOffline -> hardware_fault for this EVSE only.
            log.warning("%s setup send failed device=%s error=%s", self.family, self.device_id, exc)
        self._thread = threading.Thread(target=self._poll_loop, name=f"dcgroup-{self.device_id}", daemon=True)
        self._thread.start()
        log.info(
            "dc module group up family=%s device=%s modules=%s bus=%s",
            self.family,
            self.device_id,
            self.opts.modules,
            bus.describe(),
        )

    def release(self) -> None:
        """Stop polling and switch every module off (best effort). Never raises."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._on = False
        try:
            self._send_on_off(False)
        except Exception as exc:  # release never raises; the modules' watchdog switches off too
            log.warning("%s off on release failed device=%s error=%s", self.family, self.device_id, exc)
        if self._listener is not None:
            try:
                self.bus.remove_listener(self._listener)
            except DeviceError:
                pass
            self._listener = None

    # -- commands ----------------------------------------------------------------------------
    def set_target(self, voltage_v: float, current_a: float) -> None:
        """Set the group's output voltage and current limit (split over the modules).

        ``(0, 0)`` is accepted as "idle". Anything outside the group's capabilities raises
        :class:`DeviceError` and sends nothing. A current above what the power limit allows at
        that voltage is reduced to it (the modules would limit it themselves anyway).
        """
        caps = self.capabilities
        if not (isinstance(voltage_v, int | float) and isinstance(current_a, int | float)):
            raise self.error(f"set_target needs numbers, got {voltage_v!r} / {current_a!r}")
        if not (math.isfinite(voltage_v) and math.isfinite(current_a)):
            raise self.error(f"set_target needs finite values, got {voltage_v} V / {current_a} A")
        idle = voltage_v == 0 and current_a == 0
        if not idle and not caps.min_voltage_v <= voltage_v <= caps.max_voltage_v:
            raise self.error(
                f"target voltage {voltage_v} V outside {caps.min_voltage_v}..{caps.max_voltage_v} V"
            )
        if not 0 <= current_a <= caps.max_current_a:
            raise self.error(f"target current {current_a} A outside 0..{caps.max_current_a} A")
        if voltage_v > 0 and voltage_v * current_a > caps.max_power_w:
            limited = caps.max_power_w / voltage_v
            log.info(
                "dc group power limit device=%s requested_a=%.1f limited_a=%.1f voltage_v=%.1f",
                self.device_id,
                current_a,
                limited,
                voltage_v,
            )
            current_a = limited
        with self._state_lock:
            self._target = (float(voltage_v), float(current_a))
        self._send_targets()

    def enable(self, on: bool) -> None:
        """Switch the group's output on or off. Off is sent to every module, answering or not."""
        if on and self._target is None:
            raise self.error("enable(True) before set_target(): refusing to switch on without a set-point")
        if on and not self._on:
            self._on_since = time.monotonic()
        self._on = bool(on)
        try:
            self._send_on_off(bool(on))
        except DeviceError:
            if on:
                # The caller will treat the output as off: make sure the poll thread's re-send
                # does not switch on later behind its back.
                self._on = False
                try:
                    self._send_on_off(False)
                except DeviceError:
                    pass
            raise
        log.info("dc group output device=%s on=%s", self.device_id, self._on)

    # -- reading -----------------------------------------------------------------------------
    def read(self) -> DcSample:
        """The group's output as last reported, timestamped with the oldest reply used."""
        now = time.monotonic()
        with self._state_lock:
            modules = list(self._modules.values())
            fresh = [m for m in modules if self._is_fresh(m, now)]
        if not fresh:
            started = self._started_at
            if started is None:
                raise self.error("read() before setup()")
            heard_any = any(m.last_heard is not None for m in modules)
            if not heard_any and now - started <= self.opts.offline_after_s:
                raise self.error("no status received from the modules yet", DeviceTimeout)
            raise self.error(
                f"no reply from modules {self._addresses(modules)} for more than "
                f"{self.opts.offline_after_s:g} s",
                DeviceOffline,
            )
        faults: set[str] = set()
        warnings: set[str] = set()
        for m in fresh:
            assert m.status is not None
            faults |= m.status.faults
            if self._stopped_delivering(m):
                faults |= m.status.warnings
            else:
                warnings |= m.status.warnings
        if any(self._is_missing(m, now) for m in modules):
            faults.add(MODULE_OFFLINE)
        times = [t for m in fresh for t in (m.voltage_at, m.current_at, m.status_at) if t is not None]
        taken_at, utc = min(times, key=lambda t: t[0])
        # Paralleled outputs share one voltage; a module that is off may report its own stage
        # at 0 V, so the highest report is the output voltage (and the safe side to err on).
        return DcSample(
            taken_at=taken_at,
            utc=utc,
            voltage_v=max(m.voltage_v or 0.0 for m in fresh),
            current_a=sum(m.current_a or 0.0 for m in fresh),
            enabled=any(m.status.output_on for m in fresh if m.status is not None),
            faults=frozenset(faults),
            warnings=frozenset(warnings - faults),
        )

    def describe(self) -> dict[str, Any]:
        with self._state_lock:
            reported = {f"0x{m.address:02X}": dict(m.reported) for m in self._modules.values() if m.reported}
            rejected = sum(m.rejected_commands for m in self._modules.values())
            states = {
                f"0x{m.address:02X}": sorted(m.status.states)
                for m in self._modules.values()
                if m.status is not None and m.status.states
            }
            warnings = {
                f"0x{m.address:02X}": sorted(m.status.warnings)
                for m in self._modules.values()
                if m.status is not None and m.status.warnings
            }
        return {
            "family": self.family,
            "modules": [f"0x{a:02X}" for a in self.opts.modules],
            "reported_module_count": self._reported_count,
            "reported_capabilities": reported,
            "module_states": states,
            "module_warnings": warnings,
            "rejected_commands": rejected,
        }

    # -- internals ---------------------------------------------------------------------------
    def _stopped_delivering(self, m: _ModuleState) -> bool:
        """The module reports its output off while the group is on, in a status received at
        least one poll after the on command (the first status after switching on may predate
        it). Called with ``_state_lock`` held or on a snapshot."""
        on_since = self._on_since
        if not self._on or on_since is None or m.status is None or m.status_at is None:
            return False
        return not m.status.output_on and m.status_at[0] > on_since + self.opts.poll_interval_s

    def _is_fresh(self, m: _ModuleState, now: float) -> bool:
        """A module counts once it sent output and status replies, until it goes quiet."""
        return (
            m.status is not None
            and m.voltage_at is not None
            and m.current_at is not None
            and m.last_heard is not None
            and now - m.last_heard <= self.opts.offline_after_s
        )

    def _is_missing(self, m: _ModuleState, now: float) -> bool:
        """Silent past ``offline_after_s`` -- counted from setup for a module never heard."""
        since = m.last_heard if m.last_heard is not None else self._started_at
        return since is not None and now - since > self.opts.offline_after_s

    @staticmethod
    def _addresses(modules: list[_ModuleState]) -> str:
        return "[" + ", ".join(f"0x{m.address:02X}" for m in modules) + "]"

    def _send_frames(self, frames: list[can.Message]) -> None:
        """Send frames in order; try them all before raising the first failure."""
        failure: DeviceError | None = None
        for msg in frames:
            try:
                self.bus.send(msg)
            except BusError as exc:
                failure = failure or self.error(exc.detail, BusError)
        if failure is not None:
            raise failure

    def _send_each(self, frames_for: Callable[[int], list[can.Message]]) -> None:
        """``frames_for(address)`` for every module of the group, sent in one go."""
        self._send_frames([msg for addr in self.opts.modules for msg in frames_for(addr)])

    def _send_on_off(self, on: bool) -> None:
        self._send_frames([msg for addr in self.opts.modules for msg in self._encode_on_off(addr, on)])

    def _send_targets(self) -> None:
        with self._state_lock:
            target = self._target
            now = time.monotonic()
            answering = [m.address for m in self._modules.values() if self._is_fresh(m, now)]
        if target is None:
            return
        voltage, current = target
        # Split over the modules that answer; before any answer (or when none does) assume all.
        share_count = len(answering) or len(self.opts.modules)
        share = min(current / share_count, self.opts.module_max_current_a)
        self._send_each(lambda addr: self._encode_setpoint(addr, voltage, share))

    def _on_frame(self, msg: can.Message) -> None:
        """Runs on the CAN receive thread: decode and store, nothing slow."""
        try:
            reply = self._decode(msg)
        except ValueError as exc:
            log.warning(
                "%s bad reply device=%s id=0x%08X error=%s",
                self.family,
                self.device_id,
                msg.arbitration_id,
                exc,
            )
            return
        if reply is None:
            return
        if reply.kind == "count":
            self._reported_count = reply.count
            if reply.count != len(self.opts.modules):
                log.warning(
                    "%s group count mismatch device=%s reported=%s configured=%d",
                    self.family,
                    self.device_id,
                    reply.count,
                    len(self.opts.modules),
                )
            return
        module = self._modules.get(reply.address)
        if module is None:
            return  # a module of another group on the same bus
        received = (time.monotonic(), datetime.now(UTC))
        with self._state_lock:
            module.last_heard = received[0]
            if reply.kind == "rejected":
                module.rejected_commands += 1
                log.warning(
                    "%s command rejected device=%s module=0x%02X %s",
                    self.family,
                    self.device_id,
                    reply.address,
                    reply.detail,
                )
            if reply.voltage_v is not None:
                module.voltage_v, module.voltage_at = reply.voltage_v, received
            if reply.current_a is not None:
                module.current_a, module.current_at = reply.current_a, received
            if reply.status is not None:
                module.status, module.status_at = reply.status, received
            if reply.info:
                module.reported.update(reply.info)

    def _poll_loop(self) -> None:
        failing = False
        while not self._stop.is_set():
            cycle_start = time.monotonic()
            try:
                if self.opts.resend_setpoints:
                    self._send_targets()
                    self._send_on_off(self._on)
                self._send_each(self._encode_poll)
            except DeviceError as exc:
                # The bus is down; keep trying. Silence will turn into DeviceOffline by itself.
                # One line when it starts failing and one when it recovers, not one per poll.
                if not failing:
                    log.warning("%s poll send failing device=%s error=%s", self.family, self.device_id, exc)
                failing = True
            else:
                if failing:
                    log.warning("%s poll send recovered device=%s", self.family, self.device_id)
                failing = False
            self._report_changes()
            elapsed = time.monotonic() - cycle_start
            self._stop.wait(max(0.0, self.opts.poll_interval_s - elapsed))

    def _report_changes(self) -> None:
        """Log module online/offline transitions and fault changes; notify the core on change."""
        now = time.monotonic()
        changed = False
        with self._state_lock:
            for m in self._modules.values():
                silent = self._is_missing(m, now)
                if silent != m.offline:
                    m.offline = silent
                    changed = True
                    log.warning(
                        "%s module %s device=%s module=0x%02X",
                        self.family,
                        "offline" if silent else "back online",
                        self.device_id,
                        m.address,
                    )
            faults = frozenset(
                f"0x{m.address:02X}:{f}"
                for m in self._modules.values()
                if m.status is not None and not m.offline
                for f in m.status.faults
            )
            warnings = frozenset(
                f"0x{m.address:02X}:{w}"
                for m in self._modules.values()
                if m.status is not None and not m.offline
                for w in m.status.warnings
            )
            any_offline = any(m.offline for m in self._modules.values())
        if warnings != self._last_warnings:
            # A warning does not stop the charge, but the operator must see it come and go.
            log.warning(
                "%s warnings device=%s warnings=%s", self.family, self.device_id, sorted(warnings) or "none"
            )
            self._last_warnings = warnings
            changed = True
        summary = (faults, any_offline)
        if summary != self._last_summary:
            if self._last_summary is not None and faults != self._last_summary[0]:
                log.warning(
                    "%s faults device=%s faults=%s", self.family, self.device_id, sorted(faults) or "none"
                )
            changed = changed or self._last_summary is not None
            self._last_summary = summary
        if changed:
            self.notify()
