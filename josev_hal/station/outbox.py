"""What an EVSE produced under its lock, delivered after the lock is released, in order.

The station core decides and actuates under the EVSE's state lock, but it never calls out of the
core while holding it: not the bridge (``publish_update`` may sit in paho when the broker dies,
issue #13), not an event or transaction listener (which may call back into the core). Instead
every outgoing update, :class:`~josev_hal.station.events.StationEvent` and transaction change is
put into the EVSE's :class:`Outbox` under the lock, and whoever released the lock calls
:meth:`Outbox.flush`.

Order: one FIFO per EVSE, and only one thread delivers at a time (the *baton*, taken with a
non-blocking acquire). A thread that finds the baton taken returns at once: the holder delivers
its items too, because it re-checks the queue after letting go. So nobody ever *waits* for the
baton, and a publisher that blocks forever stalls only the thread that happened to hold it --
never the reaction to a CP or RCD change, which only needs the EVSE lock. While it is stalled the
queue is bounded: the oldest items are dropped and counted (as the bridge's offline queue does).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from josev_hal.station.events import EventListener, StationEvent

__all__ = ["Outbox", "TransactionChange", "TransactionListener"]

log = logging.getLogger(__name__)

#: ``fn(evse_id, transaction_id, "started" | "ended")``
TransactionListener = Callable[[str, str, str], None]


class TransactionChange(msgspec.Struct, frozen=True):
    """``is_transaction_active`` of an EVSE changed (delivered to transaction listeners)."""

    evse_id: str
    transaction_id: str
    status: str  # "started" | "ended"


class Outbox:
    """A bounded FIFO of payloads, events and transaction changes of one EVSE."""

    def __init__(self, evse_id: str, publish: Callable[[Any], Any], *, capacity: int = 1000) -> None:
        self.evse_id = evse_id
        self._publish = publish
        self._items: deque[Any] = deque()
        self._capacity = capacity
        self._baton = threading.Lock()
        self.dropped = 0
        self.event_listeners: list[EventListener] = []
        self.transaction_listeners: list[TransactionListener] = []

    def put(self, item: Any) -> None:
        """Queue one item (called under the EVSE lock; never blocks, never calls out)."""
        if len(self._items) >= self._capacity:
            self._items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "evse=%s outbox full (delivery stalled): %d oldest items dropped so far",
                    self.evse_id,
                    self.dropped,
                )
        self._items.append(item)

    def pending(self) -> int:
        return len(self._items)

    def flush(self) -> None:
        """Deliver everything queued, unless another thread is delivering (then it does)."""
        while self._items:
            if not self._baton.acquire(blocking=False):
                return  # the holder re-checks the queue after it lets go
            try:
                while True:
                    try:
                        item = self._items.popleft()
                    except IndexError:
                        break
                    self._deliver(item)
            finally:
                self._baton.release()

    def flush_within(self, timeout_s: float) -> bool:
        """Flush on a helper thread and wait at most ``timeout_s`` (shutdown: a wedged publisher
        must not keep the station from stopping). True when the queue was emptied in time."""
        helper = threading.Thread(target=self.flush, name=f"outbox-{self.evse_id}", daemon=True)
        helper.start()
        helper.join(timeout_s)
        return not helper.is_alive() and not self._items

    def _deliver(self, item: Any) -> None:
        if isinstance(item, StationEvent):
            for listener in list(self.event_listeners):
                try:
                    listener(item)
                except Exception:  # an observer must never affect the control loop
                    log.exception("evse=%s event listener failed on %s", self.evse_id, item.kind.value)
        elif isinstance(item, TransactionChange):
            for tx_listener in list(self.transaction_listeners):
                try:
                    tx_listener(item.evse_id, item.transaction_id, item.status)
                except Exception:
                    log.exception("evse=%s transaction listener failed", self.evse_id)
        else:
            try:
                self._publish(item)
            except Exception:  # publishing must never break a safety path
                log.exception("evse=%s publish %s failed", self.evse_id, type(item).__name__)
