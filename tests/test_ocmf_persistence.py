"""Signed (OCMF) transactions across restarts: a transaction open when the HAL process is killed
is closed on the meter at the next start and its signed dataset reaches the readings.

The meter is the simulated WM3M4C behind pymodbus on a pty; the first HAL is a real child process
that opens the transaction and is killed with SIGKILL (no clean-up can run)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions
from josev_hal_modbus.ocmf_store import TransactionStore
from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

from josev_hal.buses.pty_line import PtyLine
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, SignedMeterValue, TransactionInfo

pytestmark = pytest.mark.timeout(90)

REPO = Path(__file__).resolve().parents[1]
DEVICE = "evse[0].meter"

CHILD = textwrap.dedent(
    """
    import sys, time
    import msgspec
    from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions
    from josev_hal.buses.serial import SerialBus, SerialBusOptions
    from josev_hal.devices import DeviceConfig, TransactionInfo

    port, directory = sys.argv[1], sys.argv[2]
    bus = SerialBus("rs485", SerialBusOptions(port=port, baudrate=9600, timeout_s=0.25))
    options = msgspec.convert(
        {"model": "wm3m4c", "signed_poll_s": 0.02, "backoff_s": 0.01, "transaction_dir": directory},
        ModbusMeterOptions,
    )
    meter = ModbusMeter(DeviceConfig("evse[0].meter", options, bus=bus, address=33))
    meter.setup()
    meter.begin_transaction(
        TransactionInfo(
            transaction_id="tx-crash", evse_id="DE*SEV*E1", id_token="04a1b2c3", id_token_type="ISO14443"
        )
    )
    print("begun", flush=True)
    time.sleep(600)
    """
)


def make_meter(port: str, directory: Path, **opts: Any) -> tuple[SerialBus, ModbusMeter]:
    bus = SerialBus("rs485", SerialBusOptions(port=port, baudrate=9600, timeout_s=0.25))
    options = msgspec.convert(
        {
            "model": "wm3m4c",
            "signed_poll_s": 0.02,
            "backoff_s": 0.01,
            "transaction_dir": str(directory),
            **opts,
        },
        ModbusMeterOptions,
    )
    meter = ModbusMeter(DeviceConfig(DEVICE, options, bus=bus, address=33, plugin="modbus"))
    meter.setup()
    return bus, meter


def verify(signed: SignedMeterValue, tx_evse: str, token: str) -> dict[str, Any]:
    ocmf = base64.b64decode(signed.signed_meter_data).decode("ascii")
    header, payload_text, sig_text = ocmf.split("|")
    assert header == "OCMF"
    payload: dict[str, Any] = json.loads(payload_text)
    assert payload["CI"] == tx_evse and payload["ID"] == token
    key = serialization.load_der_public_key(base64.b64decode(signed.public_key))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(
        bytes.fromhex(json.loads(sig_text)["SD"]), payload_text.encode("ascii"), ec.ECDSA(hashes.SHA256())
    )
    return payload


def test_transaction_open_when_the_hal_is_killed_is_closed_at_the_next_start(tmp_path: Path) -> None:
    sim = SimulatedMeter("wm3m4c", unit=33, values={"energy_import": 1000.0}, sign_delay_s=0.05)
    with PtyLine(baudrate=9600) as line, ModbusPeer(line.peer_port, [sim]):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, line.client_port, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "begun", child.stderr.read() if child.stderr else ""
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        record = json.loads((tmp_path / "evse_0_.meter.json").read_text())
        assert (record["state"], record["transaction_id"]) == ("open", "tx-crash")
        sim.set_values(energy_import=4200.0)
        assert sim.signed is not None
        sim.signed.power_failure()  # the station lost power, the meter reports state 2
        bus, meter = make_meter(line.client_port, tmp_path)
        try:
            reading = meter.read()
            again = meter.read()
        finally:
            bus.release()
    (signed,) = reading.signed
    payload = verify(signed, "DE*SEV*E1", "04a1b2c3")
    assert [rd["TX"] for rd in payload["RD"]] == ["B", "E"]
    assert [rd["RV"] for rd in payload["RD"]] == [1.0, 4.2], "begin of the killed run, end at recovery"
    assert again.signed == reading.signed, "kept for Josev for recovered_hold_s"
    assert not (tmp_path / "evse_0_.meter.json").exists()
    kept = json.loads((tmp_path / "recovered" / "tx-crash.json").read_text())
    assert kept["transaction_id"] == "tx-crash"
    assert kept["signed_meter_values"][0]["signed_meter_data"] == signed.signed_meter_data


def test_recovered_values_stop_riding_along_after_the_hold(tmp_path: Path) -> None:
    sim = SimulatedMeter("wm3m4c", unit=33, values={"energy_import": 1000.0}, sign_delay_s=0.02)
    with PtyLine(baudrate=9600) as line, ModbusPeer(line.peer_port, [sim]):
        bus, first = make_meter(line.client_port, tmp_path)
        first.begin_transaction(TransactionInfo(transaction_id="t1", evse_id="E1", id_token="aa"))
        bus.release()  # the process "dies": no end_transaction
        bus, second = make_meter(line.client_port, tmp_path, recovered_hold_s=0)
        try:
            assert second.recover_transaction() != ()
            assert second.read().signed == ()
        finally:
            bus.release()


def test_a_normal_end_removes_the_record_and_nothing_is_recovered(tmp_path: Path) -> None:
    sim = SimulatedMeter("wm3m4c", unit=33, values={"energy_import": 1000.0}, sign_delay_s=0.02)
    with PtyLine(baudrate=9600) as line, ModbusPeer(line.peer_port, [sim]):
        bus, meter = make_meter(line.client_port, tmp_path)
        try:
            meter.begin_transaction(TransactionInfo(transaction_id="t2", evse_id="E1", id_token="aa"))
            assert (tmp_path / "evse_0_.meter.json").exists()
            assert len(meter.end_transaction()) == 1
            assert not (tmp_path / "evse_0_.meter.json").exists()
            assert meter.recover_transaction() == ()
        finally:
            bus.release()


def test_a_record_of_a_begin_the_meter_never_confirmed_is_dropped(tmp_path: Path) -> None:
    TransactionStore(tmp_path, DEVICE).save({"transaction_id": "t3", "evse_id": "E1", "state": "opening"})
    sim = SimulatedMeter("wm3m4c", unit=33, values={"energy_import": 1000.0})
    with PtyLine(baudrate=9600) as line, ModbusPeer(line.peer_port, [sim]):
        bus, meter = make_meter(line.client_port, tmp_path)
        try:
            assert meter.read().signed == ()
        finally:
            bus.release()
    assert not (tmp_path / "evse_0_.meter.json").exists()
    assert not (tmp_path / "failed").exists()


def test_an_open_record_the_meter_knows_nothing_of_is_kept_as_failed(tmp_path: Path) -> None:
    TransactionStore(tmp_path, DEVICE).save({"transaction_id": "t4", "evse_id": "E1", "state": "open"})
    sim = SimulatedMeter("wm3m4c", unit=33, values={"energy_import": 1000.0})
    with PtyLine(baudrate=9600) as line, ModbusPeer(line.peer_port, [sim]):
        bus, meter = make_meter(line.client_port, tmp_path)
        try:
            assert meter.read().signed == ()
        finally:
            bus.release()
    failed = json.loads((tmp_path / "failed" / "t4.json").read_text())
    assert "idle" in failed["reason"]


def test_an_unreadable_record_is_moved_aside_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "evse_0_.meter.json").write_text("{not json")
    assert TransactionStore(tmp_path, DEVICE).load() is None
    assert (tmp_path / "evse_0_.meter.bad").exists()
