"""Bridge latency: request -> response through a private mosquitto, against the bare-paho floor.

Both measurements use the same requester (a paho client acting as Josev), the same broker and the
same number of broker hops (request in, answer out):

* **floor**: a bare paho client subscribed to the request topic that republishes every payload
  on the response topic from its network thread - what any MQTT round trip costs here;
* **bridge**: :class:`josev_hal.bridge.Bridge` answering ``cs_status_and_limits`` requests
  (decode, dispatch to a worker thread, handler, strict encode, publish).

The difference of the two is what the bridge adds. Run::

    /work/venv/bin/python benchmarks/bridge.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from josev_hal.bridge import Bridge
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.messages import Message, decode
from josev_hal.mqtt_settings import MqttSettings

REPO = Path(__file__).resolve().parents[1]
# The response the handler answers with: the official contract's example when it is there
# ($JOSEV_API_DIR, default ../shared/josev-api), else the project's own (tests/data): the
# benchmark measures the bridge, not the contract, so it runs on a fresh clone too.
_OFFICIAL = Path(os.environ.get("JOSEV_API_DIR", REPO.parent / "shared" / "josev-api")) / "examples"
EXAMPLES = _OFFICIAL if _OFFICIAL.is_dir() else REPO / "tests" / "data" / "josev_examples"

# Targets from issue 4.
TARGET_ADDED_P50_MS = 0.3
TARGET_P99_MS = 5.0


def nodelay(client: mqtt.Client, userdata: object, sock: socket.socket) -> None:
    # The bridge disables Nagle on its socket; the floor and the requester must too.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Requester:
    """Josev stand-in: publish one request, wait for the message on the answer topic."""

    def __init__(self, port: int, answer_topic: str) -> None:
        self._event = threading.Event()
        self._last: bytes = b""
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        self.client.on_socket_open = nodelay
        self.client.connect("127.0.0.1", port)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.subscribe(answer_topic, qos=1)
        self.client.loop_start()
        if not subscribed.wait(5):
            raise SystemExit("requester could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self._last = message.payload
        self._event.set()

    def round_trip(self, topic: str, payload: bytes, timeout: float = 5.0) -> tuple[float, bytes]:
        self._event.clear()
        start = time.perf_counter()
        self.client.publish(topic, payload, qos=1)
        if not self._event.wait(timeout):
            raise SystemExit(f"no answer within {timeout}s")
        return time.perf_counter() - start, self._last

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def measure(requester: Requester, topic: str, make_payload, count: int, check) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(count):
        payload, request_id = make_payload()
        elapsed, answer = requester.round_trip(topic, payload)
        check(answer, request_id)
        samples.append(elapsed * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def make_request() -> tuple[bytes, str]:
    request_id = str(uuid.uuid4())
    body = {"id": request_id, "name": "cs_status_and_limits", "type": "request", "data": {}}
    return json.dumps(body, separators=(",", ":")).encode(), request_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args(argv)

    response_doc = json.loads((EXAMPLES / "cs_status_and_limits.response.json").read_text())
    answer = decode(json.dumps(response_doc), strict=True).data

    with EmbeddedBroker() as broker:
        print(f"broker: {broker.kind} {broker.url}")

        # Floor: bare paho echo on its network thread.
        echo = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-echo")
        echo.on_message = lambda c, u, m: c.publish("floor/out", m.payload, qos=1)
        echo.on_socket_open = nodelay
        echo.connect("127.0.0.1", broker.port)
        echo.subscribe("floor/in", qos=1)
        echo.loop_start()

        # Bridge: the real thing.
        def handler(message: Message) -> object:
            return answer

        bridge = Bridge(MqttSettings(broker=broker.url, client_id="bench-hal"))
        bridge.register("cs_status_and_limits", "request", handler)  # type: ignore[arg-type]
        bridge.start(wait_s=10)
        time.sleep(0.3)
        floor_req = Requester(broker.port, "floor/out")
        bridge_req = Requester(broker.port, "cs/josev")

        def same_payload(raw: bytes, request_id: str) -> None:
            if request_id.encode() not in raw:
                raise SystemExit("floor: wrong echo")

        def is_response(raw: bytes, request_id: str) -> None:
            doc = json.loads(raw)
            if doc["id"] != request_id or doc["type"] != "response":
                raise SystemExit(f"bridge: unexpected answer {raw[:120]!r}")

        # Alternate floor and bridge round trips so that both see the same machine load (this
        # machine is shared; back-to-back blocks would measure the neighbours, not the bridge).
        floor: list[float] = []
        bridged: list[float] = []
        for i in range(args.warmup + args.requests):
            f = measure(floor_req, "floor/in", make_request, 1, same_payload)
            b = measure(bridge_req, "josev/cs", make_request, 1, is_response)
            if i >= args.warmup:
                floor += f
                bridged += b
        floor_req.close()
        bridge_req.close()
        stats = bridge.stats()
        bridge.stop()
        echo.disconnect()
        echo.loop_stop()

    f50, f99 = summary(floor)
    b50, b99 = summary(bridged)
    added = b50 - f50
    print(f"requests: {args.requests} each (after {args.warmup} warm-up), sequential, interleaved, QoS 1")
    print(f"floor  (bare paho echo)            p50 {f50:.3f} ms  p99 {f99:.3f} ms")
    print(f"bridge (cs_status_and_limits)      p50 {b50:.3f} ms  p99 {b99:.3f} ms")
    print(
        f"added by the bridge                p50 {added:+.3f} ms  p99 {b99 - f99:+.3f} ms  "
        f"(ratio p50 {b50 / f50:.2f}x)"
    )
    print(
        f"bridge handler latency (stats)     p50 {stats.handler_latency.p50_ms:.3f} ms  "
        f"p99 {stats.handler_latency.p99_ms:.3f} ms"
    )
    ok_p50 = added <= TARGET_ADDED_P50_MS
    ok_p99 = b99 < TARGET_P99_MS
    print(
        f"targets: added p50 <= {TARGET_ADDED_P50_MS} ms: {'met' if ok_p50 else 'MISSED'}; "
        f"p99 < {TARGET_P99_MS} ms: {'met' if ok_p99 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
