"""``infypower-dc``: a group of InfyPower DC modules (V1.13 CAN protocol) acting as one supply.

Frames (``infypower_protocol``): set-point cmd 0x1C (u32 mV + u32 mA), on/off cmd 0x1A, output
cmd 0x03 (float32 V and A), status cmd 0x04 (alarm bits in bytes 5-7), capabilities cmd 0x0A,
module count cmd 0x02 to the group. Modules switch off after 10 s without the controller, so the
default ``offline_after_s`` is 15 s (EVerest's default; its minimum is 11 s). Everything else --
current split, polling, set-point refresh, silence and fault handling -- is
:class:`~josev_hal_can.group.ModuleGroupDriver`.
"""

from __future__ import annotations

from typing import ClassVar

import can
import msgspec

from . import infypower_protocol as proto
from .group import GroupOptions, ModuleGroupDriver, ModuleStatus, Reply

__all__ = ["InfyPowerDc", "InfyPowerOptions"]


class InfyPowerOptions(GroupOptions, forbid_unknown_fields=True):
    """``options`` of an ``infypower-dc`` device (plus the :class:`GroupOptions` fields)."""

    #: Group number of these modules (the dial): used to ask the group for its module count.
    group: int = 1
    #: Ask the group for its module count at setup and log a warning when it differs from
    #: ``modules`` (never fails setup: modules may still be powering up).
    check_module_count: bool = True

    def problems(self) -> list[str]:
        found = super().problems()
        found += [f"modules: address {a} outside 0..62" for a in self.modules if not 0 <= a <= 0x3E]
        if not 0 <= self.group <= 0xFF:
            found.append(f"group: {self.group} outside 0..255")
        return found


class InfyPowerDc(ModuleGroupDriver):
    """A group of InfyPower V1.13 modules on a ``can`` bus."""

    Options: ClassVar[type[msgspec.Struct]] = InfyPowerOptions
    family: ClassVar[str] = "InfyPower V1.13"

    @property
    def _infy(self) -> InfyPowerOptions:
        assert isinstance(self.opts, InfyPowerOptions)
        return self.opts

    def _frame(
        self, command: int, destination: int, data: bytes, device: int = proto.DEVICE_MODULE
    ) -> can.Message:
        arbitration_id = proto.encode_id(
            device=device, command=command, destination=destination, source=self.opts.controller_address
        )
        return can.Message(arbitration_id=arbitration_id, is_extended_id=True, data=data)

    def _listen_filter(self) -> tuple[int, int]:
        # Only frames addressed to us; which module sent it is checked on decode.
        return self.opts.controller_address << 8, 0xFF << 8

    def _encode_setpoint(self, address: int, voltage_v: float, current_a: float) -> list[can.Message]:
        return [self._frame(proto.Cmd.SET_OUTPUT, address, proto.encode_set_output(voltage_v, current_a))]

    def _encode_on_off(self, address: int, on: bool) -> list[can.Message]:
        return [self._frame(proto.Cmd.ON_OFF, address, proto.encode_on_off(on))]

    def _encode_poll(self, address: int) -> list[can.Message]:
        return [
            self._frame(proto.Cmd.READ_OUTPUT, address, bytes(8)),
            self._frame(proto.Cmd.READ_STATUS, address, bytes(8)),
        ]

    def _encode_setup(self) -> list[can.Message]:
        frames = [self._frame(proto.Cmd.READ_CAPABILITIES, a, bytes(8)) for a in self.opts.modules]
        if self._infy.check_module_count:
            frames.append(self._frame(proto.Cmd.READ_COUNT, self._infy.group, bytes(8), proto.DEVICE_GROUP))
        return frames

    def _decode(self, msg: can.Message) -> Reply | None:
        fid = proto.decode_id(msg.arbitration_id)
        data = bytes(msg.data)
        if fid.device not in (proto.DEVICE_MODULE, proto.DEVICE_GROUP):
            return None
        if fid.error:
            return Reply(fid.source, "rejected", detail=f"cmd=0x{fid.command:02X} error={fid.error}")
        if fid.command == proto.Cmd.READ_COUNT:
            return Reply(fid.source, "count", count=proto.decode_count(data))
        if fid.command == proto.Cmd.READ_OUTPUT:
            voltage, current = proto.decode_output(data)
            return Reply(fid.source, "output", voltage_v=voltage, current_a=current)
        if fid.command == proto.Cmd.READ_STATUS:
            s = proto.decode_status(data)
            status = ModuleStatus(s.faults, s.states, s.output_on, s.warnings)
            return Reply(fid.source, "status", status=status)
        if fid.command == proto.Cmd.READ_CAPABILITIES:
            c = proto.decode_capabilities(data)
            info = {
                "max_voltage_v": c.max_voltage_v,
                "min_voltage_v": c.min_voltage_v,
                "max_current_a": c.max_current_a,
                "rated_power_w": c.rated_power_w,
            }
            return Reply(fid.source, "capabilities", info=info)
        return Reply(fid.source, "ack")  # acknowledgement of a set command: the module is alive
