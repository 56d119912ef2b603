"""MQTT connection settings: the board profile's ``[mqtt]`` table.

Kept free of paho imports so that loading and checking a profile does not pull in the network
stack. The bridge turns these settings into a connected client.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["MqttSettings"]


class MqttSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How the HAL reaches the broker that Josev uses.

    ``broker`` is ``mqtt://host:port`` or ``mqtts://host:port`` (TLS). ``--broker URL`` on the
    command line and the ``JOSEV_HAL_BROKER`` environment variable override it, in that order.
    """

    broker: str = "mqtt://127.0.0.1:1883"
    client_id: str = "josev-hal"
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    username: str | None = None
    # The password lives in a file so that profiles can be committed without secrets.
    password_file: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    # Topics of the Josev API; only changed for legacy or multi-station deployments.
    request_topic: str = "josev/cs"
    publish_topic: str = "cs/josev"
    # Bounded offline queue for updates produced while the broker is away.
    queue_size: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000
    max_payload_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 256 * 1024
    # A request handler that takes longer than this gets an error response (where the API has
    # one); Josev's own timeout is 30-60 s, ISO 15118 needs power-path answers in tens of ms.
    handler_deadline_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    # Backoff between reconnect attempts: exponential from min to max, with jitter. Capped at 2 s
    # by default so that the HAL is back within about 2 s once the broker returns.
    reconnect_min_s: Annotated[float, msgspec.Meta(gt=0)] = 0.1
    reconnect_max_s: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    # Default timeout for requests the CS sends to Josev (authorization, data_transfer, ...).
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
