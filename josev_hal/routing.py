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

The publishing side has its table too: :data:`PUBLISHERS` names, for every pair the CS may put on
``cs/josev`` (``SPECS[...].outgoing``), the component that sends it -- the owner of the request
for a reply, the sender of the CS's own updates and requests -- or why it is never sent.

``check_table()`` and ``check_publishers()`` run at import (a contract change without a routing
or publishing decision fails at once); ``josev-hal plugins --routes`` prints ROUTES;
:func:`coverage_markdown` builds the README's "API coverage" table from the contract and both
tables (``josev-hal plugins --coverage``); ``docs/architecture.md`` explains them. The tests hold
the docs to the generated text, and each publisher row to the modules that build its payload.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from josev_hal.errors import ConfigError, PluginError
from josev_hal.messages import SPECS, Message, MessageType, Payload

if TYPE_CHECKING:
    from josev_hal.messages import MessageSpec
    from josev_hal.plugins import HalPluginManager

__all__ = [
    "PUBLISHERS",
    "ROUTES",
    "Handler",
    "PublishKind",
    "Publisher",
    "Registrar",
    "Route",
    "RouteKind",
    "Router",
    "Routes",
    "RoutingError",
    "check_publishers",
    "check_table",
    "coverage_markdown",
    "format_routes",
    "publisher",
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


# -- the publishing side ---------------------------------------------------------------------


class PublishKind(enum.StrEnum):
    """How the CS comes to publish a pair."""

    REPLY = "reply"
    """The response to a request Josev sent: the bridge publishes what the request's owner in
    :data:`ROUTES` returns, so ``by`` must be that owner."""
    SENDS = "sends"
    """The CS's own update or request (on a change, periodically, or through a Python API)."""
    NOT_SENT = "not sent"
    """The contract allows it but the HAL never publishes it (the reason is in the row)."""


class Publisher(msgspec.Struct, frozen=True):
    """One row of :data:`PUBLISHERS`.

    ``by`` is the component that sends the pair (named as in :data:`ROUTES`; ``-`` when it is never
    sent); ``also`` other components that send it too. ``modules`` are the modules that build the
    payload: ``tests/test_api_coverage.py`` checks that each names the payload class and that no
    other module of the HAL constructs it, so a new sender cannot go unlisted.
    """

    name: str
    type: MessageType
    kind: PublishKind
    by: str
    what: str
    modules: tuple[str, ...] = ()
    also: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, MessageType]:
        return (self.name, self.type)


def _reply(name: str, *modules: str) -> Publisher:
    # The owner comes from ROUTES: the component that answers a request publishes the response.
    owner = route(name, REQ).owner
    return Publisher(name, RSP, PublishKind.REPLY, owner, "the answer, same id", modules)


def _sends(
    by: str, name: str, type_: MessageType, what: str, *modules: str, also: tuple[str, ...] = ()
) -> Publisher:
    return Publisher(name, type_, PublishKind.SENDS, by, what, modules, also)


_STATION = "josev_hal.station.station"
_JOSEV = "josev_hal.station.josev"
_REPORTING = "josev_hal.station.reporting"
_EVSE = "josev_hal.station.evse"
_NOTIFY = "josev_hal.functions.notify"
_INSTALL = "josev_hal.functions"  # install() builds the status updates the firmware/logs jobs report

#: Who publishes each pair the CS may send. ``check_publishers`` holds it to exactly the contract's
#: outgoing pairs, and a reply's sender to the request's owner in ROUTES.
PUBLISHERS: tuple[Publisher, ...] = (
    # -- replies to Josev's requests (the request's owner answers) -------------------------------
    _reply("cable_check", _JOSEV, "josev_hal.station.dc"),
    _reply("change_availability", "josev_hal.functions.availability"),
    _reply("cp_pwm", _STATION, _JOSEV),
    _reply("cs_connector", "josev_hal.functions.connector"),
    _reply("cs_contactor_status", _JOSEV),
    _reply("cs_parameters", _STATION),
    _reply("cs_status_and_limits", _STATION),
    _reply("data_transfer", "josev_hal.functions.data_transfer"),
    _reply("device_model", "josev_hal.functions.device_model"),
    _reply("generate_csr", "josev_hal.functions.keystore"),
    _reply("meter_values", _STATION, _REPORTING, "josev_hal.station.station_meter"),
    _reply("ocpp_message", "josev_hal.functions.ocpp_message"),
    _reply("power_electronics_setpoint", _STATION, _JOSEV),
    _reply("private_key_path", "josev_hal.functions.keystore"),
    _reply("process_authorized_token", "josev_hal.functions.authorization"),
    _reply("reset", "josev_hal.functions.reset"),
    _reply("set_variable_validate", "josev_hal.functions.authorization"),
    _reply("stop_charging", _JOSEV),
    _reply("update_firmware", _INSTALL),
    _reply("upload_logs", "josev_hal.functions.logs"),
    # -- the station core's updates ---------------------------------------------------------------
    _sends("station", "cp_status", UPD, "on every CP change", _REPORTING),
    _sends("station", "cable_info", UPD, "detachable cable's state", _REPORTING),
    _sends("station", "cs_contactor_status", UPD, "on every contactor change", _REPORTING, _EVSE),
    _sends("station", "cs_status_and_limits", UPD, "on every status or limit change", _REPORTING, _EVSE),
    _sends("station", "meter_values", UPD, "periodically and on change", _REPORTING, _EVSE),
    _sends(
        "station",
        "hardware_fault",
        UPD,
        "on a fault; the daemon's watchdog reports a stuck loop",
        "josev_hal.station.faults",
        "josev_hal.daemon",
        also=("daemon",),
    ),
    # -- the station functions' updates and requests ----------------------------------------------
    _sends(
        "functions.availability",
        "change_availability",
        UPD,
        "the station's own availability change (functions.notify API)",
        "josev_hal.functions.availability",
    ),
    _sends("functions.firmware", "firmware_status", UPD, "progress of an accepted update_firmware", _INSTALL),
    _sends("functions.logs", "logs_status", UPD, "progress of an accepted upload_logs", _INSTALL),
    _sends(
        "functions.authorization",
        "authorization",
        REQ,
        "a local token (RFID reader)",
        "josev_hal.functions.authorization",
    ),
    _sends(
        "functions.data_transfer",
        "data_transfer",
        REQ,
        "vendor data to the CSMS",
        "josev_hal.functions.data_transfer",
    ),
    _sends("functions.notify", "notify_event", UPD, "Python API", _NOTIFY),
    _sends("functions.notify", "parking_bay", UPD, "Python API (parking sensor)", _NOTIFY),
    _sends("functions.notify", "device_model_update", UPD, "Python API", _NOTIFY),
    _sends("functions.notify", "device_model_reset", REQ, "Python API", _NOTIFY),
    _sends("functions.notify", "sdp", REQ, "Python API", _NOTIFY),
    _sends(
        "functions.notify",
        "service_status",
        REQ,
        "Python API; the energy supervisor probes Josev with it",
        _NOTIFY,
        "josev_hal.station.energy",
        also=("station",),
    ),
    _sends("functions.notify", "set_ocpp_network_connection", REQ, "Python API", _NOTIFY),
    _sends("functions.notify", "slac_link_status", REQ, "Python API", _NOTIFY),
    _sends("functions.notify", "slac_network_info", REQ, "Python API", _NOTIFY),
    _sends("functions.notify", "websocket_status", REQ, "Python API", _NOTIFY),
    # -- never sent --------------------------------------------------------------------------------
    Publisher(
        "connector_and_charging",
        UPD,
        PublishKind.NOT_SENT,
        "-",
        "deprecated: `change_availability` + `cp_status` instead",
    ),
    Publisher(
        "ocpp_message",
        REQ,
        PublishKind.NOT_SENT,
        "-",
        "the CS makes no OCPP calls of its own",
    ),
)


def check_publishers(
    publishers: Iterable[Publisher] = PUBLISHERS,
) -> dict[tuple[str, MessageType], Publisher]:
    """Every pair the CS may publish has exactly one row, and no row is for anything else.

    A reply's sender is the request's owner in :data:`ROUTES`; a row that is sent names the
    modules that build it, one never sent names none. Returns the table by key; a RoutingError
    lists every problem.
    """
    table: dict[tuple[str, MessageType], Publisher] = {}
    problems: list[str] = []
    for row in publishers:
        pair = f"{row.name}.{row.type.value}"
        if row.key in table:
            problems.append(f"{pair}: two rows ({table[row.key].by}, {row.by})")
            continue
        table[row.key] = row
        spec = SPECS.get((row.name, row.type.value))
        if spec is None:
            problems.append(f"{pair}: not a message of the Josev API")
            continue
        if not spec.outgoing:
            problems.append(f"{pair}: the CS never publishes it (Josev sends it)")
        if row.kind is PublishKind.REPLY:
            request = _TABLE.get((row.name, REQ))
            if row.type is not RSP or request is None:
                problems.append(f"{pair}: a reply must be the response to a request Josev sends")
            elif request.owner != row.by:
                problems.append(f"{pair}: replied by {row.by}, but {request.owner} owns the request")
        if (row.kind is PublishKind.NOT_SENT) != (not row.modules):
            problems.append(f"{pair}: a sent row names the modules that build it, one never sent none")
    for (name, type_), spec in SPECS.items():
        if spec.outgoing and (name, MessageType(type_)) not in table:
            problems.append(f"{name}.{type_}: the CS may publish it but the publisher table has no row")
    if problems:
        raise RoutingError("publisher table (josev_hal/routing.py):\n  " + "\n  ".join(sorted(problems)))
    return table


_PUBLISHED = check_publishers()


def publisher(name: str, type_: MessageType | str) -> Publisher:
    """The row of ``(name, type)``; RoutingError when the CS never publishes that pair."""
    try:
        return _PUBLISHED[(name, MessageType(type_))]
    except (KeyError, ValueError):
        raise RoutingError(f"routing: {name}.{type_} is not a message the CS publishes") from None


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


# -- the README's API coverage table -----------------------------------------------------------

_ORDER = {REQ: 0, RSP: 1, UPD: 2}


def _specs_of(name: str) -> list[MessageSpec]:
    return sorted((s for (n, _), s in SPECS.items() if n == name), key=lambda s: _ORDER[s.type])


def _direction(incoming: bool, outgoing: bool) -> str:
    return "J→CS/CS→J" if incoming and outgoing else "J→CS" if incoming else "CS→J"


def _obligations(texts: Iterable[str]) -> str:
    """The obligations without their parenthesised remarks, each once, in contract order."""
    seen: dict[str, None] = {}
    for text in texts:
        for part in re.sub(r"\s*\([^)]*\)", "", text).split(";"):
            seen.setdefault(part.strip(), None)
    return "; ".join(seen)


def _implemented_by(name: str) -> str:
    """Who answers, hears and sends each pair of ``name`` (responses to the CS's own requests,
    which the bridge matches to their request, are left out)."""
    labels: dict[str, list[str]] = {}  # component -> the pairs it handles, in order
    also: dict[str, list[str]] = {}
    ignored: list[str] = []
    claimable: list[str] = []
    unsent: list[tuple[str, str]] = []  # (pair, reason)

    def add(component: str, pair: str, extra: Iterable[str]) -> None:
        if pair not in labels.setdefault(component, []):
            labels[component].append(pair)
        for item in extra:
            if item not in also.setdefault(component, []):
                also[component].append(item)

    for spec in _specs_of(name):
        both = spec.incoming and spec.outgoing  # then the pair's label says which direction
        if spec.incoming:
            row = _TABLE[(name, spec.type)]
            pair = f"{spec.type.value} J→CS" if both else spec.type.value
            if row.kind is RouteKind.IGNORED:
                ignored.append(pair)
                if row.claimable:
                    claimable.append(pair)
            elif row.kind is not RouteKind.RESPONSE:
                add(row.owner, pair, row.also)
        if spec.outgoing:
            pub = _PUBLISHED[(name, spec.type)]
            pair = f"{spec.type.value} CS→J" if both else spec.type.value
            if pub.kind is PublishKind.NOT_SENT:
                unsent.append((pair, pub.what))
            else:
                add(pub.by, pair, pub.also)
    several = len(labels) + len(unsent) + bool(ignored) > 1
    parts: list[str] = []
    for component, pairs in labels.items():
        notes = [", ".join(pairs)] if several else []
        if also.get(component):
            notes.append("+ " + ", ".join(a if a == "plugins" else f"`{a}`" for a in also[component]))
        parts.append(f"`{component}` ({'; '.join(notes)})" if notes else f"`{component}`")
    for pair, reason in unsent:
        parts.append(f"{pair + ': ' if several else ''}not sent ({reason})")
    if ignored:
        claim = f" (a plugin may claim the {', '.join(claimable)})" if claimable else ""
        parts.append(f"{', '.join(ignored) + ': ' if several else ''}ignored by design{claim}")
    return "; ".join(parts)


def coverage_markdown(tests: Mapping[str, Sequence[str]]) -> str:
    """The README's "API coverage" table: one row per message name of the contract, built from
    ``SPECS`` (types, directions, obligations), :data:`ROUTES` and :data:`PUBLISHERS`; ``tests``
    maps each message name to the test files that exercise it (``—`` where it has none)."""
    lines = [
        "| Message | Types and direction | CS obligation | Implemented by | Test |",
        "|---|---|---|---|---|",
    ]
    for name in sorted({n for n, _ in SPECS}):
        specs = _specs_of(name)
        types = ", ".join(f"{s.type.value} {_direction(s.incoming, s.outgoing)}" for s in specs)
        obligation = _obligations(s.obligation for s in specs)
        files = ", ".join(tests.get(name, ())) or "—"
        lines.append(f"| `{name}` | {types} | {obligation} | {_implemented_by(name)} | {files} |")
    return "\n".join(lines)
