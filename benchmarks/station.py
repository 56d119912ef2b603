"""Station benchmark: reaction latencies, the real daemon's cost for N simulated EVSEs, start-up.

Prints, in one run (each figure next to a baseline measured in the same run):

(a) CP change at the driver -> ``cp_status`` received by a subscriber in *another process*
    through mosquitto, p50/p99, interleaved sample by sample with a bare paho publish -> receive
    through the same broker to the same subscriber (the floor). The subscriber stamps each arrival
    with ``CLOCK_MONOTONIC`` (system-wide on Linux) and reports it back, so the publishing
    process's GIL cannot delay the measurement;
(b) RCD trip / CP C -> B at the driver -> ``Contactor.open()`` called, p50/p99, no broker
    (target p99 <= 0.1 ms; IEC 61851 allows 100 ms for the whole reaction);
(c) the real daemon (``josev-hal run`` on a generated N-EVSE sim profile, own process) with every
    EVSE in a charging session (CP sampled at 20 Hz, meters at 1 Hz): CPU share of one core and
    RSS from ``/proc/<pid>``;
(d) start-up: process start -> first ``cs_parameters`` answer of ``josev-hal run`` on the
    built-in sim board (a peer asks every millisecond from the start), median of 5, and the
    idle RSS 2 s later, next to the start of a bare ``python -c pass`` (the interpreter floor).
    The daemon runs with a bytecode cache as an installed package does (a private temporary
    ``PYTHONPYCACHEPREFIX``; the first start, not measured, fills it).

With ``--stages``, (a) runs a second pass with stamps at each point the change passes (driver
notify, bridge publish, outbox, paho publish, socket write) and prints the median of each stage;
the figures of the first pass are taken without them.

Usage: ``python benchmarks/station.py [--seconds 30] [--samples 300] [--sizes 1,8,32,64,128]
[--sections abcd] [--stages]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
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
from josev_hal.station.config import EvseSettings, SafetySettings  # noqa: E402
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
    # The benchmark closes and opens the contactor once per sample: no minimum interval between
    # closings and no RCD self-test before each session (both are measured elsewhere).
    settings.setdefault("min_close_interval_s", 0.0)
    settings.setdefault("safety", SafetySettings(rcd_self_test="off"))
    ctl = EvseController(
        EvseSettings(evse_id=evse_id, free_charging=free, **settings), devices, publish, **kwargs
    )
    world = default_registry().find(evse_id)
    return ctl, world


# ------------------------------------------------------------------------------------------------
# (a) CP change -> cp_status at a subscriber
# ------------------------------------------------------------------------------------------------


ACK_TOPIC = "bench/ack"


def subscriber_process(port: int) -> None:
    """Child: subscribe to cs/josev and bench/bare; stamp each arrival with CLOCK_MONOTONIC and
    report it on bench/ack (``<ns> <topic> <payload>``)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{uuid.uuid4().hex[:6]}")

    def on_message(c: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic_ns()
        c.publish(ACK_TOPIC, b"%d %s %s" % (now, msg.topic.encode(), bytes(msg.payload)), qos=0)

    client.on_connect = lambda c, *a: c.subscribe([("cs/josev", 1), ("bench/bare", 1)])
    client.on_subscribe = lambda *a: print("ready", flush=True)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_forever()


class Acks:
    """The parent's view of the out-of-process subscriber: arrival times it reported."""

    def __init__(self, port: int) -> None:
        self.cond = threading.Condition()
        self.seen: list[tuple[int, str, bytes]] = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-ack-{uuid.uuid4().hex[:6]}"
        )
        ready = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(ACK_TOPIC, qos=0)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not ready.wait(5):
            raise RuntimeError("could not subscribe to the acks")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        stamp, topic, payload = bytes(msg.payload).split(b" ", 2)
        with self.cond:
            self.seen.append((int(stamp), topic.decode(), payload))
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[str, bytes], bool], after: int, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for stamp, topic, payload in self.seen[after:]:
                    if predicate(topic, payload):
                        return stamp
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("message did not arrive")
                self.cond.wait(left)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


#: (a)'s stages, in the order a CP change passes them (``--stages``): (stamp, the stamp it is
#: measured from, label). Each stamp is the first time the change reaches that point; the
#: arrival is the subscriber's. ``paho`` and ``returned`` both count from ``queued``: the network
#: thread runs while or after the driver call returns.
STAGES = (
    ("notify", "t0", "world changed -> the CP driver's notify()"),
    ("publish", "notify", "notify -> bridge.publish_update(cp_status)"),
    ("queued", "publish", "publish_update -> encoded, in the bridge outbox"),
    ("returned", "queued", "in the outbox -> the driver call returned"),
    ("paho", "queued", "in the outbox -> network thread in paho publish"),
    ("sent", "paho", "paho publish (socket write) returned"),
    ("arrived", "sent", "socket write -> subscriber received"),
)


class StageStamps:
    """Wrappers that stamp (``time.monotonic_ns``) the first passage of each sample's CP change
    through the path; installed on the objects of one instrumented pass only (``--stages``), so
    the measured pass above runs without them."""

    def __init__(self) -> None:
        self.current: dict[str, int] = {}
        self.rows: list[dict[str, int]] = []
        self._restore: Callable[[], None] = lambda: None

    def stamp(self, key: str) -> None:
        self.current.setdefault(key, time.monotonic_ns())

    def install(self, bridge: Any) -> None:
        """Before the EVSE is built: it keeps the bound methods it is given (the driver's
        ``notify`` in the sim world, the bridge's ``publish_update`` in its outbox)."""
        from josev_hal.devices import Driver

        notify = Driver.notify

        def stamped_notify(driver: Any) -> None:
            self.stamp("notify")
            notify(driver)

        Driver.notify = stamped_notify  # type: ignore[method-assign]
        self._restore = lambda: setattr(Driver, "notify", notify)
        conn = bridge._conn
        outbox_put, publish_now, publish_update = conn.outbox.put, conn.publish_now, bridge.publish_update

        def stamped_publish_update(payload: Any) -> Any:
            if payload.NAME == "cp_status":
                self.stamp("publish")
            return publish_update(payload)

        def stamped_put(item: Any) -> bool:
            full = outbox_put(item)
            if b'"cp_status"' in item.body:
                self.stamp("queued")
            return full

        def stamped_publish_now(item: Any) -> Any:
            cp = b'"cp_status"' in item.body
            if cp:
                self.stamp("paho")
            info = publish_now(item)
            if cp:
                self.stamp("sent")
            return info

        bridge.publish_update = stamped_publish_update
        conn.outbox.put = stamped_put
        conn.publish_now = stamped_publish_now

    def uninstall(self) -> None:
        self._restore()

    def begin(self) -> None:
        self.current = {}  # whatever another thread stamped between two changes

    def finish(self, t0: int, returned: int, arrived: int) -> None:
        row, self.current = self.current, {}
        row.update(t0=t0, returned=returned, arrived=arrived)
        if all(key in row for key, _since, _label in STAGES):
            self.rows.append(row)

    def report(self) -> list[tuple[str, float]]:
        """p50 of each stage in seconds, from the stamp it is measured from (:data:`STAGES`)."""
        return [
            (label, statistics.median((r[key] - r[since]) / 1e9 for r in self.rows))
            for key, since, label in STAGES
        ]


def bench_cp_to_subscriber(
    port: int, samples: int, stages: StageStamps | None = None
) -> tuple[list[float], list[float]]:
    from josev_hal.bridge import Bridge
    from josev_hal.mqtt_settings import MqttSettings

    sub = subprocess.Popen(
        [sys.executable, __file__, "--subscriber", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}"},
    )
    assert sub.stdout is not None
    if sub.stdout.readline().strip() != "ready":
        raise RuntimeError("subscriber process did not start")
    acks = Acks(port)
    bridge = Bridge(MqttSettings(broker=f"mqtt://127.0.0.1:{port}", client_id="bench-station"))
    bridge.start(wait_s=10)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    if stages is not None:
        stages.install(bridge)
    # free=False: plugging in gives exactly one change (A1 -> B1), unplugging one (B1 -> A1)
    # Each pass its own EVSE and simulated world (the sim registry finds worlds by EVSE id).
    ctl, world = make_evse(
        "DE*BEN*E0002" if stages is not None else "DE*BEN*E0001", bridge.publish_update, free=False
    )
    ctl.subscribe_notifications()
    ctl.evaluate()
    time.sleep(0.5)
    station: list[float] = []
    bare: list[float] = []
    try:
        for i in range(samples):  # interleaved: one station sample, one bare sample
            want = b'"state":"B1"' if i % 2 == 0 else b'"state":"A1"'
            mark = len(acks.seen)
            if stages is not None:
                stages.begin()
            t0 = time.monotonic_ns()
            world.plug() if i % 2 == 0 else world.unplug()
            returned = time.monotonic_ns()
            t1 = acks.wait_for(
                lambda t, raw, w=want: t == "cs/josev" and b'"cp_status"' in raw and w in raw, mark
            )
            station.append((t1 - t0) / 1e9)
            if stages is not None:
                stages.finish(t0, returned, t1)
            mark = len(acks.seen)
            token = f"{i}".encode()
            t0 = time.monotonic_ns()
            pub.publish("bench/bare", token, qos=1)
            t1 = acks.wait_for(lambda t, raw, tk=token: t == "bench/bare" and raw == tk, mark)
            bare.append((t1 - t0) / 1e9)
    finally:
        ctl.stop(timeout=1.0)
        if stages is not None:
            stages.uninstall()
        pub.loop_stop()
        pub.disconnect()
        acks.close()
        bridge.stop()
        sub.terminate()
        sub.wait(5)
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
# (c) the real daemon with N EVSEs: CPU and RSS from /proc
# ------------------------------------------------------------------------------------------------

SIM_BOARD = REPO / "boards" / "sim.toml"
# The daemon runs as it does when installed: with a bytecode cache (pip compiles one at install
# time). The cache goes to a private temporary prefix, never into the checkout, and a warm-up start
# fills it before anything is measured.
DAEMON_ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}",
    "PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="josev-hal-bench-pycache-"),
}
CHILD_ENV = DAEMON_ENV


def sim_profile(n: int) -> str:
    """The sim board with its AC EVSE repeated ``n`` times (own ids, own simulated worlds)."""
    text = SIM_BOARD.read_text()
    head, rest = text.split("[[evse]]", 1)
    ac = "[[evse]]" + rest.split("[[evse]]", 1)[0]
    blocks = [
        ac.replace('id = "DE*JHL*E0001"', f'id = "DE*BEN*E{i:04d}"').replace(
            "ocpp_id = 1\n", f"ocpp_id = {i + 1}\n"
        )
        for i in range(n)
    ]
    return head.replace('client_id = "josev-hal-sim"', 'client_id = "josev-hal-bench"') + "".join(blocks)


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of every thread of ``pid`` (/proc/<pid>/stat fields 14, 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mem_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def start_daemon(port: int, board: Path | None, state_dir: str, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "josev_hal.cli", "run", "--broker", f"mqtt://127.0.0.1:{port}"]
    cmd += ["--log-level", "error", "--state-dir", state_dir, *extra]
    if board is not None:
        cmd += ["--board", str(board)]
    return subprocess.Popen(cmd, env=CHILD_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Peer:
    """A Josev stand-in: records what the daemon publishes on cs/josev, sends requests/sim commands."""

    def __init__(self, port: int) -> None:
        self.cond = threading.Condition()
        self.messages: list[tuple[int, dict[str, Any]]] = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-peer-{uuid.uuid4().hex[:6]}"
        )
        ready = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe("cs/josev", qos=1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not ready.wait(5):
            raise RuntimeError("peer could not subscribe")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic_ns()
        doc = json.loads(msg.payload)
        with self.cond:
            self.messages.append((now, doc))
            self.cond.notify_all()

    def wait(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate([d for _, d in self.messages]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("condition not met")
                self.cond.wait(left)

    def send(self, topic: str, doc: dict[str, Any]) -> None:
        self.client.publish(topic, json.dumps(doc), qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _last_cp_state(msgs: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for m in msgs:
        if m["name"] == "cp_status" and m["type"] == "update":
            out[m["data"]["evse_id"]] = m["data"]["state"]
    return out


def _last_contactor(msgs: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for m in msgs:
        if m["name"] == "cs_contactor_status" and m["type"] == "update":
            out[m["data"]["evse_id"]] = m["data"]["status"]
    return out


def bench_daemon(n: int, seconds: float, port: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        board = Path(tmp) / f"sim-{n}.toml"
        board.write_text(sim_profile(n))
        peer = Peer(port)
        proc = start_daemon(port, board, tmp, "--free-charging")
        ids = [f"DE*BEN*E{i:04d}" for i in range(n)]
        try:
            peer.wait(
                lambda ms: len({m["data"].get("evse_id") for m in ms if m["name"] == "cp_status"}) >= n, 60
            )
            rss_idle = proc_mem_mb(proc.pid)
            # The first cp_status can leave before the sim plugin listens on sim/cs (a command sent
            # then is lost): plug in again every EVSE whose CP still reads A, until all charge.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states = _last_cp_state([d for _, d in peer.messages])
                for evse_id in ids:
                    if states.get(evse_id, "A1").startswith("A"):
                        peer.send(
                            "sim/cs", {"evse_id": evse_id, "connector_id": 1, "action": "plug", "cable_a": 32}
                        )
                        peer.send("sim/cs", {"evse_id": evse_id, "connector_id": 1, "action": "charge"})
                try:
                    peer.wait(lambda ms: sum(v == "closed" for v in _last_contactor(ms).values()) >= n, 3)
                    break
                except TimeoutError:
                    pass  # retry the ones still unplugged; what never closes shows in the "closed" column
            time.sleep(2.0)  # sessions settled
            c0, w0 = proc_cpu_s(proc.pid), time.monotonic()
            time.sleep(seconds)
            c1, w1 = proc_cpu_s(proc.pid), time.monotonic()
            rss, peak = proc_mem_mb(proc.pid), proc_mem_mb(proc.pid, "VmHWM")
            closed = sum(v == "closed" for v in _last_contactor([d for _, d in peer.messages]).values())
        finally:
            stop_daemon(proc)
            peer.close()
    return {
        "n": n,
        "cpu": (c1 - c0) / (w1 - w0),
        "rss_mb": rss,
        "peak_rss_mb": peak,
        "idle_rss_mb": rss_idle,
        "closed": closed,
    }


# ------------------------------------------------------------------------------------------------
# (d) start-up: process start -> first cs_parameters answer
# ------------------------------------------------------------------------------------------------


def bench_startup(port: int, runs: int = 5) -> dict[str, list[float]]:
    peer = Peer(port)
    out: dict[str, list[float]] = {"answer": [], "idle_rss": [], "python": []}
    try:
        for run in range(runs + 1):  # run 0 is the warm-up that writes the bytecode cache
            with tempfile.TemporaryDirectory() as tmp:
                mark = len(peer.messages)
                sent: set[str] = set()
                t0 = time.monotonic_ns()
                proc = start_daemon(port, None, tmp)
                answered = None
                try:
                    while answered is None:
                        if proc.poll() is not None:
                            raise RuntimeError(f"daemon exited with {proc.returncode}")
                        if time.monotonic_ns() - t0 > 30e9:
                            raise TimeoutError("no cs_parameters answer within 30 s")
                        rid = str(uuid.uuid4())
                        sent.add(rid)
                        peer.send(
                            "josev/cs", {"id": rid, "name": "cs_parameters", "type": "request", "data": {}}
                        )
                        time.sleep(0.001)
                        with peer.cond:
                            for stamp, doc in peer.messages[mark:]:
                                if doc.get("id") in sent and doc.get("type") == "response":
                                    answered = stamp
                                    break
                    if run:
                        out["answer"].append((answered - t0) / 1e9)
                        time.sleep(2.0)
                        out["idle_rss"].append(proc_mem_mb(proc.pid))
                finally:
                    stop_daemon(proc)
        for _ in range(runs):
            t0 = time.monotonic_ns()
            subprocess.run([sys.executable, "-c", "pass"], check=True, env=DAEMON_ENV)
            out["python"].append((time.monotonic_ns() - t0) / 1e9)
    finally:
        peer.close()
    return out


# ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of each daemon run (c)")
    parser.add_argument("--samples", type=int, default=300, help="samples for (a) and (b)")
    parser.add_argument("--sizes", default="1,8,32,64,128", help="EVSE counts for (c)")
    parser.add_argument("--sections", default="abcd", help="which sections to run (default abcd)")
    parser.add_argument(
        "--stages",
        action="store_true",
        help="(a): a second, instrumented pass that prints where the station path's time goes",
    )
    parser.add_argument("--subscriber", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        subscriber_process(args.port)
        return 0

    import logging

    logging.basicConfig(level=logging.ERROR)
    from josev_hal.embedded_broker import EmbeddedBroker

    broker = EmbeddedBroker().start()
    station = bare = rows = startup = stamps = None
    opens: dict[str, list[float]] | None = None
    try:
        if "a" in args.sections:
            station, bare = bench_cp_to_subscriber(broker.port, args.samples)
            if args.stages:
                stamps = StageStamps()
                bench_cp_to_subscriber(broker.port, args.samples, stamps)
        if "b" in args.sections:
            opens = bench_open_latency(args.samples)
        if "c" in args.sections:
            rows = [bench_daemon(int(n), args.seconds, broker.port) for n in args.sizes.split(",") if n]
        if "d" in args.sections:
            startup = bench_startup(broker.port)
    finally:
        broker.close()

    print(f"josev-hal station benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    if station is not None and bare is not None:
        print()
        print(
            f"(a) CP change at the driver -> cp_status at a subscriber in another process, via mosquitto"
            f" ({args.samples} samples, interleaved with the bare round trip)"
        )
        print(f"    {'path':<38} {'p50':>10} {'p99':>10}")
        print(
            f"    {'station (driver -> core -> bridge)':<38} {ms(pct(station, 0.5))} {ms(pct(station, 0.99))}"
        )
        print(f"    {'bare paho publish -> receive':<38} {ms(pct(bare, 0.5))} {ms(pct(bare, 0.99))}")
        print(
            f"    {'ratio station / bare (p50)':<38} {pct(station, 0.5) / pct(bare, 0.5):9.2f}x"
            "   (target <= 1.5x)"
        )
    if stamps is not None:
        print(
            f"    where the station path's time goes (second pass with stamps, {len(stamps.rows)} changes,"
            " p50 of each stage):"
        )
        for label, value in stamps.report():
            print(f"      {label:<52} {ms(value)}")
    if opens is not None:
        print()
        print(f"(b) fault at the driver -> Contactor.open() called, no broker ({args.samples} samples each)")
        print(f"    {'event':<38} {'p50':>10} {'p99':>10}")
        for kind, label in (("rcd_trip", "RCD trip"), ("cp_c_to_b", "CP C2 -> B2")):
            values = opens[kind]
            print(f"    {label:<38} {ms(pct(values, 0.5))} {ms(pct(values, 0.99))}")
        print("    target p99 <= 0.1 ms; normative limit 100 ms (IEC 61851-1 Table A.6)")
    if rows is not None:
        print()
        print(
            f"(c) josev-hal run, generated N-EVSE sim profile, every EVSE charging, CP 20 Hz, meter 1 Hz,"
            f" {args.seconds:g} s each (/proc)"
        )
        print(
            f"    {'EVSEs':>5} {'CPU (% of one core)':>20} {'RSS':>9} {'peak RSS':>9}"
            f" {'RSS idle':>9} {'closed':>7}"
        )
        for row in rows:
            print(
                f"    {row['n']:>5} {row['cpu'] * 100:>19.1f}% {row['rss_mb']:>6.1f} MB"
                f" {row['peak_rss_mb']:>6.1f} MB"
                f" {row['idle_rss_mb']:>6.1f} MB {row['closed']:>4}/{row['n']}"
            )
        print("    target at 32 EVSEs: <= 5 % of one core, RSS <= 45 MB; linear to 128")
    if startup is not None:
        print()
        print(
            "(d) start-up of josev-hal run (built-in sim board): process start -> first cs_parameters answer"
        )
        med = statistics.median
        answers = ", ".join(f"{v * 1000:.0f}" for v in startup["answer"])
        print(f"    first answer      median {med(startup['answer']) * 1000:6.0f} ms   (runs: {answers} ms)")
        print(
            f"    python -c pass    median {med(startup['python']) * 1000:6.0f} ms"
            "   (the interpreter's own start)"
        )
        print(f"    idle RSS          median {med(startup['idle_rss']):6.1f} MB")
        print("    targets: <= 200 ms to the first answer (median of 5), idle RSS <= 40 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
