"""The one thread each EVerest adapter runs (board support, power supply, IMD, powermeter, auth).

Every adapter loop has the same contract with the rest of the HAL, and it lives here once so the
adapters cannot drift apart on it: the loop beats its liveness heartbeat each turn (the northbound
sets :attr:`AdapterLoop.heartbeat` when a watchdog runs and sizes its limit from
:attr:`AdapterLoop.loop_period_s`), sleeps until the period ends or a command wakes it, and
:meth:`AdapterLoop.stop` is bounded: the join waits at most ``JOIN_S`` for a bus call in flight,
then the adapter applies its safe state anyway, so the daemon's whole shutdown stays bounded.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import ClassVar

from josev_hal.liveness import Heartbeat

__all__ = ["JOIN_S", "AdapterLoop"]

#: How long stop waits for the loop thread.
JOIN_S = 1.0


class AdapterLoop(ABC):
    """Thread plumbing of an adapter: subclasses implement :meth:`_step` (one turn) and call
    ``super().__init__(module_id, period_s)``; commands wake the loop with ``self._wake.set()``."""

    #: The thread is named ``everest-<thread_kind>-<module_id>``.
    thread_kind: ClassVar[str]

    def __init__(self, module_id: str, period_s: float) -> None:
        self.module_id = module_id
        self.heartbeat: Heartbeat | None = None
        self.loop_period_s = period_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _step(self) -> None:
        """One turn of the loop (runs on the adapter's thread)."""

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"everest-{self.thread_kind}-{self.module_id}", daemon=True
            )
            self._thread.start()

    def _halt_loop(self) -> None:
        """Stop the loop, waiting at most ``JOIN_S``; the caller then applies its safe state."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(JOIN_S)

    def stop(self) -> None:
        self._halt_loop()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.heartbeat is not None:
                self.heartbeat.beat()
            self._step()
            self._wake.wait(self.loop_period_s)
            self._wake.clear()
