"""One MCU link per serial bus, shared by the ``mcu-cp``, ``mcu-contactor`` and ``mcu-rcd`` drivers.

The link owns the serial port exclusively (it is full duplex and the MCU talks unsolicited, so it
cannot share an RS485 line with Modbus devices). It runs two threads:

* a **reader** that splits the byte stream at 0x00, decodes frames (COBS, CRC-16), keeps the
  latest ``STATUS`` with its receive time, resolves ``ACK``s and notifies the drivers on change;
* a **keep-alive** sender: a ``KEEPALIVE`` every ``keepalive_interval_s`` that carries the
  MCU-side timeout, so the MCU opens the relays and drives CP to state F on its own when the HAL
  dies or hangs. The same thread notices MCU silence (board-link loss) and notifies the drivers
  once, so the core reacts at once rather than at its next poll.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import msgspec
import serial

from josev_hal.buses.serial import SerialBus
from josev_hal.errors import BusError, DeviceError, DeviceOffline, DeviceTimeout

from . import protocol as proto

__all__ = ["LinkOptions", "McuLink", "StatusSnapshot"]

log = logging.getLogger(__name__)


class LinkOptions(msgspec.Struct, forbid_unknown_fields=True):
    """Link settings shared by every MCU-link driver (all devices on one link must agree; the
    first device set up decides and a differing one is logged)."""

    #: How often the HAL sends KEEPALIVE.
    keepalive_interval_s: float = 0.2
    #: Told to the MCU in every KEEPALIVE: after this long without a valid frame it fails safe.
    mcu_failsafe_timeout_ms: int = 1000
    #: The MCU is offline (board-link loss) after this long without a valid frame from it. It
    #: sends STATUS every 100 ms, so 0.5 s is five missed frames.
    link_timeout_s: float = 0.5
    #: How long a command waits for the MCU's ACK.
    ack_timeout_s: float = 0.2
    #: How often an unacknowledged command is sent again before giving up.
    retries: int = 1
    #: Application watchdog: send KEEPALIVE only while the station core keeps using the drivers
    #: (a read or command within this many seconds). A hung core then stops the keep-alive and
    #: the MCU fails safe, not only a dead process. Set it (e.g. 1.0) when the core samples an
    #: ``mcu-cp`` (every 50 ms); ``None`` keeps the keep-alive tied to the process only.
    app_watchdog_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.keepalive_interval_s <= 5:
            raise ValueError("keepalive_interval_s must be in (0, 5]")
        # The MCU must hear at least two keep-alives per timeout, or it fails safe on jitter.
        if not 2 * self.keepalive_interval_s * 1000 <= self.mcu_failsafe_timeout_ms <= 65535:
            raise ValueError("mcu_failsafe_timeout_ms must be >= 2 keep-alive intervals and <= 65535")
        if self.link_timeout_s <= 0 or self.ack_timeout_s <= 0:
            raise ValueError("link_timeout_s and ack_timeout_s must be > 0")
        if not 0 <= self.retries <= 5:
            raise ValueError("retries must be in 0..5")
        if self.app_watchdog_s is not None and self.app_watchdog_s < 2 * self.keepalive_interval_s:
            raise ValueError("app_watchdog_s must be at least 2 keep-alive intervals")


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    status: proto.Status
    received_at: float  # time.monotonic()
    received_utc: datetime


class _Pending:
    __slots__ = ("event", "result")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: proto.AckResult | None = None


class McuLink:
    """The HAL end of the MCU link on one :class:`SerialBus`. Get it with :meth:`acquire`."""

    _registry: ClassVar[dict[int, McuLink]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, bus: SerialBus, options: LinkOptions) -> None:
        self.bus = bus
        self.options = options
        self._refs = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._status: StatusSnapshot | None = None
        self._listeners: list[Callable[[], None]] = []
        self._online = False
        self._started_at = 0.0
        self._last_used = 0.0
        self.firmware: str | None = None
        self.hello_count = 0
        self.frames_received = 0
        self.frames_sent = 0
        self.bad_frames = 0
        self.reopen_count = 0

    # -- sharing -----------------------------------------------------------------------------
    @classmethod
    def acquire(cls, bus: object, options: LinkOptions, device_id: str) -> McuLink:
        """The link on ``bus`` (created and started by the first device), one more reference."""
        if not isinstance(bus, SerialBus):
            raise DeviceError(f"needs a bus of kind 'serial', got {type(bus).__name__}", device=device_id)
        with cls._registry_lock:
            link = cls._registry.get(id(bus))
            if link is not None and link.bus is not bus:
                link = None  # a link left behind by a bus object that no longer exists (id reused)
            if link is None:
                link = cls(bus, options)
                link._start()
                cls._registry[id(bus)] = link
            elif link.options != options:
                log.warning(
                    "mcu link options differ device=%s bus=%s using=%s", device_id, bus.name, link.options
                )
            link._refs += 1
            return link

    def release_ref(self) -> None:
        """Drop one reference; the last one stops the threads (the MCU then fails safe)."""
        with self._registry_lock:
            self._refs -= 1
            if self._refs > 0:
                return
            if self._registry.get(id(self.bus)) is self:
                del self._registry[id(self.bus)]
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2.0)
        self._threads.clear()

    def subscribe(self, listener: Callable[[], None]) -> None:
        """``listener()`` runs on a link thread after every relevant change."""
        self._listeners.append(listener)

    # -- state -------------------------------------------------------------------------------
    def snapshot(self, device_id: str) -> StatusSnapshot:
        """The latest STATUS, or :class:`DeviceOffline` / :class:`DeviceTimeout` when the MCU is
        silent (timeout before the first STATUS after start)."""
        snap = self._status
        now = time.monotonic()
        timeout = self.options.link_timeout_s
        if snap is None:
            if now - self._started_at <= timeout:
                raise DeviceTimeout("no STATUS from the MCU yet", device=device_id)
            raise DeviceOffline(f"no STATUS from the MCU on {self.bus.describe()}", device=device_id)
        if now - snap.received_at > timeout:
            raise DeviceOffline(
                f"MCU silent for {now - snap.received_at:.2f} s (> {timeout:g} s) on {self.bus.describe()}",
                device=device_id,
            )
        return snap

    # -- sending -----------------------------------------------------------------------------
    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq = (self._seq + 1) & 0xFF
            return self._seq

    def send(self, msg_type: proto.MsgType, payload: bytes = b"", seq: int | None = None) -> int:
        """Write one frame; returns its sequence number. Raises :class:`BusError`."""
        seq = self._next_seq() if seq is None else seq
        frame = proto.encode_frame(proto.Packet(int(msg_type), seq, payload))
        with self.bus.lock:
            try:
                self.bus.port.write(frame)
                self.bus.port.flush()
            except (serial.SerialException, OSError) as exc:
                raise BusError(
                    f"write to {self.bus.describe()} failed: {exc}", device=f"bus {self.bus.name}"
                ) from exc
        self.frames_sent += 1
        return seq

    def command(self, msg_type: proto.MsgType, payload: bytes, device_id: str) -> proto.AckResult:
        """Send a command and wait for its ACK (re-sent ``retries`` times with the same seq, so
        the MCU can tell a repeat from a new command). Raises :class:`DeviceTimeout`."""
        seq = self._next_seq()
        pending = _Pending()
        with self._pending_lock:
            self._pending[seq] = pending
        try:
            for _attempt in range(self.options.retries + 1):
                self.send(msg_type, payload, seq=seq)
                if pending.event.wait(self.options.ack_timeout_s):
                    assert pending.result is not None
                    return pending.result
            raise DeviceTimeout(
                f"MCU did not acknowledge {msg_type.name} seq={seq} within "
                f"{self.options.ack_timeout_s:g} s x{self.options.retries + 1}",
                device=device_id,
            )
        finally:
            with self._pending_lock:
                self._pending.pop(seq, None)

    # -- threads -----------------------------------------------------------------------------
    def _start(self) -> None:
        self.bus.setup()
        self._started_at = time.monotonic()
        self._last_used = self._started_at  # the core gets app_watchdog_s to start using us
        for target, name in ((self._read_loop, "rx"), (self._keepalive_loop, "keepalive")):
            t = threading.Thread(target=target, name=f"mcu-{name}-{self.bus.name}", daemon=True)
            t.start()
            self._threads.append(t)
        try:
            self.send(proto.MsgType.KEEPALIVE, self._keepalive_payload())
            self.send(proto.MsgType.GET_STATUS)
        except BusError as exc:
            log.warning("mcu link first keepalive failed bus=%s error=%s", self.bus.name, exc)

    def _keepalive_payload(self) -> bytes:
        return self.options.mcu_failsafe_timeout_ms.to_bytes(2, "big")

    def touch(self) -> None:
        """The station core used a driver just now (feeds the application watchdog)."""
        self._last_used = time.monotonic()

    def _keepalive_loop(self) -> None:
        starving = False
        while not self._stop.wait(self.options.keepalive_interval_s):
            watchdog = self.options.app_watchdog_s
            idle = time.monotonic() - self._last_used
            if watchdog is not None and idle > watchdog:
                if not starving:
                    log.error(
                        "mcu keepalive withheld bus=%s: drivers unused for %.1f s (core hung?)",
                        self.bus.name,
                        idle,
                    )
                starving = True
            else:
                if starving:
                    log.warning("mcu keepalive resumed bus=%s", self.bus.name)
                starving = False
                try:
                    self.send(proto.MsgType.KEEPALIVE, self._keepalive_payload())
                except BusError as exc:
                    log.warning("mcu keepalive failed bus=%s error=%s", self.bus.name, exc)
            snap = self._status
            online = snap is not None and time.monotonic() - snap.received_at <= self.options.link_timeout_s
            if online != self._online:
                self._online = online
                log.warning("mcu link %s bus=%s", "up" if online else "LOST", self.bus.name)
                self._notify()

    def _read_loop(self) -> None:
        buffer = bytearray()
        while not self._stop.is_set():
            try:
                port = self.bus.port
                if hasattr(port, "fileno"):
                    ready, _, _ = select.select([port.fileno()], [], [], 0.05)
                    if not ready:
                        continue
                    chunk = port.read(port.in_waiting or 1)
                else:  # pyserial URL handlers without a file descriptor: poll
                    chunk = port.read(port.in_waiting or 1)
                    if not chunk:
                        self._stop.wait(0.005)
                        continue
            except (serial.SerialException, OSError, BusError, ValueError, TypeError) as exc:
                # A USB-serial adapter that was unplugged, or a port closed under us (select()
                # then raises TypeError): reopen it. Until then the MCU is silent ->
                # DeviceOffline, and it fails safe on its own.
                log.warning("mcu link read failed bus=%s error=%s", self.bus.name, exc)
                buffer.clear()
                if self._stop.wait(0.2):
                    return
                self._reopen()
                continue
            buffer += chunk
            while (end := buffer.find(0)) >= 0:
                frame = bytes(buffer[:end])
                del buffer[: end + 1]
                if frame:
                    self._handle(frame)
            if len(buffer) > 4 * (proto.MAX_PAYLOAD + 8):
                # No delimiter for far longer than any frame: line noise; resynchronise.
                self.bad_frames += 1
                buffer.clear()

    def _reopen(self) -> None:
        try:
            self.bus.reopen()
        except BusError as exc:
            log.warning("mcu link reopen failed bus=%s error=%s", self.bus.name, exc)
            return
        self.reopen_count += 1
        log.warning("mcu link port reopened bus=%s", self.bus.name)

    def _handle(self, frame: bytes) -> None:
        try:
            packet = proto.decode_frame(frame)
        except proto.FrameError as exc:
            self.bad_frames += 1
            log.warning("mcu link bad frame bus=%s error=%s", self.bus.name, exc)
            return
        self.frames_received += 1
        try:
            if packet.type == proto.MsgType.STATUS:
                self._on_status(proto.Status.unpack(packet.payload))
            elif packet.type == proto.MsgType.ACK:
                if len(packet.payload) != 2:
                    raise proto.FrameError(f"ACK payload must be 2 bytes, got {len(packet.payload)}")
                with self._pending_lock:
                    pending = self._pending.get(packet.payload[0])
                if pending is not None:
                    pending.result = proto.AckResult(packet.payload[1])
                    pending.event.set()
            elif packet.type == proto.MsgType.HELLO:
                self.hello_count += 1
                self.firmware = packet.payload[1:].decode("ascii", "replace") if packet.payload else None
                log.warning("mcu reset/hello bus=%s firmware=%s", self.bus.name, self.firmware)
                self._notify()
        except (proto.FrameError, ValueError) as exc:
            self.bad_frames += 1
            log.warning("mcu link bad payload bus=%s type=0x%02X error=%s", self.bus.name, packet.type, exc)

    def _on_status(self, status: proto.Status) -> None:
        previous = self._status
        self._status = StatusSnapshot(status, time.monotonic(), datetime.now(UTC))
        if not self._online:
            self._online = True
            log.info("mcu link up bus=%s", self.bus.name)
            self._notify()
            return
        if previous is None or _relevant_change(previous.status, status):
            self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("mcu link listener failed bus=%s", self.bus.name)


def _relevant_change(old: proto.Status, new: proto.Status) -> bool:
    """Changes the core must see at once: flags, CP mode, or a CP plateau moving by > 1 V
    (smaller moves are noise within one CP state band)."""
    if old.flags != new.flags or old.cp_mode != new.cp_mode or old.rcd_test_count != new.rcd_test_count:
        return True
    return abs(old.cp_positive_mv - new.cp_positive_mv) > 1000
