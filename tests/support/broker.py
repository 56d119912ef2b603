"""Fixtures: private MQTT brokers (mosquitto on a free port, never the system broker).

* ``broker`` - a fresh :class:`~josev_hal.embedded_broker.EmbeddedBroker` per test; the test may
  ``stop()``, ``kill()`` and ``restart()`` it (same port, same persistence).
* ``session_broker`` - one broker shared by the whole session, for tests that only need a
  working broker (do not stop it).
* ``broker_factory`` - ``broker_factory(tls=..., users=...)`` for brokers with TLS listeners or
  password files; all are closed at the end of the test.

Without mosquitto the fixtures fall back to the in-process amqtt broker (and say so in the test
report header); with ``CI=true`` a missing mosquitto is a failure, because CI must prove the
bridge against the broker stations actually run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from josev_hal.embedded_broker import EmbeddedBroker, find_mosquitto

BrokerFactory = Callable[..., EmbeddedBroker]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def _require_mosquitto_in_ci() -> None:
    if find_mosquitto() is None and _in_ci():
        pytest.fail("mosquitto is not installed but CI=true: CI must run the MQTT tests against mosquitto")


def pytest_report_header(config: pytest.Config) -> str:
    exe = find_mosquitto()
    return (
        f"mqtt broker: {exe}" if exe else "mqtt broker: mosquitto NOT found, using in-process amqtt fallback"
    )


def _make(**kwargs: Any) -> EmbeddedBroker:
    _require_mosquitto_in_ci()
    return EmbeddedBroker(**kwargs).start()


@pytest.fixture
def broker_factory() -> Iterator[BrokerFactory]:
    started: list[EmbeddedBroker] = []

    def factory(**kwargs: Any) -> EmbeddedBroker:
        instance = _make(**kwargs)
        started.append(instance)
        return instance

    yield factory
    for instance in started:
        instance.close()


@pytest.fixture
def broker(broker_factory: BrokerFactory) -> EmbeddedBroker:
    """A private broker for one test; restartable."""
    return broker_factory()


@pytest.fixture(scope="session")
def session_broker() -> Iterator[EmbeddedBroker]:
    """One private broker for the whole session (do not stop or restart it)."""
    instance = _make()
    yield instance
    instance.close()
