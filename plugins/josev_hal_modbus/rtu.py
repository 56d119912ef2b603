"""Modbus RTU transactions on a shared :class:`~josev_hal.buses.serial.SerialBus`.

pymodbus supplies the protocol: request/response PDUs (encoding, decoding, expected frame sizes)
and the RTU framer (address + PDU + CRC-16). This module only moves those frames over the bus's
pyserial port, because the HAL needs three things pymodbus's serial client hides:

* **one port per line**: the bus owns the port and its lock, and every meter on the line shares
  them (the client would open the port itself, once per client);
* **typed failures**: a corrupted frame is a :class:`~josev_hal.errors.CrcError`, silence a
  :class:`~josev_hal.errors.DeviceTimeout`, an exception response a
  :class:`ModbusExceptionError` (pymodbus reports the first two alike, as a missing response);
* **line timing**: the bus's 3.5-character gap plus ``inter_frame_delay_ms`` before every request.

One :class:`RtuMaster` exists per bus (:meth:`RtuMaster.for_bus`). It does no retries: the
driver decides (it knows which failures are worth retrying and counts them per device).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import ClassVar

import serial
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

from josev_hal.buses.serial import SerialBus
from josev_hal.errors import BusError, CrcError, DeviceError, DeviceTimeout

__all__ = ["EXCEPTION_NAMES", "ModbusExceptionError", "RtuMaster", "exact_registers"]

#: Modbus exception codes (Modbus Application Protocol v1.1b3, section 7).
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class ModbusExceptionError(DeviceError):
    """The device answered with a Modbus exception response (it is there, but refused)."""

    def __init__(
        self,
        message: str,
        *,
        exception_code: int,
        function: int,
        device: str | None = None,
        plugin: str | None = None,
    ) -> None:
        self.exception_code = exception_code
        self.function = function
        super().__init__(message, device=device, plugin=plugin)

    @property
    def transient(self) -> bool:
        """Acknowledge / busy: the device asks to be asked again later."""
        return self.exception_code in (5, 6)


def exact_registers(registers: list[int], unit: int, function: int, address: int, count: int) -> list[int]:
    """``registers`` if there are exactly ``count``; a short or long answer is a corrupted one
    (CrcError), never decoded as if it fitted. Shared by the RTU and the TCP master, which must
    judge an answer alike."""
    if len(registers) != count:
        raise CrcError(f"unit {unit} FC{function} 0x{address:04X}: got {len(registers)} of {count} registers")
    return registers


class RtuMaster:
    """The Modbus RTU master of one serial line."""

    _instances: ClassVar[weakref.WeakKeyDictionary[SerialBus, RtuMaster]] = weakref.WeakKeyDictionary()
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, bus: SerialBus) -> None:
        self.bus = bus
        self._framer = FramerRTU(DecodePDU(False))
        self._decoder = DecodePDU(False)
        # Line-level counters (per-device counters live in the driver).
        self.frames_sent = 0
        self.crc_errors = 0
        self.timeouts = 0

    @classmethod
    def for_bus(cls, bus: SerialBus) -> RtuMaster:
        """The shared master of ``bus`` (created on first use)."""
        with cls._instances_lock:
            master = cls._instances.get(bus)
            if master is None:
                master = cls._instances[bus] = cls(bus)
            return master

    # -- public operations -------------------------------------------------------------------
    def read_registers(
        self, unit: int, function: int, address: int, count: int, *, timeout_s: float | None = None
    ) -> list[int]:
        """Read ``count`` holding (FC3) or input (FC4) registers from ``address``."""
        req_cls = ReadHoldingRegistersRequest if function == 3 else ReadInputRegistersRequest
        pdu = self.transact(req_cls(address=address, count=count, dev_id=unit), timeout_s=timeout_s)
        return exact_registers(list(pdu.registers), unit, function, address, count)

    def write_registers(
        self, unit: int, address: int, values: list[int], *, timeout_s: float | None = None
    ) -> None:
        """Write holding registers (FC16; FC6 for a single register)."""
        if len(values) == 1:
            self.transact(
                WriteSingleRegisterRequest(address=address, registers=[values[0]], dev_id=unit),
                timeout_s=timeout_s,
            )
        else:
            self.transact(
                WriteMultipleRegistersRequest(address=address, registers=list(values), dev_id=unit),
                timeout_s=timeout_s,
            )

    def transact(self, request: ModbusPDU, *, timeout_s: float | None = None) -> ModbusPDU:
        """Send ``request`` and return the decoded response, holding the bus for the whole
        exchange. Raises DeviceTimeout, CrcError, ModbusExceptionError or BusError."""
        bus = self.bus
        timeout = bus.opts.timeout_s if timeout_s is None else timeout_s
        frame = self._framer.buildFrame(request)
        unit, fc = request.dev_id, request.function_code
        where = f"unit {unit} FC{fc}"
        with bus.lock:
            port = bus.port
            bus.wait_turnaround()
            try:
                # Bytes left over from an earlier, abandoned answer would be taken as the start
                # of this one.
                if port.in_waiting:
                    port.reset_input_buffer()
                port.write(frame)
                port.flush()
            except (serial.SerialException, OSError) as exc:
                bus.frame_done()
                bus.release()  # reopened by the next transaction (USB adapter replugged)
                raise BusError(f"{where}: write to {bus.describe()} failed: {exc}") from exc
            self.frames_sent += 1
            try:
                if bus.opts.local_echo:
                    self._skip_echo(port, frame, timeout, where)
                raw = self._receive(port, request, timeout, where)
            finally:
                bus.frame_done()
                # The bus hands the port out non-blocking; other users of it rely on that.
                with contextlib.suppress(serial.SerialException, OSError, ValueError):
                    port.timeout = 0
        try:
            response = self._decoder.decode(raw[1:-2])
        except Exception as exc:  # a well-framed but malformed PDU must not escape as anything else
            raise BusError(f"{where}: undecodable response {raw.hex()}: {exc}") from exc
        if response is None:
            raise BusError(f"{where}: undecodable response {raw.hex()}")
        if isinstance(response, ExceptionResponse):
            code = response.exception_code
            name = EXCEPTION_NAMES.get(code, "unknown")
            raise ModbusExceptionError(
                f"{where}: exception {code} ({name})", exception_code=code, function=fc
            )
        if response.function_code != fc:
            raise BusError(f"{where}: response has function code {response.function_code}")
        return response

    # -- receiving ---------------------------------------------------------------------------
    def _expected_size(self, buf: bytearray) -> int | None:
        """Total frame size once enough header bytes are in, ``None`` while unknown,
        ``-1`` for a function code no response can have (garbage)."""
        if len(buf) < 2:
            return None
        pdu_class = self._decoder.lookupPduClass(bytes(buf))
        if pdu_class is None:
            return -1
        size = pdu_class.calculateRtuFrameSize(bytes(buf))
        return size or None

    def _receive(self, port: serial.Serial, request: ModbusPDU, timeout: float, where: str) -> bytes:
        bus = self.bus
        # The answer may take `timeout` to start, plus its own wire time (at most 256 bytes).
        deadline = time.monotonic() + timeout
        first_byte_at: float | None = None
        buf = bytearray()
        needed = 5  # the shortest answer (an exception response)
        while True:
            size = self._expected_size(buf)
            if size == -1:
                self._drain(port)
                self.crc_errors += 1
                raise CrcError(f"{where}: garbled response {bytes(buf).hex()}")
            if size is not None:
                needed = size
            if first_byte_at is not None:
                # Once the answer started, it gets its own wire time plus the same slack.
                deadline = max(deadline, first_byte_at + (needed + 1) * bus.char_time_s + timeout)
            if len(buf) >= needed:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if not buf:
                    self.timeouts += 1
                    raise DeviceTimeout(f"{where}: no answer within {timeout:.3f} s")
                self._drain(port)
                self.crc_errors += 1
                raise CrcError(f"{where}: incomplete frame ({len(buf)} of {needed} bytes) {bytes(buf).hex()}")
            port.timeout = remaining
            try:
                chunk = port.read(needed - len(buf))
            except (serial.SerialException, OSError) as exc:
                bus.release()
                raise BusError(f"{where}: read from {bus.describe()} failed: {exc}") from exc
            if chunk and first_byte_at is None:
                first_byte_at = time.monotonic()
            buf += chunk
        frame = bytes(buf[:needed])
        crc = int.from_bytes(frame[-2:], "big")
        if not FramerRTU.check_CRC(frame[:-2], crc):
            self._drain(port)
            self.crc_errors += 1
            raise CrcError(f"{where}: CRC mismatch in {frame.hex()}")
        if frame[0] != request.dev_id:
            # A valid frame from someone else: two devices share an id, or a late answer.
            self._drain(port)
            raise BusError(f"{where}: answer came from unit {frame[0]}")
        return frame

    def _skip_echo(self, port: serial.Serial, frame: bytes, timeout: float, where: str) -> None:
        """Consume our own request as the adapter echoes it; anything else means the line is
        garbled (a collision, or the adapter does not echo after all)."""
        deadline = time.monotonic() + timeout + len(frame) * self.bus.char_time_s
        echo = bytearray()
        try:
            while len(echo) < len(frame):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                port.timeout = remaining
                echo += port.read(len(frame) - len(echo))
        except (serial.SerialException, OSError) as exc:
            self.bus.release()
            raise BusError(f"{where}: read from {self.bus.describe()} failed: {exc}") from exc
        if bytes(echo) != frame:
            self._drain(port)
            raise BusError(
                f"{where}: local echo expected {frame.hex()}, got {bytes(echo).hex() or 'nothing'} "
                "(is local_echo right for this adapter?)"
            )

    def _drain(self, port: serial.Serial) -> None:
        """Read and drop bytes until the line has been silent for a frame gap, so the rest of a
        corrupted answer is not taken for the start of the next one."""
        quiet = max(self.bus.frame_gap_s, 4 * self.bus.char_time_s, 0.002)
        limit = time.monotonic() + 1.0
        try:
            while time.monotonic() < limit:
                port.timeout = quiet
                if not port.read(256):
                    return
        except (serial.SerialException, OSError):
            return
