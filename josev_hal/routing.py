"""The one routing table: which code answers each message Josev sends to the CS.

:data:`ROUTES` is a declarative map ``(message name, type) -> owner`` for every pair of the
contract that travels on ``josev/cs`` (``SPECS[...].incoming``). It is the only place routing is
decided: a component (the station core, a station function, the listen-only relay) hands its
handlers to a :class:`Router`, which registers each with the bridge only when the table names
that component as the pair's owner. Registration order no longer decides anything, and no
component learns from a ``ConfigError`` that someone else "already handles" a message.

Owners (:class:`RouteKind`):

* ``station`` -- the station core (:mod:`josev_hal.station.station`): the power path;
* ``function`` -- a station function module (``functions.reset`` ...);
* ``listener`` -- :mod:`josev_hal.functions.listen`: logged and offered to plugins
  (``hal_josev_update``), after the functions' own consumers;
* ``response`` -- the bridge's request matcher (a response resolves the CS's pending request);
* ``ignored`` -- ignored by design (the reason is in the row). Only such request/update rows may
  be claimed by a plugin (``hal_claim_messages``); a plugin claiming a row with any other owner
  makes start-up fail with an error naming the plugin and the owner.

Updates a component owns may also be heard by others (``Route.also``): the station core relays
its updates to plugins through :meth:`josev_hal.station.Station.add_update_listener`.

``check_table()`` runs at import (a contract change without a routing decision fails at once);
``josev-hal plugins --routes`` prints the table; ``docs/architecture.md`` explains it; the README's
per-message coverage table is checked against it by ``tests/test_routing.py``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

import msgspec

from josev_hal.errors import ConfigError, PluginError
from josev_hal.messages import SPECS, Message, MessageType, Payload

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = [
    "ROUTES",
    "Handler",
    "Registrar",
    "Route",
    "RouteKind",
    "Router",
    "Routes",
    "RoutingError",
    "check_table",
    "format_routes",
    "route",
]

log = logging.getLogger(__name__)

Handler = Callable[[Message], Payload | None]
"""A request handler returns the response payload; an update handler returns ``None``."""

Routes = Mapping[tuple[str, MessageType], Handler]
"""What one component hands to :meth:`Router.bind`: its handlers by ``(name, type)``."""

REQ = MessageType.REQUEST
UPD = MessageType.UPDATE
RSP = MessageType.RESPONSE


class RoutingError(ConfigError):
    """The routing table and the registrations disagree (see the message for both parties)."""


class RouteKind(enum.StrEnum):
    """What kind of owner a row has."""

    STATION = "station"
    FUNCTION = "function"
    LISTENER = "listener"
    RESPONSE = "response"
    IGNORED = "ignored"


class Route(msgspec.Struct, frozen=True):
    """One row: ``owner`` is the component name that binds the handler (``station``,
    ``functions.reset``, ``functions.listen``, ``bridge``, or ``-`` when ignored)."""

    name: str
    type: MessageType
    kind: RouteKind
    owner: str
    what: str
    also: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, MessageType]:
        return (self.name, self.type)

    @property
    def claimable(self) -> bool:
        """A plugin may claim the row (ignored by design, and a type the bridge dispatches)."""
        return self.kind is RouteKind.IGNORED and self.type is not RSP


def _station(name: str, type_: MessageType, what: str, *, also: tuple[str, ...] = ()) -> Route:
    return Route(name, type_, RouteKind.STATION, "station", what, also)


def _function(module: str, name: str, what: str) -> Route:
    return Route(name, REQ, RouteKind.FUNCTION, f"functions.{module}", what)


def _listened(name: str, what: str, *, also: tuple[str, ...] = ("plugins",)) -> Route:
    return Route(name, UPD, RouteKind.LISTENER, "functions.listen", what, also)


def _response(name: str) -> Route:
    return Route(name, RSP, RouteKind.RESPONSE, "bridge", "resolves the CS's pending request by id")


_PLUGINS = ("plugins",)

#: The table. Grouped by owner; ``check_table`` holds it to exactly the contract's incoming pairs.
ROUTES: tuple[Route, ...] = (
    # -- station core: the power path -----------------------------------------------------------
    _station("cs_parameters", REQ, "static station description from the profile"),
    _station("cs_status_and_limits", REQ, "status code and AC/DC limits of every EVSE"),
    _station("cp_pwm", REQ, "PWM duty through the interlock"),
    _station("cs_contactor_status", REQ, "the contactor's confirmed state"),
    _station("meter_values", REQ, "a fresh reading (EVSE, or the whole station without evse_id)"),
    _station("stop_charging", REQ, "PWM withdrawn, contactor opened"),
    _station("cable_check", REQ, "DC isolation check"),
    _station("power_electronics_setpoint", REQ, "DC power module set-point"),
    _station("hlc_charging", UPD, "ISO 15118 session state", also=_PLUGINS),
    _station("authorization", UPD, "authorizes / withdraws the EVSE", also=_PLUGINS),
    _station("transaction_status", UPD, "transaction per EVSE (availability follows)", also=_PLUGINS),
    _station("slac_status", UPD, "SLAC state", also=_PLUGINS),
    _station("ev_rated_limits", UPD, "EV maximum voltage (DC cable check)", also=_PLUGINS),
    # -- station functions ----------------------------------------------------------------------
    _function("reset", "reset", "hal_reset policy, power path made safe first"),
    _function("availability", "change_availability", "availability rules, persisted"),
    _function("connector", "cs_connector", "lock / unlock through the core"),
    _function("firmware", "update_firmware", "download, verify, hal_install_firmware"),
    _function("logs", "upload_logs", "hal_collect_logs, archive, upload"),
    _function("authorization", "process_authorized_token", "token accepted / discarded"),
    _function("authorization", "set_variable_validate", "OCPP variable validation"),
    _function("data_transfer", "data_transfer", "hal_data_transfer verdict"),
    _function("keystore", "generate_csr", "CSR from the key store (hal_key_store)"),
    _function("keystore", "private_key_path", "key path from the key store"),
    _function("ocpp_message", "ocpp_message", "OCPP message service"),
    _function("device_model", "device_model", "device model from [device_model] and the EVSEs"),
    # -- listen-only updates: logged and offered to plugins -------------------------------------
    _listened("boot_status", "logged, offered to plugins"),
    _listened(
        "certificate_installation_status",
        "key store learns the installed certificate",
        also=("functions.keystore", "plugins"),
    ),
    _listened("clock_sync", "logged, offered to plugins"),
    _listened("cost_updated", "logged, offered to plugins"),
    _listened("device_model_update", "logged, offered to plugins"),
    _listened("display_and_personal_msg", "logged, offered to plugins"),
    _listened("display_params", "logged, offered to plugins"),
    _listened("iso15118_state_info", "logged, offered to plugins"),
    _listened("service_status", "logged, offered to plugins (energy supervisor)"),
    _listened("websocket_status", "logged, offered to plugins"),
    # -- responses to the CS's own requests -----------------------------------------------------
    _response("authorization"),
    _response("data_transfer"),
    _response("device_model_reset"),
    _response("ocpp_message"),
    _response("sdp"),
    _response("service_status"),
    _response("set_ocpp_network_connection"),
    _response("slac_link_status"),
    _response("slac_network_info"),
    _response("websocket_status"),
    # -- ignored by design ----------------------------------------------------------------------
    Route(
        "reset_ocpp_router_state",
        REQ,
        RouteKind.IGNORED,
        "-",
        "Josev's test harness; counted no_handler, never answered",
    ),
    Route(
        "reset_ocpp_router_state",
        RSP,
        RouteKind.IGNORED,
        "-",
        "the CS never sends this request; dropped as unexpected_response",
    ),
)


def check_table(routes: Iterable[Route] = ROUTES) -> dict[tuple[str, MessageType], Route]:
    """Every incoming pair of the contract has exactly one row, and no row is for anything else.

    Returns the table by key; a RoutingError lists every missing, duplicate and foreign row.
    """
    table: dict[tuple[str, MessageType], Route] = {}
    problems: list[str] = []
    for row in routes:
        if row.key in table:
            problems.append(f"{row.name}.{row.type.value}: two rows ({table[row.key].owner}, {row.owner})")
            continue
        table[row.key] = row
        spec = SPECS.get((row.name, row.type.value))
        if spec is None:
            problems.append(f"{row.name}.{row.type.value}: not a message of the Josev API")
        elif not spec.incoming:
            problems.append(f"{row.name}.{row.type.value}: Josev never sends it (the CS publishes it)")
    for (name, type_), spec in SPECS.items():
        if spec.incoming and (name, MessageType(type_)) not in table:
            problems.append(f"{name}.{type_}: Josev sends it but the routing table has no row")
    if problems:
        raise RoutingError("routing table (josev_hal/routing.py):\n  " + "\n  ".join(sorted(problems)))
    return table


_TABLE = check_table()


def route(name: str, type_: MessageType | str) -> Route:
    """The row of ``(name, type)``; RoutingError when Josev never sends that pair."""
    try:
        return _TABLE[(name, MessageType(type_))]
    except (KeyError, ValueError):
        raise RoutingError(f"routing: {name}.{type_} is not a message Josev sends to the CS") from None


class Registrar(Protocol):
    """The part of :class:`josev_hal.bridge.Bridge` the router registers handlers with."""

    def register(self, name: str, type: str, handler: Callable[[Message], object]) -> None: ...


class Router:
    """Registers components' handlers with the bridge as the table decides.

    ``bind(owner, routes)``: the rows must name ``owner``; ``claim(plugin, routes)``: the rows
    must be claimable and unclaimed. Both raise before anything of the call is registered, so a
    refused component leaves no half-registration behind.
    """

    def __init__(self, bridge: Registrar) -> None:
        self._bridge = bridge
        self._bound: dict[tuple[str, MessageType], str] = {}

    def bind(self, owner: str, routes: Routes) -> None:
        """Register ``owner``'s handlers; RoutingError names the table's owner on a mismatch."""
        for name, type_ in routes:
            row = route(name, type_)
            if row.owner != owner:
                raise RoutingError(
                    f"routing: {owner} registers {name}.{type_.value}, but the routing table "
                    f"(josev_hal/routing.py) gives it to {row.owner} ({row.kind.value})"
                )
            self._refuse_twice(row, owner)
        self._register(owner, routes)

    def claim(self, plugin: str, routes: Routes) -> None:
        """A plugin takes rows that are ignored by design; anything owned fails naming both."""
        for name, type_ in routes:
            try:
                row = route(name, type_)
            except RoutingError as exc:
                raise PluginError(f"plugin {plugin!r} claims {name}.{type_}: {exc}") from None
            if not row.claimable:
                raise PluginError(
                    f"plugin {plugin!r} claims {name}.{row.type.value}, which {row.owner} owns "
                    f"({row.kind.value}: {row.what}); only rows ignored by design can be claimed"
                )
            holder = self._bound.get(row.key)
            if holder is not None:
                raise PluginError(
                    f"plugin {plugin!r} claims {name}.{row.type.value}, already claimed by {holder}"
                )
        self._register(f"plugin {plugin!r}", routes)

    def claim_from_plugins(self, pm: HalPluginManager) -> None:
        """Collect ``hal_claim_messages`` of every loaded plugin and claim its rows (start-up)."""
        for impl in reversed(pm.hook.hal_claim_messages.get_hookimpls()):
            try:
                claimed: object = impl.function()
            except Exception as exc:
                raise PluginError(f"plugin {impl.plugin_name!r} failed in hal_claim_messages: {exc}") from exc
            if claimed:
                self.claim(impl.plugin_name, _keyed(impl.plugin_name, claimed))

    def unbound(self) -> list[Route]:
        """Rows an owner must bind but nobody did."""
        kinds = (RouteKind.STATION, RouteKind.FUNCTION, RouteKind.LISTENER)
        return [r for r in ROUTES if r.kind in kinds and r.key not in self._bound]

    def check_complete(self) -> None:
        """Start-up check: every owned row has its handler."""
        missing = self.unbound()
        if missing:
            rows = ", ".join(f"{r.name}.{r.type.value} ({r.owner})" for r in missing)
            raise RoutingError(f"routing: no handler registered for {rows}")

    @property
    def bound(self) -> dict[tuple[str, MessageType], str]:
        """Who registered each pair so far."""
        return dict(self._bound)

    def _refuse_twice(self, row: Route, claimant: str) -> None:
        holder = self._bound.get(row.key)
        if holder is not None:
            raise RoutingError(
                f"routing: {claimant} registers {row.name}.{row.type.value} again ({holder} did)"
            )

    def _register(self, who: str, routes: Routes) -> None:
        for (name, type_), handler in routes.items():
            self._bridge.register(name, type_.value, handler)
            self._bound[(name, type_)] = who
        log.debug("routing: %s registered %s", who, ", ".join(f"{n}.{t.value}" for n, t in routes))


def _keyed(plugin: str, claimed: object) -> dict[tuple[str, MessageType], Handler]:
    """A plugin's ``hal_claim_messages`` result, checked (it is a plugin's input to the core)."""
    if not isinstance(claimed, Mapping):
        raise PluginError(
            f"plugin {plugin!r}: hal_claim_messages must return a mapping, not {type(claimed).__name__}"
        )
    out: dict[tuple[str, MessageType], Handler] = {}
    for key, handler in claimed.items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key)):
            raise PluginError(f"plugin {plugin!r}: hal_claim_messages key {key!r} is not (name, type)")
        if not callable(handler):
            raise PluginError(f"plugin {plugin!r}: handler for {key[0]}.{key[1]} is not callable")
        try:
            out[(key[0], MessageType(key[1]))] = handler
        except ValueError:
            raise PluginError(f"plugin {plugin!r}: {key[0]}.{key[1]}: unknown message type") from None
    return out


def format_routes() -> str:
    """The table as text (``josev-hal plugins --routes``)."""
    rows = [["MESSAGE", "TYPE", "OWNER", "KIND", "ALSO", "WHAT"]]
    for r in sorted(ROUTES, key=lambda r: (r.kind.value, r.owner, r.name, r.type.value)):
        rows.append([r.name, r.type.value, r.owner, r.kind.value, ",".join(r.also) or "-", r.what])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
