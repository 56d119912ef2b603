"""The MQTT bridge: the CS side of the Josev conversation over one broker connection.

See :class:`~josev_hal.bridge.core.Bridge` for the threading model and the delivery guarantees,
and the README section "Broker connection" for configuration, TLS, the offline queue and the
presence (last-will) topic. Only :mod:`josev_hal.bridge.connection` imports paho-mqtt.
"""

from josev_hal.bridge.config import (
    BROKER_ENV,
    Backoff,
    BrokerAddress,
    parse_broker_url,
    read_password,
    resolve_broker_url,
)
from josev_hal.bridge.core import (
    Bridge,
    RawCallback,
    RequestHandler,
    SnapshotProvider,
    UpdateHandler,
    status_topic,
)
from josev_hal.bridge.stats import LatencySummary, StatsSnapshot, format_stats

__all__ = [
    "BROKER_ENV",
    "Backoff",
    "Bridge",
    "BrokerAddress",
    "LatencySummary",
    "RawCallback",
    "RequestHandler",
    "SnapshotProvider",
    "StatsSnapshot",
    "UpdateHandler",
    "format_stats",
    "parse_broker_url",
    "read_password",
    "resolve_broker_url",
    "status_topic",
]
