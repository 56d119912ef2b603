"""The ``josev_hal.testing`` pytest plugin (entry point ``pytest11``), loaded by pytest in every
project that has josev-hal installed. It only adds fixtures (names prefixed ``hal_``) and the
``driver_contract`` marker; it changes nothing about how other tests run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from josev_hal.testing.contract import ContractEnv

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "driver_contract: a josev-hal driver contract test")


@pytest.fixture
def hal_plugin_manager() -> HalPluginManager:
    """A fresh plugin manager with every installed plugin loaded (autoload forced on)."""
    from josev_hal.plugins import get_plugin_manager

    pm = get_plugin_manager(autoload=True)
    pm.load_all()
    return pm


@pytest.fixture
def hal_contract_env(tmp_path: Path, request: pytest.FixtureRequest) -> ContractEnv:
    """A :class:`ContractEnv` for calling a factory by hand (its driver name is the test's name)."""
    return ContractEnv(tmp_path=tmp_path, driver_name=request.node.name)
