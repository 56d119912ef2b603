"""Where the broker is and how to log in: URL resolution, password files, backoff policy.

Kept free of paho so that ``josev-hal check`` can validate a profile's ``[mqtt]`` table without the
network stack.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from josev_hal.errors import ConfigError
from josev_hal.mqtt_settings import MqttSettings

__all__ = [
    "BROKER_ENV",
    "Backoff",
    "BrokerAddress",
    "parse_broker_url",
    "read_password",
    "resolve_broker_url",
]

#: Environment variable that overrides the profile's ``mqtt.broker`` (``--broker`` wins over it).
BROKER_ENV = "JOSEV_HAL_BROKER"

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class BrokerAddress(msgspec.Struct, frozen=True):
    """A parsed broker URL."""

    host: str
    port: int
    tls: bool

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse ``mqtt://host[:port]`` / ``mqtts://host[:port]``; a ConfigError says what is wrong."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"mqtt.broker: invalid broker URL {url!r}: {exc}") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise ConfigError(f"mqtt.broker: {url!r} must start with mqtt:// or mqtts://")
    if not parts.hostname:
        raise ConfigError(f"mqtt.broker: {url!r} has no host name")
    if parts.path not in ("", "/") or parts.query or parts.username or parts.password:
        # Credentials in the URL would end up in logs; they belong in username/password_file.
        raise ConfigError(
            f"mqtt.broker: {url!r} may only hold scheme, host and port "
            "(put credentials in mqtt.username / mqtt.password_file)"
        )
    return BrokerAddress(
        host=parts.hostname, port=port or _DEFAULT_PORTS[parts.scheme], tls=parts.scheme == "mqtts"
    )


def resolve_broker_url(settings: MqttSettings, cli_url: str | None = None) -> str:
    """The broker URL to use: ``--broker`` > ``$JOSEV_HAL_BROKER`` > the profile's ``mqtt.broker``.

    The winner is validated (a ConfigError names the source) and returned normalised.
    """
    env_url = os.environ.get(BROKER_ENV) or None
    for source, url in (("--broker", cli_url), (BROKER_ENV, env_url), ("mqtt.broker", settings.broker)):
        if url:
            try:
                return parse_broker_url(url).url
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}".replace("mqtt.broker: ", "", 1)) from None
    raise ConfigError("no broker configured")  # pragma: no cover - settings.broker has a default


def read_password(settings: MqttSettings) -> str | None:
    """The broker password: ``mqtt.password`` or the first line of ``mqtt.password_file``."""
    if settings.password is not None:
        return settings.password
    if settings.password_file is None:
        return None
    path = Path(settings.password_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"mqtt.password_file: cannot read {path}: {exc.strerror or exc}") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


class Backoff:
    """Exponential reconnect delays, capped and jittered.

    Delay *n* (0-based) is drawn uniformly from ``[d/2, d]`` with ``d = min(max_s, min_s * 2**n)``:
    the exponential part spares a struggling broker, the cap bounds how long the station stays
    away once the broker is back, and the jitter keeps a fleet of stations from reconnecting in
    lock-step after a shared broker restarts.
    """

    def __init__(self, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        if min_s <= 0 or max_s < min_s:
            raise ConfigError(
                f"mqtt: reconnect_min_s={min_s} / reconnect_max_s={max_s} must be 0 < min <= max"
            )
        self.min_s = min_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.min_s * (2 ** min(self.attempt, 60)))
        self.attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
