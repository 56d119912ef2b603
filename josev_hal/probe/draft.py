"""Draft a board profile from what the probes found, merging into an existing draft.

A draft is kept as plain TOML data (``dict``) in the layout of ``boards/*.toml``. Every probe
merges its findings into it, so ``probe i2c --draft-profile b.toml`` followed by ``probe serial
--draft-profile b.toml`` builds one profile: buses are matched by what they open (the same serial
port, I2C adapter or CAN channel is one bus), devices land on the first EVSE that still lacks
that role (a new EVSE is added when none does).

What a probe cannot discover is written as a **placeholder** with a ``REVIEW`` comment: station
identity, EVSE id, PLC interface, rated current, connector type, and the pins/channels of
GPIO-expander and ADC devices (a register read cannot tell which pin the contactor coil hangs
on; the reference board's wiring is used). Placeholders are chosen so that they never *weaken*
safety: ``[safety]`` declares the HAL responsible for every protection (so ``rcd_trip = "hal"``
requires an RCD device), and a role that was not found is left out rather than invented -- then
``josev-hal check`` names it as missing until another probe (or the user) adds it.

Rendering regenerates the comments from the data on every write (values are kept, hand-written
comments are not).
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from josev_hal.errors import ConfigError
from josev_hal.probe import Found

__all__ = [
    "PLACEHOLDER",
    "REFERENCE_BOARD",
    "REFERENCE_CP_GAIN",
    "REFERENCE_CP_OFFSET_V",
    "draft_bus",
    "evse_for",
    "load_draft",
    "merge_can",
    "merge_i2c",
    "merge_relay",
    "merge_serial",
    "new_ac_evse",
    "new_dc_evse",
    "new_draft",
    "render_draft",
    "summary_lines",
    "write_draft",
]

#: Value of identity strings the user must fill in.
PLACEHOLDER = "CHANGE-ME"
#: The board whose wiring the drafted pins and channels follow.
REFERENCE_BOARD = "boards/rpi-ads1115-mcp23017-sdm630.toml"

_EVSE_ID_PLACEHOLDER = re.compile(r"^DE\*XXX\*E\d{4}$")
_PLACEHOLDER_INTERFACE = "eth1"
_REVIEW_PINS = (
    f"REVIEW: pins/channels as on the reference board ({REFERENCE_BOARD}) unless given to the probe "
    "-- check your schematic"
)

# Reference wiring (README "Supported I2C chips", josev_hal_i2c.sim.AC_BOARD_PINS).
_CONTACTOR_PINS = {"pin": 0, "feedback_pin": 8, "feedback_closed_level": "high"}
_RCD_PINS = {"trip_pin": 10, "trip_level": "high", "test_pin": 3, "reset_pin": 4}
_CP_CHANNELS = {"positive_channel": 0, "negative_channel": 1, "pwm_channel": 0, "state_e_channel": 1}
#: The 200k/68k/47k level shifter to 3.3 V (hardware-facts §6.5).
REFERENCE_CP_GAIN = 0.122
REFERENCE_CP_OFFSET_V = 1.7132
_PP_CHANNEL = 2

Draft = dict[str, Any]


# --------------------------------------------------------------------------------------------
# Creating and loading
# --------------------------------------------------------------------------------------------


def new_draft() -> Draft:
    """An empty draft: placeholder identity, the HAL responsible for every protection."""
    return {
        "station": {
            "vendor": PLACEHOLDER,
            "model": PLACEHOLDER,
            "serial_number": "",
            "sw_version": "0.1.0",
            "hw_version": PLACEHOLDER,
        },
        "safety": {
            "rcd_trip": "hal",
            "cp_loss_shutdown": "hal",
            "welding_detection": "hal",
            "open_on_meter_loss": False,
            "open_on_board_link_loss": True,
            "rcd_reset": "manual",
        },
        "buses": {},
        "evse": [],
    }


def load_draft(path: Path) -> Draft:
    """The draft at ``path``, or a new one when the file does not exist.

    Raises :class:`ConfigError` for a file that exists but is not TOML (it is never overwritten
    then: it may be a hand-written profile with a typo).
    """
    if not path.exists():
        return new_draft()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot merge into it: {exc}") from exc
    draft = new_draft()
    draft.update(data)
    draft.setdefault("buses", {})
    draft.setdefault("evse", [])
    return draft


def write_draft(path: Path, draft: Draft) -> None:
    """Render ``draft`` and write it to ``path`` (atomically: a crash leaves the old file)."""
    text = render_draft(draft)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# Merging (the building blocks are public: plugins' probes merge their findings with them)
# --------------------------------------------------------------------------------------------


def draft_bus(draft: Draft, kind: str, identity: dict[str, Any], options: dict[str, Any], name: str) -> str:
    """The name of the draft's bus of ``kind`` matching ``identity`` (its options updated with
    ``options``), or a new bus named ``name`` (suffixed when taken)."""
    buses: dict[str, dict[str, Any]] = draft["buses"]
    for existing, table in buses.items():
        if table.get("kind") == kind and all(table.get(k) == v for k, v in identity.items()):
            table.update(options)
            return existing
    unique, n = name, 2
    while unique in buses:
        unique, n = f"{name}_{n}", n + 1
    buses[unique] = {"kind": kind, **identity, **options}
    return unique


def _next_evse_number(draft: Draft) -> int:
    ids = [e.get("ocpp_id", 0) for e in draft["evse"] if isinstance(e.get("ocpp_id"), int)]
    return max(ids, default=0) + 1


def new_ac_evse(draft: Draft) -> dict[str, Any]:
    """Append a three-phase AC EVSE with placeholder identity and no devices; return it."""
    n = _next_evse_number(draft)
    evse: dict[str, Any] = {
        "id": f"DE*XXX*E{n:04d}",
        "ocpp_id": n,
        "kind": "ac",
        "network_interface": _PLACEHOLDER_INTERFACE,
        "supports_eim": True,
        "phases": 3,
        "nominal_voltage_v": 230,
        "max_current_a": 32,
        "connectors": [
            {
                "id": 1,
                "ocpp_type": "sType2",
                "iso15118_type": "AC_three_phase_core",
                "services": ["ac"],
                "cable": "socket",
            }
        ],
        "devices": {},
    }
    draft["evse"].append(evse)
    return evse


def new_dc_evse(draft: Draft, limits: dict[str, float]) -> dict[str, Any]:
    """Append a DC EVSE with ``limits`` (``max_power_w``, ``max_current_a``, ...) and no devices."""
    n = _next_evse_number(draft)
    evse: dict[str, Any] = {
        "id": f"DE*XXX*E{n:04d}",
        "ocpp_id": n,
        "kind": "dc",
        "network_interface": _PLACEHOLDER_INTERFACE,
        "supports_eim": True,
        "max_power_w": limits["max_power_w"],
        "dc": dict(limits),
        "connectors": [
            {
                "id": 1,
                "ocpp_type": "cCCS2",
                "iso15118_type": "DC_extended",
                "services": ["dc"],
                "cable": "fixed",
                "max_cable_current_a": limits["max_current_a"],
            }
        ],
        "devices": {},
    }
    draft["evse"].append(evse)
    return evse


def evse_for(draft: Draft, kind: str | None, role: str) -> dict[str, Any] | None:
    """The first EVSE (of ``kind`` when given) without a device for ``role``."""
    for evse in draft["evse"]:
        if kind is not None and evse.get("kind") != kind:
            continue
        if role not in evse.setdefault("devices", {}):
            found: dict[str, Any] = evse
            return found
    return None


def _evse_using(
    draft: Draft, bus: str, role: str | None = None, address: int | None = None
) -> dict[str, Any] | None:
    """The first EVSE with a device on ``bus`` (for ``role`` / at ``address`` when given): probing
    the same hardware again updates its entries instead of adding an EVSE."""
    for evse in draft["evse"]:
        for device_role, device in evse.get("devices", {}).items():
            if not isinstance(device, dict) or device.get("bus") != bus:
                continue
            if role is not None and device_role != role:
                continue
            if address is not None and device.get("address") != address:
                continue
            using: dict[str, Any] = evse
            return using
    return None


def merge_serial(draft: Draft, found: Sequence[Found]) -> list[str]:
    """Add the identified meters (one ``serial`` bus per port) to EVSEs lacking a meter.

    Returns one line per decision for the user (what was added, what was left out and why).
    """
    messages: list[str] = []
    meters = [f for f in found if f.bus == "serial" and f.model]
    for f in found:
        if f.bus == "serial" and not f.model:
            messages.append(
                f"unit {f.address} answers at {f.location.get('baudrate')} baud but matches no shipped "
                "meter model: add it yourself with options.registers (README, Modbus meters)"
            )
    if not meters:
        return messages
    port = meters[0].location["port"]
    bauds = sorted({int(m.location["baudrate"]) for m in meters})
    baud = int(meters[0].location["baudrate"])
    if len(bauds) > 1:
        messages.append(
            f"meters answer at different baud rates {bauds}: one RS485 line needs one rate; the draft "
            f"uses {baud} baud -- reconfigure the other meters"
        )
    parity = meters[0].location.get("parity", "N")
    bus = draft_bus(draft, "serial", {"port": port}, {"baudrate": baud, "parity": parity}, "rs485")
    for meter in sorted(meters, key=lambda m: m.address or 0):
        evse = (
            _evse_using(draft, bus, "meter", meter.address)
            or evse_for(draft, None, "meter")
            or new_ac_evse(draft)
        )
        evse["devices"]["meter"] = {
            "driver": "modbus-meter",
            "bus": bus,
            "address": meter.address,
            "options": {"model": meter.model},
        }
        messages.append(f"meter {meter.model} unit {meter.address} -> {evse['id']} devices.meter")
    return messages


def merge_i2c(draft: Draft, found: Sequence[Found], front_end: dict[str, Any] | None = None) -> list[str]:
    """Add the AC board parts an I2C scan found (CP, PP, contactor, RCD, RFID reader).

    ``front_end`` overrides the reference board's analog front end: ``positive_channel``,
    ``negative_channel``, ``adc_v_per_cp_v``, ``adc_offset_v`` (CP), ``pp_channel``,
    ``pull_up_ohm`` (PP) -- what the user told the probe.
    """
    front = {
        "positive_channel": _CP_CHANNELS["positive_channel"],
        "negative_channel": _CP_CHANNELS["negative_channel"],
        "adc_v_per_cp_v": REFERENCE_CP_GAIN,
        "adc_offset_v": REFERENCE_CP_OFFSET_V,
        "pp_channel": _PP_CHANNEL,
        "pull_up_ohm": 1000.0,
        **(front_end or {}),
    }
    messages: list[str] = []
    chips = [f for f in found if f.bus == "i2c" and f.model]
    if not chips:
        return messages

    def first(*models: str) -> Found | None:
        return next((f for f in chips if f.model in models), None)

    adc = first("ads1115", "ads1015", "ads1x15")
    pwm = first("pca9685")
    expander = first("mcp23017", "pca9555")
    reader = first("pn532")
    if not (adc or expander or reader):
        messages.append("no chip that drives an EVSE role was found (PCA9685 alone cannot)")
        return messages
    adapter = chips[0].location["adapter"]
    bus = draft_bus(
        draft, "i2c", {"bus": adapter}, {}, f"i2c{adapter}" if isinstance(adapter, int) else "i2c"
    )
    evse = (
        _evse_using(draft, bus)
        or evse_for(draft, "ac", "contactor")
        or evse_for(draft, "ac", "cp")
        or new_ac_evse(draft)
    )
    devices = evse["devices"]
    if adc is not None:
        chip = "ads1015" if adc.model == "ads1015" else "ads1115"
        if adc.model == "ads1x15":
            messages.append(
                f"the ADC at 0x{adc.address:02x} could not be told apart (all inputs at 0 V): drafted as "
                'ads1115 -- set adc = "ads1015" if it is one'
            )
        if pwm is not None:
            if front["negative_channel"] is None:
                messages.append(
                    "cp: REVIEW: no negative-plateau input was given, but a profile cannot switch it off: "
                    "the ads1x15-cp driver reads its default input AIN1 for the diode check"
                )
            devices["cp"] = {
                "driver": "ads1x15-cp",
                "bus": bus,
                "address": adc.address,
                "options": {
                    "adc": chip,
                    "positive_channel": front["positive_channel"],
                    "negative_channel": front["negative_channel"],
                    "full_scale_v": 4.096,
                    "adc_v_per_cp_v": front["adc_v_per_cp_v"],
                    "adc_offset_v": front["adc_offset_v"],
                    "pwm_address": pwm.address,
                    "pwm_channel": _CP_CHANNELS["pwm_channel"],
                    "state_e_channel": _CP_CHANNELS["state_e_channel"],
                },
            }
            messages.append(f"cp: {chip} @0x{adc.address:02x} + pca9685 @0x{pwm.address:02x}")
        else:
            messages.append(
                "cp: an ADC was found but no PCA9685 to generate the CP: add [evse.devices.cp] yourself"
            )
        socket = any(c.get("cable", "socket") == "socket" for c in evse.get("connectors", []))
        if socket and front["pp_channel"] is not None:
            devices["pp"] = {
                "driver": "ads1x15-pp",
                "bus": bus,
                "address": adc.address,
                "options": {
                    "adc": chip,
                    "channel": front["pp_channel"],
                    "pull_up_ohm": front["pull_up_ohm"],
                    "reference_v": 3.3,
                },
            }
            messages.append(f"pp: {chip} @0x{adc.address:02x} AIN{front['pp_channel']}")
    if expander is not None:
        prefix = expander.model
        contactor: dict[str, Any] = dict(_CONTACTOR_PINS)
        rcd: dict[str, Any] = dict(_RCD_PINS)
        if prefix == "mcp23017":
            contactor["feedback_pull_up"] = True
        devices["contactor"] = {
            "driver": f"{prefix}-contactor",
            "bus": bus,
            "address": expander.address,
            "options": contactor,
        }
        messages.append(f"contactor: {prefix} @0x{expander.address:02x}")
        if draft.get("safety", {}).get("rcd_trip") == "hal":
            devices["rcd"] = {
                "driver": f"{prefix}-rcd",
                "bus": bus,
                "address": expander.address,
                "options": rcd,
            }
            messages.append(f'rcd: {prefix} @0x{expander.address:02x} (safety.rcd_trip = "hal")')
        messages.append("lock: not drafted -- add [evse.devices.lock] if the socket has a lock actuator")
    if reader is not None:
        devices["id_reader"] = {"driver": "pn532-reader", "bus": bus, "address": reader.address}
        messages.append(f"id_reader: pn532 @0x{reader.address:02x}")
    return messages


def merge_can(draft: Draft, found: Sequence[Found]) -> list[str]:
    """Add one power-module group per family found, each on a DC EVSE lacking one."""
    messages: list[str] = []
    modules = [f for f in found if f.bus == "can" and f.model and f.driver]
    families: dict[str, list[Found]] = {}
    for module in modules:
        families.setdefault(str(module.driver), []).append(module)
    for driver, group in families.items():
        where = group[0].location
        bus = draft_bus(
            draft,
            "can",
            {"interface": where["interface"], "channel": where["channel"]},
            {},
            re.sub(r"[^A-Za-z0-9_-]", "_", str(where["channel"])) or "can",
        )
        defaults = {
            "module_max_voltage_v": ("max_voltage_v", min, 1000.0),
            "module_min_voltage_v": ("min_voltage_v", max, 150.0),
            "module_max_current_a": ("max_current_a", min, 100.0),
            "module_max_power_w": ("rated_power_w", min, 30000.0),
        }
        per_module: dict[str, float] = {}
        assumed: list[str] = []
        for option, (reported, pick, default) in defaults.items():
            values = [float(m.reading[reported]) for m in group if reported in m.reading]
            per_module[option] = pick(values) if values else default
            if not values:
                assumed.append(option)
        if assumed:
            messages.append(
                f"{driver}: the modules did not report {', '.join(assumed)}: datasheet defaults drafted"
            )
        n = len(group)
        limits = {
            "max_voltage_v": per_module["module_max_voltage_v"],
            "min_voltage_v": per_module["module_min_voltage_v"],
            "max_current_a": per_module["module_max_current_a"] * n,
            "min_current_a": 0,
            "max_power_w": per_module["module_max_power_w"] * n,
        }
        options: dict[str, Any] = {"modules": sorted(int(m.address or 0) for m in group), **per_module}
        if "group" in group[0].reading:
            options["group"] = group[0].reading["group"]
        evse = (
            _evse_using(draft, bus, "power_module")
            or evse_for(draft, "dc", "power_module")
            or new_dc_evse(draft, limits)
        )
        evse["devices"]["power_module"] = {"driver": driver, "bus": bus, "options": options}
        messages.append(f"power_module: {driver} modules {options['modules']} -> {evse['id']}")
    return messages


def merge_relay(draft: Draft, found: Found) -> list[str]:
    """Set ``[contactor] feedback_timeout_ms`` from a measured feedback time (twice the slowest
    measured transition, rounded up to 10 ms, at least 50 ms, at most 10 s)."""
    times = [t for t in (found.reading.get("close_ms"), found.reading.get("open_ms")) if t is not None]
    if not times:
        return ["no feedback time measured: [contactor] left as it was"]
    suggested = int(min(10_000, max(50, -(-max(times) * 2 // 10) * 10)))
    draft.setdefault("contactor", {})["feedback_timeout_ms"] = suggested
    return [f"contactor.feedback_timeout_ms = {suggested} (slowest transition {max(times):.1f} ms)"]


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_TOP_ORDER = ("station", "mqtt", "safety", "cp", "pp", "contactor", "meter", "device_model", "state", "reset")
_EVSE_TABLES = ("dc", "cp")
_DEVICE_ORDER = ("driver", "bus", "address", "connector", "options")
_HEX_KEYS = frozenset({"pwm_address"})
_REFERENCE_PIN_DRIVERS = re.compile(r"^(mcp23017|pca9555)-(contactor|rcd|lock)$|^ads1x15-(cp|pp)$")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _value(value: Any, key: str = "", hex_ints: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"0x{value:02x}" if hex_ints or key in _HEX_KEYS else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        if not value:
            return "{}"
        # TOML has no null: a None option means "the driver's default", so it is left out.
        items = [f"{_key(k)} = {_value(v, k)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {type(value).__name__} into a profile")


def _line(key: str, value: Any, note: str | None, indent: str = "", hex_ints: bool = False) -> str:
    text = f"{indent}{_key(key)} = {_value(value, key, hex_ints)}"
    return f"{text}  # {note}" if note else text


def _notes(draft: Draft) -> dict[str, str]:
    """Comments for placeholder values, by dotted path (regenerated on every write)."""
    notes: dict[str, str] = {}
    for key, value in draft.get("station", {}).items():
        if value == PLACEHOLDER:
            notes[f"station.{key}"] = "REVIEW: placeholder"
    notes["safety"] = (
        'REVIEW: "hal" = the HAL is responsible; declare "hardware" only for what the board does itself'
    )
    i2c_buses = {
        n for n, b in draft.get("buses", {}).items() if isinstance(b, dict) and b.get("kind") == "i2c"
    }
    for i, evse in enumerate(draft.get("evse", [])):
        base = f"evse[{i}]"
        if isinstance(evse.get("id"), str) and _EVSE_ID_PLACEHOLDER.match(evse["id"]):
            notes[f"{base}.id"] = "REVIEW: placeholder -- your ISO 15118 EVSE id"
        if evse.get("network_interface") == _PLACEHOLDER_INTERFACE:
            notes[f"{base}.network_interface"] = "REVIEW: interface of the PLC modem (SLAC)"
        if "max_current_a" in evse:
            notes[f"{base}.max_current_a"] = "REVIEW: rated current of this EVSE"
        if evse.get("kind") == "dc" and "dc" in evse:
            notes[f"{base}.dc"] = "REVIEW: limits derived from the power modules found"
        for j, _connector in enumerate(evse.get("connectors", [])):
            notes[f"{base}.connectors[{j}]"] = "REVIEW: connector type and cable"
        for role, device in evse.get("devices", {}).items():
            if not isinstance(device, dict):
                continue
            driver = str(device.get("driver", ""))
            if _REFERENCE_PIN_DRIVERS.match(driver):
                notes[f"{base}.devices.{role}"] = _REVIEW_PINS
            if device.get("bus") in i2c_buses:
                notes[f"{base}.devices.{role}.hex"] = "yes"
    return notes


def render_draft(draft: Draft) -> str:
    """TOML text of ``draft`` in the layout of ``boards/*.toml`` with ``REVIEW`` comments."""
    notes = _notes(draft)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = [
        f"# Board profile drafted by `josev-hal probe` ({stamp}).",
        "# Lines marked REVIEW are placeholders or assumptions a probe cannot verify: fix them before",
        "# running a station on this file. `josev-hal check FILE` lists what is still missing.",
        "# Probing again with --draft-profile FILE merges into this file (values kept, comments rewritten).",
    ]
    for name in [*_TOP_ORDER, *(k for k in draft if k not in (*_TOP_ORDER, "buses", "evse", "plugins"))]:
        table = draft.get(name)
        if table is None:
            continue
        if not isinstance(table, dict):
            out += ["", _line(name, table, None)]
            continue
        header = f"[{_key(name)}]"
        out += ["", f"{header}  # {notes[name]}" if name in notes else header]
        out += [_line(k, v, notes.get(f"{name}.{k}")) for k, v in table.items()]
    for bus_name, bus in draft.get("buses", {}).items():
        out += ["", f"[buses.{_key(bus_name)}]"]
        out += [_line(k, v, None) for k, v in bus.items()]
    for i, evse in enumerate(draft.get("evse", [])):
        base = f"evse[{i}]"
        out += ["", "[[evse]]"]
        for key, value in evse.items():
            if key in ("connectors", "devices") or (key in _EVSE_TABLES and isinstance(value, dict)):
                continue
            out.append(_line(key, value, notes.get(f"{base}.{key}")))
        for key in _EVSE_TABLES:
            if isinstance(evse.get(key), dict):
                header = f"  [evse.{key}]"
                note = notes.get(f"{base}.{key}")
                out += ["", f"{header}  # {note}" if note else header]
                out += [_line(k, v, None, "  ") for k, v in evse[key].items()]
        for j, connector in enumerate(evse.get("connectors", [])):
            note = notes.get(f"{base}.connectors[{j}]")
            out += ["", f"  [[evse.connectors]]  # {note}" if note else "  [[evse.connectors]]"]
            out += [_line(k, v, None, "  ") for k, v in connector.items()]
        for role, device in evse.get("devices", {}).items():
            note = notes.get(f"{base}.devices.{role}")
            header = f"  [evse.devices.{_key(role)}]"
            out += ["", f"{header}  # {note}" if note else header]
            hex_address = f"{base}.devices.{role}.hex" in notes
            keys = [
                *(k for k in _DEVICE_ORDER if k in device),
                *(k for k in device if k not in _DEVICE_ORDER),
            ]
            out += [_line(k, device[k], None, "  ", hex_ints=hex_address and k == "address") for k in keys]
    for plugin, table in draft.get("plugins", {}).items():
        out += ["", f"[plugins.{_key(plugin)}]"]
        out += [_line(k, v, None) for k, v in table.items()]
    return "\n".join(out) + "\n"


def summary_lines(found: Iterable[Found]) -> list[str]:
    """``model @address`` per finding, for messages."""
    return [f"{f.model or 'unknown'} @{f.address}" for f in found]
