"""Listen-only messages from Josev: decoded, logged at debug level, offered to plugins.

Every update Josev sends on ``josev/cs`` that no other part of the HAL registered a handler for
(``boot_status``, ``clock_sync``, ``cost_updated``, ``display_and_personal_msg``,
``transaction_status``, ``certificate_installation_status``, ``websocket_status``,
``service_status`` ...) gets a handler here. It first runs the functions' own consumers (the key
store learns about installed certificates, authorizations gate the EVSE), then logs the message at
debug level and calls the ``hal_josev_update`` hook so an HMI plugin can show it.

Install the station core's handlers *before* the functions (the daemon does): a name the core
already handles is skipped here, and the core offers those messages to plugins with
:func:`offer_to_plugins`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from josev_hal.errors import ConfigError
from josev_hal.messages import SPECS, Message, MessageType, encode

__all__ = ["LISTEN_UPDATES", "install_listeners", "offer_to_plugins"]

log = logging.getLogger(__name__)

Consumer = Callable[[Message], None]

#: Every update Josev may send to the CS.
LISTEN_UPDATES: tuple[str, ...] = tuple(
    sorted(
        name for (name, type_), spec in SPECS.items() if type_ == MessageType.UPDATE.value and spec.incoming
    )
)


def offer_to_plugins(pm: Any, message: Message) -> None:
    """Call ``hal_josev_update(message=...)``; a failing plugin is logged, never propagated."""
    if pm is None:
        return
    try:
        pm.hook.hal_josev_update(message=message)
    except Exception:
        log.exception("hal_josev_update failed for %s", message.name)


def _handler(pm: Any, consumers: Sequence[Consumer]) -> Callable[[Message], None]:
    def handle(message: Message) -> None:
        for consumer in consumers:
            try:
                consumer(message)
            except Exception:
                log.exception("consumer of %s.update failed", message.name)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("josev update %s %s", message.name, encode(message).decode("utf-8", "replace"))
        offer_to_plugins(pm, message)

    return handle


def install_listeners(
    bridge: Any, pm: Any, consumers: Mapping[str, Sequence[Consumer]] | None = None
) -> list[str]:
    """Register a handler for every listen-only update not handled elsewhere; returns the names."""
    consumers = consumers or {}
    registered: list[str] = []
    for name in LISTEN_UPDATES:
        try:
            bridge.register(name, MessageType.UPDATE, _handler(pm, consumers.get(name, ())))
        except ConfigError:
            log.debug("%s.update is handled by the station core; not registered by the functions", name)
            continue
        registered.append(name)
    return registered
