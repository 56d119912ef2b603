"""``device_model``: the OCPP identity, CSMS connection and EVSE inventory (OCPP 2.0.1 B01/B07).

Answered from the profile: ``[station]`` (vendor, model, serial number, software version),
``[device_model]`` (CSMS URL, security profile, identity, password file, message timeout) and the
``[[evse]]`` list (OCPP ids, ISO 15118 ids, power, phases, connector types). The password is read
from its file on every request, so rotating it needs no restart and it never sits in the profile.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from josev_hal.errors import ConfigError
from josev_hal.messages import Message
from josev_hal.messages import payloads as p

if TYPE_CHECKING:
    from josev_hal.profile import DeviceModelSettings, EvseSpec, Profile

__all__ = ["build_device_model", "evse_power_kw"]

log = logging.getLogger(__name__)


def evse_power_kw(evse: EvseSpec) -> float:
    """Rated power of an EVSE from its profile entry [kW]."""
    if evse.max_power_w:
        return float(round(evse.max_power_w / 1000.0, 3))
    if evse.dc is not None:
        return float(round(evse.dc.max_power_w / 1000.0, 3))
    current = evse.max_current_a or 32.0
    return float(round(evse.phases * evse.nominal_voltage_v * current / 1000.0, 3))


def _password(settings: DeviceModelSettings) -> str:
    path = settings.basic_auth_password_file
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        # Answering without the password lets OCPP start (and the CSMS say why it refuses);
        # not answering at all would stall Josev's OCPP service.
        log.error("device_model: cannot read basic_auth_password_file %s: %s", path, exc)
        return ""


def build_device_model(profile: Profile) -> p.DeviceModelResponse:
    """The ``device_model`` response for ``profile``; ConfigError when the profile lacks the CSMS URL."""
    dm = profile.device_model
    station = profile.station
    if not dm.ocpp_csms_url:
        raise ConfigError("device_model: [device_model] ocpp_csms_url is not set in the profile")
    scheme_ok = dm.ocpp_csms_url.startswith("wss://" if dm.security_profile >= 2 else "ws://")
    if not scheme_ok:
        log.error(
            "device_model: security_profile %d needs a %s URL, profile has %s",
            dm.security_profile,
            "wss://" if dm.security_profile >= 2 else "ws://",
            dm.ocpp_csms_url,
        )
    evses = []
    for evse in profile.evse:
        connectors = [
            p.DeviceModelConnector(id=c.id, connector_type=p.DeviceModelConnectorType(str(c.ocpp_type)))
            for c in evse.connectors
        ]
        phases = 0 if str(evse.kind) == "dc" else evse.phases  # OCPP: 0 phases means DC
        evses.append(
            p.DeviceModelEvse(
                ocpp_id=evse.ocpp_id,
                iso15118_id=evse.id,
                power_kw=evse_power_kw(evse),
                supply_phases=phases,
                connectors=connectors,
            )
        )
    identity = dm.identity or station.serial_number or station.model
    response = p.DeviceModelResponse(
        model=station.model,
        vendor=station.vendor,
        ocpp_version=p.OcppVersion(dm.ocpp_version),
        ocpp_csms_url=dm.ocpp_csms_url,
        security_profile=dm.security_profile,
        identity=identity,
        basic_auth_password=_password(dm),
        serial_number=station.serial_number or identity,
        firmware_version=station.sw_version,
        evses=evses,
    )
    if dm.default_message_timeout_s is not None:
        response.default_message_timeout = dm.default_message_timeout_s
    return response


class DeviceModelService:
    """Answers ``device_model`` requests from a profile."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    def handle_request(self, message: Message) -> p.DeviceModelResponse:
        response = build_device_model(self.profile)
        log.info(
            "device_model answered identity=%s csms=%s evses=%d",
            response.identity,
            response.ocpp_csms_url,
            len(response.evses),
        )
        return response
