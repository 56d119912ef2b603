"""Communication monitoring with EVerest (``everest_api_tutorial.rst``, "Communication Monitoring")
and the entry point's discovery.

* EVerest publishes ``e2m/heartbeat`` (an incrementing integer) every ``cfg_heartbeat_interval_ms``
  per API module. :class:`ModuleMonitor` records its arrival on the network thread (a slow bus
  transaction on the worker must not make EVerest look dead) and declares the module lost when no
  heartbeat came for ``heartbeat_timeout_s``. A module whose heartbeat was never seen is not alive:
  nothing may be switched on before EVerest has shown that it is there.
* The client must publish ``true`` on ``m2e/communication_check`` within
  ``cfg_communication_check_to_s``; :class:`CommunicationMonitor` sends it every
  ``check_interval_s`` for every module.
* Discovery: on every (re)connect and every ``everest_api/ready_beacon`` the monitor sends
  ``everest_api/discover`` with a private ``replyTo``; replies name each API module with its
  ``communication_monitoring`` parameters. A reply for one of our modules sets its heartbeat
  timeout (``heartbeat_factor`` x the period, at least 1 s; a period <= 0 means EVerest disabled
  heartbeats, and then loss cannot be detected, which is logged as a warning) and our check
  interval (half the period EVerest expects). Listeners are told about each ready beacon
  (adapters re-publish state).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from josev_hal.errors import MessageError
from josev_hal.everest import codec
from josev_hal.everest import messages as m
from josev_hal.everest.link import EverestLink

__all__ = ["CommunicationMonitor", "ModuleMonitor"]

log = logging.getLogger(__name__)

# Stop waits this long for the loop (a bus call in flight); the safe state is applied anyway:
# the daemon's whole shutdown is bounded.
_JOIN_S = 1.0

_TICK_S = 0.05
#: Floor of the heartbeat timeout taken from discovery (3 periods of a fast heartbeat is too short).
MIN_HEARTBEAT_TIMEOUT_S = 1.0


@dataclass
class ModuleMonitor:
    """Heartbeat state of one API module. ``alive`` is read from any thread."""

    api_type: str
    module_id: str
    heartbeat_timeout_s: float | None
    last_heartbeat: float | None = None
    last_id: int | None = None
    discovered: bool = False
    was_alive: bool = False

    def beat(self, heartbeat_id: int) -> None:
        self.last_id = heartbeat_id
        self.last_heartbeat = time.monotonic()

    def age(self) -> float | None:
        return None if self.last_heartbeat is None else time.monotonic() - self.last_heartbeat

    @property
    def alive(self) -> bool:
        if self.last_heartbeat is None:
            return False
        if self.heartbeat_timeout_s is None:  # EVerest disabled heartbeats: nothing to judge by
            return True
        return time.monotonic() - self.last_heartbeat <= self.heartbeat_timeout_s


AliveListener = Callable[[ModuleMonitor, bool], None]


class CommunicationMonitor:
    """Heartbeat watchdog, communication check sender and discovery for a set of API modules."""

    def __init__(
        self,
        link: EverestLink,
        *,
        heartbeat_timeout_s: float,
        check_interval_s: float,
        heartbeat_factor: float = 3.0,
    ) -> None:
        self.link = link
        self.default_timeout_s = heartbeat_timeout_s
        self.check_interval_s = check_interval_s
        self.heartbeat_factor = heartbeat_factor
        self.modules: dict[tuple[str, str], ModuleMonitor] = {}
        self._alive_listeners: list[AliveListener] = []
        self._beacon_listeners: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reply_topic = f"josev-hal/{link.settings.client_id}/everest/discover/{uuid.uuid4().hex[:8]}"
        self.beacons = 0

    def add(self, api_type: str, module_id: str) -> ModuleMonitor:
        key = (api_type, module_id)
        if key not in self.modules:
            mon = ModuleMonitor(api_type, module_id, self.default_timeout_s)
            self.modules[key] = mon
            self.link.route(api_type, module_id, "heartbeat", mon.beat, inline=True)
        return self.modules[key]

    def on_alive_change(self, listener: AliveListener) -> None:
        """``listener(module, alive)`` on the monitor thread when a module is found or lost."""
        self._alive_listeners.append(listener)

    def on_ready_beacon(self, listener: Callable[[], None]) -> None:
        self._beacon_listeners.append(listener)

    def register(self) -> None:
        self.link.subscribe_raw(codec.READY_BEACON_TOPIC, self._on_beacon)
        self.link.subscribe_raw(self._reply_topic, self._on_discover_reply)
        self.link.on_session(self.discover)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="everest-monitor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(_JOIN_S)

    # -- discovery -------------------------------------------------------------------------------

    def discover(self) -> None:
        request = m.Reply(headers=m.Headers(replyTo=self._reply_topic))
        self.link.publish_raw(codec.DISCOVER_TOPIC, codec.encode(request))

    def _on_beacon(self, topic: str, payload: bytes) -> None:
        self.beacons += 1
        log.info("everest ready beacon: discovering and re-publishing state")
        self.discover()
        for listener in list(self._beacon_listeners):
            listener()

    def _on_discover_reply(self, topic: str, payload: bytes) -> None:
        try:
            reply = codec.decode_as(m.ApiDiscoverResponse, payload, name="reply_discover")
        except MessageError as exc:
            log.warning("everest discover reply rejected: %s", exc)
            return
        for api in reply.apis:
            mon = self.modules.get((api.type, api.module_id))
            if mon is None:
                continue
            mon.discovered = True
            params = api.communication_monitoring
            if isinstance(params, m.CommunicationParameters):
                period_ms = params.heartbeat_period_ms
                if isinstance(period_ms, int):
                    if period_ms <= 0:
                        mon.heartbeat_timeout_s = None
                        log.warning(
                            "everest module %s/%s has heartbeats disabled: a lost EVerest cannot be "
                            "detected (set cfg_heartbeat_interval_ms > 0)",
                            api.type,
                            api.module_id,
                        )
                    else:
                        # Never below MIN_HEARTBEAT_TIMEOUT_S: a scheduling hiccup on a busy
                        # controller must not end a session as if EVerest had died.
                        mon.heartbeat_timeout_s = max(
                            MIN_HEARTBEAT_TIMEOUT_S, self.heartbeat_factor * period_ms / 1000.0
                        )
                check_s = params.communication_check_period_s
                if isinstance(check_s, int) and check_s > 0:
                    self.check_interval_s = min(self.check_interval_s, check_s / 2.0)
            log.info(
                "everest module discovered type=%s module_id=%s heartbeat_timeout_s=%s",
                api.type,
                api.module_id,
                mon.heartbeat_timeout_s,
            )

    # -- monitor thread --------------------------------------------------------------------------

    def _run(self) -> None:
        next_check = 0.0
        while not self._stop.wait(_TICK_S):
            now = time.monotonic()
            for mon in list(self.modules.values()):
                alive = mon.alive
                if alive != mon.was_alive:
                    mon.was_alive = alive
                    if alive:
                        log.info("everest module alive type=%s module_id=%s", mon.api_type, mon.module_id)
                    else:
                        log.error(
                            "everest heartbeat lost type=%s module_id=%s age=%.2fs: failing safe",
                            mon.api_type,
                            mon.module_id,
                            mon.age() or 0.0,
                        )
                    for listener in list(self._alive_listeners):
                        try:
                            listener(mon, alive)
                        except Exception:
                            log.exception("everest alive listener failed")
            if now >= next_check:
                next_check = now + self.check_interval_s
                for mon in list(self.modules.values()):
                    self.link.publish(mon.api_type, mon.module_id, "communication_check", True)


class ErrorRegistry:
    """Errors of one API module, raised and cleared pairwise (the emulator checks this): a raise
    is published only when the error is not active, a clear only when it is.

    A raise or clear that could not be sent (broker away) is sent after the reconnect
    (:meth:`flush`); after a ready beacon (EVerest restarted and forgot everything) every active
    error is raised again (:meth:`republish`)."""

    def __init__(self, link: EverestLink, api_type: str, module_id: str, error_cls: type) -> None:
        self.link = link
        self.api_type = api_type
        self.module_id = module_id
        self.error_cls = error_cls
        self._active: dict[tuple[str, str], object] = {}
        self._unsent: dict[tuple[str, str], tuple[str, object]] = {}
        self._lock = threading.Lock()

    def raise_(self, type_: str, sub_type: str = "", message: str = "") -> None:
        key = (type_, sub_type)
        payload = self.error_cls(type=type_, sub_type=sub_type, message=message)
        with self._lock:
            if key in self._active:
                return
            self._active[key] = payload
        log.warning(
            "everest raise_error module=%s type=%s sub_type=%s %s", self.module_id, type_, sub_type, message
        )
        self._send(key, "raise_error", payload)

    def clear(self, type_: str, sub_type: str = "") -> None:
        key = (type_, sub_type)
        with self._lock:
            payload = self._active.pop(key, None)
        if payload is not None:
            log.info("everest clear_error module=%s type=%s sub_type=%s", self.module_id, type_, sub_type)
            self._send(key, "clear_error", payload)

    def _send(self, key: tuple[str, str], name: str, payload: object) -> None:
        with self._lock:
            previous = self._unsent.pop(key, None)
        if previous is not None and previous[0] != name:
            # A raise that never left is cancelled by its clear: EVerest saw neither.
            return
        if not self.link.publish(self.api_type, self.module_id, name, payload):
            with self._lock:
                self._unsent[key] = (name, payload)

    def set(self, active: bool, type_: str, sub_type: str = "", message: str = "") -> None:
        if active:
            self.raise_(type_, sub_type, message)
        else:
            self.clear(type_, sub_type)

    def active(self, type_: str | None = None) -> list[tuple[str, str]]:
        with self._lock:
            return [k for k in self._active if type_ is None or k[0] == type_]

    def flush(self) -> None:
        """Send what could not be sent while offline (after a reconnect)."""
        with self._lock:
            unsent, self._unsent = self._unsent, {}
        for key, (name, payload) in unsent.items():
            self._send(key, name, payload)

    def republish(self) -> None:
        """Raise every active error again (EVerest restarted: it announced a ready beacon)."""
        with self._lock:
            payloads = list(self._active.items())
            self._unsent.clear()
        for key, payload in payloads:
            self._send(key, "raise_error", payload)
