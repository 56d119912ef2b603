"""EVerest northbound latency on the sim board through a private mosquitto.

Two measurements, each printed with its baseline from the same run:

* **command**: ``e2m/allow_power_on`` true -> ``m2e/event PowerOn`` and false -> ``PowerOff``
  (decode, worker, supervision thread, contactor command, mirror-contact confirmation with a
  0 ms sim relay, encode, publish), against the bare MQTT floor: a paho client that republishes
  every e2m payload on an m2e topic from its network thread (the same two broker hops);
* **second channel**: the EV leaves C (``sim`` pause, announced by the CP driver's notify) until
  the adapter has commanded the contactor open - no MQTT involved - against the CP sampling
  interval (``[cp] sample_interval_ms``), the reaction a polled board would have.

Run::

    /work/venv/bin/python benchmarks/everest.py [--cycles 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from josev_hal_sim import WorldRegistry, default_registry, set_default_registry, sim_board_text
from josev_hal_sim.physics import EvRequest

from josev_hal.board import Board
from josev_hal.bridge.connection import set_tcp_nodelay
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.everest import messages as m
from josev_hal.everest.emulator import BSP, EmulatedModules, EverestEmulator
from josev_hal.everest.northbound import EverestNorthbound
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import load_profile_text

AC = "DE*JHL*E0001"
ON = m.PowerOnOff(allow_power_on=True, reason=m.PowerOnReason.FULL_POWER_CHARGING)
OFF = m.PowerOnOff(allow_power_on=False, reason=m.PowerOnReason.POWER_OFF)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def floor_round_trips(port: int, cycles: int) -> list[float]:
    """Bare paho echo: e2m in, m2e out, from the echo's network thread."""
    topic_in, topic_out = "everest_api/1/bench/x/e2m/ping", "everest_api/1/bench/x/m2e/pong"
    ready, got = threading.Event(), threading.Event()
    echo = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"echo-{uuid.uuid4().hex[:6]}")
    echo.on_socket_open = set_tcp_nodelay  # as the HAL and the emulator do: no Nagle delay
    echo.on_message = lambda c, u, msg: c.publish(topic_out, msg.payload, qos=1)
    echo.on_subscribe = lambda *a: ready.set()
    echo.connect("127.0.0.1", port)
    echo.loop_start()
    echo.subscribe(topic_in, qos=1)
    req = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"req-{uuid.uuid4().hex[:6]}")
    req.on_socket_open = set_tcp_nodelay
    req.on_message = lambda *a: got.set()
    sub = threading.Event()
    req.on_subscribe = lambda *a: sub.set()
    req.connect("127.0.0.1", port)
    req.loop_start()
    req.subscribe(topic_out, qos=1)
    ready.wait(5), sub.wait(5)
    out = []
    for _ in range(cycles):
        got.clear()
        t0 = time.perf_counter()
        req.publish(topic_in, b"true", qos=1)
        if not got.wait(5):
            raise TimeoutError("echo lost")
        out.append(time.perf_counter() - t0)
    for client in (echo, req):
        client.disconnect()
        client.loop_stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    set_default_registry(WorldRegistry())
    broker = EmbeddedBroker().start()
    pm = get_plugin_manager()
    # Every cycle closes and opens the contactor: a 0 ms sim relay and no minimum interval between
    # closings (the wear rule is tested elsewhere; with it, the second closing waits 10 s).
    text = sim_board_text()
    for old, new in (
        ("close_delay_ms = 30, open_delay_ms = 20", "close_delay_ms = 0, open_delay_ms = 0"),
        ("min_close_interval_s = 10.0", "min_close_interval_s = 0.0"),
    ):
        if old not in text:
            raise SystemExit(f"the sim board no longer says {old!r}: update this benchmark")
        text = text.replace(old, new)
    profile = load_profile_text('[northbound]\nkind = "everest"\n' + text, "bench.toml", pm)
    profile.mqtt.client_id = f"bench-{uuid.uuid4().hex[:6]}"
    board = Board.build(profile, pm)
    board.setup()
    northbound = EverestNorthbound(profile, board, broker_url=broker.url)
    try:
        northbound.start(wait_s=10, pm=pm)
        floor = floor_round_trips(broker.port, args.cycles)
        mods = EmulatedModules(evse_id=AC, evse_board_support="bsp_1")
        world = default_registry().find(AC, 1)
        assert world is not None
        bsp = northbound.bsps[AC]
        with EverestEmulator(broker.url, [mods], heartbeat_ms=250) as emu:
            deadline = time.monotonic() + 10
            while not bsp.snapshot().alive and time.monotonic() < deadline:
                time.sleep(0.01)
            emu.send(BSP, "bsp_1", "enable", True)
            emu.send(BSP, "bsp_1", "pwm_on", 26.7)
            emu.send(BSP, "bsp_1", "lock")
            emu.sim(AC, "plug")
            emu.sim(AC, "charge")
            emu.wait_for(lambda r: r.name == "event" and r.value.event.value == "C", 5)
            time.sleep(0.5)  # the lock's feedback
            command: list[float] = []
            for _ in range(args.cycles):
                for payload, event in ((ON, "PowerOn"), (OFF, "PowerOff")):
                    t = time.monotonic()
                    emu.send(BSP, "bsp_1", "allow_power_on", payload)
                    rec = emu.wait_for(
                        lambda r, e=event: r.name == "event" and r.value.event.value == e, 5, after=t
                    )
                    command.append(rec.at - t)
            reaction: list[float] = []
            emu.send(BSP, "bsp_1", "allow_power_on", ON)  # stays set through B pauses
            for _ in range(min(args.cycles, 50)):
                while not world.relay_state()[0]:
                    time.sleep(0.001)
                t0 = time.perf_counter()
                world.set_request(EvRequest.IDLE)  # C -> B: the CP driver notifies at once
                while world.relay_state()[0]:
                    time.sleep(0.0002)
                reaction.append(time.perf_counter() - t0)
                t = time.monotonic()
                world.set_request(EvRequest.CHARGE)
                emu.wait_for(
                    lambda r, t=t: r.name == "event" and r.value.event.value == "PowerOn", 5, after=t
                )
        interval = profile.cp.sample_interval_ms / 1000.0
        f50, f99 = percentiles(floor)
        c50, c99 = percentiles(command)
        r50, r99 = percentiles(reaction)
        print(f"bare MQTT round trip (floor)        p50 {f50 * 1e3:7.2f} ms  p99 {f99 * 1e3:7.2f} ms")
        print(
            f"allow_power_on -> PowerOn/PowerOff  p50 {c50 * 1e3:7.2f} ms  p99 {c99 * 1e3:7.2f} ms"
            f"  ({c50 / f50:.1f}x the floor at p50)"
        )
        print(
            f"EV leaves C -> contactor commanded open  p50 {r50 * 1e3:7.2f} ms  p99 {r99 * 1e3:7.2f} ms"
            f"  ({r50 / interval:.2f}x the {interval * 1e3:.0f} ms CP sampling interval)"
        )
    finally:
        northbound.stop()
        board.release()
        broker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
