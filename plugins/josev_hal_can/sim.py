"""Simulated groups of DC power modules (InfyPower V1.13, Winline) on any python-can bus.

It is a *peer*, not a mock: it only sees CAN frames and answers them as a module group would,
so the same object serves the tests, ``josev-hal probe`` bring-up on a ``virtual`` bus,
``josev-hal sim can`` and the DC demo. It speaks the wire format through the same codecs as the
drivers (:mod:`.infypower_protocol`, :mod:`.winline_protocol`, the module's side of each frame):
one encoder and one decoder per frame, each pinned byte for byte to the hardware notes (§7.1,
§7.4) by the codec tests.

What it models (InfyPower; Winline the same with its registers, see :class:`WinlineGroupSim`):

* per module: set-point (cmd 0x1C, u32 mV + u32 mA), on/off (cmd 0x1A, byte 0: 0 = on),
  present output (cmd 0x03, float32 V + float32 A), status (cmd 0x04, bits in bytes 5-7),
  capabilities (cmd 0x0A); the group answers cmd 0x02 with its module count;
* a set-point outside the module's limits is refused with error code 3 in the reply ID;
* the module watchdog: an enabled module switches itself off after ``watchdog_s`` without a
  frame from the controller (10 s on real modules);
* a resistive load (``load_ohm``): the paralleled modules regulate voltage until the load wants
  more current than their limits allow, then they limit current (CC/CV);
* test controls: :meth:`set_alarm` raises status bits by name (``switch_off=True``: the module
  protects itself and switches its output off while the alarm lasts, reporting "DC off"),
  :meth:`set_silent` makes a module stop answering (a dead module or a broken CAN transceiver);
* a short circuit on the output is a very small ``load_ohm``: the modules reach their current
  limit at a low voltage (CC), which is what the controller sees of a short.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import can

from . import infypower_protocol as infy
from . import winline_protocol as wl

__all__ = [
    "ALARM_NAMES",
    "WINLINE_ALARM_BITS",
    "InfyPowerGroupSim",
    "ReceivedFrame",
    "SimModule",
    "WinlineFrame",
    "WinlineGroupSim",
]

log = logging.getLogger(__name__)

_ERR_DATA_INVALID = 3

#: Status bits an InfyPower module can raise by name (faults and vendor warnings; the states
#: ``dc_off`` / ``power_limiting`` follow from what the module does, see :meth:`_status`).
ALARM_NAMES: frozenset[str] = frozenset(infy.ALARM_BITS.values()) | frozenset(infy.WARNING_BITS.values())


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """A frame the simulator received from the controller, decoded."""

    at: float
    device: int
    command: int
    destination: int
    source: int
    data: bytes


@dataclass
class SimModule:
    """State of one simulated module (read it in tests; change it via the group's methods)."""

    address: int
    setpoint_v: float = 0.0
    setpoint_a: float = 0.0
    on: bool = False
    alarms: set[str] = field(default_factory=set)
    #: alarms during which the module keeps its output off (it protects itself)
    protective: set[str] = field(default_factory=set)
    silent: bool = False
    last_heard: float | None = None
    watchdog_trips: int = 0
    output_v: float = 0.0
    output_a: float = 0.0
    power_limiting: bool = False


class _ModuleGroupSim:
    """What every simulated module group shares: bus handling, controls, CC/CV physics, watchdog.

    Pass an open ``bus`` to share one (the caller owns it), or ``interface``/``channel`` to let
    the simulator open and close its own. Use as a context manager or call :meth:`start` /
    :meth:`stop`. Families implement :meth:`_handle` and set :attr:`ALARMS`.
    """

    #: Alarm names the family's status word can carry (for :meth:`set_alarm`).
    ALARMS: frozenset[str] = frozenset()

    def __init__(
        self,
        bus: can.BusABC | None = None,
        *,
        interface: str = "virtual",
        channel: str = "infy-sim",
        modules: tuple[int, ...] | list[int] = (0,),
        group: int = 1,
        module_max_voltage_v: float = 1000.0,
        module_min_voltage_v: float = 150.0,
        module_max_current_a: float = 100.0,
        module_rated_power_w: float = 30000.0,
        load_ohm: float | None = None,
        watchdog_s: float = 10.0,
    ) -> None:
        self._own_bus = bus is None
        self._bus_args: dict[str, Any] = {"interface": interface, "channel": channel}
        self._bus: can.BusABC | None = bus
        self.group = group
        self.module_max_voltage_v = module_max_voltage_v
        self.module_min_voltage_v = module_min_voltage_v
        self.module_max_current_a = module_max_current_a
        self.module_rated_power_w = module_rated_power_w
        self.load_ohm = load_ohm
        self.watchdog_s = watchdog_s
        self.modules: dict[int, SimModule] = {a: SimModule(a) for a in modules}
        self.received: collections.deque[Any] = collections.deque(maxlen=5000)
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        if self._bus is None:
            self._bus = can.Bus(**self._bus_args, receive_own_messages=False)
        self._stop.clear()
        for target, name in ((self._rx_loop, "rx"), (self._watchdog_loop, "watchdog")):
            t = threading.Thread(target=target, name=f"module-sim-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads.clear()
        if self._own_bus and self._bus is not None:
            self._bus.shutdown()
            self._bus = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------
    def set_alarm(self, address: int, name: str, active: bool = True, *, switch_off: bool = False) -> None:
        """Raise (or clear) a status bit by name (see :attr:`ALARMS`). With ``switch_off`` the
        module also switches its output off while the alarm is active (and reports DC off)."""
        if name not in self.ALARMS:
            raise ValueError(f"unknown alarm {name!r}; known: {sorted(self.ALARMS)}")
        with self.lock:
            m = self.modules[address]
            if active:
                m.alarms.add(name)
                if switch_off:
                    m.protective.add(name)
            else:
                m.alarms.discard(name)
                m.protective.discard(name)
            self._update_outputs()

    def set_silent(self, address: int | None = None, silent: bool = True) -> None:
        """Make one module (or all, with ``address=None``) stop answering, or answer again."""
        with self.lock:
            for m in self.modules.values():
                if address is None or m.address == address:
                    m.silent = silent

    # -- wire --------------------------------------------------------------------------------
    def _rx_loop(self) -> None:
        while not self._stop.is_set():
            bus = self._bus
            if bus is None:
                return
            try:
                msg = bus.recv(timeout=0.05)
            except can.CanError as exc:
                log.warning("module sim receive error: %s", exc)
                continue
            if msg is None or not msg.is_extended_id or msg.is_error_frame:
                continue
            self._handle(msg)

    def _handle(self, msg: can.Message) -> None:
        raise NotImplementedError

    def _send(self, arbitration_id: int, payload: bytes) -> None:
        bus = self._bus
        if bus is None:
            return
        try:
            bus.send(can.Message(arbitration_id=arbitration_id, is_extended_id=True, data=payload))
        except can.CanError as exc:
            log.warning("module sim send error: %s", exc)

    # -- physics -----------------------------------------------------------------------------
    def _update_outputs(self) -> None:
        """Paralleled modules into a resistive load: CV until the current limits bind, then CC."""
        active = [m for m in self.modules.values() if self._delivers(m) and m.setpoint_v > 0]
        for m in self.modules.values():
            if m not in active:
                m.output_v = m.output_a = 0.0
                m.power_limiting = False
        if not active:
            return
        voltage = max(m.setpoint_v for m in active)
        limits = {
            m.address: min(m.setpoint_a, self.module_rated_power_w / max(voltage, 1e-9)) for m in active
        }
        capacity = sum(limits.values())
        # No load (or none configured): open circuit, the modules hold voltage at zero current.
        demand = voltage / self.load_ohm if self.load_ohm and self.load_ohm > 0 else 0.0
        if demand > capacity:
            voltage = capacity * (self.load_ohm or 0.0)
            demand = capacity
        for m in active:
            share = limits[m.address] / capacity if capacity > 0 else 0.0
            m.output_v = voltage
            m.output_a = demand * share
            m.power_limiting = limits[m.address] < m.setpoint_a

    @staticmethod
    def _delivers(m: SimModule) -> bool:
        """Switched on and not held off by a protective alarm."""
        return m.on and not (m.alarms & m.protective)

    def _status(self, m: SimModule) -> set[str]:
        """The names of the status bits the module reports (its alarms and states)."""
        names = set(m.alarms)
        if not self._delivers(m):
            names.add("dc_off")
        if m.power_limiting:
            names.add("power_limiting")
        return names

    def _watchdog_loop(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            with self.lock:
                tripped = False
                for m in self.modules.values():
                    quiet = m.last_heard is None or now - m.last_heard > self.watchdog_s
                    if m.on and quiet:
                        m.on = False
                        m.watchdog_trips += 1
                        tripped = True
                        log.info("module sim 0x%02X off: controller silent", m.address)
                if tripped:
                    self._update_outputs()


class InfyPowerGroupSim(_ModuleGroupSim):
    """Simulated InfyPower V1.13 module group (see the module docstring)."""

    ALARMS = frozenset(ALARM_NAMES)

    def frames(self, *, command: int | None = None, destination: int | None = None) -> list[ReceivedFrame]:
        """Frames received from the controller, optionally filtered."""
        with self.lock:
            return [
                f
                for f in self.received
                if (command is None or f.command == command)
                and (destination is None or f.destination == destination)
            ]

    def _handle(self, msg: can.Message) -> None:
        fid = infy.decode_id(msg.arbitration_id)
        data = bytes(msg.data).ljust(8, b"\x00")
        now = time.monotonic()
        with self.lock:
            frame = ReceivedFrame(now, fid.device, fid.command, fid.destination, fid.source, data)
            self.received.append(frame)
            if fid.device == infy.DEVICE_MODULE:
                targets = [m for a, m in self.modules.items() if fid.destination in (a, infy.BROADCAST)]
            elif fid.device == infy.DEVICE_GROUP and fid.destination in (self.group, infy.BROADCAST):
                targets = list(self.modules.values())
            else:
                return
            targets = [m for m in targets if not m.silent]
            for m in targets:
                m.last_heard = now
            if fid.device == infy.DEVICE_GROUP and fid.command == infy.Cmd.READ_COUNT:
                if targets:
                    count = infy.encode_count(len(self.modules))
                    address = min(m.address for m in targets)
                    self._reply(address, fid.source, infy.Cmd.READ_COUNT, count, device=infy.DEVICE_GROUP)
                return
            replies = [(m, self._apply(m, fid.command, data)) for m in targets]
            self._update_outputs()
            for m, (error, payload) in replies:
                if payload is not None:
                    self._reply(m.address, fid.source, fid.command, payload, error=error)

    def _apply(self, m: SimModule, command: int, data: bytes) -> tuple[int, bytes | None]:
        """Apply one command to one module; returns (error code, reply payload or None)."""
        if command == infy.Cmd.SET_OUTPUT:
            v, a = infy.decode_set_output(data)
            in_range = (v == 0 or self.module_min_voltage_v <= v <= self.module_max_voltage_v) and (
                a <= self.module_max_current_a
            )
            if not in_range:
                return _ERR_DATA_INVALID, data
            m.setpoint_v, m.setpoint_a = v, a
            return 0, data
        if command == infy.Cmd.ON_OFF:
            m.on = infy.decode_on_off(data)
            return 0, data
        if command == infy.Cmd.READ_OUTPUT:
            return 0, infy.encode_output(m.output_v, m.output_a)
        if command == infy.Cmd.READ_STATUS:
            return 0, infy.encode_status(self._status(m))
        if command == infy.Cmd.READ_CAPABILITIES:
            caps = infy.ModuleCapabilities(
                self.module_max_voltage_v,
                self.module_min_voltage_v,
                self.module_max_current_a,
                self.module_rated_power_w,
            )
            return 0, infy.encode_capabilities(caps)
        return 0, None  # commands we do not model get no reply, as on a module that ignores them

    def _reply(
        self,
        address: int,
        controller: int,
        command: int,
        payload: bytes,
        *,
        error: int = 0,
        device: int = infy.DEVICE_MODULE,
    ) -> None:
        self._send(
            infy.encode_id(
                device=device, command=command, destination=controller, source=address, error=error
            ),
            payload,
        )


#: Winline status bits a module can raise by name (:data:`.winline_protocol.ALARM_BITS`), -> bit.
WINLINE_ALARM_BITS: dict[str, int] = {name: bit for bit, name in wl.ALARM_BITS.items()}


@dataclass(frozen=True, slots=True)
class WinlineFrame:
    """A Winline frame the simulator received from the controller, decoded."""

    at: float
    function: int
    register: int
    destination: int
    source: int
    group: int
    value: bytes


class WinlineGroupSim(_ModuleGroupSim):
    """Simulated Winline module group (hardware notes §7.4, the driver code's ID layout).

    ID: protocol 0x060 (bits 28-20), point-to-point flag (19), destination (18-11), source
    (10-3), group (2-0). Data: function (0x10 read, 0x03 set; replies carry the data type 0x41
    float / 0x42 integer), error code (replies: 0xF0 OK), register (u16), value (4 bytes).
    Destination 0xFF reaches every module, 0xFE every module of the group.
    """

    ALARMS = frozenset(WINLINE_ALARM_BITS)

    def __init__(self, *args: Any, group: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, group=group, **kwargs)

    def frames(self, *, register: int | None = None, destination: int | None = None) -> list[WinlineFrame]:
        """Frames received from the controller, optionally filtered."""
        with self.lock:
            return [
                f
                for f in self.received
                if (register is None or f.register == register)
                and (destination is None or f.destination == destination)
            ]

    def _handle(self, msg: can.Message) -> None:
        wid = wl.decode_id(msg.arbitration_id)
        if wid.protocol != wl.PROTOCOL:
            return
        request = wl.decode_request(bytes(msg.data).ljust(8, b"\x00"))
        now = time.monotonic()
        with self.lock:
            function, register = request.function, request.register
            frame = WinlineFrame(now, function, register, wid.destination, wid.source, wid.group, request.raw)
            self.received.append(frame)
            targets = [
                m
                for a, m in self.modules.items()
                if wid.destination in (a, wl.BROADCAST)
                or (wid.destination == wl.GROUP_BROADCAST and wid.group == self.group)
            ]
            targets = [m for m in targets if not m.silent]
            for m in targets:
                m.last_heard = now
            replies = [(m, self._apply(m, request)) for m in targets]
            self._update_outputs()
        for m, reply in replies:
            reply_id = wl.encode_id(destination=wid.source, source=m.address, group=self.group)
            self._send(reply_id, wl.encode_reply(reply))

    def _apply(self, m: SimModule, request: wl.RegisterRequest) -> wl.RegisterReply:
        """One request to one module -> its reply."""
        register, value = request.register, request.raw

        def reply(data_type: int, error: int, raw: bytes) -> wl.RegisterReply:
            return wl.RegisterReply(data_type, error, register, raw)

        if request.function == wl.FUNCTION_READ:
            floats = {
                wl.Reg.VOUT: m.output_v,
                wl.Reg.IOUT: m.output_a,
                wl.Reg.TEMPERATURE: 35.0,
                wl.Reg.INPUT_VOLTAGE: 400.0,
                wl.Reg.RATED_POWER: self.module_rated_power_w,
                wl.Reg.RATED_CURRENT: self.module_max_current_a,
            }
            if register in floats:
                return reply(wl.TYPE_FLOAT, wl.ERROR_OK, wl.float_value(floats[register]))
            if register == wl.Reg.STATUS:
                return reply(wl.TYPE_INT, wl.ERROR_OK, wl.int_value(wl.encode_status(self._status(m))))
            return reply(wl.TYPE_INT, wl.ERROR_BAD_REGISTER, bytes(4))
        if request.function == wl.FUNCTION_SET:
            if register == wl.Reg.SET_VOLTAGE:
                try:
                    volts = request.as_float()
                except ValueError:  # not finite
                    return reply(wl.TYPE_FLOAT, wl.ERROR_BAD_VALUE, value)
                if not (volts == 0 or self.module_min_voltage_v <= volts <= self.module_max_voltage_v):
                    return reply(wl.TYPE_FLOAT, wl.ERROR_BAD_VALUE, value)
                m.setpoint_v = volts
                return reply(wl.TYPE_FLOAT, wl.ERROR_OK, value)
            if register == wl.Reg.SET_CURRENT:
                amps = wl.current_of_raw(request.as_int())
                if amps > self.module_max_current_a:
                    return reply(wl.TYPE_INT, wl.ERROR_BAD_VALUE, value)
                m.setpoint_a = amps
                return reply(wl.TYPE_INT, wl.ERROR_OK, value)
            if register == wl.Reg.POWER:
                word = request.as_int()
                if word not in (wl.POWER_ON, wl.POWER_OFF):
                    return reply(wl.TYPE_INT, wl.ERROR_BAD_VALUE, value)
                m.on = word == wl.POWER_ON
                return reply(wl.TYPE_INT, wl.ERROR_OK, value)
            return reply(wl.TYPE_INT, wl.ERROR_BAD_REGISTER, value)
        return reply(wl.TYPE_INT, wl.ERROR_BAD_REGISTER, value)
