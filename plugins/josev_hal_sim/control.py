"""External control of the simulated world: what an EV driver, a test or a demo does to the sim.

Commands are JSON objects, typically published on the MQTT topic ``sim/cs``::

    {"evse_id": "DE*JHL*E0001", "connector_id": 1, "action": "plug", "cable_a": 32}
    {"evse_id": "DE*JHL*E0001", "action": "current", "amps": 16}
    {"evse_id": "DE*JHL*E0001", "action": "rfid", "uid": "04a2b3c4"}

``connector_id`` defaults to 1. Each ``action`` is a tagged msgspec Struct below, so a bad command
is rejected with the JSON path of the offending value (``$.amps: Expected `float` >= 0.0``) and
never half-applied. :meth:`SimControl.handle_payload` is what an MQTT subscription calls: it
returns the error text (also logged) instead of raising, so a bad message can never take the
subscriber down.
"""

from __future__ import annotations

import functools
import logging
import re
import typing
from typing import Annotated, Literal

import msgspec

from josev_hal.errors import HalError
from josev_hal_sim.physics import EvRequest
from josev_hal_sim.registry import WorldRegistry, default_registry
from josev_hal_sim.world import SimWorld

__all__ = ["ACTIONS", "MAX_PAYLOAD_BYTES", "SimCommand", "SimCommandError", "SimControl"]

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 16 * 1024

# RFID UIDs are 4, 7 or 10 bytes; accept any 4-10 byte hex string, normalised to lowercase.
UID_PATTERN = r"^(?:[0-9A-Fa-f]{2}){4,10}$"


class SimCommandError(HalError, ValueError):
    """A sim control command was rejected. ``path`` is the JSON path of the offending value,
    ``reason`` the cause; ``str()`` is ``"<path>: <reason>"``."""

    def __init__(self, reason: str, *, path: str = "$") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}")


class _Command(msgspec.Struct, tag_field="action", forbid_unknown_fields=True, kw_only=True, frozen=True):
    evse_id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    connector_id: Annotated[int, msgspec.Meta(ge=1, le=255)] = 1


class Plug(_Command, tag="plug", frozen=True):
    """EV plugs in (state B). ``cable_a``: rating of the Type 2 cable (PP coding); default: the
    ``sim-pp`` option."""

    cable_a: Literal[13, 20, 32, 63, 70] | None = None


class Unplug(_Command, tag="unplug", frozen=True):
    """EV unplugs (state A)."""


class Charge(_Command, tag="charge", frozen=True):
    """EV requests power: switches R3 in (state C)."""


class Ventilation(_Command, tag="ventilation", frozen=True):
    """EV requests power with ventilation (state D)."""


class Pause(_Command, tag="pause", frozen=True):
    """EV stops requesting power (back to B)."""


class DiodeFault(_Command, tag="diode_fault", frozen=True):
    """The EV's CP diode is shorted (``active=false`` repairs it)."""

    active: bool = True


class CpShort(_Command, tag="cp_short", frozen=True):
    """CP shorted to PE on the EV side: reads as state E (``active=false`` removes the short)."""

    active: bool = True


class RcdTrip(_Command, tag="rcd_trip", frozen=True):
    """A residual current appears and the RCD trips."""

    residual_ma: Annotated[float, msgspec.Meta(ge=0, le=10_000)] = 30.0


class RcdClear(_Command, tag="rcd_clear", frozen=True):
    """The residual current is gone (a latching RCD stays tripped until reset)."""


class MeterOffline(_Command, tag="meter_offline", frozen=True):
    """The meter stops answering."""


class MeterOnline(_Command, tag="meter_online", frozen=True):
    """The meter answers again."""


class WeldContactor(_Command, tag="weld_contactor", frozen=True):
    """The contactor welds: once closed, its contacts stay closed after the coil drops."""


class UnweldContactor(_Command, tag="unweld_contactor", frozen=True):
    """The welded contactor was repaired."""


class ContactorStuckOpen(_Command, tag="contactor_stuck_open", frozen=True):
    """The contactor cannot close any more (coil fault); ``active=false`` repairs it."""

    active: bool = True


class Rfid(_Command, tag="rfid", frozen=True):
    """A card is presented at the reader."""

    uid: Annotated[str, msgspec.Meta(pattern=UID_PATTERN)]


class Current(_Command, tag="current", frozen=True):
    """What the EV draws: per phase for AC (capped by the PWM offer), total for DC."""

    amps: Annotated[float, msgspec.Meta(ge=0, le=500)]


class Isolation(_Command, tag="isolation", frozen=True):
    """Insulation resistance of the DC cable as the isolation monitor will measure it."""

    ohm: Annotated[float, msgspec.Meta(gt=0)]


class PowerModuleFault(_Command, tag="power_module_fault", frozen=True):
    """The DC power module reports a fault and switches its output off."""

    fault: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = "fault"


class PowerModuleClear(_Command, tag="power_module_clear", frozen=True):
    """The DC power module's faults are gone."""


class PpFault(_Command, tag="pp_fault", frozen=True):
    """A PP wiring fault of the plugged cable: ``open`` (reads as no cable), ``short`` (PP to PE),
    ``none`` (repaired). Cleared by unplugging."""

    kind: Literal["open", "short", "none"] = "open"


class RcdSelfTest(_Command, tag="rcd_self_test", frozen=True):
    """The outcome of the RCD's next self-tests (``passes=false``: a broken test circuit)."""

    passes: bool


class CableShort(_Command, tag="cable_short", frozen=True):
    """A short circuit between DC+ and DC- of the cable (``active=false`` removes it): with the
    contactor closed the power module runs into its current limit at a low voltage."""

    ohm: Annotated[float, msgspec.Meta(ge=0, le=1000)] = 0.05
    active: bool = True


class Temperature(_Command, tag="temperature", frozen=True, kw_only=True):
    """A temperature sensor of the EVSE (``sim-temperature``) reads ``celsius``; ``null``
    disconnects it (reads fail: a fault, never a stale value)."""

    sensor: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "socket"
    celsius: Annotated[float, msgspec.Meta(ge=-60, le=250)] | None


class EvIgnoresPwm(_Command, tag="ev_ignores_pwm", frozen=True):
    """The EV draws what it wants (``current``) whatever the PWM offers (``active=false``:
    it behaves again; unplugging resets it)."""

    active: bool = True


class EvPausesOnX1(_Command, tag="ev_pauses_on_x1", frozen=True):
    """The EV goes to B while the PWM is withdrawn (X1) and asks again when it returns, as IEC
    61851-1 Table A.6 expects (``active=false``: it stays in C1)."""

    active: bool = True


class GridLimit(_Command, tag="grid_limit", frozen=True):
    """The grid operator's control box asks to dim (``active=true``) or releases (false)."""

    active: bool = True


Amps = Annotated[float, msgspec.Meta(ge=0, le=1000)]


class HouseLoad(_Command, tag="house_load", frozen=True):
    """What the rest of the site draws per phase, as a sim-mains-meter on this EVSE sees it."""

    amps: Annotated[list[Amps], msgspec.Meta(min_length=3, max_length=3)]


SimCommand = (
    Plug
    | Unplug
    | Charge
    | Ventilation
    | Pause
    | DiodeFault
    | CpShort
    | RcdTrip
    | RcdClear
    | MeterOffline
    | MeterOnline
    | WeldContactor
    | UnweldContactor
    | ContactorStuckOpen
    | Rfid
    | Current
    | Isolation
    | PowerModuleFault
    | PowerModuleClear
    | PpFault
    | RcdSelfTest
    | CableShort
    | GridLimit
    | EvIgnoresPwm
    | EvPausesOnX1
    | HouseLoad
    | Temperature
)

ACTIONS: tuple[str, ...] = tuple(str(cls.__struct_config__.tag) for cls in typing.get_args(SimCommand))


@functools.cache
def _decoder() -> msgspec.json.Decoder[SimCommand]:
    """Built at the first sim command, not at import: resolving the 27 command Structs' types
    costs a few ms of every daemon start, and most starts never see a sim command."""
    return msgspec.json.Decoder(SimCommand)


_AT_PATH = re.compile(r"^(?P<reason>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)


_FIELD = re.compile(r"^Object (?P<what>missing required|contains unknown) field `(?P<field>[^`]+)`$")


def _from_msgspec(exc: msgspec.MsgspecError) -> SimCommandError:
    """Turn msgspec's "<reason> - at `<path>`" into a path and a reason; a missing or unknown
    key is reported at the key's own path (``$.uid: missing required field``)."""
    text = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return SimCommandError(f"invalid JSON: {text}")
    match = _AT_PATH.match(text)
    reason, path = (match["reason"], match["path"]) if match else (text, "$")
    field = _FIELD.match(reason)
    if field:
        path = f"{path}.{field['field']}"
        reason = "missing required field" if field["what"] == "missing required" else "unknown field"
    elif path == "$.action" and reason.startswith("Invalid value"):
        reason += f" (known actions: {', '.join(ACTIONS)})"
    return SimCommandError(reason, path=path)


class SimControl:
    """Parses sim commands and applies them to the worlds of a :class:`WorldRegistry` (default:
    the process-wide one the sim drivers use)."""

    def __init__(self, registry: WorldRegistry | None = None) -> None:
        self._registry = registry

    @property
    def registry(self) -> WorldRegistry:
        return self._registry if self._registry is not None else default_registry()

    @staticmethod
    def parse(payload: bytes | str) -> SimCommand:
        """Decode and validate one command. Raises :class:`SimCommandError`."""
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise SimCommandError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        try:
            return _decoder().decode(payload)
        except msgspec.MsgspecError as exc:
            raise _from_msgspec(exc) from None
        except UnicodeDecodeError as exc:  # msgspec before 0.23 raises this for invalid UTF-8 in a string
            raise SimCommandError(f"invalid JSON: invalid UTF-8 at byte {exc.start}") from None

    def resolve(self, command: SimCommand) -> SimWorld:
        """The world a command is for. Raises :class:`SimCommandError` naming the field."""
        registry = self.registry
        world = registry.find(command.evse_id, command.connector_id)
        if world is not None:
            return world
        known = registry.evse_ids()
        if command.evse_id in known:
            raise SimCommandError(
                f"EVSE {command.evse_id!r} has no simulated connector {command.connector_id}",
                path="$.connector_id",
            )
        raise SimCommandError(
            f"unknown EVSE {command.evse_id!r} (simulated: {', '.join(known) or 'none'})", path="$.evse_id"
        )

    def apply(self, command: SimCommand) -> None:
        """Apply a parsed command to its world."""
        world = self.resolve(command)
        match command:
            case Plug(cable_a=cable_a):
                world.plug(cable_a)
            case Unplug():
                world.unplug()
            case Charge():
                world.set_request(EvRequest.CHARGE)
            case Ventilation():
                world.set_request(EvRequest.VENTILATION)
            case Pause():
                world.set_request(EvRequest.IDLE)
            case DiodeFault(active=active):
                world.set_diode_shorted(active)
            case CpShort(active=active):
                world.set_cp_shorted(active)
            case RcdTrip(residual_ma=residual):
                world.rcd_trip(residual)
            case RcdClear():
                world.rcd_clear()
            case MeterOffline():
                world.set_meter_online(False)
            case MeterOnline():
                world.set_meter_online(True)
            case WeldContactor():
                world.set_welded(True)
            case UnweldContactor():
                world.set_welded(False)
            case ContactorStuckOpen(active=active):
                world.set_stuck_open(active)
            case Rfid(uid=uid):
                world.present_token(uid.lower())
            case Current(amps=amps):
                world.set_draw(float(amps))
            case Isolation(ohm=ohm):
                world.set_isolation(float(ohm))
            case PowerModuleFault(fault=fault):
                world.set_pm_fault(fault)
            case PowerModuleClear():
                world.set_pm_fault(None)
            case PpFault(kind=kind):
                world.set_pp_fault(None if kind == "none" else kind)
            case RcdSelfTest(passes=passes):
                world.set_rcd_self_test(passes)
            case CableShort(ohm=ohm, active=active):
                world.set_cable_short(float(ohm) if active else None)
            case GridLimit(active=active):
                world.set_grid_limit(active)
            case EvIgnoresPwm(active=active):
                world.set_ev_ignores_pwm(active)
            case EvPausesOnX1(active=active):
                world.set_ev_pauses_on_x1(active)
            case HouseLoad(amps=amps):
                world.set_house_load(*(float(a) for a in amps))
            case Temperature(sensor=sensor, celsius=celsius):
                world.set_temperature(sensor, None if celsius is None else float(celsius))
        log.info(
            "sim command applied evse=%s connector=%d action=%s",
            command.evse_id,
            command.connector_id,
            command.__struct_config__.tag,
        )

    def handle(self, payload: bytes | str) -> SimCommand:
        """Parse and apply; raises :class:`SimCommandError`."""
        command = self.parse(payload)
        self.apply(command)
        return command

    def handle_payload(self, payload: bytes) -> str | None:
        """Parse and apply one message; returns ``None`` on success or the error text, which is
        also logged. Never raises for bad input (for MQTT callbacks)."""
        try:
            self.handle(payload)
        except SimCommandError as exc:
            log.warning("sim command rejected: %s", exc)
            return str(exc)
        return None

    def on_message(self, topic: str, payload: bytes) -> None:
        """``RawCallback`` for ``Bridge.subscribe_raw(CONTROL_TOPIC, control.on_message)``."""
        self.handle_payload(payload)
