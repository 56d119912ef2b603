"""Topics and payload types of the EVerest API interfaces josev-hal serves, and strict decoding.

Topic layout (``apis.rst``): ``everest_api/1/<api_type>/<module_id>/<e2m|m2e>/<name>``; replies go
to the ``replyTo`` topic of the request's ``headers``. :data:`PAYLOADS` maps every
``(api_type, direction, name)`` to the payload's type; ``direction`` is ``"e2m"``, ``"m2e"`` or
``"reply"`` (the reply to the e2m request of that name). ``None`` means "no payload" (commands
such as ``cp_state_X1`` or ``lock``: whatever bytes arrive are ignored).

:func:`decode` never returns a half-valid value: it raises :class:`~josev_hal.errors.MessageError`
with the JSON path of the offending value, so a bad command is logged and never actuates.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from josev_hal.errors import MessageError
from josev_hal.everest import messages as m

__all__ = [
    "API_VERSION",
    "PAYLOADS",
    "ApiType",
    "MessageKey",
    "decode",
    "encode",
    "module_prefix",
    "parse_topic",
    "topic",
]

API_VERSION = 1
ROOT = "everest_api"
READY_BEACON_TOPIC = f"{ROOT}/ready_beacon"
DISCOVER_TOPIC = f"{ROOT}/discover"
QUERY_MODULES_PREFIX = f"{ROOT}/query-modules"


class ApiType(enum.StrEnum):
    """The API types josev-hal implements (the ``<api_type>`` topic level)."""

    EVSE_BOARD_SUPPORT = "evse_board_support"
    POWERMETER = "powermeter"
    ISOLATION_MONITOR = "isolation_monitor"
    POWER_SUPPLY_DC = "power_supply_DC"
    AUTH_TOKEN_PROVIDER = "auth_token_provider"


MessageKey = tuple[str, str, str]  # (api_type, direction, name)

# 64-bit unsigned by description only: the schema sets no bounds, and neither do we.
_HeartbeatId = int
_Phases = Annotated[int, msgspec.Meta(ge=1, le=3)]
_Duty = Annotated[float, msgspec.Meta(ge=0, le=100)]

_BSP = ApiType.EVSE_BOARD_SUPPORT.value
_PM = ApiType.POWERMETER.value
_IMD = ApiType.ISOLATION_MONITOR.value
_PSU = ApiType.POWER_SUPPLY_DC.value
_AUTH = ApiType.AUTH_TOKEN_PROVIDER.value


def _common(api: str, error: Any | None) -> dict[MessageKey, Any]:
    table: dict[MessageKey, Any] = {
        (api, "e2m", "heartbeat"): _HeartbeatId,
        (api, "m2e", "communication_check"): bool,
    }
    if error is not None:
        table[(api, "m2e", "raise_error")] = error
        table[(api, "m2e", "clear_error")] = error
    return table


PAYLOADS: dict[MessageKey, Any] = {
    # evse_board_support
    (_BSP, "e2m", "enable"): bool,
    (_BSP, "e2m", "pwm_on"): _Duty,
    (_BSP, "e2m", "cp_state_X1"): None,
    (_BSP, "e2m", "cp_state_F"): None,
    (_BSP, "e2m", "cp_state_E"): None,
    (_BSP, "e2m", "allow_power_on"): m.PowerOnOff,
    (_BSP, "e2m", "ac_switch_three_phases_while_charging"): m.AcPhaseMode,
    (_BSP, "e2m", "ac_overcurrent_limit"): float,
    (_BSP, "m2e", "event"): m.BspEvent,
    (_BSP, "m2e", "ac_nr_of_phases"): _Phases,
    (_BSP, "m2e", "capabilities"): m.HardwareCapabilities,
    (_BSP, "m2e", "ac_pp_ampacity"): m.ProximityPilot,
    (_BSP, "m2e", "request_stop_transaction"): m.StopTransactionRequest,
    # ac_rcd
    (_BSP, "e2m", "self_test"): None,
    (_BSP, "e2m", "reset"): m.Reply,
    (_BSP, "reply", "reset"): bool,
    (_BSP, "m2e", "rcd_current"): float,
    # connector_lock
    (_BSP, "e2m", "lock"): None,
    (_BSP, "e2m", "unlock"): None,
    **_common(_BSP, m.BspError),
    # powermeter
    (_PM, "e2m", "start_transaction"): m.StartTransactionEnvelope,
    (_PM, "reply", "start_transaction"): m.StartTransactionReply,
    (_PM, "e2m", "stop_transaction"): m.StopTransactionEnvelope,
    (_PM, "reply", "stop_transaction"): m.StopTransactionReply,
    (_PM, "m2e", "powermeter_values"): m.Powermeter,
    (_PM, "m2e", "public_key_ocmf"): str,
    **_common(_PM, None),
    # isolation_monitor
    (_IMD, "e2m", "start"): None,
    (_IMD, "e2m", "stop"): None,
    (_IMD, "e2m", "start_self_test"): float,
    (_IMD, "m2e", "isolation_measurement"): m.IsolationMeasurement,
    (_IMD, "m2e", "self_test_result"): bool,
    **_common(_IMD, m.ImdError),
    # power_supply_DC
    (_PSU, "e2m", "mode"): m.ModeRequest,
    (_PSU, "e2m", "export_voltage_current"): m.VoltageCurrent,
    (_PSU, "e2m", "import_voltage_current"): m.VoltageCurrent,
    (_PSU, "m2e", "voltage_current"): m.VoltageCurrent,
    (_PSU, "m2e", "mode"): m.Mode,
    (_PSU, "m2e", "capabilities"): m.Capabilities,
    **_common(_PSU, m.PsuError),
    # auth_token_provider
    (_AUTH, "m2e", "provided_token"): m.ProvidedIdToken,
    **_common(_AUTH, None),
}

#: Entry-point messages (no module id in the topic).
ENTRYPOINT: dict[str, Any] = {
    "discover": m.Reply,
    "query-modules": m.Reply,
    "reply_discover": m.ApiDiscoverResponse,
    "ready_beacon": m.ReadyBeacon,
}

_decoders: dict[int, msgspec.json.Decoder[Any]] = {}
_encoder = msgspec.json.Encoder()


def module_prefix(api_type: str, module_id: str) -> str:
    """``everest_api/1/<api_type>/<module_id>``."""
    return f"{ROOT}/{API_VERSION}/{api_type}/{module_id}"


def topic(api_type: str, module_id: str, direction: str, name: str) -> str:
    """The full topic of one message."""
    return f"{module_prefix(api_type, module_id)}/{direction}/{name}"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    api_type: str
    module_id: str
    direction: str
    name: str


def parse_topic(value: str) -> ParsedTopic | None:
    """Split a module topic; ``None`` when it is not ``everest_api/1/<type>/<id>/<dir>/<name>``."""
    parts = value.split("/")
    if len(parts) != 6 or parts[0] != ROOT or parts[1] != str(API_VERSION) or parts[4] not in ("e2m", "m2e"):
        return None
    return ParsedTopic(parts[2], parts[3], parts[4], parts[5])


def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    key = id(tp)
    dec = _decoders.get(key)
    if dec is None:
        dec = _decoders[key] = msgspec.json.Decoder(tp, strict=True)
    return dec


def decode_as(tp: Any, payload: bytes, *, name: str = "") -> Any:
    """Decode ``payload`` as ``tp`` (strict). Raises MessageError with the JSON path."""
    try:
        return _decoder(tp).decode(payload)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if " - at `" in text:
            reason, _, at = text.rpartition(" - at `")
            return _raise(reason, at.rstrip("`"), name)
        return _raise(text, "$", name)
    except msgspec.DecodeError as exc:
        return _raise(f"invalid JSON: {exc}", "$", name)
    except UnicodeDecodeError as exc:  # msgspec before 0.23 raises this for invalid UTF-8 in a string
        return _raise(f"invalid JSON: invalid UTF-8 at byte {exc.start}", "$", name)


def _raise(reason: str, path: str, name: str) -> Any:
    raise MessageError(reason, path=path, name=name or None)


def decode(key: MessageKey, payload: bytes) -> Any:
    """Decode the payload of message ``key``; ``None`` for payload-less commands."""
    if key not in PAYLOADS:
        raise MessageError(f"unknown EVerest API message {'/'.join(key)}", name=key[2])
    tp = PAYLOADS[key]
    if tp is None:
        return None
    return decode_as(tp, payload, name=key[2])


def encode(value: Any) -> bytes:
    """JSON bytes of a payload (Structs leave unset optional keys out)."""
    return _encoder.encode(value)
