"""Josev's own services and links: SLAC, SDP, service status, websocket and OCPP network
connection, the test harness's router reset.

Messages: ``reset_ocpp_router_state``, ``sdp``, ``service_status``, ``set_ocpp_network_connection``,
``slac_link_status``, ``slac_network_info``, ``slac_status``, ``websocket_status``.
"""

# ruff: noqa: E501  (long patterns and field comments)
from __future__ import annotations

import enum
from typing import Annotated, ClassVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from josev_hal.messages import rules
from josev_hal.messages.base import MessageType, Payload
from josev_hal.messages.patterns import WsUrl
from josev_hal.messages.payloads.common import AcceptedRejected

__all__ = [
    "JosevService",
    "ResetOcppRouterStateRequest",
    "ResetOcppRouterStateResponse",
    "SdpRequest",
    "SdpResponse",
    "SdpSecurity",
    "ServiceRunStatus",
    "ServiceStatusRequest",
    "ServiceStatusResponse",
    "ServiceStatusService",
    "ServiceStatusUpdate",
    "SetOcppNetworkConnectionRequest",
    "SetOcppNetworkConnectionResponse",
    "SlacLinkStatusRequest",
    "SlacLinkStatusResponse",
    "SlacLinkStatusStatus",
    "SlacNetworkInfoAccessNetwork",
    "SlacNetworkInfoNetwork",
    "SlacNetworkInfoRequest",
    "SlacNetworkInfoResponse",
    "SlacNetworkInfoStationRole",
    "SlacStatus",
    "SlacStatusUpdate",
    "WebsocketState",
    "WebsocketStatusRequest",
    "WebsocketStatusResponse",
    "WebsocketStatusUpdate",
]


class SdpSecurity(enum.StrEnum):
    TLS = "tls"
    NO_TLS = "no_tls"


class JosevService(enum.StrEnum):
    SLAC = "slac"
    ISO15118 = "iso15118"
    OCPP = "ocpp"
    GRIDCODE = "gridcode"
    SMART_CHARGING = "smart_charging"


class ServiceRunStatus(enum.StrEnum):
    READY = "ready"
    STARTING = "starting"
    STOPPING = "stopping"
    ERROR = "error"
    BUSY = "busy"


class ServiceStatusService(enum.StrEnum):
    SLAC = "slac"
    ISO15118 = "iso15118"
    OCPP = "ocpp"
    SMART_CHARGING = "smart_charging"


class SlacLinkStatusStatus(enum.StrEnum):
    CONNECTED = "connected"
    UNKNOWN = "unknown"


class SlacNetworkInfoStationRole(enum.StrEnum):
    STA = "STA"
    PROXYCOORDINATOR = "ProxyCoordinator"
    CCO = "CCo"
    UNKNOWN = "Unknown"


class SlacNetworkInfoAccessNetwork(enum.StrEnum):
    INHOME = "InHome"
    ACCESS = "Access"
    UNKNOWN = "Unknown"


class SlacStatus(enum.StrEnum):
    MATCHING = "matching"
    FAILED = "failed"
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    BASIC_CHARGING = "basic_charging"


class WebsocketState(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class ResetOcppRouterStateRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``reset_ocpp_router_state`` request payload (IGNORE (integration tests only)). Resets OCPP routing state during integration tests."""

    NAME: ClassVar[str] = "reset_ocpp_router_state"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    test_name: str | UnsetType = UNSET


class ResetOcppRouterStateResponse(Payload, kw_only=True, forbid_unknown_fields=False):
    """``reset_ocpp_router_state`` response payload (IGNORE). Acknowledgement (any data)."""

    NAME: ClassVar[str] = "reset_ocpp_router_state"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE


class SdpRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``sdp`` request payload (MAY SEND (only with an OEM SDP server)). Used when the CS runs its own SDP (UDP) server: asks Josev to open its TCP/TLS V2G server for the EVSE."""

    NAME: ClassVar[str] = "sdp"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str
    security: SdpSecurity


class SdpResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``sdp`` response payload (LISTEN). Address, port and security of the V2G server that was created (or an error text)."""

    NAME: ClassVar[str] = "sdp"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str
    ip_address: str | UnsetType = UNSET
    port: int | UnsetType = UNSET
    security: SdpSecurity | UnsetType = UNSET
    error: str | UnsetType = UNSET


class ServiceStatusRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``service_status`` request payload (MAY SEND). CS asks whether a given Josev service (slac, iso15118, ocpp, gridcode, smart_charging) is up."""

    NAME: ClassVar[str] = "service_status"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    service: JosevService | UnsetType = UNSET


class ServiceStatusResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``service_status`` response payload (LISTEN). Service name, service software version, Josev API version and run state."""

    NAME: ClassVar[str] = "service_status"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    service: JosevService
    software_version: str
    api_version: str
    status: ServiceRunStatus


class ServiceStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``service_status`` update payload (LISTEN). Unsolicited service state report (e.g. when a service process has started)."""

    NAME: ClassVar[str] = "service_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    service: ServiceStatusService
    software_version: str
    api_version: str
    status: ServiceRunStatus


class SetOcppNetworkConnectionRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``set_ocpp_network_connection`` request payload (MAY SEND). CS asks OCPP to switch to new CSMS connection parameters (URL, security profile, identity, password)."""

    NAME: ClassVar[str] = "set_ocpp_network_connection"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    identity: str | UnsetType = UNSET
    basic_auth_password: str | UnsetType = UNSET
    csms_url: WsUrl
    security_profile: Annotated[int, Meta(ge=1, le=3)]

    def __post_init__(self) -> None:
        rules.url_scheme_matches_security_profile(self, "csms_url")


class SetOcppNetworkConnectionResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``set_ocpp_network_connection`` response payload (LISTEN). Whether the new connection parameters were accepted (+ optional reason)."""

    NAME: ClassVar[str] = "set_ocpp_network_connection"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    status: AcceptedRejected
    reason: str | UnsetType = UNSET


class SlacLinkStatusRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_link_status`` request payload (MAY SEND). CS asks whether the PLC link of an EVSE is up."""

    NAME: ClassVar[str] = "slac_link_status"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str


class SlacLinkStatusResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_link_status`` response payload (LISTEN). PLC link status: connected or unknown."""

    NAME: ClassVar[str] = "slac_link_status"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str
    status: SlacLinkStatusStatus


class SlacNetworkInfoRequest(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_network_info`` request payload (MAY SEND). CS asks for the HomePlug AV network(s) the EVSE modem belongs to."""

    NAME: ClassVar[str] = "slac_network_info"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST

    evse_id: str


class SlacNetworkInfoNetwork(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, gc=False):
    """``SlacNetworkInfoNetwork`` object."""

    network_id: str
    short_network_id: str
    terminal_equipment_id: str
    station_role: SlacNetworkInfoStationRole
    mac_address: str
    access_network: SlacNetworkInfoAccessNetwork
    num_coord_nws: int


class SlacNetworkInfoResponse(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_network_info`` response payload (LISTEN). List of networks (NID, SNID, TEI, role, CCo MAC, access type, number of coordinating networks)."""

    NAME: ClassVar[str] = "slac_network_info"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE

    evse_id: str | UnsetType = UNSET
    networks: list[SlacNetworkInfoNetwork]


class SlacStatusUpdate(Payload, kw_only=True, forbid_unknown_fields=True):
    """``slac_status`` update payload (LISTEN). SLAC matching progress for an EVSE: matching, matched, unmatched, failed, basic_charging."""

    NAME: ClassVar[str] = "slac_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE

    evse_id: str
    # SLAC RunID as hex string (e.g. 0xAAD2BB1357FF0001)
    run_id: str
    status: SlacStatus


class WebsocketStatusRequest(Payload, kw_only=True, forbid_unknown_fields=False):
    """``websocket_status`` request payload (MAY SEND). CS asks for the current CSMS websocket connection state."""

    NAME: ClassVar[str] = "websocket_status"
    TYPE: ClassVar[MessageType] = MessageType.REQUEST


class _WebsocketStatusFields(Payload, kw_only=True, forbid_unknown_fields=True):
    """Fields that every ``websocket_status`` payload below shares (same shape in the contract)."""

    status: WebsocketState
    identity: str | UnsetType = UNSET
    csms_url: str | UnsetType = UNSET
    security_profile: Annotated[int, Meta(ge=1, le=3)] | UnsetType = UNSET


class WebsocketStatusResponse(_WebsocketStatusFields, kw_only=True, forbid_unknown_fields=True):
    """``websocket_status`` response payload (LISTEN). Connection state plus identity, CSMS URL and security profile (the latter present when connected)."""

    NAME: ClassVar[str] = "websocket_status"
    TYPE: ClassVar[MessageType] = MessageType.RESPONSE


class WebsocketStatusUpdate(_WebsocketStatusFields, kw_only=True, forbid_unknown_fields=True):
    """``websocket_status`` update payload (LISTEN). Unsolicited notification whenever the CSMS connection state changes."""

    NAME: ClassVar[str] = "websocket_status"
    TYPE: ClassVar[MessageType] = MessageType.UPDATE
