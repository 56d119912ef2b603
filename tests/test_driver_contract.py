"""Contract tests over every driver josev-hal itself registers, per role.

The checks live in :mod:`josev_hal.testing.contract` (the plugin author kit uses the same ones).
Each of josev-hal's own drivers is built by its factory in ``tests/support/factories_<area>.py``
(connected to a bus-level simulated peer) and must honour the rules in :mod:`josev_hal.devices`.
Drivers of other installed distributions are theirs to test (``josev_hal.testing``), so an
installed third-party plugin does not change this suite. The checks are also run against
deliberately broken loopback drivers to prove they catch what they claim to catch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import tests.support.loopback as loopback
from josev_hal.devices import DeviceConfig, Driver
from josev_hal.testing import drivers_of_distribution
from josev_hal.testing.contract import ContractEnv, Factory, run_contract
from tests.support.driver_factories import FACTORIES

#: Only josev-hal's own drivers (first-party plugins included); autoload is forced on inside.
REGISTERED = drivers_of_distribution("josev-hal")


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_registered_driver_honours_its_role_contract(name: str, tmp_path: Any) -> None:
    factory = FACTORIES.get(name)
    if factory is None:
        pytest.fail(
            f"driver {name!r} ({REGISTERED[name].__module__}.{REGISTERED[name].__qualname__}) has no "
            "contract factory: add one to your area's tests/support/factories_<area>.py (merged into "
            "FACTORIES; the protocol is described at the top of tests/support/driver_factories.py)"
        )
    run_contract(factory, ContractEnv(tmp_path=tmp_path, driver_name=name), REGISTERED[name])


def test_every_factory_belongs_to_a_registered_driver() -> None:
    stale = sorted(set(FACTORIES) - set(REGISTERED))
    assert not stale, f"factories for drivers that are not registered (renamed?): {stale}"


# -- the checks themselves catch broken drivers ---------------------------------------------------


def loopback_factory(cls: type[Driver]) -> Factory:
    @contextmanager
    def factory(env: ContractEnv) -> Iterator[Driver]:
        bus = loopback.LoopbackBus("contract", loopback.LoopbackOptions())
        bus.setup()
        peer = bus.peer
        cell = peer.cell(1)

        def disconnect(down: bool) -> None:
            peer.offline = down

        env.peer.disconnect = disconnect
        env.peer.weld = lambda on: setattr(cell, "welded", on)
        env.peer.stick_open = lambda on: setattr(cell, "stuck_open", on)
        env.peer.present_token = cell.tokens.append
        env.peer.trip_rcd = lambda on: setattr(cell, "tripped", on)
        options = cls.Options()
        driver = cls(
            DeviceConfig(device_id=f"contract.{env.driver_name}", options=options, bus=bus, address=1)
        )
        driver.setup()
        try:
            yield driver
        finally:
            driver.release()
            bus.release()

    return factory


@pytest.mark.parametrize("name", sorted(loopback.DRIVERS))
def test_contract_checks_pass_for_correct_loopback_drivers(name: str, tmp_path: Any) -> None:
    cls = loopback.DRIVERS[name]
    run_contract(loopback_factory(cls), ContractEnv(tmp_path=tmp_path, driver_name=name), cls)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (loopback.LiarContactor, "feedback open while the contactor cannot close"),
        (loopback.StaleMeter, "DID NOT RAISE"),
    ],
)
def test_contract_checks_catch_a_broken_driver(cls: type[Driver], message: str, tmp_path: Any) -> None:
    with pytest.raises((AssertionError, pytest.fail.Exception), match=message):
        run_contract(loopback_factory(cls), ContractEnv(tmp_path=tmp_path, driver_name=cls.__name__), cls)
