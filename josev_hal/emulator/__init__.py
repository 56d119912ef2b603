"""A Josev emulator: plays Josev's side of the API against any CS over a real broker.

It powers ``josev-hal demo`` and ``josev-hal emulate-josev``: manufacturers test their own
integration without Josev, and every message the CS publishes is checked against the contract.
"""

from josev_hal.emulator.checker import ContractChecker, Violation
from josev_hal.emulator.peer import JosevEmulator, TimelineEvent
from josev_hal.emulator.scenarios import SCENARIOS, ScenarioFailed, ScenarioResult, run_scenario

__all__ = [
    "SCENARIOS",
    "ContractChecker",
    "JosevEmulator",
    "ScenarioFailed",
    "ScenarioResult",
    "TimelineEvent",
    "Violation",
    "run_scenario",
]
