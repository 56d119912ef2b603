"""What the station publishes: pure payload builders, and the bookkeeping of what was sent.

The builders take values and return payloads (no state, no I/O), so the wire shapes can be tested
on their own. :class:`ChangeReporter` remembers what was last sent per topic so each change goes
out once (and everything again after a restart); it only queues into the EVSE's outbox. Rounding
keeps the JSON short and free of float noise (``31.997999999999998``) without hiding anything a
consumer could use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from josev_hal.devices import (
    CpMode,
    CpOutput,
    CpSample,
    DcCapabilities,
    DcSample,
    IsolationStatus,
    MeterReading,
)
from josev_hal.messages import Payload, utc_timestamp
from josev_hal.messages import payloads as p
from josev_hal.station.pp import CableReading

__all__ = ["ChangeReporter", "ac_limits", "cable_info", "cp_status", "dc_limits", "meter_values"]

log = logging.getLogger(__name__)

M = TypeVar("M", p.MeterValuesUpdate, p.MeterValuesResponse)


def cp_status(
    evse_id: str, connector_id: int, state: str, sample: CpSample | None, applied: CpOutput | None
) -> p.CpStatusUpdate:
    """cp_status with the measured plateaus and the generated duty cycle (when PWM is on)."""
    kwargs: dict[str, Any] = {}
    if sample is not None:
        kwargs["max_voltage"] = round(sample.positive_v, 2)
        if sample.negative_v is not None:
            kwargs["min_voltage"] = round(sample.negative_v, 2)
    if applied is not None and applied.mode is CpMode.PWM and applied.duty_percent is not None:
        kwargs["duty_cycle"] = applied.duty_percent
    return p.CpStatusUpdate(evse_id=evse_id, connector_id=connector_id, state=p.CpState(state), **kwargs)


def cable_info(evse_id: str, cable: CableReading, lock: p.CableLockStatus | None = None) -> p.CableInfoUpdate:
    """cable_info for a socket: plugged or not, the rating the PP resistor codes and, when the
    socket has a lock, its state."""
    status = p.CableConnectionStatus.CONNECTED if cable.present else p.CableConnectionStatus.DISCONNECTED
    update = p.CableInfoUpdate(evse_id=evse_id, connection_status=status)
    if cable.ampacity_a is not None:
        update.rated_cable_current = int(cable.ampacity_a)
    if lock is not None:
        update.lock = lock
    return update


def ac_limits(
    limit_a: float, phases: int, nominal_voltage_v: float, rcd_error: bool
) -> p.CsStatusAndLimitsAc:
    """AC limits: ``limit_a`` on every phase the EVSE has, 0 on the others."""
    limit = round(limit_a, 1)
    return p.CsStatusAndLimitsAc(
        max_current=p.PerPhase(l1=limit, l2=limit if phases >= 2 else 0.0, l3=limit if phases >= 3 else 0.0),
        nominal_voltage=float(nominal_voltage_v),
        rcd_error=rcd_error,
    )


def dc_limits(
    caps: DcCapabilities | None,
    present: DcSample | None,
    *,
    derating_a: float | None,
    isolation: IsolationStatus | None,
    peak_current_ripple_a: float,
    current_reg_tolerance_a: float | None,
) -> p.CsStatusAndLimitsDc:
    """DC limits from the power module's capabilities, with its present output."""
    max_current = caps.max_current_a if caps else 0.0
    if derating_a is not None:
        max_current = min(max_current, derating_a)
    kwargs: dict[str, Any] = {}
    if isolation is not None:
        kwargs["isolation_status"] = p.IsolationLevel(isolation.value)
    if current_reg_tolerance_a is not None:
        kwargs["current_reg_tolerance"] = current_reg_tolerance_a
    return p.CsStatusAndLimitsDc(
        present_voltage=round(present.voltage_v, 1) if present else 0.0,
        present_current=round(present.current_a, 1) if present else 0.0,
        max_current=max_current,
        min_current=caps.min_current_a if caps else 0.0,
        max_voltage=caps.max_voltage_v if caps else 0.0,
        min_voltage=caps.min_voltage_v if caps else 0.0,
        max_power=caps.max_power_w if caps else 0.0,
        peak_current_ripple=peak_current_ripple_a,
        **kwargs,
    )


def _power_factor(reading: MeterReading) -> float:
    """The meter's power factor; derived from P / sum(V*I) when it gives none; 0 when unknown."""
    if reading.power_factor is not None:
        return min(1.0, max(0.0, abs(reading.power_factor)))
    v, c = reading.voltage_v, reading.current_a
    if reading.power_w is not None and v is not None and c is not None:
        apparent = v.l1 * abs(c.l1) + v.l2 * abs(c.l2) + v.l3 * abs(c.l3)
        if apparent > 0:
            return min(1.0, abs(reading.power_w) / apparent)
    return 0.0


def meter_values(
    cls: type[M], evse_id: str, reading: MeterReading, *, max_current_offered_a: float | None = None
) -> M:
    """A meter_values response/update stamped with the time the reading was *taken*.

    Required fields the meter does not measure are sent as 0 (phases it does not have, frequency
    of a DC meter, reactive energy of a meter without that register)."""
    zero = (0.0, 0.0, 0.0)
    v, c = reading.voltage_v, reading.current_a
    vv = tuple(round(x, 2) for x in (v.l1, v.l2, v.l3)) if v is not None else zero
    cc = tuple(round(x, 3) for x in (c.l1, c.l2, c.l3)) if c is not None else zero
    kwargs: dict[str, Any] = {
        "evse_id": evse_id,
        "timestamp": utc_timestamp(reading.utc),
        "voltage": p.PerPhase(l1=vv[0], l2=vv[1], l3=vv[2]),
        "current": p.PerPhase(l1=cc[0], l2=cc[1], l3=cc[2]),
        "power_factor": round(_power_factor(reading), 3),
        "frequency": reading.frequency_hz if reading.frequency_hz is not None else 0.0,
        "total_active_energy_imported": round(reading.energy_import_wh or 0.0, 3),
        "total_reactive_energy_imported": round(reading.reactive_import_varh or 0.0, 3),
    }
    if reading.energy_export_wh is not None:
        kwargs["total_active_energy_exported"] = round(reading.energy_export_wh, 3)
    if reading.reactive_export_varh is not None:
        kwargs["total_reactive_energy_exported"] = round(reading.reactive_export_varh, 3)
    if reading.power_w is not None:
        kwargs["power_active_import"] = round(max(0.0, reading.power_w), 1)
    if reading.dc_voltage_v is not None:
        kwargs["dc_voltage"] = round(reading.dc_voltage_v, 2)
    if reading.dc_current_a is not None:
        kwargs["dc_current"] = round(reading.dc_current_a, 3)
    if max_current_offered_a is not None:
        kwargs["max_current_offered"] = round(max_current_offered_a, 1)
    if reading.signed:
        signed = []
        for s in reading.signed:
            entry: dict[str, Any] = {
                "signed_meter_data": s.signed_meter_data,
                "signing_method": s.signing_method,
                "encoding_method": s.encoding_method,
                "public_key": s.public_key,
            }
            try:
                entry["measurand"] = p.MeterValuesMeasurand(s.measurand)
            except ValueError:  # a measurand outside OCPP's list: send the value without it
                log.warning("evse=%s signed value with unknown measurand %r", evse_id, s.measurand)
            signed.append(p.MeterValuesSignedMeterValue(**entry))
        kwargs["signed_meter_values"] = signed
    return cls(**kwargs)


class ChangeReporter:
    """What was last sent per topic, so each change is published once (and everything again after
    :meth:`forget`, e.g. a per-EVSE restart). Pure bookkeeping: ``send`` only queues."""

    def __init__(self, send: Callable[[Payload], None]) -> None:
        self._send = send
        self.cp_sent: dict[int, str | None] = {}
        self.contactor_sent: str | None = None
        self.cable_sent: dict[int, tuple[str, int | None, str | None]] = {}
        self.limits_sent: Any = None
        self.dc_reported: tuple[float, float] | None = None

    def forget(self) -> None:
        self.cp_sent.clear()
        self.contactor_sent = None
        self.cable_sent.clear()
        self.limits_sent = None

    def cp(self, cid: int, state: str | None, build: Callable[[], Payload]) -> None:
        if state is not None and state != self.cp_sent.get(cid):
            self.cp_sent[cid] = state
            self._send(build())

    def contactor(self, evse_id: str, status: str) -> None:
        if status != self.contactor_sent:
            self.contactor_sent = status
            self._send(p.CsContactorStatusUpdate(evse_id=evse_id, status=p.ContactorStatus(status)))

    def cable(self, evse_id: str, cid: int, cable: CableReading, lock: p.CableLockStatus | None) -> None:
        key = (
            "connected" if cable.present else "disconnected",
            None if cable.ampacity_a is None else int(cable.ampacity_a),
            None if lock is None else lock.value,
        )
        if key != self.cable_sent.get(cid):
            self.cable_sent[cid] = key
            self._send(cable_info(evse_id, cable, lock))

    def limits(
        self, entry: dict[str, Any], present: DcSample | None, deadband: tuple[float, float] | None
    ) -> None:
        """cs_status_and_limits when the entry changed; DC present values only past ``deadband``
        (V, A): a module reports every few ms, and each millivolt is not worth a message."""
        if entry == self.limits_sent:
            return
        if deadband is not None and not self._dc_changed(entry, present, deadband):
            return
        self.limits_sent = entry
        if present is not None:
            self.dc_reported = (present.voltage_v, present.current_a)
        self._send(p.CsStatusAndLimitsUpdate(evses=[p.CsStatusAndLimitsUpdateEvse(**entry)]))

    def _dc_changed(
        self, entry: dict[str, Any], present: DcSample | None, deadband: tuple[float, float]
    ) -> bool:
        if self.limits_sent is None or _without_present(entry) != _without_present(self.limits_sent):
            return True
        if present is None or self.dc_reported is None:
            return False
        return (
            abs(present.voltage_v - self.dc_reported[0]) > deadband[0]
            or abs(present.current_a - self.dc_reported[1]) > deadband[1]
        )


def _without_present(entry: Any) -> Any:
    """A cs_status_and_limits entry with the DC present values zeroed (to compare the rest)."""
    if not isinstance(entry, dict) or "dc" not in entry:
        return entry
    dc = entry["dc"]
    return {**entry, "dc": msgspec.structs.replace(dc, present_voltage=0.0, present_current=0.0)}
