"""Test kit for driver plugins: the driver contract tests and the simulated peers, importable by
any plugin package (and loaded by pytest as the ``josev_hal.testing`` plugin through the
``pytest11`` entry point, which adds the fixtures in :mod:`josev_hal.testing.pytest_plugin`).

A plugin package tests its drivers against the same contract josev-hal's own drivers pass::

    # tests/test_contract.py of your plugin package
    from josev_hal.testing import driver_contract_tests
    from .factories import FACTORIES          # driver name -> factory (see josev_hal.testing.contract)

    test_driver_contract = driver_contract_tests(FACTORIES, distribution="acme-hal-plugin")

Every driver the named distribution registers is run through its role's checks with its factory;
a registered driver without a factory fails, and so does a factory for a driver that is not
registered. Only that distribution's drivers are tested, whatever else is installed.

Simulated peers for factories (they speak the real wire protocols): :mod:`josev_hal_i2c.sim`
(expanders, ADCs, PWM, NFC on :class:`~josev_hal.buses.i2c_sim.SimI2cBus`, the smbus2 API double
that any plugin's chip model attaches to),
:mod:`josev_hal_modbus.sim` (``SimulatedMeter``, ``ModbusPeer`` on a
:class:`~josev_hal.buses.pty_line.PtyLine`, ``ModbusTcpPeer``),
:mod:`josev_hal_can.sim` (module groups on python-can's ``virtual``
interface) and the simulated EV world of the ``sim`` plugin (``josev_hal_sim.SimWorld``);
:func:`virtual_can_channel` names a private CAN channel.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from josev_hal.devices import Driver
from josev_hal.testing.contract import (
    CHECKS,
    ContractEnv,
    Factory,
    PeerControls,
    check_reading,
    eventually,
    run_contract,
    stays,
)

__all__ = [
    "CHECKS",
    "ContractEnv",
    "Factory",
    "PeerControls",
    "check_reading",
    "driver_contract_tests",
    "drivers_of_distribution",
    "eventually",
    "run_contract",
    "stays",
    "virtual_can_channel",
]


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def drivers_of_distribution(distribution: str) -> dict[str, type[Driver]]:
    """Every driver registered by the installed distribution ``distribution`` (its plugins'
    ``hal_register_drivers``), whatever else is installed. Fails the test when one of its
    plugins failed to load (with the plugin's error)."""
    from josev_hal.plugins import get_plugin_manager

    pm = get_plugin_manager(autoload=True)
    pm.load_all()
    wanted = _normalise(distribution)
    for failure in pm.failures:
        if failure.distribution and _normalise(failure.distribution) == wanted:
            pytest.fail(failure.message())
    drivers = pm.drivers
    out: dict[str, type[Driver]] = {}
    for info in pm.plugin_info():
        if info.distribution and _normalise(info.distribution) == wanted:
            out.update({name: drivers[name] for name in info.drivers})
    return out


def driver_contract_tests(
    factories: Mapping[str, Factory], *, distribution: str
) -> Callable[[str, Path], None]:
    """A pytest test function running the driver contract for every driver ``distribution``
    registers (assign it to a ``test_...`` name in a test module)."""
    try:
        registered = sorted(drivers_of_distribution(distribution))
    except pytest.fail.Exception:  # reported by the test itself, not at collection
        registered = []
    names = sorted(set(registered) | set(factories)) or ["<no drivers>"]

    @pytest.mark.parametrize("driver_name", names)
    def test_driver_contract(driver_name: str, tmp_path: Path) -> None:
        drivers = drivers_of_distribution(distribution)
        if not drivers:
            pytest.fail(
                f"distribution {distribution!r} registers no drivers here: is it installed "
                "(pip install -e .) and does its plugin's hal_register_drivers return them?"
            )
        if driver_name not in drivers:
            pytest.fail(
                f"a factory for {driver_name!r}, but {distribution!r} registers no such driver "
                f"(registered: {', '.join(sorted(drivers))})"
            )
        factory = factories.get(driver_name)
        if factory is None:
            cls = drivers[driver_name]
            pytest.fail(
                f"driver {driver_name!r} ({cls.__module__}.{cls.__qualname__}) has no contract factory: "
                "add one (see josev_hal.testing.contract for the factory protocol)"
            )
        run_contract(factory, ContractEnv(tmp_path=tmp_path, driver_name=driver_name), drivers[driver_name])

    return test_driver_contract


def virtual_can_channel(prefix: str = "contract") -> str:
    """A channel name nobody else uses on python-can's ``virtual`` interface (one per test)."""
    return f"{prefix}-{uuid.uuid4().hex}"
