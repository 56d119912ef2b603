"""``probe relay``: switch one EVSE's contactor without a vehicle and time its mirror contact.

This is the one probe that actuates, so it is guarded (the CLI also demands ``--yes-i-know``):

* the CP must read state **A** (nothing plugged in) on every one of several samples before each
  close -- classified with the station core's bands from the profile; anything else (B-F, a
  pilot fault) refuses with :class:`~josev_hal.probe.ProbeRefused`;
* an RCD device, when the EVSE has one, must not be tripped;
* the contactor must read open (commanded and mirror contact) before the first close;
* the contactor is opened again at once when its feedback arrived (or the timeout passed), and
  in a ``finally`` whatever happened.

Closing with CP in A is exactly what the station core never does; the probe exists for bring-up
on a bench, where a person checks the wiring and the contactor's response time. The measured
times feed ``[contactor] feedback_timeout_ms`` of a drafted profile.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from josev_hal.board import Board
from josev_hal.devices import Contactor, ContactorSample, ControlPilot, Rcd, Role
from josev_hal.errors import ConfigError, DeviceError
from josev_hal.probe import Found, ProbeRefused
from josev_hal.station.cp import CpThresholds, classify_level
from josev_hal.station.station import settings_from_profile

__all__ = ["probe_relay"]

log = logging.getLogger(__name__)


def _cp_states(cp: ControlPilot, thresholds: CpThresholds, samples: int) -> list[str]:
    states = []
    for _ in range(samples):
        letter = classify_level(cp.read().positive_v, None, thresholds)
        states.append(letter.value if letter is not None else "fault")
    return states


def _wait_feedback(contactor: Contactor, closed: bool, started: float, timeout_s: float) -> float | None:
    """Milliseconds from ``started`` until the mirror contact reads ``closed``; ``None`` on timeout."""
    while True:
        sample: ContactorSample = contactor.read()
        now = time.monotonic()
        if sample.feedback_closed is closed:
            return (now - started) * 1000.0
        if now - started > timeout_s:
            return None
        time.sleep(0.0005)


def probe_relay(
    board: Board,
    evse_id: str,
    *,
    cycles: int = 1,
    timeout_ms: float | None = None,
    cp_samples: int = 3,
    hold_ms: float = 200.0,
) -> Found:
    """Close and open the contactor of ``evse_id`` ``cycles`` times on the set-up ``board``.

    ``timeout_ms``: how long to wait for the mirror contact (default: four times the profile's
    ``feedback_timeout_ms``). ``hold_ms``: how long a contactor without feedback stays closed
    (so it can be heard). Raises :class:`ProbeRefused` when a guard forbids switching,
    :class:`KeyError` for an unknown EVSE, :class:`~josev_hal.errors.DeviceError` when the
    hardware fails.
    """
    evse = board.evse(evse_id)
    cp, contactor, rcd = (evse.devices.get(role) for role in (Role.CONTROL_PILOT, Role.CONTACTOR, Role.RCD))
    # The profile check guarantees the roles; a board built by hand may still lack them.
    if not isinstance(cp, ControlPilot) or not isinstance(contactor, Contactor):
        raise ConfigError(f"{evse_id}: the probe needs a cp and a contactor device")
    if rcd is not None and not isinstance(rcd, Rcd):
        raise ConfigError(f"{evse_id}: devices.rcd is not an RCD driver")
    thresholds = settings_from_profile(board.profile, evse.spec).cp_thresholds
    limit_ms = timeout_ms if timeout_ms is not None else board.profile.contactor.feedback_timeout_ms * 4.0

    def guard() -> str:
        states = _cp_states(cp, thresholds, cp_samples)
        if any(s != "A" for s in states):
            raise ProbeRefused(
                f"{evse_id}: CP reads {'/'.join(states)}, not A: a vehicle is connected (or the CP is "
                "faulty) -- unplug it; the contactor is never switched with a vehicle on the probe"
            )
        if rcd is not None and rcd.read().tripped:
            raise ProbeRefused(f"{evse_id}: the RCD reports a trip -- clear it before switching")
        return states[-1]

    cp_state = guard()
    before = contactor.read()
    if before.commanded_closed or before.feedback_closed:
        raise ProbeRefused(
            f"{evse_id}: the contactor already reads closed (commanded={before.commanded_closed}, "
            f"feedback={before.feedback_closed}): welded or miswired -- not switching"
        )
    close_each: list[float | None] = []
    open_each: list[float | None] = []
    try:
        for cycle in range(cycles):
            if cycle:
                guard()
            started = time.monotonic()
            contactor.close()
            if contactor.has_feedback:
                close_each.append(_wait_feedback(contactor, True, started, limit_ms / 1000.0))
            else:
                time.sleep(hold_ms / 1000.0)
            started = time.monotonic()
            contactor.open()
            if contactor.has_feedback:
                open_each.append(_wait_feedback(contactor, False, started, limit_ms / 1000.0))
            log.info(
                "probe relay evse=%s cycle=%d close_ms=%s open_ms=%s", evse_id, cycle, close_each, open_each
            )
    finally:
        try:
            contactor.open()
        except DeviceError:
            log.exception("probe relay could not open the contactor evse=%s", evse_id)
            raise

    def slowest(values: list[float | None]) -> float | None:
        if not values or any(v is None for v in values):
            return None
        return round(max(v for v in values if v is not None), 2)

    reading: dict[str, Any] = {
        "evse": evse_id,
        "cp_state": cp_state,
        "has_feedback": contactor.has_feedback,
        "cycles": cycles,
        "timeout_ms": limit_ms,
        "close_ms": slowest(close_each),
        "open_ms": slowest(open_each),
        "close_ms_each": [None if v is None else round(v, 2) for v in close_each],
        "open_ms_each": [None if v is None else round(v, 2) for v in open_each],
    }
    notes: list[str] = []
    if not contactor.has_feedback:
        notes.append("the contactor has no mirror contact: switched, nothing to measure")
    else:
        if reading["close_ms"] is None:
            notes.append(f"the mirror contact did not follow a close within {limit_ms:.0f} ms")
        if reading["open_ms"] is None:
            notes.append(f"the mirror contact did not follow an open within {limit_ms:.0f} ms")
    spec = evse.spec.devices[Role.CONTACTOR]
    bus = contactor.config.bus
    return Found(
        bus=getattr(bus, "kind", None) or "board",
        location={
            "port": bus.describe() if bus is not None else None,
            "evse": evse_id,
            "device": contactor.device_id,
        },
        address=contactor.config.address,
        model=spec.driver,
        reading=reading,
        driver=spec.driver,
        notes=notes,
    )
