"""``winline-dc``: a group of Winline DC modules acting as one supply.

Register protocol (``winline_protocol``): set voltage (0x0021, float V), set current (0x001B,
A x 1024), power on/off (0x0030); polled: output voltage (0x0001), output current (0x0002),
status (0x0040). Rated power and current (0x0011/0x0012) are read once for ``describe()``.
The group logic is :class:`~josev_hal_can.group.ModuleGroupDriver`.

Numbers the team's notes could not confirm stay options: the module's own controller watchdog
(so ``offline_after_s``) and the meaning of the point-to-point flag.
"""

from __future__ import annotations

from typing import ClassVar

import can
import msgspec

from . import winline_protocol as proto
from .group import GroupOptions, ModuleGroupDriver, ModuleStatus, Reply

__all__ = ["WinlineDc", "WinlineOptions"]


class WinlineOptions(GroupOptions, forbid_unknown_fields=True):
    """``options`` of a ``winline-dc`` device (plus the :class:`GroupOptions` fields)."""

    #: Group number (ID bits 2-0) the modules are set to.
    group: int = 0
    #: Value of the point-to-point flag (ID bit 19) on frames to one module.
    point_to_point: bool = True

    def problems(self) -> list[str]:
        found = super().problems()
        found += [f"modules: address {a} outside 0..63" for a in self.modules if not 0 <= a <= 0x3F]
        if not 0 <= self.group <= 7:
            found.append(f"group: {self.group} outside 0..7")
        return found


class WinlineDc(ModuleGroupDriver):
    """A group of Winline modules on a ``can`` bus."""

    Options: ClassVar[type[msgspec.Struct]] = WinlineOptions
    family: ClassVar[str] = "Winline"

    @property
    def _wl(self) -> WinlineOptions:
        assert isinstance(self.opts, WinlineOptions)
        return self.opts

    def _frame(self, address: int, data: bytes) -> can.Message:
        arbitration_id = proto.encode_id(
            destination=address,
            source=self.opts.controller_address,
            group=self._wl.group,
            point_to_point=self._wl.point_to_point,
        )
        return can.Message(arbitration_id=arbitration_id, is_extended_id=True, data=data)

    def _listen_filter(self) -> tuple[int, int]:
        return (proto.PROTOCOL << 20) | (self.opts.controller_address << 11), (0x1FF << 20) | (0xFF << 11)

    def _encode_setpoint(self, address: int, voltage_v: float, current_a: float) -> list[can.Message]:
        return [
            self._frame(address, proto.set_voltage(voltage_v)),
            self._frame(address, proto.set_current(current_a)),
        ]

    def _encode_on_off(self, address: int, on: bool) -> list[can.Message]:
        return [self._frame(address, proto.set_on_off(on))]

    def _encode_poll(self, address: int) -> list[can.Message]:
        return [
            self._frame(address, proto.read_request(r))
            for r in (proto.Reg.VOUT, proto.Reg.IOUT, proto.Reg.STATUS)
        ]

    def _encode_setup(self) -> list[can.Message]:
        regs = (proto.Reg.RATED_POWER, proto.Reg.RATED_CURRENT)
        return [self._frame(a, proto.read_request(r)) for a in self.opts.modules for r in regs]

    def _decode(self, msg: can.Message) -> Reply | None:
        wid = proto.decode_id(msg.arbitration_id)
        if wid.protocol != proto.PROTOCOL:
            return None
        reply = proto.decode_reply(bytes(msg.data))
        if not reply.ok:
            # The notes: a reply with an error code other than 0xF0 carries no valid value.
            return Reply(
                wid.source, "rejected", detail=f"register=0x{reply.register:04X} error=0x{reply.error:02X}"
            )
        if reply.register == proto.Reg.VOUT:
            return Reply(wid.source, "voltage", voltage_v=reply.as_float())
        if reply.register == proto.Reg.IOUT:
            return Reply(wid.source, "current", current_a=reply.as_float())
        if reply.register == proto.Reg.STATUS:
            faults, states = proto.decode_status(reply.as_int())
            return Reply(wid.source, "status", status=ModuleStatus(faults, states, "dc_off" not in states))
        if reply.register == proto.Reg.RATED_POWER:
            return Reply(wid.source, "capabilities", info={"rated_power_w": reply.as_float()})
        if reply.register == proto.Reg.RATED_CURRENT:
            return Reply(wid.source, "capabilities", info={"rated_current_a": reply.as_float()})
        return Reply(wid.source, "ack")  # a set register echoed back: the module is alive
