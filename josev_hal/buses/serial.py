"""The ``serial`` bus kind: one pyserial port shared by every device on an RS485/RS232 line.

An RS485 line is half-duplex with a single master: a request and its response must never
interleave with another device's frames. Drivers therefore hold :attr:`SerialBus.lock` for a
whole transaction (request *and* response). The bus also keeps the **line idle time** between
frames: Modbus RTU needs at least 3.5 character times of silence between frames, and many cheap
meters and RS485 adapters need more after answering before they listen again
(``inter_frame_delay_ms``). :meth:`SerialBus.wait_turnaround` enforces the larger of the two
before each request.

Profile example::

    [buses.rs485]
    kind = "serial"
    port = "/dev/ttyUSB0"
    baudrate = 9600
    parity = "N"             # N | E | O
    stopbits = 1             # 1 | 2
    bytesize = 8
    timeout_s = 0.3          # response timeout of one transaction
    inter_frame_delay_ms = 5 # extra silence between frames (on top of the 3.5 characters)
    local_echo = false       # true for adapters that echo what they send
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

import msgspec

from josev_hal.buses import Bus
from josev_hal.errors import BusError
from josev_hal.hookspecs import hookimpl

if TYPE_CHECKING:
    import serial

__all__ = ["STANDARD_BAUDRATES", "SerialBus", "SerialBusOptions", "hal_register_bus_kinds"]

log = logging.getLogger(__name__)


#: Baud rates a UART can be set to without a custom divisor (the termios B-constants of Linux).
#: A rate outside this list (a typo like 9601) would, at best, be approximated by the adapter and
#: garble every frame; ``josev-hal check`` and bus setup refuse it alike.
STANDARD_BAUDRATES: tuple[int, ...] = (
    50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000,
    3000000, 3500000, 4000000,
)  # fmt: skip


class SerialBusOptions(msgspec.Struct, forbid_unknown_fields=True):
    """``[buses.<name>]`` options of ``kind = "serial"``."""

    #: Device path (``/dev/ttyUSB0``, ``/dev/ttyAMA0``) or any pyserial URL.
    port: str
    #: Bits per second. Meters ship with 9600 (Eastron) up to 115200 (Iskra WM3M4C).
    baudrate: Annotated[int, msgspec.Meta(gt=0, le=4_000_000)] = 9600
    #: ``"N"`` none, ``"E"`` even, ``"O"`` odd.
    parity: Literal["N", "E", "O"] = "N"
    #: 1 or 2 stop bits.
    stopbits: Literal[1, 2] = 1
    #: Data bits per character (Modbus RTU uses 8).
    bytesize: Literal[7, 8] = 8
    #: How long a transaction waits for the first byte of the answer (the frame's own wire time
    #: is added on top by the drivers).
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.3
    #: Extra silence between the end of one frame and the next request, in ms (on top of the
    #: 3.5-character gap Modbus RTU requires).
    inter_frame_delay_ms: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 0.0
    #: The adapter hears its own transmission (2-wire RS485 without echo suppression): every
    #: request comes back before the answer and is checked and discarded.
    local_echo: bool = False

    def __post_init__(self) -> None:
        # ValueError: `josev-hal check` reports it at this bus's key path, file:line included.
        if self.baudrate not in STANDARD_BAUDRATES:
            near = min(STANDARD_BAUDRATES, key=lambda b: abs(b - self.baudrate))
            raise ValueError(f"baudrate: {self.baudrate} is not a standard rate (did you mean {near}?)")


class SerialBus(Bus):
    """A pyserial port plus the per-line lock and inter-frame timing.

    :meth:`setup` opens the port (idempotent); :meth:`release` closes it. Drivers use
    :attr:`port` only while holding :attr:`lock`, call :meth:`wait_turnaround` before sending and
    :meth:`frame_done` after the last byte of a transaction arrived (or the transaction gave up).
    """

    kind: ClassVar[str] = "serial"
    Options: ClassVar[type[msgspec.Struct]] = SerialBusOptions

    def __init__(self, name: str, options: msgspec.Struct) -> None:
        super().__init__(name, options)
        assert isinstance(options, SerialBusOptions)
        self.opts: SerialBusOptions = options
        self._port: serial.Serial | None = None
        # Monotonic time the line last went idle; 0 = never used, no wait needed.
        self._idle_since = 0.0
        self.reopen_count = 0

    # -- timing ------------------------------------------------------------------------------
    @property
    def bits_per_char(self) -> int:
        """Bits on the wire per character: start + data + parity + stop."""
        parity_bits = 0 if self.opts.parity == "N" else 1
        return 1 + self.opts.bytesize + parity_bits + self.opts.stopbits

    @property
    def char_time_s(self) -> float:
        """Wire time of one character at the configured baud rate."""
        return self.bits_per_char / self.opts.baudrate

    @property
    def frame_gap_s(self) -> float:
        """Minimum silence between two frames: 3.5 characters (fixed 1.75 ms above 19200 baud,
        as the Modbus serial line spec allows) plus the configured inter-frame delay."""
        gap = 3.5 * self.char_time_s if self.opts.baudrate <= 19200 else 0.00175
        return gap + self.opts.inter_frame_delay_ms / 1000.0

    def wait_turnaround(self) -> None:
        """Sleep until the line has been idle for :attr:`frame_gap_s`. Call with :attr:`lock` held."""
        if self._idle_since:
            remaining = self._idle_since + self.frame_gap_s - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)

    def frame_done(self) -> None:
        """Record that the line just went idle (end of a response, or a transaction given up)."""
        self._idle_since = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self) -> None:
        """Open the port. Raises :class:`BusError` naming the port when the OS refuses."""
        if self._port is not None:
            return
        # pyserial is imported when a serial bus opens: the bus kind is registered in every
        # process, and most boards' daemons should not pay for the import at start-up.
        import serial

        parity = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}
        try:
            self._port = serial.serial_for_url(
                self.opts.port,
                baudrate=self.opts.baudrate,
                parity=parity[self.opts.parity],
                stopbits=self.opts.stopbits,
                bytesize=self.opts.bytesize,
                timeout=0,
                write_timeout=max(1.0, self.opts.timeout_s),
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise BusError(f"cannot open {self.describe()}: {exc}", device=f"bus {self.name}") from exc
        log.info("serial bus up name=%s %s", self.name, self.describe())

    def release(self) -> None:
        """Close the port. Idempotent; never raises."""
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # release never raises; the OS closes the fd anyway
                log.exception("serial close failed name=%s", self.name)

    def reopen(self) -> None:
        """Close and open the port again (after the OS reported an I/O error, e.g. a USB adapter
        that was unplugged and came back). Raises :class:`BusError` when it cannot."""
        with self.lock:
            self.release()
            self.reopen_count += 1
            self.setup()

    @property
    def is_open(self) -> bool:
        return self._port is not None

    @property
    def port(self) -> serial.Serial:
        """The open pyserial port (non-blocking reads: ``timeout=0``). Opens it on first use so
        a device used before :meth:`setup` still works; raises :class:`BusError` if it cannot."""
        if self._port is None:
            self.setup()
        assert self._port is not None
        return self._port

    def describe(self) -> str:
        o = self.opts
        return f"serial {o.port} {o.baudrate} {o.bytesize}{o.parity}{o.stopbits}"


@hookimpl
def hal_register_bus_kinds() -> dict[str, type[Bus]]:
    """Contribute the ``serial`` bus kind."""
    return {"serial": SerialBus}
