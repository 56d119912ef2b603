"""What the station functions need from the station core, as small protocols.

The functions never reach into the station's internals: :func:`josev_hal.functions.install` wraps
each EVSE controller in an object that satisfies :class:`EvsePort`, so the functions can be tested
against the real controller or any object with these few methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import msgspec

from josev_hal.devices import ConnectorLock, Driver, IdTokenReader, Role

if TYPE_CHECKING:
    from josev_hal.board import BoardEvse
    from josev_hal.profile import EvseSpec
    from josev_hal.station.evse import EvseController

__all__ = ["EvsePort", "StationEvse", "opt"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def opt(value: T | msgspec.UnsetType) -> T | None:
    """An optional payload field as ``None`` when it is UNSET."""
    return None if isinstance(value, msgspec.UnsetType) else value


@runtime_checkable
class EvsePort(Protocol):
    """One EVSE as the functions see it (:class:`StationEvse` adapts the station core)."""

    @property
    def evse_id(self) -> str:
        """The ISO 15118 EVSE id used in every message."""
        ...

    @property
    def connector_ids(self) -> tuple[int, ...]:
        """The connector ids of the EVSE (1-based, per EVSE)."""
        ...

    def set_available(self, available: bool) -> None:
        """Feed the interlock: an unavailable EVSE never closes its contactor."""
        ...

    def is_transaction_active(self) -> bool:
        """Whether a charging session / transaction runs on the EVSE."""
        ...


class StationEvse:
    """:class:`EvsePort` and more over an ``EvseController`` and its board entry."""

    def __init__(
        self, controller: EvseController, board_evse: BoardEvse | None = None, spec: EvseSpec | None = None
    ) -> None:
        self.controller = controller
        self.board_evse = board_evse
        self.spec = spec if spec is not None else (board_evse.spec if board_evse is not None else None)
        self._evse_id: str = controller.evse_id
        if self.spec is not None and self.spec.connectors:
            ids = tuple(c.id for c in self.spec.connectors)
        else:
            ids = tuple(c.id for c in controller.settings.connectors)
        self._connector_ids = ids

    @property
    def evse_id(self) -> str:
        return self._evse_id

    @property
    def connector_ids(self) -> tuple[int, ...]:
        return self._connector_ids

    def set_available(self, available: bool) -> None:
        self.controller.set_available(available)

    def is_transaction_active(self) -> bool:
        return bool(self.controller.is_transaction_active())

    def set_authorized(self, authorized: bool) -> None:
        """Grant / withdraw the authorization that gates AC basic charging."""
        self.controller.set_authorized(authorized)

    def add_transaction_listener(self, fn: Callable[[str, str, str], None]) -> None:
        self.controller.add_transaction_listener(fn)

    def contactor_closed(self) -> bool:
        """Closed if commanded closed *or* the mirror contact says closed; an unreadable
        contactor counts as closed (refusing an unlock is the safe side)."""
        if bool(self.controller.contactor_closed):
            return True
        contactor = self.controller.devices.contactor
        if contactor is None:
            return False
        try:
            sample = contactor.read()
        except Exception:
            log.warning("contactor of %s unreadable; treating it as closed", self._evse_id)
            return True
        return bool(sample.commanded_closed or sample.feedback_closed)

    def _device(self, role: Role) -> Driver | None:
        if self.board_evse is None:
            return None
        return self.board_evse.devices.get(role)

    def lock_driver(self, connector_id: int) -> ConnectorLock | None:
        """The connector lock serving ``connector_id`` (None: no lock, e.g. a fixed cable)."""
        lock = self._device(Role.CONNECTOR_LOCK)
        if not isinstance(lock, ConnectorLock):
            return None
        serves = lock.config.connector_id
        return lock if serves is None or serves == connector_id else None

    def request_lock(self, connector_id: int, locked: bool) -> str | None:
        """Command the connector lock; returns a refusal reason or ``None``.

        When the station core drives this lock (a socket outlet) the request goes through the core,
        which refuses an unlock while the contactor may be closed and keeps its session logic from
        undoing the request; otherwise the lock driver is commanded directly."""
        if self.controller.lock_connector_id == connector_id:
            return self.controller.request_lock(connector_id, locked)
        lock = self.lock_driver(connector_id)
        if lock is None:
            return "connector has no lock"
        if locked:
            lock.lock()
        else:
            lock.unlock()
        return None

    def token_reader(self) -> IdTokenReader | None:
        reader = self._device(Role.ID_TOKEN_READER)
        return reader if isinstance(reader, IdTokenReader) else None

    def restart(self) -> bool:
        """Re-initialise only this EVSE (the core supports it: always True)."""
        self.controller.restart()
        return True
