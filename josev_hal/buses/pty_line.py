"""A serial line on this machine: two pseudo-terminals joined like the two ends of an RS485 cable.

The serial bus (:mod:`josev_hal.buses.serial`) opens a device path, so a driver on
:attr:`PtyLine.client_port` cannot tell a simulated peer on :attr:`PtyLine.peer_port` from real
hardware. Used by the Modbus simulators (:mod:`josev_hal_modbus.sim`), ``josev-hal sim meter
--pair``, the tests and the driver benchmarks; it knows no protocol, only the wire (speed,
echo, bit errors, a cut cable), so it lives next to the serial bus rather than in a plugin.
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
import time
import tty

__all__ = ["PtyLine", "wire_time_s"]


def wire_time_s(
    n_bytes: int, baudrate: int, *, parity: str = "N", stopbits: int = 1, bytesize: int = 8
) -> float:
    """Transmission time of ``n_bytes`` characters: start + data + parity + stop bits each."""
    bits = 1 + bytesize + (0 if parity == "N" else 1) + stopbits
    return n_bytes * bits / baudrate


class PtyLine:
    """Two pseudo-terminals joined like the two ends of an RS485 line.

    ``baudrate``: when ``emulate_wire`` is true each chunk is delivered only after its wire time
    at this rate (1 start + data + parity + stop bits per character), back to back, so
    timing measured through the line is realistic. :meth:`corrupt_answers` flips one bit in each
    of the next *n* chunks going to the client; :meth:`cut` drops everything (cable cut).
    ``echo``: the client hears its own transmissions, like a 2-wire RS485 adapter without echo
    suppression. ``strict_baud``: the peer hears the client only while the client's port is set
    to ``baudrate`` (a meter at another rate receives garbage and stays silent; for baud sweeps).
    """

    def __init__(
        self,
        *,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        emulate_wire: bool = False,
        echo: bool = False,
        strict_baud: bool = False,
    ) -> None:
        self.echo = echo
        self._strict_speed = getattr(termios, f"B{baudrate}", None) if strict_baud else None
        self.char_time_s = wire_time_s(1, baudrate, parity=parity, stopbits=stopbits, bytesize=bytesize)
        self.emulate_wire = emulate_wire
        self._client_master, self._client_slave = os.openpty()
        self._peer_master, self._peer_slave = os.openpty()
        for fd in (self._client_slave, self._peer_slave):
            # Raw until the real user opens it: no echo, no line editing of binary frames.
            tty.setraw(fd)
        self.client_port = os.ttyname(self._client_slave)
        self.peer_port = os.ttyname(self._peer_slave)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._corrupt_pending = 0
        self.corrupted = 0
        self.cut_off = False
        self.bytes_to_peer = 0
        self.bytes_to_client = 0
        self._threads = [
            threading.Thread(
                target=self._pump, args=(self._client_master, self._peer_master, False), daemon=True
            ),
            threading.Thread(
                target=self._pump, args=(self._peer_master, self._client_master, True), daemon=True
            ),
        ]
        for t in self._threads:
            t.start()

    def corrupt_answers(self, n: int = 1) -> None:
        """Flip a bit in each of the next ``n`` chunks the peer sends."""
        with self._lock:
            self._corrupt_pending += n

    def cut(self, cut: bool = True) -> None:
        """Drop all traffic in both directions while ``cut``."""
        self.cut_off = cut

    def flush_peer_input(self) -> None:
        """Drop requests queued for a peer that was not listening (so a restarted server does
        not answer stale requests)."""
        with contextlib.suppress(OSError):
            termios.tcflush(self._peer_slave, termios.TCIFLUSH)

    def _pump(self, src: int, dst: int, to_client: bool) -> None:
        busy_until = 0.0
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([src], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(src, 4096)
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.01)  # nobody holds the other end open yet
                continue
            if not data or self.cut_off:
                continue
            if self._strict_speed is not None and not to_client and not self._client_speed_matches():
                continue
            if to_client:
                with self._lock:
                    flip = self._corrupt_pending > 0
                    if flip:
                        self._corrupt_pending -= 1
                        self.corrupted += 1
                if flip:
                    i = len(data) // 2
                    data = data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1 :]
            try:
                if self.echo and not to_client:
                    # A 2-wire adapter hears its own request on the line.
                    os.write(src, data)
                if self.emulate_wire:
                    busy_until = self._paced_write(dst, data, busy_until)
                else:
                    os.write(dst, data)
            except OSError:
                continue
            if to_client:
                self.bytes_to_client += len(data)
            else:
                self.bytes_to_peer += len(data)

    def _client_speed_matches(self) -> bool:
        try:
            return bool(termios.tcgetattr(self._client_slave)[5] == self._strict_speed)
        except (OSError, termios.error):
            return False

    def _paced_write(self, dst: int, data: bytes, busy_until: float) -> float:
        """Deliver ``data`` as a UART would: character by character (in pieces of about 2 ms),
        each piece once its last bit is on the wire. Returns when the line is free again."""
        piece = max(1, int(0.002 / self.char_time_s))
        # The first bit leaves when the data was handed over, or when the previous chunk is done.
        t = max(time.monotonic(), busy_until)
        for i in range(0, len(data), piece):
            part = data[i : i + piece]
            t += len(part) * self.char_time_s
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            os.write(dst, part)
        return t

    def close(self) -> None:
        """Stop forwarding and close every descriptor."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=1.0)
        for fd in (self._client_master, self._client_slave, self._peer_master, self._peer_slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
