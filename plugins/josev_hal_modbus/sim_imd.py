"""Simulated insulation monitors at register level (a Bender isoCHA425HV-style one and a Dold
RN5893, :class:`SimulatedRn5893`), next to the driver whose register codec they share
(:mod:`josev_hal_modbus.imd`), served by
:class:`~josev_hal_modbus.sim.ModbusPeer` (RTU on a pty) or ``ModbusTcpPeer``.

The register layout is the ``isocha425hv`` model of :mod:`josev_hal_modbus.imd`. Behaviour:

* ``enable`` (register 3026) starts measuring; the first result is "invalid" until
  ``first_result_s`` has passed, then the resistance set by the test with an alarm from the
  thresholds R1 (pre-alarm, register 3005) and R2 (alarm, 3007), both in kOhm;
* writing 0x5445 to 8005 runs a self-test: the "external test" flag for ``test_s``, then the
  test result (a device error when ``test_fails``);
* registers outside the map answer with exception 2, like the device.

The defaults of R1/R2 (600 / 100 kOhm) are this simulator's choice, not the device's.
"""

from __future__ import annotations

import threading
import time

from .sim_registers import RegisterSimulator, Spans

__all__ = ["SimulatedIsoCha", "SimulatedRn5893"]

_SPANS = ((1000, 12), (3000, 30), (8005, 1), (9800, 10), (9820, 6))


class _SimulatedImd(RegisterSimulator):
    """What a test sets on either simulated IMD: the insulation it measures, the DC voltage, how
    long the first result and a self-test take, whether the self-test fails; and what it can
    inspect: requests served, writes received, ``online`` (the peer answers at all)."""

    def __init__(
        self, unit: int, *, resistance_ohm: float, voltage_v: float, first_result_s: float, test_s: float
    ) -> None:
        self.unit = unit
        self.online = True
        self.resistance_ohm = resistance_ohm
        self.voltage_v = voltage_v
        self.first_result_s = first_result_s
        self.test_s = test_s
        self.test_fails = False
        self.requests = 0
        self.writes: list[tuple[int, list[int]]] = []
        self._lock = threading.RLock()


class SimulatedIsoCha(_SimulatedImd):
    """Register image of one isoCHA at unit ``unit`` (see the module docstring)."""

    def __init__(
        self,
        unit: int = 3,
        *,
        resistance_ohm: float = 5_000_000.0,
        voltage_v: float = 0.0,
        first_result_s: float = 0.05,
        test_s: float = 0.1,
    ) -> None:
        super().__init__(
            unit,
            resistance_ohm=resistance_ohm,
            voltage_v=voltage_v,
            first_result_s=first_result_s,
            test_s=test_s,
        )
        self.device_error = False
        self._regs: dict[int, int] = {}
        self._enabled_at: float | None = None
        self._test_until: float | None = None
        self._test_failed = False
        self._regs[3005] = 600
        self._regs[3007] = 100
        name = b"isoCHA425HV".ljust(20, b"\0")
        for i in range(10):
            self._regs[9800 + i] = int.from_bytes(name[2 * i : 2 * i + 2], "big")
        for i, w in enumerate((1, 510, 2024, 1, 1, 1)):
            self._regs[9820 + i] = w

    @property
    def enabled(self) -> bool:
        return self._enabled_at is not None

    def _channels(self) -> list[int]:
        from josev_hal_modbus.imd import encode_channel

        now = time.monotonic()
        testing = self._test_until is not None and now < self._test_until
        if self._test_until is not None and not testing:
            self._test_until = None
        error = self.device_error or self._test_failed
        if testing:
            r = encode_channel(self.resistance_ohm, test=2, validity=3)
        elif error:
            r = encode_channel(self.resistance_ohm, alarm=2, validity=3)
        elif self._enabled_at is None or now - self._enabled_at < self.first_result_s:
            r = encode_channel(0.0, validity=3)
        else:
            r1, r2 = self._regs[3005] * 1000.0, self._regs[3007] * 1000.0
            alarm = 5 if self.resistance_ohm < r2 else 1 if self.resistance_ohm < r1 else 0
            r = encode_channel(self.resistance_ohm, alarm=alarm)
        v = encode_channel(self.voltage_v, unit=4, description=76)
        return [*r, 0, 0, 0, 0, *v]

    def words(self, address: int, count: int) -> list[int]:
        with self._lock:
            block = self._channels()
            out = []
            for a in range(address, address + count):
                out.append(block[a - 1000] if 1000 <= a < 1012 else self._regs.get(a, 0))
            return out

    def on_write(self, address: int, values: list[int]) -> None:
        with self._lock:
            self.writes.append((address, list(values)))
            for i, v in enumerate(values):
                self._regs[address + i] = v
            if address == 3026:
                self._enabled_at = time.monotonic() if values[0] == 1 else None
            if address == 8005 and values[0] == 0x5445:
                self._test_until = time.monotonic() + self.test_s
                self._test_failed = self.test_fails

    def holding_spans(self) -> Spans:
        return _SPANS

    def read_words(self, function_code: int, address: int, count: int) -> list[int]:
        return self.words(address, count)


class SimulatedRn5893(_SimulatedImd):
    """Register image of a Dold RN5893 (the ``rn5893`` model of :mod:`josev_hal_modbus.imd`).

    Control word (holding 0): bit 8 set stops measuring (state 5), clear measures -- state 0
    (initializing) for ``first_result_s``, then 1 / 7 (pre-alarm) / 6 (alarm) from the response
    values in holding 2006 / 2005 (kOhm; 300 / 100 by default, this simulator's choice); bit 4
    runs a self-test (state 3 for ``test_s``; fault 3 afterwards when ``test_fails``); bit 0
    resets faults. Input 0 fault, 1 state, 2000 resistance (100 ohm steps, 0xFFFF above 2 MOhm),
    2002 voltage."""

    def __init__(
        self,
        unit: int = 5,
        *,
        resistance_ohm: float = 5_000_000.0,
        voltage_v: float = 0.0,
        first_result_s: float = 0.05,
        test_s: float = 0.1,
    ) -> None:
        super().__init__(
            unit,
            resistance_ohm=resistance_ohm,
            voltage_v=voltage_v,
            first_result_s=first_result_s,
            test_s=test_s,
        )
        self.fault = 0
        self._holding: dict[int, int] = {0: 1 << 8, 2005: 100, 2006: 300}
        self._measuring_since: float | None = None
        self._test_until: float | None = None

    @property
    def measuring(self) -> bool:
        return self._measuring_since is not None

    def _state(self) -> int:
        now = time.monotonic()
        if self._test_until is not None:
            if now < self._test_until:
                return 3
            self._test_until = None
            if self.test_fails:
                self.fault = 3
        if self.fault:
            return 2
        if self._measuring_since is None:
            return 5
        if now - self._measuring_since < self.first_result_s:
            return 0
        if self.resistance_ohm < self._holding[2005] * 1000.0:
            return 6
        if self.resistance_ohm < self._holding[2006] * 1000.0:
            return 7
        return 1

    def input_words(self, address: int, count: int) -> list[int]:
        with self._lock:
            state = self._state()
            raw_r = 0xFFFF if self.resistance_ohm > 2_000_000 else round(self.resistance_ohm / 100.0)
            image = {0: self.fault, 1: state, 2000: raw_r, 2001: 0, 2002: round(self.voltage_v) & 0xFFFF}
            return [image.get(a, 0) for a in range(address, address + count)]

    def on_write(self, address: int, values: list[int]) -> None:
        with self._lock:
            self.writes.append((address, list(values)))
            for i, v in enumerate(values):
                self._holding[address + i] = v
            if address == 0:
                word = values[0]
                if word & 1:
                    self.fault = 0
                    return
                if word & (1 << 4):
                    self._test_until = time.monotonic() + self.test_s
                if word & (1 << 8):
                    self._measuring_since = None
                elif self._measuring_since is None:
                    self._measuring_since = time.monotonic()

    def holding_spans(self) -> Spans:
        return ((0, 3), (2000, 11))

    def input_spans(self) -> Spans:
        return ((0, 2), (2000, 3))

    def read_words(self, function_code: int, address: int, count: int) -> list[int]:
        if function_code == 4:
            return self.input_words(address, count)
        with self._lock:
            return [self._holding.get(a, 0) for a in range(address, address + count)]
