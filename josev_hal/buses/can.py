"""The ``can`` bus kind: one python-can bus shared by every device on a CAN channel.

A CAN channel typically carries a whole group of DC power modules (and sometimes an IMD). Unlike
a serial line, CAN has no request/response pairing: replies arrive whenever the module sends them.
So this bus owns one **receive thread** that reads every frame and hands it to the listeners the
drivers registered (each with an optional ID/mask filter), and a **send lock** so that frames
from different drivers never interleave mid-call on interfaces that are not thread-safe.

Drivers never block the receive thread: a listener must only decode and store the frame (it runs
on the bus thread); anything slower belongs on the driver's own thread.

Profile example::

    [buses.can0]
    kind = "can"
    interface = "socketcan"     # any python-can interface: socketcan, pcan, kvaser, slcan, virtual ...
    channel = "can0"
    bitrate = 125000            # ignored by socketcan (set with `ip link`), used by USB adapters
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from josev_hal.buses import Bus
from josev_hal.errors import BusError
from josev_hal.hookspecs import hookimpl

if TYPE_CHECKING:
    # python-can costs ~30-40 ms of start-up; this module is a built-in bus kind registered in
    # every process, so ``can`` is imported only when a CAN bus is actually opened.
    import can

__all__ = ["STANDARD_BITRATES", "CanBus", "CanBusOptions", "CanListener", "hal_register_bus_kinds"]

log = logging.getLogger(__name__)

#: Called on the bus's receive thread with every frame that passes the listener's filter.
CanListener = Callable[["can.Message"], None]


#: Classic CAN bit rates (CiA 301 plus the 33.3/83.3/100 kbit/s in common use). Every node on a
#: bus must use the same one, and controllers are configured from this list.
STANDARD_BITRATES: tuple[int, ...] = (
    10_000,
    20_000,
    33_333,
    50_000,
    83_333,
    100_000,
    125_000,
    250_000,
    500_000,
    800_000,
    1_000_000,
)


class CanBusOptions(msgspec.Struct, forbid_unknown_fields=True):
    """``[buses.<name>]`` options of ``kind = "can"``."""

    #: python-can interface name (``socketcan`` on a Linux board, ``virtual`` for tests/demos).
    interface: str = "socketcan"
    #: Channel for that interface (``can0``, ``PCAN_USBBUS1``, any name for ``virtual``).
    channel: str = "can0"
    #: Bit rate in bit/s. ``None`` leaves it to the interface (socketcan takes it from `ip link`).
    bitrate: int | None = None
    #: Deliver our own transmitted frames to our listeners too (useful only for bus monitors).
    receive_own_messages: bool = False
    #: How long one ``send`` may wait for room in the transmit queue.
    send_timeout_s: float = 0.2
    #: Pause after a receive error before reading again (keeps a dead interface from spinning).
    error_backoff_s: float = 0.5

    def __post_init__(self) -> None:
        # ValueError: `josev-hal check` reports it at this bus's key path.
        if self.bitrate is not None and self.bitrate not in STANDARD_BITRATES:
            rates = ", ".join(str(r) for r in STANDARD_BITRATES)
            raise ValueError(f"bitrate: {self.bitrate} is not a standard CAN bit rate ({rates})")
        if not 0 < self.send_timeout_s <= 10:
            raise ValueError("send_timeout_s must be in (0, 10]")
        if not 0 < self.error_backoff_s <= 10:
            raise ValueError("error_backoff_s must be in (0, 10]")
        if not self.interface or not self.channel:
            raise ValueError("interface and channel must not be empty")


class _Subscription(msgspec.Struct, frozen=True):
    handle: int
    callback: CanListener
    can_id: int | None
    mask: int
    extended: bool | None

    def matches(self, msg: can.Message) -> bool:
        if self.extended is not None and msg.is_extended_id != self.extended:
            return False
        if self.can_id is None:
            return True
        return (msg.arbitration_id & self.mask) == (self.can_id & self.mask)


class CanBus(Bus):
    """A python-can bus with a receive thread that dispatches frames to driver listeners.

    :meth:`setup` opens the interface and starts the thread; :meth:`release` stops both. Listeners
    may be added before or after :meth:`setup`. :meth:`send` is safe from any thread.
    """

    kind: ClassVar[str] = "can"
    Options: ClassVar[type[msgspec.Struct]] = CanBusOptions

    def __init__(self, name: str, options: msgspec.Struct) -> None:
        super().__init__(name, options)
        assert isinstance(options, CanBusOptions)
        self.opts: CanBusOptions = options
        self._bus: can.BusABC | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._subs: tuple[_Subscription, ...] = ()  # replaced wholesale: lock-free reads on rx
        self._subs_lock = threading.Lock()
        self._handles = itertools.count(1)
        self.frames_received = 0
        self.frames_sent = 0
        self.receive_errors = 0
        self.send_errors = 0
        self.listener_errors = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self) -> None:
        """Open the python-can interface and start the receive thread."""
        if self._bus is not None:
            return
        kwargs: dict[str, Any] = {
            "interface": self.opts.interface,
            "channel": self.opts.channel,
            "receive_own_messages": self.opts.receive_own_messages,
        }
        if self.opts.bitrate is not None:
            kwargs["bitrate"] = self.opts.bitrate
        import can

        try:
            self._bus = can.Bus(**kwargs)
        except (can.CanError, OSError, ValueError, ImportError) as exc:
            raise BusError(
                f"cannot open CAN interface={self.opts.interface} channel={self.opts.channel}: {exc}",
                device=f"bus {self.name}",
            ) from exc
        self._stop.clear()
        self._thread = threading.Thread(target=self._receive_loop, name=f"can-rx-{self.name}", daemon=True)
        self._thread.start()
        log.info("can bus up name=%s %s", self.name, self.describe())

    def release(self) -> None:
        """Stop the receive thread and shut the interface down. Idempotent; never raises."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        bus, self._bus = self._bus, None
        if bus is not None:
            try:
                bus.shutdown()
            except Exception:  # release never raises; the OS closes the socket anyway
                log.exception("can bus shutdown failed name=%s", self.name)

    @property
    def is_open(self) -> bool:
        return self._bus is not None

    def describe(self) -> str:
        rate = f" {self.opts.bitrate} bit/s" if self.opts.bitrate else ""
        return f"can {self.opts.interface}:{self.opts.channel}{rate}"

    # -- listeners ---------------------------------------------------------------------------
    def add_listener(
        self,
        callback: CanListener,
        *,
        can_id: int | None = None,
        mask: int = 0x1FFFFFFF,
        extended: bool | None = None,
    ) -> int:
        """Call ``callback(msg)`` on the receive thread for every frame whose
        ``arbitration_id & mask == can_id & mask`` (all frames when ``can_id`` is ``None``),
        optionally only extended (29-bit) or only standard IDs. Returns a handle for
        :meth:`remove_listener`. The callback must be quick and must not raise (exceptions are
        logged and counted, never stop the thread)."""
        sub = _Subscription(next(self._handles), callback, can_id, mask, extended)
        with self._subs_lock:
            self._subs = (*self._subs, sub)
        return sub.handle

    def remove_listener(self, handle: int) -> None:
        """Forget a listener. Unknown handles are ignored."""
        with self._subs_lock:
            self._subs = tuple(s for s in self._subs if s.handle != handle)

    # -- sending -----------------------------------------------------------------------------
    def send(self, msg: can.Message) -> None:
        """Transmit one frame. Raises :class:`BusError` when the bus is not open or the
        interface refuses the frame (bus-off, full transmit queue)."""
        bus = self._bus
        if bus is None:
            raise BusError(f"CAN bus {self.name} is not open", device=f"bus {self.name}")
        import can  # already loaded: the bus is open (a dict lookup, not an import)

        with self.lock:
            try:
                bus.send(msg, timeout=self.opts.send_timeout_s)
            except (can.CanError, OSError) as exc:
                self.send_errors += 1
                raise BusError(
                    f"send id=0x{msg.arbitration_id:08X} failed on {self.describe()}: {exc}",
                    device=f"bus {self.name}",
                ) from exc
            self.frames_sent += 1

    # -- receive thread ----------------------------------------------------------------------
    def _receive_loop(self) -> None:
        import can

        while not self._stop.is_set():
            bus = self._bus
            if bus is None:
                return
            try:
                msg = bus.recv(timeout=0.1)
            except (can.CanError, OSError, ValueError) as exc:
                # A transient interface error (bus-off, adapter hiccup) must not kill reception
                # for every driver on the bus; the drivers' own silence timeouts take over.
                self.receive_errors += 1
                log.warning("can receive error bus=%s error=%s", self.name, exc)
                self._stop.wait(self.opts.error_backoff_s)
                continue
            if msg is None or msg.is_error_frame:
                continue
            self.frames_received += 1
            self._dispatch(msg)

    def _dispatch(self, msg: can.Message) -> None:
        for sub in self._subs:
            if not sub.matches(msg):
                continue
            try:
                sub.callback(msg)
            except Exception:
                self.listener_errors += 1
                log.exception("can listener failed bus=%s id=0x%08X", self.name, msg.arbitration_id)

    def stats(self) -> dict[str, int]:
        """Frame and error counters (for the probe and logs)."""
        return {
            "frames_received": self.frames_received,
            "frames_sent": self.frames_sent,
            "receive_errors": self.receive_errors,
            "send_errors": self.send_errors,
            "listener_errors": self.listener_errors,
        }


@hookimpl
def hal_register_bus_kinds() -> dict[str, type[Bus]]:
    """Contribute the ``can`` bus kind."""
    return {"can": CanBus}
