"""Carlo Gavazzi EM580 signed transactions (OCMF flow of josev_hal_modbus.em580) against the
simulated EM580 behind pymodbus on a pty, including recovery after a restart."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josev_hal_modbus import em580
from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions
from josev_hal_modbus.ocmf_store import TransactionStore
from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

from josev_hal.buses.pty_line import PtyLine
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, SignedMeterValue, TransactionInfo
from josev_hal.errors import DeviceError
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(60)

TX = TransactionInfo(
    transaction_id="tx-580", evse_id="DE*ACM*E0001", id_token="04a1b2c3", id_token_type="ISO14443"
)


@pytest.fixture
def sim() -> SimulatedMeter:
    return SimulatedMeter("em580", unit=1, values={"energy_import": 1000.0}, sign_delay_s=0.02)


@pytest.fixture
def line(sim: SimulatedMeter) -> Iterator[PtyLine]:
    with PtyLine(baudrate=9600) as pty, ModbusPeer(pty.peer_port, [sim]):
        yield pty


def make(line: PtyLine, directory: Path | None = None, **opts: Any) -> tuple[SerialBus, ModbusMeter]:
    bus = SerialBus("rs485", SerialBusOptions(port=line.client_port, baudrate=9600, timeout_s=0.25))
    extra = {"transaction_dir": str(directory)} if directory is not None else {}
    options = msgspec.convert(
        {"model": "em580", "signed_poll_s": 0.02, "backoff_s": 0.01, "signed_timeout_s": 3, **extra, **opts},
        ModbusMeterOptions,
    )
    meter = ModbusMeter(DeviceConfig("evse[0].meter", options, bus=bus, address=1, plugin="modbus"))
    meter.setup()
    return bus, meter


def check(signed: SignedMeterValue, public_der: bytes) -> dict[str, Any]:
    assert (signed.encoding_method, signed.signing_method) == ("OCMF", "ECDSA-secp256r1-SHA256")
    assert base64.b64decode(signed.public_key) == public_der
    header, payload_text, sig_text = base64.b64decode(signed.signed_meter_data).decode("ascii").split("|")
    assert header == "OCMF"
    key = serialization.load_der_public_key(base64.b64decode(signed.public_key))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(
        bytes.fromhex(json.loads(sig_text)["SD"]), payload_text.encode("ascii"), ec.ECDSA(hashes.SHA256())
    )
    payload: dict[str, Any] = json.loads(payload_text)
    return payload


def test_em580_transaction_writes_the_identification_and_returns_the_signed_file(
    sim: SimulatedMeter, line: PtyLine
) -> None:
    bus, meter = make(line)
    try:
        assert meter.supports_signed
        meter.begin_transaction(TX)
        assert sim.words(3, em580.REG.IDENT_STATUS, 1) == [1]
        assert sim.words(3, em580.REG.IDENT_TYPE, 1) == [10]  # ISO14443
        sim.set_values(energy_import=7500.0)
        (signed,) = meter.end_transaction()
    finally:
        bus.release()
    assert sim.signed is not None
    payload = check(signed, sim.signed.public_der)  # type: ignore[union-attr]
    assert (payload["CI"], payload["ID"], payload["TT"]) == ("DE*ACM*E0001", "04a1b2c3", "<=>tx-580")
    assert [rd["RV"] for rd in payload["RD"]] == [1.0, 7.5]
    assert sim.words(4, em580.REG.STATE, 1) == [em580.STATE_NOT_READY], "the file read was confirmed"


def test_em580_refuses_to_begin_while_a_transaction_runs(sim: SimulatedMeter, line: PtyLine) -> None:
    bus, meter = make(line)
    try:
        meter.begin_transaction(TX)
        with pytest.raises(DeviceError, match="already runs a transaction"):
            meter.begin_transaction(TX)
    finally:
        bus.release()


def test_em580_transaction_interrupted_by_a_restart_is_closed_and_recovered(
    sim: SimulatedMeter, line: PtyLine, tmp_path: Path
) -> None:
    bus, first = make(line, tmp_path)
    first.begin_transaction(TX)
    bus.release()  # the HAL dies without ending it
    sim.set_values(energy_import=3000.0)
    bus, second = make(line, tmp_path)
    try:
        reading = second.read()
    finally:
        bus.release()
    (signed,) = reading.signed
    assert sim.signed is not None
    payload = check(signed, sim.signed.public_der)  # type: ignore[union-attr]
    assert payload["TT"] == "<=>tx-580" and [rd["RV"] for rd in payload["RD"]] == [1.0, 3.0]
    assert (tmp_path / "recovered" / "tx-580.json").exists()
    assert not (tmp_path / "evse_0_.meter.json").exists()


def test_em580_dataset_closed_by_the_meter_itself_is_taken_if_it_is_ours(
    sim: SimulatedMeter, line: PtyLine, tmp_path: Path
) -> None:
    bus, first = make(line, tmp_path)
    first.begin_transaction(TX)
    bus.release()
    assert sim.signed is not None
    sim.signed.close()  # a power loss: the meter ends the transaction and keeps its file
    assert eventually(lambda: sim.words(4, em580.REG.STATE, 1) == [em580.STATE_READY])
    bus, second = make(line, tmp_path)
    try:
        assert len(second.recover_transaction()) == 1
    finally:
        bus.release()


def test_em580_dataset_of_another_transaction_is_not_taken(
    sim: SimulatedMeter, line: PtyLine, tmp_path: Path
) -> None:
    bus, first = make(line, tmp_path)
    first.begin_transaction(TX)
    bus.release()
    assert sim.signed is not None
    sim.signed.close()
    assert eventually(lambda: sim.words(4, em580.REG.STATE, 1) == [em580.STATE_READY])
    TransactionStore(tmp_path, "evse[0].meter").save(
        {"transaction_id": "tx-other", "evse_id": "E", "state": "open"}
    )
    bus, second = make(line, tmp_path)
    try:
        assert second.recover_transaction() == ()
    finally:
        bus.release()
    failed = json.loads((tmp_path / "failed" / "tx-other.json").read_text())
    assert "tx-580" in failed["reason"]


def test_em580_fields_that_do_not_fit_are_refused_before_anything_is_written(
    sim: SimulatedMeter, line: PtyLine
) -> None:
    bus, meter = make(line)
    try:
        with pytest.raises(DeviceError, match="longer than 39 characters"):
            meter.begin_transaction(TransactionInfo(transaction_id="t", evse_id="E" * 50))
        assert sim.words(3, em580.REG.COMMAND, 1) == [0]
    finally:
        bus.release()
