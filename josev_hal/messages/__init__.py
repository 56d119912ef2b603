"""The Josev API message layer: every message as a msgspec Struct, a fast strict codec.

>>> from josev_hal.messages import Message, decode, encode, payloads as p
>>> msg = Message.update(p.CpStatusUpdate(evse_id="DE*JHL*E0001", connector_id=1, state=p.CpState.B2))
>>> decode(encode(msg)).data.state
<CpState.B2: 'B2'>

See :mod:`josev_hal.messages.codec` for the decoding strategy and the incoming-leniency policy.
"""

from josev_hal.errors import MessageError, UnknownMessageError
from josev_hal.messages import payloads
from josev_hal.messages.base import MessageType, Payload
from josev_hal.messages.codec import (
    SPECS,
    Message,
    MessageSpec,
    decode,
    encode,
    error_response,
    invalid_request_response,
    set_incoming_lenient,
    utc_timestamp,
)

__all__ = [
    "SPECS",
    "Message",
    "MessageError",
    "MessageSpec",
    "MessageType",
    "Payload",
    "UnknownMessageError",
    "decode",
    "encode",
    "error_response",
    "invalid_request_response",
    "payloads",
    "set_incoming_lenient",
    "utc_timestamp",
]
