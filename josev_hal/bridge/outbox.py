"""The bridge's outbox: how any thread hands a finished message to the network thread.

Why it exists: paho calls ``on_disconnect`` synchronously from inside ``publish()`` when a socket
write fails, and a client that several threads publish through needs a lock around it. A lock held
across a call into paho is exactly how a broker hiccup froze the station (issue #13): the failing
publish re-entered the bridge, which waited for the lock its own thread held, and every other
publisher - including threads that held an EVSE lock - queued up behind it.

So only the network thread touches paho. Every other thread calls :meth:`Outbox.put`, which takes
one short lock around a deque append and never blocks: when the outbox is full the *oldest*
message is dropped and counted (a station reports its current state again after every reconnect,
so the newest messages are the valuable ones). The network thread drains the outbox in FIFO order
whenever the session is up, so the order on the wire is the order in which ``put`` was called.

A socketpair wakes the network thread out of ``select()`` as soon as something is put, so a
response leaves without waiting for the loop's idle timeout.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from typing import NamedTuple

__all__ = ["Outbox", "Outgoing"]


class Outgoing(NamedTuple):
    """One finished message: encoded and validated, waiting for the network thread."""

    topic: str
    body: bytes
    retain: bool = False


class Outbox:
    """A bounded FIFO with drop-oldest overflow and a wake-up socket (see the module docstring).

    ``put`` and ``take`` are safe from any thread; the lock is held only for deque operations,
    never while anything else runs.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"outbox capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._items: deque[Outgoing] = deque()
        self._dropped = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_pending = False

    def put(self, item: Outgoing) -> bool:
        """Queue ``item``; returns True when the oldest message had to be dropped for it."""
        with self._lock:
            dropped = len(self._items) >= self.capacity
            if dropped:
                self._items.popleft()
                self._dropped += 1
            self._items.append(item)
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            try:
                self._wake_w.send(b"\0")
            except OSError:
                pass  # buffer full (the reader is far behind) or closed at shutdown: it wakes anyway
        return dropped

    def take(self) -> Outgoing | None:
        """The oldest message, or None when the outbox is empty."""
        with self._lock:
            return self._items.popleft() if self._items else None

    def put_back(self, item: Outgoing) -> None:
        """Return ``item`` to the front (the network thread could not hand it to paho)."""
        with self._lock:
            self._items.appendleft(item)

    def clear(self) -> int:
        """Drop everything (stop without a connection); returns how many were dropped."""
        with self._lock:
            n = len(self._items)
            self._items.clear()
            return n

    @property
    def dropped(self) -> int:
        return self._dropped

    def __len__(self) -> int:
        return len(self._items)

    def fileno(self) -> int:
        """The descriptor that becomes readable after a ``put`` (for the network thread's select)."""
        return self._wake_r.fileno()

    def ack_wake(self) -> None:
        """Called by the network thread after select() saw the wake socket readable, *before*
        it drains the outbox: a ``put`` racing with this either finds the flag still set (and its
        item is drained right after) or sends a fresh byte."""
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        with self._lock:
            self._wake_pending = False

    def wake(self) -> None:
        """Wake the network thread without queueing anything (stop, a new subscription)."""
        with self._lock:
            self._wake_pending = True
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def close(self) -> None:
        for sock in (self._wake_r, self._wake_w):
            try:
                sock.close()
            except OSError:
                pass
