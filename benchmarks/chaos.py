"""Chaos soak for the runtime (issue #13); not part of CI. Prints the figures the README quotes.

Phase 1 - ``josev-hal run`` (a child process, sim board, meters at 10 Hz, the EV switching between
charging and pausing over ``sim/cs``, three clients sending ``cs_status_and_limits`` requests) while
the broker is SIGKILLed and restarted at random points and the HAL itself is SIGKILLed and
restarted now and then; with ``--hal-pauses N`` the HAL process is also held N times (SIGSTOP for
0.15-0.6 s, then SIGCONT: a loaded machine, a VM's stolen time). A persistent-session subscriber
records everything on ``cs/josev``. Reported:

* **lost** meter updates: gaps in each EVSE's 10 Hz ``meter_values`` sequence, split into gaps
  while the HAL process was down or held (nothing to send - expected), gaps around a broker crash (what a
  SIGKILLed broker had acknowledged but not yet saved or forwarded - a broker-side loss) and any
  other gap (HAL-side loss; must be 0);
* **duplicates**: the same id twice - exact byte copies (QoS 1 repeats of a message in flight at a
  crash) and anything else (must be 0); **reordered**: an EVSE's meter timestamp not after the
  previous one received (equal counts too), each pair printed with its ids, receive times and the
  nearest broker kill / HAL restart / hold, and classed: a broker's redelivery (DUP flag) apart
  from HAL-side ones, equal or backwards (must be 0);
* **shutdown accounting**: the last HAL process's ``final`` log line (``out`` - ``dropped``)
  against the distinct messages the subscriber got from it; with ``--verbose-broker`` also the
  PUBLISHes in the broker's own log (received from the HAL, sent to the subscriber), which tells
  a broker-side loss at a crash from a HAL-side one;
* **reconnect**: time from the broker's return until the HAL answers a request again (max);
* **RSS** of each HAL process: after warm-up and just before it was killed (growth per minute).

Phase 2 - the daemon in this process (so the sim's mirror contact is visible): charging, broker
killed, then an unplug or an RCD trip; the time until the mirror contact opens (max, median).

Phase 3 - SIGTERM to a charging ``josev-hal run`` with the broker up, down (killed) and replaced
by a TCP listener that accepts and never answers: time until the process has exited. With the
broker up, each round's accounting as above, from a verbose broker (``--shutdown-requests-hz``:
requests keep coming through the stop).

    /work/venv/bin/python benchmarks/chaos.py --minutes 60 --broker-kills 200 --hal-kills 20
    /work/venv/bin/python benchmarks/chaos.py --minutes 5 --broker-kills 40 --hal-kills 4   # short
    # the meter-timestamp finding (#13): holds make the meter scheduler catch up
    python benchmarks/chaos.py --minutes 3 --broker-kills 30 --hal-kills 0 --hal-pauses 30 --only-soak
    python benchmarks/chaos.py --only-shutdown --shutdown-modes up --shutdown-rounds 20
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
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
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt

from josev_hal.embedded_broker import EmbeddedBroker

AC, DC = "DE*JHL*E0001", "DE*JHL*E0002"
METER_INTERVAL_S = 0.1
HAL_CLIENT_ID = "josev-hal-sim"  # the sim board's [mqtt] client_id


def board_text() -> str:
    from josev_hal_sim import sim_board_text

    text = sim_board_text().replace("[meter]\ninterval_s = 1.0", f"[meter]\ninterval_s = {METER_INTERVAL_S}")
    head, sep, tail = text.partition("[[evse]]")
    return f'{head}[operations]\nlisten = "127.0.0.1:0"\n\n{sep}{tail}'


class Received(NamedTuple):
    at: float  # wall clock when the subscriber's paho handed it over
    body: bytes
    dup: bool  # MQTT DUP flag: the broker resent it (it had sent it before)


class Client:
    """A Josev-side paho client: records cs/josev, sends requests and sim commands."""

    def __init__(self, broker: EmbeddedBroker, client_id: str, *, persistent: bool) -> None:
        self.received: list[Received] = []
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
            # The DUP flag tells a broker's redelivery (after a reconnect) from a first delivery.
            self.received.append(Received(time.time(), body, bool(msg.dup)))
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
        self.started_wall = 0.0
        self._warm_rss: float | None = None
        self.down: list[tuple[float, float]] = []  # wall-clock windows without a HAL process

    def start(self) -> None:
        argv = [sys.executable, "-m", "josev_hal.cli", "run", "--board", str(self.board)]
        argv += ["--broker", self.broker.url, "--state-dir", str(self.workdir / "state"), "--free-charging"]
        log = (self.workdir / "hal.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
        self._started = time.monotonic()
        self.started_wall = time.time()
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


class MeterSeen(NamedTuple):
    """A meter_values update as the subscriber first received it."""

    index: int  # position among everything the subscriber received
    received_at: float
    id: str
    timestamp: str  # data.timestamp as sent (RFC 3339, milliseconds)
    ts: float
    energy_wh: float
    dup: bool


def _near(at: float, events: list[float], within_s: float) -> float | None:
    """Seconds from ``at`` to the nearest of ``events`` (negative: the event came later) when one
    lies within ``within_s``; None otherwise."""
    best = min(events, key=lambda e: abs(at - e), default=None)
    return None if best is None or abs(at - best) > within_s else round(at - best, 3)


def describe_reorder(
    evse: str,
    a: MeterSeen,
    b: MeterSeen,
    hal_down: list[tuple[float, float]],
    kills: list[float],
    pauses: list[tuple[float, float]],
) -> dict[str, Any]:
    """One offending pair (``b`` received after ``a``, ``b``'s timestamp not after ``a``'s) with
    what happened around it, and its class:

    * ``broker_redelivery``: ``b`` arrived with the DUP flag, i.e. the broker resent a message
      it had sent before (restored from its persistence after a crash) after newer ones - the
      order of a broker's redelivery, which the HAL cannot influence;
    * ``equal_timestamp``: two distinct readings stamped in the same millisecond (two polls back
      to back on the HAL side);
    * ``backwards``: a reading older than one received before it, first delivery (HAL side).
    """
    kind = "broker_redelivery" if b.dup else "equal_timestamp" if b.ts == a.ts else "backwards"
    # Which HAL process sent each (the number of HAL restarts before it was received).
    process = [sum(1 for lo, _ in hal_down if lo < m.received_at) for m in (a, b)]
    return {
        "evse": evse,
        "class": kind,
        "previous": a._asdict(),
        "offending": b._asdict(),
        "timestamp_step_ms": round((b.ts - a.ts) * 1000, 3),
        "received_step_ms": round((b.received_at - a.received_at) * 1000, 3),
        "messages_between": b.index - a.index - 1,
        "hal_process": process,
        "broker_kill_within_5s": _near(b.received_at, kills, 5.0),
        "hal_restart_within_5s": _near(b.received_at, [lo for lo, _ in hal_down], 5.0),
        "hal_pause_end_within_5s": _near(b.received_at, [hi for _, hi in pauses], 5.0),
    }


def analyse(
    sub: Client,
    hal_down: list[tuple[float, float]],
    kills: list[float],
    pauses: list[tuple[float, float]] | None = None,
) -> dict[str, Any]:
    pauses = pauses or []
    first: dict[str, bytes] = {}
    exact_repeats = foreign_dups = 0
    meters: dict[str, list[MeterSeen]] = {AC: [], DC: []}
    with sub.lock:
        received = list(sub.received)
    for index, (at, body, dup) in enumerate(received):
        doc = json.loads(body)
        if doc["id"] in first:
            exact_repeats += first[doc["id"]] == body
            foreign_dups += first[doc["id"]] != body
            continue
        first[doc["id"]] = body
        if doc["name"] == "meter_values" and doc["data"].get("evse_id") in meters:
            data = doc["data"]
            ts = datetime.fromisoformat(data["timestamp"].replace("Z", "+00:00")).timestamp()
            seen = MeterSeen(
                index, at, doc["id"], data["timestamp"], ts, data["total_active_energy_imported"], dup
            )
            meters[data["evse_id"]].append(seen)
    reordered = {"broker_redelivery": 0, "equal_timestamp": 0, "backwards": 0}
    reordered_pairs: list[dict[str, Any]] = []
    lost = {"hal_down": 0, "hal_held": 0, "broker_crash": 0, "unexplained": 0}
    unexplained_at: list[float] = []
    for evse, seen in meters.items():
        for ma, mb in itertools.pairwise(seen):
            a, b = ma.ts, mb.ts
            if b <= a:
                pair = describe_reorder(evse, ma, mb, hal_down, kills, pauses)
                reordered[pair["class"]] += 1
                reordered_pairs.append(pair)
                continue
            missing = round((b - a) / METER_INTERVAL_S) - 1
            if missing <= 0 or b - a < 2.5 * METER_INTERVAL_S:
                continue  # scheduling jitter, not a lost update
            if any(lo - 1 <= a <= hi + 1 or lo - 1 <= b <= hi + 1 for lo, hi in hal_down):
                lost["hal_down"] += missing
            elif any(lo - 0.5 <= b and a <= hi + 0.5 for lo, hi in pauses):
                lost["hal_held"] += missing  # no reading while the process was stopped
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
        "reordered_pairs": reordered_pairs[:20],
        "lost": lost,
        "unexplained_at": unexplained_at[:10],
    }


def phase1(
    minutes: float,
    broker_kills: int,
    hal_kills: int,
    seed: int,
    hal_pauses: int = 0,
    verbose_broker: bool = False,
) -> dict[str, Any]:
    rng = random.Random(seed)
    pause_rng = random.Random(seed + 1)  # its own: without pauses, a seed gives the same run as before
    workdir = Path(tempfile.mkdtemp(prefix="josev-chaos-"))
    broker = EmbeddedBroker(verbose=verbose_broker).start()
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
    pause_at = set(pause_rng.sample(sorted(set(range(cycles)) - hal_kill_at), min(hal_pauses, cycles)))
    pauses: list[tuple[float, float]] = []
    kill_times: list[float] = []
    reconnects: list[float] = []
    no_answer = 0
    started = time.monotonic()
    for cycle in range(cycles):
        # Up for at least the broker's autosave interval (1 s): a crash before that loses the
        # sessions themselves, which is not what is measured here.
        up = max(1.2, rng.uniform(0.3, 1.7) * period - 0.4)
        deadline = time.monotonic() + up
        pause_when = deadline - pause_rng.uniform(0.2, 0.8) * up if cycle in pause_at else None
        while time.monotonic() < deadline:
            hal.sample()
            if pause_when is not None and time.monotonic() >= pause_when and hal.proc is not None:
                # The whole HAL process held up (a loaded machine, a VM's stolen time): every
                # thread's deadlines pass at once, and the schedulers catch up on SIGCONT.
                pause_when = None
                held_from = time.time()
                hal.proc.send_signal(signal.SIGSTOP)
                time.sleep(pause_rng.uniform(0.15, 0.6))
                hal.proc.send_signal(signal.SIGCONT)
                pauses.append((held_from, time.time()))
            time.sleep(min(0.1 if pause_when is not None else 0.5, max(0.0, deadline - time.monotonic())))
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
    last_start, stopped_at = hal.started_wall, time.time()
    code = hal.stop()
    time.sleep(1.0)
    result = analyse(sub, hal.down, kill_times, pauses)
    # The last HAL process's own total against what the subscriber got from it.
    result["shutdown_accounting"] = shutdown_accounting(
        workdir / "hal.log", sub, stopped_at, last_start, broker if verbose_broker else None
    )
    for c in (sub, probe, *requesters):
        c.close()
    broker.close()
    growth = [(end - warm) / max(alive - 20 / 60, 1e-3) for alive, warm, end in hal.rss]
    result.update(
        {
            "broker_kills": len(kill_times),
            "hal_kills": len(hal.down),
            "hal_pauses": len(pauses),
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


_FINAL = re.compile(r"final mqtt .* out=(\d+) .* dropped=(\d+)")


def shutdown_accounting(
    hal_log: Path, sub: Client, stopped_at: float, since: float = 0.0, broker: EmbeddedBroker | None = None
) -> dict[str, Any]:
    """What the HAL's last ``final`` log line says it published (``out`` - ``dropped``) against
    the distinct messages ``sub`` got since ``since`` (the last HAL process's start); with the
    evidence when they differ: the last messages received (name, type, id, ms before/after
    SIGTERM) and the HAL's log from its stop on."""
    lines = hal_log.read_text(errors="replace").splitlines()
    found = [m for m in map(_FINAL.search, lines) if m]
    with sub.lock:
        received = list(sub.received)
    distinct: dict[str, Received] = {}
    for r in received:
        if r.at >= since:
            distinct.setdefault(json.loads(r.body)["id"], r)
    if not found:
        return {"final_line": False, "received": len(distinct)}
    out, dropped = int(found[-1].group(1)), int(found[-1].group(2))
    result: dict[str, Any] = {
        "out": out,
        "dropped": dropped,
        "received": len(distinct),
        "missing": out - dropped - len(distinct),
    }
    if broker is not None:
        # A verbose broker's own log tells on which side a message went missing: from the last HAL
        # process's first (clean-session) connect on, the PUBLISHes on cs/josev it received from
        # the HAL (first sends d0, resends d1) and those it sent the subscriber.
        text = (broker.workdir / "mosquitto.log").read_text(errors="replace")
        segment = text[text.rfind(f"as {HAL_CLIENT_ID} (p2, c1") :]
        to_sub = re.escape(sub.client._client_id.decode())
        tail = r", q1, r0, m\d+, 'cs/josev'"
        for key, pattern in {
            "broker_received_from_hal": rf"Received PUBLISH from {HAL_CLIENT_ID} \(d0{tail}",
            "broker_received_resends": rf"Received PUBLISH from {HAL_CLIENT_ID} \(d1{tail}",
            "broker_sent_to_subscriber": rf"Sending PUBLISH to {to_sub} \(d0{tail}",
            "broker_resent_to_subscriber": rf"Sending PUBLISH to {to_sub} \(d1{tail}",
            "broker_starts": r"mosquitto version \S+ starting",
        }.items():
            result[key] = len(re.findall(pattern, segment))
    if result["missing"]:
        tail = sorted(distinct.values(), key=lambda r: r.at)[-12:]
        result["last_received"] = [
            (
                json.loads(r.body)["name"],
                json.loads(r.body)["type"],
                json.loads(r.body)["id"][:8],
                round((r.at - stopped_at) * 1000, 1),
            )
            for r in tail
        ]
        stop_line = max((i for i, line in enumerate(lines) if "stopping:" in line), default=len(lines) - 20)
        result["hal_log_from_stop"] = lines[stop_line:][:40]
    return result


def phase3(
    rounds: int, modes: str = "up,down,black-hole", requests_hz: float = 0.0
) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    """SIGTERM -> exit times per broker mode; with the broker up, also the shutdown accounting
    (:func:`shutdown_accounting`) of every round. ``requests_hz``: the probe keeps sending
    ``cs_status_and_limits`` requests at this rate through the stop (answers race the bridge's)."""
    import socket

    out: dict[str, list[float]] = {mode: [] for mode in modes.split(",")}
    accounting: list[dict[str, Any]] = []
    for mode in out:
        for _ in range(rounds):
            workdir = Path(tempfile.mkdtemp(prefix="josev-chaos-p3-"))
            broker = EmbeddedBroker(verbose=mode == "up").start()
            probe = Client(broker, f"chaos-p3-{uuid.uuid4().hex[:6]}", persistent=False)
            hal = Hal(broker, workdir)
            hal.start()
            answer_time(probe, 60)
            probe.sim("plug", cable_a=32)
            probe.sim("charge")
            asking = threading.Event()
            if requests_hz > 0:
                asking.set()

                def ask_loop(c: Client = probe, asking: threading.Event = asking) -> None:
                    while asking.is_set():
                        c.ask()
                        time.sleep(1 / requests_hz)

                threading.Thread(target=ask_loop, daemon=True).start()
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
            stopped_at = time.time()
            hal.proc.send_signal(signal.SIGTERM)
            code = hal.proc.wait(30)
            out[mode].append(time.monotonic() - t0)
            hal.proc = None
            if code != 0:
                print(f"phase 3: {mode}: exit code {code}")
            asking.clear()
            if mode == "up":
                time.sleep(1.0)  # what the broker still forwards
                accounting.append(shutdown_accounting(workdir / "hal.log", probe, stopped_at, broker=broker))
            if hole is not None:
                hole.close()
            probe.close()
            broker.close()
    return out, accounting


def print_phase3(r3: dict[str, list[float]], accounting: list[dict[str, Any]]) -> None:
    for mode, times in r3.items():
        print(f"  SIGTERM -> exit, broker {mode:10s} max {max(times):.2f} s  ({len(times)} runs)")
    rows = [
        (
            a.get("out", 0) - a.get("dropped", 0),
            a.get("broker_received_from_hal"),
            a.get("broker_sent_to_subscriber"),
            a["received"],
        )
        for a in accounting
    ]
    print(f"  SIGTERM, broker up: (HAL out-dropped, broker got, broker sent, subscriber got) per run: {rows}")
    for a in accounting:
        if a.get("missing"):
            print(f"    {json.dumps(a)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--broker-kills", type=int, default=200)
    ap.add_argument("--hal-kills", type=int, default=20)
    ap.add_argument("--cp-rounds", type=int, default=40)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument(
        "--hal-pauses",
        type=int,
        default=0,
        help="phase 1: hold the HAL process (SIGSTOP) for 0.15-0.6 s this many times",
    )
    ap.add_argument("--shutdown-rounds", type=int, default=3)
    ap.add_argument("--only-shutdown", action="store_true", help="phase 3 only")
    ap.add_argument("--shutdown-modes", default="up,down,black-hole", help="broker modes of phase 3")
    ap.add_argument(
        "--shutdown-requests-hz", type=float, default=0.0, help="phase 3: requests through the stop"
    )
    ap.add_argument(
        "--verbose-broker", action="store_true", help="phase 1: log every PUBLISH (for the accounting)"
    )
    ap.add_argument("--only-soak", action="store_true", help="phase 1 only (its figures, then exit)")
    args = ap.parse_args()
    if args.only_shutdown:
        r3, accounting = phase3(args.shutdown_rounds, args.shutdown_modes, args.shutdown_requests_hz)
        print_phase3(r3, accounting)
        return 0
    os.environ.setdefault("JOSEV_HAL_DISABLE_PLUGIN_AUTOLOAD", "")
    t0 = time.monotonic()
    r1 = phase1(
        args.minutes, args.broker_kills, args.hal_kills, args.seed, args.hal_pauses, args.verbose_broker
    )
    print(json.dumps({k: v for k, v in r1.items() if k != "rss"}, default=str), flush=True)
    if args.only_soak:
        hal_side = r1["reordered"]["backwards"] + r1["reordered"]["equal_timestamp"]
        bad = r1["lost"]["unexplained"] or r1["foreign_duplicates"] or hal_side
        return 1 if bad else 0
    r2 = phase2(args.cp_rounds)
    print(json.dumps(r2), flush=True)
    print(f"\nchaos soak: {args.minutes:g} min, {time.monotonic() - t0:.0f} s wall")
    print(f"  broker kills            {r1['broker_kills']}")
    print(f"  HAL SIGKILL/restarts    {r1['hal_kills']}")
    print(f"  HAL held (SIGSTOP)      {r1['hal_pauses']}")
    print(f"  messages received       {r1['messages']} ({r1['meter_updates']} meter updates)")
    lost = r1["lost"]
    print(
        f"  lost meter updates      HAL-side {lost['unexplained']}  "
        f"(while the HAL was down {lost['hal_down']}, held {lost['hal_held']}, "
        f"at a crashed broker {lost['broker_crash']})"
    )
    print(
        f"  duplicates              {r1['foreign_duplicates']} (+ {r1['exact_repeats']} exact QoS 1 repeats)"
    )
    reordered = r1["reordered"]
    print(
        f"  reordered meter stamps  HAL-side {reordered['backwards'] + reordered['equal_timestamp']} "
        f"(backwards {reordered['backwards']}, equal {reordered['equal_timestamp']}); "
        f"broker redelivery {reordered['broker_redelivery']}"
    )
    for pair in r1["reordered_pairs"]:
        print(f"    {json.dumps(pair)}")
    print(f"  no answer after return  {r1['no_answer_after_return']}")
    acc = r1["shutdown_accounting"]
    print(
        f"  last HAL process        final out-dropped {acc.get('out', 0) - acc.get('dropped', 0)}, "
        f"subscriber got {acc['received']} (missing {acc.get('missing')})"
    )
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
    r3, accounting = phase3(args.shutdown_rounds)
    print_phase3(r3, accounting)
    print(f"  final SIGTERM exit code {r1['final_exit_code']}; logs in {r1['workdir']}")
    if r1["unexplained_at"]:
        print(f"  HAL-side gaps at (epoch s): {r1['unexplained_at']}")
    hal_side = reordered["backwards"] + reordered["equal_timestamp"]
    return 0 if lost["unexplained"] == 0 and r1["foreign_duplicates"] == 0 and hal_side == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
