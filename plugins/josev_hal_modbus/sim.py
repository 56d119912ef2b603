"""A simulated Modbus meter line: register images of meter models behind a pymodbus server.

The peer of this plugin's drivers, next to the register codec it shares with them
(:mod:`josev_hal_modbus.model` encodes and decodes both sides). Used by the tests,
``josev-hal sim meter`` (:mod:`josev_hal_modbus.sim_cli`) and ``benchmarks/drivers.py``; nothing
here is test-only, and the driver cannot tell it from a real line (it talks to a serial device
path).

* :class:`SimulatedMeter` -- the register image of one meter (a model from
  :mod:`josev_hal_modbus.model`, a unit id, values set by the caller in base units). The WM3M4C
  image also runs the signed-value flow: begin/end commands, an OCMF payload signed with its own
  P-256 key, the firmware's zero-padded DER signature.
* :class:`ModbusPeer` -- a pymodbus RTU server on a serial device serving one or more simulated
  meters (an RS485 line). Unit ids nobody serves stay silent, like on a real line.
* :class:`ModbusTcpPeer` -- the same meters behind a pymodbus TCP server on localhost (a meter
  with an Ethernet port, or an RTU-to-TCP gateway).

The wire on this machine is :class:`josev_hal.buses.pty_line.PtyLine` (two joined
pseudo-terminals; it knows no protocol, so it lives next to the serial bus). Example::

    with PtyLine(baudrate=9600) as line, ModbusPeer(line.peer_port, [meter]) as peer:
        ...  # SerialBus(port=line.client_port) talks to `meter`
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from josev_hal.errors import ConfigError

from . import em580, iskra
from .model import (
    MAX_EXPONENT,
    MeterModel,
    available_models,
    bytes_to_registers,
    decode_register,
    encode_register,
    plan_reads,
    registers_to_bytes,
    text_to_registers,
)
from .sim_registers import RegisterSimulator, Spans, merge_spans

log = logging.getLogger(__name__)

__all__ = ["ModbusPeer", "ModbusTcpPeer", "SimulatedMeter"]


# --------------------------------------------------------------------------------------------
# Register image of one meter
# --------------------------------------------------------------------------------------------


class SimulatedMeter(RegisterSimulator):
    """The registers of one meter of a given model, answering as unit ``unit``.

    ``set_values(voltage_l1=230.0, energy_import=1234.5, ...)`` stores values in the quantities'
    base units (V, A, W, Wh, varh, Hz) encoded exactly as the model's map says (type, word
    order, scale, unit, exponent register). Registers outside the map answer with Modbus
    exception 2 (illegal data address), like a real meter.

    Values with an exponent / decimal-point register are served with the smallest non-negative
    exponent word that fits the raw type (the finest resolution, like an auto-ranging meter),
    unless :meth:`set_exponents` pinned the word for that quantity.
    """

    def __init__(
        self,
        model: Any,
        unit: int = 1,
        *,
        values: Mapping[str, float] | None = None,
        serial_number: str = "SIM00001",
        sign_delay_s: float = 0.2,
    ) -> None:
        if isinstance(model, str):
            models = available_models()
            if model not in models:
                raise ConfigError(f"unknown meter model {model!r} (known: {', '.join(sorted(models))})")
            model = models[model]
        assert isinstance(model, MeterModel)
        self.model = model
        self.unit = unit
        self.serial_number = serial_number
        self.sign_delay_s = sign_delay_s
        #: False: the meter stays silent (unpowered, disconnected) while the line keeps working.
        self.online = True
        self.requests = 0
        self._lock = threading.RLock()
        self._words: dict[tuple[int, int], int] = {}
        #: Pinned exponent / decimal-point words by quantity (see :meth:`set_exponents`).
        self._exponents: dict[str, int] = {}
        self._values: dict[str, float] = {}
        # Served address ranges per table (3 = holding, 4 = input): the map, bridged like the
        # model reads it, so every read the driver plans is valid and nothing else is.
        addrs = [a for r in model.registers.values() for a in r.addresses()]
        self.spans: dict[int, list[tuple[int, int]]] = {3: [], 4: []}
        for b in plan_reads(addrs, max_count=1 << 16, max_gap=model.max_gap):
            self.spans[b.function].append((b.address, b.count))
        for check in model.identify:
            if check.ascii_contains and check.address is not None:
                count = check.count or 8
                self.spans[check.function or 4].append((check.address, count))
                text = (
                    model.name.upper() if check.ascii_contains in model.name.upper() else check.ascii_contains
                )
                for i, word in enumerate(text_to_registers(text, count)):
                    self._words[(check.function or 4, check.address + i)] = word
        self.signed: _IskraSigner | _Em580Signer | None = None
        if model.signed == "iskra":
            self.signed = _IskraSigner(self)
            self.spans[3].append((7000, 8400 - 7000))
        elif model.signed == "em580":
            self.signed = _Em580Signer(self)
            # Written with FC16 (holding), read with FC4 (input): see josev_hal_modbus.em580.
            self.spans[3] += [(0x6900, 126), (0x7000, 0x7041 - 0x7000), (0x7100, 1)]
            self.spans[4] += [(0x24FF, 1), (0x2600, 62), (0x7100, 0x7110 + 2031 - 0x7100)]
        self.set_values(**{q: 0.0 for q in model.registers})
        if values:
            self.set_values(**values)

    # -- values ------------------------------------------------------------------------------
    def set_values(self, **values: float) -> None:
        """Serve these quantities (base units) from now on."""
        unknown = sorted(set(values) - set(self.model.registers))
        if unknown:
            raise ValueError(f"model {self.model.name} has no register for {', '.join(unknown)}")
        with self._lock:
            for q, v in values.items():
                reg = self.model.registers[q]
                if reg.exponent_register is None:
                    words = encode_register(reg, float(v))
                elif q in self._exponents:
                    words = encode_register(reg, float(v), exponent=self._exponents[q])
                else:
                    words = self._auto_ranged(reg, float(v))
                for addr, word in words.items():
                    self._words[(reg.function, addr)] = word
                self._values[q] = float(v)

    @staticmethod
    def _auto_ranged(reg: Any, value: float) -> dict[int, int]:
        for exponent in range(0, MAX_EXPONENT - reg.exponent_offset + 1):
            try:
                return dict(encode_register(reg, value, exponent=exponent))
            except ValueError:
                continue
        raise ValueError(f"{reg.quantity}: {value} does not fit {reg.type} with any exponent")

    def set_exponents(self, **exponents: int | None) -> None:
        """Pin the exponent / decimal-point word served for these quantities (``None`` = back to
        auto-ranging) and re-encode their current values with it. A value that does not fit the
        raw type at that exponent raises :class:`ValueError` (nothing changes)."""
        bad = sorted(
            q for q in exponents if getattr(self.model.registers.get(q), "exponent_register", None) is None
        )
        if bad:
            raise ValueError(f"model {self.model.name} has no exponent register for {', '.join(bad)}")
        with self._lock:
            for q, e in exponents.items():
                if e is not None:
                    encode_register(self.model.registers[q], self._values.get(q, 0.0), exponent=e)
            for q, e in exponents.items():
                if e is None:
                    self._exponents.pop(q, None)
                else:
                    self._exponents[q] = e
            self.set_values(**{q: self._values.get(q, 0.0) for q in exponents})

    def set_words(self, function: int, address: int, words: Iterable[int]) -> None:
        """Store raw register words (e.g. "not available" sentinels)."""
        with self._lock:
            for i, w in enumerate(words):
                self._words[(function, address + i)] = w & 0xFFFF

    def words(self, function: int, address: int, count: int) -> list[int]:
        """Current raw words."""
        with self._lock:
            return [self._words.get((function, address + i), 0) for i in range(count)]

    def value_of(self, quantity: str) -> float | None:
        """What the driver should decode for ``quantity`` right now."""
        reg = self.model.registers[quantity]
        with self._lock:
            value: float | None = decode_register(
                reg, self._words, sentinels=self.model.not_available_sentinels
            )
        return value

    # -- served through RegisterSimulator.sim_device -----------------------------------------
    def holding_spans(self) -> Spans:
        return merge_spans(self.spans[3])

    def input_spans(self) -> Spans:
        return merge_spans(self.spans[4])

    def read_words(self, function_code: int, address: int, count: int) -> list[int]:
        return self.words(4 if function_code == 4 else 3, address, count)

    def on_write(self, address: int, values: list[int]) -> None:
        self.set_words(3, address, values)
        if self.signed is not None:
            self.signed.on_write(address, values)


class _IskraSigner:
    """The WM3M4C signed-value interface of a simulated meter (hardware-facts §5.5 registers)."""

    def __init__(self, meter: SimulatedMeter) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.meter = meter
        self.key = ec.generate_private_key(ec.SECP256R1())
        nums = self.key.public_key().public_numbers()
        self.public_xy = nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")
        self.transactions = 0
        self._start: tuple[str, float] | None = None
        self._meta: dict[str, Any] = {}
        self._reg = iskra
        meter.set_words(3, iskra.REG.PUBLIC_KEY, bytes_to_registers(self.public_xy))
        meter.set_words(3, iskra.REG.STATE, [iskra.STATE_IDLE])
        meter.set_words(3, iskra.REG.SIGNATURE_STATUS, [1])

    def _later(self, fn: Any) -> None:
        timer = threading.Timer(self.meter.sign_delay_s, fn)
        timer.daemon = True
        timer.start()

    @staticmethod
    def _tm() -> str:
        now = datetime.now(UTC)
        return now.strftime("%Y-%m-%dT%H:%M:%S,") + f"{now.microsecond // 1000:03d}+0000 S"

    def _energy_kwh(self) -> float:
        value = self.meter.value_of("energy_import") or 0.0
        return round(value / 1000.0, 3)

    def on_write(self, address: int, values: list[int]) -> None:
        r = self._reg
        if not (address <= r.REG.COMMAND < address + len(values)):
            return
        command = values[r.REG.COMMAND - address]
        m = self.meter
        if command == r.CMD_BEGIN:
            length = m.words(3, r.REG.METADATA_LEN, 1)[0]
            text = registers_to_bytes(m.words(3, r.REG.METADATA, (length + 1) // 2), length)
            try:
                self._meta = json.loads(text.decode("ascii"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                m.set_words(3, r.REG.SIGNATURE_STATUS, [130])  # an error code >= 128
                return
            self._start = (self._tm(), self._energy_kwh())
            m.set_words(3, r.REG.SIGNATURE_STATUS, [2])  # in progress

            def begun() -> None:
                m.set_words(3, r.REG.STATE, [1])
                m.set_words(3, r.REG.SIGNATURE_STATUS, [r.STATUS_OK])

            self._later(begun)
        elif command == r.CMD_END and self._start is not None:
            start_tm, start_kwh = self._start
            self._start = None
            m.set_words(3, r.REG.SIGNATURE_STATUS, [2])
            payload = dict(self._meta)
            payload.update(
                {
                    "PG": f"T{self.transactions + 1}",
                    "MV": "Iskra",
                    "MM": "WM3M4C",
                    "MS": m.serial_number,
                    "RD": [
                        {
                            "TM": start_tm,
                            "TX": "B",
                            "RV": start_kwh,
                            "RI": "1-b:1.8.0",
                            "RU": "kWh",
                            "ST": "G",
                        },
                        {
                            "TM": self._tm(),
                            "TX": "E",
                            "RV": self._energy_kwh(),
                            "RI": "1-b:1.8.0",
                            "RU": "kWh",
                            "ST": "G",
                        },
                    ],
                }
            )
            data = json.dumps(payload, separators=(",", ":")).encode("ascii")
            signature = self._padded_signature(data)

            def ended() -> None:
                m.set_words(3, r.REG.SIGNED_DATA_LEN, [len(data), len(signature)])
                m.set_words(3, r.REG.SIGNATURE_ALGO, [0])
                m.set_words(3, r.REG.SIGNED_DATA, bytes_to_registers(data))
                m.set_words(3, r.REG.SIGNATURE, bytes_to_registers(signature))
                m.set_words(3, r.REG.STATE, [r.STATE_IDLE])
                m.set_words(3, r.REG.SIGNATURE_STATUS, [r.STATUS_OK])
                self.transactions += 1

            self._later(ended)

    def power_failure(self) -> None:
        """The meter lost power during an open transaction: after it comes back the transaction
        is still open, in state 2 ("active after power failure"), as the WM3M4C reports it."""
        if self._start is not None:
            self.meter.set_words(3, self._reg.REG.STATE, [2])

    def _padded_signature(self, data: bytes) -> bytes:
        """DER signature with r and s zero-padded to 33 bytes, as the firmware sends it."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r_int, s_int = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        body = b""
        for v in (r_int, s_int):
            raw = v.to_bytes(33, "big")
            body += b"\x02" + bytes([len(raw)]) + raw
        return b"\x30" + bytes([len(body)]) + body

    @property
    def public_key_der_b64(self) -> str:
        return base64.b64encode(self._reg.DER_P256_PREFIX + self.public_xy).decode("ascii")


class _Em580Signer:
    """The EM580 OCMF interface of a simulated meter (josev_hal_modbus.em580 registers): the
    identification and tariff text written with FC16, ``'B'`` / ``'E'`` commands, the OCMF state
    machine (not ready -> running -> ready -> confirmed) and the complete OCMF file read with
    FC4, signed with the meter's own P-256 key."""

    def __init__(self, meter: SimulatedMeter) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.meter = meter
        self._em = em580
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_der = der
        words = bytes_to_registers(der)
        meter.set_words(4, em580.REG.SIGNATURE_TYPE, [0])
        meter.set_words(4, em580.REG.PUBLIC_KEY_DER, words + [0] * (46 - len(words)))
        self.transactions = 0
        self._start: tuple[str, float] | None = None
        self._set_state(em580.STATE_NOT_READY)

    def _set_state(self, state: int) -> None:
        self.state = state
        self.meter.set_words(4, self._em.REG.STATE, [state])

    def _text(self, address: int, words: int) -> str:
        text: str = self._em.text_of(self.meter.words(3, address, words))
        return text

    def on_write(self, address: int, values: list[int]) -> None:
        em = self._em
        m = self.meter
        if address == em.REG.STATE and values and values[0] == em.STATE_NOT_READY:
            if self.state == em.STATE_READY:
                self._set_state(em.STATE_NOT_READY)  # file read and confirmed
            return
        if not (address <= em.REG.COMMAND < address + len(values)):
            return
        command = values[em.REG.COMMAND - address]
        if command == em.CMD_BEGIN and self.state == em.STATE_NOT_READY:
            self._start = (_IskraSigner._tm(), self._kwh())
            self._meta = {
                "CI": self._text(em.REG.CPI, 20),
                "ID": self._text(em.REG.IDENT_DATA, 20),
                "TT": self._text(em.REG.TARIFF_TEXT, 126),
            }
            timer = threading.Timer(m.sign_delay_s, lambda: self._set_state(em.STATE_RUNNING))
            timer.daemon = True
            timer.start()
        elif command == em.CMD_END and self.state == em.STATE_RUNNING:
            self.close()

    def _kwh(self) -> float:
        return round((self.meter.value_of("energy_import") or 0.0) / 1000.0, 1)

    def close(self) -> None:
        """End the running transaction and put its file up (also what a power loss does on an
        EM580 [UNCONFIRMED]: the next start finds the dataset ready)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        em = self._em
        if self._start is None:
            return
        start_tm, start_kwh = self._start
        self._start = None
        payload = {
            "FV": "1.0",
            "GI": "CARLO GAVAZZI EM580",
            "GS": self.meter.serial_number,
            "PG": f"T{self.transactions + 1}",
            **self._meta,
            "CT": "EVSEID",
            "RD": [
                {"TM": start_tm, "TX": "B", "RV": start_kwh, "RI": "1-b:1.8.0", "RU": "kWh", "ST": "G"},
                {
                    "TM": _IskraSigner._tm(),
                    "TX": "E",
                    "RV": self._kwh(),
                    "RI": "1-b:1.8.0",
                    "RU": "kWh",
                    "ST": "G",
                },
            ],
        }
        data = json.dumps(payload, separators=(",", ":"))
        sig = self.key.sign(data.encode("ascii"), ec.ECDSA(hashes.SHA256())).hex().upper()
        ocmf = (
            "OCMF|"
            + data
            + "|"
            + json.dumps({"SA": "ECDSA-secp256r1-SHA256", "SD": sig}, separators=(",", ":"))
        )
        words = bytes_to_registers(ocmf.encode("ascii") + b"\0")  # 0-terminated, like the meter
        self.meter.set_words(4, em.REG.FILE, words)
        self.meter.set_words(4, em.REG.SIZE, [len(words)])
        self.transactions += 1
        timer = threading.Timer(self.meter.sign_delay_s, lambda: self._set_state(em.STATE_READY))
        timer.daemon = True
        timer.start()


# --------------------------------------------------------------------------------------------
# The pymodbus server
# --------------------------------------------------------------------------------------------


class ModbusPeer:
    """A pymodbus RTU server on ``port`` serving ``meters`` (distinct unit ids), in a thread.

    :meth:`stop` and :meth:`start` may be called repeatedly (a meter line losing power and
    coming back). Answers for units that are not served, or whose meter is ``online = False``,
    are dropped: the line stays silent as it would with no such device.
    """

    def __init__(
        self,
        port: str,
        meters: Sequence[SimulatedMeter],
        *,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        on_restart: Any = None,
    ) -> None:
        units = [m.unit for m in meters]
        if 0 in units:
            raise ValueError("unit id 0 is the broadcast address")
        if len(set(units)) != len(units):
            raise ValueError(f"duplicate unit ids on one line: {units}")
        self.port = port
        self.meters = {m.unit: m for m in meters}
        self.baudrate, self.parity, self.stopbits, self.bytesize = baudrate, parity, stopbits, bytesize
        self.on_restart = on_restart
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    #: Where the unit id sits in a frame (RTU: first byte; Modbus TCP: after the MBAP header).
    _unit_offset = 0

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending and len(data) > self._unit_offset:
            meter = self.meters.get(data[self._unit_offset])
            if meter is None or not meter.online:
                return b""
        return data

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            from pymodbus.simulator import DataType, SimData, SimDevice

            # pymodbus sends requests for unknown unit ids to device 0; this catch-all answers
            # them and _trace_packet drops the answer, so the line stays silent for them.
            catch_all = SimDevice(id=0, simdata=[SimData(0, values=[0], datatype=DataType.REGISTERS)])
            self._server = self._make_server([catch_all, *(m.sim_device() for m in self.meters.values())])
            await self._server.serve_forever(background=True)

        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            self._error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _make_server(self, devices: list[Any]) -> Any:
        from pymodbus.server import ModbusSerialServer

        return ModbusSerialServer(
            devices,
            port=self.port,
            ignore_missing_devices=True,
            trace_packet=self._trace_packet,
            baudrate=self.baudrate,
            parity=self.parity,
            stopbits=self.stopbits,
            bytesize=self.bytesize,
        )

    def start(self) -> ModbusPeer:
        """Start serving (returns once the port is open)."""
        if self._thread is not None:
            return self
        if self.on_restart is not None:
            self.on_restart()
        self._started.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="modbus-peer", daemon=True)
        self._thread.start()
        self._started.wait(5.0)
        if self._error is not None:
            self._thread = None
            raise RuntimeError(f"modbus peer failed to start on {self.port}: {self._error}")
        return self

    def stop(self) -> None:
        """Stop serving and close the port (the line goes silent)."""
        thread, self._thread = self._thread, None
        loop, server = self._loop, self._server
        if thread is None or loop is None:
            return
        if server is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(timeout=5.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5.0)
        self._server = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def __enter__(self) -> ModbusPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ModbusTcpPeer(ModbusPeer):
    """The same meters served over Modbus TCP on ``host``:``port`` (``port=0``: a free port,
    chosen once, so :meth:`stop`/:meth:`start` bring the meter back at the same address -- a
    meter or gateway rebooting). Unit ids nobody serves get no answer, like a gateway whose RTU
    device is silent."""

    _unit_offset = 6  # transaction id, protocol id, length: 6 bytes, then the unit id

    def __init__(self, meters: Sequence[SimulatedMeter], *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(f"{host}:{port}", meters)
        self.host = host
        self.tcp_port = port or _free_tcp_port(host)
        self.port = f"{host}:{self.tcp_port}"

    def _make_server(self, devices: list[Any]) -> Any:
        from pymodbus.server import ModbusTcpServer

        return ModbusTcpServer(
            devices,
            address=(self.host, self.tcp_port),
            ignore_missing_devices=True,
            trace_packet=self._trace_packet,
        )

    def start(self) -> ModbusTcpPeer:
        super().start()
        # serve_forever(background=True) returns before the socket listens on some versions.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.tcp_port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"modbus tcp peer does not listen on {self.port}")

    def __enter__(self) -> ModbusTcpPeer:
        return self.start()


def _free_tcp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
