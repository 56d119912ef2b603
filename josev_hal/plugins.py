"""The plugin manager: built-in plugins, entry-point plugins, and the merged registries.

``get_plugin_manager()`` is the only way the rest of josev-hal gets plugins. It has no import-time
side effects; every call builds a fresh manager:

1. the modules in :data:`BUILTIN_PLUGINS` (default policies, core bus kinds) are registered;
2. unless autoload is off, every entry point of group ``josev_hal`` of every installed
   distribution is loaded and registered under the entry point's name -- first-party driver
   plugins under ``plugins/`` load exactly like third-party ones;
3. ``extra_plugins`` (objects or modules, e.g. from tests or an embedding application) are
   registered last, so their ``firstresult`` answers win;
4. ``check_pending()`` rejects implementations of hooks that do not exist (typos).

Any failure becomes a :class:`~josev_hal.errors.PluginError` that names the plugin, its entry
point and its distribution, so ``josev-hal plugins`` / ``check`` can say what to uninstall or fix.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import inspect
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from josev_hal import __version__
from josev_hal.buses import Bus
from josev_hal.devices import Driver, Role
from josev_hal.errors import PluginError
from josev_hal.hookspecs import PROJECT, HalSpec

__all__ = [
    "AUTOLOAD_ENV",
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "HalPluginManager",
    "PluginInfo",
    "autoload_enabled",
    "call_each",
    "get_plugin_manager",
]

log = logging.getLogger(__name__)

#: Modules registered as default plugins by every plugin manager (in this order).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "josev_hal.builtin.policies",
    "josev_hal.buses.can",
    "josev_hal.buses.serial",
    "josev_hal.buses.i2c",
)

#: The entry-point group third-party (and first-party) plugins register under.
ENTRY_POINT_GROUP = "josev_hal"

#: Set to ``1`` to skip entry-point plugins (built-ins still load).
AUTOLOAD_ENV = "JOSEV_HAL_DISABLE_PLUGIN_AUTOLOAD"

_DISTRIBUTION = "josev-hal"


def autoload_enabled() -> bool:
    """Whether entry-point plugins load, judged from :data:`AUTOLOAD_ENV`."""
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One registered plugin, as ``josev-hal plugins`` lists it."""

    name: str
    distribution: str | None
    version: str | None
    entry_point: str | None
    hooks: list[str] = field(default_factory=list)
    drivers: list[str] = field(default_factory=list)
    bus_kinds: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Origin:
    distribution: str | None
    version: str | None
    entry_point: str | None  # "name = module:attr"


class HalPluginManager(pluggy.PluginManager):
    """A pluggy manager with josev-hal's hook specs and the merged driver/bus registries."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(HalSpec)
        self._origins: dict[str, _Origin] = {}
        self._drivers: dict[str, type[Driver]] | None = None
        self._driver_plugins: dict[str, str] = {}
        self._bus_kinds: dict[str, type[Bus]] | None = None
        self._bus_kind_plugins: dict[str, str] = {}

    # -- registration ----------------------------------------------------------------------------

    def register_plugin(self, plugin: object, name: str, origin: _Origin | None = None) -> None:
        """Register ``plugin`` under ``name``, turning pluggy's validation errors into PluginError."""
        origin = origin or _Origin(None, None, None)
        try:
            self.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(
                f"plugin {name!r}{_describe_origin(origin)} is invalid: {exc}",
                plugin=name,
                distribution=origin.distribution,
            ) from exc
        self._origins[name] = origin
        self._invalidate()

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        result = super().unregister(plugin=plugin, name=name)
        self._invalidate()
        return result

    def _invalidate(self) -> None:
        self._drivers = None
        self._bus_kinds = None

    def check_pending(self) -> None:
        """Reject implementations of unknown hooks, naming the plugin that has them."""
        try:
            super().check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.get_name(exc.plugin) or repr(exc.plugin)
            origin = self._origins.get(name, _Origin(None, None, None))
            raise PluginError(
                f"plugin {name!r}{_describe_origin(origin)} is invalid: {exc}",
                plugin=name,
                distribution=origin.distribution,
            ) from exc

    # -- registries ------------------------------------------------------------------------------

    @property
    def drivers(self) -> Mapping[str, type[Driver]]:
        """Every driver class by name, merged over all plugins."""
        if self._drivers is None:
            self._drivers, self._driver_plugins = self._collect("hal_register_drivers", "driver", Driver)
        return self._drivers

    @property
    def bus_kinds(self) -> Mapping[str, type[Bus]]:
        """Every bus class by kind, merged over all plugins."""
        if self._bus_kinds is None:
            self._bus_kinds, self._bus_kind_plugins = self._collect("hal_register_bus_kinds", "bus kind", Bus)
        return self._bus_kinds

    def driver_plugin(self, driver_name: str) -> str | None:
        """Name of the plugin that registered driver ``driver_name``."""
        self.drivers  # noqa: B018 - fill the registry
        return self._driver_plugins.get(driver_name)

    def bus_kind_plugin(self, kind: str) -> str | None:
        """Name of the plugin that registered bus kind ``kind``."""
        self.bus_kinds  # noqa: B018
        return self._bus_kind_plugins.get(kind)

    def _collect(self, hook_name: str, what: str, base: type) -> tuple[dict[str, Any], dict[str, str]]:
        merged: dict[str, Any] = {}
        owners: dict[str, str] = {}
        hook = getattr(self.hook, hook_name)
        # Call each implementation on its own (instead of ``hook()``) so every entry can be
        # attributed to the plugin that contributed it; get_hookimpls() is in registration order
        # (pluggy calls them in reverse).
        for impl in hook.get_hookimpls():
            plugin_name = impl.plugin_name
            origin = self._origins.get(plugin_name, _Origin(None, None, None))
            try:
                contributed = impl.function()
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin_name!r}{_describe_origin(origin)}: {hook_name}() failed: "
                    f"{type(exc).__name__}: {exc}",
                    plugin=plugin_name,
                    distribution=origin.distribution,
                ) from exc
            if contributed is None:
                continue
            if not isinstance(contributed, Mapping):
                raise PluginError(
                    f"plugin {plugin_name!r}: {hook_name}() must return a mapping of name -> class, "
                    f"got {type(contributed).__name__}",
                    plugin=plugin_name,
                    distribution=origin.distribution,
                )
            for key, cls in contributed.items():
                problem = _check_entry(key, cls, base, what)
                if problem:
                    raise PluginError(
                        f"plugin {plugin_name!r}: {what} {key!r}: {problem}",
                        plugin=plugin_name,
                        distribution=origin.distribution,
                    )
                if key in merged:
                    raise PluginError(
                        f"{what} {key!r} is registered by two plugins: {owners[key]!r} "
                        f"({merged[key].__module__}.{merged[key].__qualname__}) and {plugin_name!r} "
                        f"({cls.__module__}.{cls.__qualname__}); uninstall or rename one",
                        plugin=plugin_name,
                        distribution=origin.distribution,
                    )
                merged[key] = cls
                owners[key] = plugin_name
        return merged, owners

    # -- introspection ---------------------------------------------------------------------------

    def plugin_info(self) -> list[PluginInfo]:
        """Every registered plugin with its origin, the hooks it implements and what it registered."""
        drivers_by_plugin: dict[str, list[str]] = {}
        for driver, owner in sorted(self._owners(self.drivers, self._driver_plugins).items()):
            drivers_by_plugin.setdefault(owner, []).append(driver)
        kinds_by_plugin: dict[str, list[str]] = {}
        for kind, owner in sorted(self._owners(self.bus_kinds, self._bus_kind_plugins).items()):
            kinds_by_plugin.setdefault(owner, []).append(kind)
        infos: list[PluginInfo] = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:  # blocked
                continue
            origin = self._origins.get(name, _Origin(None, None, None))
            hooks = sorted(
                caller.name
                for caller in (self.get_hookcallers(plugin) or [])
                if caller.name.startswith("hal_")
            )
            infos.append(
                PluginInfo(
                    name=name,
                    distribution=origin.distribution,
                    version=origin.version,
                    entry_point=origin.entry_point,
                    hooks=hooks,
                    drivers=drivers_by_plugin.get(name, []),
                    bus_kinds=kinds_by_plugin.get(name, []),
                )
            )
        return infos

    @staticmethod
    def _owners(registry: Mapping[str, Any], owners: dict[str, str]) -> dict[str, str]:
        return {key: owners[key] for key in registry}


def _check_entry(key: object, cls: object, base: type, what: str) -> str | None:
    if not isinstance(key, str) or not key:
        return "the name must be a non-empty string"
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        return f"{cls!r} is not a subclass of {base.__module__}.{base.__qualname__}"
    if base is Driver:
        role = getattr(cls, "role", None)
        if not isinstance(role, Role):
            return f"{cls.__qualname__} does not derive from a role class (ControlPilot, Meter, ...)"
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            return f"{cls.__qualname__} leaves abstract methods unimplemented: {missing}"
    if base is Bus and not isinstance(getattr(cls, "kind", None), str):
        return f"{cls.__qualname__} does not set the class attribute 'kind'"
    return None


def _describe_origin(origin: _Origin) -> str:
    parts = []
    if origin.entry_point:
        parts.append(f"entry point {origin.entry_point!r}")
    if origin.distribution:
        parts.append(f"distribution {origin.distribution} {origin.version or ''}".rstrip())
    return f" ({', '.join(parts)})" if parts else ""


def _register_builtins(pm: HalPluginManager, modules: Iterable[str]) -> None:
    for module_name in modules:
        origin = _Origin(_DISTRIBUTION, __version__, None)
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # an import error in a built-in is a packaging bug; say which
            raise PluginError(
                f"built-in plugin {module_name!r} failed to import: {type(exc).__name__}: {exc}",
                plugin=module_name,
                distribution=_DISTRIBUTION,
            ) from exc
        pm.register_plugin(module, module_name, origin)


def _iter_entry_points() -> Iterable[tuple[md.EntryPoint, str, str]]:
    """``(entry point, distribution name, version)`` of group ``josev_hal``, first dist on the path
    winning when a distribution is found twice (as ``importlib`` itself resolves imports)."""
    seen_dists: set[str] = set()
    for dist in md.distributions():
        dist_name = dist.metadata["Name"] or "?"
        key = dist_name.lower().replace("_", "-")
        if key in seen_dists:
            continue
        seen_dists.add(key)
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                yield ep, dist_name, dist.version


def _load_entry_points(pm: HalPluginManager) -> None:
    for ep, dist_name, dist_version in _iter_entry_points():
        origin = _Origin(dist_name, dist_version, f"{ep.name} = {ep.value}")
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            # Same name as a built-in or an earlier plugin: refusing beats silently shadowing.
            raise PluginError(
                f"plugin name {ep.name!r}{_describe_origin(origin)} is already taken by another plugin",
                plugin=ep.name,
                distribution=dist_name,
            )
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {ep.name!r} failed to load{_describe_origin(origin)}: {type(exc).__name__}: {exc}",
                plugin=ep.name,
                distribution=dist_name,
            ) from exc
        pm.register_plugin(plugin, ep.name, origin)
        log.debug("plugin loaded name=%s distribution=%s version=%s", ep.name, dist_name, dist_version)


def _plugin_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    name = getattr(plugin, "name", None) or getattr(plugin, "__name__", None)
    if isinstance(name, str) and name:
        return name
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}@{id(plugin):x}"


def call_each(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call every implementation of a listen/lifecycle hook on its own, isolating failures.

    Used for ``hal_startup``, ``hal_shutdown``, ``hal_josev_update`` and ``hal_probe_lines``: one
    plugin raising is logged with its name and does not keep the others from running (a broken
    HMI plugin must never stop the station). Returns ``(plugin name, result)`` in call order.
    """
    hook = getattr(pm.hook, hook_name)
    results: list[tuple[str, Any]] = []
    # pluggy's own call order: last registered first, tryfirst/trylast respected.
    for impl in reversed(hook.get_hookimpls()):
        argnames = impl.argnames
        try:
            result = impl.function(*[kwargs[name] for name in argnames])
        except Exception:
            log.exception("plugin hook failed plugin=%s hook=%s", impl.plugin_name, hook_name)
            continue
        results.append((impl.plugin_name, result))
    return results


def get_plugin_manager(
    *, autoload: bool | None = None, extra_plugins: Iterable[object] = ()
) -> HalPluginManager:
    """Build a plugin manager: built-ins, entry-point plugins (unless disabled), ``extra_plugins``.

    ``autoload``: ``None`` follows the ``JOSEV_HAL_DISABLE_PLUGIN_AUTOLOAD`` environment variable,
    ``True``/``False`` force it. Raises :class:`~josev_hal.errors.PluginError` when a plugin fails
    to import, is invalid, implements an unknown hook, or registers a duplicate driver/bus name.
    """
    pm = HalPluginManager()
    _register_builtins(pm, BUILTIN_PLUGINS)
    if autoload is None:
        autoload = autoload_enabled()
    if autoload:
        _load_entry_points(pm)
    for plugin in extra_plugins:
        pm.register_plugin(plugin, _plugin_name(plugin))
    pm.check_pending()
    # Build the registries now so duplicates and invalid classes surface here, not later at
    # first use in the middle of loading a profile.
    pm.drivers  # noqa: B018
    pm.bus_kinds  # noqa: B018
    return pm
