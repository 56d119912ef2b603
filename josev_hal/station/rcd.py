"""The residual-current monitor of one EVSE: trip latch, reset policy, self-test policy.

Trip: the hardware path opens the contactor by itself (IEC 62955, the board's safety
declaration); :class:`RcdGuard` is the second channel. A trip latches (``[safety] rcd_reset``:
``manual`` until an operator resets, ``auto`` once every connector is in A and the module reads
clear) and raises ``hardware_fault`` (``rcd``, ``ground_fault``).

Self-test (``[safety] rcd_self_test``, issue #14 item 6): an RCD that no longer trips is a
silent loss of protection, so the module's test current is injected regularly, always with the
contactor open:

* ``before_each_session`` (default): once per plug-in, before the contactor may close;
* ``daily``: before a session when the last passed test is 24 h old or there was none since start;
* ``off``: never by itself (an operator may still run one).

While a test is due the interlock holds the contactor open (``rcd_self_test_pending``). A failed
test latches ``hardware_fault`` (``rcd``, key ``rcd_self_test``) and blocks every session until a
later test passes (an operator re-runs it; ``clear_faults`` does not clear it: only a passing test
proves the RCD works). A driver that cannot test (``supports_self_test`` false, e.g. no TEST pin)
is never tested and never blocks; that is logged once at start.

The test itself can take seconds (trip, then release), so it never runs under the EVSE lock: the
guard only says a test is due; the controller runs it on the sampling thread (or the operator's)
with ``testing`` set, so the trip the test causes is not mistaken for a residual-current fault.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable

from josev_hal.devices import Rcd
from josev_hal.errors import DeviceError
from josev_hal.messages import payloads as p
from josev_hal.station.events import EventKind
from josev_hal.station.faults import Emit, FaultBook

__all__ = ["RcdGuard", "RcdSelfTestPolicy"]

log = logging.getLogger(__name__)

SELF_TEST_FAULT = "rcd_self_test"
_DAY_S = 86_400.0


class RcdSelfTestPolicy(enum.StrEnum):
    BEFORE_EACH_SESSION = "before_each_session"
    DAILY = "daily"
    OFF = "off"


class RcdGuard:
    """Trip latch and self-test bookkeeping (under the EVSE lock, except the test itself)."""

    def __init__(
        self,
        evse_id: str,
        device: Rcd | None,
        faults: FaultBook,
        emit: Emit,
        *,
        auto_reset: bool,
        self_test: RcdSelfTestPolicy,
    ) -> None:
        self.evse_id = evse_id
        self.device = device
        self._faults = faults
        self._emit = emit
        self.auto_reset = auto_reset
        self.policy = self_test
        self.latched = False
        self.now_tripped = False
        self.testing = False  #: a self-test runs: its trip is not a residual-current fault
        self.tested_this_session = False
        self.last_pass_at: float | None = None
        self.supported = device is not None and bool(getattr(device, "supports_self_test", True))
        if device is not None and not self.supported and self_test is not RcdSelfTestPolicy.OFF:
            log.warning(
                "evse=%s rcd %s cannot run a self-test: rcd_self_test=%s has no effect",
                evse_id,
                device.device_id,
                self_test.value,
            )

    @property
    def tripped(self) -> bool:
        return self.latched or self.now_tripped

    # -- trip ----------------------------------------------------------------------------------
    def read(self, now: float, all_unplugged: Callable[[], bool]) -> bool:
        """Read the module. True when it tripped just now (the caller opens at once)."""
        rcd = self.device
        if rcd is None or self.testing:
            return False
        try:
            sample = rcd.read()
        except DeviceError as exc:
            self._faults.link_fault("rcd", exc)
            return False
        self._faults.clear_fault("link:rcd")
        self.now_tripped = sample.tripped
        tripped_now = False
        if sample.tripped and not self.latched:
            self.latched = True
            tripped_now = True
            log.warning("evse=%s rcd tripped residual_ma=%s", self.evse_id, sample.residual_ma)
            self._emit(EventKind.RCD_TRIP, now, dc_6ma=None, residual_ma=sample.residual_ma)
            self._faults.set_fault(
                "rcd", "rcd", p.HardwareFaultName.GROUND_FAULT, "residual current trip", latched=True
            )
        if self.latched and not sample.tripped and self.auto_reset and all_unplugged():
            self.reset()
        return tripped_now

    def reset(self) -> bool:
        """Release a latched trip. True when the module reads clear afterwards."""
        rcd = self.device
        if rcd is None:
            self.latched = False
            return True
        try:
            rcd.reset()
            tripped = rcd.read().tripped
        except DeviceError as exc:
            log.error("evse=%s rcd reset failed: %s", self.evse_id, exc)
            return False
        if tripped:
            return False
        self.latched = False
        self.now_tripped = False
        self._faults.drop("rcd")
        log.info("evse=%s rcd reset", self.evse_id)
        return True

    # -- self-test -----------------------------------------------------------------------------
    @property
    def failed(self) -> bool:
        return SELF_TEST_FAULT in self._faults

    def session_began(self) -> None:
        self.tested_this_session = False

    def due(self, session: bool, now: float) -> bool:
        """A self-test must pass before the contactor may close in this session."""
        if not self.supported or not session or self.testing:
            return False
        if self.policy is RcdSelfTestPolicy.BEFORE_EACH_SESSION:
            return not self.tested_this_session
        if self.policy is RcdSelfTestPolicy.DAILY:
            return self.last_pass_at is None or now - self.last_pass_at >= _DAY_S
        return False

    def due_changes_at(self, session: bool) -> float:
        """The time at which :meth:`due` may turn true by the clock alone (the daily test falls
        due); ``inf`` when only a state change can move it."""
        daily = self.policy is RcdSelfTestPolicy.DAILY and self.supported and session
        if daily and not self.testing and self.last_pass_at is not None:
            return self.last_pass_at + _DAY_S
        return math.inf

    def run(self, timeout_s: float = 2.0) -> tuple[bool, str]:
        """Run the driver's test (no lock held; the caller set ``testing`` and keeps the contactor
        open). Returns (passed, detail)."""
        rcd = self.device
        if rcd is None:
            return False, "no rcd device"
        try:
            passed = bool(rcd.self_test(timeout_s))
        except DeviceError as exc:
            return False, f"self-test failed to run: {exc}"
        return passed, "passed" if passed else "the module did not trip and release within the test time"

    def finish(self, passed: bool, detail: str, now: float) -> None:
        """Record a test result (under the lock)."""
        self.testing = False
        self.tested_this_session = True
        self._emit(EventKind.RCD_SELF_TEST, now, passed=passed, detail=detail)
        if passed:
            self.last_pass_at = now
            log.info("evse=%s rcd self-test passed", self.evse_id)
            self._faults.drop(SELF_TEST_FAULT)
            return
        log.error("evse=%s rcd self-test FAILED: %s", self.evse_id, detail)
        self._faults.set_fault(
            SELF_TEST_FAULT, "rcd", p.HardwareFaultName.OTHER, f"rcd self-test failed: {detail}", latched=True
        )
