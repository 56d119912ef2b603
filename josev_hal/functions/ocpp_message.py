"""``ocpp_message`` requests from Josev: raw OCPP calls tunnelled to the OEM (MUST ANSWER if received).

The station has no OEM handling of tunnelled OCPP calls by default, so it answers each one with an
OCPP ``CallError`` ``NotSupported`` that names the call -- a valid, immediate answer that lets
Josev fall back to its own handling instead of waiting for a timeout. Handlers for individual
calls can be added with :meth:`OcppMessageService.add_handler`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from josev_hal.messages import Message
from josev_hal.messages import payloads as p

__all__ = ["OcppMessageService"]

log = logging.getLogger(__name__)

#: ``handler(ocpp_payload) -> CallResult payload`` (raise to answer with a CallError).
CallHandler = Callable[[dict[str, Any]], dict[str, Any]]


class OcppMessageService:
    def __init__(self) -> None:
        self._handlers: dict[str, CallHandler] = {}

    def add_handler(self, message_name: str, handler: CallHandler) -> None:
        """Handle ``message_name`` (e.g. ``"GetVariables"``) in the station."""
        p.OcppMessageMessageName(message_name)  # ValueError for a name the API cannot tunnel
        self._handlers[message_name] = handler

    def handle_request(self, message: Message) -> p.OcppMessageResponse:
        req: p.OcppMessageRequest = message.data
        name = str(req.message_name)
        handler = self._handlers.get(name)
        if handler is None:
            log.info("ocpp_message %s not supported by the station; answering CallError", name)
            return _call_error(req, "NotSupported", f"josev-hal does not handle {name}")
        try:
            result = handler(req.payload)
        except Exception as exc:
            log.exception("ocpp_message handler for %s failed", name)
            return _call_error(req, "InternalError", f"{name} failed: {exc}"[:255])
        return p.OcppMessageResponse(
            ocpp_version=req.ocpp_version, message_type=p.OcppMessageMessageType.CALLRESULT, payload=result
        )


def _call_error(req: p.OcppMessageRequest, code: str, description: str) -> p.OcppMessageResponse:
    return p.OcppMessageResponse(
        ocpp_version=req.ocpp_version,
        message_type=p.OcppMessageMessageType.CALLERROR,
        error_code=code,
        error_description=description[:255],
        error_details={},
    )
