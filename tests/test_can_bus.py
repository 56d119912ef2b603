"""The ``can`` bus kind over python-can's ``virtual`` interface (a real python-can bus)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import can
import msgspec
import pytest

from josev_hal.buses.can import CanBus, CanBusOptions
from josev_hal.errors import BusError
from tests.support.waiting import eventually


@pytest.fixture
def channel() -> str:
    return f"test-can-{uuid.uuid4().hex}"


@pytest.fixture
def hal_bus(channel: str) -> Iterator[CanBus]:
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))
    bus.setup()
    yield bus
    bus.release()


@pytest.fixture
def peer(channel: str) -> Iterator[can.BusABC]:
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


def test_listener_receives_only_frames_matching_its_filter(hal_bus: CanBus, peer: can.BusABC) -> None:
    got: list[int] = []
    hal_bus.add_listener(
        lambda m: got.append(m.arbitration_id), can_id=0x0000F000, mask=0x0000FF00, extended=True
    )
    peer.send(can.Message(arbitration_id=0x0283F001, is_extended_id=True, data=bytes(8)))  # dest 0xF0
    peer.send(can.Message(arbitration_id=0x0283F101, is_extended_id=True, data=bytes(8)))  # dest 0xF1
    peer.send(can.Message(arbitration_id=0x0F0, is_extended_id=False, data=bytes(8)))  # standard id
    peer.send(can.Message(arbitration_id=0x0284F002, is_extended_id=True, data=bytes(8)))
    assert eventually(lambda: hal_bus.frames_received >= 4)
    assert got == [0x0283F001, 0x0284F002]


def test_send_reaches_the_peer(hal_bus: CanBus, peer: can.BusABC) -> None:
    hal_bus.send(can.Message(arbitration_id=0x1234567, is_extended_id=True, data=b"\x01\x02"))
    msg = peer.recv(timeout=2.0)
    assert msg is not None
    assert (msg.arbitration_id, bytes(msg.data)) == (0x1234567, b"\x01\x02")
    assert hal_bus.stats()["frames_sent"] == 1


def test_failing_listener_does_not_stop_delivery_to_others(hal_bus: CanBus, peer: can.BusABC) -> None:
    got: list[int] = []

    def broken(msg: can.Message) -> None:
        raise RuntimeError("driver bug")

    hal_bus.add_listener(broken)
    hal_bus.add_listener(lambda m: got.append(m.arbitration_id))
    for i in range(3):
        peer.send(can.Message(arbitration_id=0x100 + i, is_extended_id=False, data=b""))
    assert eventually(lambda: len(got) == 3)
    assert hal_bus.stats()["listener_errors"] == 3


def test_removed_listener_gets_nothing_more(hal_bus: CanBus, peer: can.BusABC) -> None:
    got: list[int] = []
    handle = hal_bus.add_listener(lambda m: got.append(m.arbitration_id))
    peer.send(can.Message(arbitration_id=0x1, is_extended_id=False, data=b""))
    assert eventually(lambda: got == [0x1])
    hal_bus.remove_listener(handle)
    peer.send(can.Message(arbitration_id=0x2, is_extended_id=False, data=b""))
    assert eventually(lambda: hal_bus.frames_received == 2)
    assert got == [0x1]


def test_send_on_a_bus_that_is_not_open_raises_bus_error(channel: str) -> None:
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))
    with pytest.raises(BusError, match="not open"):
        bus.send(can.Message(arbitration_id=1, data=b""))


def test_unknown_interface_is_a_bus_error_naming_it() -> None:
    bus = CanBus("can7", CanBusOptions(interface="no-such-interface", channel="x"))
    with pytest.raises(BusError, match="no-such-interface"):
        bus.setup()


def test_release_is_idempotent_and_stops_the_receive_thread(channel: str) -> None:
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel))
    bus.setup()
    assert any(t.name == "can-rx-can0" for t in threading.enumerate())
    bus.release()
    bus.release()
    assert not bus.is_open
    assert eventually(lambda: not any(t.name == "can-rx-can0" for t in threading.enumerate()))


def test_can_bus_kind_is_registered_by_the_plugin_manager() -> None:
    from josev_hal.plugins import get_plugin_manager

    assert get_plugin_manager(autoload=False).bus_kinds["can"] is CanBus


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"bitrate": 2_000_000}, "bitrate"),
        ({"send_timeout_s": 0}, "send_timeout_s"),
        ({"channel": ""}, "must not be empty"),
    ],
)
def test_invalid_bus_options_are_rejected(options: dict[str, object], match: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=match):
        msgspec.convert(options, CanBusOptions)


def test_receive_errors_are_counted_and_reception_goes_on(channel: str, peer: can.BusABC) -> None:
    bus = CanBus("can0", CanBusOptions(interface="virtual", channel=channel, error_backoff_s=0.01))
    bus.setup()
    try:
        assert bus._bus is not None
        real_recv = bus._bus.recv
        failures = iter([can.CanOperationError("bus-off"), OSError("ENETDOWN")])

        def flaky_recv(timeout: float | None = None) -> can.Message | None:
            # The interface misbehaves twice (bus-off, interface down), then recovers.
            for exc in failures:
                raise exc
            return real_recv(timeout)

        bus._bus.recv = flaky_recv  # type: ignore[method-assign]
        got: list[int] = []
        bus.add_listener(lambda m: got.append(m.arbitration_id))
        assert eventually(lambda: bus.stats()["receive_errors"] == 2)
        peer.send(can.Message(arbitration_id=0x42, is_extended_id=False, data=b""))
        assert eventually(lambda: got == [0x42])
    finally:
        bus.release()
