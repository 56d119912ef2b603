"""pymodbus glue for the register-level simulators of this plugin.

The meter-model images (:class:`josev_hal_modbus.sim.SimulatedMeter`), the IMD simulators
(isoCHA, RN5893) and the SunSpec meter serve their registers the same way: a
pymodbus ``SimDevice`` with placeholder blocks over the spans the device answers (requests outside
them get exception 2, like the device), and one async action that counts the request and hands
reads and writes to the simulator. That glue is the part tied to the pymodbus simulator API, so it
lives here once; a simulator only says which spans it has and how it reads and writes words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["RegisterSimulator", "Spans", "merge_spans"]

#: ``(first address, number of registers)`` of one block the device answers.
Spans = Sequence[tuple[int, int]]


def merge_spans(spans: Spans) -> Spans:
    """``spans`` sorted, with overlapping or touching blocks joined (pymodbus wants disjoint
    blocks; a meter's map and its identification string may share registers)."""
    merged: list[tuple[int, int]] = []
    for start, count in sorted(spans):
        if merged and start <= merged[-1][0] + merged[-1][1]:
            first, length = merged[-1]
            merged[-1] = (first, max(length, start + count - first))
        else:
            merged.append((start, count))
    return merged


class RegisterSimulator:
    """Base of a register image served through :meth:`sim_device`."""

    unit: int
    #: Modbus requests served (reads and writes), for tests that count bus traffic.
    requests: int

    def holding_spans(self) -> Spans:
        """Holding-register blocks (function codes 3/6/16)."""
        raise NotImplementedError

    def input_spans(self) -> Spans:
        """Input-register blocks (function code 4); none by default."""
        return ()

    def read_words(self, function_code: int, address: int, count: int) -> list[int]:
        """``count`` words from ``address`` for a read with ``function_code``."""
        raise NotImplementedError

    def on_write(self, address: int, values: list[int]) -> None:
        """A write of ``values`` at ``address``; the default image is read-only."""

    def sim_device(self) -> Any:
        """A pymodbus :class:`SimDevice` whose reads and writes go through this image."""
        from pymodbus.simulator import DataType, SimData, SimDevice

        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            registers: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> Any:
            self.requests += 1
            if set_values:
                self.on_write(address, [int(v) for v in set_values])
                return None
            offset = address - start_address
            registers[offset : offset + count] = self.read_words(function_code, address, count)
            return None

        def blocks(spans: Spans) -> list[Any]:
            if not spans:
                # pymodbus needs one entry per table: a single invalid register at the top.
                return [SimData(0xFFFE, datatype=DataType.INVALID)]
            return [SimData(s, values=[0] * c, datatype=DataType.REGISTERS) for s, c in spans]

        coils = [SimData(0, values=False, datatype=DataType.BITS)]
        simdata = (coils, list(coils), blocks(self.holding_spans()), blocks(self.input_spans()))
        return SimDevice(id=self.unit, simdata=simdata, action=action)
