"""``josev-hal probe can``: identify the DC power-module families talking on a CAN channel.

The CAN plugin offers it through ``hal_probe_tools`` (:class:`CanProbe`), so the core never
imports this module.
The probe listens to everything on the channel and, unless told to stay silent, sends each
supported family's **read** requests to its broadcast address (InfyPower V1.13: capabilities,
status and output to module 0x3F; Winline: rated power/current, status, output voltage/current
to destination 0xFF). Nothing that switches or sets a module is ever sent. Replies are recognised
by each family's frame layout (:mod:`josev_hal_can.infypower_protocol`,
:mod:`josev_hal_can.winline_protocol`): the family, the module address and what the module said
about itself. Replies overheard from another controller's traffic identify modules too.

The two families' ID layouts do not overlap (Winline sets protocol 0x060 in bits 28-20, which an
InfyPower ID with device 0x0A/0x0B cannot have), so one frame never matches both.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import can

from josev_hal.buses.can import CanBus
from josev_hal.probe import Found

from . import infypower_protocol as ip
from . import winline_protocol as wp

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = ["PROBE_CONTROLLER", "CanProbe", "probe_can"]

log = logging.getLogger(__name__)

#: Source address of the probe's requests: the last controller address InfyPower allows
#: (0xF0-0xF8), so a station controller running at 0xF0 is not confused by our traffic.
PROBE_CONTROLLER = 0xF8

#: Called with the seconds listened so far.
Progress = Callable[[float], None]


@dataclass
class _Module:
    family: str
    driver: str
    address: int
    reading: dict[str, Any] = field(default_factory=dict)


class _Collector:
    """Decodes frames on the bus thread into per-module records (no I/O, never raises)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.modules: dict[tuple[str, int], _Module] = {}
        self.frames = 0

    def _module(self, family: str, driver: str, address: int) -> _Module:
        key = (family, address)
        if key not in self.modules:
            self.modules[key] = _Module(family, driver, address)
        return self.modules[key]

    def __call__(self, msg: can.Message) -> None:
        if not msg.is_extended_id or len(msg.data) < 8:
            return
        data = bytes(msg.data)
        with self.lock:
            self.frames += 1
            try:
                if not self._winline(msg.arbitration_id, data):
                    self._infypower(msg.arbitration_id, data)
            except ValueError as exc:
                log.debug("probe can ignored frame id=0x%08X: %s", msg.arbitration_id, exc)

    def _infypower(self, arbitration_id: int, data: bytes) -> bool:
        fid = ip.decode_id(arbitration_id)
        # A reply comes *from* a module (source 0x00-0x3E) to a controller (0xF0-0xF8).
        if fid.device not in (ip.DEVICE_MODULE, ip.DEVICE_GROUP) or fid.source > 0x3E:
            return False
        if not 0xF0 <= fid.destination <= 0xF8 or fid.error:
            return False
        cmd = ip.Cmd
        if fid.command not in (cmd.READ_OUTPUT, cmd.READ_STATUS, cmd.READ_CAPABILITIES, cmd.READ_COUNT):
            return False
        module = self._module("infypower", "infypower-dc", fid.source)
        r = module.reading
        if fid.command == cmd.READ_OUTPUT:
            r["voltage_v"], r["current_a"] = (round(x, 2) for x in ip.decode_output(data))
        elif fid.command == cmd.READ_STATUS:
            status = ip.decode_status(data)
            r["output_on"] = status.output_on
            r["faults"] = sorted(status.faults)
            r["states"] = sorted(status.states)
        elif fid.command == cmd.READ_CAPABILITIES:
            caps = ip.decode_capabilities(data)
            r.update(
                max_voltage_v=caps.max_voltage_v,
                min_voltage_v=caps.min_voltage_v,
                max_current_a=caps.max_current_a,
                rated_power_w=caps.rated_power_w,
            )
        else:
            r["group_modules"] = ip.decode_count(data)
        return True

    def _winline(self, arbitration_id: int, data: bytes) -> bool:
        wid = wp.decode_id(arbitration_id)
        if wid.protocol != wp.PROTOCOL or wid.source > 0x3F or not 0xF0 <= wid.destination <= 0xF8:
            return False
        reply = wp.decode_reply(data)
        if reply.data_type not in (wp.TYPE_FLOAT, wp.TYPE_INT):
            return False  # a request (function 0x10/0x03), not a reply
        module = self._module("winline", "winline-dc", wid.source)
        r = module.reading
        r["group"] = wid.group
        if not reply.ok:
            return True
        reg = wp.Reg
        if reply.register == reg.VOUT:
            r["voltage_v"] = round(reply.as_float(), 2)
        elif reply.register == reg.IOUT:
            r["current_a"] = round(reply.as_float(), 2)
        elif reply.register == reg.RATED_POWER:
            r["rated_power_w"] = round(reply.as_float(), 1)
        elif reply.register == reg.RATED_CURRENT:
            r["max_current_a"] = round(reply.as_float(), 2)
        elif reply.register == reg.STATUS:
            faults, states = wp.decode_status(reply.as_int())
            r["output_on"] = "dc_off" not in states
            r["faults"] = sorted(faults)
            r["states"] = sorted(states)
        return True


def _requests(controller: int) -> list[can.Message]:
    """Every family's read-only broadcast requests."""
    messages: list[can.Message] = []
    for command in (ip.Cmd.READ_CAPABILITIES, ip.Cmd.READ_STATUS, ip.Cmd.READ_OUTPUT):
        arbitration_id = ip.encode_id(
            device=ip.DEVICE_MODULE, command=command, destination=ip.BROADCAST, source=controller
        )
        messages.append(can.Message(arbitration_id=arbitration_id, is_extended_id=True, data=bytes(8)))
    arbitration_id = wp.encode_id(destination=wp.BROADCAST, source=controller, group=0, point_to_point=False)
    for register in (wp.Reg.RATED_POWER, wp.Reg.RATED_CURRENT, wp.Reg.STATUS, wp.Reg.VOUT, wp.Reg.IOUT):
        messages.append(
            can.Message(arbitration_id=arbitration_id, is_extended_id=True, data=wp.read_request(register))
        )
    return messages


def probe_can(
    bus: CanBus,
    *,
    listen_s: float = 2.0,
    send_requests: bool = True,
    controller: int = PROBE_CONTROLLER,
    progress: Progress | None = None,
) -> list[Found]:
    """Listen on the open ``bus`` for ``listen_s`` seconds (sending the read requests first,
    unless ``send_requests`` is false) and return one :class:`Found` per module heard.

    Raises :class:`~josev_hal.errors.BusError` when a request cannot be sent.
    """
    collector = _Collector()
    handle = bus.add_listener(collector, extended=True)
    started = time.monotonic()
    try:
        if send_requests:
            for message in _requests(controller):
                bus.send(message)
        while (elapsed := time.monotonic() - started) < listen_s:
            if progress is not None:
                progress(elapsed)
            time.sleep(min(0.05, max(0.0, listen_s - elapsed)))
        if progress is not None:
            progress(listen_s)
    finally:
        bus.remove_listener(handle)
    with collector.lock:
        modules = sorted(collector.modules.values(), key=lambda m: (m.family, m.address))
        frames = collector.frames
    log.info("probe can heard frames=%d modules=%d", frames, len(modules))
    location = {"channel": bus.opts.channel, "interface": bus.opts.interface}
    return [
        Found(
            bus="can",
            location=dict(location),
            address=m.address,
            model=m.family,
            reading=dict(m.reading),
            driver=m.driver,
        )
        for m in modules
    ]


# --------------------------------------------------------------------------------------------
# josev-hal probe can
# --------------------------------------------------------------------------------------------


class CanProbe:
    """Listen on a CAN channel, send every supported family's read-only status requests
    (InfyPower V1.13, Winline) to their broadcast addresses and identify the modules that answer,
    with their reported limits and status."""

    help = "listen on a CAN channel and identify DC power-module families"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--channel", required=True, help="CAN channel (can0, PCAN_USBBUS1, any name for virtual)"
        )
        parser.add_argument(
            "--interface", default="socketcan", help="python-can interface (default socketcan)"
        )
        parser.add_argument(
            "--bitrate", type=int, default=None, help="bit rate for USB adapters (socketcan: ip link)"
        )
        parser.add_argument(
            "--listen-s", type=float, default=2.0, help="how long to listen (default %(default)s s)"
        )
        parser.add_argument("--listen-only", action="store_true", help="send nothing, only overhear traffic")

    def run(self, args: argparse.Namespace, pm: HalPluginManager) -> int:
        import msgspec

        from josev_hal.buses.can import CanBusOptions
        from josev_hal.errors import HalError
        from josev_hal.probe.draft import merge_can
        from josev_hal.probe.tool import (
            EXIT_RUNTIME,
            EXIT_USAGE,
            bus_board,
            draft,
            emit,
            error,
            exit_code,
            plugin_lines,
            progress,
        )

        if args.listen_s <= 0:
            error("--listen-s must be > 0")
            return EXIT_USAGE
        options = {"interface": args.interface, "channel": args.channel, "bitrate": args.bitrate}
        bus = CanBus(args.channel, msgspec.convert(options, CanBusOptions))
        try:
            bus.setup()
        except HalError as exc:
            error(str(exc))
            return EXIT_RUNTIME
        try:
            with progress(args, f"can {args.interface}:{args.channel}", args.listen_s) as advance:
                try:
                    found = probe_can(
                        bus, listen_s=args.listen_s, send_requests=not args.listen_only, progress=advance
                    )
                except HalError as exc:
                    error(str(exc))
                    return EXIT_RUNTIME
            emit(args, found, f"no supported power module answers on {args.interface}:{args.channel}")
            if not args.json:
                plugin_lines(pm, bus_board({bus.name: bus}))
        finally:
            bus.release()
        return exit_code(draft(args, pm, lambda data: merge_can(data, found)), bool(found))
