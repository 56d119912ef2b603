"""Limit arithmetic of the station (issue #22): which current an EVSE may offer, and why.

An EVSE's offer is the **minimum** of every limit that applies to it, each in amperes per phase:

==================  ============================================================================
``evse_rating``     the EVSE's own rating (profile ``max_current_a``)
``cable``           the cable: PP coding of a socket's cable, or a fixed cable's rating
``temperature``     temperature derating (``set_derating_limit``)
``grid_input``      the grid operator's input (``grid_limit`` role, e.g. section 14a EnWG 4.2 kW)
``site``            this EVSE's share of the site limit measured by the mains meter
``local``           a local energy manager's limit (operations API / MQTT), with an expiry
``josev``           Josev's ``cp_pwm`` current (what the EV's session negotiated)
``phase_switch``    0 A while a 1p/3p switch is in progress (the EV must pause)
==================  ============================================================================

:func:`effective_limit` returns the minimum together with *every* source that binds (equal to
the minimum), so logs, ``cs_status_and_limits`` and status can say "16 A, binding: grid_input".
A limit that is not a finite number >= 0 is a bug or bad input somewhere; it counts as 0 A (the
safe side: no energy) and is listed in ``invalid`` so the cause is visible, never silently
skipped. Below the minimum current an AC EV can be offered (6 A in IEC 61851-1) the offer is 0:
the EVSE pauses (X1) instead of signalling a duty the EV must not follow.

Station-wide limits (the grid input's power, the mains meter's site current, a station-scope
local limit) are shared over the EVSEs by :func:`share`: highest priority first, within a
priority fairly (water-filling: nobody gets more than it can use, the rest is split evenly), and
an EVSE whose share would fall below its minimum gets 0 so the others can charge.

Everything here is pure except :class:`LocalLimits`, a small thread-safe store with expiry.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Iterable, Mapping
from typing import TypeGuard

import msgspec

__all__ = [
    "STATION_SCOPE",
    "EffectiveLimit",
    "Limit",
    "LimitSource",
    "LocalLimit",
    "LocalLimits",
    "amps_from_watts",
    "effective_limit",
    "share",
    "site_headroom_a",
]

#: ``scope`` of a local limit that applies to the whole station (shared over its EVSEs).
STATION_SCOPE = "*"

#: Two limits within this many amperes of each other bind together.
_EQUAL_A = 1e-6


class LimitSource(enum.StrEnum):
    """Where a limit comes from (the names appear in logs, status and cs_status_and_limits)."""

    EVSE_RATING = "evse_rating"
    CABLE = "cable"
    TEMPERATURE = "temperature"
    GRID_INPUT = "grid_input"
    SITE = "site"
    LOCAL = "local"
    JOSEV = "josev"
    PHASE_SWITCH = "phase_switch"  # 0 A while the phases are being switched


class Limit(msgspec.Struct, frozen=True):
    """One limit in amperes per phase. ``detail`` says more (``"4200 W"``, ``"expires in 60 s"``)."""

    source: LimitSource
    amps: float
    detail: str = ""

    @property
    def valid(self) -> bool:
        return isinstance(self.amps, int | float) and math.isfinite(self.amps) and self.amps >= 0


class EffectiveLimit(msgspec.Struct, frozen=True):
    """The minimum of the limits and the sources that bind it."""

    amps: float
    binding: tuple[LimitSource, ...]
    limits: tuple[Limit, ...]
    invalid: tuple[LimitSource, ...] = ()

    def offer_a(self, min_current_a: float) -> float:
        """What may be signalled: the limit, or 0 when it is below the minimum current."""
        return self.amps if self.amps >= min_current_a and self.amps > 0 else 0.0

    def of(self, source: LimitSource) -> Limit | None:
        """The limit from ``source`` (the lowest if it came twice), or None."""
        found = [limit for limit in self.limits if limit.source is source]
        return min(found, key=_amps_or_zero) if found else None

    def describe(self) -> str:
        """One log-friendly line: ``16.0 A binding=grid_input (4200 W)``."""
        if not self.limits:
            return "no limit"
        details = [lim.detail for lim in self.limits if lim.source in self.binding and lim.detail]
        text = f"{self.amps:.1f} A binding={','.join(self.binding)}"
        if details:
            text += f" ({'; '.join(details)})"
        if self.invalid:
            text += f" invalid={','.join(self.invalid)}"
        return text

    def as_dict(self) -> dict[str, object]:
        """For status/monitoring output (JSON-friendly)."""
        return {
            "amps": self.amps,
            "binding": list(self.binding),
            "limits": {lim.source.value: _amps_or_zero(lim) for lim in self.limits},
            "invalid": list(self.invalid),
        }


def _amps_or_zero(limit: Limit) -> float:
    return float(limit.amps) if limit.valid else 0.0


def effective_limit(limits: Iterable[Limit | None]) -> EffectiveLimit:
    """The minimum of ``limits`` (``None`` entries: that limit does not apply now).

    With no limit at all the result is 0 A binding nothing: an EVSE always has a rating, so an
    empty list means the caller forgot it -- and forgetting must not mean "unlimited".
    """
    present = tuple(lim for lim in limits if lim is not None)
    if not present:
        return EffectiveLimit(0.0, (), ())
    invalid = tuple(lim.source for lim in present if not lim.valid)
    amps = min(_amps_or_zero(lim) for lim in present)
    binding: list[LimitSource] = []
    for lim in present:
        if _amps_or_zero(lim) - amps <= _EQUAL_A and lim.source not in binding:
            binding.append(lim.source)
    return EffectiveLimit(amps, tuple(binding), present, invalid)


def amps_from_watts(watts: float, voltage_v: float, phases: int) -> float:
    """Current per phase for a power limit on ``phases`` phases at ``voltage_v`` (phase to
    neutral). Raises ``ValueError`` for values that cannot describe a real installation."""
    if not (math.isfinite(watts) and watts >= 0):
        raise ValueError(f"power limit must be a finite number >= 0 W, got {watts}")
    if not (math.isfinite(voltage_v) and voltage_v > 0):
        raise ValueError(f"voltage must be > 0 V, got {voltage_v}")
    if phases not in (1, 2, 3):
        raise ValueError(f"phases must be 1, 2 or 3, got {phases}")
    return watts / (voltage_v * phases)


def share(
    total: float,
    demands: Mapping[str, float],
    *,
    minimums: Mapping[str, float] | None = None,
    priorities: Mapping[str, int] | None = None,
) -> dict[str, float]:
    """Split ``total`` over consumers that can use up to ``demands[k]`` each.

    Higher ``priorities`` are served first (default 0 for all); within one priority the split is
    fair: a consumer never gets more than its demand and what it cannot use goes to the others
    in equal parts. A consumer whose share would be below ``minimums[k]`` (default 0) gets 0 --
    the one with the smallest demand first, ties by key, so the result is deterministic -- and
    the others share what it freed. The sum of the result never exceeds ``total``; a total or
    demand that is not a finite number >= 0 counts as 0 (safe side).
    """
    total = total if math.isfinite(total) and total > 0 else 0.0
    mins = minimums or {}
    prio = priorities or {}
    clean = {k: (d if math.isfinite(d) and d > 0 else 0.0) for k, d in demands.items()}
    result = dict.fromkeys(clean, 0.0)
    remaining = total
    for level in sorted({prio.get(k, 0) for k in clean}, reverse=True):
        group = sorted(k for k in clean if prio.get(k, 0) == level and clean[k] > 0)
        while group:
            alloc = _water_fill(remaining, {k: clean[k] for k in group})
            starved = [k for k in group if alloc[k] < mins.get(k, 0.0)]
            if not starved:
                result.update(alloc)
                remaining -= sum(alloc.values())
                break
            # drop the consumer with the smallest demand (ties: the last key) and try again
            smallest = min(clean[k] for k in starved)
            group.remove(max(k for k in starved if clean[k] == smallest))
        remaining = max(0.0, remaining)
    return result


def _water_fill(total: float, demands: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    left = max(0.0, total)
    order = sorted(demands, key=lambda k: (demands[k], k))
    for index, key in enumerate(order):
        fair = left / (len(order) - index)
        give = min(demands[key], fair)
        out[key] = give
        left -= give
    return out


def site_headroom_a(site_limit_a: float, site_currents_a: Iterable[float], evse_currents_a: float) -> float:
    """Current per phase the EVSEs may draw together so the grid connection stays under
    ``site_limit_a``: the limit minus what the *other* loads draw on the worst phase.

    ``site_currents_a``: the mains meter's phase currents (they include the EVSEs);
    ``evse_currents_a``: what the EVSEs draw now (per phase, summed). A meter value that is not
    finite makes the headroom 0 (no reading, no energy beyond the minimum)."""
    currents = list(site_currents_a)
    if not currents or not all(math.isfinite(c) for c in currents) or not math.isfinite(evse_currents_a):
        return 0.0
    other_loads = max(0.0, max(currents) - max(0.0, evse_currents_a))
    return max(0.0, site_limit_a - other_loads)


# ------------------------------------------------------------------------------------------------
# local limits (set by an energy manager on the same box)
# ------------------------------------------------------------------------------------------------


class LocalLimit(msgspec.Struct, frozen=True):
    """A local limit: ``amps`` per phase or ``watts`` (exactly one), until ``expires_at``
    (monotonic seconds; None = until cleared). ``origin`` names who set it (logs)."""

    scope: str
    amps: float | None
    watts: float | None
    set_at: float
    expires_at: float | None
    origin: str = ""

    def to_amps(self, voltage_v: float, phases: int) -> float:
        if self.amps is not None:
            return self.amps
        assert self.watts is not None
        return amps_from_watts(self.watts, voltage_v, phases)

    def describe(self, now: float) -> str:
        value = f"{self.amps:g} A" if self.amps is not None else f"{self.watts:g} W"
        scope = "station" if self.scope == STATION_SCOPE else self.scope
        if self.expires_at is None:
            expiry = "no expiry"
        else:
            expiry = f"expires in {max(0.0, self.expires_at - now):.0f} s"
        who = f" by {self.origin}" if self.origin else ""
        return f"local {scope} {value}{who}, {expiry}"


class LocalLimits:
    """Local limits per scope (an EVSE id or :data:`STATION_SCOPE`) with expiry.

    Thread-safe (the API thread sets, the station's evaluation reads); never calls out while
    holding its lock. Expired limits vanish on the next read."""

    #: The longest expiry accepted (a day): an energy manager that dies must not pin a limit.
    MAX_TTL_S = 86_400.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limits: dict[str, LocalLimit] = {}

    def set(
        self,
        scope: str,
        *,
        now: float,
        amps: float | None = None,
        watts: float | None = None,
        ttl_s: float | None = None,
        origin: str = "",
    ) -> LocalLimit:
        """Set (replace) the limit of ``scope``. Raises ``ValueError`` with the offending field."""
        if not isinstance(scope, str) or not scope:
            raise ValueError("scope: must be an EVSE id or '*'")
        if (amps is None) == (watts is None):
            raise ValueError("amps/watts: give exactly one of them")
        value, name = (amps, "amps") if amps is not None else (watts, "watts")
        if not _number(value) or value < 0:
            raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
        if ttl_s is not None and not (_number(ttl_s) and 0 < ttl_s <= self.MAX_TTL_S):
            raise ValueError(f"ttl_s: must be > 0 and <= {self.MAX_TTL_S:g} s, got {ttl_s!r}")
        limit = LocalLimit(
            scope=scope,
            amps=float(amps) if amps is not None else None,
            watts=float(watts) if watts is not None else None,
            set_at=now,
            expires_at=now + ttl_s if ttl_s is not None else None,
            origin=origin,
        )
        with self._lock:
            self._limits[scope] = limit
        return limit

    def clear(self, scope: str) -> bool:
        """Remove the limit of ``scope``; True when there was one."""
        with self._lock:
            return self._limits.pop(scope, None) is not None

    def active(self, now: float) -> dict[str, LocalLimit]:
        """Every limit still in force (expired ones are dropped)."""
        with self._lock:
            for scope in [s for s, lim in self._limits.items() if _expired(lim, now)]:
                del self._limits[scope]
            return dict(self._limits)

    def for_evse(self, evse_id: str, now: float) -> LocalLimit | None:
        """The EVSE's own limit (not the station's: that one is shared by the caller)."""
        return self.active(now).get(evse_id)

    def station(self, now: float) -> LocalLimit | None:
        return self.active(now).get(STATION_SCOPE)

    def next_expiry(self, now: float) -> float | None:
        """When the next limit runs out (monotonic), so the caller can re-evaluate then."""
        times = [lim.expires_at for lim in self.active(now).values() if lim.expires_at is not None]
        return min(times) if times else None


def _number(value: object) -> TypeGuard[float]:
    """A finite int or float (bools are not numbers here: ``true`` is no limit)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _expired(limit: LocalLimit, now: float) -> bool:
    return limit.expires_at is not None and now >= limit.expires_at
