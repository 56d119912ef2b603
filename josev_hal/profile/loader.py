"""Loading a board profile: TOML text -> :class:`~josev_hal.profile.format.Profile`.

:func:`load_profile` decodes a file (merging the bases it ``extends``, :mod:`josev_hal.profile.layers`),
converts each ``[buses.<name>]`` table into its bus kind's ``Options`` and each device's ``options``
into its driver's ``Options``, runs the checks (:mod:`josev_hal.profile.checks`: drivers exist,
buses match, roles complete, ids unique, addresses free ...) and lets plugins check their own
``[plugins.<name>]`` tables through ``hal_board_loaded``. Every problem of a file is collected and
raised together as one :class:`~josev_hal.errors.ProfileError`, one ``file:line: key.path: reason``
line each (:mod:`josev_hal.profile.lines`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev_hal.devices import Role
from josev_hal.errors import ProfileError
from josev_hal.profile.checks import Checks
from josev_hal.profile.convert import FAILED, convert_struct, suggest
from josev_hal.profile.format import BusSpec, DeviceSpec, EvseSpec, Profile
from josev_hal.profile.layers import EXTENDS_KEY, decode_toml, merge_layers, read_layers
from josev_hal.profile.lines import KeyPath, Origins, Problems, format_problems, show

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = ["check_profile", "load_profile", "load_profile_text"]


class _Loader:
    """One load: the raw document, the plugin manager and the problems found so far."""

    def __init__(self, raw: dict[str, Any], pm: HalPluginManager) -> None:
        self.raw = raw
        self.pm = pm
        self.problems = Problems()
        #: Findings that do not stop a board from running (placeholders, malformed EVSE ids);
        #: `josev-hal check --strict` fails on them.
        self.warnings = Problems()
        #: Every device whose driver and options converted, for the board-wide cross-checks.
        self.devices: list[tuple[KeyPath, DeviceSpec]] = []
        self.checks = Checks(pm, self.problems, self.warnings)

    def load(self) -> Profile | None:
        profile = convert_struct(
            self.raw,
            Profile,
            (),
            self.problems,
            special={"buses": self._buses, "evse": self._evses, "plugins": self._plugins},
        )
        # Cross-checks run on whatever converted, so that one wrong field elsewhere does not
        # hide a duplicate EVSE id or two devices on one pin.
        self.checks.identities(self.raw)
        self.checks.hardware(self.raw, self.devices)
        self.checks.placeholders(self.raw, ())
        if profile is FAILED:
            return None
        assert isinstance(profile, Profile)
        self.checks.profile(profile)
        return profile

    # -- special tables ----------------------------------------------------------------------

    def _buses(self, raw: Any, path: KeyPath) -> Any:
        if not isinstance(raw, dict):
            self.problems.add(path, f"expected a table, got {show(raw)}")
            return FAILED
        buses: dict[str, BusSpec] = {}
        ok = True
        for name, table in raw.items():
            bus_path = (*path, name)
            if not isinstance(table, dict):
                self.problems.add(bus_path, f"expected a table, got {show(table)}")
                ok = False
                continue
            kind = table.get("kind")
            if not isinstance(kind, str):
                reason = "missing required key" if kind is None else f"expected str, got {show(kind)}"
                self.problems.add((*bus_path, "kind"), reason)
                ok = False
                continue
            bus_cls = self.pm.bus_kinds.get(kind)
            if bus_cls is None:
                failure = self.pm.failure_for_bus_kind(kind)
                known = sorted(self.pm.bus_kinds)
                self.problems.add(
                    (*bus_path, "kind"),
                    f"bus kind {kind!r} is not available: {failure.message()}"
                    if failure is not None
                    else f"unknown bus kind {kind!r}{suggest(kind, known)}; "
                    f"known: {', '.join(known) or 'none'}" + _failed_plugins_note(self.pm),
                )
                ok = False
                continue
            options = {k: v for k, v in table.items() if k != "kind"}
            converted = convert_struct(options, bus_cls.Options, bus_path, self.problems)
            if converted is FAILED:
                ok = False
                continue
            buses[name] = BusSpec(kind=kind, options=converted)
        return buses if ok else FAILED

    def _plugins(self, raw: Any, path: KeyPath) -> Any:
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            self.problems.add(path, "expected tables [plugins.<plugin name>]")
            return FAILED
        return raw

    def _evses(self, raw: Any, path: KeyPath) -> Any:
        if not isinstance(raw, list):
            self.problems.add(path, f"expected an array of tables [[evse]], got {show(raw)}")
            return FAILED
        evses = [self._evse(table, (*path, i)) for i, table in enumerate(raw)]
        return FAILED if any(e is FAILED for e in evses) else evses

    def _evse(self, raw: Any, path: KeyPath) -> Any:
        return convert_struct(raw, EvseSpec, path, self.problems, special={"devices": self._devices})

    def _devices(self, raw: Any, path: KeyPath) -> Any:
        if not isinstance(raw, dict):
            self.problems.add(path, f"expected a table, got {show(raw)}")
            return FAILED
        devices: dict[Role, DeviceSpec] = {}
        ok = True
        roles = [r.value for r in Role]
        for key, table in raw.items():
            dev_path = (*path, key)
            if key not in roles:
                self.problems.add(dev_path, f"unknown role{suggest(key, roles)}; roles: {', '.join(roles)}")
                ok = False
                continue
            role = Role(key)
            spec = convert_struct(
                table, DeviceSpec, dev_path, self.problems, special={"options": lambda v, p: v}
            )
            if spec is FAILED:
                ok = False
                continue
            if not self._device_driver(role, spec, dev_path):
                ok = False
                continue
            devices[role] = spec
            self.devices.append((dev_path, spec))
        return devices if ok else FAILED

    def _device_driver(self, role: Role, spec: DeviceSpec, path: KeyPath) -> bool:
        """Resolve the driver, check its role, convert ``options``; False on problems."""
        driver = self.pm.drivers.get(spec.driver)
        # the station meter is served by any meter driver
        role = Role.METER if role in (Role.STATION_METER, Role.MAINS_METER) else role
        role = Role.CONTACTOR if role is Role.PHASE_SWITCH else role
        if driver is None:
            failure = self.pm.failure_for_driver(spec.driver)
            if failure is not None:
                self.problems.add(
                    (*path, "driver"), f"driver {spec.driver!r} is not available: {failure.message()}"
                )
                return False
            known = sorted(n for n, d in self.pm.drivers.items() if d.role is role)
            self.problems.add(
                (*path, "driver"),
                f"unknown driver {spec.driver!r}{suggest(spec.driver, list(self.pm.drivers))}; "
                f"drivers for role {role.value}: {', '.join(known) or 'none installed'}"
                + _failed_plugins_note(self.pm),
            )
            return False
        if driver.role is not role:
            self.problems.add(
                (*path, "driver"),
                f"driver {spec.driver!r} implements role {driver.role.value!r}, not {role.value!r}",
            )
            return False
        options = convert_struct(spec.options, driver.Options, (*path, "options"), self.problems)
        if options is FAILED:
            return False
        spec.options = options
        return True


def _failed_plugins_note(pm: HalPluginManager) -> str:
    """For "unknown driver": plugins that failed to load might have provided it."""
    if not pm.failures:
        return ""
    return " (not loaded because they failed: " + "; ".join(f.message() for f in pm.failures) + ")"


def load_profile_text(
    text: str, source_name: str, pm: HalPluginManager, *, warnings: list[str] | None = None
) -> Profile:
    """Decode and check a profile given as text (``source_name`` is used in messages).

    ``warnings``, when given, receives the findings that do not stop a board (placeholders left
    by a draft, a malformed ISO 15118 EVSE ID) as ``file:line: key.path: warning: ...`` lines.
    """
    raw = decode_toml(text, source_name)
    origins: Origins | None = None
    if EXTENDS_KEY in raw:
        # A variant: merge it over its base(s) and validate the result as one profile.
        raw, origins = merge_layers(read_layers(raw, text, source_name))
    loader = _Loader(raw, pm)
    profile = loader.load()
    if profile is not None and not loader.problems:
        loader.checks.plugins(profile, source_name)
    if warnings is not None:
        found = Problems()
        for path, reason in loader.warnings.items:
            found.add(path, f"warning: {reason}")
        warnings.extend(format_problems(source_name, text, found, origins))
    if loader.problems or profile is None:
        raise ProfileError(format_problems(source_name, text, loader.problems, origins), path=source_name)
    return profile


def load_profile(path: str | Path, pm: HalPluginManager, *, warnings: list[str] | None = None) -> Profile:
    """Load and check the board profile at ``path``; raise :class:`ProfileError` listing every problem
    (``warnings``: see :func:`load_profile_text`)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError([f"{source}: cannot read: {exc}"], path=source) from exc
    return load_profile_text(text, source, pm, warnings=warnings)


def check_profile(path: str | Path, pm: HalPluginManager) -> list[str]:
    """Every problem of the profile at ``path`` (``[]`` when it is valid), as ``josev-hal check``
    prints them."""
    try:
        load_profile(path, pm)
    except ProfileError as exc:
        return list(exc.problems)
    return []
