"""Hardware discovery for ``josev-hal probe``: what a probe found, drafting, the shared CLI helpers.

A probe is a tool (:class:`~josev_hal.hookspecs.CliTool`) under ``josev-hal probe``. The core's
need only the board and its device roles:

* :func:`josev_hal.probe.board.probe_board` -- every device of a set-up board, read-only;
* :func:`josev_hal.probe.relay.probe_relay` -- contactor feedback time of one EVSE.

The bus probes live in the plugins whose protocol code they reuse and are offered through the
``hal_probe_tools`` hook (the core never imports them): ``josev_hal_modbus.probe.probe_serial``
(Modbus RTU meters over a baud-rate/unit-id sweep), ``josev_hal_i2c.probe.probe_i2c`` (chips on
an I2C adapter, CP/PP live values), ``josev_hal_can.probe.probe_can`` (DC power-module
families), ``josev_hal_linux.probe`` (the SoC's GPIO/PWM/IIO). Each function takes already-built
bus objects (or an smbus-like object for I2C), so tests run them against the real simulated
peers without any switch in the code, and returns what it found as :class:`Found` records.

What every tool shares is core API: :mod:`josev_hal.probe.draft` turns findings into a board
profile (merging into an existing draft, so ``probe i2c`` then ``probe serial`` build one
profile) and :mod:`josev_hal.probe.tool` has the exit codes, progress bar, printing and
``--draft-profile`` handling.
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
