"""``auth_token_provider``: the EVSE's id-token reader (RFID/NFC) as an EVerest token provider.

Tokens are polled every ``interval_s`` and at once when the driver notifies; each one is
published as ``m2e/provided_token`` with ``authorization_type`` ``RFID`` and the EVSE's OCPP
connector id, so EVerest's Auth module can assign it to this EVSE. The reader's token type
(Josev API naming) maps to EVerest's ``IdTokenType``.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from josev_hal.devices import IdTokenReader
from josev_hal.errors import DeviceError
from josev_hal.everest import codec
from josev_hal.everest import messages as m
from josev_hal.everest.link import EverestLink
from josev_hal.everest.loop import AdapterLoop

__all__ = ["AuthTokenAdapter", "token_type"]

log = logging.getLogger(__name__)

API = codec.ApiType.AUTH_TOKEN_PROVIDER.value

_TYPES = {
    "iso14443": m.IdTokenType.ISO14443,
    "iso15693": m.IdTokenType.ISO15693,
    "key_code": m.IdTokenType.KEY_CODE,
    "keycode": m.IdTokenType.KEY_CODE,
    "local": m.IdTokenType.LOCAL,
    "central": m.IdTokenType.CENTRAL,
    "emaid": m.IdTokenType.EMAID,
    "mac_address": m.IdTokenType.MAC_ADDRESS,
}


def token_type(name: str) -> m.IdTokenType:
    """EVerest's type for a reader's token type; unknown ones are ``Local`` (a local id means)."""
    return _TYPES.get(name.lower(), m.IdTokenType.LOCAL)


class AuthTokenAdapter(AdapterLoop):
    thread_kind: ClassVar[str] = "auth"

    def __init__(
        self,
        link: EverestLink,
        reader: IdTokenReader,
        module_id: str,
        *,
        connector_id: int,
        interval_s: float = 0.5,
    ) -> None:
        super().__init__(module_id, interval_s)
        self.link = link
        self.reader = reader
        self.connector_id = connector_id
        self.interval_s = interval_s
        self.sent = 0
        self._failing = False

    def register(self) -> None:
        self.reader.subscribe(self._wake.set)

    def _step(self) -> None:
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                token = self.reader.poll()
            except DeviceError as exc:
                if not self._failing:
                    log.error("everest auth=%s reader failed: %s", self.module_id, exc)
                self._failing = True
                return
            self._failing = False
            if token is None:
                return
            provided = m.ProvidedIdToken(
                id_token=m.ProvidedIdTokenValue(value=token.uid, type=token_type(token.type)),
                authorization_type=m.AuthorizationType.RFID,
                connectors=[self.connector_id],
            )
            self.sent += 1
            log.info("everest auth=%s token presented type=%s", self.module_id, token.type)
            self.link.publish(API, self.module_id, "provided_token", provided)
