"""The fault book of one EVSE: which hardware faults are active, which latch, which block.

Every collaborator of the station core reports faults here (the DC path, the connector lock, the
contactor supervision, the RCD guard, the inputs). The book publishes one ``hardware_fault`` per
onset and emits :class:`~josev_hal.station.events.StationEvent`s for every change; the interlock
reads :meth:`FaultBook.blocking`. It takes no lock of its own: it lives under the EVSE lock, and
what it "publishes" only goes into the EVSE's outbox (delivered after the lock is released).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import msgspec

from josev_hal.errors import DeviceError
from josev_hal.messages import Payload
from josev_hal.messages import payloads as p
from josev_hal.station.events import EventKind

__all__ = ["Emit", "Fault", "FaultBook", "NonBlockingFaults"]

log = logging.getLogger(__name__)

#: ``emit(kind, now=None, **detail)``: queue a StationEvent (see :class:`EvseController`)
Emit = Callable[..., None]


class Fault(msgspec.Struct, frozen=True):
    """An active hardware fault. ``latched`` faults stay until an operator clears them
    (:meth:`EvseController.clear_faults`); the others go away when the condition does.
    ``blocks``: forbids closing the contactor."""

    key: str
    component: str
    fault_name: p.HardwareFaultName
    detail: str
    latched: bool
    blocks: bool


class FaultBook:
    """Active faults by key (see the module docstring)."""

    def __init__(
        self, evse_id: str, send: Callable[[Payload], None], emit: Emit, *, link_loss_blocks: bool
    ) -> None:
        self.evse_id = evse_id
        self._send = send
        self._emit = emit
        self.link_loss_blocks = link_loss_blocks
        self._faults: dict[str, Fault] = {}
        #: counts every change of the active set (a fault raised or removed): a sample compares it
        #: to see that its reads raised or cleared nothing (the steady-state skip, #17)
        self.version = 0

    # -- reporting (the FaultSink protocol of the DC path and the lock) -------------------------
    def set_fault(
        self,
        key: str,
        component: str,
        name: p.HardwareFaultName,
        detail: str,
        *,
        latched: bool = False,
        blocks: bool = True,
    ) -> None:
        """Raise ``key`` (once: an active fault is not raised again)."""
        if key in self._faults:
            return
        self._faults[key] = Fault(key, component, name, detail, latched, blocks)
        self.version += 1
        log.warning(
            "evse=%s hardware_fault component=%s fault=%s latched=%s detail=%s",
            self.evse_id,
            component,
            name.value,
            latched,
            detail,
        )
        self._send(p.HardwareFaultUpdate(evse_id=self.evse_id, component_name=component, fault_name=name))
        self._emit(
            EventKind.FAULT_SET, key=key, component=component, name=name.value, detail=detail, blocks=blocks
        )

    def clear_fault(self, key: str) -> None:
        """The condition of ``key`` is gone: drop it unless it latches."""
        fault = self._faults.get(key)
        if fault is not None and not fault.latched:
            self.drop(key)

    def drop(self, key: str) -> None:
        """Remove ``key`` even if it latches (operator action, reset)."""
        fault = self._faults.pop(key, None)
        if fault is not None:
            self.version += 1
            log.info("evse=%s fault cleared component=%s key=%s", self.evse_id, fault.component, key)
            self._emit(EventKind.FAULT_CLEARED, key=key)

    def link_fault(self, what: str, exc: DeviceError) -> None:
        """A device stopped answering: the board (or bus) link is lost for it."""
        self.set_fault(
            f"link:{what}",
            what.rstrip("0123456789"),
            p.HardwareFaultName.OTHER,
            f"device link lost: {exc}",
            blocks=self.link_loss_blocks,
        )

    # -- views ---------------------------------------------------------------------------------
    def blocking(self) -> frozenset[str]:
        return frozenset(k for k, f in self._faults.items() if f.blocks)

    def any_blocking(self) -> bool:
        return any(f.blocks for f in self._faults.values())

    def snapshot(self) -> dict[str, Fault]:
        return dict(self._faults)

    def keys(self) -> list[str]:
        return list(self._faults)

    def get(self, key: str) -> Fault | None:
        return self._faults.get(key)

    def of_component(self, component: str) -> list[Fault]:
        return [f for f in self._faults.values() if f.component == component]

    def __contains__(self, key: object) -> bool:
        return key in self._faults

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults.values()))


class NonBlockingFaults:
    """A view of the book whose faults never block by themselves (the connector lock: the
    interlock's ``plug_not_locked`` already keeps the contactor open, and a blocking fault would
    release the lock and retry endlessly)."""

    def __init__(self, book: FaultBook) -> None:
        self._book = book

    def set_fault(self, key: str, component: str, name: p.HardwareFaultName, detail: str) -> None:
        self._book.set_fault(key, component, name, detail, blocks=False)

    def clear_fault(self, key: str) -> None:
        self._book.clear_fault(key)

    def link_fault(self, what: str, exc: DeviceError) -> None:
        self._book.link_fault(what, exc)
