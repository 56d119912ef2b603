"""``data_transfer`` in both directions (OCPP 2.0.1 P01/P02): vendor data relayed unchanged.

Incoming (CSMS -> station): the ``hal_data_transfer`` hook answers; plugins return ``None`` for
vendor ids they do not own, the default answers ``unknown_vendor_id``. Outgoing (station -> CSMS):
:meth:`DataTransferService.send` sends a request and returns Josev's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from josev_hal.functions.ports import opt
from josev_hal.hookspecs import DataTransferResult
from josev_hal.messages import Message, Payload
from josev_hal.messages import payloads as p

__all__ = ["DataTransferService"]

log = logging.getLogger(__name__)

#: ``answer(vendor_id, message_id, data) -> DataTransferResult | None``: the hook.
Answer = Callable[[str, str | None, object], DataTransferResult | None]
Requester = Callable[[Payload, float | None], Message]

_STATUSES = {s.value for s in p.DataTransferStatus}


class DataTransferService:
    def __init__(self, answer: Answer, request: Requester) -> None:
        self._answer = answer
        self._request = request

    def handle_request(self, message: Message) -> p.DataTransferResponse:
        req: p.DataTransferRequest = message.data
        message_id = opt(req.message_id)
        try:
            result = self._answer(req.vendor_id, message_id, opt(req.data))
        except Exception:
            log.exception("hal_data_transfer failed vendor_id=%s; answering rejected", req.vendor_id)
            result = DataTransferResult("rejected")
        if result is None:
            result = DataTransferResult("unknown_vendor_id")
        status = str(result.status)
        if status not in _STATUSES:
            log.error("hal_data_transfer returned status %r; answering rejected", status)
            status = "rejected"
        log.info("data_transfer vendor_id=%s message_id=%s -> %s", req.vendor_id, message_id, status)
        response = p.DataTransferResponse(status=p.DataTransferStatus(status))
        if result.data is not None:
            response.data = result.data
        return response

    def send(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, *, timeout: float | None = None
    ) -> DataTransferResult:
        """Send vendor data to the CSMS; returns its answer (raises RequestTimeout / BridgeError)."""
        payload = p.DataTransferRequest(vendor_id=vendor_id)
        if message_id is not None:
            payload.message_id = message_id
        if data is not None:
            payload.data = data
        response = self._request(payload, timeout).data
        return DataTransferResult(str(response.status), opt(response.data))
