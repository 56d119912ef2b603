"""Factories for the driver contract tests (``tests/test_driver_contract.py``).

Every driver registered through ``hal_register_drivers`` (first-party plugins under ``plugins/``
included) must have an entry in :data:`FACTORIES`; the contract test fails for a registered driver
without one, so a new driver cannot ship untested.

Protocol
--------
Factories live in one module per area, ``tests/support/factories_<area>.py`` (``factories_can.py``,
``factories_i2c.py`` ...), in a dict whose name ends in ``FACTORIES`` (``CAN_FACTORIES``); this
module merges them into :data:`FACTORIES` at import time, so authors never edit each other's code.

``FACTORIES[driver_name]`` is a callable ``factory(env: ContractEnv) -> ContextManager[Driver]``:

* it builds the driver **connected to its bus-level simulated peer** -- a pymodbus server on a
  pty for Modbus meters, python-can's ``virtual`` interface with a simulated module for CAN, a
  register-level chip simulator behind the smbus2 API for I2C, the sim world for ``sim-*``
  drivers. Never a mock of the driver's own methods: the contract is about what the driver
  does with real frames;
* it calls ``driver.setup()`` before yielding and ``driver.release()`` afterwards (and stops its
  peer), so the test receives a ready driver;
* it may put files, ptys and sockets under ``env.tmp_path`` (unique per test);
* it **should** fill in the controls of ``env.peer`` that its peer supports (see
  :class:`PeerControls`); each per-role check that needs a control runs only when it is set, so
  the more a factory offers, the more of the contract is proven. A factory that cannot offer a
  control leaves it ``None``.

Keep factories fast (well under a second to set up) and free of wall-clock assumptions. Example::

    @contextmanager
    def _sim_contactor(env: ContractEnv) -> Iterator[Driver]:
        world = ...                          # the bus-level peer
        env.peer.weld = world.set_welded     # optional controls
        driver = SimContactor(DeviceConfig(device_id="contract.contactor", options=SimContactorOptions()))
        driver.setup()
        try:
            yield driver
        finally:
            driver.release()

    SIM_FACTORIES = {"sim-contactor": _sim_contactor}   # in tests/support/factories_sim.py
"""

from __future__ import annotations

import importlib
from pathlib import Path

# The contract types live in the plugin author kit; re-exported for the factories_<area> modules.
from josev_hal.testing.contract import ContractEnv, Factory, PeerControls

__all__ = ["FACTORIES", "ContractEnv", "Factory", "PeerControls"]


def _collect() -> dict[str, Factory]:
    """Merge every ``*FACTORIES`` dict of the ``tests/support/factories_<area>.py`` modules.

    Each area (CAN, I2C, Modbus, sim ...) keeps its factories in its own module so that authors
    never edit each other's code; a driver name offered by two modules is an error.
    """
    merged: dict[str, Factory] = {}
    owners: dict[str, str] = {}
    for path in sorted(Path(__file__).parent.glob("factories_*.py")):
        module = importlib.import_module(f"{__package__}.{path.stem}")
        for attr, value in vars(module).items():
            if not (attr.endswith("FACTORIES") and isinstance(value, dict)):
                continue
            for name, factory in value.items():
                if name in merged:
                    raise RuntimeError(
                        f"contract factory for {name!r} defined twice: {owners[name]} and {path.name}"
                    )
                merged[name] = factory
                owners[name] = path.name
    return merged


#: driver name -> factory, merged from ``tests/support/factories_<area>.py`` (``<AREA>_FACTORIES``
#: dicts). Add a new module for a new area, or extend your area's dict.
FACTORIES: dict[str, Factory] = _collect()

# I2C drivers (josev_hal_i2c) against the simulated AC board; imported last (it imports this module's types).
from tests.support.factories_i2c import I2C_FACTORIES  # noqa: E402

FACTORIES.update(I2C_FACTORIES)
