"""Sampling the pilot lines of one EVSE: CP per connector (debounced) and PP per socket.

:class:`PilotInputs` reads the CP and PP drivers, keeps the accepted CP state per connector and
the cable each PP codes, and reports what changed; it never actuates. The controller's evaluate
step decides what a change means (open at once, or wait -- C2 -> C1 is not an emergency).

PP on a socket outlet (issue #14 item 4): with an EV connected (CP B/C/D) the socket's PP must
code a cable. A PP that reads "no cable", out of range or cannot be read means nobody knows what
the cable carries, so no current is offered (the CP stays at X1: :meth:`pp_valid` is false and
the interlock's ``pp_required`` holds the contactor open) and, once that lasted ``pp_fault_after_s``
(a plug being inserted may bounce), a ``pp`` hardware fault is raised. It goes away with a valid
reading or the unplug.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import msgspec

from josev_hal.devices import ControlPilot, CpOutput, ProximityPilot
from josev_hal.errors import DeviceError
from josev_hal.messages import payloads as p
from josev_hal.station.config import EvseSettings
from josev_hal.station.cp import CpClassifier, CpLetter, state_name
from josev_hal.station.events import EventKind
from josev_hal.station.faults import Emit, FaultBook
from josev_hal.station.pp import CableReading, cable_from_sample

__all__ = ["CpChange", "PilotInputs"]

log = logging.getLogger(__name__)


class CpChange(msgspec.Struct, frozen=True):
    connector_id: int
    previous: str | None
    state: str


class PilotInputs:
    """CP and PP of one EVSE (under the EVSE lock)."""

    def __init__(
        self,
        settings: EvseSettings,
        cp: Mapping[int, ControlPilot],
        pp: Mapping[int, ProximityPilot],
        faults: FaultBook,
        emit: Emit,
    ) -> None:
        self.settings = settings
        self.evse_id = settings.evse_id
        self.cp_devices = cp
        self.pp_devices = pp
        self._faults = faults
        self._emit = emit
        self.classifiers = {cid: self._classifier() for cid in cp}
        #: accepted CP state per connector (None until the first sample)
        self.states: dict[int, str | None] = {cid: None for cid in cp}
        self.cables: dict[int, CableReading] = {}
        self._pp_readable: dict[int, bool] = {}
        self._pp_invalid_since: dict[int, float] = {}
        #: counts every change of an accepted CP state, a cable reading or a PP's readability:
        #: a sample compares it to see that its reads moved none of them (steady-state skip, #17)
        self.version = 0
        # fault keys per connector, made once (a sample clears them every time: no formatting)
        self._cp_keys = {cid: (f"cp{cid}", f"link:cp{cid}", f"diode{cid}") for cid in cp}
        self._pp_keys = {cid: (f"pp{cid}", f"link:pp{cid}", f"pp_missing{cid}") for cid in pp}
        connectors = {c.id: c for c in settings.connectors}
        #: socket connectors whose PP the core reads (a fixed cable's rating comes from the profile)
        self.sockets = tuple(
            cid for cid in pp if (c := connectors.get(cid)) is not None and c.cable == "socket"
        )
        for c in settings.connectors:
            if c.cable == "socket" and c.id not in pp:
                log.warning(
                    "evse=%s connector %s is a socket without a PP device: the cable rating is unknown",
                    self.evse_id,
                    c.id,
                )

    def _classifier(self) -> CpClassifier:
        return CpClassifier(self.settings.cp_thresholds, self.settings.cp_debounce_samples)

    def reset(self) -> None:
        """Forget every accepted state (per-EVSE restart): everything is re-detected."""
        for cid in self.classifiers:
            self.classifiers[cid] = self._classifier()
            self.states[cid] = None
        self.version += 1

    # -- CP ------------------------------------------------------------------------------------
    def read_cp(self, now: float, confirmed: bool) -> tuple[list[CpChange], list[int]]:
        """Sample every CP. Returns the accepted changes and the connectors that could not be read."""
        changes: list[CpChange] = []
        unreadable: list[int] = []
        for cid, cp in self.cp_devices.items():
            what, link_key, key = self._cp_keys[cid]
            try:
                sample = cp.read()
                output = cp.output
            except DeviceError as exc:
                self._faults.link_fault(what, exc)
                unreadable.append(cid)
                continue
            self._faults.clear_fault(link_key)
            reading = self.classifiers[cid].update(sample, output, confirmed=confirmed)
            change = self._set_state(cid, reading.state, now)
            if change is not None and reading.changed:
                changes.append(change)
            if reading.diode_fault:
                self._faults.set_fault(key, "cp", p.HardwareFaultName.OTHER, "EV diode check failed")
            else:
                self._faults.clear_fault(key)
        return changes, unreadable

    def follow_output(self, output_of: Mapping[int, CpOutput]) -> None:
        """The generator's output changed: the x1/x2 suffix follows at once (no new sample)."""
        for cid, classifier in self.classifiers.items():
            if classifier.letter is not None:
                self._set_state(cid, state_name(classifier.letter, output_of[cid]), None)
                classifier.state = self.states[cid]

    def _set_state(self, cid: int, state: str | None, now: float | None) -> CpChange | None:
        previous = self.states[cid]
        if state == previous:
            return None
        self.states[cid] = state
        self.version += 1
        if state is None:
            return None
        self._emit(EventKind.CP_STATE, now, connector_id=cid, state=state, previous=previous)
        return CpChange(cid, previous, state)

    def letters(self) -> list[CpLetter | None]:
        return [c.letter for c in self.classifiers.values()]

    def plugged(self) -> bool:
        return any(x in (CpLetter.B, CpLetter.C, CpLetter.D) for x in self.letters())

    def all_unplugged(self) -> bool:
        return all(letter is CpLetter.A for letter in self.letters())

    def presence(self) -> tuple[bool, bool]:
        """``(plugged(), all_unplugged())`` in one pass (every sample asks for both)."""
        plugged, all_a = False, True
        for classifier in self.classifiers.values():
            letter = classifier.letter
            if letter is not CpLetter.A:
                all_a = False
                if letter in (CpLetter.B, CpLetter.C, CpLetter.D):
                    plugged = True
        return plugged, all_a

    # -- PP ------------------------------------------------------------------------------------
    def read_pp(self, now: float) -> None:
        for cid, pp in self.pp_devices.items():
            what, link_key, _ = self._pp_keys[cid]
            try:
                sample = pp.read()
            except DeviceError as exc:
                self._faults.link_fault(what, exc)
                if self._pp_readable.get(cid) is not False:
                    self._pp_readable[cid] = False
                    self.version += 1
            else:
                self._faults.clear_fault(link_key)
                cable = cable_from_sample(sample, self.settings.phases, self.settings.pp_windows)
                if not self._pp_readable.get(cid, False) or cable != self.cables.get(cid):
                    self._pp_readable[cid] = True
                    self.cables[cid] = cable
                    self.version += 1
                if cable.fault:
                    self._faults.set_fault(what, "pp", p.HardwareFaultName.OTHER, "PP out of range")
                else:
                    self._faults.clear_fault(what)
            if cid in self.sockets:
                self._supervise_socket(cid, now)

    def _ev_at(self, cid: int) -> bool:
        """An EV is connected at ``cid`` (its CP, or the only CP of the EVSE, shows B/C/D)."""
        classifier = self.classifiers.get(cid)
        if classifier is None and len(self.classifiers) == 1:
            classifier = next(iter(self.classifiers.values()))
        return classifier is not None and classifier.letter in (CpLetter.B, CpLetter.C, CpLetter.D)

    def _supervise_socket(self, cid: int, now: float) -> None:
        key = self._pp_keys[cid][2]
        if not self._ev_at(cid) or self.pp_valid_for(cid):
            self._pp_invalid_since.pop(cid, None)
            self._faults.clear_fault(key)
            return
        since = self._pp_invalid_since.setdefault(cid, now)
        if now - since >= self.settings.pp_fault_after_s:
            self._faults.set_fault(
                key,
                "pp",
                p.HardwareFaultName.OTHER,
                f"connector {cid}: EV connected but the PP codes no cable (open or unreadable)",
            )

    def pp_valid_for(self, cid: int) -> bool:
        cable = self.cables.get(cid)
        return (
            self._pp_readable.get(cid, False)
            and cable is not None
            and cable.present
            and not cable.fault
            and cable.ampacity_a is not None
        )

    @property
    def pp_required(self) -> bool:
        return bool(self.sockets)

    def pp_valid(self) -> bool:
        """Every socket with an EV at it codes a cable (the interlock's ``pp_valid``)."""
        return all(self.pp_valid_for(cid) for cid in self.sockets if self._ev_at(cid))
