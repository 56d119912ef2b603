"""A simulated safety MCU speaking the josev-hal MCU link (``docs/mcu-link.md``) on a pty.

It plays the firmware side of the protocol from the spec. Framing, CRC and the STATUS layout
come from :mod:`.protocol`, the codec the driver uses too (one codec; its tests pin it to the
spec's check values and byte layout), so tests over a pseudo-terminal exercise the link's
behaviour: keep-alive, failsafe, interlocks, acknowledgements.

Modelled behaviour (what real firmware must do too):

* sends ``HELLO`` at start and ``STATUS`` every ``status_interval_s`` and on every change;
* boots safe: relays open, CP state F, ``FAILSAFE`` set until the first ``KEEPALIVE``;
* fails safe again when no valid frame arrives within the timeout the HAL announced
  (relays open, CP F, ``FAILSAFE``); the HAL must command CP and relays again afterwards;
* its own interlock: closes the relays only with CP in C or D, PWM on, no RCD trip, not in
  failsafe, and opens them by itself when any of that stops being true;
* CP plateaus from the simulated EV state (A-E) and the generator mode, a mirror contact that
  follows the relay after ``feedback_delay_s`` (or sticks, to simulate welding), RCD trip and
  self-test.

Test controls: :attr:`ev_state`, :meth:`trip_rcd`, :attr:`rcd_test_passes`, :attr:`weld`,
:meth:`mute` (the MCU stops talking), :meth:`reboot`.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import tty
from collections import deque
from types import TracebackType

from .protocol import (
    NOT_MEASURED_MV,
    VERSION,
    AckResult,
    CpModeCode,
    FrameError,
    MsgType,
    Packet,
    RcdTestResult,
    Status,
    StatusFlags,
    decode_frame,
    encode_frame,
)

__all__ = ["McuSim"]

log = logging.getLogger(__name__)

_EV_LEVEL_V = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0}


class McuSim:
    """The simulated MCU on the master side of a pseudo-terminal; the HAL opens :attr:`port`."""

    def __init__(
        self,
        *,
        status_interval_s: float = 0.1,
        feedback_delay_s: float = 0.02,
        rcd_test_duration_s: float = 0.05,
        firmware: str = "sim-mcu 1.0",
        device: str | None = None,
    ) -> None:
        """``device``: speak on this existing tty (e.g. the far end of a wire-speed pty line)
        instead of creating a pseudo-terminal pair; :attr:`port` is then ``None``."""
        self.status_interval_s = status_interval_s
        self.feedback_delay_s = feedback_delay_s
        self.rcd_test_duration_s = rcd_test_duration_s
        self.firmware = firmware
        self.lock = threading.RLock()
        # EV side and faults (test controls)
        self.ev_state = "A"
        self.ev_diode_ok = True
        self.rcd_test_passes = True
        self.weld = False  # the mirror contact stays closed once closed
        self.stick_open = False  # the relay never closes (coil fault)
        self.residual_ma: float | None = 0.0
        # MCU state
        self.cp_mode = CpModeCode.STATE_F
        self.cp_duty_centi = 0
        self.relay_commanded = False
        self.feedback_closed = False
        self.rcd_tripped = False
        self.failsafe = True
        self.failsafe_entries = 0
        self.timeout_ms: int | None = None
        self.last_valid_rx: float | None = None
        self.rcd_test_until: float | None = None
        self.rcd_test_result = RcdTestResult.NONE
        self.rcd_test_count = 0
        self.refused_closes = 0
        self.received: deque[tuple[int, int, bytes]] = deque(maxlen=2000)  # (type, seq, payload)
        self.bad_frames = 0
        self._muted = False
        self._relay_changed_at = 0.0
        self._status_due: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Path the HAL opens as its serial port (``None`` with an external ``device``).
        self.port: str | None
        if device is None:
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave)
            self.port = os.ttyname(self._slave)
        else:
            self._master = os.open(device, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self._master)
            self._slave = -1
            self.port = None
        # Never block on a full pty buffer while no HAL reads the other end.
        os.set_blocking(self._master, False)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> McuSim:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mcu-sim", daemon=True)
        self._thread.start()
        self._hello()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        for fd in (self._master, self._slave):
            if fd < 0:
                continue
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> McuSim:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------
    def set_ev_state(self, state: str) -> None:
        if state not in _EV_LEVEL_V:
            raise ValueError(f"EV state must be one of {sorted(_EV_LEVEL_V)}, got {state!r}")
        with self.lock:
            self.ev_state = state
            self._interlock()
        self._send_status()

    def trip_rcd(self) -> None:
        with self.lock:
            self.rcd_tripped = True
            self._interlock()
        self._send_status()

    def set_weld(self, welded: bool) -> None:
        """Weld the main contacts: the mirror contact closes and stays closed (or heal them)."""
        with self.lock:
            self.weld = welded
            if welded:
                self.feedback_closed = True
        self._send_status()

    def set_stick_open(self, stuck: bool) -> None:
        """Coil fault: the relay never closes (or works again)."""
        with self.lock:
            self.stick_open = stuck
        self._send_status()

    def release_rcd(self) -> None:
        """The residual current is gone and the module released (as after a manual reset)."""
        with self.lock:
            self.rcd_tripped = False
        self._send_status()

    def mute(self, muted: bool = True) -> None:
        """Stop (or resume) sending anything: a hung MCU or a broken TX line."""
        self._muted = muted

    def reboot(self) -> None:
        """Reset to the boot state and announce it with HELLO."""
        with self.lock:
            self.cp_mode, self.cp_duty_centi = CpModeCode.STATE_F, 0
            self.relay_commanded = self.feedback_closed = self.rcd_tripped = False
            self.failsafe, self.timeout_ms, self.last_valid_rx = True, None, None
        self._hello()

    @property
    def contactor_closed(self) -> bool:
        return self.feedback_closed

    def commands(self, msg_type: int) -> list[bytes]:
        """Payloads of the frames of one type received from the HAL (in order)."""
        with self.lock:
            return [p for t, _s, p in self.received if t == msg_type]

    # -- protocol ----------------------------------------------------------------------------
    def _send(self, msg_type: int, seq: int, payload: bytes) -> None:
        if self._muted:
            return
        try:
            os.write(self._master, encode_frame(Packet(msg_type, seq, payload)))
        except OSError:
            pass

    def _hello(self) -> None:
        """HELLO: protocol version, then the firmware version in ASCII."""
        self._send(MsgType.HELLO, 0, bytes([VERSION]) + self.firmware.encode("ascii"))

    def _cp_levels(self) -> tuple[int, int]:
        """(positive, negative) plateau in mV at the CP pin for the current mode and EV."""
        if self.cp_mode == CpModeCode.STATE_F:
            return -12000, -12000
        if self.cp_mode == CpModeCode.STATE_E:
            return 0, 0
        positive = round(_EV_LEVEL_V[self.ev_state] * 1000)
        if self.cp_mode == CpModeCode.X1:
            return positive, NOT_MEASURED_MV
        negative = -12000 if self.ev_diode_ok or self.ev_state in ("A", "E") else -positive
        return positive, negative

    def _status_payload(self) -> bytes:
        flags = StatusFlags(0)
        if self.relay_commanded:
            flags |= StatusFlags.CONTACTOR_COMMANDED
        if self.feedback_closed:
            flags |= StatusFlags.CONTACTOR_FEEDBACK_CLOSED
            if not self.relay_commanded:
                flags |= StatusFlags.WELDED
        if self.rcd_tripped:
            flags |= StatusFlags.RCD_TRIPPED
        if self.failsafe:
            flags |= StatusFlags.FAILSAFE
        if self.rcd_test_until is not None:
            flags |= StatusFlags.RCD_TEST_RUNNING
        pos, neg = self._cp_levels()
        return Status(
            flags=flags,
            cp_mode=self.cp_mode,
            cp_duty_centi=self.cp_duty_centi if self.cp_mode == CpModeCode.PWM else 0,
            cp_positive_mv=pos,
            cp_negative_mv=neg,
            residual_deci_ma=None if self.residual_ma is None else round(self.residual_ma * 10),
            rcd_test_result=self.rcd_test_result,
            rcd_test_count=self.rcd_test_count,
        ).pack()

    def _send_status(self) -> None:
        with self.lock:
            payload = self._status_payload()
        self._send(MsgType.STATUS, 0, payload)

    def _close_allowed(self) -> bool:
        """CP C or D with PWM on, no RCD trip, HAL present."""
        ev_requests = self.ev_state in ("C", "D") and self.cp_mode == CpModeCode.PWM
        return ev_requests and not self.rcd_tripped and not self.failsafe

    def _interlock(self) -> None:
        """The MCU's own rules, evaluated on every change (called with the lock held)."""
        if self.relay_commanded and not self._close_allowed():
            self.relay_commanded = False
            self._relay_changed_at = time.monotonic()

    def _enter_failsafe(self) -> None:
        with self.lock:
            self.failsafe = True
            self.failsafe_entries += 1
            self.cp_mode, self.cp_duty_centi = CpModeCode.STATE_F, 0
            self._interlock()
        log.info("mcu sim: HAL keep-alive lost, failsafe")
        self._send_status()

    def _handle(self, msg_type: int, seq: int, payload: bytes) -> None:
        ack: AckResult | None = AckResult.OK
        with self.lock:
            self.received.append((msg_type, seq, payload))
            self.last_valid_rx = time.monotonic()
            if msg_type == MsgType.KEEPALIVE:
                ack = None
                if len(payload) == 2:
                    self.timeout_ms = int.from_bytes(payload, "big")
                    self.failsafe = False
            elif msg_type == MsgType.GET_STATUS:
                ack = None
            elif msg_type == MsgType.SET_CP:
                if len(payload) != 3 or payload[0] not in tuple(CpModeCode):
                    ack = AckResult.BAD_PAYLOAD
                else:
                    mode, duty = CpModeCode(payload[0]), int.from_bytes(payload[1:3], "big")
                    if mode == CpModeCode.PWM and not 0 < duty < 10000:
                        ack = AckResult.BAD_PAYLOAD
                    elif self.failsafe and mode != CpModeCode.STATE_F:
                        ack = AckResult.REFUSED
                    else:
                        self.cp_mode, self.cp_duty_centi = mode, duty if mode == CpModeCode.PWM else 0
                        self._interlock()
            elif msg_type == MsgType.SET_CONTACTOR:
                if len(payload) != 1 or payload[0] > 1:
                    ack = AckResult.BAD_PAYLOAD
                elif payload[0] == 0:
                    if self.relay_commanded:
                        self.relay_commanded = False
                        self._relay_changed_at = time.monotonic()
                else:
                    if not self._close_allowed():
                        ack = AckResult.REFUSED
                        self.refused_closes += 1
                    elif not self.relay_commanded:
                        self.relay_commanded = True
                        self._relay_changed_at = time.monotonic()
            elif msg_type == MsgType.RCD_TEST:
                if self.relay_commanded:
                    ack = AckResult.REFUSED  # only with the contactor open
                else:
                    self.rcd_test_until = time.monotonic() + self.rcd_test_duration_s
            elif msg_type == MsgType.RCD_RESET:
                self.rcd_tripped = False
            else:
                ack = AckResult.UNKNOWN_TYPE
        if ack is not None:
            self._send(MsgType.ACK, 0, bytes([seq, ack]))
            # The STATUS reporting the change follows in the next main-loop pass (~1 ms), as in
            # firmware; written together, a wire-speed line would hold the ACK back until the
            # STATUS behind it had been transmitted too.
            self._status_due = time.monotonic() + 0.001
        else:
            self._send_status()

    def _on_frame(self, frame: bytes) -> None:
        try:
            packet = decode_frame(frame)
        except FrameError:
            self.bad_frames += 1
            return
        self._handle(packet.type, packet.seq, packet.payload)

    def _tick(self) -> None:
        now = time.monotonic()
        changed = False
        with self.lock:
            hal_lost = (
                not self.failsafe
                and self.timeout_ms is not None
                and self.last_valid_rx is not None
                and now - self.last_valid_rx > self.timeout_ms / 1000.0
            )
            want = (self.relay_commanded and not self.stick_open) or (self.weld and self.feedback_closed)
            if want != self.feedback_closed and now - self._relay_changed_at >= self.feedback_delay_s:
                self.feedback_closed = want
                changed = True
            if self.rcd_test_until is not None and now >= self.rcd_test_until:
                self.rcd_test_until = None
                self.rcd_test_result = RcdTestResult.PASSED if self.rcd_test_passes else RcdTestResult.FAILED
                self.rcd_test_count = (self.rcd_test_count + 1) & 0xFF
                changed = True
        if hal_lost:
            self._enter_failsafe()
        elif changed:
            self._send_status()

    def _run(self) -> None:
        buffer = bytearray()
        next_status = time.monotonic()
        while not self._stop.is_set():
            due = self._status_due
            if due is not None and time.monotonic() >= due:
                self._status_due = None
                self._send_status()
            wait = 0.005 if due is None else min(0.005, max(0.0, due - time.monotonic()))
            try:
                ready, _, _ = select.select([self._master], [], [], wait)
                if ready:
                    buffer += os.read(self._master, 4096)
            except OSError:
                # No HAL has the pty open (EIO): keep ticking, the failsafe timer still runs.
                self._stop.wait(0.01)
            while (end := buffer.find(0)) >= 0:
                frame = bytes(buffer[:end])
                del buffer[: end + 1]
                if frame:
                    self._on_frame(frame)
            self._tick()
            if time.monotonic() >= next_status:
                next_status += self.status_interval_s
                self._send_status()
