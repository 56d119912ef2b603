"""Hardware discovery for ``josev-hal probe``: sweeps, identification, live readings, drafts.

Each bus has its own module with one function that does the work and returns what it found as
:class:`Found` records; the CLI (:mod:`josev_hal.commands.probe`) only opens the hardware, shows
progress and prints. The functions take already-built bus objects (or an smbus-like object for
I2C), so tests run them against the real simulated peers without any switch in the code:

* :func:`josev_hal.probe.serial.probe_serial` -- Modbus RTU meters over a baud-rate/unit-id sweep;
* :func:`josev_hal.probe.i2c.probe_i2c` -- chips on an I2C adapter, CP/PP live values;
* :func:`josev_hal.probe.can.probe_can` -- DC power-module families on a CAN channel;
* :func:`josev_hal.probe.relay.probe_relay` -- contactor feedback time of one EVSE.

:mod:`josev_hal.probe.draft` turns findings into a board profile (merging into an existing
draft, so ``probe i2c`` then ``probe serial`` build one profile).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from josev_hal.errors import SafetyError

__all__ = ["Found", "ProbeRefused"]


@dataclass
class Found:
    """One thing a probe found.

    ``bus``: the bus kind (``serial``, ``i2c``, ``can``) -- or ``board`` for the relay probe.
    ``location``: where on that bus kind (``port`` and line settings, ``channel`` and interface).
    ``address``: Modbus unit id, I2C address, CAN module address (``None`` when not addressed).
    ``model``: what it was identified as (``sdm630``, ``ads1115``, ``infypower``), ``None`` when
    something answered that no supported model matches. ``driver``: the josev-hal driver that
    fits (for the drafted profile). ``reading``: a live reading, JSON-ready.
    """

    bus: str
    location: dict[str, Any]
    address: int | None
    model: str | None
    reading: dict[str, Any] = field(default_factory=dict)
    driver: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form: ``{"bus", "port"/"channel", ..., "address", "model", "reading"}``."""
        return {
            "bus": self.bus,
            **self.location,
            "address": self.address,
            "model": self.model,
            "driver": self.driver,
            "reading": self.reading,
            **({"notes": list(self.notes)} if self.notes else {}),
        }


class ProbeRefused(SafetyError):
    """The probe would not actuate: a vehicle is connected, the RCD is tripped, the contactor
    already reads closed ... (the message says which)."""
