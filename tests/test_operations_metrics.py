"""``/metrics`` content that the sim board cannot show: counters of a real CAN bus (python-can
``virtual``), rendered by the operations registry and parsed back with prometheus_client."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import can
from prometheus_client.parser import text_string_to_metric_families

from josev_hal.buses.can import CanBus, CanBusOptions
from josev_hal.operations.counters import WearCounters
from josev_hal.operations.metrics import Metrics
from josev_hal.operations.station_view import StationView
from tests.support.waiting import eventually


def test_can_bus_frames_and_errors_are_exported_per_bus(tmp_path: Path) -> None:
    channel = f"ops-{uuid.uuid4().hex[:8]}"
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))
    bus.setup()
    peer = can.Bus(interface="virtual", channel=channel)
    try:
        bus.add_listener(lambda msg: None)
        for i in range(3):
            peer.send(can.Message(arbitration_id=0x100 + i, data=b"\x01", is_extended_id=False))
        assert eventually(lambda: bus.frames_received >= 3)
        bus.send(can.Message(arbitration_id=0x200, data=b"\x02", is_extended_id=False))
        # the board is the container the station keeps its buses in; no EVSEs are needed here
        station = SimpleNamespace(board=SimpleNamespace(buses={"can0": bus}), controllers={})
        view = StationView(station)  # type: ignore[arg-type]
        assert view.bus_stats()["can0"]["frames_received"] == 3
        body, content_type = Metrics(view, WearCounters(tmp_path), started_at=time.monotonic()).render()
    finally:
        peer.shutdown()
        bus.release()
    assert content_type.startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("josev_hal_bus_frames_total", (("bus", "can0"), ("direction", "received")))] == 3
    assert samples[("josev_hal_bus_frames_total", (("bus", "can0"), ("direction", "sent")))] == 1
    assert samples[("josev_hal_bus_errors_total", (("bus", "can0"), ("kind", "send")))] == 0
    assert samples[("josev_hal_bus_errors_total", (("bus", "can0"), ("kind", "receive")))] == 0
