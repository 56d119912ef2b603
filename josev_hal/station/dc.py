"""The DC power path of one EVSE: cable check (isolation monitor), pre-charge and current demand
(power module), present output values.

:class:`DcPath` holds the DC session state the interlock needs (cable check passed, pre-charge
started) and talks to the two DC devices. It takes no locks and makes no safety decision of its
own: :class:`~josev_hal.station.evse.EvseController` calls it under its lock and decides with
:func:`~josev_hal.station.interlocks.decide`. Faults go back through :class:`FaultSink`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from msgspec import UNSET, UnsetType

from josev_hal.devices import DcCapabilities, DcPowerModule, DcSample, IsolationMonitor, IsolationStatus
from josev_hal.errors import DeviceError, DeviceOffline
from josev_hal.messages import payloads as p
from josev_hal.station.fault_names import contract_fault_name_of

__all__ = ["DcPath", "FaultSink", "Setpoint"]

log = logging.getLogger(__name__)

#: Isolation results that let the session go on (IEC 61851-23: warning still allows charging).
PASSING = (IsolationStatus.VALID, IsolationStatus.WARNING)


class FaultSink(Protocol):
    """How the DC path reports faults to its controller."""

    def set_fault(self, key: str, component: str, name: p.HardwareFaultName, detail: str) -> None: ...

    def clear_fault(self, key: str) -> None: ...

    def link_fault(self, what: str, exc: DeviceError) -> None: ...


@dataclass(frozen=True, slots=True)
class Setpoint:
    """A validated DC set-point: target voltage, current limit, pre-charge or not."""

    voltage_v: float
    current_a: float
    precharge: bool


class DcPath:
    """DC session state and the power module / isolation monitor of one EVSE."""

    def __init__(
        self,
        evse_id: str,
        module: DcPowerModule | None,
        imd: IsolationMonitor | None,
        faults: FaultSink,
        *,
        precharge_current_a: float,
        limits: DcCapabilities | None = None,
    ) -> None:
        self.evse_id = evse_id
        self.module = module
        self.imd = imd
        self._faults = faults
        self.precharge_current_a = precharge_current_a
        self.limits = limits
        self.cable_check_running = False
        self.cable_check_passed = False
        self.isolation: IsolationStatus | None = None
        self.precharge_started = False
        self.sample: DcSample | None = None

    @property
    def capabilities(self) -> DcCapabilities | None:
        """What the EVSE can deliver: the module's capabilities within the EVSE's own limits."""
        caps = self.module.capabilities if self.module is not None else None
        lim = self.limits
        if caps is None or lim is None:
            return caps or lim
        return DcCapabilities(
            max_voltage_v=min(caps.max_voltage_v, lim.max_voltage_v),
            min_voltage_v=max(caps.min_voltage_v, lim.min_voltage_v),
            max_current_a=min(caps.max_current_a, lim.max_current_a),
            min_current_a=max(caps.min_current_a, lim.min_current_a),
            max_power_w=min(caps.max_power_w, lim.max_power_w),
        )

    # -- session -----------------------------------------------------------------------------
    def end_session(self) -> None:
        """Forget the cable check and pre-charge; stop monitoring isolation."""
        self.cable_check_running = False
        self.cable_check_passed = False
        self.precharge_started = False
        self._faults.clear_fault("isolation")
        if self.imd is not None:
            try:
                self.imd.stop()
            except DeviceError as exc:
                log.warning("evse=%s isolation monitor stop failed: %s", self.evse_id, exc)

    def disable(self) -> None:
        """Switch the module output off (called together with opening the contactor)."""
        if self.module is None:
            return
        try:
            self.module.enable(False)
        except DeviceError as exc:
            log.error("evse=%s power module disable failed: %s", self.evse_id, exc)

    # -- inputs ------------------------------------------------------------------------------
    def read(self) -> None:
        """Read the module's present output and faults, and the isolation monitor while a cable
        check runs or has passed (it keeps monitoring during the session)."""
        self._read_module()
        if self.imd is not None and (self.cable_check_running or self.cable_check_passed):
            self._read_imd(self.imd)

    def _read_module(self) -> None:
        module = self.module
        if module is None:
            return
        try:
            sample = module.read()
        except DeviceOffline as exc:
            self._faults.set_fault("power_module", "power_module", p.HardwareFaultName.OTHER, str(exc))
            self.sample = None
            return
        except DeviceError as exc:
            self._faults.link_fault("power_module", exc)
            return
        self._faults.clear_fault("link:power_module")
        self.sample = sample
        if sample.faults:
            name = contract_fault_name_of(sample.faults)
            self._faults.set_fault("power_module", "power_module", name, ",".join(sorted(sample.faults)))
        else:
            self._faults.clear_fault("power_module")

    def _read_imd(self, imd: IsolationMonitor) -> None:
        try:
            iso = imd.read()
        except DeviceError as exc:
            self._faults.link_fault("isolation_monitor", exc)
            return
        self._faults.clear_fault("link:isolation_monitor")
        # An IMD reports "measuring" with status invalid and no resistance until its first
        # result is in; after that it keeps monitoring until stopped. The status, not the
        # resistance, decides: an IMD with digital outputs never reports a resistance.
        if iso.measuring and iso.resistance_ohm is None and iso.status is IsolationStatus.INVALID:
            return
        self.isolation = iso.status
        if self.cable_check_running:
            self.cable_check_running = False
            self.cable_check_passed = iso.status in PASSING
            log.info("evse=%s cable check finished isolation=%s", self.evse_id, iso.status.value)
        if iso.status is IsolationStatus.FAULT:
            self.cable_check_passed = False
            self._faults.set_fault(
                "isolation", "isolation_monitor", p.HardwareFaultName.GROUND_FAULT, "isolation fault"
            )

    # -- cable check -------------------------------------------------------------------------
    def _response(self, level: p.IsolationLevel | None) -> p.CableCheckResponse:
        if level is None:
            return p.CableCheckResponse(evse_id=self.evse_id, cable_check_status=p.CableCheckStatus.ONGOING)
        return p.CableCheckResponse(
            evse_id=self.evse_id, cable_check_status=p.CableCheckStatus.FINISHED, isolation_level=level
        )

    def cable_check(self, action: p.CableCheckAction, refusal: str | None) -> p.CableCheckResponse:
        """``start`` (or a ``status`` before any start) starts the measurement unless ``refusal``
        says why the EVSE cannot; ``status`` reports ongoing / finished with the level.

        A refused or impossible check is answered ``finished``/``invalid`` (or ``no_imd``):
        Josev then ends the session, where silence would only make it time out."""
        imd = self.imd
        if imd is None:
            return self._response(p.IsolationLevel.NO_IMD)
        start = action is p.CableCheckAction.START or not (
            self.cable_check_running or self.cable_check_passed or self.isolation is not None
        )
        if not start:
            self.read()
            if self.cable_check_running or self.isolation is None:
                return self._response(None)
            return self._response(p.IsolationLevel(self.isolation.value))
        try:
            if refusal is None:
                imd.start()
        except DeviceError as exc:
            self._faults.link_fault("isolation_monitor", exc)
            refusal = str(exc)
        if refusal is not None:
            log.warning("evse=%s cable check refused: %s", self.evse_id, refusal)
            return self._response(p.IsolationLevel.INVALID)
        self.cable_check_running = True
        self.cable_check_passed = False
        self.isolation = None
        log.info("evse=%s cable check started", self.evse_id)
        return self._response(None)

    # -- set-points --------------------------------------------------------------------------
    def validate(self, req: p.PowerElectronicsSetpointRequest) -> Setpoint | str:
        """The set-point the module can follow, or the reason it cannot (a string)."""
        dc = req.dc
        if not isinstance(dc, p.PowerElectronicsSetpointDc):
            return "no DC set-point for a DC EVSE"
        if self.module is None:
            return "no power module"
        if dc.discharge_current is not UNSET or dc.discharge_power is not UNSET:
            return "bidirectional power transfer not supported"
        if isinstance(dc.voltage, UnsetType):
            return "no target voltage"
        voltage = float(dc.voltage)
        caps = self.capabilities
        assert caps is not None
        top = min(caps.max_voltage_v, float(req.ev_limits.maximum_voltage))
        if not caps.min_voltage_v <= voltage <= top:
            return f"target {voltage} V outside {caps.min_voltage_v}..{top} V (EVSE and EV limits)"
        if not isinstance(dc.charge_current, UnsetType):
            current = float(dc.charge_current)
        elif not isinstance(dc.charge_power, UnsetType):
            current = float(dc.charge_power) / voltage
        else:  # pragma: no cover - the message layer enforces exactly one set-point
            return "no charge current or power"
        precharge = req.is_precharge is True
        if precharge:
            current = min(current, self.precharge_current_a)
        current = max(0.0, min(current, caps.max_current_a, caps.max_power_w / voltage))
        return Setpoint(voltage, current, precharge)

    def apply(self, setpoint: Setpoint, derating_a: float | None) -> str | None:
        """Command the module (contactor already closed); the error text, or None."""
        assert self.module is not None
        current = setpoint.current_a if derating_a is None else min(setpoint.current_a, derating_a)
        try:
            self.module.set_target(setpoint.voltage_v, current)
            self.module.enable(True)
        except DeviceError as exc:
            self._faults.link_fault("power_module", exc)
            return str(exc)
        return None
