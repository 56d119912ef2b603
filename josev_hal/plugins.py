"""The plugin manager: built-in plugins, entry-point plugins, and the merged registries.

``get_plugin_manager()`` is the only way the rest of josev-hal gets plugins. It has no import-time
side effects; every call builds a fresh manager:

1. the modules in :data:`BUILTIN_PLUGINS` (default policies, core bus kinds) are registered;
2. unless autoload is off, the entry points of group ``josev_hal`` of every installed
   distribution are discovered. A plugin that declares what it provides -- its driver names in
   group ``josev_hal.drivers`` and its bus kinds in ``josev_hal.bus_kinds`` (name = plugin name)
   -- is **imported on first use**: when a profile names one of its drivers or bus kinds, has a
   ``[plugins.<name>]`` table, or something lists every driver. A board that uses the Modbus
   meter never imports the CAN plugin. A plugin without such a declaration is imported at once.
   First-party driver plugins under ``plugins/`` load exactly like third-party ones;
3. ``extra_plugins`` (objects or modules, e.g. from tests or an embedding application) are
   registered last, so their ``firstresult`` answers win;
4. ``check_pending()`` rejects implementations of hooks that do not exist (typos).

An **entry-point plugin that fails** (import error, invalid hooks, a broken
``hal_register_drivers``, a driver name another plugin already registered) disables only itself:
it is recorded in :attr:`HalPluginManager.failures`, logged once as a warning naming the plugin,
its entry point and distribution and :data:`AUTOLOAD_ENV`, and everything else keeps working.
Only a board that needs one of its drivers fails, with that plugin's error in the profile
problem. Failures of built-ins and ``extra_plugins`` are programming errors of josev-hal or the
embedding application and raise :class:`~josev_hal.errors.PluginError`.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import inspect
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any

import msgspec
import pluggy

from josev_hal import __version__
from josev_hal.buses import Bus
from josev_hal.devices import Driver, Role
from josev_hal.errors import PluginError
from josev_hal.hookspecs import PROJECT, HalSpec

__all__ = [
    "AUTOLOAD_ENV",
    "BUILTIN_PLUGINS",
    "BUS_KIND_INDEX_GROUP",
    "DRIVER_INDEX_GROUP",
    "ENTRY_POINT_GROUP",
    "HalPluginManager",
    "PluginFailure",
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
#: ``<driver name> = <plugin name>``: which plugin (of the same distribution) provides a driver,
#: so the plugin can be imported only when a profile names the driver.
DRIVER_INDEX_GROUP = "josev_hal.drivers"
#: ``<bus kind> = <plugin name>``, like :data:`DRIVER_INDEX_GROUP` for bus kinds.
BUS_KIND_INDEX_GROUP = "josev_hal.bus_kinds"

#: Set to ``1`` to skip entry-point plugins (built-ins still load).
AUTOLOAD_ENV = "JOSEV_HAL_DISABLE_PLUGIN_AUTOLOAD"

_DISTRIBUTION = "josev-hal"


def autoload_enabled() -> bool:
    """Whether entry-point plugins load, judged from :data:`AUTOLOAD_ENV`."""
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


class PluginInfo(msgspec.Struct, frozen=True):
    """One registered plugin, as ``josev-hal plugins`` lists it."""

    name: str
    distribution: str | None
    version: str | None
    entry_point: str | None
    hooks: list[str] = msgspec.field(default_factory=list)
    drivers: list[str] = msgspec.field(default_factory=list)
    bus_kinds: list[str] = msgspec.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


class PluginFailure(msgspec.Struct, frozen=True):
    """An entry-point plugin that could not be loaded and is disabled."""

    name: str
    distribution: str | None
    version: str | None
    entry_point: str | None
    error: str

    def message(self) -> str:
        origin = _describe_origin(_Origin(self.distribution, self.version, self.entry_point))
        fix = f"fix or uninstall {self.distribution}" if self.distribution else "fix or uninstall it"
        return (
            f"plugin {self.name!r}{origin} failed to load and is disabled: {self.error} "
            f"({fix}; {AUTOLOAD_ENV}=1 starts without any entry-point plugin)"
        )


class _Deferred(msgspec.Struct):
    """An entry-point plugin discovered but not imported yet, with what it says it provides."""

    entry_point: md.EntryPoint
    origin: _Origin
    drivers: set[str] = msgspec.field(default_factory=set)
    bus_kinds: set[str] = msgspec.field(default_factory=set)


class _Origin(msgspec.Struct, frozen=True):
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
        self._deferred: dict[str, _Deferred] = {}
        #: Entry-point plugins that failed and are disabled, in the order they failed.
        self.failures: list[PluginFailure] = []
        self._failed_names: dict[str, PluginFailure] = {}
        # What failed plugins declared (so "needs driver x" can name the plugin that had it).
        self._failed_drivers: dict[str, str] = {}
        self._failed_bus_kinds: dict[str, str] = {}

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
        """Reject implementations of unknown hooks, naming the plugin that has them. An
        entry-point plugin with such a typo is disabled (recorded in :attr:`failures`)."""
        while True:
            try:
                super().check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.get_name(exc.plugin) or repr(exc.plugin)
                origin = self._origins.get(name, _Origin(None, None, None))
                error = PluginError(
                    f"plugin {name!r}{_describe_origin(origin)} is invalid: {exc}",
                    plugin=name,
                    distribution=origin.distribution,
                )
                if origin.entry_point is None:
                    raise error from exc
                self._disable(name, origin, f"invalid: {exc}")

    # -- failures --------------------------------------------------------------------------------

    def _disable(self, name: str, origin: _Origin, error: str) -> None:
        """Record an entry-point plugin as failed and take it out of every registry."""
        if self.get_plugin(name) is not None:
            self.unregister(name=name)
        deferred = self._deferred.pop(name, None)
        if deferred is not None:
            for driver in deferred.drivers:
                self._failed_drivers.setdefault(driver, name)
            for kind in deferred.bus_kinds:
                self._failed_bus_kinds.setdefault(kind, name)
        failure = PluginFailure(name, origin.distribution, origin.version, origin.entry_point, error)
        self.failures.append(failure)
        self._failed_names[name] = failure
        log.warning("%s", failure.message())

    def failure_for_driver(self, driver_name: str) -> PluginFailure | None:
        """The failure of the plugin that declared ``driver_name``, if it failed."""
        name = self._failed_drivers.get(driver_name)
        return self._failed_names.get(name) if name is not None else None

    def failure_for_bus_kind(self, kind: str) -> PluginFailure | None:
        name = self._failed_bus_kinds.get(kind)
        return self._failed_names.get(name) if name is not None else None

    # -- lazy loading ----------------------------------------------------------------------------

    def defer(self, name: str, deferred: _Deferred) -> None:
        """Remember an entry-point plugin to import on first use."""
        self._deferred[name] = deferred

    @property
    def deferred(self) -> list[str]:
        """Names of entry-point plugins discovered but not imported (yet)."""
        return list(self._deferred)

    def load_plugin(self, name: str) -> bool:
        """Import and register the deferred plugin ``name``; False when it failed (then it is in
        :attr:`failures`) or there is no such deferred plugin."""
        deferred = self._deferred.get(name)
        if deferred is None:
            return self.get_plugin(name) is not None
        ep, origin = deferred.entry_point, deferred.origin
        try:
            plugin = ep.load()
        except Exception as exc:
            self._disable(name, origin, f"{type(exc).__name__}: {exc}")
            return False
        del self._deferred[name]
        try:
            self.register_plugin(plugin, name, origin)
        except PluginError as exc:
            self._disable(name, origin, str(exc.__cause__ or exc))
            return False
        log.debug(
            "plugin loaded name=%s distribution=%s version=%s", name, origin.distribution, origin.version
        )
        self.check_pending()
        # Validate its contributions now (bad classes, duplicate names), not at some later lookup.
        self._loaded("driver")
        self._loaded("bus kind")
        return self.get_plugin(name) is not None

    def load_all(self) -> None:
        """Import every deferred plugin (listing all drivers needs them all)."""
        for name in list(self._deferred):
            self.load_plugin(name)
        self._loaded("driver")
        self._loaded("bus kind")

    def _load_provider(self, what: str, key: str) -> bool:
        """Import the deferred plugin declaring driver/bus kind ``key``; False when none does."""
        for name, deferred in list(self._deferred.items()):
            provides = deferred.drivers if what == "driver" else deferred.bus_kinds
            if key in provides:
                self.load_plugin(name)
                return True
        return False

    # -- registries ------------------------------------------------------------------------------

    @property
    def drivers(self) -> Mapping[str, type[Driver]]:
        """Every driver class by name, merged over all plugins. Looking one name up imports only
        the plugin that provides it; iterating imports every deferred plugin."""
        return _LazyRegistry(self, "driver")

    @property
    def bus_kinds(self) -> Mapping[str, type[Bus]]:
        """Every bus class by kind, merged over all plugins (lazy like :attr:`drivers`)."""
        return _LazyRegistry(self, "bus kind")

    def _loaded(self, what: str) -> dict[str, Any]:
        """The registry over the plugins imported so far."""
        if what == "driver":
            if self._drivers is None:
                self._drivers, self._driver_plugins = self._collect("hal_register_drivers", "driver", Driver)
            return self._drivers
        if self._bus_kinds is None:
            self._bus_kinds, self._bus_kind_plugins = self._collect("hal_register_bus_kinds", "bus kind", Bus)
        return self._bus_kinds

    def driver_plugin(self, driver_name: str) -> str | None:
        """Name of the plugin that registered driver ``driver_name``."""
        self.drivers.get(driver_name)
        return self._driver_plugins.get(driver_name)

    def bus_kind_plugin(self, kind: str) -> str | None:
        """Name of the plugin that registered bus kind ``kind``."""
        self.bus_kinds.get(kind)
        return self._bus_kind_plugins.get(kind)

    def _collect(self, hook_name: str, what: str, base: type) -> tuple[dict[str, Any], dict[str, str]]:
        # An entry-point plugin whose contribution is broken is disabled and the collection starts
        # over without it; anything else raises.
        while True:
            try:
                return self._collect_once(hook_name, what, base)
            except _Broken as broken:
                if broken.origin.entry_point is None:
                    raise broken.error from broken.error.__cause__
                self._disable(broken.plugin, broken.origin, str(broken.error))

    def _collect_once(self, hook_name: str, what: str, base: type) -> tuple[dict[str, Any], dict[str, str]]:
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
                raise _broken(
                    plugin_name,
                    origin,
                    f"plugin {plugin_name!r}{_describe_origin(origin)}: {hook_name}() failed: "
                    f"{type(exc).__name__}: {exc}",
                    exc,
                ) from exc
            if contributed is None:
                continue
            if not isinstance(contributed, Mapping):
                raise _broken(
                    plugin_name,
                    origin,
                    f"plugin {plugin_name!r}: {hook_name}() must return a mapping of name -> class, "
                    f"got {type(contributed).__name__}",
                )
            for key, cls in contributed.items():
                problem = _check_entry(key, cls, base, what)
                if problem:
                    raise _broken(plugin_name, origin, f"plugin {plugin_name!r}: {what} {key!r}: {problem}")
                if key in merged:
                    victim = self._duplicate_victim(owners[key], plugin_name)
                    raise _broken(
                        victim,
                        self._origins.get(victim, _Origin(None, None, None)),
                        f"{what} {key!r} is registered by two plugins: {owners[key]!r} "
                        f"({merged[key].__module__}.{merged[key].__qualname__}) and {plugin_name!r} "
                        f"({cls.__module__}.{cls.__qualname__}); uninstall or rename one",
                    )
                merged[key] = cls
                owners[key] = plugin_name
        return merged, owners

    def _duplicate_victim(self, first: str, second: str) -> str:
        """Which of two plugins registering the same name to disable: never josev-hal's own nor a
        built-in/extra plugin when the other is a third-party entry point (so the outcome does not
        depend on which plugin happened to be imported first); otherwise the later one."""

        def third_party(name: str) -> bool:
            origin = self._origins.get(name, _Origin(None, None, None))
            return origin.entry_point is not None and origin.distribution != _DISTRIBUTION

        if third_party(first) and not third_party(second):
            return first
        return second

    # -- introspection ---------------------------------------------------------------------------

    def plugin_info(self) -> list[PluginInfo]:
        """Every registered plugin with its origin, the hooks it implements and what it registered
        (imported plugins only: call :meth:`load_all` first to see every installed one)."""
        drivers_by_plugin: dict[str, list[str]] = {}
        for driver, owner in sorted(self._owners(self._loaded("driver"), self._driver_plugins).items()):
            drivers_by_plugin.setdefault(owner, []).append(driver)
        kinds_by_plugin: dict[str, list[str]] = {}
        for kind, owner in sorted(self._owners(self._loaded("bus kind"), self._bus_kind_plugins).items()):
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


class _Broken(Exception):
    """A plugin's contribution to a registry is unusable (carries the PluginError to report)."""

    def __init__(self, plugin: str, origin: _Origin, error: PluginError) -> None:
        super().__init__(str(error))
        self.plugin = plugin
        self.origin = origin
        self.error = error


def _broken(plugin: str, origin: _Origin, message: str, cause: BaseException | None = None) -> _Broken:
    error = PluginError(message, plugin=plugin, distribution=origin.distribution)
    error.__cause__ = cause
    return _Broken(plugin, origin, error)


class _LazyRegistry(Mapping[str, Any]):
    """``pm.drivers`` / ``pm.bus_kinds``: a lookup imports only the plugin that declares the name
    (or, for an undeclared name, every deferred plugin); iteration imports every deferred plugin."""

    def __init__(self, pm: HalPluginManager, what: str) -> None:
        self._pm = pm
        self._what = what

    def __getitem__(self, key: str) -> Any:
        loaded = self._pm._loaded(self._what)
        if key in loaded:
            return loaded[key]
        self._pm._load_provider(self._what, key)
        loaded = self._pm._loaded(self._what)
        if key not in loaded:
            # The declaration is only a shortcut: a name it does not list may still come from a
            # plugin that declares nothing or declares incompletely, so a miss imports the rest.
            self._pm.load_all()
            loaded = self._pm._loaded(self._what)
        return loaded[key]

    def __iter__(self) -> Iterator[str]:
        self._pm.load_all()
        return iter(dict(self._pm._loaded(self._what)))

    def __len__(self) -> int:
        self._pm.load_all()
        return len(self._pm._loaded(self._what))


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


def _plugin_entry_points() -> dict[md.Distribution, list[md.EntryPoint]]:
    """The ``josev_hal`` entry points by distribution, the first distribution on the path winning
    when one is installed twice (as ``importlib`` itself resolves imports).

    ``importlib.metadata.entry_points`` dedups by the normalised name it reads from the
    ``.dist-info`` directory name; parsing every installed distribution's METADATA instead cost
    25-40 ms of every start-up (#17). Only the distributions that carry a plugin get theirs read."""
    by_dist: dict[md.Distribution, list[md.EntryPoint]] = {}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None:
            by_dist.setdefault(ep.dist, []).append(ep)
    return by_dist


def _discover_entry_points(pm: HalPluginManager) -> None:
    """Defer every ``josev_hal`` entry point that declares its drivers/bus kinds; import the
    others now. A failure disables that plugin only (see :meth:`HalPluginManager._disable`)."""
    eager: list[str] = []
    for dist, eps in _plugin_entry_points().items():
        meta = dist.metadata  # parsed anew on every access (dist.version too): read it once
        dist_name = meta["Name"] or "?"
        dist_version = meta["Version"]
        declared_drivers: dict[str, set[str]] = {}
        declared_kinds: dict[str, set[str]] = {}
        for ep in dist.entry_points:
            if ep.group == DRIVER_INDEX_GROUP:
                declared_drivers.setdefault(ep.value.strip(), set()).add(ep.name)
            elif ep.group == BUS_KIND_INDEX_GROUP:
                declared_kinds.setdefault(ep.value.strip(), set()).add(ep.name)
        for ep in eps:
            origin = _Origin(dist_name, dist_version, f"{ep.name} = {ep.value}")
            if pm.has_plugin(ep.name) or ep.name in pm.deferred:
                # Same name as a built-in or an earlier plugin: refusing beats silently shadowing.
                pm._disable(ep.name, origin, "the plugin name is already taken by another plugin")
                continue
            deferred = _Deferred(
                ep, origin, declared_drivers.get(ep.name, set()), declared_kinds.get(ep.name, set())
            )
            pm.defer(ep.name, deferred)
            if not (deferred.drivers or deferred.bus_kinds):
                eager.append(ep.name)  # nothing declared: only importing it tells what it does
    for name in eager:
        pm.load_plugin(name)


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
    ``True``/``False`` force it. An entry-point plugin that fails is disabled and recorded in
    ``pm.failures`` (see the module docstring); a built-in or an ``extra_plugins`` entry that
    fails to import, is invalid, implements an unknown hook, or registers a duplicate driver/bus
    name raises :class:`~josev_hal.errors.PluginError`.
    """
    pm = HalPluginManager()
    _register_builtins(pm, BUILTIN_PLUGINS)
    if autoload is None:
        autoload = autoload_enabled()
    if autoload:
        _discover_entry_points(pm)
    for plugin in extra_plugins:
        pm.register_plugin(plugin, _plugin_name(plugin))
    pm.check_pending()
    # Build the registries of what is imported now, so that duplicates and invalid classes of
    # built-ins and extra plugins surface here, not in the middle of loading a profile.
    pm._loaded("driver")
    pm._loaded("bus kind")
    return pm
