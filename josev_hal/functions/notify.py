"""A small Python API for the messages a station *may* send on its own (MESSAGES.md "MAY SEND" /
"MAY PUBLISH" rows), for vendor plugins and the daemon.

>>> functions.notify.notify_event(1001, tech_code="DoorOpen", evse_id="DE*ACM*E0001")
>>> functions.notify.parking_bay("DE*ACM*E0001", occupied=True)
>>> functions.notify.websocket_status().status
<WebsocketState.CONNECTED: 'connected'>

Updates are queued by the bridge and never block; requests block for Josev's answer (raising
:class:`~josev_hal.errors.RequestTimeout`). Invalid arguments raise :class:`ValueError` (unknown
EVSE) or :class:`~josev_hal.errors.MessageError` (contract violation) before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from josev_hal.functions.availability import AvailabilityManager
from josev_hal.messages import Message, Payload, utc_timestamp
from josev_hal.messages import payloads as p

__all__ = ["Notifier"]

Publisher = Callable[[Payload], object]
Requester = Callable[[Payload, float | None], Message]


class Notifier:
    def __init__(
        self,
        publish: Publisher,
        request: Requester,
        evse_ids: Sequence[str],
        availability: AvailabilityManager | None = None,
    ) -> None:
        self._publish = publish
        self._request = request
        self._evse_ids = set(evse_ids)
        self._availability = availability

    def _check_evse(self, evse_id: str | None) -> None:
        if evse_id is not None and evse_id not in self._evse_ids:
            raise ValueError(f"unknown evse_id {evse_id!r} (known: {sorted(self._evse_ids)})")

    # -- updates -----------------------------------------------------------------------------
    def notify_event(
        self,
        event_id: int,
        *,
        tech_code: str | None = None,
        tech_info: str | None = None,
        transaction_id: str | None = None,
        evse_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> p.NotifyEventUpdate:
        """Forward an event to the CSMS (OCPP NotifyEvent). ``timestamp`` defaults to now."""
        self._check_evse(evse_id)
        payload = p.NotifyEventUpdate(event_id=event_id, timestamp=utc_timestamp(timestamp))
        for name, value in (
            ("tech_code", tech_code),
            ("tech_info", tech_info),
            ("transaction_id", transaction_id),
            ("evse_id", evse_id),
        ):
            if value is not None:
                setattr(payload, name, value)
        self._publish(payload)
        return payload

    def parking_bay(self, evse_id: str, *, occupied: bool) -> p.ParkingBayUpdate:
        """A parking sensor saw an EV arrive (``occupied=True``) or leave."""
        self._check_evse(evse_id)
        status = p.ParkingBayStatus.EV_DETECTED if occupied else p.ParkingBayStatus.EV_DEPARTED
        payload = p.ParkingBayUpdate(evse_id=evse_id, status=status)
        self._publish(payload)
        return payload

    def device_model_update(
        self,
        *,
        firmware_version: str | None = None,
        sim_iccid: str | None = None,
        sim_imsi: str | None = None,
        components: list[p.DeviceModelUpdateComponent] | None = None,
    ) -> p.DeviceModelUpdateUpdate:
        """Tell OCPP about a changed device-model value (new firmware version, SIM card ...)."""
        payload = p.DeviceModelUpdateUpdate()
        for name, value in (
            ("firmware_version", firmware_version),
            ("sim_iccid", sim_iccid),
            ("sim_imsi", sim_imsi),
            ("components", components),
        ):
            if value is not None:
                setattr(payload, name, value)
        self._publish(payload)
        return payload

    def change_availability(
        self,
        operative: bool,
        evse_id: str | None = None,
        connector_id: int | None = None,
        *,
        force: bool = False,
    ) -> None:
        """The station's own availability change: persisted, fed to the interlocks, announced.
        ``force=True`` applies it at once even during a session (inoperative stops the session)."""
        if self._availability is None:
            raise RuntimeError("no availability manager installed")
        self._availability.set_local(operative, evse_id, connector_id, force=force)

    # -- requests ----------------------------------------------------------------------------
    def service_status(
        self, service: str | None = None, *, timeout: float | None = None
    ) -> p.ServiceStatusResponse:
        """Ask whether a Josev service (slac, iso15118, ocpp, gridcode, smart_charging) is up."""
        payload = p.ServiceStatusRequest()
        if service is not None:
            payload.service = p.JosevService(service)
        result: p.ServiceStatusResponse = self._request(payload, timeout).data
        return result

    def websocket_status(self, *, timeout: float | None = None) -> p.WebsocketStatusResponse:
        """Ask OCPP for the state of its CSMS connection."""
        result: p.WebsocketStatusResponse = self._request(p.WebsocketStatusRequest(), timeout).data
        return result

    def set_ocpp_network_connection(
        self,
        csms_url: str,
        security_profile: int,
        *,
        identity: str | None = None,
        basic_auth_password: str | None = None,
        timeout: float | None = None,
    ) -> p.SetOcppNetworkConnectionResponse:
        """Ask OCPP to switch to new CSMS connection parameters."""
        payload = p.SetOcppNetworkConnectionRequest(csms_url=csms_url, security_profile=security_profile)
        if identity is not None:
            payload.identity = identity
        if basic_auth_password is not None:
            payload.basic_auth_password = basic_auth_password
        result: p.SetOcppNetworkConnectionResponse = self._request(payload, timeout).data
        return result

    def slac_link_status(self, evse_id: str, *, timeout: float | None = None) -> p.SlacLinkStatusResponse:
        """Ask SLAC whether the PLC link of an EVSE is up (diagnostics)."""
        self._check_evse(evse_id)
        result: p.SlacLinkStatusResponse = self._request(
            p.SlacLinkStatusRequest(evse_id=evse_id), timeout
        ).data
        return result

    def slac_network_info(self, evse_id: str, *, timeout: float | None = None) -> p.SlacNetworkInfoResponse:
        """Ask SLAC for the HomePlug AV network(s) the EVSE's modem belongs to (diagnostics)."""
        self._check_evse(evse_id)
        result: p.SlacNetworkInfoResponse = self._request(
            p.SlacNetworkInfoRequest(evse_id=evse_id), timeout
        ).data
        return result

    def sdp(self, evse_id: str, *, tls: bool, timeout: float | None = None) -> p.SdpResponse:
        """Only for stations running their own SDP server: ask Josev to open its V2G server."""
        self._check_evse(evse_id)
        security = p.SdpSecurity.TLS if tls else p.SdpSecurity.NO_TLS
        result: p.SdpResponse = self._request(p.SdpRequest(evse_id=evse_id, security=security), timeout).data
        return result

    def device_model_reset(self, *, timeout: float | None = None) -> p.DeviceModelResetResponse:
        """Ask OCPP to forget its stored device model (it asks for ``device_model`` again)."""
        result: p.DeviceModelResetResponse = self._request(p.DeviceModelResetRequest(), timeout).data
        return result
