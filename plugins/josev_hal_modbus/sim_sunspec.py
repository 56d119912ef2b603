"""A simulated SunSpec meter: the "SunS" marker, the common model (1), a meter model (201-204)
and the end marker, at a configurable base address; served by ``ModbusTcpPeer`` (or the RTU
``ModbusPeer``). Values are set in base units and stored as int16 / acc32 with fixed scale factors
(A -2, V -1, Hz -2, W 0, VA 0, var 0, PF 0 in percent, Wh 0, varh 0): a value the scale cannot
hold is rounded, as a real meter does. ``extra_models`` puts other models (e.g. an inverter's
103) before the meter, so discovery has to walk past them.

Where each value sits is the driver's own table (:data:`josev_hal_modbus.sunspec.METER_POINTS`,
:data:`~josev_hal_modbus.sunspec.METER_COUNTERS`), and strings use the plugin's register text
codec (:mod:`josev_hal_modbus.model`), so the simulator and the driver share one layout."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from .model import text_to_registers
from .sim_registers import RegisterSimulator, Spans
from .sunspec import END, METER_COUNTERS, METER_POINTS, NOT_IMPLEMENTED_I16, SUNS

__all__ = ["SimulatedSunSpecMeter"]

#: Scale factor (decimal exponent) this simulator serves per SunSpec unit.
_SF = {"A": -2, "V": -1, "Hz": -2, "W": 0, "VA": 0, "var": 0, "Pct": 0, "Wh": 0, "varh": 0}

#: ``set_values`` quantities stored in one int16 of :data:`METER_POINTS` (the total current is
#: derived from the phases; apparent and reactive power are not simulated).
_VALUES = frozenset(METER_POINTS) - {"current_total", "apparent_power_total", "reactive_power_total"}

#: ``set_values`` quantities stored in an acc32 counter: the imported reactive energy goes to
#: quadrant 1, the exported to quadrant 3 (the driver sums Q1+Q2 and Q3+Q4).
_COUNTERS = {
    "energy_import": "energy_import",
    "energy_export": "energy_export",
    "reactive_import": "reactive_q1",
    "reactive_export": "reactive_q3",
}


def _i16(value: float, sf: int) -> int:
    raw = round(value / 10.0**sf)
    if not -32767 <= raw <= 32767:
        raise ValueError(f"{value} does not fit int16 at scale 10^{sf}")
    return raw & 0xFFFF


def _acc32(value: float, sf: int) -> list[int]:
    raw = round(value / 10.0**sf)
    if not 0 <= raw <= 0xFFFFFFFF:
        raise ValueError(f"{value} does not fit acc32 at scale 10^{sf}")
    return [raw >> 16, raw & 0xFFFF]


class SimulatedSunSpecMeter(RegisterSimulator):
    """Register image of one SunSpec meter at unit ``unit`` (see the module docstring)."""

    def __init__(
        self,
        unit: int = 1,
        *,
        model: int = 203,
        base: int = 40000,
        values: Mapping[str, float] | None = None,
        manufacturer: str = "Acme Metering",
        model_name: str = "SIM-M203",
        serial_number: str = "SS-0001",
        extra_models: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.unit = unit
        self.online = True
        self.model = model
        self.base = base
        self.requests = 0
        self._lock = threading.RLock()
        self._regs: dict[int, int] = {}
        self._values: dict[str, float] = {}
        address = base
        for i, w in enumerate(SUNS):
            self._regs[address + i] = w
        address += 2
        common = [
            *text_to_registers(manufacturer, 16),
            *text_to_registers(model_name, 16),
            *text_to_registers("", 8),
            *text_to_registers("1.0", 8),
        ]
        common += [*text_to_registers(serial_number, 16), unit, NOT_IMPLEMENTED_I16]
        address = self._put_model(address, 1, common)
        for model_id, length in extra_models:
            address = self._put_model(address, model_id, [0] * length)
        self.meter_address = address
        address = self._put_model(address, model, [NOT_IMPLEMENTED_I16] * 105)
        self._regs[address], self._regs[address + 1] = END, 0
        self.end = address + 2
        # Unimplemented acc32 counters read 0; scale factors are always there.
        for offset in (*range(36, 52), *range(53, 70), *range(70, 102)):
            self._set(offset, 0)
        for point in (*METER_POINTS.values(), *METER_COUNTERS.values()):
            self._set(point.sf, _SF[point.unit] & 0xFFFF)
        self._set(69, 0)  # TotVAh_SF (the VAh counters are not simulated)
        self._set(103, 0)  # Evt (uint32): no events
        self._set(104, 0)
        if values:
            self.set_values(**values)

    def _put_model(self, address: int, model_id: int, body: list[int]) -> int:
        self._regs[address], self._regs[address + 1] = model_id, len(body)
        for i, w in enumerate(body):
            self._regs[address + 2 + i] = w
        return address + 2 + len(body)

    def _set(self, offset: int, word: int) -> None:
        self._regs[self.meter_address + 2 + offset] = word & 0xFFFF

    def set_values(self, **values: float) -> None:
        """Serve these quantities (voltage_l1..3, current_l1..3, power_l1..3, power_total,
        frequency, power_factor, energy_import, energy_export, reactive_import, reactive_export)."""
        with self._lock:
            for name, value in values.items():
                self._values[name] = value
                if name in _COUNTERS:
                    point = METER_COUNTERS[_COUNTERS[name]]
                    hi, lo = _acc32(value, _SF[point.unit])
                    self._set(point.offset, hi)
                    self._set(point.offset + 1, lo)
                elif name in _VALUES:
                    point = METER_POINTS[name]
                    # The power factor is a ratio here and a percentage on the wire.
                    raw = value * 100.0 if point.unit == "Pct" else value
                    self._set(point.offset, _i16(raw, _SF[point.unit]))
                    if name.startswith("current_l"):
                        total = sum(abs(self._values.get(f"current_l{i}", 0.0)) for i in (1, 2, 3))
                        point = METER_POINTS["current_total"]
                        self._set(point.offset, _i16(total, _SF[point.unit]))
                else:
                    raise ValueError(f"unknown SunSpec meter quantity {name!r}")

    def words(self, address: int, count: int) -> list[int]:
        with self._lock:
            return [self._regs.get(a, 0) for a in range(address, address + count)]

    # Writes are ignored: the map is read-only here (RegisterSimulator.on_write).
    def holding_spans(self) -> Spans:
        return ((self.base, self.end - self.base),)

    def read_words(self, function_code: int, address: int, count: int) -> list[int]:
        return self.words(address, count)
