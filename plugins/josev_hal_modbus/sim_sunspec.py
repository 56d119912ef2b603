"""A simulated SunSpec meter: the "SunS" marker, the common model (1), a meter model (201-204)
and the end marker, at a configurable base address; served by ``ModbusTcpPeer`` (or the RTU
``ModbusPeer``). Values are set in base units and stored as int16 / acc32 with fixed scale factors
(A -2, V -1, Hz -2, W 0, VA 0, var 0, PF 0 in percent, Wh 0, varh 0): a value the scale cannot
hold is rounded, as a real meter does. ``extra_models`` puts other models (e.g. an inverter's
103) before the meter, so discovery has to walk past them."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from .sim_registers import RegisterSimulator, Spans

__all__ = ["SimulatedSunSpecMeter"]

_SF = {"A": -2, "V": -1, "Hz": -2, "W": 0, "VA": 0, "VAR": 0, "PF": 0, "Wh": 0, "VArh": 0}


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


def _text(text: str, words: int) -> list[int]:
    raw = text.encode("ascii")[: 2 * words].ljust(2 * words, b"\0")
    return [int.from_bytes(raw[2 * i : 2 * i + 2], "big") for i in range(words)]


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
        for i, w in enumerate((0x5375, 0x6E53)):
            self._regs[address + i] = w
        address += 2
        common = [*_text(manufacturer, 16), *_text(model_name, 16), *_text("", 8), *_text("1.0", 8)]
        common += [*_text(serial_number, 16), unit, 0x8000]
        address = self._put_model(address, 1, common)
        for model_id, length in extra_models:
            address = self._put_model(address, model_id, [0] * length)
        self.meter_address = address
        address = self._put_model(address, model, [0x8000] * 105)
        self._regs[address], self._regs[address + 1] = 0xFFFF, 0
        self.end = address + 2
        # Unimplemented acc32 counters read 0; scale factors are always there.
        for offset in (*range(36, 52), *range(53, 70), *range(70, 102)):
            self._set(offset, 0)
        for offset, sf in ((4, "A"), (13, "V"), (15, "Hz"), (20, "W"), (25, "VA"), (30, "VAR"), (35, "PF")):
            self._set(offset, _SF[sf] & 0xFFFF)
        self._set(52, _SF["Wh"] & 0xFFFF)
        self._set(69, 0)
        self._set(102, _SF["VArh"] & 0xFFFF)
        self._set(103, 0)
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
        slots = {
            "current_l1": (1, "A"),
            "current_l2": (2, "A"),
            "current_l3": (3, "A"),
            "voltage_l1": (6, "V"),
            "voltage_l2": (7, "V"),
            "voltage_l3": (8, "V"),
            "frequency": (14, "Hz"),
            "power_total": (16, "W"),
            "power_l1": (17, "W"),
            "power_l2": (18, "W"),
            "power_l3": (19, "W"),
        }
        with self._lock:
            for name, value in values.items():
                self._values[name] = value
                if name in slots:
                    offset, sf = slots[name]
                    self._set(offset, _i16(value, _SF[sf]))
                    if name.startswith("current_l"):
                        total = sum(abs(self._values.get(f"current_l{i}", 0.0)) for i in (1, 2, 3))
                        self._set(0, _i16(total, _SF["A"]))
                elif name == "power_factor":
                    self._set(31, _i16(value * 100.0, _SF["PF"]))
                elif name in ("energy_import", "energy_export"):
                    at = 44 if name == "energy_import" else 36
                    hi, lo = _acc32(value, _SF["Wh"])
                    self._set(at, hi)
                    self._set(at + 1, lo)
                elif name in ("reactive_import", "reactive_export"):
                    at = 70 if name == "reactive_import" else 86
                    hi, lo = _acc32(value, _SF["VArh"])
                    self._set(at, hi)
                    self._set(at + 1, lo)
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
