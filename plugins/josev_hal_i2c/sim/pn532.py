"""PN532 (NFC reader) at the I2C transfer level: enough of the frame protocol for identification
and a UID read. Frames are built and checked with the driver's codec,
:mod:`josev_hal_i2c.pn532_frame`."""

from __future__ import annotations

from collections import deque

from josev_hal.buses.i2c_sim import SimChip

from ..pn532_frame import ACK, ERROR_FRAME, HOST_TFI, parse_frame, response_frame

__all__ = ["SimPn532"]


class SimPn532(SimChip):
    """PN532 on I2C: every read transfer starts with a status byte (0x01 = ready).

    After a valid command frame the chip is ready with an ACK frame, then (after
    ``response_delay_polls`` not-ready reads) with the response frame. A frame with a bad
    length or data checksum is ignored, as the chip does. Understood commands:
    GetFirmwareVersion (0x02), SAMConfiguration (0x14), RFConfiguration (0x32) and
    InListPassiveTarget (0x4A, 106 kbit/s type A); anything else gets the syntax-error frame.
    Present a card with :meth:`present` (UID bytes) and take it away with ``present(None)``.
    """

    name = "pn532"
    FIRMWARE = bytes([0x32, 0x01, 0x06, 0x07])  # IC = PN532, version 1.6, supports 0x07

    def __init__(self, *, response_delay_polls: int = 1) -> None:
        super().__init__()
        self.response_delay_polls = response_delay_polls
        self.card: bytes | None = None
        self.commands: list[int] = []
        self._queue: deque[bytes] = deque()
        self._delay_left = 0

    def present(self, uid: bytes | None) -> None:
        self.card = uid

    def write(self, data: bytes) -> None:
        frame = parse_frame(data)
        if frame is None:
            return
        self._queue.clear()
        if frame.tfi != HOST_TFI:
            return
        self.commands.append(frame.command)
        self._queue.append(ACK)
        self._queue.append(self._respond(frame.command, frame.data))
        self._delay_left = 0

    def _respond(self, cmd: int, params: bytes) -> bytes:
        if cmd == 0x02:
            return response_frame(cmd, self.FIRMWARE)
        if cmd in (0x14, 0x32):
            return response_frame(cmd)
        if cmd == 0x4A and len(params) >= 2 and params[1] == 0x00:
            if self.card is None:
                return response_frame(cmd, bytes([0x00]))
            sens_res = bytes([0x00, 0x44 if len(self.card) == 7 else 0x04])
            return response_frame(cmd, bytes([0x01, 0x01, *sens_res, 0x08, len(self.card), *self.card]))
        # Syntax error frame (application level error) for anything we do not model.
        return ERROR_FRAME

    def read(self, length: int) -> bytes:
        if not self._queue or self._delay_left > 0:
            if self._delay_left > 0:
                self._delay_left -= 1
            return bytes(length)
        if length <= 1:
            return b"\x01"[:length]
        frame = self._queue.popleft()
        if frame == ACK:
            self._delay_left = self.response_delay_polls
        out = (b"\x01" + frame)[:length]
        return out + bytes(length - len(out))
