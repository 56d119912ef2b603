"""Authorization: local id means (RFID) -> ``authorization`` request, and the OEM hooks
``process_authorized_token`` and ``set_variable_validate`` (OCPP 2.0.1 C01/C02, B05).

**Token presented** (:class:`TokenAuthorizer`): a thread polls every EVSE's id-token reader
(``IdTokenReader.poll``, ~0.5 s). For each token the ``hal_authorize_local_token`` hook decides
first (True / False / None = ask Josev); without a local decision the CS sends an
``authorization`` request and waits for the answer. The answer gates the session:
``EvseController.set_authorized(True)`` only on ``accepted``; a rejection, a timeout or a broken
broker never authorizes (fail closed). An ``authorization`` update from Josev (remote start,
de-authorization) gates the same way (:meth:`TokenAuthorizer.on_update`).

**process_authorized_token**: the default accepts a token for an EVSE that exists and is
available, and discards it otherwise (a session could not start there anyway).

**set_variable_validate**: the default rejects what the station can tell is wrong -- a component
that names an OCPP EVSE or connector the station does not have, or a value longer than OCPP's
2500-character limit -- and accepts the rest (Josev keeps the device model itself).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from josev_hal.devices import IdTokenReader
from josev_hal.errors import HalError
from josev_hal.functions.ports import StationEvse, opt
from josev_hal.messages import Message, Payload
from josev_hal.messages import payloads as p

__all__ = ["TokenAuthorizer", "process_authorized_token", "validate_variable"]

log = logging.getLogger(__name__)

#: ``decide(id_token, token_type, evse_id) -> True/False/None``: the ``hal_authorize_local_token`` hook.
LocalDecision = Callable[[str, str, str | None], bool | None]
#: ``request(payload, timeout) -> Message``: the bridge's CS -> Josev request.
Requester = Callable[[Payload, float | None], Message]

_REQUEST_TOKEN_TYPES = {t.value for t in p.AuthorizationTokenType}

# OCPP 2.0.1 limits attribute values to 2500 characters (SetVariableData.attributeValue).
_MAX_ATTRIBUTE_VALUE = 2500


class TokenAuthorizer:
    """Polls the token readers and turns tokens into authorizations."""

    def __init__(
        self,
        evses: Sequence[StationEvse],
        request: Requester,
        decide_local: LocalDecision,
        *,
        poll_interval_s: float = 0.5,
        request_timeout_s: float | None = None,
    ) -> None:
        self._evses = {e.evse_id: e for e in evses}
        self._request = request
        self._decide_local = decide_local
        self.poll_interval_s = poll_interval_s
        self.request_timeout_s = request_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: (evse_id, id_token, result) of the latest decisions, newest last (diagnostics, tests).
        self.decisions: list[tuple[str | None, str, str]] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def readers(self) -> list[tuple[str, IdTokenReader]]:
        out: list[tuple[str, IdTokenReader]] = []
        for evse_id, port in self._evses.items():
            reader = port.token_reader()
            if reader is not None:
                out.append((evse_id, reader))
        return out

    def start(self) -> None:
        if self._thread is None and self.readers():
            self._thread = threading.Thread(target=self._poll_loop, name="token-readers", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def _poll_loop(self) -> None:
        readers = self.readers()
        log.info("polling %d id-token reader(s)", len(readers))
        while not self._stop.wait(self.poll_interval_s):
            for evse_id, reader in readers:
                try:
                    token = reader.poll()
                except HalError as exc:
                    log.warning("token reader %s failed: %s", getattr(reader, "device_id", reader), exc)
                    continue
                except Exception:
                    log.exception("token reader %s crashed", getattr(reader, "device_id", reader))
                    continue
                if token is not None:
                    self.authorize(token.uid, token.type, evse_id)

    # -- decisions ---------------------------------------------------------------------------
    def authorize(self, id_token: str, token_type: str, evse_id: str | None) -> bool:
        """Decide about a token presented for ``evse_id``; gate the EVSE; return the result."""
        decided: bool | None
        try:
            decided = self._decide_local(id_token, token_type, evse_id)
        except Exception:
            log.exception("hal_authorize_local_token failed; asking Josev")
            decided = None
        if decided is not None:
            source = "local"
            accepted = bool(decided)
        else:
            source = "josev"
            accepted = self._ask_josev(id_token, token_type, evse_id)
        log.info(
            "token %s evse_id=%s type=%s -> %s (%s)",
            _mask(id_token),
            evse_id,
            token_type,
            "accepted" if accepted else "rejected",
            source,
        )
        self.decisions.append((evse_id, id_token, "accepted" if accepted else "rejected"))
        del self.decisions[:-50]
        if accepted:
            self._gate(evse_id, True)
        return accepted

    def _ask_josev(self, id_token: str, token_type: str, evse_id: str | None) -> bool:
        if token_type not in _REQUEST_TOKEN_TYPES:
            log.warning("token type %r cannot be sent in an authorization request; using 'local'", token_type)
            token_type = "local"
        payload = p.AuthorizationRequest(token_type=p.AuthorizationTokenType(token_type))
        if token_type != "no_authorization":
            payload.id_token = id_token
        if evse_id is not None:
            payload.evse_id = evse_id
        try:
            response = self._request(payload, self.request_timeout_s)
        except HalError as exc:
            log.warning("authorization request failed (not authorized): %s", exc)
            return False
        data = response.data
        return bool(getattr(data, "status", None) == p.AuthorizationStatus.ACCEPTED)

    def _gate(self, evse_id: str | None, authorized: bool) -> None:
        targets = [evse_id] if evse_id is not None else []
        for target in targets:
            port = self._evses.get(target)
            if port is None:
                log.warning("authorization for unknown evse_id %r ignored", target)
                continue
            port.set_authorized(authorized)

    def on_update(self, message: Message) -> None:
        """Josev's ``authorization`` update: accepted authorizes, anything else withdraws."""
        data: p.AuthorizationUpdate = message.data
        accepted = data.status == p.AuthorizationStatus.ACCEPTED
        log.info("authorization update evse_id=%s status=%s", data.evse_id, data.status)
        self._gate(data.evse_id, accepted)


def process_authorized_token(
    message: Message, evses: Sequence[StationEvse], available: Callable[[str], bool]
) -> p.ProcessAuthorizedTokenResponse:
    """Default answer to ``process_authorized_token`` (see the module docstring)."""
    req: p.ProcessAuthorizedTokenRequest = message.data
    evse_id = opt(req.evse_id)
    known = {e.evse_id for e in evses}
    if evse_id is not None and evse_id not in known:
        status, why = p.ProcessAuthorizedTokenStatus.DISCARDED, "unknown evse"
    elif evse_id is not None and not available(evse_id):
        status, why = p.ProcessAuthorizedTokenStatus.DISCARDED, "evse unavailable"
    elif evse_id is None and not any(available(e) for e in known):
        status, why = p.ProcessAuthorizedTokenStatus.DISCARDED, "no evse available"
    else:
        status, why = p.ProcessAuthorizedTokenStatus.ACCEPTED, "ok"
    log.info("process_authorized_token evse_id=%s -> %s (%s)", evse_id, status.value, why)
    response = p.ProcessAuthorizedTokenResponse(status=status)
    if evse_id is not None:
        response.evse_id = evse_id
    return response


def validate_variable(
    message: Message, evse_ocpp_ids: dict[int, Sequence[int]]
) -> p.SetVariableValidateResponse:
    """Default answer to ``set_variable_validate``; ``evse_ocpp_ids`` maps OCPP evse id -> connector ids."""
    req: p.SetVariableValidateRequest = message.data
    component = req.component
    problem: str | None = None
    if len(req.attribute_value) > _MAX_ATTRIBUTE_VALUE:
        problem = f"value longer than {_MAX_ATTRIBUTE_VALUE} characters"
    evse_text = opt(component.evse_id)
    connector_id = opt(component.connector_id)
    if problem is None and evse_text is not None:
        try:
            ocpp_evse = int(evse_text)
        except ValueError:
            problem = f"component.evse_id {evse_text!r} is not an OCPP evse number"
        else:
            if ocpp_evse not in evse_ocpp_ids:
                problem = f"station has no OCPP evse {ocpp_evse}"
            elif connector_id is not None and connector_id not in evse_ocpp_ids[ocpp_evse]:
                problem = f"evse {ocpp_evse} has no connector {connector_id}"
    result = p.AcceptedRejected.REJECTED if problem else p.AcceptedRejected.ACCEPTED
    log.info(
        "set_variable_validate %s.%s=%r -> %s%s",
        component.name,
        req.variable.name,
        req.attribute_value[:80],
        result.value,
        f" ({problem})" if problem else "",
    )
    return p.SetVariableValidateResponse(result=result)


def _mask(token: str) -> str:
    """Tokens are personal data: log only the last four characters."""
    return ("*" * max(0, len(token) - 4)) + token[-4:]
