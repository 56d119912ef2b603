"""Driver benchmark: how close a poll gets to the physical limit of its bus.

    python benchmarks/drivers.py [--section meter] [--polls 20] [--models sdm630,em340]

**meter** -- one ``modbus-meter`` poll (``ModbusMeter.read()``: every read transaction of the
model's register map) against the pymodbus RTU peer from ``josev_hal_modbus.sim``,
at 9600 and 115200 baud, 8N1. The pty between them emulates the wire speed (each character is
delivered after its transmission time), so the measurement contains the real frame times plus
everything the software adds: pyserial, the driver, the RTU master, the peer's pymodbus server.

The theoretical time is what the frames need on the wire, per transaction::

    (request 8 chars + response 5 + 2 * registers chars) * bits_per_char / baud
    + 1 frame gap          (the silence the master keeps before each request: 3.5 characters up
                            to 19200 baud, 1.75 ms above)

with ``bits_per_char = 1 start + 8 data + parity + stop``. Not included: the 3.5-character
end-of-frame silence a real slave waits before it answers and its processing latency (typically
5-50 ms) -- the simulated pymodbus peer detects the frame end by length and answers at once, so
neither is in the measurement either. The ratio measured / theoretical is printed (target <= 1.5x)
with the software overhead in ms.

**can** / **mculink** (benchmarks/drivers_can.py): CAN set-points over an emulated 125 kbit/s
medium, compared with the wire time of the frames the medium actually carried, each counted with
its exact stuff bits (the bounds without stuffing and with the worst case are printed alongside);
an MCU-link command and its ACK at 115200 baud, 10 bits per character.

Every "wire time" is a lower bound of what the bus can do, so a ratio below 1.0 would mean the
model counts something the wire does not carry. More sections plug in as a function returning
:class:`Row` objects, registered in :data:`SECTIONS`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions
from josev_hal_modbus.model import builtin_models
from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

from josev_hal.buses.pty_line import PtyLine, wire_time_s
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig

TARGET_RATIO = 1.5


@dataclass
class Row:
    """One measured case: what, the measured median, the physical limit, and extra detail."""

    name: str
    measured_s: float
    theoretical_s: float
    detail: str = ""

    @property
    def ratio(self) -> float:
        return self.measured_s / self.theoretical_s


def theoretical_poll_s(model: str, baudrate: int) -> tuple[float, int, int]:
    """Wire time of one poll of ``model``: (seconds, transactions, characters)."""
    plan = builtin_models()[model].plan()
    chars = sum(8 + 5 + 2 * b.count for b in plan)
    gap = 3.5 * wire_time_s(1, baudrate) if baudrate <= 19200 else 0.00175
    return wire_time_s(chars, baudrate) + gap * len(plan), len(plan), chars


def meter_section(args: argparse.Namespace) -> list[Row]:
    """Meter poll cycle vs wire time at 9600 and 115200 baud."""
    rows: list[Row] = []
    models = args.models.split(",")
    for baudrate in (9600, 115200):
        for model in models:
            sim = SimulatedMeter(
                model,
                unit=1,
                values={"voltage_l1": 230.0} if "voltage_l1" in builtin_models()[model].registers else {},
            )
            with (
                PtyLine(baudrate=baudrate, emulate_wire=True) as line,
                ModbusPeer(line.peer_port, [sim], baudrate=baudrate),
            ):
                bus = SerialBus(
                    "rs485",
                    msgspec.convert({"port": line.client_port, "baudrate": baudrate}, SerialBusOptions),
                )
                meter = ModbusMeter(
                    DeviceConfig("bench.meter", ModbusMeterOptions(model=model), bus=bus, address=1)
                )
                try:
                    meter.setup()
                    meter.read()  # warm-up: port open, imports, first-call paths
                    polls = args.polls if baudrate <= 19200 else args.polls * 5
                    times = []
                    for _ in range(polls):
                        t0 = time.perf_counter()
                        meter.read()
                        times.append(time.perf_counter() - t0)
                finally:
                    bus.release()
            theory, transactions, chars = theoretical_poll_s(model, baudrate)
            rows.append(
                Row(
                    f"meter {model} @ {baudrate}",
                    statistics.median(times),
                    theory,
                    f"{transactions} transaction(s), {chars} chars, {polls} polls, "
                    f"p90 {sorted(times)[int(0.9 * (len(times) - 1))] * 1000:.1f} ms, "
                    f"retries {meter.stats['retries']}",
                )
            )
    return rows


#: Benchmark sections by name. I2C and CAN sections: add ``def i2c_section(args) -> list[Row]``
#: (or ``can_section``) and register it here; the printing below is shared.
SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "meter": meter_section,
}

# CAN power-module and MCU-link sections (benchmarks/drivers_can.py, a sibling module).
try:
    from drivers_can import SECTIONS as CAN_SECTIONS  # run as `python benchmarks/drivers.py`
except ModuleNotFoundError:
    from benchmarks.drivers_can import SECTIONS as CAN_SECTIONS  # imported as a package module

SECTIONS.update(CAN_SECTIONS)  # type: ignore[arg-type]  # same Row shape, printed alike


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append", help="default: all")
    parser.add_argument("--polls", type=int, default=20, help="polls at 9600 baud (5x that at 115200)")
    parser.add_argument("--models", default="sdm630,em340", help="meter models, comma-separated")
    args = parser.parse_args(argv)
    print(f"{'case':<28} {'measured':>10} {'wire time':>10} {'ratio':>7} {'overhead':>9}  detail")
    worst = 0.0
    for name in args.section or sorted(SECTIONS):
        for row in SECTIONS[name](args):
            worst = max(worst, row.ratio)
            print(
                f"{row.name:<28} {row.measured_s * 1000:>8.1f}ms {row.theoretical_s * 1000:>8.1f}ms "
                f"{row.ratio:>6.2f}x {(row.measured_s - row.theoretical_s) * 1000:>7.1f}ms  {row.detail}"
            )
    verdict = "ok" if worst <= TARGET_RATIO else "ABOVE TARGET"
    print(f"worst ratio {worst:.2f}x (target <= {TARGET_RATIO}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
