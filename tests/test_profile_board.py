"""Board.build / setup / release: buses and drivers built from a profile, safe on failure."""

from __future__ import annotations

import pytest

import tests.support.loopback as loopback
from josev_hal.board import Board
from josev_hal.devices import Contactor, Meter, Role
from josev_hal.errors import ConfigError, DeviceError, DeviceTimeout
from josev_hal.hookspecs import hookimpl
from josev_hal.plugins import HalPluginManager, get_plugin_manager
from josev_hal.profile import load_profile_text


@pytest.fixture(scope="module")
def pm() -> HalPluginManager:
    return get_plugin_manager(autoload=False, extra_plugins=[loopback])


def _board(pm: HalPluginManager, text: str = loopback.AC_PROFILE + loopback.DC_EVSE) -> Board:
    return Board.build(load_profile_text(text, "boards/x.toml", pm), pm)


def test_build_creates_one_bus_per_table_and_one_driver_per_device(pm: HalPluginManager) -> None:
    board = _board(pm)
    assert list(board.buses) == ["board"] and isinstance(board.buses["board"], loopback.LoopbackBus)
    ac = board.evse("DE*ACM*E0001")
    assert set(ac.devices) == {Role.CONTROL_PILOT, Role.PROXIMITY_PILOT, Role.CONTACTOR, Role.RCD, Role.METER}
    meter = ac.require(Role.METER, Meter)
    assert meter.device_id == "evse[0].meter"
    assert meter.config.bus is board.buses["board"] and meter.config.address == 0x14
    assert meter.config.evse_id == "DE*ACM*E0001" and meter.config.plugin == "tests.support.loopback"
    assert isinstance(meter.options, loopback.MeterOptions) and meter.options.model == "sdm630"
    assert board.device("evse[1].power_module") is board.evse("DE*ACM*E0002").devices[Role.DC_POWER_MODULE]
    assert ac.get(Role.ID_TOKEN_READER, Meter) is None
    # Building touches no hardware.
    assert board.buses["board"].setup_calls == 0 and board.buses["board"].peer.transactions == 0


def test_setup_opens_buses_then_devices_and_release_closes_everything(pm: HalPluginManager) -> None:
    board = _board(pm)
    bus = board.buses["board"]
    with board:
        assert bus.is_open and bus.setup_calls == 1
        assert bus.peer.transactions == len(list(board.devices()))  # every device probed once
        contactor = board.evse("DE*ACM*E0001").require(Role.CONTACTOR, Contactor)
        contactor.close()
        assert contactor.read().feedback_closed is True
    assert not bus.is_open
    board.release()  # idempotent


def test_failed_device_setup_releases_what_was_set_up_and_names_the_device(pm: HalPluginManager) -> None:
    board = _board(pm)
    board.buses["board"].peer.offline = True  # the board does not answer
    with pytest.raises(DeviceTimeout, match=r"evse\[0\]\.cp \(tests\.support\.loopback\): no answer"):
        board.setup()
    assert not board.buses["board"].is_open


def test_unexpected_driver_exception_is_wrapped_with_the_device_id() -> None:
    class Exploding(loopback.LoopMeter):
        def setup(self) -> None:
            raise OSError("spi0 busy")

    class Plugin:
        name = "exploding"

        @hookimpl
        def hal_register_drivers(self) -> dict[str, type]:
            return {"exploding-meter": Exploding}

    pm = get_plugin_manager(autoload=False, extra_plugins=[loopback, Plugin()])
    board = _board(pm, loopback.AC_PROFILE.replace('driver = "loop-meter"', 'driver = "exploding-meter"'))
    with pytest.raises(
        DeviceError, match=r"evse\[0\]\.meter \(exploding\): setup failed: OSError: spi0 busy"
    ):
        board.setup()
    assert not board.buses["board"].is_open


def test_unknown_evse_and_missing_role_are_clear_errors(pm: HalPluginManager) -> None:
    board = _board(pm)
    with pytest.raises(KeyError):
        board.evse("DE*XXX*E9")
    with pytest.raises(ConfigError, match="has no lock device"):
        board.evse("DE*ACM*E0001").require(Role.CONNECTOR_LOCK, Contactor)
    with pytest.raises(TypeError):
        board.evse("DE*ACM*E0001").get(Role.METER, Contactor)
