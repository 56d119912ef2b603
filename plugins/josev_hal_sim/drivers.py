"""Simulated drivers, one per device role, all acting on a shared :class:`~josev_hal_sim.world.SimWorld`.

They behave like real drivers from the core's point of view: commands take effect after the
configured delays, readings are measured (with noise where a real ADC has it) and carry the time
they were taken, an offline meter raises :class:`~josev_hal.errors.DeviceOffline`, and changes
the core did not cause itself are pushed with :meth:`~josev_hal.devices.Driver.notify`.

Every driver takes the option ``world`` (see :mod:`josev_hal_sim.registry`); the other options
are documented on each ``Options`` Struct.
"""

from __future__ import annotations

import logging
import random
from typing import Annotated, Any, Literal

import msgspec

from josev_hal.devices import (
    ConnectorLock,
    Contactor,
    ContactorSample,
    ControlPilot,
    CpMode,
    CpOutput,
    CpSample,
    DcCapabilities,
    DcPowerModule,
    DcSample,
    DeviceConfig,
    DigitalInput,
    Driver,
    IdToken,
    IdTokenReader,
    InputSample,
    IsolationMonitor,
    IsolationSample,
    LockSample,
    Meter,
    MeterReading,
    PhaseValues,
    PpSample,
    ProximityPilot,
    Rcd,
    RcdSample,
    TemperatureSample,
    TemperatureSensor,
    now_reading_times,
)
from josev_hal.errors import DeviceOffline
from josev_hal_sim.registry import WorldRegistry, default_registry, world_key
from josev_hal_sim.world import SimWorld

__all__ = [
    "DRIVERS",
    "SimConnectorLock",
    "SimContactor",
    "SimControlPilot",
    "SimGridInput",
    "SimIdTokenReader",
    "SimIsolationMonitor",
    "SimMainsMeter",
    "SimMeter",
    "SimPhaseContactor",
    "SimPowerModule",
    "SimProximityPilot",
    "SimRcd",
    "SimTemperatureSensor",
]

log = logging.getLogger(__name__)

NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
CableRating = Literal[13, 20, 32, 63, 70]


class SimOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Options every sim driver accepts."""

    # Registry key of the shared world; default "<evse_id>/<connector_id>".
    world: str | None = None


class _SimDevice(Driver):
    """Attaches to the shared world in :meth:`setup`, detaches in :meth:`release`."""

    options: Any

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        self._world: SimWorld | None = None
        self._registry: WorldRegistry | None = None

    @property
    def world(self) -> SimWorld:
        """The shared world; raises DeviceError before :meth:`setup`."""
        world = self._world
        if world is None:
            raise self.error("simulated device is not set up (setup() not called, or already released)")
        return world

    def setup(self) -> None:
        if self._world is not None:
            return
        registry = default_registry()
        key = world_key(self.options.world, self.config.evse_id, self.config.connector_id)
        world = registry.attach(key, evse_id=self.config.evse_id, connector_id=self.config.connector_id)
        with world.lock:
            self._configure(world)
        world.subscribe(self.role.value, self.notify)
        self._world, self._registry = world, registry
        log.debug("sim device=%s world=%s set up", self.device_id, key)

    def release(self) -> None:
        world, registry = self._world, self._registry
        if world is None or registry is None:
            return
        try:
            self._make_safe(world)
        except Exception:  # release never raises
            log.exception("sim device=%s could not be made safe on release", self.device_id)
        world.unsubscribe(self.role.value, self.notify)
        registry.detach(world)
        self._world = self._registry = None

    def _configure(self, world: SimWorld) -> None:
        """Apply this driver's options to its part of the world (called under the world lock)."""

    def _make_safe(self, world: SimWorld) -> None:
        """Leave the simulated hardware safe on release."""

    def describe(self) -> dict[str, Any]:
        key = world_key(self.options.world, self.config.evse_id, self.config.connector_id)
        return {"model": f"josev-hal simulator ({self.role.value})", "world": key}


# ----------------------------------------------------------------------------------------------
# Control pilot
# ----------------------------------------------------------------------------------------------


class SimCpOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    # Gaussian noise (standard deviation) added to each plateau, like an ADC's.
    noise_v: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.05
    # Seed of the noise generator (None: random), so a test can reproduce a run.
    seed: int | None = None
    # False models a board that samples only the positive plateau (no diode check possible).
    measure_negative: bool = True
    # The simulated EV: current it draws (per phase), its phase count and battery voltage (DC).
    ev_draw_a: Annotated[float, msgspec.Meta(ge=0, le=500)] = 32.0
    ev_phases: Literal[1, 3] = 3
    ev_battery_v: Annotated[float, msgspec.Meta(ge=0, le=1500)] = 400.0


class SimControlPilot(_SimDevice, ControlPilot):
    """CP generator and measurement; plateaus come from the EV's resistor network."""

    Options = SimCpOptions
    options: SimCpOptions

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        self._rng = random.Random(self.options.seed)

    def _configure(self, world: SimWorld) -> None:
        world.ev.draw_a = self.options.ev_draw_a
        world.ev.phases = self.options.ev_phases
        world.ev.battery_v = self.options.ev_battery_v

    def _make_safe(self, world: SimWorld) -> None:
        world.set_cp(CpMode.X1)

    def _noisy(self, value: float) -> float:
        sigma = self.options.noise_v
        return value + self._rng.gauss(0.0, sigma) if sigma > 0 else value

    def read(self) -> CpSample:
        positive, negative, duty = self.world.cp_plateaus()
        taken_at, utc = now_reading_times()
        measured_negative = (
            self._noisy(negative) if negative is not None and self.options.measure_negative else None
        )
        return CpSample(
            taken_at=taken_at,
            utc=utc,
            positive_v=self._noisy(positive),
            negative_v=measured_negative,
            duty_percent=duty,
        )

    def set_pwm(self, duty_percent: float) -> None:
        if not 0.0 < duty_percent <= 100.0:
            raise self.error(f"duty {duty_percent} % out of range (0 < duty <= 100)")
        if duty_percent >= 100.0:
            self.world.set_cp(CpMode.X1)
        else:
            self.world.set_cp(CpMode.PWM, float(duty_percent))

    def set_x1(self) -> None:
        self.world.set_cp(CpMode.X1)

    def set_state_e(self) -> None:
        self.world.set_cp(CpMode.STATE_E)

    def set_state_f(self) -> None:
        self.world.set_cp(CpMode.STATE_F)

    @property
    def output(self) -> CpOutput:
        world = self.world
        with world.lock:  # mode and duty change together
            mode, duty = world.cp.mode, world.cp.duty_percent
        return CpOutput(mode, duty if mode is CpMode.PWM else None)


# ----------------------------------------------------------------------------------------------
# Proximity pilot
# ----------------------------------------------------------------------------------------------


class SimPpOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    # Rating of the cable the simulated EV plugs in with (Type 2 Rc coding), unless the plug
    # command names another.
    cable_a: CableRating = 32
    # Relative noise on Rc (0.01 = 1 %).
    noise_fraction: Annotated[float, msgspec.Meta(ge=0, le=0.05)] = 0.005
    seed: int | None = None
    # True models a board whose MCU decodes the ampacity itself (PpSample.ampacity_a is set).
    report_ampacity: bool = False


class SimProximityPilot(_SimDevice, ProximityPilot):
    """Rc between PP and PE of the plugged cable (None when nothing is plugged)."""

    Options = SimPpOptions
    options: SimPpOptions

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        self._rng = random.Random(self.options.seed)

    def _configure(self, world: SimWorld) -> None:
        world.ev.cable_a = self.options.cable_a

    def read(self) -> PpSample:
        world = self.world
        rc = world.pp_resistance()
        taken_at, utc = now_reading_times()
        if rc is None:
            return PpSample(taken_at=taken_at, utc=utc, resistance_ohm=None)
        noise = self.options.noise_fraction
        measured = rc * (1.0 + self._rng.gauss(0.0, noise)) if noise > 0 else rc
        ampacity = float(world.ev.cable_a) if self.options.report_ampacity and world.ev.cable_a else None
        return PpSample(taken_at=taken_at, utc=utc, resistance_ohm=measured, ampacity_a=ampacity)


# ----------------------------------------------------------------------------------------------
# Contactor
# ----------------------------------------------------------------------------------------------


class SimContactorOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    # Time from the command until the mirror contact follows.
    close_delay_ms: Annotated[float, msgspec.Meta(ge=0, le=5000)] = 30.0
    open_delay_ms: Annotated[float, msgspec.Meta(ge=0, le=5000)] = 20.0
    # False models a contactor without a mirror contact (feedback_closed is None).
    has_feedback: bool = True


class _SimRelay(_SimDevice, Contactor):
    """A simulated contactor with an optional mirror contact: the main contactor and the phase
    contactor differ only in which relay of the world they drive, so the Contactor behaviour
    (commands, sample, safe state on release) is written once here."""

    Options = SimContactorOptions
    options: SimContactorOptions

    def _command(self, world: SimWorld, closed: bool) -> None:
        """Command this relay of ``world``."""
        raise NotImplementedError

    def _state(self, world: SimWorld) -> tuple[bool, bool]:
        """``(commanded closed, mirror contact closed)`` of this relay of ``world``."""
        raise NotImplementedError

    def _make_safe(self, world: SimWorld) -> None:
        self._command(world, False)

    @property
    def has_feedback(self) -> bool:
        return self.options.has_feedback

    def close(self) -> None:
        self._command(self.world, True)

    def open(self) -> None:
        self._command(self.world, False)

    def read(self) -> ContactorSample:
        commanded, feedback = self._state(self.world)
        taken_at, utc = now_reading_times()
        return ContactorSample(
            taken_at=taken_at,
            utc=utc,
            commanded_closed=commanded,
            feedback_closed=feedback if self.options.has_feedback else None,
        )


class SimContactor(_SimRelay):
    """Main contactor with a mirror contact; can be welded by the ``weld_contactor`` command."""

    def _configure(self, world: SimWorld) -> None:
        world.relay.close_delay_s = self.options.close_delay_ms / 1000.0
        world.relay.open_delay_s = self.options.open_delay_ms / 1000.0
        world.relay.has_feedback = self.options.has_feedback

    def _command(self, world: SimWorld, closed: bool) -> None:
        world.command_relay(closed)

    def _state(self, world: SimWorld) -> tuple[bool, bool]:
        return world.relay_state()

    def open(self) -> None:
        # Opening must never fail for a reason we could avoid: without a world there is nothing
        # that could be closed.
        world = self._world
        if world is None:
            log.warning("sim device=%s open() before setup: nothing to open", self.device_id)
            return
        world.command_relay(False)


class SimPhaseContactor(_SimRelay):
    """The L2/L3 contactor of a 1p/3p switch (``phase_switch`` device): with it open the sim EV
    charges on one phase and the meter sees one phase. Starts open."""

    def _configure(self, world: SimWorld) -> None:
        o = self.options
        world.install_phase_switch(o.close_delay_ms / 1000.0, o.open_delay_ms / 1000.0, o.has_feedback)

    def _command(self, world: SimWorld, closed: bool) -> None:
        world.command_phase_relay(closed)

    def _state(self, world: SimWorld) -> tuple[bool, bool]:
        return world.phase_relay_state()


# ----------------------------------------------------------------------------------------------
# RCD
# ----------------------------------------------------------------------------------------------


class SimRcdOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    # The trip output stays active after the residual current is gone, until reset().
    latching: bool = False
    # The trip output opens the contactor in hardware (in the coil path), as IEC 62955 wants.
    hardware_cutoff: bool = True
    self_test_passes: bool = True


class SimRcd(_SimDevice, Rcd):
    """RDC-DD that trips on ``rcd_trip`` and releases on ``rcd_clear`` (or reset() if latching)."""

    Options = SimRcdOptions
    options: SimRcdOptions

    def _configure(self, world: SimWorld) -> None:
        world.rcd.latching = self.options.latching
        world.rcd.hardware_cutoff = self.options.hardware_cutoff
        world.rcd.self_test_passes = self.options.self_test_passes

    def read(self) -> RcdSample:
        tripped, residual = self.world.rcd_state()
        taken_at, utc = now_reading_times()
        return RcdSample(taken_at=taken_at, utc=utc, tripped=tripped, residual_ma=residual)

    def self_test(self, timeout_s: float = 2.0) -> bool:
        return self.world.rcd_self_test()

    def reset(self) -> None:
        self.world.rcd_reset()


# ----------------------------------------------------------------------------------------------
# Meter
# ----------------------------------------------------------------------------------------------


class SimMeterOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    # "ac": per-phase V/I from the EV draw and the PWM offer; "dc": V/I of the power module.
    kind: Literal["ac", "dc"] = "ac"
    nominal_voltage_v: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 230.0
    phases: Literal[1, 3] = 3
    frequency_hz: Annotated[float, msgspec.Meta(gt=0)] = 50.0


class SimMeter(_SimDevice, Meter):
    """Energy meter integrating V·I over monotonic time; ``meter_offline`` makes read() raise."""

    Options = SimMeterOptions
    options: SimMeterOptions

    def _configure(self, world: SimWorld) -> None:
        world.meter.kind = self.options.kind
        world.meter.nominal_voltage_v = self.options.nominal_voltage_v
        world.meter.phases = self.options.phases
        world.meter.frequency_hz = self.options.frequency_hz

    def read(self) -> MeterReading:
        values = self.world.meter_values()
        if values is None:
            # Never a cached value: the core must see the meter as gone.
            raise self.error("meter does not answer (simulated offline)", DeviceOffline)
        volts, amps, power, energy, frequency, _ = values
        taken_at, utc = now_reading_times()
        if self.options.kind == "dc":
            return MeterReading(
                taken_at=taken_at,
                utc=utc,
                power_w=power,
                energy_import_wh=energy,
                energy_export_wh=0.0,
                dc_voltage_v=volts.l1,
                dc_current_a=amps.l1,
            )
        return MeterReading(
            taken_at=taken_at,
            utc=utc,
            voltage_v=volts,
            current_a=amps,
            power_w=power,
            energy_import_wh=energy,
            energy_export_wh=0.0,
            frequency_hz=frequency,
            power_factor=1.0,
        )


# ----------------------------------------------------------------------------------------------
# Connector lock
# ----------------------------------------------------------------------------------------------


class SimLockOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    # Time for the lock motor to move and its feedback to follow.
    delay_ms: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 200.0
    has_feedback: bool = True


class SimConnectorLock(_SimDevice, ConnectorLock):
    Options = SimLockOptions
    options: SimLockOptions

    def _configure(self, world: SimWorld) -> None:
        world.door.delay_s = self.options.delay_ms / 1000.0
        world.door.has_feedback = self.options.has_feedback

    def _make_safe(self, world: SimWorld) -> None:
        world.command_lock(False)

    def lock(self) -> None:
        self.world.command_lock(True)

    def unlock(self) -> None:
        self.world.command_lock(False)

    def read(self) -> LockSample:
        commanded, locked = self.world.lock_state()
        taken_at, utc = now_reading_times()
        return LockSample(
            taken_at=taken_at,
            utc=utc,
            commanded_locked=commanded,
            locked=locked if self.options.has_feedback else None,
        )


# ----------------------------------------------------------------------------------------------
# RFID reader
# ----------------------------------------------------------------------------------------------


class SimIdReaderOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    token_type: str = "ISO14443"


class SimIdTokenReader(_SimDevice, IdTokenReader):
    """Returns the UIDs queued by the ``rfid`` command, oldest first; notifies on each."""

    Options = SimIdReaderOptions
    options: SimIdReaderOptions

    def poll(self) -> IdToken | None:
        uid = self.world.pop_token()
        if uid is None:
            return None
        taken_at, utc = now_reading_times()
        return IdToken(taken_at=taken_at, utc=utc, uid=uid, type=self.options.token_type)


# ----------------------------------------------------------------------------------------------
# DC power module
# ----------------------------------------------------------------------------------------------


class SimPowerModuleOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    max_voltage_v: Positive = 1000.0
    min_voltage_v: NonNegative = 150.0
    max_current_a: Positive = 125.0
    min_current_a: NonNegative = 0.0
    max_power_w: Positive = 50_000.0
    # How fast the output follows a new set-point.
    voltage_ramp_v_per_s: Positive = 500.0
    current_ramp_a_per_s: Positive = 100.0


class SimPowerModule(_SimDevice, DcPowerModule):
    """A power module (group) that ramps to its set-points; current flows once the contactor is
    closed and the EV requests power (state C/D)."""

    Options = SimPowerModuleOptions
    options: SimPowerModuleOptions

    def _configure(self, world: SimWorld) -> None:
        o, pm = self.options, world.pm
        pm.max_voltage_v, pm.min_voltage_v = o.max_voltage_v, o.min_voltage_v
        pm.max_current_a, pm.min_current_a, pm.max_power_w = o.max_current_a, o.min_current_a, o.max_power_w
        pm.voltage_ramp_v_per_s, pm.current_ramp_a_per_s = o.voltage_ramp_v_per_s, o.current_ramp_a_per_s

    def _make_safe(self, world: SimWorld) -> None:
        world.pm_enable(False)

    @property
    def capabilities(self) -> DcCapabilities:
        o = self.options
        return DcCapabilities(
            max_voltage_v=o.max_voltage_v,
            min_voltage_v=o.min_voltage_v,
            max_current_a=o.max_current_a,
            min_current_a=o.min_current_a,
            max_power_w=o.max_power_w,
        )

    def set_target(self, voltage_v: float, current_a: float) -> None:
        o = self.options
        # A real module rejects set-points outside its range; so does the simulated one.
        if voltage_v != 0.0 and not o.min_voltage_v <= voltage_v <= o.max_voltage_v:
            raise self.error(f"voltage set-point {voltage_v} V outside {o.min_voltage_v}-{o.max_voltage_v} V")
        if not 0.0 <= current_a <= o.max_current_a:
            raise self.error(f"current set-point {current_a} A outside 0-{o.max_current_a} A")
        self.world.pm_set_target(float(voltage_v), float(current_a))

    def enable(self, on: bool) -> None:
        self.world.pm_enable(bool(on))

    def read(self) -> DcSample:
        voltage, current, enabled, faults = self.world.pm_state()
        taken_at, utc = now_reading_times()
        return DcSample(
            taken_at=taken_at, utc=utc, voltage_v=voltage, current_a=current, enabled=enabled, faults=faults
        )


# ----------------------------------------------------------------------------------------------
# Isolation monitor
# ----------------------------------------------------------------------------------------------


class SimImdOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    # Duration of one insulation measurement (the cable check) before a result is available.
    measure_ms: Annotated[float, msgspec.Meta(ge=0, le=60_000)] = 1000.0
    # Insulation resistance DC+/DC- to PE the simulated cable has (changed by the `isolation`
    # control command).
    isolation_ohm: Positive = 5_000_000.0
    # Voltage the Ω/V thresholds refer to: >= 500 Ω/V valid, >= 100 Ω/V warning, else fault.
    test_voltage_v: Positive = 500.0
    self_test_passes: bool = True
    # 0: measure with the IMD's own test voltage. Above 0: a result needs at least this voltage
    # on the DC cable (contactor closed, module at the cable-check voltage) for measure_ms, and
    # the Ω/V thresholds refer to the cable voltage (IEC 61851-23 cable check).
    min_voltage_v: NonNegative = 0.0


class SimIsolationMonitor(_SimDevice, IsolationMonitor):
    """IMD: after start() it reports ``measuring`` with no resistance for ``measure_ms``, then the
    resistance and its status while it keeps monitoring; stop() ends monitoring (the last status
    stays readable, resistance None)."""

    Options = SimImdOptions
    options: SimImdOptions

    def _configure(self, world: SimWorld) -> None:
        world.imd.measure_s = self.options.measure_ms / 1000.0
        world.imd.isolation_ohm = self.options.isolation_ohm
        world.imd.test_voltage_v = self.options.test_voltage_v
        world.imd.self_test_passes = self.options.self_test_passes
        world.imd.min_voltage_v = self.options.min_voltage_v

    def _make_safe(self, world: SimWorld) -> None:
        world.imd_stop()

    def start(self) -> None:
        self.world.imd_start()

    def stop(self) -> None:
        self.world.imd_stop()

    def self_test(self) -> bool:
        return self.world.imd.self_test_passes

    def read(self) -> IsolationSample:
        resistance, status, measuring = self.world.imd_state()
        taken_at, utc = now_reading_times()
        return IsolationSample(
            taken_at=taken_at, utc=utc, resistance_ohm=resistance, status=status, measuring=measuring
        )


# ----------------------------------------------------------------------------------------------
# Temperature
# ----------------------------------------------------------------------------------------------


class SimTemperatureOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    # Names of the simulated sensors (changed with the `temperature` control command).
    sensors: Annotated[list[Annotated[str, msgspec.Meta(min_length=1)]], msgspec.Meta(min_length=1)] = (
        msgspec.field(default_factory=lambda: ["socket"])
    )
    start_celsius: Annotated[float, msgspec.Meta(ge=-60, le=250)] = 25.0


class SimTemperatureSensor(_SimDevice, TemperatureSensor):
    """Temperature sensors of the world (``world.temperatures``); a disconnected one raises."""

    Options = SimTemperatureOptions
    options: SimTemperatureOptions

    def _configure(self, world: SimWorld) -> None:
        for name in self.options.sensors:
            world.temperatures.setdefault(name, self.options.start_celsius)

    def read(self) -> TemperatureSample:
        world = self.world
        taken_at, utc = now_reading_times()
        with world.lock:
            values = [(name, world.temperatures.get(name)) for name in self.options.sensors]
        out = []
        for name, celsius in values:
            if celsius is None:
                raise self.error(f"sensor {name}: not connected")
            out.append((name, celsius))
        return TemperatureSample(taken_at=taken_at, utc=utc, celsius=tuple(out))


# ----------------------------------------------------------------------------------------------
# Station-level devices: the grid operator's input and the mains meter
# ----------------------------------------------------------------------------------------------


class SimGridInputOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    # Reading the input fails (a broken wire to the control box): read() raises.
    broken: bool = False


class SimGridInput(_SimDevice, DigitalInput):
    """The grid operator's control box output (``grid_limit`` control command)."""

    Options = SimGridInputOptions
    options: SimGridInputOptions

    def read(self) -> InputSample:
        if self.options.broken:
            raise self.error("grid limit input not readable (simulated broken wire)")
        world = self.world
        with world.lock:
            active = world.grid_limit_active
        taken_at, utc = now_reading_times()
        return InputSample(taken_at=taken_at, utc=utc, active=active)


class SimMainsMeterOptions(SimOptions, forbid_unknown_fields=True, kw_only=True):
    nominal_voltage_v: Positive = 230.0
    frequency_hz: Positive = 50.0


class SimMainsMeter(_SimDevice, Meter):
    """The meter at the grid connection: the house load (``house_load`` command, kept on this
    device's world) plus the current of every simulated AC connector in the registry, per phase.
    ``meter_offline`` on its world makes it stop answering."""

    Options = SimMainsMeterOptions
    options: SimMainsMeterOptions

    def read(self) -> MeterReading:
        world, registry = self.world, self._registry
        with world.lock:
            online, house = world.meter.online, world.house_a
        if not online:
            raise self.error("mains meter does not answer (simulated offline)", DeviceOffline)
        totals = [house.l1, house.l2, house.l3]
        for other in registry.worlds() if registry is not None else [world]:
            phases = other.phase_currents()
            totals = [t + c for t, c in zip(totals, (phases.l1, phases.l2, phases.l3), strict=True)]
        v = self.options.nominal_voltage_v
        taken_at, utc = now_reading_times()
        return MeterReading(
            taken_at=taken_at,
            utc=utc,
            voltage_v=PhaseValues(v, v, v),
            current_a=PhaseValues(*totals),
            power_w=sum(totals) * v,
            frequency_hz=self.options.frequency_hz,
        )


DRIVERS: dict[str, type[Driver]] = {
    "sim-cp": SimControlPilot,
    "sim-pp": SimProximityPilot,
    "sim-contactor": SimContactor,
    "sim-rcd": SimRcd,
    "sim-meter": SimMeter,
    "sim-lock": SimConnectorLock,
    "sim-id-reader": SimIdTokenReader,
    "sim-power-module": SimPowerModule,
    "sim-imd": SimIsolationMonitor,
    "sim-grid-input": SimGridInput,
    "sim-phase-contactor": SimPhaseContactor,
    "sim-mains-meter": SimMainsMeter,
    "sim-temperature": SimTemperatureSensor,
}
