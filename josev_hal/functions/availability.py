"""``change_availability``: operative / inoperative per station, EVSE or connector (OCPP G03/G04).

The one writer of :meth:`EvseController.set_available`. The availability an EVSE controller sees
is *effective* availability::

    station operative AND EVSE operative AND every connector of the EVSE operative
    AND no hold (a pending on-idle reset, a firmware installation) covers the EVSE

(an inoperative connector makes its whole EVSE unavailable because the connectors of one EVSE
share one contactor: the safe reading). The interlock then never closes the contactor of an
unavailable EVSE.

* **Never cuts a session**: a change to unavailable on an EVSE with a running transaction is
  *scheduled* (the contract's response has only accepted/rejected, so the answer is ``accepted``)
  and applied when the transaction ends; a ``change_availability`` update is then published so
  Josev learns when it took effect. Only the CS's own change (:meth:`set_local` with
  ``force=True``, e.g. an emergency service switch) and an immediate reset cut a session.
* **Persistent**: the operator-set state is written atomically to
  ``<state_dir>/availability.json`` on every change and restored on start, so an inoperative
  EVSE stays inoperative across a restart of the HAL. After every (re)connect the inoperative
  scopes are re-announced as ``change_availability`` updates.
* **Holds** are not persisted: they live as long as the reset or installation that set them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from josev_hal.functions.ports import EvsePort, opt
from josev_hal.messages import Message, Payload
from josev_hal.messages import payloads as p

__all__ = ["AvailabilityManager", "AvailabilityState", "load_state", "save_state"]

log = logging.getLogger(__name__)

STATE_FILE = "availability.json"
_FORMAT_VERSION = 1


class AvailabilityState(msgspec.Struct):
    """What the operator set (only inoperative scopes are stored; everything else is operative)."""

    station_operative: bool = True
    inoperative_evses: set[str] = msgspec.field(default_factory=set)
    inoperative_connectors: set[tuple[str, int]] = msgspec.field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        connectors: dict[str, list[int]] = {}
        for evse_id, connector_id in sorted(self.inoperative_connectors):
            connectors.setdefault(evse_id, []).append(connector_id)
        return {
            "version": _FORMAT_VERSION,
            "station": "operative" if self.station_operative else "inoperative",
            "inoperative_evses": sorted(self.inoperative_evses),
            "inoperative_connectors": connectors,
        }

    @classmethod
    def from_json(cls, doc: Any, source: str) -> AvailabilityState:
        """Parse the file content; raises ValueError naming ``source`` and the key at fault."""
        if not isinstance(doc, dict):
            raise ValueError(f"{source}: $: expected an object")
        if doc.get("version") != _FORMAT_VERSION:
            raise ValueError(f"{source}: $.version: expected {_FORMAT_VERSION}, got {doc.get('version')!r}")
        station = doc.get("station", "operative")
        if station not in ("operative", "inoperative"):
            raise ValueError(f"{source}: $.station: expected operative/inoperative, got {station!r}")
        evses = doc.get("inoperative_evses", [])
        if not isinstance(evses, list) or not all(isinstance(e, str) for e in evses):
            raise ValueError(f"{source}: $.inoperative_evses: expected a list of EVSE ids")
        connectors = doc.get("inoperative_connectors", {})
        if not isinstance(connectors, dict):
            raise ValueError(f"{source}: $.inoperative_connectors: expected an object")
        pairs: set[tuple[str, int]] = set()
        for evse_id, ids in connectors.items():
            if not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids
            ):
                raise ValueError(f"{source}: $.inoperative_connectors.{evse_id}: expected a list of integers")
            pairs.update((evse_id, i) for i in ids)
        return cls(station == "operative", set(evses), pairs)


def load_state(path: Path) -> AvailabilityState:
    """Read the persisted state; a missing file is "all operative".

    A corrupt file is moved aside to ``<name>.corrupt`` (kept for diagnosis) and logged; the
    station then starts operative rather than refusing to start.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AvailabilityState()
    try:
        return AvailabilityState.from_json(json.loads(text), str(path))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        log.error("availability state unreadable, starting operative: %s", exc)
        try:
            os.replace(path, path.with_name(path.name + ".corrupt"))
        except OSError:
            pass
        return AvailabilityState()


def save_state(path: Path, state: AvailabilityState) -> None:
    """Write atomically (temp file, fsync, rename): a power cut leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(state.to_json(), out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


class AvailabilityManager:
    """Owns availability state, holds and the ``change_availability`` handlers."""

    def __init__(
        self,
        evses: Sequence[EvsePort],
        state_dir: Path,
        publish: Callable[[Payload], object],
        *,
        poll_interval_s: float = 0.5,
    ) -> None:
        self._evses: dict[str, EvsePort] = {e.evse_id: e for e in evses}
        self._path = Path(state_dir) / STATE_FILE
        self._publish = publish
        self._poll_interval_s = poll_interval_s
        self._lock = threading.RLock()
        self._cv = threading.Condition(self._lock)
        self._state = load_state(self._path)
        self._drop_unknown()
        self._holds: dict[str, frozenset[str]] = {}
        self._forced: set[str] = set()
        self._applied: dict[str, bool] = {}
        self._announce_when_applied: set[str] = set()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.apply()

    # -- queries -----------------------------------------------------------------------------
    @property
    def state(self) -> AvailabilityState:
        with self._lock:
            return AvailabilityState(
                self._state.station_operative,
                set(self._state.inoperative_evses),
                set(self._state.inoperative_connectors),
            )

    def effective(self, evse_id: str) -> bool:
        """Whether the EVSE should be available now (before the never-cut-a-session rule)."""
        with self._lock:
            return self._operative(evse_id) and not any(evse_id in scope for scope in self._holds.values())

    def applied(self, evse_id: str) -> bool | None:
        """What was last passed to the controller's ``set_available`` (None: never)."""
        with self._lock:
            return self._applied.get(evse_id)

    def pending(self) -> set[str]:
        """EVSEs whose change to unavailable waits for a transaction to end."""
        with self._lock:
            return {e for e in self._evses if not self.effective(e) and self._applied.get(e) is not False}

    def _operative(self, evse_id: str) -> bool:
        evse = self._evses[evse_id]
        s = self._state
        return (
            s.station_operative
            and evse_id not in s.inoperative_evses
            and not any((evse_id, c) in s.inoperative_connectors for c in evse.connector_ids)
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread that applies scheduled changes when transactions end."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="availability", daemon=True)
            self._thread.start()

    def close(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(2)

    def transaction_changed(self) -> None:
        """The station core may call this when a transaction starts or ends (faster than polling)."""
        with self._cv:
            self._cv.notify_all()

    def _watch(self) -> None:
        with self._cv:
            while not self._stopped:
                self._cv.wait(self._poll_interval_s)
                if not self._stopped:
                    self.apply()

    # -- applying ----------------------------------------------------------------------------
    def apply(self) -> None:
        """Bring every controller in line with effective availability (never cutting a session
        unless that EVSE's change was forced)."""
        with self._lock:
            for evse_id, evse in self._evses.items():
                target = self.effective(evse_id)
                if self._applied.get(evse_id) is target:
                    continue
                if not target and evse_id not in self._forced and self._busy(evse):
                    continue  # scheduled: re-checked by the watcher thread
                try:
                    evse.set_available(target)
                except Exception:
                    # A controller refusing is a bug or a dead board; keep trying on the next pass.
                    log.exception("set_available(%s) failed evse_id=%s", target, evse_id)
                    continue
                self._applied[evse_id] = target
                self._forced.discard(evse_id)
                log.info("availability applied evse_id=%s available=%s", evse_id, target)
                if evse_id in self._announce_when_applied:
                    self._announce_when_applied.discard(evse_id)
                    self._publish_scope(evse_id, target)
            self._cv.notify_all()

    @staticmethod
    def _busy(evse: EvsePort) -> bool:
        try:
            return bool(evse.is_transaction_active())
        except Exception:
            log.exception("is_transaction_active failed evse_id=%s; assuming a transaction", evse.evse_id)
            return True

    def _publish_scope(self, evse_id: str, available: bool) -> None:
        status = p.OperationalStatus.OPERATIVE if available else p.OperationalStatus.INOPERATIVE
        self._safe_publish(p.ChangeAvailabilityUpdate(operational_status=status, evse_id=evse_id))

    def _safe_publish(self, payload: Payload) -> None:
        try:
            self._publish(payload)
        except Exception:
            log.exception("publishing %s failed", type(payload).__name__)

    # -- holds (reset on idle, firmware installation) ----------------------------------------
    def hold(self, reason: str, evse_ids: Sequence[str] | None = None) -> None:
        """Make EVSEs unavailable for ``reason`` (all when ``evse_ids`` is None), never cutting a
        running session; not persisted."""
        with self._lock:
            self._holds[reason] = frozenset(evse_ids if evse_ids is not None else self._evses)
            log.info("availability hold reason=%s evses=%s", reason, sorted(self._holds[reason]))
            self.apply()

    def release(self, reason: str) -> None:
        with self._lock:
            if self._holds.pop(reason, None) is not None:
                log.info("availability hold released reason=%s", reason)
                self.apply()

    def force_unavailable(self, evse_ids: Sequence[str] | None = None) -> None:
        """Apply unavailability now even on EVSEs with a session (immediate reset)."""
        with self._lock:
            self._forced.update(evse_ids if evse_ids is not None else self._evses)
            self.apply()

    def transactions_active(self, evse_ids: Sequence[str] | None = None) -> bool:
        ids = evse_ids if evse_ids is not None else list(self._evses)
        return any(self._busy(self._evses[e]) for e in ids if e in self._evses)

    def wait_idle(
        self,
        reason: str,
        cancel: threading.Event,
        timeout_s: float | None = None,
        evse_ids: Sequence[str] | None = None,
    ) -> bool:
        """Hold the EVSEs (no new sessions) and wait until none has a transaction.

        Returns False when cancelled or timed out (the hold is then released).
        """
        self.hold(reason, evse_ids)
        waited = 0.0
        step = self._poll_interval_s
        while self.transactions_active(evse_ids):
            if cancel.wait(step):
                self.release(reason)
                return False
            waited += step
            if timeout_s and waited >= timeout_s:
                self.release(reason)
                return False
        return True

    # -- changes -----------------------------------------------------------------------------
    def _scope_problem(self, evse_id: str | None, connector_id: int | None) -> str | None:
        if connector_id is not None and evse_id is None:
            return "connector_id without evse_id"
        if evse_id is not None and evse_id not in self._evses:
            return f"unknown evse_id {evse_id!r}"
        if (
            connector_id is not None
            and evse_id is not None
            and connector_id not in self._evses[evse_id].connector_ids
        ):
            return f"unknown connector_id {connector_id} of {evse_id}"
        return None

    def change(
        self,
        operative: bool,
        evse_id: str | None = None,
        connector_id: int | None = None,
        *,
        force: bool = False,
    ) -> str | None:
        """Set a scope operative/inoperative, persist, apply. Returns a problem string or None."""
        with self._lock:
            problem = self._scope_problem(evse_id, connector_id)
            if problem is not None:
                return problem
            s = self._state
            if evse_id is None:
                s.station_operative = operative
                if operative:
                    # OCPP G03: setting the station operative makes all EVSEs/connectors operative.
                    s.inoperative_evses.clear()
                    s.inoperative_connectors.clear()
            elif connector_id is None:
                if operative:
                    s.inoperative_evses.discard(evse_id)
                    s.inoperative_connectors -= {c for c in s.inoperative_connectors if c[0] == evse_id}
                else:
                    s.inoperative_evses.add(evse_id)
            elif operative:
                s.inoperative_connectors.discard((evse_id, connector_id))
            else:
                s.inoperative_connectors.add((evse_id, connector_id))
            try:
                save_state(self._path, s)
            except OSError as exc:
                log.error(
                    "availability not persisted (will not survive a restart) path=%s: %s", self._path, exc
                )
            affected = [evse_id] if evse_id is not None else list(self._evses)
            if force:
                self._forced.update(affected)
            for e in affected:
                if not self.effective(e) and self._busy(self._evses[e]) and not force:
                    log.info("availability change scheduled until the transaction ends evse_id=%s", e)
                    self._announce_when_applied.add(e)
            log.info(
                "availability changed operative=%s evse_id=%s connector_id=%s force=%s",
                operative,
                evse_id,
                connector_id,
                force,
            )
            self.apply()
            return None

    # -- message handlers --------------------------------------------------------------------
    def handle_request(self, message: Message) -> p.ChangeAvailabilityResponse:
        req: p.ChangeAvailabilityRequest = message.data
        operative = req.operational_status == p.OperationalStatus.OPERATIVE
        problem = self.change(operative, opt(req.evse_id), opt(req.connector_id))
        if problem is not None:
            log.warning("change_availability rejected: %s", problem)
            return p.ChangeAvailabilityResponse(status=p.AcceptedRejected.REJECTED)
        return p.ChangeAvailabilityResponse(status=p.AcceptedRejected.ACCEPTED)

    def set_local(
        self,
        operative: bool,
        evse_id: str | None = None,
        connector_id: int | None = None,
        *,
        force: bool = False,
    ) -> None:
        """The CS's own change (service switch, vendor logic): persisted, applied, and announced
        with a ``change_availability`` update. Raises ValueError for an unknown scope."""
        problem = self.change(operative, evse_id, connector_id, force=force)
        if problem is not None:
            raise ValueError(f"change_availability: {problem}")
        status = p.OperationalStatus.OPERATIVE if operative else p.OperationalStatus.INOPERATIVE
        update = p.ChangeAvailabilityUpdate(operational_status=status)
        if evse_id is not None:
            update.evse_id = evse_id
        if connector_id is not None:
            update.connector_id = connector_id
        self._safe_publish(update)

    def snapshot(self) -> list[Payload]:
        """Updates re-announcing every inoperative scope after a (re)connect."""
        with self._lock:
            s = self._state
            out: list[Payload] = []
            inop = p.OperationalStatus.INOPERATIVE
            if not s.station_operative:
                out.append(p.ChangeAvailabilityUpdate(operational_status=inop))
            for evse_id in sorted(s.inoperative_evses):
                out.append(p.ChangeAvailabilityUpdate(operational_status=inop, evse_id=evse_id))
            for evse_id, connector_id in sorted(s.inoperative_connectors):
                out.append(
                    p.ChangeAvailabilityUpdate(
                        operational_status=inop, evse_id=evse_id, connector_id=connector_id
                    )
                )
            return out

    def _drop_unknown(self) -> None:
        s = self._state
        unknown = {e for e in s.inoperative_evses if e not in self._evses}
        unknown |= {c[0] for c in s.inoperative_connectors if c[0] not in self._evses}
        if unknown:
            log.warning("availability state names EVSEs not in the profile (ignored): %s", sorted(unknown))
            s.inoperative_evses -= unknown
            s.inoperative_connectors = {c for c in s.inoperative_connectors if c[0] not in unknown}
