"""Chaos soak for the runtime (issue #13); not part of CI. Prints the figures the README quotes.

Phase 1 - ``josev-hal run`` (a child process, sim board, meters at 10 Hz, the EV switching between
charging and pausing over ``sim/cs``, three clients sending ``cs_status_and_limits`` requests) while
the broker is SIGKILLed and restarted at random points and the HAL itself is SIGKILLed and
restarted now and then. A persistent-session subscriber records everything on ``cs/josev``.
Reported:

* **lost** meter updates: gaps in each EVSE's 10 Hz ``meter_values`` sequence, split into gaps
  while the HAL process was down (nothing to send - expected), gaps around a broker crash (what a
  SIGKILLed broker had acknowledged but not yet saved or forwarded - a broker-side loss) and any
  other gap (HAL-side loss; must be 0);
* **duplicates**: the same id twice - exact byte copies (QoS 1 repeats of a message in flight at a
  crash) and anything else (must be 0); **reordered**: meter timestamps going backwards;
* **reconnect**: time from the broker's return until the HAL answers a request again (max);
* **RSS** of each HAL process: after warm-up and just before it was killed (growth per minute).

Phase 2 - the daemon in this process (so the sim's mirror contact is visible): charging, broker
killed, then an unplug or an RCD trip; the time until the mirror contact opens (max, median).

Phase 3 - SIGTERM to a charging ``josev-hal run`` with the broker up, down (killed) and replaced
by a TCP listener that accepts and never answers: time until the process has exited.

    /work/venv/bin/python benchmarks/chaos.py --minutes 60 --broker-kills 200 --hal-kills 20
    /work/venv/bin/python benchmarks/chaos.py --minutes 5 --broker-kills 40 --hal-kills 4   # short
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from josev_hal.embedded_broker import EmbeddedBroker

AC, DC = "DE*JHL*E0001", "DE*JHL*E0002"
METER_INTERVAL_S = 0.1


def board_text() -> str:
    from josev_hal_sim import sim_board_text

    text = sim_board_text().replace("[meter]\ninterval_s = 1.0", f"[meter]\ninterval_s = {METER_INTERVAL_S}")
    head, sep, tail = text.partition("[[evse]]")
    return f'{head}[operations]\nlisten = "127.0.0.1:0"\n\n{sep}{tail}'


class Client:
    """A Josev-side paho client: records cs/josev, sends requests and sim commands."""

    def __init__(self, broker: EmbeddedBroker, client_id: str, *, persistent: bool) -> None:
        self.received: list[tuple[float, bytes]] = []
        self.answered: set[str] = set()
        self.lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent
        )
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)  # type: ignore[arg-type]
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("cs/josev", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        body = bytes(msg.payload)
        with self.lock:
            self.received.append((time.time(), body))
        if b'"type":"response"' in body.replace(b" ", b""):
            try:
                self.answered.add(json.loads(body)["id"])
            except (ValueError, KeyError):
                pass

    def ask(self) -> str:
        rid = str(uuid.uuid4())
        doc = {"id": rid, "name": "cs_status_and_limits", "type": "request", "data": {}}
        self.client.publish("josev/cs", json.dumps(doc), qos=1)
        return rid

    def sim(self, action: str, **fields: Any) -> None:
        self.client.publish("sim/cs", json.dumps({"evse_id": AC, "action": action, **fields}), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Hal:
    def __init__(self, broker: EmbeddedBroker, workdir: Path) -> None:
        self.broker = broker
        self.workdir = workdir
        self.board = workdir / "board.toml"
        self.board.write_text(board_text())
        self.proc: subprocess.Popen[bytes] | None = None
        self.rss: list[tuple[float, float, float]] = []  # (minutes alive, rss after warm-up, rss at end)
        self._started = 0.0
        self._warm_rss: float | None = None
        self.down: list[tuple[float, float]] = []  # wall-clock windows without a HAL process

    def start(self) -> None:
        argv = [sys.executable, "-m", "josev_hal.cli", "run", "--board", str(self.board)]
        argv += ["--broker", self.broker.url, "--state-dir", str(self.workdir / "state"), "--free-charging"]
        log = (self.workdir / "hal.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
        self._started = time.monotonic()
        self._warm_rss = None

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def sample(self) -> None:
        if self.proc is not None and self._warm_rss is None and time.monotonic() - self._started > 20:
            self._warm_rss = self.rss_mb()

    def kill(self) -> None:
        assert self.proc is not None
        alive_min = (time.monotonic() - self._started) / 60
        end = self.rss_mb()
        if self._warm_rss is not None:
            self.rss.append((alive_min, self._warm_rss, end))
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> int:
        if self.proc is None:
            return 0
        alive_min = (time.monotonic() - self._started) / 60
        end = self.rss_mb()
        if self._warm_rss is not None:
            self.rss.append((alive_min, self._warm_rss, end))
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.proc = None
        return code


def answer_time(probe: Client, timeout: float = 30.0) -> float | None:
    """Seconds until a fresh request is answered (probing every 0.25 s)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if probe.client.is_connected():
            rid = probe.ask()
            t_end = time.monotonic() + 0.25
            while time.monotonic() < t_end:
                if rid in probe.answered:
                    return time.monotonic() - start
                time.sleep(0.005)
        else:
            time.sleep(0.02)
    return None


def analyse(sub: Client, hal_down: list[tuple[float, float]], kills: list[float]) -> dict[str, Any]:
    first: dict[str, bytes] = {}
    exact_repeats = foreign_dups = 0
    meters: dict[str, list[float]] = {AC: [], DC: []}
    with sub.lock:
        received = list(sub.received)
    for _, body in received:
        doc = json.loads(body)
        if doc["id"] in first:
            exact_repeats += first[doc["id"]] == body
            foreign_dups += first[doc["id"]] != body
            continue
        first[doc["id"]] = body
        if doc["name"] == "meter_values" and doc["data"].get("evse_id") in meters:
            ts = datetime.fromisoformat(doc["data"]["timestamp"].replace("Z", "+00:00")).timestamp()
            meters[doc["data"]["evse_id"]].append(ts)
    reordered = 0
    lost = {"hal_down": 0, "broker_crash": 0, "unexplained": 0}
    unexplained_at: list[float] = []
    for stamps in meters.values():
        for a, b in itertools.pairwise(stamps):
            if b <= a:
                reordered += 1
                continue
            missing = round((b - a) / METER_INTERVAL_S) - 1
            if missing <= 0 or b - a < 2.5 * METER_INTERVAL_S:
                continue  # scheduling jitter, not a lost update
            if any(lo - 1 <= a <= hi + 1 or lo - 1 <= b <= hi + 1 for lo, hi in hal_down):
                lost["hal_down"] += missing
            elif any(k - 2.0 <= a <= k + 2.0 for k in kills):
                lost["broker_crash"] += missing
            else:
                lost["unexplained"] += missing
                unexplained_at.append(a)
    return {
        "messages": len(first),
        "meter_updates": sum(len(v) for v in meters.values()),
        "exact_repeats": exact_repeats,
        "foreign_duplicates": foreign_dups,
        "reordered": reordered,
        "lost": lost,
        "unexplained_at": unexplained_at[:10],
    }


def phase1(minutes: float, broker_kills: int, hal_kills: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="josev-chaos-"))
    broker = EmbeddedBroker().start()
    sub = Client(broker, f"chaos-sub-{uuid.uuid4().hex[:6]}", persistent=True)
    probe = Client(broker, f"chaos-probe-{uuid.uuid4().hex[:6]}", persistent=False)
    requesters = [Client(broker, f"chaos-req-{i}-{uuid.uuid4().hex[:6]}", persistent=False) for i in range(3)]
    stop_req = threading.Event()

    def request_loop(c: Client) -> None:
        while not stop_req.wait(0.1):
            if c.client.is_connected():
                c.ask()

    threads = [threading.Thread(target=request_loop, args=(c,), daemon=True) for c in requesters]
    for t in threads:
        t.start()
    hal = Hal(broker, workdir)
    hal.start()
    answer_time(probe, 60)
    probe.sim("plug", cable_a=32)
    probe.sim("charge")
    duration = minutes * 60
    cycles = max(broker_kills, 1)
    hal_kill_at = set(rng.sample(range(cycles), min(hal_kills, cycles)))
    period = duration / cycles
    kill_times: list[float] = []
    reconnects: list[float] = []
    no_answer = 0
    started = time.monotonic()
    for cycle in range(cycles):
        # Up for at least the broker's autosave interval (1 s): a crash before that loses the
        # sessions themselves, which is not what is measured here.
        up = max(1.2, rng.uniform(0.3, 1.7) * period - 0.4)
        deadline = time.monotonic() + up
        while time.monotonic() < deadline:
            hal.sample()
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if probe.client.is_connected():
            probe.sim(rng.choice(["pause", "charge"]))
        if cycle in hal_kill_at:
            down_from = time.time()
            hal.kill()
            time.sleep(rng.uniform(0.2, 2.0))
            hal.start()
            took = answer_time(probe, 60)
            hal.down.append((down_from, time.time()))
            if took is None:
                no_answer += 1
            continue
        kill_times.append(time.time())
        broker.kill()
        time.sleep(rng.uniform(0.1, 0.6))
        broker.start()
        took = answer_time(probe, 60)
        if took is None:
            no_answer += 1
        else:
            reconnects.append(took)
        print(
            f"\rphase 1: cycle {cycle + 1}/{cycles}  {time.monotonic() - started:5.0f} s  "
            f"broker kills {len(kill_times)}  HAL kills {len(hal.down)}",
            end="",
            flush=True,
        )
    print()
    stop_req.set()
    time.sleep(2.0)
    code = hal.stop()
    time.sleep(1.0)
    result = analyse(sub, hal.down, kill_times)
    for c in (sub, probe, *requesters):
        c.close()
    broker.close()
    growth = [(end - warm) / max(alive - 20 / 60, 1e-3) for alive, warm, end in hal.rss]
    result.update(
        {
            "broker_kills": len(kill_times),
            "hal_kills": len(hal.down),
            "reconnect_max_s": max(reconnects) if reconnects else None,
            "reconnect_median_s": statistics.median(reconnects) if reconnects else None,
            "no_answer_after_return": no_answer,
            "rss": hal.rss,
            "rss_growth_mb_per_min_max": max(growth) if growth else None,
            "final_exit_code": code,
            "workdir": str(workdir),
        }
    )
    return result


def phase2(rounds: int) -> dict[str, Any]:
    """CP/RCD reaction at the mirror contact while the broker is down (daemon in this process)."""
    import msgspec
    from josev_hal_sim import WorldRegistry, set_default_registry, sim_board_text
    from josev_hal_sim.physics import EvRequest

    from josev_hal.daemon import Daemon
    from josev_hal.plugins import get_plugin_manager
    from josev_hal.profile import load_profile_text

    registry = WorldRegistry()
    set_default_registry(registry)
    broker = EmbeddedBroker().start()
    pm = get_plugin_manager()
    profile, source = load_profile_text(sim_board_text(), "<sim board>", pm), "<sim board>"
    profile = msgspec.structs.replace(
        profile, operations=msgspec.structs.replace(profile.operations, enabled=False)
    )
    state = Path(tempfile.mkdtemp(prefix="josev-chaos-p2-"))
    daemon = Daemon(profile, pm, source=source, broker_url=broker.url, state_dir=state, free_charging=True)
    daemon.start(wait_s=10)
    world = registry.find(AC)
    assert world is not None
    times: list[float] = []
    try:
        for i in range(rounds):
            world.rcd_clear()
            if daemon.station is not None:
                try:
                    daemon.station.controller(AC).reset_rcd()
                except Exception:
                    pass
            world.plug(32)
            world.set_request(EvRequest.CHARGE)
            deadline = time.monotonic() + 15
            while not world.relay_state()[1] and time.monotonic() < deadline:
                time.sleep(0.005)
            if not world.relay_state()[1]:
                continue
            broker.kill()
            time.sleep(0.2)
            act = world.unplug if i % 2 == 0 else world.rcd_trip
            t0 = time.monotonic()
            act()
            while world.relay_state()[1] and time.monotonic() - t0 < 5:
                time.sleep(0.0005)
            times.append(time.monotonic() - t0)
            broker.start()
            world.unplug()
            time.sleep(0.3)
            print(f"\rphase 2: round {i + 1}/{rounds}", end="", flush=True)
        print()
    finally:
        daemon.stop()
        broker.close()
    return {
        "cp_reaction_rounds": len(times),
        "cp_reaction_max_ms": max(times) * 1000 if times else None,
        "cp_reaction_median_ms": statistics.median(times) * 1000 if times else None,
    }


def phase3(rounds: int) -> dict[str, list[float]]:
    import socket

    out: dict[str, list[float]] = {"up": [], "down": [], "black-hole": []}
    for mode in out:
        for _ in range(rounds):
            workdir = Path(tempfile.mkdtemp(prefix="josev-chaos-p3-"))
            broker = EmbeddedBroker().start()
            probe = Client(broker, f"chaos-p3-{uuid.uuid4().hex[:6]}", persistent=False)
            hal = Hal(broker, workdir)
            hal.start()
            answer_time(probe, 60)
            probe.sim("plug", cable_a=32)
            probe.sim("charge")
            time.sleep(1.5)
            hole = None
            if mode != "up":
                port = broker.port
                broker.kill()
                if mode == "black-hole":
                    hole = socket.create_server(("127.0.0.1", port))
                    time.sleep(1.0)  # the HAL reconnects into it
            assert hal.proc is not None
            t0 = time.monotonic()
            hal.proc.send_signal(signal.SIGTERM)
            code = hal.proc.wait(30)
            out[mode].append(time.monotonic() - t0)
            hal.proc = None
            if code != 0:
                print(f"phase 3: {mode}: exit code {code}")
            if hole is not None:
                hole.close()
            probe.close()
            broker.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--broker-kills", type=int, default=200)
    ap.add_argument("--hal-kills", type=int, default=20)
    ap.add_argument("--cp-rounds", type=int, default=40)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--shutdown-rounds", type=int, default=3)
    ap.add_argument("--only-shutdown", action="store_true", help="phase 3 only")
    args = ap.parse_args()
    if args.only_shutdown:
        r3 = phase3(args.shutdown_rounds)
        for mode, times in r3.items():
            print(f"  SIGTERM -> exit, broker {mode:10s} max {max(times):.2f} s  ({len(times)} runs)")
        return 0
    os.environ.setdefault("JOSEV_HAL_DISABLE_PLUGIN_AUTOLOAD", "")
    t0 = time.monotonic()
    r1 = phase1(args.minutes, args.broker_kills, args.hal_kills, args.seed)
    print(json.dumps({k: v for k, v in r1.items() if k != "rss"}, default=str), flush=True)
    r2 = phase2(args.cp_rounds)
    print(json.dumps(r2), flush=True)
    print(f"\nchaos soak: {args.minutes:g} min, {time.monotonic() - t0:.0f} s wall")
    print(f"  broker kills            {r1['broker_kills']}")
    print(f"  HAL SIGKILL/restarts    {r1['hal_kills']}")
    print(f"  messages received       {r1['messages']} ({r1['meter_updates']} meter updates)")
    lost = r1["lost"]
    print(
        f"  lost meter updates      HAL-side {lost['unexplained']}  "
        f"(while the HAL was down {lost['hal_down']}, at a crashed broker {lost['broker_crash']})"
    )
    print(
        f"  duplicates              {r1['foreign_duplicates']} (+ {r1['exact_repeats']} exact QoS 1 repeats)"
    )
    print(f"  reordered               {r1['reordered']}")
    print(f"  no answer after return  {r1['no_answer_after_return']}")
    print(
        f"  reconnect (answer)      max {r1['reconnect_max_s']:.3f} s  "
        f"median {r1['reconnect_median_s']:.3f} s"
    )
    rss = ", ".join(f"{warm:.0f}->{end:.0f} MB in {alive:.1f} min" for alive, warm, end in r1["rss"])
    print(f"  HAL RSS per process     {rss}")
    growth = r1["rss_growth_mb_per_min_max"]
    print(
        f"  RSS growth (max)        {growth:.2f} MB/min"
        if growth is not None
        else "  RSS growth (max)        -"
    )
    print(
        f"  CP/RCD reaction, broker down ({r2['cp_reaction_rounds']} rounds): "
        f"max {r2['cp_reaction_max_ms']:.1f} ms  median {r2['cp_reaction_median_ms']:.1f} ms (mirror contact)"
    )
    r3 = phase3(args.shutdown_rounds)
    for mode, times in r3.items():
        print(f"  SIGTERM -> exit, broker {mode:10s} max {max(times):.2f} s  ({len(times)} runs)")
    print(f"  final SIGTERM exit code {r1['final_exit_code']}; logs in {r1['workdir']}")
    if r1["unexplained_at"]:
        print(f"  HAL-side gaps at (epoch s): {r1['unexplained_at']}")
    return 0 if lost["unexplained"] == 0 and r1["foreign_duplicates"] == 0 and r1["reordered"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
