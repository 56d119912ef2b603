"""Which EVSEs run under EVerest and their API module ids (no hardware, no MQTT imports)."""

from __future__ import annotations

from josev_hal.everest.codec import ApiType
from josev_hal.profile import EvseSpec, NorthboundKind, Profile

__all__ = ["everest_evses", "module_ids"]

_DEFAULT_PREFIX = {
    ApiType.EVSE_BOARD_SUPPORT: "bsp",
    ApiType.POWERMETER: "powermeter",
    ApiType.ISOLATION_MONITOR: "imd",
    ApiType.POWER_SUPPLY_DC: "psu",
    ApiType.AUTH_TOKEN_PROVIDER: "auth",
}


def module_ids(evse: EvseSpec) -> dict[ApiType, str]:
    """The EVerest module id of every API type for ``evse`` (configured or default)."""
    nb = evse.northbound
    out: dict[ApiType, str] = {}
    for api, prefix in _DEFAULT_PREFIX.items():
        configured = getattr(nb, api.value, None) if nb is not None else None
        out[api] = configured or f"{prefix}_{evse.ocpp_id}"
    return out


def everest_evses(profile: Profile) -> list[EvseSpec]:
    return [e for e in profile.evse if profile.northbound_of(e) is NorthboundKind.EVEREST]
