"""Shared pytest configuration. Fixtures live in ``tests/support/`` modules, one per area."""

pytest_plugins = [
    "tests.support.contract",
    "tests.support.broker",
    "tests.support.distributions",
]
