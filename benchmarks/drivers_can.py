"""CAN power-module and MCU-link sections of ``benchmarks/drivers.py``.

    python benchmarks/drivers.py --section can --section mculink

**can** -- ``set_target()`` on a module group until every simulated module has applied its
set-point, for InfyPower (1 frame per module) and Winline (2 frames per module) groups of 1 and
4 modules. The driver and the simulated group sit on two python-can ``virtual`` channels joined
by :class:`CanWire`, which delivers every frame only after its transmission time at 125 kbit/s
on one shared medium (both directions), so the measurement contains the wire time plus what the
software adds. Theoretical: the wire time of the set-point frames plus the modules'
acknowledgements that can fall between them (2n - 1 frames for n set-point frames), 131 bits per
extended 8-byte frame
(start, 29-bit ID with SRR/IDE/RTR, control, 64 data, CRC, ACK, end of frame, intermission;
bit stuffing, which adds up to ~20 %, is not counted -- a lower bound).

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
from josev_hal_can.winline import WinlineDc, WinlineOptions
from josev_hal_mculink import protocol as mcu_proto
from josev_hal_mculink.drivers import McuContactor, McuContactorOptions

from josev_hal.buses.can import CanBus, CanBusOptions
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig
from josev_hal.simulators.can_power_module import InfyPowerGroupSim, WinlineGroupSim
from josev_hal.simulators.mcu import McuSim
from josev_hal.simulators.modbus_meter import PtyLine, wire_time_s

__all__ = ["SECTIONS", "CanWire", "Row", "can_section", "mculink_section"]

CAN_BITRATE = 125_000
FRAME_BITS = 131  # extended ID, 8 data bytes, without stuff bits


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


def frame_time_s(frames: int, bitrate: int = CAN_BITRATE) -> float:
    return frames * FRAME_BITS / bitrate


class CanWire:
    """Two virtual channels joined like one physical CAN bus at ``bitrate``: a frame sent on
    either side arrives on the other after its wire time, frames queue behind each other."""

    def __init__(self, side_a: str, side_b: str, bitrate: int = CAN_BITRATE) -> None:
        self._a = can.Bus(interface="virtual", channel=side_a)
        self._b = can.Bus(interface="virtual", channel=side_b)
        self._frame_s = FRAME_BITS / bitrate
        self._free_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._pump, args=(self._a, self._b), daemon=True),
            threading.Thread(target=self._pump, args=(self._b, self._a), daemon=True),
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

    def _pump(self, src: can.BusABC, dst: can.BusABC) -> None:
        while not self._stop.is_set():
            msg = src.recv(timeout=0.05)
            if msg is None:
                continue
            with self._lock:  # one medium: frames of both directions take turns
                start = max(time.perf_counter(), self._free_at)
                self._free_at = start + self._frame_s
                done = self._free_at
            while (left := done - time.perf_counter()) > 0:
                time.sleep(min(left, 0.0005))
            dst.send(msg)


def _measure_setpoints(family: str, modules: int, runs: int) -> tuple[list[float], int]:
    hal_side, module_side = f"bench-hal-{uuid.uuid4().hex}", f"bench-mod-{uuid.uuid4().hex}"
    addresses = list(range(modules))
    sim_cls: Any = InfyPowerGroupSim if family == "infypower" else WinlineGroupSim
    driver_cls: Any = InfyPowerDc if family == "infypower" else WinlineDc
    options_cls: Any = InfyPowerOptions if family == "infypower" else WinlineOptions
    frames_per_module = 1 if family == "infypower" else 2
    times: list[float] = []
    with (
        CanWire(hal_side, module_side),
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
                times.append(time.perf_counter() - t0)
                time.sleep(0.01)  # let acknowledgements drain so runs do not queue behind each other
        finally:
            driver.release()
            bus.release()
    return times, modules * frames_per_module


def can_section(args: argparse.Namespace) -> list[Row]:
    """Set-point latency of module groups over an emulated 125 kbit/s CAN bus."""
    rows: list[Row] = []
    runs = max(10, args.polls)
    for family in ("infypower", "winline"):
        for modules in (1, 4):
            times, setpoints = _measure_setpoints(family, modules, runs)
            # The modules acknowledge every set-point on the same medium; all but the last
            # acknowledgement can fall between our frames.
            frames = 2 * setpoints - 1
            rows.append(
                Row(
                    f"can {family} set x{modules}",
                    statistics.median(times),
                    frame_time_s(frames),
                    f"{setpoints} set-point + {frames - setpoints} ack frame(s) @ 125 kbit/s, "
                    f"{runs} runs, p90 {_p90(times) * 1000:.2f} ms",
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
