"""Proximity pilot: Type 2 cable coding resistor -> cable ampacity (hardware-facts §2.1).

The windows are Phoenix Contact's contiguous ones (also used by Tinkerforge): 75-150 ohm = 63 A
(three-phase) / 70 A (single-phase), 150-330 = 32 A, 330-1000 = 20 A, 1000-2200 = 13 A. Below
the lowest edge is a PP fault (short), above the highest there is no cable. A resistance exactly on
an edge takes the *lower* ampacity, which is the safe side of the EVerest rule "between windows
use the lower ampacity".
"""

from __future__ import annotations

import msgspec

from josev_hal.devices import PpSample

__all__ = ["CableReading", "PpWindows", "cable_from_sample"]


class PpWindows(msgspec.Struct, frozen=True):
    """Resistance windows (ohm). ``upper_edges`` pairs each window's upper edge with its ampacity,
    in ascending resistance order; the ampacity of the lowest window depends on the phases."""

    fault_below_ohm: float = 75.0
    no_cable_above_ohm: float = 2200.0
    upper_edges: tuple[tuple[float, float], ...] = msgspec.field(
        default=((150.0, 63.0), (330.0, 32.0), (1000.0, 20.0), (2200.0, 13.0))
    )
    single_phase_top_a: float = 70.0  # the 100-ohm cable is rated 70 A on one phase


class CableReading(msgspec.Struct, frozen=True):
    """What the PP says about the cable: ``present``; ``ampacity_a`` (None = unknown/none);
    ``fault`` for an electrically invalid PP."""

    present: bool
    ampacity_a: float | None
    fault: bool


def cable_from_sample(sample: PpSample, phases: int, windows: PpWindows | None = None) -> CableReading:
    """Decode one PP sample. Boards that decode the rating themselves set ``ampacity_a``."""
    w = windows or PpWindows()
    if sample.fault:
        return CableReading(present=True, ampacity_a=None, fault=True)
    if sample.ampacity_a is not None:
        present = sample.ampacity_a > 0
        return CableReading(present=present, ampacity_a=sample.ampacity_a if present else None, fault=False)
    r = sample.resistance_ohm
    if r is None or r > w.no_cable_above_ohm:
        return CableReading(present=False, ampacity_a=None, fault=False)
    if r < w.fault_below_ohm:
        return CableReading(present=True, ampacity_a=None, fault=True)
    for index, (edge, amps) in enumerate(w.upper_edges):
        if r < edge:
            if index == 0 and phases == 1:
                amps = w.single_phase_top_a
            return CableReading(present=True, ampacity_a=amps, fault=False)
    # r == no_cable_above_ohm exactly: the 13 A window's closed upper edge
    return CableReading(present=True, ampacity_a=w.upper_edges[-1][1], fault=False)
