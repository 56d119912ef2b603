"""``pn532-reader``: a PN532 NFC reader on I2C reading ISO 14443A UIDs (hardware-facts §8).

Frame: ``00 00 FF LEN LCS D4 CMD data DCS 00`` (the codec, shared with the simulated chip, is
:mod:`josev_hal_i2c.pn532_frame`); the PN532 answers with an ACK frame, then with
``D5 CMD+1 ...``. On I2C every read transfer starts with a status byte (0x01 = ready), so the
driver polls that byte before reading the ACK and again before reading the response.

Setup sends GetFirmwareVersion (identifies the chip, shown by :meth:`describe`),
SAMConfiguration (normal mode) and RFConfiguration MaxRetries so that InListPassiveTarget
returns "no target" after ``passive_retries`` attempts instead of waiting for a card forever.
:meth:`poll` then lists one 106 kbit/s type A target and returns a token only when a card
*appears* (a card left on the reader is not presented again until it was taken away).
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

import msgspec

from josev_hal.buses.i2c import I2cDevice
from josev_hal.devices import DeviceConfig, IdToken, IdTokenReader, now_reading_times
from josev_hal.errors import DeviceError, DeviceTimeout

from ._common import chip_handle
from .pn532_frame import ACK, CHIP_TFI, command_frame, parse_frame

__all__ = ["Pn532Options", "Pn532Reader", "pn532_command"]

log = logging.getLogger(__name__)

CMD_GET_FIRMWARE_VERSION = 0x02
CMD_SAM_CONFIGURATION = 0x14
CMD_RF_CONFIGURATION = 0x32
CMD_IN_LIST_PASSIVE_TARGET = 0x4A
READ_LENGTH = 40  # status + the longest response we ask for (10-byte UID + ATS would need more)


def _wait_ready(dev: I2cDevice, deadline: float, poll_s: float) -> None:
    while True:
        if dev.read_raw(1)[:1] == b"\x01":
            return
        if time.monotonic() > deadline:
            raise DeviceTimeout("PN532 not ready", device=dev.device_id, plugin=dev.plugin)
        time.sleep(poll_s)


def pn532_command(
    dev: I2cDevice, command: int, params: bytes = b"", *, timeout_s: float = 0.5, poll_s: float = 0.002
) -> bytes:
    """Send one command and return the response payload (after ``D5 CMD+1``).

    Raises :class:`DeviceTimeout` when the chip never gets ready and :class:`DeviceError` for a
    missing ACK or a malformed/unexpected response.
    """
    with dev.lock:
        dev.write_raw(command_frame(command, params))
        deadline = time.monotonic() + timeout_s
        _wait_ready(dev, deadline, poll_s)
        ack = dev.read_raw(1 + len(ACK))[1:]
        if ack != ACK:
            raise DeviceError(
                f"PN532 did not ACK command 0x{command:02x}", device=dev.device_id, plugin=dev.plugin
            )
        _wait_ready(dev, deadline, poll_s)
        frame = parse_frame(dev.read_raw(READ_LENGTH)[1:])
    if frame is None or frame.tfi != CHIP_TFI or frame.command != command + 1:
        raise DeviceError(
            f"PN532 gave no valid response to command 0x{command:02x}",
            device=dev.device_id,
            plugin=dev.plugin,
        )
    return frame.data


class Pn532Options(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``driver = "pn532-reader"`` (address 0x24)."""

    #: Time allowed for one command (ACK + response).
    response_timeout_ms: float = 200.0
    #: InListPassiveTarget activation attempts before "no card" (0xFF would wait forever).
    passive_retries: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.response_timeout_ms <= 5000:
            raise ValueError("response_timeout_ms: must be in (0, 5000]")
        if not 0 <= self.passive_retries <= 0xFE:
            raise ValueError("passive_retries: must be 0..254")


class Pn532Reader(IdTokenReader):
    """ISO 14443A UID reader on a PN532 over I2C."""

    Options: ClassVar[type[msgspec.Struct]] = Pn532Options
    bus_kind: ClassVar[str | None] = "i2c"
    requires_address: ClassVar[bool] = True

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, Pn532Options)
        self.opts: Pn532Options = self.options
        self._dev: I2cDevice | None = None
        self._firmware: tuple[int, int, int, int] | None = None
        self._present_uid: str | None = None

    def _cmd(self, command: int, params: bytes = b"") -> bytes:
        if self._dev is None:
            raise self.error("not set up")
        return pn532_command(self._dev, command, params, timeout_s=self.opts.response_timeout_ms / 1000.0)

    def setup(self) -> None:
        self._dev = chip_handle(self)
        firmware = self._cmd(CMD_GET_FIRMWARE_VERSION)
        if len(firmware) < 4 or firmware[0] != 0x32:
            raise self.error(f"not a PN532 (firmware response {firmware.hex()})")
        self._firmware = (firmware[0], firmware[1], firmware[2], firmware[3])
        self._cmd(CMD_SAM_CONFIGURATION, bytes([0x01, 0x00, 0x00]))  # normal mode, no IRQ
        # Item 0x05 MaxRetries: ATR_RES, PSL_RES, passive activation.
        self._cmd(CMD_RF_CONFIGURATION, bytes([0x05, 0xFF, 0x01, self.opts.passive_retries]))
        log.info("pn532 ready device=%s firmware=%d.%d", self.device_id, firmware[1], firmware[2])

    def release(self) -> None:
        self._dev = None

    def read_uid(self) -> str | None:
        """UID of the card in the field now (lowercase hex), ``None`` when there is none."""
        payload = self._cmd(CMD_IN_LIST_PASSIVE_TARGET, bytes([0x01, 0x00]))
        if not payload or payload[0] == 0:
            return None
        # NbTg, Tg, SENS_RES(2), SEL_RES(1), NFCIDLength, NFCID...
        if len(payload) < 6 or len(payload) < 6 + payload[5]:
            raise self.error(f"truncated InListPassiveTarget response {payload.hex()}")
        return payload[6 : 6 + payload[5]].hex()

    def poll(self) -> IdToken | None:
        taken_at, utc = now_reading_times()
        uid = self.read_uid()
        previous, self._present_uid = self._present_uid, uid
        if uid is None or uid == previous:
            return None
        return IdToken(taken_at=taken_at, utc=utc, uid=uid, type="ISO14443")

    def describe(self) -> dict[str, Any]:
        if self._firmware is None:
            return {"chip": "pn532"}
        ic, ver, rev, support = self._firmware
        return {"chip": f"pn5{ic:02x}", "firmware": f"{ver}.{rev}", "support": support}
