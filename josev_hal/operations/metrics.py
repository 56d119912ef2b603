"""``GET /metrics``: the daemon's numbers in the Prometheus / OpenMetrics text format.

Two kinds of metrics live in one private :class:`~prometheus_client.CollectorRegistry` (never the
process-global one: two daemons in one test process must not share counters):

* read at scrape time by :class:`_Collector` -- bridge counters (messages in/out by message,
  rejects by reason, reconnects, queue depth, handler latency quantiles), the station (CP state,
  contactor, availability, faults, meter reading age) and the persisted wear counters;
* observed as they happen from the station events -- contactor switching times (histogram, from
  the mirror contact's confirmation) and device-link faults per device.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics

from josev_hal.station.events import EventKind, StationEvent

if TYPE_CHECKING:
    from josev_hal.operations.counters import WearCounters
    from josev_hal.operations.station_view import StationView

__all__ = ["Metrics"]

PREFIX = "josev_hal"

#: Contactor switching times: a healthy contactor switches in 10-100 ms; the tail shows wear.
SWITCH_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
#: Modbus RTU round trips are tens of ms; a timing-out meter retries for seconds
METER_POLL_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

CP_STATES = ("A1", "A2", "B1", "B2", "C1", "C2", "D1", "D2", "E", "F")


class _Collector:
    def __init__(
        self,
        view: StationView,
        counters: WearCounters,
        bridge_stats: Callable[[], Any] | None,
        started_at: float,
    ) -> None:
        self._view = view
        self._counters = counters
        self._bridge_stats = bridge_stats
        self._started_at = started_at

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_uptime_seconds", "Seconds since the daemon started")
        up.add_metric([], time.monotonic() - self._started_at)
        yield up
        yield from self._bridge()
        yield from self._station()
        yield from self._buses()
        yield from self._wear()

    def _buses(self) -> Iterator[Metric]:
        errors = CounterMetricFamily(f"{PREFIX}_bus_errors", "Bus errors by kind", labels=["bus", "kind"])
        frames = CounterMetricFamily(f"{PREFIX}_bus_frames", "Bus frames", labels=["bus", "direction"])
        for bus, stats in sorted(self._view.bus_stats().items()):
            for key, value in sorted(stats.items()):
                if key.endswith("_errors"):
                    errors.add_metric([bus, key.removesuffix("_errors")], value)
                elif key.startswith("frames_"):
                    frames.add_metric([bus, key.removeprefix("frames_")], value)
        yield errors
        yield frames

    def _bridge(self) -> Iterator[Metric]:
        if self._bridge_stats is None:
            return
        s = self._bridge_stats()
        connected = GaugeMetricFamily(f"{PREFIX}_mqtt_connected", "1 while the broker connection is up")
        connected.add_metric([], 1.0 if s.connected else 0.0)
        yield connected
        for direction, data in (("in", s.messages_in), ("out", s.messages_out)):
            fam = CounterMetricFamily(
                f"{PREFIX}_messages_{direction}",
                f"Josev API messages {'received' if direction == 'in' else 'sent'}",
                labels=["message", "type"],
            )
            for key, n in sorted(data.items()):
                name, _, kind = key.rpartition(".")
                fam.add_metric([name or key, kind], n)
            yield fam
        rejects = CounterMetricFamily(f"{PREFIX}_messages_rejected", "Rejected messages", labels=["reason"])
        for reason, n in sorted(s.rejects.items()):
            rejects.add_metric([reason], n)
        yield rejects
        for name, value, text in (
            ("mqtt_connects", s.connects, "Successful broker connections"),
            ("mqtt_reconnects", s.reconnects, "Broker reconnections"),
            ("mqtt_connect_failures", s.connect_failures, "Failed broker connection attempts"),
            ("queue_dropped", s.queue_dropped, "Messages dropped from the offline queue"),
            ("handler_errors", s.handler_errors, "Request handlers that raised"),
            ("handler_timeouts", s.handler_timeouts, "Request handlers past their deadline"),
            ("request_timeouts", s.request_timeouts, "Requests to Josev without an answer"),
        ):
            fam = CounterMetricFamily(f"{PREFIX}_{name}", text)
            fam.add_metric([], value)
            yield fam
        depth = GaugeMetricFamily(f"{PREFIX}_queue_depth", "Messages waiting in the offline queue")
        depth.add_metric([], s.queue_depth)
        yield depth
        hist = s.handler_latency_histogram
        latency = HistogramMetricFamily(
            f"{PREFIX}_handler_latency_seconds", "Request handler latency (every request since start)"
        )
        latency.add_metric(
            [],
            [(f"{le:g}", float(n)) for le, n in hist.buckets] + [("+Inf", float(hist.count))],
            hist.sum_s,
        )
        yield latency
        lat = s.handler_latency
        # The bridge also keeps a window of recent latencies: quantiles over that window.
        q = GaugeMetricFamily(
            f"{PREFIX}_handler_latency_recent_seconds",
            "Request handler latency quantiles over the last requests",
            labels=["quantile"],
        )
        for quantile, ms in (
            ("0.5", lat.p50_ms),
            ("0.9", lat.p90_ms),
            ("0.99", lat.p99_ms),
            ("1", lat.max_ms),
        ):
            q.add_metric([quantile], ms / 1000.0)
        yield q

    def _station(self) -> Iterator[Metric]:
        cp = GaugeMetricFamily(
            f"{PREFIX}_cp_state",
            "1 for the connector's current CP state",
            labels=["evse", "connector", "state"],
        )
        closed = GaugeMetricFamily(
            f"{PREFIX}_contactor_closed", "Contactor commanded closed", labels=["evse"]
        )
        avail = GaugeMetricFamily(f"{PREFIX}_evse_available", "EVSE operative", labels=["evse"])
        rcd = GaugeMetricFamily(f"{PREFIX}_rcd_tripped", "RCD tripped or latched", labels=["evse"])
        faults = GaugeMetricFamily(f"{PREFIX}_active_faults", "Active hardware faults", labels=["evse"])
        age = GaugeMetricFamily(
            f"{PREFIX}_meter_reading_age_seconds", "Age of the latest reading", labels=["evse"]
        )
        power = GaugeMetricFamily(f"{PREFIX}_meter_power_watts", "Active power", labels=["evse"])
        for evse_id in self._view.evse_ids():
            st = self._view.evse_status(evse_id)
            for conn in st["connectors"]:
                for state in CP_STATES:
                    cp.add_metric(
                        [evse_id, str(conn["id"]), state], 1.0 if conn.get("cp_state") == state else 0.0
                    )
            closed.add_metric([evse_id], 1.0 if st["contactor"]["commanded_closed"] else 0.0)
            avail.add_metric([evse_id], 1.0 if st["available"] else 0.0)
            rcd.add_metric([evse_id], 1.0 if st["rcd_tripped"] else 0.0)
            faults.add_metric([evse_id], len(st["faults"]))
            meter = st["meter"]
            if meter and meter.get("ok"):
                age.add_metric([evse_id], meter["age_s"])
                if meter.get("power_w") is not None:
                    power.add_metric([evse_id], meter["power_w"])
        yield from (cp, closed, avail, rcd, faults, age, power)

    def _wear(self) -> Iterator[Metric]:
        snap = self._counters.snapshot()
        spec = (
            ("contactor_operations", "Contactor operations (close and open)"),
            ("contactor_openings_under_load", "Contactor openings while current flowed"),
            ("lock_cycles", "Connector lock cycles"),
            ("rcd_trips", "RCD trips"),
            ("rcd_self_tests", "RCD self-tests run"),
            ("rcd_self_tests_failed", "RCD self-tests failed"),
            ("cp_state_changes", "CP state changes"),
            ("faults_raised", "Hardware faults raised"),
        )
        for name, text in spec:
            fam = CounterMetricFamily(f"{PREFIX}_{name}", f"{text} (persisted)", labels=["evse"])
            for evse_id, values in sorted(snap.items()):
                fam.add_metric([evse_id], values.get(name, 0))
            yield fam
        energy = CounterMetricFamily(
            f"{PREFIX}_energy_delivered_wh",
            "Energy delivered, from meter increments (persisted)",
            labels=["evse"],
        )
        for evse_id, values in sorted(snap.items()):
            energy.add_metric([evse_id], values.get("energy_wh", 0.0))
        yield energy


class Metrics:
    """The registry behind ``GET /metrics``; feed it station events through :meth:`observe`."""

    def __init__(
        self,
        view: StationView,
        counters: WearCounters,
        bridge_stats: Callable[[], Any] | None = None,
        *,
        started_at: float | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(
            _Collector(view, counters, bridge_stats, time.monotonic() if started_at is None else started_at)
        )
        self._switch = Histogram(
            f"{PREFIX}_contactor_switch_seconds",
            "Contactor switching time from the command to the mirror contact",
            ["evse", "direction"],
            buckets=SWITCH_BUCKETS,
            registry=self.registry,
        )
        self._link = Counter(
            f"{PREFIX}_device_link_faults",
            "Device link losses (bus or board errors) per device",
            ["evse", "device"],
            registry=self.registry,
        )
        self._meter_poll = Histogram(
            f"{PREFIX}_meter_poll_seconds",
            "Meter read round trip (bus request to decoded reading) per poll",
            ["evse", "result"],
            buckets=METER_POLL_BUCKETS,
            registry=self.registry,
        )
        self._self_test = Counter(
            f"{PREFIX}_rcd_self_test_results",
            "RCD self-test results since start",
            ["evse", "result"],
            registry=self.registry,
        )

    def observe(self, event: StationEvent) -> None:
        d = event.detail
        if event.kind is EventKind.CONTACTOR_CONFIRMED and isinstance(d.get("switch_time_s"), int | float):
            direction = "close" if d.get("closed") else "open"
            self._switch.labels(event.evse_id, direction).observe(float(d["switch_time_s"]))
        elif event.kind is EventKind.FAULT_SET and str(d.get("key", "")).startswith("link:"):
            self._link.labels(event.evse_id, str(d["key"])[5:]).inc()
        elif event.kind is EventKind.METER_POLL and isinstance(d.get("duration_s"), int | float):
            result = "ok" if d.get("ok") else "failed"
            self._meter_poll.labels(event.evse_id, result).observe(float(d["duration_s"]))
        elif event.kind is EventKind.RCD_SELF_TEST:
            self._self_test.labels(event.evse_id, "passed" if d.get("passed") else "failed").inc()

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its content type (OpenMetrics when the scraper asks for it)."""
        if "application/openmetrics-text" in accept:
            return openmetrics.generate_latest(self.registry), openmetrics.CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
