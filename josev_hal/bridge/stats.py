"""Bridge counters: what went in and out, what was rejected and why, how fast handlers answer.

:class:`BridgeStats` is written from several threads (paho's network thread, handler workers,
publishers) and read by ``josev-hal run --stats-interval`` and by tests, so every update takes one
short lock. :meth:`BridgeStats.snapshot` returns an immutable :class:`StatsSnapshot`.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import Counter, deque

import msgspec

__all__ = [
    "LATENCY_BUCKETS_S",
    "BridgeStats",
    "LatencyHistogram",
    "LatencySummary",
    "StatsSnapshot",
    "format_stats",
]

# Handler latencies kept for the percentiles: recent behaviour matters, not the start-up.
_LATENCY_WINDOW = 4096
#: Upper bounds (s) of the handler latency histogram (every request since start, for /metrics).
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class LatencySummary(msgspec.Struct, frozen=True):
    """Handler latency over the last few thousand requests, in milliseconds."""

    count: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0


class LatencyHistogram(msgspec.Struct, frozen=True):
    """Every handler latency since start: cumulative counts per upper bound (s), count, sum (s)."""

    buckets: tuple[tuple[float, int], ...] = ()
    count: int = 0
    sum_s: float = 0.0


class StatsSnapshot(msgspec.Struct, frozen=True):
    """A consistent copy of the bridge counters at one moment.

    ``messages_in`` / ``messages_out`` are keyed ``"<name>.<type>"`` (``"cp_pwm.request"``);
    ``rejects`` by reason (``malformed_json``, ``invalid_envelope``, ``schema_violation``,
    ``unknown_message``, ``too_large``, ``unexpected_response``, ``no_handler``).
    """

    connected: bool = False
    messages_in: dict[str, int] = msgspec.field(default_factory=dict)
    messages_out: dict[str, int] = msgspec.field(default_factory=dict)
    rejects: dict[str, int] = msgspec.field(default_factory=dict)
    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    queue_depth: int = 0
    queue_capacity: int = 0
    queue_dropped: int = 0
    handler_errors: int = 0
    handler_timeouts: int = 0
    late_results_dropped: int = 0
    request_timeouts: int = 0
    handler_latency: LatencySummary = msgspec.field(default_factory=LatencySummary)
    handler_latency_histogram: LatencyHistogram = msgspec.field(default_factory=LatencyHistogram)

    @property
    def total_in(self) -> int:
        return sum(self.messages_in.values())

    @property
    def total_out(self) -> int:
        return sum(self.messages_out.values())

    @property
    def total_rejects(self) -> int:
        return sum(self.rejects.values())


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


class BridgeStats:
    """Thread-safe counters of one bridge."""

    def __init__(self, queue_capacity: int) -> None:
        self._lock = threading.Lock()
        self._in: Counter[str] = Counter()
        self._out: Counter[str] = Counter()
        self._rejects: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=_LATENCY_WINDOW)
        self._bucket_counts = [0] * len(LATENCY_BUCKETS_S)  # per bucket, not cumulative
        self._latency_count = 0
        self._latency_sum = 0.0
        self._queue_capacity = queue_capacity
        self.connected = False
        self.connects = 0
        self.connect_failures = 0
        self.queue_depth = 0
        self.queue_dropped = 0
        self.handler_errors = 0
        self.handler_timeouts = 0
        self.late_results_dropped = 0
        self.request_timeouts = 0

    def count_in(self, key: str) -> None:
        with self._lock:
            self._in[key] += 1

    def count_out(self, key: str) -> None:
        with self._lock:
            self._out[key] += 1

    def count_reject(self, reason: str) -> None:
        with self._lock:
            self._rejects[reason] += 1

    def add(self, counter: str, amount: int = 1) -> None:
        """Increment one of the scalar counters (``handler_errors`` ...) by name."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + amount)

    def record_latency(self, seconds: float) -> None:
        index = bisect.bisect_left(LATENCY_BUCKETS_S, seconds)
        with self._lock:
            self._latencies.append(seconds)
            if index < len(self._bucket_counts):
                self._bucket_counts[index] += 1
            self._latency_count += 1
            self._latency_sum += seconds

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            latencies = sorted(self._latencies)
            cumulative = list(itertools.accumulate(self._bucket_counts))
            histogram = LatencyHistogram(
                tuple(zip(LATENCY_BUCKETS_S, cumulative, strict=True)), self._latency_count, self._latency_sum
            )
            return StatsSnapshot(
                connected=self.connected,
                messages_in=dict(self._in),
                messages_out=dict(self._out),
                rejects=dict(self._rejects),
                connects=self.connects,
                reconnects=max(0, self.connects - 1),
                connect_failures=self.connect_failures,
                queue_depth=self.queue_depth,
                queue_capacity=self._queue_capacity,
                queue_dropped=self.queue_dropped,
                handler_errors=self.handler_errors,
                handler_timeouts=self.handler_timeouts,
                late_results_dropped=self.late_results_dropped,
                request_timeouts=self.request_timeouts,
                handler_latency=LatencySummary(
                    count=len(latencies),
                    p50_ms=_percentile(latencies, 0.50) * 1000,
                    p90_ms=_percentile(latencies, 0.90) * 1000,
                    p99_ms=_percentile(latencies, 0.99) * 1000,
                    max_ms=(latencies[-1] * 1000) if latencies else 0.0,
                ),
                handler_latency_histogram=histogram,
            )


def format_stats(snap: StatsSnapshot) -> str:
    """One log/console line, ``key=value`` style, for ``josev-hal run --stats-interval``."""
    rejects = ",".join(f"{reason}:{n}" for reason, n in sorted(snap.rejects.items())) or "-"
    lat = snap.handler_latency
    return (
        f"mqtt connected={'yes' if snap.connected else 'no'} in={snap.total_in} out={snap.total_out} "
        f"rejects={snap.total_rejects}[{rejects}] reconnects={snap.reconnects} "
        f"connect_failures={snap.connect_failures} queue={snap.queue_depth}/{snap.queue_capacity} "
        f"dropped={snap.queue_dropped} handler_errors={snap.handler_errors} "
        f"handler_timeouts={snap.handler_timeouts} handler_ms_p50={lat.p50_ms:.2f} "
        f"p99={lat.p99_ms:.2f} max={lat.max_ms:.2f}"
    )
