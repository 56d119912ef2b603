"""Modbus TCP: the ``modbus_tcp`` bus kind and its master (same interface as the RTU master).

A meter on Ethernet (or behind an RTU-to-TCP gateway) is one TCP endpoint; several unit ids may
sit behind one gateway. The bus object is that endpoint: one connection, one lock, shared by
every device configured on it, exactly like the serial line is shared by the meters on an RS485
bus. Profile::

    [buses.meter_lan]
    kind = "modbus_tcp"
    host = "192.168.1.50"
    port = 502
    timeout_s = 1.0

    [evse.devices.meter]
    driver = "modbus-tcp-meter"
    bus = "meter_lan"
    address = 1                 # unit id (gateways: the RTU address behind them)
    options = { model = "sdm630" }

The protocol is pymodbus's synchronous TCP client (MBAP framing, transaction ids). What this
module adds is what the HAL needs around it: the connection is opened lazily and again after any
failure (a meter rebooting, a gateway losing power), failures are typed like on RTU
(:class:`~josev_hal.errors.DeviceTimeout` for silence, :class:`~josev_hal.errors.BusError` for a
refused or dropped connection, :class:`~josev_hal_modbus.rtu.ModbusExceptionError` for an
exception response) and pymodbus's own retries are off (the driver retries and counts).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Annotated, Any, ClassVar

import msgspec
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse

from josev_hal.buses import Bus
from josev_hal.errors import BusError, DeviceTimeout

from .rtu import EXCEPTION_NAMES, ModbusExceptionError, exact_registers

__all__ = ["ModbusTcpBus", "ModbusTcpBusOptions", "TcpMaster"]

log = logging.getLogger(__name__)


class ModbusTcpBusOptions(msgspec.Struct, forbid_unknown_fields=True):
    """``[buses.<name>]`` options of ``kind = "modbus_tcp"``."""

    #: Host name or IP address of the meter or gateway.
    host: Annotated[str, msgspec.Meta(min_length=1)]
    #: TCP port (502 is the Modbus default).
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 502
    #: How long one transaction waits for its answer.
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    #: After a failed connection attempt, the next one waits at least this long, so a meter
    #: that is off costs one connect timeout per interval, not per poll of every device.
    reconnect_s: Annotated[float, msgspec.Meta(ge=0, le=600)] = 2.0


class ModbusTcpBus(Bus):
    """One Modbus TCP endpoint. :meth:`setup` does not connect (a meter that is off at start-up
    must show up as read errors, not keep the station from starting); the first transaction does."""

    kind: ClassVar[str] = "modbus_tcp"
    Options: ClassVar[type[msgspec.Struct]] = ModbusTcpBusOptions

    def __init__(self, name: str, options: msgspec.Struct) -> None:
        super().__init__(name, options)
        assert isinstance(options, ModbusTcpBusOptions)
        self.opts: ModbusTcpBusOptions = options
        self._client: ModbusTcpClient | None = None
        self._next_connect_at = 0.0
        self.connects = 0

    def describe(self) -> str:
        return f"modbus_tcp {self.opts.host}:{self.opts.port}"

    def setup(self) -> None:
        """Nothing to open yet (see the class docstring)."""

    def release(self) -> None:
        with self.lock:
            self._drop()

    def client(self) -> ModbusTcpClient:
        """The connected client (call with :attr:`lock` held). Raises BusError when the endpoint
        cannot be reached (or was unreachable less than ``reconnect_s`` ago)."""
        if self._client is not None and self._client.connected:
            return self._client
        self._drop()
        now = time.monotonic()
        if now < self._next_connect_at:
            raise BusError(
                f"{self.describe()}: not connected (next attempt in {self._next_connect_at - now:.1f} s)"
            )
        client = ModbusTcpClient(
            self.opts.host,
            port=self.opts.port,
            timeout=self.opts.timeout_s,
            retries=0,
            reconnect_delay=0,  # reconnecting is ours (reconnect_s), not a background task
        )
        try:
            connected = client.connect()
        except Exception as exc:  # resolver errors and the like: all mean "cannot reach it"
            connected = False
            log.debug("modbus tcp connect failed %s: %s", self.describe(), exc)
        if not connected:
            client.close()
            self._next_connect_at = now + self.opts.reconnect_s
            raise BusError(f"{self.describe()}: cannot connect")
        self.connects += 1
        log.info("modbus tcp connected %s", self.describe())
        self._client = client
        return client

    def fail(self) -> None:
        """Drop the connection after a transport failure (the next transaction reconnects).
        Call with :attr:`lock` held."""
        self._drop()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken socket must not hide the real error
                log.debug("modbus tcp close failed %s", self.describe(), exc_info=True)


class TcpMaster:
    """The Modbus master of one TCP endpoint; the same calls as :class:`~josev_hal_modbus.rtu.RtuMaster`."""

    _instances: ClassVar[weakref.WeakKeyDictionary[ModbusTcpBus, TcpMaster]] = weakref.WeakKeyDictionary()
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, bus: ModbusTcpBus) -> None:
        self.bus = bus
        self.frames_sent = 0
        self.timeouts = 0

    @classmethod
    def for_bus(cls, bus: ModbusTcpBus) -> TcpMaster:
        with cls._instances_lock:
            master = cls._instances.get(bus)
            if master is None:
                master = cls._instances[bus] = cls(bus)
            return master

    def read_registers(
        self, unit: int, function: int, address: int, count: int, *, timeout_s: float | None = None
    ) -> list[int]:
        """Read ``count`` holding (FC3) or input (FC4) registers from ``address``."""

        def op(client: ModbusTcpClient) -> Any:
            if function == 3:
                return client.read_holding_registers(address, count=count, device_id=unit)
            return client.read_input_registers(address, count=count, device_id=unit)

        response = self._transact(unit, function, op, timeout_s)
        return exact_registers(list(response.registers), unit, function, address, count)

    def write_registers(
        self, unit: int, address: int, values: list[int], *, timeout_s: float | None = None
    ) -> None:
        """Write holding registers (FC16; FC6 for a single register)."""
        if len(values) == 1:
            self._transact(unit, 6, lambda c: c.write_register(address, values[0], device_id=unit), timeout_s)
        else:
            self._transact(
                unit, 16, lambda c: c.write_registers(address, list(values), device_id=unit), timeout_s
            )

    def _transact(self, unit: int, function: int, op: Any, timeout_s: float | None) -> Any:
        bus = self.bus
        where = f"unit {unit} FC{function} on {bus.describe()}"
        with bus.lock:
            client = bus.client()
            timeout = bus.opts.timeout_s if timeout_s is None else timeout_s
            client.comm_params.timeout_connect = timeout
            self.frames_sent += 1
            try:
                response = op(client)
            except ModbusIOException as exc:
                # No answer in time. The connection may hold a late answer that would be taken
                # for the next request's: start over with a fresh one.
                bus.fail()
                self.timeouts += 1
                raise DeviceTimeout(f"{where}: no answer within {timeout:.3f} s") from exc
            except ConnectionException as exc:
                bus.fail()
                raise BusError(f"{where}: connection lost: {exc}") from exc
            except (ModbusException, OSError) as exc:
                bus.fail()
                raise BusError(f"{where}: {exc}") from exc
        if isinstance(response, ExceptionResponse) or response.isError():
            code = getattr(response, "exception_code", 0)
            name = EXCEPTION_NAMES.get(code, "unknown")
            raise ModbusExceptionError(
                f"{where}: exception {code} ({name})", exception_code=code, function=function
            )
        return response
