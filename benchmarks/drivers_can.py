"""CAN power-module and MCU-link sections of ``benchmarks/drivers.py``.

    python benchmarks/drivers.py --section can --section mculink

**can** -- ``set_target()`` on a module group until every simulated module has applied its
set-point, for InfyPower (1 frame per module) and Winline (2 frames per module) groups of 1 and
4 modules. The driver and the simulated group sit on two python-can ``virtual`` channels joined
by :class:`CanWire`, one shared medium at 125 kbit/s (both directions): every frame occupies it
for its exact length on the wire and is delivered after that, frames queue behind each other.
The length of a frame is counted exactly, stuff bits included (:func:`frame_bits`: SOF through
CRC are stuffed -- after five equal bits one opposite bit -- computed from the frame's own ID,
DLC, data and CRC-15; then CRC delimiter, ACK slot and delimiter, 7 bits end of frame and 3 bits
intermission). Theoretical: the wire time of the frames the medium actually carried from the call
until the last set-point frame was delivered (the set-point frames and whichever module
acknowledgements got in between them), so measured / theoretical is what the software adds on
top of the wire. The detail column also gives the bounds for the set-point frames alone: without
stuff bits (131 bits per 8-byte extended frame) and with the worst case (160).

**mculink** -- one MCU-link command (``McuContactor.open()``: command frame out, ACK back) over a
pty line emulating 115200 baud 8N1. Theoretical: both frames' characters at 10 bits each. The
simulated MCU answers at once; a real MCU adds its main-loop latency.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import can
from josev_hal_can.infypower import InfyPowerDc, InfyPowerOptions
from josev_hal_can.sim import InfyPowerGroupSim, WinlineGroupSim
from josev_hal_can.winline import WinlineDc, WinlineOptions
from josev_hal_mculink import protocol as mcu_proto
from josev_hal_mculink.drivers import McuContactor, McuContactorOptions
from josev_hal_mculink.sim import McuSim

from josev_hal.buses.can import CanBus, CanBusOptions
from josev_hal.buses.pty_line import PtyLine, wire_time_s
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig

__all__ = ["SECTIONS", "CanWire", "Row", "can_section", "mculink_section"]

CAN_BITRATE = 125_000
FRAME_BITS = 131  # extended ID, 8 data bytes, without stuff bits
WORST_FRAME_BITS = 160  # the same with the most stuff bits possible (29 in 118 stuffable bits)


def _crc15(bits: list[int]) -> int:
    """CAN CRC-15 (polynomial 0x4599) over the unstuffed bits from SOF to the end of the data."""
    crc = 0
    for bit in bits:
        top = ((crc >> 14) & 1) ^ bit
        crc = (crc << 1) & 0x7FFF
        if top:
            crc ^= 0x4599
    return crc


def _bits(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def frame_bits(msg: can.Message) -> int:
    """Exact length on the wire of a CAN 2.0 data frame, stuff bits and intermission included."""
    dlc = len(msg.data)
    if msg.is_extended_id:
        ident = msg.arbitration_id
        head = [0, *_bits(ident >> 18, 11), 1, 1, *_bits(ident & 0x3FFFF, 18), 0, 0, 0]  # SOF..r0
    else:
        head = [0, *_bits(msg.arbitration_id, 11), 0, 0, 0]  # SOF, ID, RTR, IDE, r0
    body = head + _bits(dlc, 4) + [b for byte in msg.data for b in _bits(byte, 8)]
    stuffed_region = body + _bits(_crc15(body), 15)
    stuff, run, last = 0, 0, None
    for bit in stuffed_region:
        if bit == last:
            run += 1
        else:
            run, last = 1, bit
        if run == 5:  # a stuff bit of the opposite level follows and starts a new run
            stuff += 1
            run, last = 1, 1 - bit
    return len(stuffed_region) + stuff + 3 + 7 + 3  # CRC del + ACK slot + ACK del, EOF, IFS


@dataclass
class Row:
    """One measured case (the same shape as ``drivers.Row``, which prints it)."""

    name: str
    measured_s: float
    theoretical_s: float
    detail: str = ""

    @property
    def ratio(self) -> float:
        return self.measured_s / self.theoretical_s


def _p90(times: list[float]) -> float:
    return sorted(times)[int(0.9 * (len(times) - 1))]


class CanWire:
    """Two virtual channels joined like one physical CAN bus at ``bitrate``: a frame sent on
    either side occupies the one medium for :func:`frame_bits` bit times and arrives on the other
    side after that; frames queue behind each other. ``log`` records every frame carried as
    ``(start, end, from_hal, bits)``."""

    def __init__(self, side_a: str, side_b: str, bitrate: int = CAN_BITRATE) -> None:
        self._a = can.Bus(interface="virtual", channel=side_a)
        self._b = can.Bus(interface="virtual", channel=side_b)
        self._bitrate = bitrate
        self._free_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.log: list[tuple[float, float, bool, int]] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self._a, self._b, True), daemon=True),
            threading.Thread(target=self._pump, args=(self._b, self._a, False), daemon=True),
        ]

    def __enter__(self) -> CanWire:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2.0)
        self._a.shutdown()
        self._b.shutdown()

    def _pump(self, src: can.BusABC, dst: can.BusABC, from_hal: bool) -> None:
        while not self._stop.is_set():
            msg = src.recv(timeout=0.05)
            if msg is None:
                continue
            bits = frame_bits(msg)
            with self._lock:  # one medium: frames of both directions take turns
                start = max(time.perf_counter(), self._free_at)
                self._free_at = start + bits / self._bitrate
                done = self._free_at
                self.log.append((start, done, from_hal, bits))
            while (left := done - time.perf_counter()) > 0:
                time.sleep(min(left, 0.0005))
            dst.send(msg)

    def carried_s(self, since: float, until: float) -> tuple[float, int, int]:
        """Wire time of the frames that started in [since, until]: (seconds, frames from the
        HAL, frames from the modules)."""
        with self._lock:
            frames = [f for f in self.log if since <= f[0] <= until]
        return (
            sum(f[3] for f in frames) / self._bitrate,
            sum(1 for f in frames if f[2]),
            sum(1 for f in frames if not f[2]),
        )


def _measure_setpoints(family: str, modules: int, runs: int) -> tuple[list[float], list[float], int, str]:
    """(measured, wire time carried, set-point frames per run, detail about the carried frames)."""
    hal_side, module_side = f"bench-hal-{uuid.uuid4().hex}", f"bench-mod-{uuid.uuid4().hex}"
    addresses = list(range(modules))
    sim_cls: Any = InfyPowerGroupSim if family == "infypower" else WinlineGroupSim
    driver_cls: Any = InfyPowerDc if family == "infypower" else WinlineDc
    options_cls: Any = InfyPowerOptions if family == "infypower" else WinlineOptions
    frames_per_module = 1 if family == "infypower" else 2
    times: list[float] = []
    carried: list[float] = []
    acks_between: list[int] = []
    with (
        CanWire(hal_side, module_side) as wire,
        sim_cls(interface="virtual", channel=module_side, modules=tuple(addresses), watchdog_s=60.0) as sim,
    ):
        bus = CanBus("can0", CanBusOptions(interface="virtual", channel=hal_side))
        bus.setup()
        # Long poll interval and no refresh: only the set-point frames are on the wire.
        options = options_cls(
            modules=addresses, poll_interval_s=30.0, offline_after_s=60.0, resend_setpoints=False
        )
        driver = driver_cls(DeviceConfig(device_id="bench.power_module", options=options, bus=bus))
        try:
            driver.setup()
            time.sleep(0.2)  # setup frames drain
            for i in range(runs):
                # New voltage *and* current each run: "applied" means every frame arrived.
                volts, amps = 300.0 + i, 10.0 + i % 2
                t0 = time.perf_counter()
                driver.set_target(volts, amps * modules)
                while not all(m.setpoint_v == volts and m.setpoint_a == amps for m in sim.modules.values()):
                    time.sleep(0.0001)
                t1 = time.perf_counter()
                times.append(t1 - t0)
                with wire._lock:
                    last_start = max(f[0] for f in wire.log if f[2] and f[0] >= t0)
                wire_s, _ours, theirs = wire.carried_s(t0, last_start)
                carried.append(wire_s)
                acks_between.append(theirs)
                time.sleep(0.01)  # let acknowledgements drain so runs do not queue behind each other
        finally:
            driver.release()
            bus.release()
    setpoints = modules * frames_per_module
    detail = f"{setpoints} set-point frame(s) + median {statistics.median(acks_between):g} ack(s) carried"
    return times, carried, setpoints, detail


def can_section(args: argparse.Namespace) -> list[Row]:
    """Set-point latency of module groups over an emulated 125 kbit/s CAN bus."""
    rows: list[Row] = []
    runs = max(10, args.polls)
    for family in ("infypower", "winline"):
        for modules in (1, 4):
            times, carried, setpoints, detail = _measure_setpoints(family, modules, runs)
            bounds = (
                f"set-points alone {setpoints * FRAME_BITS / CAN_BITRATE * 1000:.2f}-"
                f"{setpoints * WORST_FRAME_BITS / CAN_BITRATE * 1000:.2f} ms (no/worst stuffing)"
            )
            rows.append(
                Row(
                    f"can {family} set x{modules}",
                    statistics.median(times),
                    statistics.median(carried),
                    f"{detail}, exact stuff bits @ 125 kbit/s; {bounds}; {runs} runs, "
                    f"p90 {_p90(times) * 1000:.2f} ms",
                )
            )
    return rows


def mculink_section(args: argparse.Namespace) -> list[Row]:
    """One acknowledged MCU-link command over a 115200 baud wire-speed pty."""
    baudrate = 115200
    runs = max(20, args.polls * 2)
    request = len(mcu_proto.encode_frame(mcu_proto.Packet(mcu_proto.MsgType.SET_CONTACTOR, 1, b"\x00")))
    ack = len(mcu_proto.encode_frame(mcu_proto.Packet(mcu_proto.MsgType.ACK, 0, b"\x01\x00")))
    times: list[float] = []
    with PtyLine(baudrate=baudrate, emulate_wire=True) as line:
        # STATUS every 10 s: the measurement is the command round trip, not status traffic.
        sim = McuSim(device=line.peer_port, status_interval_s=10.0).start()
        bus = SerialBus("mcu", SerialBusOptions(port=line.client_port, baudrate=baudrate))
        options = McuContactorOptions(
            keepalive_interval_s=1.0, mcu_failsafe_timeout_ms=5000, link_timeout_s=30
        )
        contactor = McuContactor(DeviceConfig(device_id="bench.contactor", options=options, bus=bus))
        try:
            contactor.setup()
            contactor.open()  # warm-up
            for _ in range(runs):
                t0 = time.perf_counter()
                contactor.open()
                times.append(time.perf_counter() - t0)
                time.sleep(0.01)  # the STATUS that follows each command drains
        finally:
            contactor.release()
            bus.release()
            sim.stop()
    return [
        Row(
            "mculink command+ack @ 115200",
            statistics.median(times),
            wire_time_s(request + ack, baudrate),
            f"{request}+{ack} chars, {runs} runs, p90 {_p90(times) * 1000:.2f} ms",
        )
    ]


SECTIONS: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "can": can_section,
    "mculink": mculink_section,
}
