"""Contract checks of everything a CS publishes, as Josev would apply them (and a bit more).

Per message on the CS's publish topic: it must decode strictly (types, ranges, enums, patterns,
cross-field rules, no unknown keys, exact envelope); it must be a pair the CS may send; a response
must answer a request the emulator sent (same id and name) exactly once; and a few semantic rules
of MESSAGES.md hold (``number_of_evses`` equals the number of EVSE entries, ``evse_id`` values are
ones the CS declared in ``cs_parameters``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET

from josev_hal.errors import MessageError
from josev_hal.messages import SPECS, Message, MessageType, decode
from josev_hal.messages import payloads as p

__all__ = ["ContractChecker", "Violation"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One contract violation: what was seen and why it is wrong."""

    where: str  # "<name>.<type>" or "$" when even the envelope is broken
    reason: str
    payload: str  # the first 300 characters of what was received

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class ContractChecker:
    """Thread-safe record of checked messages and violations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checked = 0
        self.violations: list[Violation] = []
        self._outstanding: dict[str, str] = {}  # request id -> name
        self._answered: set[str] = set()
        self.evse_ids: set[str] = set()

    @property
    def failed(self) -> int:
        with self._lock:
            return len(self.violations)

    def expect_response(self, request: Message) -> None:
        with self._lock:
            self._outstanding[request.id] = request.name

    def forget(self, request_id: str) -> None:
        """Stop waiting for the response to ``request_id`` (its absence was already reported)."""
        with self._lock:
            self._outstanding.pop(request_id, None)

    def violation(self, where: str, reason: str, payload: bytes | str = b"") -> Violation:
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        v = Violation(where, reason, text[:300])
        with self._lock:
            self.violations.append(v)
        return v

    def check(self, raw: bytes) -> tuple[Message | None, Violation | None]:
        """Check one message the CS published; returns it decoded (or None) and its violation."""
        with self._lock:
            self.checked += 1
        try:
            msg = decode(raw, strict=True)
        except MessageError as exc:
            where = f"{exc.name}.{exc.type}" if exc.name and exc.type else "$"
            return None, self.violation(where, str(exc), raw)
        where = f"{msg.name}.{msg.type.value}"
        spec = SPECS[(msg.name, msg.type.value)]
        if not spec.outgoing:
            return msg, self.violation(
                where, f"a CS may not publish {where} (contract topic: {spec.topic})", raw
            )
        if msg.type is MessageType.RESPONSE:
            with self._lock:
                name = self._outstanding.get(msg.id)
                duplicate = msg.id in self._answered
                if name is not None:
                    self._answered.add(msg.id)
                    del self._outstanding[msg.id]
            if duplicate:
                return msg, self.violation(where, f"second response to request id {msg.id}", raw)
            if name is None:
                return msg, self.violation(where, f"response id {msg.id} answers no request of Josev", raw)
            if name != msg.name:
                return msg, self.violation(
                    where, f"response to a {name!r} request carries name {msg.name!r}", raw
                )
        problem = self._semantics(msg.data)
        if problem:
            return msg, self.violation(where, problem, raw)
        return msg, None

    def _semantics(self, data: Any) -> str | None:
        if isinstance(data, p.CsParametersResponse):
            if data.number_of_evses != len(data.parameters):
                return f"number_of_evses={data.number_of_evses} but {len(data.parameters)} EVSE entries"
            ids = [e.evse_id for e in data.parameters]
            if len(set(ids)) != len(ids):
                return f"duplicate evse_id in parameters: {ids}"
            with self._lock:
                self.evse_ids.update(ids)
            return None
        evse_id = getattr(data, "evse_id", UNSET)
        with self._lock:
            known = set(self.evse_ids)
        if isinstance(evse_id, str) and known and evse_id not in known:
            return f"evse_id {evse_id!r} was not declared in cs_parameters ({', '.join(sorted(known))})"
        return None

    def unanswered(self) -> dict[str, str]:
        """Requests still waiting for their response (id -> name)."""
        with self._lock:
            return dict(self._outstanding)
