"""Recognise a meter model from its registers (used by ``josev-hal probe serial``).

Modbus has no standard "who are you" for meters, so each model file carries ``[[identify]]``
checks that only its own register map passes on a live meter:

* a **string check** reads ASCII registers and looks for a marker (the WM3M4C names itself
  ``WM3M...`` in its input registers from address 1);
* a **range check** reads one quantity of the map with the model's function code, data type and
  word order and requires a plausible value (grid frequency 45-65 Hz, a phase voltage 0-500 V).
  Another family's map read that way answers with an exception (address not implemented) or
  decodes to nonsense (a float read as a low-word-first integer is in the thousands of volts).

Models are tried from the most to the least specific: string checks first, then maps with more
range checks, then the rest by name; the first model whose checks all pass wins. Range checks
need a powered meter (frequency present). Meters with the same map (SDM630 and SDM72D-M-2)
cannot be told apart; the first in that order is reported, and the profile's ``model`` stays the
authority.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from josev_hal.buses.serial import SerialBus
from josev_hal.errors import DeviceError, DeviceTimeout

from .model import MeterModel, builtin_models, decode_register, registers_to_bytes
from .rtu import ModbusExceptionError, RtuMaster

__all__ = ["ScanResult", "identify", "identify_order", "scan"]

log = logging.getLogger(__name__)


def identify_order(models: dict[str, MeterModel] | None = None) -> list[MeterModel]:
    """Shipped models in the order :func:`identify` tries them."""
    models = builtin_models() if models is None else models

    def key(m: MeterModel) -> tuple[int, int, str]:
        strings = sum(1 for c in m.identify if c.ascii_contains)
        return (-strings, -len(m.identify), m.name)

    return sorted((m for m in models.values() if m.identify), key=key)


def _passes(master: Any, unit: int, model: MeterModel, timeout_s: float | None) -> bool:
    for check in model.identify:
        if check.ascii_contains:
            assert check.address is not None
            words = master.read_registers(
                unit, check.function or 4, check.address, check.count or 8, timeout_s=timeout_s
            )
            text = registers_to_bytes(words).decode("ascii", errors="replace")
            if check.ascii_contains not in text:
                return False
            continue
        assert check.quantity is not None
        reg = model.registers[check.quantity]
        words_list = master.read_registers(unit, reg.function, reg.address, reg.count, timeout_s=timeout_s)
        by_addr = {(reg.function, reg.address + i): w for i, w in enumerate(words_list)}
        if reg.exponent_register is not None:
            by_addr[(reg.function, reg.exponent_register)] = master.read_registers(
                unit, reg.function, reg.exponent_register, 1, timeout_s=timeout_s
            )[0]
        value = decode_register(reg, by_addr, sentinels=model.not_available_sentinels)
        if value is None:
            return False
        if check.min is not None and value < check.min:
            return False
        if check.max is not None and value > check.max:
            return False
    return True


@dataclass(frozen=True)
class ScanResult:
    """What answers at one unit id: ``model`` is ``None`` for a device that answered but matched
    no shipped model (then ``answered`` is still True)."""

    unit: int
    answered: bool
    model: MeterModel | None


def _master_for(bus: Any) -> Any:
    """The shared master of a serial line or of a Modbus TCP endpoint."""
    from .tcp import ModbusTcpBus, TcpMaster

    if isinstance(bus, ModbusTcpBus):
        return TcpMaster.for_bus(bus)
    return RtuMaster.for_bus(bus)


def _identify(bus: SerialBus | Any, address: int, timeout_s: float | None) -> ScanResult:
    master = _master_for(bus)
    answered = False
    for model in identify_order():
        try:
            ok = _passes(master, address, model, timeout_s)
            answered = True
        except DeviceTimeout as exc:
            log.debug("identify unit=%d model=%s no answer: %s", address, model.name, exc)
            if not answered:
                # Nobody at this unit id: do not spend one timeout per model.
                return ScanResult(address, False, None)
            continue
        except ModbusExceptionError as exc:
            # A well-formed refusal still proves a device is there.
            answered = True
            log.debug("identify unit=%d model=%s no: %s", address, model.name, exc)
            continue
        except DeviceError as exc:
            # Garbled frames are not an answer: at a wrong baud rate or on a noisy line they
            # would make every unit id look present.
            log.debug("identify unit=%d model=%s garbled: %s", address, model.name, exc)
            if not answered:
                return ScanResult(address, False, None)
            continue
        if ok:
            log.info("meter identified unit=%d model=%s", address, model.name)
            return ScanResult(address, True, model)
    return ScanResult(address, answered, None)


def identify(bus: SerialBus, address: int, *, timeout_s: float | None = None) -> MeterModel | None:
    """The shipped model the meter at unit ``address`` on ``bus`` matches, or ``None`` (nothing
    answers, or no model's checks pass). Never raises for a silent or refusing meter."""
    return _identify(bus, address, timeout_s).model


def scan(bus: SerialBus, units: Iterable[int] = range(1, 248), *, timeout_s: float = 0.1) -> list[ScanResult]:
    """Every unit id in ``units`` that answers, with its model if one matches (for
    ``josev-hal probe serial``). A silent unit costs one ``timeout_s``."""
    found = []
    for unit in units:
        result = _identify(bus, unit, timeout_s)
        if result.answered:
            found.append(result)
    return found
