"""Listen-only messages from Josev: decoded, logged at debug level, offered to plugins.

Every update the routing table (:mod:`josev_hal.routing`) gives to ``functions.listen``
(``boot_status``, ``clock_sync``, ``cost_updated``, ``display_and_personal_msg``,
``certificate_installation_status``, ``websocket_status``, ``service_status`` ...) gets a handler
here. It first runs the functions' own consumers (the key store learns about installed
certificates), then logs the message at debug level and calls the ``hal_josev_update`` hook so an
HMI plugin can show it. Updates the station core owns reach the plugins through the same
:class:`Relay`, registered as a station update listener.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from josev_hal.messages import Message, MessageType, Payload, encode
from josev_hal.routing import ROUTES, Handler

if TYPE_CHECKING:
    import pluggy

__all__ = ["LISTEN_UPDATES", "Relay", "listener_routes"]

log = logging.getLogger(__name__)

Consumer = Callable[[Message], None]

OWNER = "functions.listen"

#: The updates this module answers, as the routing table decides.
LISTEN_UPDATES: tuple[str, ...] = tuple(sorted(r.name for r in ROUTES if r.owner == OWNER))


class Relay:
    """Offers updates to plugins (``hal_josev_update``); a failing plugin is logged, never raised."""

    def __init__(self, pm: pluggy.PluginManager | None) -> None:
        self._pm = pm

    def offer(self, message: Message) -> None:
        if self._pm is None:
            return
        try:
            self._pm.hook.hal_josev_update(message=message)
        except Exception:
            log.exception("hal_josev_update failed for %s", message.name)

    def payload(self, payload: Payload) -> None:
        """A station update listener (it receives the payload)."""
        self.offer(Message.update(payload))


def _handler(relay: Relay, consumers: Sequence[Consumer]) -> Handler:
    def handle(message: Message) -> None:
        for consumer in consumers:
            try:
                consumer(message)
            except Exception:
                log.exception("consumer of %s.update failed", message.name)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("josev update %s %s", message.name, encode(message).decode("utf-8", "replace"))
        relay.offer(message)

    return handle


def listener_routes(
    relay: Relay, consumers: Mapping[str, Sequence[Consumer]] | None = None
) -> dict[tuple[str, MessageType], Handler]:
    """A handler for every update the routing table gives to this module."""
    consumers = consumers or {}
    unknown = set(consumers) - set(LISTEN_UPDATES)
    if unknown:  # a consumer for an update routed elsewhere would never run
        raise ValueError(f"consumers for updates not routed to {OWNER}: {sorted(unknown)}")
    return {(name, MessageType.UPDATE): _handler(relay, consumers.get(name, ())) for name in LISTEN_UPDATES}
