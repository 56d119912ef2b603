"""The driver contract: what every driver of a role must do, checked against a running driver.

Used by josev-hal's own suite for its drivers and by plugin packages for theirs (through
:func:`josev_hal.testing.driver_contract_tests`). A *factory* builds the driver connected to its
bus-level simulated peer and may offer controls of that peer (:class:`PeerControls`); each check
that needs a control runs only when it is offered. The rules checked are the ones documented in
:mod:`josev_hal.devices`: readings carry ``taken_at``/``utc`` and are fresh, a contactor reports
closed only when its feedback confirms, a meter that cannot talk raises instead of returning an
old value, opening acts at once, and so on.

Factory protocol: ``factory(env: ContractEnv) -> ContextManager[Driver]`` builds the driver
**connected to its bus-level simulated peer** (a pymodbus server on a pty for a Modbus device,
python-can's ``virtual`` interface for CAN, a register-level chip simulator behind the smbus2 API
for I2C -- never a mock of the driver's own methods), calls ``driver.setup()`` before yielding and
``driver.release()`` afterwards (and stops its peer), may put files under ``env.tmp_path``, and
should fill in the controls of ``env.peer`` its peer supports. Keep factories fast and free of
wall-clock assumptions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from josev_hal.devices import (
    ConnectorLock,
    Contactor,
    ControlPilot,
    CpMode,
    DcPowerModule,
    DigitalInput,
    Driver,
    IdToken,
    IdTokenReader,
    InputSample,
    IsolationMonitor,
    IsolationSample,
    Meter,
    MeterReading,
    ProximityPilot,
    Rcd,
    Reading,
    TemperatureSample,
    TemperatureSensor,
)
from josev_hal.errors import DeviceError

__all__ = [
    "CHECKS",
    "ContractEnv",
    "Factory",
    "PeerControls",
    "check_reading",
    "eventually",
    "run_contract",
    "stays",
]


@dataclass
class PeerControls:
    """Hooks into the simulated peer that a factory offers to the per-role checks.

    Every control is optional (``None`` = not offered by this peer):

    * ``disconnect(True)`` makes the peer stop answering at the bus level (no Modbus reply, no CAN
      frames, I2C NACK); ``disconnect(False)`` brings it back. Used to prove a driver raises
      :class:`~josev_hal.errors.DeviceError` instead of returning an old value.
    * ``weld(True)``: the contactor's main contacts (and so its mirror contact) stay closed
      whatever the coil does; ``weld(False)`` heals it.
    * ``stick_open(True)``: the contactor never closes (coil fault); its feedback stays open.
    * ``present_token(uid)``: a card is held to the reader.
    * ``trip_rcd(True/False)``: the residual-current module trips / releases.
    * ``set_input(True/False)``: a digital input's source (a control box's relay) switches.
    """

    disconnect: Callable[[bool], None] | None = None
    weld: Callable[[bool], None] | None = None
    stick_open: Callable[[bool], None] | None = None
    present_token: Callable[[str], None] | None = None
    trip_rcd: Callable[[bool], None] | None = None
    set_input: Callable[[bool], None] | None = None


@dataclass
class ContractEnv:
    """What a factory receives: a private temp directory and the controls it may fill in."""

    tmp_path: Path
    driver_name: str
    peer: PeerControls = field(default_factory=PeerControls)


Factory = Callable[[ContractEnv], AbstractContextManager[Driver]]

#: Generous bound for a simulated peer to follow a command; a check never relies on it being fast.
FOLLOW_TIMEOUT_S = 3.0
#: A pulled reading must have been sampled at most this long before the call (CP windows average
#: a few PWM periods; nothing legitimately older is "fresh").
FRESH_SLACK_S = 1.0


def eventually(predicate: Callable[[], bool], what: str, timeout: float = FOLLOW_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.005)


def stays(predicate: Callable[[], bool], what: str, duration: float = 0.2) -> None:
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        assert predicate(), f"expected to stay true: {what}"
        time.sleep(0.005)


def check_reading(reading: Any, cls: type[Reading], before: float, *, pulled: bool = True) -> None:
    after = time.monotonic()
    assert isinstance(reading, cls), f"expected {cls.__name__}, got {type(reading).__name__}"
    assert reading.taken_at <= after, "reading claims to come from the future"
    if pulled:
        assert reading.taken_at >= before - FRESH_SLACK_S, "a pulled reading must be fresh, not cached"
    assert reading.utc.tzinfo is not None and reading.utc.utcoffset() == timedelta(0), "utc must be aware UTC"
    first = reading.age()
    assert first >= 0
    assert reading.age() >= first, "age() must grow"
    assert reading.age(now=reading.taken_at + 5.0) == pytest.approx(5.0)


def _mode(cp: ControlPilot) -> CpMode:
    """The output mode, read afresh (a call, so a type checker does not carry an earlier
    narrowing of ``cp.output.mode`` across the set_* calls that change it)."""
    return cp.output.mode


def check_control_pilot(cp: ControlPilot, peer: PeerControls) -> None:
    before = time.monotonic()
    sample = cp.read()
    from josev_hal.devices import CpSample

    check_reading(sample, CpSample, before)
    assert -15.0 <= sample.positive_v <= 15.0
    cp.set_pwm(10.0)
    eventually(
        lambda: cp.output.mode is CpMode.PWM and cp.output.duty_percent == pytest.approx(10.0), "PWM 10 %"
    )
    cp.set_state_f()
    assert _mode(cp) is CpMode.STATE_F, "state F must act immediately"
    cp.set_state_e()
    assert _mode(cp) is CpMode.STATE_E, "state E must act immediately"
    cp.set_x1()
    eventually(lambda: cp.output.mode is CpMode.X1, "X1")


def check_proximity_pilot(pp: ProximityPilot, peer: PeerControls) -> None:
    from josev_hal.devices import PpSample

    before = time.monotonic()
    sample = pp.read()
    check_reading(sample, PpSample, before)
    assert sample.resistance_ohm is None or sample.resistance_ohm >= 0
    assert sample.ampacity_a is None or sample.ampacity_a > 0


def check_contactor(contactor: Contactor, peer: PeerControls) -> None:
    from josev_hal.devices import ContactorSample

    def feedback() -> bool | None:
        return contactor.read().feedback_closed

    contactor.open()
    before = time.monotonic()
    sample = contactor.read()
    check_reading(sample, ContactorSample, before)
    assert sample.commanded_closed is False
    if not contactor.has_feedback:
        assert sample.feedback_closed is None, "a contactor without feedback must report feedback None"
    else:
        eventually(lambda: feedback() is False, "feedback open after open()")
    contactor.close()
    assert contactor.read().commanded_closed is True
    if contactor.has_feedback:
        eventually(lambda: feedback() is True, "feedback closed after close()")
    contactor.open()
    assert contactor.read().commanded_closed is False, "open() must act immediately"
    if contactor.has_feedback:
        eventually(lambda: feedback() is False, "feedback open after open()")
    if peer.stick_open is not None and contactor.has_feedback:
        # Closed is reported only when the mirror contact confirms it, never from the command.
        peer.stick_open(True)
        try:
            contactor.close()
            stays(lambda: feedback() is False, "feedback open while the contactor cannot close")
        finally:
            contactor.open()
            peer.stick_open(False)
    if peer.weld is not None and contactor.has_feedback:
        peer.weld(True)
        try:
            contactor.close()
            contactor.open()
            sample = contactor.read()
            assert sample.commanded_closed is False
            stays(lambda: feedback() is True, "a welded contactor keeps reporting closed feedback")
        finally:
            peer.weld(False)
        eventually(lambda: feedback() is False, "feedback open once the weld is gone")


def check_rcd(rcd: Rcd, peer: PeerControls) -> None:
    from josev_hal.devices import RcdSample

    before = time.monotonic()
    check_reading(rcd.read(), RcdSample, before)
    assert isinstance(rcd.self_test(), bool)
    if peer.trip_rcd is not None:
        peer.trip_rcd(True)
        eventually(lambda: rcd.read().tripped, "tripped after a residual current")
        peer.trip_rcd(False)
        rcd.reset()
        eventually(lambda: not rcd.read().tripped, "released after reset()")


def check_meter(meter: Meter, peer: PeerControls) -> None:
    before = time.monotonic()
    first = meter.read()
    check_reading(first, MeterReading, before)
    second = meter.read()
    assert second.taken_at > first.taken_at, "every read() is a new sample"
    if first.energy_import_wh is not None and second.energy_import_wh is not None:
        assert second.energy_import_wh >= first.energy_import_wh, "energy registers never go back"
    if peer.disconnect is not None:
        peer.disconnect(True)
        try:
            with pytest.raises(DeviceError):
                meter.read()  # never an old reading dressed as new
        finally:
            peer.disconnect(False)
        eventually(lambda: _reads(meter), "meter answers again after the link is back")


def _reads(meter: Meter) -> bool:
    try:
        meter.read()
    except DeviceError:
        return False
    return True


def check_lock(lock: ConnectorLock, peer: PeerControls) -> None:
    from josev_hal.devices import LockSample

    before = time.monotonic()
    check_reading(lock.read(), LockSample, before)
    lock.lock()
    assert lock.read().commanded_locked is True
    eventually(lambda: lock.read().locked in (True, None), "locked feedback")
    lock.unlock()
    assert lock.read().commanded_locked is False
    eventually(lambda: lock.read().locked in (False, None), "unlocked feedback")


def check_id_reader(reader: IdTokenReader, peer: PeerControls) -> None:
    token = reader.poll()
    assert token is None or isinstance(token, IdToken)
    if peer.present_token is not None:
        peer.present_token("04a1b2c3d4")
        seen: list[IdToken] = []

        def got() -> bool:
            polled = reader.poll()
            if polled is not None:
                seen.append(polled)
            return bool(seen)

        before = time.monotonic()
        eventually(got, "the presented token")
        check_reading(seen[0], IdToken, before)
        assert seen[0].uid == "04a1b2c3d4"


def check_power_module(module: DcPowerModule, peer: PeerControls) -> None:
    from josev_hal.devices import DcSample

    caps = module.capabilities
    assert 0 <= caps.min_voltage_v < caps.max_voltage_v
    assert 0 <= caps.min_current_a < caps.max_current_a and caps.max_power_w > 0
    voltage = min(max(400.0, caps.min_voltage_v), caps.max_voltage_v)
    module.set_target(voltage, min(10.0, caps.max_current_a))
    module.enable(True)
    eventually(lambda: module.read().enabled, "output enabled")
    check_reading(module.read(), DcSample, time.monotonic(), pulled=False)
    module.enable(False)
    eventually(lambda: not module.read().enabled, "output disabled")


def check_isolation_monitor(imd: IsolationMonitor, peer: PeerControls) -> None:
    assert isinstance(imd.self_test(), bool)
    imd.start()
    eventually(lambda: imd.read().measuring, "measuring after start()")
    check_reading(imd.read(), IsolationSample, time.monotonic(), pulled=False)
    imd.stop()
    eventually(lambda: not imd.read().measuring, "not measuring after stop()")


def check_temperature(sensor: TemperatureSensor, peer: PeerControls) -> None:
    before = time.monotonic()
    sample = sensor.read()
    check_reading(sample, TemperatureSample, before)
    assert sample.celsius, "at least one sensor"
    names = [name for name, _ in sample.celsius]
    assert len(set(names)) == len(names), "sensor names are unique"
    assert all(-60.0 <= c <= 250.0 for _, c in sample.celsius)
    assert sample.hottest[1] == max(c for _, c in sample.celsius)
    if peer.disconnect is not None:
        peer.disconnect(True)
        try:
            with pytest.raises(DeviceError):
                sensor.read()  # a missing sensor is an error, never the last value
        finally:
            peer.disconnect(False)
        eventually(lambda: _reads_temperature(sensor), "sensor reads again after reconnecting")


def _reads_temperature(sensor: TemperatureSensor) -> bool:
    try:
        sensor.read()
    except DeviceError:
        return False
    return True


def check_digital_input(din: DigitalInput, peer: PeerControls) -> None:
    before = time.monotonic()
    sample = din.read()
    check_reading(sample, InputSample, before)
    assert isinstance(sample.active, bool)
    if peer.set_input is not None:
        for level in (True, False, True):
            peer.set_input(level)
            eventually(partial(_input_is, din, level), f"input reads {level} after the source switched")
        peer.set_input(False)
    if peer.disconnect is not None:
        peer.disconnect(True)
        try:
            with pytest.raises(DeviceError):
                din.read()  # an unreadable input is an error, never the last level
        finally:
            peer.disconnect(False)


def _input_is(din: DigitalInput, level: bool) -> bool:
    return din.read().active is level


CHECKS: list[tuple[type[Driver], Callable[[Any, PeerControls], None]]] = [
    (ControlPilot, check_control_pilot),
    (ProximityPilot, check_proximity_pilot),
    (Contactor, check_contactor),
    (Rcd, check_rcd),
    (Meter, check_meter),
    (ConnectorLock, check_lock),
    (IdTokenReader, check_id_reader),
    (DcPowerModule, check_power_module),
    (IsolationMonitor, check_isolation_monitor),
    (TemperatureSensor, check_temperature),
    (DigitalInput, check_digital_input),
]


def run_contract(factory: Factory, env: ContractEnv, expected: type[Driver]) -> None:
    """Build the driver with ``factory`` and run its role's checks (plus: ``describe()`` is a
    dict, a second ``release()`` is harmless). Raises AssertionError on a violation."""
    with factory(env) as driver:
        assert isinstance(driver, expected), f"factory built {type(driver).__name__}, not {expected.__name__}"
        assert isinstance(driver.describe(), dict)
        checks = [check for role_cls, check in CHECKS if isinstance(driver, role_cls)]
        if not checks:
            pytest.fail(
                f"no contract check for role {driver.role.value!r} ({type(driver).__mro__[1].__name__}): "
                "add one to josev_hal/testing/contract.py (CHECKS)"
            )
        checks[0](driver, env.peer)
    driver.release()  # a second release after the factory's own must be harmless
