"""Polling helpers for tests that wait on threads (drivers, simulators, brokers).

They poll with a generous bound instead of sleeping a fixed time, so tests stay fast on an idle
machine and still pass on a loaded one; no test asserts a wall-clock duration with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from josev_hal.errors import DeviceError

__all__ = ["eventually", "ok"]


def eventually(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``predicate`` every 10 ms until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def ok(fn: Callable[[], Any]) -> Any:
    """``fn()``, or None when the device raised a DeviceError (for use inside predicates)."""
    try:
        return fn()
    except DeviceError:
        return None
