"""`josev-hal sim meter|can` (issue #16 item 8): the simulated peers as commands, for probing and
bring-up without a hand-written script. The meter is read across processes by the real
modbus-meter driver through the pty the command prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions

from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig
from tests.support.cli import josev_hal_command


@contextmanager
def _running(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``josev-hal sim ...`` and yield it with its first output line."""
    proc = subprocess.Popen(
        [*josev_hal_command(), "sim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"sim exited: {proc.wait(10)} {proc.stderr.read() if proc.stderr else ''}")
        yield proc, line.strip()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def test_sim_meter_serves_a_model_that_the_driver_reads_from_another_process() -> None:
    with _running("meter", "--model", "sdm630", "--unit", "3", "--pair", "--value", "voltage_l1=231.5") as (
        proc,
        line,
    ):
        m = re.fullmatch(r"sim meter sdm630 unit 3: serving on (\S+) \(9600 8N1\); connect to (\S+)", line)
        assert m, line
        bus = SerialBus("rs485", SerialBusOptions(port=m.group(2), baudrate=9600, timeout_s=0.5))
        meter = ModbusMeter(
            DeviceConfig(
                device_id="sim.meter", options=ModbusMeterOptions(model="sdm630"), bus=bus, address=3
            )
        )
        meter.setup()
        try:
            reading = meter.read()
        finally:
            meter.release()
            bus.release()
        assert reading.voltage_v is not None and reading.voltage_v.l1 == pytest.approx(231.5)
        assert reading.frequency_hz == pytest.approx(50.0)
    assert proc.returncode == 0  # SIGTERM is the normal way to stop it


def test_sim_can_starts_a_module_group_and_stops_cleanly() -> None:
    channel = f"sim-cli-{os.getpid()}-{time.monotonic_ns()}"
    with _running("can", "--family", "infypower", "--channel", channel, "--modules", "4,5") as (proc, line):
        assert line == f"sim can infypower modules 4,5: on virtual {channel}"
        assert proc.poll() is None
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("meter", "--model", "sdm630", "--unit", "300", "--pair"), "Modbus unit id must be 1..247"),
        (("meter", "--model", "nosuch", "--pair"), "unknown model 'nosuch'"),
        (("meter", "--model", "sdm630", "--pair", "--value", "colour=3"), "has no 'colour'"),
        (("meter", "--model", "sdm630", "--pair", "--baudrate", "9601"), "not a standard baud rate"),
        (("meter", "--model", "sdm630"), "one of the arguments --port --pair --tcp is required"),
        (("can", "--family", "infypower", "--channel", "x", "--modules", "0,70"), "0..62"),
        (("can", "--family", "nosuch", "--channel", "x"), "invalid choice"),
    ],
)
def test_bad_sim_arguments_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    proc = subprocess.run([*josev_hal_command(), "sim", *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
