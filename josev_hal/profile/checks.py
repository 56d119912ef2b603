"""What a profile must satisfy beyond its types: the semantic and board-wide checks.

:class:`Checks` records problems (the board does not run) and warnings (``josev-hal check
--strict`` fails on them) with their key paths; the loader turns them into ``file:line:`` text.
Some checks read the raw tables, so that they run even when another field did not convert (a type
error elsewhere must not hide two EVSEs with one id or two devices on one pin).
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

from josev_hal.devices import Driver, Role
from josev_hal.profile.convert import suggest
from josev_hal.profile.format import (
    CableKind,
    CpSettings,
    DeviceSpec,
    EvseKind,
    EvseSpec,
    Iso15118ConnectorType,
    PpSettings,
    Profile,
    Protection,
    Service,
    required_roles,
)
from josev_hal.profile.lines import KeyPath, Problems, format_path

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = ["ISO15118_EVSE_ID", "Checks"]


class Checks:
    """The checks of one load; they add to the loader's ``problems`` and ``warnings``."""

    def __init__(self, pm: HalPluginManager, problems: Problems, warnings: Problems) -> None:
        self.pm = pm
        self.problems = problems
        self.warnings = warnings

    def profile(self, profile: Profile) -> None:
        add = self.problems.add
        self._cp(profile.cp, ("cp",))
        self._pp(profile.pp)
        if profile.safety.cp_loss_shutdown is Protection.NONE:
            # IEC 61851-1 requires opening on CP loss; the HAL does it in any case, so "none"
            # would only be a false declaration.
            add(
                ("safety", "cp_loss_shutdown"),
                'must be "hardware" or "hal" (opening on CP loss is mandatory)',
            )
        if int(profile.operations.listen.rsplit(":", 1)[1]) > 65535:
            add(("operations", "listen"), "port must be 0..65535")
        if profile.meter.stale_after_s <= profile.meter.interval_s:
            add(("meter", "stale_after_s"), "must be greater than interval_s")
        if not profile.evse:
            add(("evse",), "a profile needs at least one [[evse]]")
        # Duplicate ids and addresses: _check_identities / _check_hardware (they run even when
        # the profile did not convert).
        for index, evse in enumerate(profile.evse):
            path: KeyPath = ("evse", index)
            if evse.cp is not None:
                self._cp(evse.cp, (*path, "cp"))
            self._evse(profile, evse, path)
            self._devices(profile, evse, path)
        for one in (Role.GRID_LIMIT, Role.MAINS_METER):
            holders = [i for i, e in enumerate(profile.evse) if one in e.devices]
            for index in holders[1:]:
                where = ("evse", index, "devices", one.value)
                add(where, f"a board has one {one.value} (also evse[{holders[0]}])")
        for index, e in enumerate(profile.evse):
            if e.phase_switching is not None and Role.PHASE_SWITCH not in e.devices:
                add(("evse", index, "phase_switching"), "needs a phase_switch device")
            if e.phase_switching is not None and e.phases != 3:
                add(("evse", index, "phase_switching"), "only for a three-phase EVSE (phases = 3)")
        roles = {role for e in profile.evse for role in e.devices}
        if profile.limits.site is not None and Role.MAINS_METER not in roles:
            add(("limits", "site"), "needs a mains_meter device (under one evse's devices)")
        if profile.limits.grid is not None and Role.GRID_LIMIT not in roles:
            add(("limits", "grid"), "needs a grid_limit device (under one evse's devices)")
        station_meters = [i for i, e in enumerate(profile.evse) if Role.STATION_METER in e.devices]
        for index in station_meters[1:]:
            add(
                ("evse", index, "devices", Role.STATION_METER.value),
                f"a board has one station meter (also evse[{station_meters[0]}])",
            )

    def _cp(self, cp: CpSettings, path: KeyPath) -> None:
        bands = [("state_f_v", cp.state_f_v), ("state_e_v", cp.state_e_v), ("state_d_v", cp.state_d_v)]
        bands += [("state_c_v", cp.state_c_v), ("state_b_v", cp.state_b_v), ("state_a_v", cp.state_a_v)]
        for name, (low, high) in bands:
            if low >= high:
                self.problems.add((*path, name), f"low ({low}) must be below high ({high})")
        for (name_lo, (_, hi_lo)), (name_hi, (lo_hi, _)) in itertools.pairwise(bands):
            if lo_hi < hi_lo:
                self.problems.add(
                    (*path, name_hi), f"overlaps {name_lo} (bands must be ordered F < E < D < C < B < A)"
                )

    def _pp(self, pp: PpSettings) -> None:
        windows = sorted(pp.windows, key=lambda w: w.min_ohm)
        for i, window in enumerate(pp.windows):
            if window.min_ohm >= window.max_ohm:
                self.problems.add(("pp", "windows", i), "min_ohm must be below max_ohm")
        for lower, upper in itertools.pairwise(windows):
            if upper.min_ohm < lower.max_ohm:
                self.problems.add(
                    ("pp", "windows"), f"windows for {lower.ampacity_a} A and {upper.ampacity_a} A overlap"
                )
        if windows and pp.fault_below_ohm > windows[0].min_ohm:
            self.problems.add(("pp", "fault_below_ohm"), "must not exceed the lowest window's min_ohm")
        if windows and pp.no_cable_above_ohm < windows[-1].max_ohm:
            self.problems.add(("pp", "no_cable_above_ohm"), "must not be below the highest window's max_ohm")

    def _evse(self, profile: Profile, evse: EvseSpec, path: KeyPath) -> None:
        add = self.problems.add
        if not evse.connectors:
            add((*path, "connectors"), "an EVSE needs at least one [[evse.connectors]]")
        allowed = {Service.AC, Service.AC_BPT} if evse.kind is EvseKind.AC else {Service.DC, Service.DC_BPT}
        seen: dict[int, int] = {}
        for ci, connector in enumerate(evse.connectors):
            cpath = (*path, "connectors", ci)
            if connector.id in seen:
                add(
                    (*cpath, "id"),
                    f"duplicate connector id {connector.id} (also connectors[{seen[connector.id]}])",
                )
            seen.setdefault(connector.id, ci)
            wrong = [s.value for s in connector.services if s not in allowed]
            if wrong:
                add((*cpath, "services"), f"{', '.join(wrong)} not possible on a {evse.kind.value} EVSE")
            if connector.iso15118_type.value.startswith("AC") != (evse.kind is EvseKind.AC):
                add((*cpath, "iso15118_type"), f"{connector.iso15118_type.value} on a {evse.kind.value} EVSE")
            if evse.kind is EvseKind.AC:
                single = connector.iso15118_type is Iso15118ConnectorType.AC_SINGLE_PHASE_CORE
                if single != (evse.phases == 1):
                    add(
                        (*cpath, "iso15118_type"),
                        f"{connector.iso15118_type.value} does not match phases = {evse.phases}",
                    )
            if connector.cable is CableKind.FIXED and connector.max_cable_current_a is None:
                add((*cpath, "max_cable_current_a"), "required for a fixed cable (there is no PP to read it)")
        if evse.kind is EvseKind.AC:
            if evse.max_current_a is None:
                add((*path, "max_current_a"), "required for an AC EVSE")
            elif evse.max_current_a < evse.min_current_a:
                add((*path, "max_current_a"), "must not be below min_current_a")
            if evse.dc is not None:
                add((*path, "dc"), "only for DC EVSEs")
        else:
            if evse.dc is None:
                add((*path, "dc"), "missing required table for a DC EVSE")
            else:
                if evse.dc.min_voltage_v >= evse.dc.max_voltage_v:
                    add((*path, "dc", "min_voltage_v"), "must be below max_voltage_v")
                if evse.dc.min_current_a >= evse.dc.max_current_a:
                    add((*path, "dc", "min_current_a"), "must be below max_current_a")
        for role in required_roles(evse, profile.safety):
            if role not in evse.devices:
                why = ""
                if role is Role.RCD:
                    why = ' (safety.rcd_trip = "hal")'
                elif role is Role.PROXIMITY_PILOT:
                    why = " (a socket connector needs the cable rating)"
                add((*path, "devices", role.value), f"missing device for required role {role.value!r}{why}")

    def _devices(self, profile: Profile, evse: EvseSpec, path: KeyPath) -> None:
        add = self.problems.add
        connector_ids = {c.id for c in evse.connectors}
        for role, device in evse.devices.items():
            dpath = (*path, "devices", role.value)
            driver = self.pm.drivers[device.driver]
            if device.connector is not None and device.connector not in connector_ids:
                add((*dpath, "connector"), f"no connector with id {device.connector} on this EVSE")
            if driver.bus_kind is None:
                if device.bus is not None:
                    add((*dpath, "bus"), f"driver {device.driver!r} does not use a bus")
            elif device.bus is None:
                add(
                    (*dpath, "bus"),
                    f"missing required key (driver {device.driver!r} needs a {driver.bus_kind} bus)",
                )
            elif device.bus not in profile.buses:
                known = list(profile.buses)
                add((*dpath, "bus"), f"no bus named {device.bus!r}{suggest(device.bus, known)} in [buses]")
            elif profile.buses[device.bus].kind != driver.bus_kind:
                add(
                    (*dpath, "bus"),
                    f"bus {device.bus!r} is {_a(profile.buses[device.bus].kind)} bus, "
                    f"driver {device.driver!r} needs {driver.bus_kind}",
                )
            if driver.requires_address and device.address is None:
                add((*dpath, "address"), f"missing required key (driver {device.driver!r} needs an address)")

    # -- cross-checks that run even when the profile did not convert (on the raw tables) --------

    def identities(self, raw: dict[str, Any]) -> None:
        """Unique EVSE ids and OCPP ids, read from the raw tables (a type error elsewhere in an
        EVSE must not hide that two EVSEs share an id); ISO 15118 EVSE id format (warning)."""
        evses = raw.get("evse")
        if not isinstance(evses, list):
            return
        seen_ids: dict[str, int] = {}
        seen_ocpp: dict[int, int] = {}
        for index, table in enumerate(evses):
            if not isinstance(table, dict):
                continue
            path: KeyPath = ("evse", index)
            evse_id, ocpp_id = table.get("id"), table.get("ocpp_id")
            if isinstance(evse_id, str) and evse_id:
                if evse_id in seen_ids:
                    self.problems.add(
                        (*path, "id"), f"duplicate EVSE id {evse_id!r} (also evse[{seen_ids[evse_id]}])"
                    )
                seen_ids.setdefault(evse_id, index)
                if not _placeholder(evse_id) and not ISO15118_EVSE_ID.fullmatch(evse_id):
                    self.warnings.add(
                        (*path, "id"),
                        f"{evse_id!r} is not an ISO 15118 EVSE ID (<country>*<operator>*E<outlet>, "
                        "e.g. DE*ABC*E0001; ISO 15118-2 Annex H)",
                    )
            if isinstance(ocpp_id, int) and not isinstance(ocpp_id, bool):
                if ocpp_id in seen_ocpp:
                    self.problems.add(
                        (*path, "ocpp_id"), f"duplicate ocpp_id {ocpp_id} (also evse[{seen_ocpp[ocpp_id]}])"
                    )
                seen_ocpp.setdefault(ocpp_id, index)

    def hardware(self, raw: dict[str, Any], devices: list[tuple[KeyPath, DeviceSpec]]) -> None:
        """What driver and bus setup would refuse, without hardware: each driver's
        :meth:`~josev_hal.devices.Driver.config_problems`, the bus kind's address range, and
        clashes across devices -- one address used by two devices that cannot share it, one
        pin or channel claimed twice (:meth:`~josev_hal.devices.Driver.claims`)."""
        raw_buses = raw.get("buses")
        bus_kinds: dict[str, object] = (
            {name: t.get("kind") for name, t in raw_buses.items() if isinstance(t, dict)}
            if isinstance(raw_buses, dict)
            else {}
        )
        used: dict[tuple[str, int], tuple[KeyPath, type[Driver]]] = {}
        claimed: dict[tuple[str, int, str, int], tuple[KeyPath, str]] = {}
        for dpath, device in devices:
            driver = self.pm.drivers.get(device.driver)
            if driver is None:
                continue
            for key, reason in driver.config_problems(device.options, device.address):
                self.problems.add((*dpath, *_split_plain(key)), reason)
            kind = bus_kinds.get(device.bus) if device.bus is not None else None
            bus_cls = self.pm.bus_kinds.get(kind) if isinstance(kind, str) else None
            if bus_cls is not None and device.address is not None:
                problem = bus_cls.address_problem(device.address)
                if problem:
                    self.problems.add((*dpath, "address"), problem)
            if device.bus is None:
                continue
            if device.address is not None:
                other = used.get((device.bus, device.address))
                if other is None:
                    used[(device.bus, device.address)] = (dpath, driver)
                elif not (driver.address_shareable and other[1].address_shareable):
                    self.problems.add(
                        (*dpath, "address"),
                        f"address {device.address} on bus {device.bus!r} is already used by "
                        f"{format_path(other[0])}",
                    )
            try:
                claims = driver.claims(device.options, device.address)
            except Exception as exc:  # a plugin's claims() must not take the check down
                self.problems.add((*dpath, "driver"), f"driver {device.driver!r}: claims() failed: {exc}")
                continue
            for claim in claims:
                slot = (device.bus, claim.address, claim.kind, claim.number)
                holder = claimed.get(slot)
                if holder is None:
                    claimed[slot] = (dpath, claim.key)
                elif holder[0] != dpath:
                    self.problems.add(
                        (*dpath, "options", claim.key),
                        f"{claim.kind} {claim.number} of the chip at 0x{claim.address:02x} on bus "
                        f"{device.bus!r} is already used by "
                        f"{format_path((*holder[0], 'options', holder[1]))}",
                    )
                else:
                    self.problems.add(
                        (*dpath, "options", claim.key),
                        f"{claim.kind} {claim.number} is also this device's {holder[1]}",
                    )

    def placeholders(self, value: object, path: KeyPath) -> None:
        """Values a draft left for a person to fill in (``CHANGE-ME``, ``XXX``): warnings."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.placeholders(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.placeholders(item, (*path, index))
        elif isinstance(value, str) and _placeholder(value):
            self.warnings.add(path, f"placeholder value {value!r}: replace it with the real one")

    def plugins(self, profile: Profile, source: str) -> None:
        # A plugin configured through [plugins.<name>] must see its table even when the board
        # uses none of its drivers (it was not imported yet).
        for name in profile.plugins:
            if name in self.pm.deferred:
                self.pm.load_plugin(name)
        for result in self.pm.hook.hal_board_loaded(profile=profile, source=source):
            for problem in result or ():
                key, sep, reason = str(problem).partition(": ")
                if sep:
                    self.problems.add(tuple(_split_plain(key)), reason)
                else:
                    self.problems.add(("plugins",), str(problem))


#: ISO 15118-2 Annex H / DIN SPEC 91286 EVSE ID: country code, optional ``*``, 3-character
#: operator id, optional ``*``, ``E`` and the outlet id (letters, digits, ``*``); at most 37
#: characters in all. ``ZZ00000`` is ISO 15118-2's value for "no EVSE ID".
ISO15118_EVSE_ID = re.compile(r"(?:[A-Z]{2}\*?[A-Z0-9]{3}\*?E[A-Z0-9][A-Z0-9*]{0,29}|ZZ00000)")
_PLACEHOLDER = re.compile(r"CHANGE-?ME|\bX{3,}\b|\*X{3}\*", re.IGNORECASE)


def _placeholder(text: str) -> bool:
    return bool(_PLACEHOLDER.search(text))


def _a(word: str) -> str:
    """``"an i2c"``, ``"a serial"``: the article as the word is spoken (i-two-c, es-cee ...)."""
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def _split_plain(dotted: str) -> list[str | int]:
    parts: list[str | int] = []
    for m in re.finditer(r"([^.\[\]]+)|\[(\d+)\]", dotted):
        parts.append(int(m.group(2)) if m.group(2) is not None else m.group(1))
    return parts
