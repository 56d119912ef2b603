"""What the station functions need from the station core, as small protocols.

The functions never reach into the station's internals: :func:`josev_hal.functions.install` wraps
each EVSE controller in an object that satisfies :class:`EvsePort`, so the functions can be tested
against the real controller or any object with these few methods.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

import msgspec

from josev_hal.devices import ConnectorLock, IdTokenReader

__all__ = ["EvsePort", "opt"]

T = TypeVar("T")


def opt(value: T | msgspec.UnsetType) -> T | None:
    """An optional payload field as ``None`` when it is UNSET."""
    return None if isinstance(value, msgspec.UnsetType) else value


@runtime_checkable
class EvsePort(Protocol):
    """One EVSE as the functions see it."""

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
        """Whether a charging session runs (an EV is being served / a transaction is open)."""
        ...

    def set_authorized(self, authorized: bool, *, id_token: str | None = None) -> None:
        """Grant or withdraw the authorization that gates AC basic charging."""
        ...

    def contactor_closed(self) -> bool:
        """True when the contactor is closed or commanded closed (unsure counts as closed)."""
        ...

    def lock_driver(self, connector_id: int) -> ConnectorLock | None:
        """The connector lock of ``connector_id`` (None: no lock, e.g. a fixed cable)."""
        ...

    def token_reader(self) -> IdTokenReader | None:
        """The id-token (RFID) reader that serves this EVSE, if any."""
        ...

    def restart(self) -> bool:
        """Re-initialise this EVSE only (per-EVSE reset). False when the core cannot."""
        ...

    def describe(self) -> dict[str, Any]:
        """Static facts for the device model (ocpp_id, power_kw, phases, connector types)."""
        ...
