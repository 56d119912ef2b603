"""Drivers for boards whose CP, relays and RCD sit behind a safety MCU on the MCU link.

The three drivers share one :class:`~josev_hal_mculink.link.McuLink` per serial bus. Readings are
the MCU's latest ``STATUS`` with its *receive* time; when the MCU is silent past
``link_timeout_s`` every read raises :class:`~josev_hal.errors.DeviceOffline` (board-link loss),
and the MCU, no longer hearing our keep-alive, has already opened the relays on its own.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import msgspec

from josev_hal.devices import (
    Contactor,
    ContactorSample,
    ControlPilot,
    CpMode,
    CpOutput,
    CpSample,
    DeviceConfig,
    Driver,
    Rcd,
    RcdSample,
)
from josev_hal.errors import DeviceError, DeviceTimeout

from . import protocol as proto
from .link import LinkOptions, McuLink, StatusSnapshot

__all__ = ["McuContactor", "McuContactorOptions", "McuCp", "McuRcd"]

_MODE_FROM_CODE = {
    proto.CpModeCode.X1: CpMode.X1,
    proto.CpModeCode.PWM: CpMode.PWM,
    proto.CpModeCode.STATE_E: CpMode.STATE_E,
    proto.CpModeCode.STATE_F: CpMode.STATE_F,
}


class _McuDriver(Driver):
    """Link acquisition and release shared by the three drivers (no role of its own)."""

    _link: McuLink | None = None
    #: When our last command was acknowledged. A STATUS received before that may predate the
    #: command (the ACK and the STATUS that follows it race to the reader), so it does not
    #: override what we commanded; a later STATUS does (the MCU may have acted on its own).
    _acked_at: float = 0.0

    def _link_setup(self) -> None:
        if self._link is None:
            self._link = McuLink.acquire(self.config.bus, self._link_options(), self.device_id)
            self._link.subscribe(self.notify)

    def _link_options(self) -> LinkOptions:
        o = self.options
        return LinkOptions(
            keepalive_interval_s=o.keepalive_interval_s,
            mcu_failsafe_timeout_ms=o.mcu_failsafe_timeout_ms,
            link_timeout_s=o.link_timeout_s,
            ack_timeout_s=o.ack_timeout_s,
            retries=o.retries,
            app_watchdog_s=o.app_watchdog_s,
        )

    def _link_release(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.release_ref()

    @property
    def link(self) -> McuLink:
        if self._link is None:
            raise self.error("used before setup()")
        return self._link

    def _snapshot(self) -> StatusSnapshot:
        link = self.link
        link.touch()
        return link.snapshot(self.device_id)

    def _command(self, msg_type: proto.MsgType, payload: bytes = b"") -> proto.AckResult:
        self.link.touch()
        try:
            result = self.link.command(msg_type, payload, self.device_id)
        except DeviceTimeout:
            raise
        except DeviceError as exc:
            raise self.error(exc.detail, type(exc)) from exc
        self._acked_at = time.monotonic()
        return result

    def _after_last_command(self, snap: StatusSnapshot) -> bool:
        return snap.received_at > self._acked_at


class McuCp(_McuDriver, ControlPilot):
    """``mcu-cp``: the MCU generates the CP PWM and measures both plateaus (timer-synchronised,
    which an MCU can do and an I2C ADC cannot)."""

    Options: ClassVar[type[msgspec.Struct]] = LinkOptions
    bus_kind: ClassVar[str | None] = "serial"

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        self._commanded = CpOutput(CpMode.STATE_F)

    def setup(self) -> None:
        self._link_setup()

    def release(self) -> None:
        self._link_release()

    def read(self) -> CpSample:
        snap = self._snapshot()
        s = snap.status
        if s.cp_positive_mv == proto.NOT_MEASURED_MV:
            raise self.error("MCU reports no CP measurement", DeviceTimeout)
        return CpSample(
            taken_at=snap.received_at,
            utc=snap.received_utc,
            positive_v=s.cp_positive_mv / 1000.0,
            negative_v=None if s.cp_negative_mv == proto.NOT_MEASURED_MV else s.cp_negative_mv / 1000.0,
            duty_percent=s.cp_duty_centi / 100.0 if s.cp_mode == proto.CpModeCode.PWM else None,
        )

    def _set(self, code: proto.CpModeCode, output: CpOutput, duty_centi: int = 0) -> None:
        result = self._command(proto.MsgType.SET_CP, bytes([int(code)]) + duty_centi.to_bytes(2, "big"))
        if result != proto.AckResult.OK:
            raise self.error(f"MCU refused CP {output.mode.value}: {result.name}")
        self._commanded = output

    def set_pwm(self, duty_percent: float) -> None:
        if not (isinstance(duty_percent, int | float) and math.isfinite(duty_percent)):
            raise self.error(f"duty must be a finite number, got {duty_percent!r}")
        if not 0 < duty_percent <= 100:
            raise self.error(f"duty {duty_percent} % outside (0, 100]")
        if duty_percent == 100:
            self.set_x1()
            return
        self._set(proto.CpModeCode.PWM, CpOutput(CpMode.PWM, float(duty_percent)), round(duty_percent * 100))

    def set_x1(self) -> None:
        self._set(proto.CpModeCode.X1, CpOutput(CpMode.X1))

    def set_state_e(self) -> None:
        self._set(proto.CpModeCode.STATE_E, CpOutput(CpMode.STATE_E))

    def set_state_f(self) -> None:
        self._set(proto.CpModeCode.STATE_F, CpOutput(CpMode.STATE_F))

    @property
    def output(self) -> CpOutput:
        """What the MCU says it applies (it may have gone to F by itself); the last command
        while the MCU is silent."""
        try:
            snap = self._snapshot()
        except DeviceError:
            return self._commanded
        if not self._after_last_command(snap):
            return self._commanded
        s = snap.status
        mode = _MODE_FROM_CODE[s.cp_mode]
        return CpOutput(mode, s.cp_duty_centi / 100.0 if mode is CpMode.PWM else None)

    def describe(self) -> dict[str, Any]:
        link = self._link
        return {
            "protocol": f"josev-hal MCU link v{proto.VERSION}",
            "firmware": link.firmware if link else None,
        }


class McuContactorOptions(LinkOptions, forbid_unknown_fields=True):
    """``mcu-contactor`` options: the link settings plus whether a mirror contact is wired."""

    has_feedback: bool = True


class McuContactor(_McuDriver, Contactor):
    """``mcu-contactor``: the MCU switches the relays and reads the mirror contact. The MCU also
    refuses to close unless its own checks pass (CP in C/D with PWM, no RCD trip): the HAL is
    the second channel."""

    Options: ClassVar[type[msgspec.Struct]] = McuContactorOptions
    bus_kind: ClassVar[str | None] = "serial"

    def setup(self) -> None:
        self._link_setup()

    def release(self) -> None:
        if self._link is not None:
            try:
                self._command(proto.MsgType.SET_CONTACTOR, b"\x00")
            except DeviceError:
                pass  # the MCU opens by itself once our keep-alive stops
        self._link_release()

    @property
    def has_feedback(self) -> bool:
        return bool(self.options.has_feedback)

    _commanded_closed = False

    def close(self) -> None:
        result = self._command(proto.MsgType.SET_CONTACTOR, b"\x01")
        if result == proto.AckResult.REFUSED:
            raise self.error("MCU interlock refused to close the contactor")
        if result != proto.AckResult.OK:
            raise self.error(f"MCU rejected close: {result.name}")
        self._commanded_closed = True

    def open(self) -> None:
        self._commanded_closed = False  # before sending: an open is never "not commanded"
        result = self._command(proto.MsgType.SET_CONTACTOR, b"\x00")
        if result != proto.AckResult.OK:
            raise self.error(f"MCU rejected open: {result.name}")

    def read(self) -> ContactorSample:
        snap = self._snapshot()
        flags = snap.status.flags
        commanded = self._commanded_closed
        if self._after_last_command(snap):
            # The MCU's word wins once it has seen our command: it may have opened by itself.
            commanded = bool(flags & proto.StatusFlags.CONTACTOR_COMMANDED)
        return ContactorSample(
            taken_at=snap.received_at,
            utc=snap.received_utc,
            commanded_closed=commanded,
            feedback_closed=bool(flags & proto.StatusFlags.CONTACTOR_FEEDBACK_CLOSED)
            if self.has_feedback
            else None,
        )


class McuRcd(_McuDriver, Rcd):
    """``mcu-rcd``: the RCD module wired to the MCU (trip input, test output, optional current)."""

    Options: ClassVar[type[msgspec.Struct]] = LinkOptions
    bus_kind: ClassVar[str | None] = "serial"

    def setup(self) -> None:
        self._link_setup()

    def release(self) -> None:
        self._link_release()

    def read(self) -> RcdSample:
        snap = self._snapshot()
        s = snap.status
        return RcdSample(
            taken_at=snap.received_at,
            utc=snap.received_utc,
            tripped=bool(s.flags & proto.StatusFlags.RCD_TRIPPED),
            residual_ma=None if s.residual_deci_ma is None else s.residual_deci_ma / 10.0,
        )

    def self_test(self, timeout_s: float = 2.0) -> bool:
        """Ask the MCU to run the test; True when it reports a new, passed result in time."""
        before = self._snapshot().status.rcd_test_count
        result = self._command(proto.MsgType.RCD_TEST)
        if result != proto.AckResult.OK:
            raise self.error(f"MCU refused the RCD self-test: {result.name}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            s = self._snapshot().status
            if s.rcd_test_count != before and not s.flags & proto.StatusFlags.RCD_TEST_RUNNING:
                return s.rcd_test_result == proto.RcdTestResult.PASSED
            time.sleep(0.01)
        return False

    def reset(self) -> None:
        result = self._command(proto.MsgType.RCD_RESET)
        if result != proto.AckResult.OK:
            raise self.error(f"MCU refused the RCD reset: {result.name}")
