"""Sampling cost: one scheduler per board vs two threads per EVSE (issue #17 item 2).

For N simulated AC EVSEs (every one in a charging session: CP sampled at 20 Hz, meter at 1 Hz,
the real controller and sim drivers, publishing into a no-op), measures the process CPU time over
a fixed wall-clock window in two modes, in the same run:

* ``threads``: each ``EvseController.start()`` runs its own CP and meter threads (the baseline);
* ``scheduler``: the controllers are attached to one ``station-sampler`` and one ``station-slow``
  scheduler, as ``Station`` does.

Prints CPU %% of one core for each mode and the ratio scheduler/threads. Nothing is asserted.

Usage: ``python benchmarks/scheduler.py [--sizes 8,32,128] [--seconds 5]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import msgspec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "plugins"))

from josev_hal.devices import DeviceConfig  # noqa: E402
from josev_hal.station.config import SafetySettings  # noqa: E402
from josev_hal.station.evse import EvseController, EvseDevices, EvseSettings  # noqa: E402
from josev_hal.station.scheduler import Scheduler  # noqa: E402


def make_evse(index: int) -> tuple[EvseController, Any]:
    from josev_hal_sim import DRIVERS, default_registry

    evse_id = f"DE*BEN*E{index:04d}"

    def make(name: str, **options: Any) -> Any:
        cls = DRIVERS[name]
        cfg = DeviceConfig(
            device_id=f"{evse_id}.{name}", options=msgspec.convert(options, cls.Options), evse_id=evse_id
        )
        driver = cls(cfg)
        driver.setup()
        return driver

    devices = EvseDevices(
        cp={1: make("sim-cp", noise_v=0.02, ev_draw_a=16.0)},
        pp={1: make("sim-pp")},
        contactor=make("sim-contactor"),
        rcd=make("sim-rcd"),
        meter=make("sim-meter"),
    )
    settings = EvseSettings(evse_id=evse_id, free_charging=True, safety=SafetySettings(rcd_self_test="off"))
    ctl = EvseController(settings, devices, lambda payload: None)
    world = default_registry().find(evse_id)
    return ctl, world


def cpu_share(seconds: float) -> float:
    t0, c0 = time.monotonic(), time.process_time()
    time.sleep(seconds)
    return (time.process_time() - c0) / (time.monotonic() - t0) * 100.0


def run(n: int, mode: str, seconds: float) -> float:
    from josev_hal_sim import WorldRegistry, set_default_registry
    from josev_hal_sim.physics import EvRequest

    previous = set_default_registry(WorldRegistry())
    evses = [make_evse(i) for i in range(n)]
    sampler, slow = Scheduler("sampler"), Scheduler("slow")
    try:
        for ctl, world in evses:
            if mode == "threads":
                ctl.start()
            else:
                ctl.attach(sampler, slow)
            world.plug()
            world.set_request(EvRequest.CHARGE)
        if mode == "scheduler":
            sampler.start()
            slow.start()
        time.sleep(1.0)  # sessions running, contactors closed
        closed = sum(ctl.contactor_closed for ctl, _ in evses)
        share = cpu_share(seconds)
        if closed != n:
            print(f"  note: only {closed}/{n} contactors closed in mode {mode}")
        return share
    finally:
        for ctl, _ in evses:
            ctl.begin_stop()
        sampler.stop(2.0)
        slow.stop(2.0)
        for ctl, _ in evses:
            ctl.finish_stop(0.5)
            for driver in ctl.devices.all():
                driver.release()
        set_default_registry(previous)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="8,32,128")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus; CPU % of one core over {args.seconds:g} s"
    )
    print(f"{'EVSEs':>6} {'threads':>9} {'scheduler':>10} {'ratio':>7}")
    for n in (int(x) for x in args.sizes.split(",")):
        base = run(n, "threads", args.seconds)
        sched = run(n, "scheduler", args.seconds)
        print(f"{n:>6} {base:>8.1f}% {sched:>9.1f}% {sched / base if base else float('nan'):>7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
