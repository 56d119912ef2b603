"""systemd notify + the liveness watchdog: tell the supervisor "alive" only while every loop turns.

**sd_notify** is systemd's documented datagram protocol (``man sd_notify``): the service manager
puts a Unix datagram socket path in ``$NOTIFY_SOCKET`` (a leading ``@`` means the abstract
namespace) and the service sends newline-separated ``KEY=VALUE`` assignments to it:
``READY=1`` once start-up is done (``Type=notify``), ``WATCHDOG=1`` at least every
``$WATCHDOG_USEC`` microseconds (``WatchdogSec=``), ``STOPPING=1`` when shutting down and
``STATUS=...`` for ``systemctl status``. A few lines of socket code; no dependency needed. Without
``$NOTIFY_SOCKET`` (not under systemd) every send is a no-op.

**The watchdog** pings only while :meth:`josev_hal.liveness.Liveness.overdue` is empty, i.e.
every registered loop (each EVSE's sampling loop, the bridge's network loop) has turned within its
limit. A loop that stops turning is logged once with the stack of its thread (so the log says
*where* it hangs), handed to ``on_stuck`` (the daemon reports a ``hardware_fault`` where it can and
exits non-zero), and the pings stop - so systemd kills and restarts the HAL even if the exit
itself hangs, and an MCU board's keep-alive, which is fed only by a living HAL, fails safe.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from josev_hal.liveness import Liveness, Overdue

__all__ = ["DEFAULT_CHECK_INTERVAL_S", "SdNotify", "Watchdog", "watchdog_interval_s"]

log = logging.getLogger(__name__)

#: How often liveness is checked when systemd sets no watchdog interval.
DEFAULT_CHECK_INTERVAL_S = 1.0


class SdNotify:
    """Sender for systemd's notify socket (see the module docstring). Never raises."""

    def __init__(self, address: str | None = None) -> None:
        raw = os.environ.get("NOTIFY_SOCKET") if address is None else address
        self.address: str | None = None
        if raw:
            # "@name" is the abstract namespace, written with a leading NUL byte on the wire.
            self.address = "\0" + raw[1:] if raw.startswith("@") else raw
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failed_once = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; False when not under systemd or it failed."""
        if self.address is None:
            return False
        data = "\n".join(assignments).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                    self._sock.settimeout(1.0)  # a datagram send does not block; never hang here
                self._sock.sendto(data, self.address)
                return True
            except OSError as exc:
                if not self._failed_once:
                    self._failed_once = True
                    log.error("sd_notify to %r failed: %s (further failures not logged)", self.address, exc)
                return False

    def ready(self, status: str | None = None) -> bool:
        lines = ["READY=1", f"MAINPID={os.getpid()}"]
        if status:
            lines.append(f"STATUS={status}")
        return self.send(*lines)

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """Half of systemd's ``$WATCHDOG_USEC`` (the documented recommendation) in seconds, or None
    when no watchdog is configured for this process (``$WATCHDOG_PID``, if set, must be ours)."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not an integer; systemd watchdog pings disabled", usec)
        return None
    if value <= 0:
        return None
    return value / 2 / 1_000_000


class Watchdog:
    """A thread that checks ``liveness`` every ``interval_s`` (see the module docstring).

    ``on_stuck(overdue)`` is called once, from the watchdog thread, the first time any loop is
    overdue; it must not block for long (the daemon only requests its shutdown there).
    """

    def __init__(
        self,
        liveness: Liveness,
        notifier: SdNotify,
        *,
        interval_s: float,
        on_stuck: Callable[[list[Overdue]], None],
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"watchdog interval must be > 0, got {interval_s!r}")
        self.liveness = liveness
        self.notifier = notifier
        self.interval_s = interval_s
        self._on_stuck = on_stuck
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.tripped: list[Overdue] = []
        self.pings = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="josev-hal-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2)

    def check(self) -> list[Overdue]:
        """One check: ping when every loop is fresh, else trip (once). Returns the overdue loops."""
        overdue = self.liveness.overdue()
        if not overdue:
            if not self.tripped and self.notifier.watchdog():
                self.pings += 1
            return []
        if not self.tripped:
            self.tripped = overdue
            for o in overdue:
                log.critical("watchdog: %s; its thread is here:\n%s", o.describe(), o.stack.rstrip())
            try:
                self._on_stuck(overdue)
            except Exception:
                log.exception("watchdog: on_stuck handler failed")
        return overdue

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.check()
            next_at += self.interval_s
            delay = next_at - time.monotonic()
            if delay < 0:  # we were descheduled: no burst of catch-up pings
                next_at = time.monotonic()
                delay = 0
            self._stop.wait(delay)
