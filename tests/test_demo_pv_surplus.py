"""``josev-hal demo --scenario pv-surplus`` (issue #22): a local energy manager's power limit on
``josev-hal/<client>/limits/set`` makes the AC EVSE of the built-in board (with a phase switch)
go 3 -> 1 -> 3 phases with the EV paused for every switch; the whole conversation passes the
contract checker. Through the console script and a private broker, like a user runs it."""

from __future__ import annotations

import re
import subprocess

from tests.test_cli_demo import run_cli


def test_demo_pv_surplus_switches_phases_with_the_ev_paused_and_passes_the_contract() -> None:
    proc: subprocess.CompletedProcess[str] = run_cli("demo", "--scenario", "pv-surplus", "--fast")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "PASSED" in out and "pv-surplus" in out
    assert "│ 0 " in out.split("contract violations")[1][:40]
    # the energy manager's two limits, each followed by a pause (B) and a resume (C2)
    first = out.index("energy manager: 3000 W")
    second = out.index("energy manager: 11040 W")
    for start, end in ((first, second), (second, len(out))):
        part = out[start:end]
        assert re.search(r"state=B\d", part) and "state=C2" in part, part[:3000]
    # (the scenario itself fails unless cs_status_and_limits offers 13 A -- the whole 3000 W on
    # one phase -- after the first switch and 16 A after the second)
