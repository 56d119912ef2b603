"""The station-level meter reading: Josev's ``meter_values`` request without ``evse_id``.

MESSAGES.md: an absent ``evse_id`` means the main meter of the whole station (OCPP evseId 0), and
the request MUST be answered. Where the reading comes from:

1. A ``station_meter`` device (any meter driver, listed under one EVSE's devices in the board
   profile): read on request, as it is the only thing that measures the station's supply.
2. Otherwise the EVSE meters, aggregated (:func:`aggregate`). With a single EVSE its meter *is* the
   station meter and its reading is used unchanged.

The aggregation rule (the contract is silent; documented in the README's API coverage table):

* energy registers (active/reactive, import/export) and active power: the sum over the meters
  that provide them;
* AC current per phase: the sum over the meters measuring AC (a meter's L1 is added to L1, and so
  on: the EVSEs are assumed to be wired without phase rotation);
* AC voltage per phase: the mean over the AC meters that measure that phase (> 0 V; meters on
  one supply see one voltage), 0 where none does;
* frequency: the mean of the meters that report one;
* power factor: total AC active power over total AC apparent power (sum of V x |I| per phase);
  without load, the mean of the meters' own power factors;
* DC voltage / current and signed values are per EVSE and are not part of the station reading;
* the timestamp is the oldest reading's: the aggregate is only as fresh as its oldest part.

Every EVSE meter must have a fresh reading (``EvseController.meter_values()`` raises otherwise): a
sum with a part missing would be a wrong station total, and the response cannot say "error", so
the request is then not answered (logged), exactly like a stale EVSE meter.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from msgspec import UNSET

from josev_hal.devices import Meter, MeterReading, PhaseValues, Role
from josev_hal.errors import ConfigError, HalError
from josev_hal.messages import payloads as p
from josev_hal.station import reporting

if TYPE_CHECKING:
    from josev_hal.board import Board
    from josev_hal.station.evse import EvseController

__all__ = ["StationMeter", "aggregate", "station_meter_device"]

log = logging.getLogger(__name__)


def _mean(values: list[float]) -> float:
    """Arithmetic mean of a non-empty list (``statistics.fmean`` without importing ``statistics``,
    ``fractions`` and ``decimal`` at start-up)."""
    return math.fsum(values) / len(values)


def station_meter_device(board: Board) -> Meter | None:
    """The board's ``station_meter`` device, if it has one (the profile allows at most one)."""
    found: list[Meter] = []
    for board_evse in board.evses:
        driver = board_evse.devices.get(Role.STATION_METER)
        if driver is None:
            continue
        if not isinstance(driver, Meter):
            raise ConfigError(f"device {driver.device_id} serves as station meter but is not a Meter")
        found.append(driver)
    if len(found) > 1:
        raise ConfigError("a board has one station meter; found " + ", ".join(m.device_id for m in found))
    return found[0] if found else None


def _sum(values: Iterable[float | None]) -> float | None:
    given = [v for v in values if v is not None]
    return sum(given) if given else None


def aggregate(readings: list[MeterReading]) -> MeterReading:
    """One station reading from the EVSE meters' readings (rule in the module docstring)."""
    if not readings:
        raise ValueError("no readings to aggregate")
    if len(readings) == 1:
        return readings[0]
    ac = [r for r in readings if r.current_a is not None]
    volts = [r.voltage_v for r in ac if r.voltage_v is not None]
    amps = [r.current_a for r in ac if r.current_a is not None]
    voltage = current = None
    if amps:
        current = PhaseValues(
            l1=sum(a.l1 for a in amps), l2=sum(a.l2 for a in amps), l3=sum(a.l3 for a in amps)
        )
    if volts:
        per_phase = [[v.l1 for v in volts], [v.l2 for v in volts], [v.l3 for v in volts]]
        means = [
            _mean([x for x in phase if x > 0]) if any(x > 0 for x in phase) else 0.0 for phase in per_phase
        ]
        voltage = PhaseValues(l1=means[0], l2=means[1], l3=means[2])
    frequencies = [r.frequency_hz for r in readings if r.frequency_hz is not None]
    oldest = min(readings, key=lambda r: r.taken_at)
    return MeterReading(
        taken_at=oldest.taken_at,
        utc=oldest.utc,
        voltage_v=voltage,
        current_a=current,
        power_w=_sum(r.power_w for r in readings),
        energy_import_wh=_sum(r.energy_import_wh for r in readings),
        energy_export_wh=_sum(r.energy_export_wh for r in readings),
        reactive_import_varh=_sum(r.reactive_import_varh for r in readings),
        reactive_export_varh=_sum(r.reactive_export_varh for r in readings),
        frequency_hz=_mean(frequencies) if frequencies else None,
        power_factor=_power_factor(ac),
    )


def _power_factor(ac: list[MeterReading]) -> float | None:
    active = apparent = 0.0
    for r in ac:
        v, c = r.voltage_v, r.current_a
        if v is None or c is None or r.power_w is None:
            continue
        active += abs(r.power_w)
        apparent += v.l1 * abs(c.l1) + v.l2 * abs(c.l2) + v.l3 * abs(c.l3)
    if apparent > 0:
        return min(1.0, active / apparent)
    own = [r.power_factor for r in ac if r.power_factor is not None]
    return _mean(own) if own else None


class StationMeter:
    """Answers the station-level ``meter_values`` request (see the module docstring)."""

    def __init__(self, controllers: Mapping[str, EvseController], meter: Meter | None = None) -> None:
        self._controllers = controllers
        self.meter = meter

    @property
    def source(self) -> str:
        """Where the reading comes from (for logs and the status page)."""
        if self.meter is not None:
            return f"station meter {self.meter.device_id}"
        return f"sum of {len(self._controllers)} EVSE meter(s)"

    def reading(self) -> MeterReading:
        """A fresh station reading; raises (DeviceError/HalError) when there is none."""
        if self.meter is not None:
            return self.meter.read()  # a request handler's worker thread may wait for the bus
        if not self._controllers:
            raise HalError("meter_values for the whole station: this station has no EVSE meters")
        return aggregate([c.meter_values() for c in self._controllers.values()])

    def response(self) -> p.MeterValuesResponse:
        """The ``meter_values`` response without ``evse_id`` (the whole station)."""
        payload = reporting.meter_values(p.MeterValuesResponse, "", self.reading())
        payload.evse_id = UNSET
        return payload
