"""A built board: the shared bus objects and one driver instance per device of a loaded profile.

``Board.build(profile, pm)`` only *constructs* (no hardware access), so it is cheap and cannot
leave anything half-open; :meth:`Board.setup` then opens buses and sets up devices, and on any
failure releases what it already set up before raising. :meth:`Board.release` is idempotent and
never raises -- it runs on shutdown paths where the contactor must still be opened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from josev_hal.buses import Bus
from josev_hal.devices import DeviceConfig, Driver, Role
from josev_hal.errors import ConfigError, HalError

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager
    from josev_hal.profile import EvseSpec, Profile

__all__ = ["Board", "BoardEvse"]

log = logging.getLogger(__name__)

D = TypeVar("D", bound=Driver)


class BoardEvse(msgspec.Struct):
    """One EVSE of the board: its profile entry and its drivers by role."""

    index: int
    spec: EvseSpec
    devices: dict[Role, Driver] = msgspec.field(default_factory=dict)

    @property
    def id(self) -> str:
        """The ISO 15118 EVSE id."""
        return self.spec.id

    def get(self, role: Role, cls: type[D]) -> D | None:
        """The driver for ``role`` typed as ``cls`` (``None`` when the EVSE has no such device)."""
        driver = self.devices.get(role)
        if driver is None:
            return None
        if not isinstance(driver, cls):
            raise TypeError(f"{driver!r} is not a {cls.__name__}")
        return driver

    def require(self, role: Role, cls: type[D]) -> D:
        """Like :meth:`get` but the device must exist (the profile check guarantees required roles)."""
        driver = self.get(role, cls)
        if driver is None:
            raise ConfigError(f"evse {self.id!r} has no {role.value} device")
        return driver


class Board:
    """Buses and drivers of one station, built from a :class:`~josev_hal.profile.Profile`."""

    def __init__(self, profile: Profile, buses: dict[str, Bus], evses: list[BoardEvse]) -> None:
        self.profile = profile
        self.buses = buses
        self.evses = evses
        self._set_up_buses: list[Bus] = []
        self._set_up_devices: list[Driver] = []

    @classmethod
    def build(cls, profile: Profile, pm: HalPluginManager) -> Board:
        """Create bus objects and driver instances (no hardware access yet)."""
        buses: dict[str, Bus] = {}
        for name, spec in profile.buses.items():
            bus_cls = pm.bus_kinds.get(spec.kind)
            if bus_cls is None:  # a profile loaded with another plugin manager
                raise ConfigError(f"buses.{name}: bus kind {spec.kind!r} is not installed")
            buses[name] = bus_cls(name, spec.options)
        evses: list[BoardEvse] = []
        for index, evse in enumerate(profile.evse):
            board_evse = BoardEvse(index=index, spec=evse)
            for role, device in evse.devices.items():
                driver_cls = pm.drivers.get(device.driver)
                if driver_cls is None:
                    raise ConfigError(
                        f"evse[{index}].devices.{role.value}: driver {device.driver!r} is not installed"
                    )
                config: DeviceConfig[Any] = DeviceConfig(
                    device_id=f"evse[{index}].{role.value}",
                    options=device.options,
                    bus=buses[device.bus] if device.bus is not None else None,
                    address=device.address,
                    evse_id=evse.id,
                    connector_id=device.connector,
                    plugin=pm.driver_plugin(device.driver),
                )
                board_evse.devices[role] = driver_cls(config)
            evses.append(board_evse)
        return cls(profile, buses, evses)

    # -- lifecycle -------------------------------------------------------------------------------

    def setup(self) -> None:
        """Open every bus, then set up every device (EVSE order, role order of the profile).

        On failure everything already set up is released and the error is raised (a
        :class:`~josev_hal.errors.HalError`; unexpected exceptions from a driver are wrapped in
        :class:`~josev_hal.errors.DeviceError` naming the device).
        """
        try:
            for bus in self.buses.values():
                bus.setup()
                self._set_up_buses.append(bus)
                log.info("bus ready name=%s %s", bus.name, bus.describe())
            for driver in self.devices():
                try:
                    driver.setup()
                except HalError:
                    raise
                except Exception as exc:
                    raise driver.error(f"setup failed: {type(exc).__name__}: {exc}") from exc
                self._set_up_devices.append(driver)
                log.info("device ready device=%s driver=%s", driver.device_id, type(driver).__name__)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Release devices (reverse order), then buses. Idempotent; never raises."""
        while self._set_up_devices:
            driver = self._set_up_devices.pop()
            try:
                driver.release()
            except Exception:  # release must reach every device, whatever one of them does
                log.exception("device release failed device=%s", driver.device_id)
        while self._set_up_buses:
            bus = self._set_up_buses.pop()
            try:
                bus.release()
            except Exception:
                log.exception("bus release failed name=%s", bus.name)

    def __enter__(self) -> Board:
        self.setup()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- access ----------------------------------------------------------------------------------

    def evse(self, evse_id: str) -> BoardEvse:
        """The EVSE with this ISO 15118 id (:class:`KeyError` when unknown)."""
        for board_evse in self.evses:
            if board_evse.id == evse_id:
                return board_evse
        raise KeyError(evse_id)

    def devices(self) -> Iterator[Driver]:
        """Every driver of the board."""
        for board_evse in self.evses:
            yield from board_evse.devices.values()

    def device(self, device_id: str) -> Driver:
        """The driver with this device id (``evse[0].meter``)."""
        for driver in self.devices():
            if driver.device_id == device_id:
                return driver
        raise KeyError(device_id)
