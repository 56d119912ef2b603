"""Station-core benchmark: reaction latencies and the cost of N simulated EVSEs.

Prints, in one run:

(a) CP change at the driver -> ``cp_status`` received by a subscriber through mosquitto, p50/p99,
    next to a bare paho publish -> receive round trip through the same broker (the floor);
(b) RCD trip / CP C -> B at the driver -> ``Contactor.open()`` called, p50/p99, no broker
    (target p99 <= 10 ms; IEC 61851 allows 100 ms for the whole reaction);
(c) CPU share of one core and peak RSS for 1, 8, 32 and 64 simulated EVSEs, CP sampled at 20 Hz
    and meters polled at 1 Hz, every EVSE in a charging session, publishing through a real Bridge
    to mosquitto; each size runs in its own process so the RSS is its own.

Usage: ``python benchmarks/station.py [--seconds 30] [--samples 300] [--sizes 1,8,32,64]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from josev_hal.devices import DeviceConfig  # noqa: E402
from josev_hal.station.config import EvseSettings  # noqa: E402
from josev_hal.station.evse import EvseController, EvseDevices  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:7.3f} ms"


# ------------------------------------------------------------------------------------------------
# building simulated EVSEs
# ------------------------------------------------------------------------------------------------


def make_evse(
    evse_id: str, publish: Callable[[Any], Any], *, clock: Any = None, free: bool = True, **settings: Any
) -> tuple[EvseController, Any]:
    from josev_hal_sim import DRIVERS, default_registry

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
        contactor=make("sim-contactor", close_delay_ms=0.0, open_delay_ms=0.0),
        rcd=make("sim-rcd"),
        meter=make("sim-meter"),
    )
    kwargs = {"clock": clock} if clock is not None else {}
    ctl = EvseController(
        EvseSettings(evse_id=evse_id, free_charging=free, **settings), devices, publish, **kwargs
    )
    world = default_registry().find(evse_id)
    return ctl, world


# ------------------------------------------------------------------------------------------------
# (a) CP change -> cp_status at a subscriber
# ------------------------------------------------------------------------------------------------


class Subscriber:
    def __init__(self, port: int, topic: str) -> None:
        self.cond = threading.Condition()
        self.seen: list[tuple[float, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}")
        ready = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not ready.wait(5):
            raise RuntimeError("subscriber could not subscribe")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        with self.cond:
            self.seen.append((now, bytes(msg.payload)))
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[bytes], bool], after: int, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, raw in self.seen[after:]:
                    if predicate(raw):
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("message did not arrive")
                self.cond.wait(left)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def bench_cp_to_subscriber(port: int, samples: int) -> tuple[list[float], list[float]]:
    from josev_hal.bridge import Bridge
    from josev_hal.mqtt_settings import MqttSettings

    bridge = Bridge(MqttSettings(broker=f"mqtt://127.0.0.1:{port}", client_id="bench-station"))
    bridge.start(wait_s=10)
    sub = Subscriber(port, "cs/josev")
    # free=False: plugging in gives exactly one change (A1 -> B1), unplugging one (B1 -> A1)
    ctl, world = make_evse("DE*BEN*E0001", bridge.publish_update, free=False)
    ctl.subscribe_notifications()
    ctl.evaluate()
    time.sleep(0.3)
    station: list[float] = []
    try:
        for i in range(samples):
            want = b'"state":"B1"' if i % 2 == 0 else b'"state":"A1"'
            mark = len(sub.seen)
            t0 = time.perf_counter()
            world.plug() if i % 2 == 0 else world.unplug()
            t1 = sub.wait_for(lambda raw, w=want: b'"cp_status"' in raw and w in raw, mark)
            station.append(t1 - t0)
        bare: list[float] = []
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare")
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        bare_sub = Subscriber(port, "bench/bare")
        for i in range(samples):
            mark = len(bare_sub.seen)
            token = f"{i}".encode()
            t0 = time.perf_counter()
            pub.publish("bench/bare", token, qos=1)
            t1 = bare_sub.wait_for(lambda raw, tk=token: raw == tk, mark)
            bare.append(t1 - t0)
        pub.loop_stop()
        pub.disconnect()
        bare_sub.close()
    finally:
        sub.close()
        bridge.stop()
    return station, bare


# ------------------------------------------------------------------------------------------------
# (b) fault at the driver -> contactor open() call, no broker
# ------------------------------------------------------------------------------------------------


def bench_open_latency(samples: int) -> dict[str, list[float]]:
    from josev_hal_sim import ManualClock, WorldRegistry, set_default_registry
    from josev_hal_sim.physics import EvRequest

    clock = ManualClock()
    previous = set_default_registry(WorldRegistry(clock))
    ctl, world = make_evse("DE*BEN*E0002", lambda payload: None, clock=clock.now)
    ctl.subscribe_notifications()
    contactor = ctl.devices.contactor
    assert contactor is not None
    opened: list[float] = []
    original_open = contactor.open

    def timed_open() -> None:
        opened.append(time.perf_counter())
        original_open()

    contactor.open = timed_open  # type: ignore[method-assign]
    results: dict[str, list[float]] = {"rcd_trip": [], "cp_c_to_b": []}
    world.plug()
    try:
        for i in range(samples * 2):
            kind = "rcd_trip" if i % 2 == 0 else "cp_c_to_b"
            world.set_request(EvRequest.CHARGE)
            for _ in range(3):
                clock.advance(0.05)
                ctl.evaluate()
            if not ctl.contactor_closed:
                raise RuntimeError(f"contactor did not close before sample {i}: {ctl.last_decision}")
            opened.clear()
            t0 = time.perf_counter()
            if kind == "rcd_trip":
                world.rcd_trip()
            else:
                world.set_request(EvRequest.IDLE)
            if not opened:
                raise RuntimeError(f"{kind}: contactor open() was not called synchronously")
            results[kind].append(opened[0] - t0)
            if kind == "rcd_trip":
                world.rcd_clear()
                ctl.reset_rcd()
            world.set_request(EvRequest.IDLE)
            clock.advance(0.05)
            ctl.evaluate()
    finally:
        set_default_registry(previous)
    return results


# ------------------------------------------------------------------------------------------------
# (c) N EVSEs: CPU and RSS (child process)
# ------------------------------------------------------------------------------------------------


def child(n: int, seconds: float, port: int) -> None:
    from josev_hal.bridge import Bridge
    from josev_hal.mqtt_settings import MqttSettings

    base_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bridge = Bridge(MqttSettings(broker=f"mqtt://127.0.0.1:{port}", client_id=f"bench-n{n}"))
    bridge.start(wait_s=10)
    controllers = []
    for i in range(n):
        ctl, world = make_evse(
            f"DE*BEN*E{i:04d}", bridge.publish_update, cp_sample_interval_s=0.05, meter_interval_s=1.0
        )
        controllers.append((ctl, world))
    for ctl, world in controllers:
        ctl.start()
        world.plug()
        from josev_hal_sim.physics import EvRequest

        world.set_request(EvRequest.CHARGE)
    time.sleep(1.0)  # warm-up: sessions established
    r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    time.sleep(seconds)
    r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    closed = sum(1 for ctl, _ in controllers if ctl.contactor_closed)
    cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / (w1 - w0)
    for ctl, _ in controllers:
        ctl.stop()
    bridge.stop()
    print(
        json.dumps(
            {
                "n": n,
                "cpu": cpu,
                "peak_rss_mb": r1.ru_maxrss / 1024,
                "base_rss_mb": base_rss_kb / 1024,
                "closed": closed,
            }
        )
    )


def bench_scaling(sizes: list[int], seconds: float, port: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--seconds", str(seconds), "--port", str(port)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}"},
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


# ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each scaling run (c)")
    parser.add_argument("--samples", type=int, default=300, help="samples for (a) and (b)")
    parser.add_argument("--sizes", default="1,8,32,64", help="EVSE counts for (c)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.seconds, args.port)
        return 0

    import logging

    logging.basicConfig(level=logging.ERROR)
    from josev_hal.embedded_broker import EmbeddedBroker

    broker = EmbeddedBroker().start()
    try:
        station, bare = bench_cp_to_subscriber(broker.port, args.samples)
        opens = bench_open_latency(args.samples)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        rows = bench_scaling(sizes, args.seconds, broker.port)
    finally:
        broker.close()

    print(f"josev-hal station benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    print()
    print(f"(a) CP change at the driver -> cp_status at a subscriber, via mosquitto ({args.samples} samples)")
    print(f"    {'path':<38} {'p50':>10} {'p99':>10}")
    print(f"    {'station (driver -> core -> bridge)':<38} {ms(pct(station, 0.5))} {ms(pct(station, 0.99))}")
    print(f"    {'bare paho publish -> receive':<38} {ms(pct(bare, 0.5))} {ms(pct(bare, 0.99))}")
    print(f"    {'ratio station / bare (p50)':<38} {pct(station, 0.5) / pct(bare, 0.5):9.2f}x")
    print()
    print(f"(b) fault at the driver -> Contactor.open() called, no broker ({args.samples} samples each)")
    print(f"    {'event':<38} {'p50':>10} {'p99':>10}")
    for kind, label in (("rcd_trip", "RCD trip"), ("cp_c_to_b", "CP C2 -> B2")):
        values = opens[kind]
        print(f"    {label:<38} {ms(pct(values, 0.5))} {ms(pct(values, 0.99))}")
    print("    target p99 <= 10 ms; normative limit 100 ms (IEC 61851-1 Table A.6)")
    print()
    print(f"(c) N EVSEs charging, CP at 20 Hz, meter at 1 Hz, {args.seconds:g} s each")
    print(
        f"    {'EVSEs':>5} {'CPU (% of one core)':>20} {'peak RSS':>10}"
        f" {'RSS before EVSEs':>17} {'closed':>7}"
    )
    for row in rows:
        print(
            f"    {row['n']:>5} {row['cpu'] * 100:>19.1f}% {row['peak_rss_mb']:>8.1f} MB"
            f" {row['base_rss_mb']:>14.1f} MB {row['closed']:>4}/{row['n']}"
        )
    print("    target at 32 EVSEs: <= 15 % of one core, <= 60 MB RSS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
