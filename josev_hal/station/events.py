"""What happened at an EVSE, for observers outside the control loop (operations, counters, metrics).

The station core emits a :class:`StationEvent` for every contactor operation, CP state change,
RCD trip or self-test, lock cycle and fault change. Listeners (``EvseController.add_event_listener``)
are called **after** the EVSE's state lock is released, on the thread that evaluated (a sampling
or a driver-notify thread), so they must be quick and must not block: a listener that needs I/O
(writing a counter file, a metrics registry) hands the event to its own thread. A listener that
raises is logged and skipped; it never affects the control step.

Why events and not polling: a contactor that toggles twice between two polls would be counted
once; wear counters and switching-time histograms must see every operation.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

import msgspec

__all__ = ["EventKind", "EventListener", "StationEvent"]


class EventKind(StrEnum):
    """Kinds of :class:`StationEvent` and what their ``detail`` carries."""

    #: contactor commanded closed. detail: ``reason`` (str)
    CONTACTOR_CLOSED = "contactor_closed"
    #: contactor commanded open. detail: ``reason`` (str), ``under_load`` (bool: current was
    #: flowing as far as the HAL knows), ``current_a`` (float | None)
    CONTACTOR_OPENED = "contactor_opened"
    #: the mirror contact confirmed a command. detail: ``closed`` (bool), ``switch_time_s`` (float)
    CONTACTOR_CONFIRMED = "contactor_confirmed"
    #: CP state changed. detail: ``connector_id`` (int), ``state`` (str, e.g. "C2"), ``previous`` (str | None)
    CP_STATE = "cp_state"
    #: RCD tripped. detail: ``dc_6ma`` (bool | None)
    RCD_TRIP = "rcd_trip"
    #: RCD self-test finished. detail: ``passed`` (bool), ``detail`` (str)
    RCD_SELF_TEST = "rcd_self_test"
    #: connector lock commanded. detail: ``connector_id`` (int), ``locked`` (bool)
    LOCK = "lock"
    #: a fault was raised. detail: ``key``, ``component``, ``name``, ``detail`` (str), ``blocks`` (bool)
    FAULT_SET = "fault_set"
    #: a fault was cleared. detail: ``key`` (str)
    FAULT_CLEARED = "fault_cleared"
    #: availability changed. detail: ``available`` (bool)
    AVAILABILITY = "availability"
    #: a meter poll finished. detail: ``duration_s`` (float: the read's round trip), ``ok`` (bool)
    METER_POLL = "meter_poll"


class StationEvent(msgspec.Struct, frozen=True):
    evse_id: str
    kind: EventKind
    at: float  # the station clock (monotonic seconds)
    detail: dict[str, Any] = msgspec.field(default_factory=dict)


EventListener = Callable[[StationEvent], None]
