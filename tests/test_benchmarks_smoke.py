"""Every benchmark script still runs to its report (tiny sizes; no timing is asserted).

The benchmarks reach into the station, the bridge and the simulators the way the README's figures
were taken. A change elsewhere can break one silently (everest.py stopped working when the
minimum closing interval arrived: its second closing waited 10 s and it timed out), and a
benchmark that no longer runs is a figure nobody can check. Each script runs in its own process
with the smallest sizes it accepts; the test asserts the exit code and that the report's lines
are printed. Not here: the long soak (``chaos.py``; its CI-sized sibling is
test_runtime_chaos.py) and ``codec.py``, which compares against jsonschema, fastjsonschema and
pydantic on the official contract's examples (the ``bench`` extra and ``$JOSEV_API_DIR``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_benchmark(script: str, *args: str, timeout: float = 180.0) -> str:
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.mark.parametrize(
    ("script", "args", "report"),
    [
        (
            "station.py",
            ("--sections", "abcd", "--samples", "6", "--sizes", "1", "--seconds", "0.5", "--stages"),
            (
                "ratio station / bare (p50)",
                "where the station path's time goes (second pass with stamps, 6 changes",
                "in the outbox -> network thread in paho publish",
                "RCD trip",
                "CP C2 -> B2",
                "target at 32 EVSEs",
                "first answer      median",
            ),
        ),
        (
            "bridge.py",
            ("--requests", "40", "--warmup", "5"),
            ("floor  (bare paho echo)", "added by the bridge"),
        ),
        ("scheduler.py", ("--sizes", "2", "--seconds", "0.2"), ("EVSEs   threads  scheduler",)),
        ("drivers.py", ("--polls", "1"), ("meter sdm630 @ 9600", "worst ratio")),
        (
            "everest.py",
            ("--cycles", "3"),
            ("bare MQTT round trip (floor)", "allow_power_on -> PowerOn/PowerOff"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and v.endswith(".py") else "",
)
def test_the_benchmark_runs_to_its_report(
    script: str, args: tuple[str, ...], report: tuple[str, ...]
) -> None:
    out = run_benchmark(script, *args)
    missing = [line for line in report if line not in out]
    assert not missing, f"{script} printed no {missing}:\n{out}"
