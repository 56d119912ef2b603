"""A board served through the EVerest northbound on a private mosquitto, with the EVerest
emulator on the same broker (the real paho/MQTT path end to end, the real driver objects)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from josev_hal.board import Board
from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.everest.codec import ApiType
from josev_hal.everest.emulator import EmulatedModules, EverestEmulator
from josev_hal.everest.northbound import EverestNorthbound, module_ids
from josev_hal.liveness import Liveness
from josev_hal.plugins import get_plugin_manager
from josev_hal.profile import Profile, load_profile_text

EVEREST_TOP = '[northbound]\nkind = "everest"\nheartbeat_timeout_s = 1.0\ncommunication_check_s = 0.5\n'


def everest_profile(
    text: str, *, source: str = "board.toml", min_close_interval_s: float | None = 0.0
) -> Profile:
    """``text`` with ``[northbound] kind = "everest"`` prepended (fast monitoring). Reclosing is
    not held back unless a test asks for ``min_close_interval_s`` (None: the profile's own)."""
    profile = load_profile_text(EVEREST_TOP + text, source, get_plugin_manager())
    if min_close_interval_s is not None:
        profile.contactor.min_close_interval_s = min_close_interval_s
    profile.mqtt.client_id = f"josev-hal-everest-{uuid.uuid4().hex[:8]}"
    profile.mqtt.reconnect_min_s = 0.05
    profile.mqtt.reconnect_max_s = 0.5
    return profile


def modules_of(profile: Profile, index: int) -> EmulatedModules:
    evse = profile.evse[index]
    ids = module_ids(evse)
    roles = {r.value for r in evse.devices}
    return EmulatedModules(
        evse_id=evse.id,
        evse_board_support=ids[ApiType.EVSE_BOARD_SUPPORT],
        powermeter=ids[ApiType.POWERMETER] if "meter" in roles else None,
        isolation_monitor=ids[ApiType.ISOLATION_MONITOR] if "isolation_monitor" in roles else None,
        power_supply_DC=ids[ApiType.POWER_SUPPLY_DC] if "power_module" in roles else None,
        auth_token_provider=ids[ApiType.AUTH_TOKEN_PROVIDER] if "id_reader" in roles else None,
    )


@dataclass
class Rig:
    profile: Profile
    board: Board
    northbound: EverestNorthbound
    emulator: EverestEmulator
    events: list[tuple[str, str, str | None]]

    def bsp(self, index: int = 0) -> Any:
        return self.northbound.bsps[self.profile.evse[index].id]


@contextmanager
def everest_rig(
    broker: EmbeddedBroker,
    profile: Profile,
    *,
    heartbeat_ms: int = 250,
    sim_control: bool = True,
    prepare: Callable[[Board], None] | None = None,
    liveness: Liveness | None = None,
) -> Iterator[Rig]:
    """``prepare(board)`` runs after Board.build and before setup (wire bus simulators there)."""
    pm = get_plugin_manager()
    board = Board.build(profile, pm)
    if prepare is not None:
        prepare(board)
    board.setup()
    events: list[tuple[str, str, str | None]] = []
    try:
        northbound = EverestNorthbound(profile, board, broker_url=broker.url, liveness=liveness)
        northbound.start(wait_s=10, pm=pm if sim_control else None)
        try:
            mods = [modules_of(profile, i) for i in range(len(profile.evse))]
            emulator = EverestEmulator(
                broker.url, mods, heartbeat_ms=heartbeat_ms, on_event=lambda *e: events.append(e)
            )
            with emulator:
                yield Rig(profile, board, northbound, emulator, events)
        finally:
            northbound.stop()
    finally:
        board.release()
