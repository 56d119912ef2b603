"""The modbus-meter driver against a real Modbus RTU peer: a pymodbus server on a pty pair.

Every test talks through pyserial on a pseudo-terminal to pymodbus's RTU server serving the
model's register map (``josev_hal_modbus.sim``); nothing of the driver is mocked.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josev_hal_modbus import builtin_models, identify, scan
from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions
from josev_hal_modbus.rtu import ModbusExceptionError, RtuMaster
from josev_hal_modbus.sim import ModbusPeer, SimulatedMeter

from josev_hal.buses.pty_line import PtyLine
from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, MeterReading, TransactionInfo
from josev_hal.errors import CrcError, DeviceError, DeviceOffline, DeviceTimeout

BAUD = 9600

#: Values exactly representable at every shipped model's resolution (0.1 V, 0.001 A, 0.01 W,
#: 0.1 kWh, float32 ...), so "equal" means equal up to float rounding.
SERVED = {
    "voltage_l1": 230.1,
    "voltage_l2": 231.2,
    "voltage_l3": 229.9,
    "current_l1": 16.25,
    "current_l2": 15.5,
    "current_l3": 0.0,
    "power_l1": 3700.0,
    "power_l2": 3500.5,
    "power_l3": 0.0,
    "power_total": 7200.5,
    "energy_import": 1234500.0,
    "energy_export": 42000.0,
    "reactive_import": 1000.0,
    "reactive_export": 2000.0,
    "frequency": 50.0,
    "power_factor": 0.95,
    "dc_voltage": 400.5,
    "dc_current": -62.5,
}

#: Where a model's resolution cannot hold a SERVED value: the Acrel's power is an int16 with a
#: decimal point, so at 7 kW its resolution is 1 W.
SERVED_OVERRIDES: dict[str, dict[str, float]] = {"acrel_djsf1352rn": {"power_total": 7200.0}}

FIELDS = {
    "power_total": lambda r: r.power_w,
    "energy_import": lambda r: r.energy_import_wh,
    "energy_export": lambda r: r.energy_export_wh,
    "reactive_import": lambda r: r.reactive_import_varh,
    "reactive_export": lambda r: r.reactive_export_varh,
    "frequency": lambda r: r.frequency_hz,
    "power_factor": lambda r: r.power_factor,
    "dc_voltage": lambda r: r.dc_voltage_v,
    "dc_current": lambda r: r.dc_current_a,
    **{f"voltage_l{i}": (lambda r, i=i: getattr(r.voltage_v, f"l{i}")) for i in (1, 2, 3)},
    **{f"current_l{i}": (lambda r, i=i: getattr(r.current_a, f"l{i}")) for i in (1, 2, 3)},
}


def served_for(model: str) -> dict[str, float]:
    served = {**SERVED, **SERVED_OVERRIDES.get(model, {})}
    return {q: v for q, v in served.items() if q in builtin_models()[model].registers}


@pytest.fixture
def line() -> Iterator[PtyLine]:
    with PtyLine(baudrate=BAUD) as pty_line:
        yield pty_line


def make_bus(line: PtyLine, **opts: Any) -> SerialBus:
    options = msgspec.convert(
        {"port": line.client_port, "baudrate": BAUD, "timeout_s": 0.25, **opts}, SerialBusOptions
    )
    return SerialBus("rs485", options)


def make_meter(bus: SerialBus, unit: int, device_id: str = "evse[0].meter", **opts: Any) -> ModbusMeter:
    options = msgspec.convert({"backoff_s": 0.01, **opts}, ModbusMeterOptions)
    meter = ModbusMeter(DeviceConfig(device_id, options, bus=bus, address=unit, plugin="modbus"))
    meter.setup()
    return meter


@pytest.fixture
def bus(line: PtyLine) -> Iterator[SerialBus]:
    b = make_bus(line)
    yield b
    b.release()


def assert_reading_matches(reading: MeterReading, expected: dict[str, float]) -> None:
    for quantity, value in expected.items():
        if quantity.startswith("power_l"):
            continue  # per-phase power only signs the currents; MeterReading has the total
        assert FIELDS[quantity](reading) == pytest.approx(value, rel=1e-6, abs=1e-9), quantity


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(builtin_models()))
def test_reading_equals_served_values_at_wire_speed(model: str) -> None:
    expected = served_for(model)
    sim = SimulatedMeter(model, unit=7, values=expected)
    with PtyLine(baudrate=BAUD, emulate_wire=True) as wire, ModbusPeer(wire.peer_port, [sim]):
        b = make_bus(wire)
        try:
            reading = make_meter(b, 7, model=model).read()
        finally:
            b.release()
    assert_reading_matches(reading, expected)
    assert reading.age() >= 0


#: (decimal points of voltage / current / power, values): each value is exact at its decimal point
#: and uses most of the int16 / uint16 range (raw x 10^(dp - 3)).
ACREL_CASES = [
    ((0, 0, 0), {"dc_voltage": 12.345, "dc_current": 1.001, "power_total": 0.5}),
    ((1, 1, 4), {"dc_voltage": 400.12, "dc_current": 125.5, "power_total": 50000.0}),
    ((2, 2, 5), {"dc_voltage": 999.9, "dc_current": -0.5, "power_total": -12500.0}),
    ((3, 3, 3), {"dc_voltage": 1000.0, "dc_current": -32768.0, "power_total": 32767.0}),
]


@pytest.mark.parametrize(("points", "values"), ACREL_CASES, ids=lambda v: str(v))
def test_acrel_dc_reading_equals_served_values_at_each_decimal_point(
    line: PtyLine, bus: SerialBus, points: tuple[int, int, int], values: dict[str, float]
) -> None:
    energy = {"energy_import": 123_456_789.0, "energy_export": 70_000.0}
    sim = SimulatedMeter("acrel_djsf1352rn", unit=1, values={**values, **energy})
    dp_v, dp_i, dp_p = points
    sim.set_exponents(dc_voltage=dp_v, dc_current=dp_i, power_total=dp_p)
    # The decimal points sit right after their values; energy is U32 high word first.
    words = sim.words(3, 0, 16)
    assert (words[1], words[3], words[9]) == points
    assert words[12:14] == [123_456_789 >> 16, 123_456_789 & 0xFFFF]
    with ModbusPeer(line.peer_port, [sim]):
        meter = make_meter(bus, 1, model="acrel_djsf1352rn")
        before = sim.requests
        reading = meter.read()
        # Values and their decimal points come from one FC3 transaction (one snapshot).
        assert sim.requests - before == 1
    assert reading.dc_voltage_v == pytest.approx(values["dc_voltage"], rel=1e-9)
    assert reading.dc_current_a == pytest.approx(values["dc_current"], rel=1e-9)
    assert reading.power_w == pytest.approx(values["power_total"], rel=1e-9)
    assert reading.energy_import_wh == 123_456_789.0
    assert reading.energy_export_wh == 70_000.0
    assert reading.voltage_v is None and reading.current_a is None


def test_acrel_garbage_decimal_point_reads_as_not_available(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter("acrel_djsf1352rn", unit=1, values={"dc_voltage": 400.0, "dc_current": 10.0})
    sim.set_words(3, 1, [0x7FFF])  # voltage decimal point: 10^(32767 - 3) is no voltage
    with ModbusPeer(line.peer_port, [sim]):
        reading = make_meter(bus, 1, model="acrel_djsf1352rn").read()
    assert reading.dc_voltage_v is None
    assert reading.dc_current_a == pytest.approx(10.0)


def test_acrel_is_not_mistaken_for_another_model_by_identify(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter("acrel_djsf1352rn", unit=5, values=served_for("acrel_djsf1352rn"))
    with ModbusPeer(line.peer_port, [sim]):
        result = scan(bus, [5], timeout_s=0.25)
    # It answers (refuses the other maps' registers) but matches no model: configured by hand.
    assert [(r.unit, r.answered, r.model) for r in result] == [(5, True, None)]


def test_energy_registers_in_kwh_are_reported_in_wh(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter("sdm630", unit=1, values={"energy_import": 1500.0})
    with ModbusPeer(line.peer_port, [sim]):
        # the raw register holds kWh: 1.5
        assert sim.words(4, 0x48, 2) == [0x3FC0, 0x0000]
        assert make_meter(bus, 1, model="sdm630").read().energy_import_wh == pytest.approx(1500.0)


def test_current_takes_the_sign_of_its_phase_power(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter(
        "sdm630", unit=1, values={"current_l1": 10.0, "power_l1": -2300.0, "power_l2": 100.0}
    )
    sim.set_values(current_l2=3.0)
    with ModbusPeer(line.peer_port, [sim]):
        reading = make_meter(bus, 1, model="sdm630").read()
    assert reading.current_a is not None
    assert reading.current_a.l1 == pytest.approx(-10.0)
    assert reading.current_a.l2 == pytest.approx(3.0)


def test_abb_not_available_registers_read_as_none(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter("abb_b23", unit=2, values={"frequency": 50.0})
    sim.set_words(3, 0x5004, [0xFFFF] * 4)  # export counter: all ones = not available
    with ModbusPeer(line.peer_port, [sim]):
        reading = make_meter(bus, 2, model="abb_b23").read()
    assert reading.energy_export_wh is None
    assert reading.frequency_hz == pytest.approx(50.0)


def test_two_meters_with_different_ids_share_one_bus(line: PtyLine, bus: SerialBus) -> None:
    a = SimulatedMeter("sdm630", unit=1, values={"energy_import": 1000.0, "voltage_l1": 230.0})
    b = SimulatedMeter("em340", unit=2, values={"energy_import": 2000.0, "voltage_l1": 240.0})
    with ModbusPeer(line.peer_port, [a, b]):
        meter_a = make_meter(bus, 1, "evse[0].meter", model="sdm630")
        meter_b = make_meter(bus, 2, "evse[1].meter", model="em340")
        assert meter_a.master is meter_b.master is RtuMaster.for_bus(bus)
        results: dict[str, list[float | None]] = {"a": [], "b": []}
        errors: list[BaseException] = []

        def poll(meter: ModbusMeter, key: str) -> None:
            try:
                for _ in range(15):
                    results[key].append(meter.read().energy_import_wh)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [
            threading.Thread(target=poll, args=(meter_a, "a")),
            threading.Thread(target=poll, args=(meter_b, "b")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert not errors
    # Frames never interleaved: every read got its own meter's value.
    assert results["a"] == [pytest.approx(1000.0)] * 15
    assert results["b"] == [pytest.approx(2000.0)] * 15
    # (a slow peer may cause a timeout and a retry; interleaved frames would show as CRC or
    # foreign-unit errors)
    for meter in (meter_a, meter_b):
        assert meter.stats["crc_errors"] == meter.stats["bus_errors"] == 0


def test_peer_stopped_mid_run_goes_offline_after_configured_failures_and_recovers(
    line: PtyLine, bus: SerialBus
) -> None:
    sim = SimulatedMeter("sdm630", unit=1, values={"energy_import": 5000.0})
    peer = ModbusPeer(line.peer_port, [sim], on_restart=line.flush_peer_input)
    peer.start()
    try:
        meter = make_meter(bus, 1, model="sdm630", retries=1, offline_after=3)
        assert meter.read().energy_import_wh == pytest.approx(5000.0)
        peer.stop()
        # Fewer failures than offline_after: typed timeouts, never a value.
        for _ in range(2):
            with pytest.raises(DeviceTimeout) as exc_info:
                meter.read()
            assert exc_info.value.device == "evse[0].meter"
            assert not isinstance(exc_info.value, DeviceOffline)
        with pytest.raises(DeviceOffline) as offline:
            meter.read()
        assert "3 consecutive failed reads" in str(offline.value)
        assert meter.offline
        # Still offline: each poll tries again (once), and still never yields a value.
        transactions = meter.stats["transactions"]
        with pytest.raises(DeviceOffline):
            meter.read()
        assert meter.stats["transactions"] == transactions + 1
        # The meter comes back with a new count: the first read is fresh and clears offline.
        sim.set_values(energy_import=5100.0)
        peer.start()
        assert meter.read().energy_import_wh == pytest.approx(5100.0)
        assert not meter.offline
        assert meter.stats["offline_events"] == 1
    finally:
        peer.stop()


def test_silent_meter_does_not_disturb_the_other_meter_on_the_line(line: PtyLine, bus: SerialBus) -> None:
    a = SimulatedMeter("sdm630", unit=1, values={"energy_import": 1.0})
    b = SimulatedMeter("sdm630", unit=2, values={"energy_import": 2.0})
    with ModbusPeer(line.peer_port, [a, b]):
        meter_a = make_meter(bus, 1, model="sdm630", retries=0, offline_after=1)
        meter_b = make_meter(bus, 2, model="sdm630", retries=0, offline_after=1)
        b.online = False
        with pytest.raises(DeviceOffline):
            meter_b.read()
        assert meter_a.read().energy_import_wh == pytest.approx(1.0)
        b.online = True
        assert meter_b.read().energy_import_wh == pytest.approx(2.0)


@pytest.mark.parametrize("adapter_echoes", [True, False])
def test_local_echo_of_a_two_wire_adapter_is_skipped_when_configured(adapter_echoes: bool) -> None:
    sim = SimulatedMeter("sdm630", unit=1, values={"energy_import": 4200.0})
    with PtyLine(baudrate=BAUD, echo=adapter_echoes) as echo_line, ModbusPeer(echo_line.peer_port, [sim]):
        right, wrong = (
            make_bus(echo_line, local_echo=adapter_echoes),
            make_bus(echo_line, local_echo=not adapter_echoes),
        )
        try:
            assert make_meter(right, 1, model="sdm630").read().energy_import_wh == pytest.approx(4200.0)
            right.release()
            # Misconfigured: never a value, a typed error that says what to check.
            with pytest.raises(DeviceError):
                make_meter(wrong, 1, model="sdm630", retries=0).read()
        finally:
            right.release()
            wrong.release()


def test_crc_corrupted_answers_are_retried_and_counted(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter("em340", unit=3, values=served_for("em340"))
    with ModbusPeer(line.peer_port, [sim]):
        meter = make_meter(bus, 3, model="em340", retries=4)
        line.corrupt_answers(2)
        reading = meter.read()
    assert line.corrupted == 2
    assert meter.stats["crc_errors"] == 2
    assert meter.stats["retries"] >= 2  # (a slow peer under load may add a timeout retry)
    assert_reading_matches(reading, served_for("em340"))


def test_crc_errors_beyond_the_retries_raise_crc_error_with_device_id(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter("sdm630", unit=1)
    with ModbusPeer(line.peer_port, [sim]):
        meter = make_meter(bus, 1, model="sdm630", retries=1, offline_after=5)
        line.corrupt_answers(2)
        with pytest.raises(CrcError) as exc_info:
            meter.read()
        assert exc_info.value.device == "evse[0].meter"
        assert "evse[0].meter (modbus)" in str(exc_info.value)
        # The line resynchronises: the next read is clean.
        assert meter.read().energy_import_wh == pytest.approx(0.0)


def test_modbus_exception_becomes_device_error_with_code_and_is_not_retried(
    line: PtyLine, bus: SerialBus
) -> None:
    sim = SimulatedMeter("sdm630", unit=1)
    with ModbusPeer(line.peer_port, [sim]):
        # A user map pointing at a register the meter does not have.
        meter = make_meter(bus, 1, registers={"energy_import": {"address": 0x0300, "unit": "kWh"}})
        with pytest.raises(ModbusExceptionError) as exc_info:
            meter.read()
    err = exc_info.value
    assert isinstance(err, DeviceError)
    assert err.exception_code == 2 and err.device == "evse[0].meter"
    assert "illegal data address" in str(err)
    assert meter.stats["transactions"] == 1


def test_inline_register_map_from_the_profile_is_read(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter("em340", unit=4, values={"voltage_l1": 231.5, "energy_import": 9900.0})
    profile_options = {
        "defaults": {"function": 4, "type": "int32", "word_order": "little"},
        "registers": {
            "voltage_l1": {"address": 0, "scale": 0.1, "unit": "V"},
            "energy_import": {"address": 0x34, "scale": 0.1, "unit": "kWh"},
        },
    }
    with ModbusPeer(line.peer_port, [sim]):
        reading = make_meter(bus, 4, **profile_options).read()
    assert reading.voltage_v is not None and reading.voltage_v.l1 == pytest.approx(231.5)
    assert reading.voltage_v.l2 == 0.0  # single-phase maps fill L2/L3 with 0
    assert reading.energy_import_wh == pytest.approx(9900.0)
    assert reading.frequency_hz is None


def test_inter_frame_delay_separates_transactions(line: PtyLine) -> None:
    sim = SimulatedMeter("sdm72dm", unit=1)  # two reads per poll
    slow_bus = make_bus(line, inter_frame_delay_ms=40)
    try:
        with ModbusPeer(line.peer_port, [sim]):
            meter = make_meter(slow_bus, 1, model="sdm72dm")
            meter.read()
            started = time.monotonic()
            meter.read()
            # two transactions, each waiting at least the delay after the previous frame
            assert time.monotonic() - started >= 2 * 0.040
    finally:
        slow_bus.release()


def test_wm3m4c_signed_transaction_produces_verifiable_ocmf(line: PtyLine) -> None:
    sim = SimulatedMeter("wm3m4c", unit=33, values={"energy_import": 1000.0}, sign_delay_s=0.05)
    b = make_bus(line)
    try:
        with ModbusPeer(line.peer_port, [sim]):
            meter = make_meter(b, 33, model="wm3m4c", signed_poll_s=0.02)
            assert meter.supports_signed
            meter.begin_transaction(
                TransactionInfo(
                    transaction_id="tx-42", evse_id="DE*SEV*E1", id_token="04a1b2c3", id_token_type="ISO14443"
                )
            )
            sim.set_values(energy_import=8500.0)
            assert meter.read().energy_import_wh == pytest.approx(8500.0)
            (signed,) = meter.end_transaction()
    finally:
        b.release()
    assert (signed.encoding_method, signed.signing_method) == ("OCMF", "ECDSA-secp256r1-SHA256")
    ocmf = base64.b64decode(signed.signed_meter_data).decode("ascii")
    header, payload_text, sig_text = ocmf.split("|")
    assert header == "OCMF"
    payload = json.loads(payload_text)
    assert payload["CI"] == "DE*SEV*E1" and payload["ID"] == "04a1b2c3" and payload["IT"] == "ISO14443"
    assert payload["GI"] == "josev-hal" and payload["PG"] == "T1"
    assert [rd["TX"] for rd in payload["RD"]] == ["B", "E"]
    assert [rd["RV"] for rd in payload["RD"]] == [1.0, 8.5]  # kWh at begin and end
    # The firmware's zero-padded DER was normalised; the signature verifies with the meter's key.
    signature = bytes.fromhex(json.loads(sig_text)["SD"])
    key = serialization.load_der_public_key(base64.b64decode(signed.public_key))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(signature, payload_text.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    assert sim.signed is not None
    assert signed.public_key == sim.signed.public_key_der_b64


def test_wm3m4c_back_to_back_transactions_never_return_the_previous_dataset(line: PtyLine) -> None:
    sim = SimulatedMeter("wm3m4c", unit=33, values={"energy_import": 1000.0}, sign_delay_s=0.05)
    b = make_bus(line)
    try:
        with ModbusPeer(line.peer_port, [sim]):
            meter = make_meter(b, 33, model="wm3m4c", signed_poll_s=0.02)
            with pytest.raises(DeviceError, match="no signed transaction was started"):
                meter.end_transaction()
            datasets = []
            for n, token in enumerate(["aa01", "bb02"]):
                meter.begin_transaction(
                    TransactionInfo(transaction_id=f"tx-{n}", evse_id="E1", id_token=token)
                )
                sim.set_values(energy_import=1000.0 + 500.0 * (n + 1))
                (signed,) = meter.end_transaction()
                datasets.append(json.loads(base64.b64decode(signed.signed_meter_data).decode().split("|")[1]))
    finally:
        b.release()
    assert [d["ID"] for d in datasets] == ["aa01", "bb02"]
    assert [d["PG"] for d in datasets] == ["T1", "T2"]
    assert [d["RD"][-1]["RV"] for d in datasets] == [1.5, 2.0]


def test_begin_transaction_rejects_pipe_in_ocmf_fields(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter("wm3m4c", unit=33)
    with ModbusPeer(line.peer_port, [sim]):
        meter = make_meter(bus, 33, model="wm3m4c")
        with pytest.raises(DeviceError, match=r"must not contain '\|'"):
            meter.begin_transaction(TransactionInfo(transaction_id="t", evse_id="DE|X", id_token=None))
    assert sim.signed is not None and sim.signed.transactions == 0


def test_meters_without_signed_values_return_no_signed_data(line: PtyLine, bus: SerialBus) -> None:
    sim = SimulatedMeter("sdm630", unit=1)
    with ModbusPeer(line.peer_port, [sim]):
        meter = make_meter(bus, 1, model="sdm630")
        meter.begin_transaction(TransactionInfo(transaction_id="t", evse_id="E1"))
        assert meter.end_transaction() == ()
    assert not meter.supports_signed


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("sdm630", "sdm630"),
        ("sdm72dm", "sdm72dm"),
        ("abb_b23", "abb_b23"),
        ("em340", "em340"),
        ("wm3m4c", "wm3m4c"),
    ],
)
def test_identify_recognises_the_model_from_its_registers(
    line: PtyLine, bus: SerialBus, model: str, expected: str
) -> None:
    sim = SimulatedMeter(model, unit=9, values=served_for(model))
    with ModbusPeer(line.peer_port, [sim]):
        found = identify(bus, 9)
    assert found is not None and found.name == expected


def test_identify_returns_none_when_nobody_answers(line: PtyLine, bus: SerialBus) -> None:
    with ModbusPeer(line.peer_port, [SimulatedMeter("sdm630", unit=1)]):
        assert identify(bus, 2) is None


def test_scan_lists_answering_units_with_their_models(line: PtyLine, bus: SerialBus) -> None:
    meters = [
        SimulatedMeter("sdm630", unit=1, values=served_for("sdm630")),
        SimulatedMeter("wm3m4c", unit=3, values=served_for("wm3m4c")),
        # answers, but its registers fit no model: frequency out of every range
        SimulatedMeter("em340", unit=4, values={"frequency": 0.0}),
    ]
    with ModbusPeer(line.peer_port, meters):
        found = scan(bus, range(1, 6), timeout_s=0.25)
    assert [(r.unit, r.answered, r.model.name if r.model else None) for r in found] == [
        (1, True, "sdm630"),
        (3, True, "wm3m4c"),
        (4, True, None),
    ]


TWO_METER_PROFILE = """\
[station]
vendor = "Acme"
model = "Wallbox 22"
serial_number = "ACME-0001"
sw_version = "1.0.0"
hw_version = "rev-A"

[safety]
rcd_trip = "hardware"
cp_loss_shutdown = "hal"
welding_detection = "hal"

[buses.rs485]
kind = "serial"
port = "{port}"
baudrate = 9600

[[evse]]
id = "DE*ACM*E0001"
ocpp_id = 1
network_interface = "eth1"
kind = "ac"
phases = 3
nominal_voltage_v = 230
max_current_a = 32

  [[evse.connectors]]
  id = 1
  ocpp_type = "cType2"
  iso15118_type = "AC_three_phase_core"
  services = ["ac"]
  cable = "fixed"
  max_cable_current_a = 32

  [evse.devices.cp]
  driver = "sim-cp"

  [evse.devices.contactor]
  driver = "sim-contactor"

  [evse.devices.meter]
  driver = "modbus-meter"
  bus = "rs485"
  address = 1
  options = { model = "sdm630" }


[[evse]]
id = "DE*ACM*E0002"
ocpp_id = 2
network_interface = "eth1"
kind = "ac"
phases = 3
nominal_voltage_v = 230
max_current_a = 32

  [[evse.connectors]]
  id = 1
  ocpp_type = "cType2"
  iso15118_type = "AC_three_phase_core"
  services = ["ac"]
  cable = "fixed"
  max_cable_current_a = 32

  [evse.devices.cp]
  driver = "sim-cp"

  [evse.devices.contactor]
  driver = "sim-contactor"

  [evse.devices.meter]
  driver = "modbus-meter"
  bus = "rs485"
  address = 2
  options = { model = "em340" }
"""


def test_board_profile_with_two_meters_on_one_rs485_bus_builds_and_reads(line: PtyLine) -> None:
    from josev_hal.board import Board
    from josev_hal.devices import Role
    from josev_hal.plugins import get_plugin_manager
    from josev_hal.profile import load_profile_text

    pm = get_plugin_manager()
    profile = load_profile_text(TWO_METER_PROFILE.replace("{port}", line.client_port), "two-meters.toml", pm)
    board = Board.build(profile, pm)
    a = SimulatedMeter("sdm630", unit=1, values={"energy_import": 11_000.0})
    b = SimulatedMeter("em340", unit=2, values={"energy_import": 22_000.0})
    with ModbusPeer(line.peer_port, [a, b]):
        board.setup()
        try:
            meters = [evse.devices[Role.METER] for evse in board.evses]
            assert [type(m) for m in meters] == [ModbusMeter, ModbusMeter]
            assert meters[0].bus is meters[1].bus  # type: ignore[attr-defined]
            readings = [m.read().energy_import_wh for m in meters]  # type: ignore[attr-defined]
        finally:
            board.release()
    assert readings == [pytest.approx(11_000.0), pytest.approx(22_000.0)]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ('model = "sdm630"', 'model = "sdm999"'),
        ('model = "sdm630" }', 'model = "sdm630", retries = -1 }'),
    ],
)
def test_profile_check_reports_bad_meter_options_at_their_key(bad: str, problem: str) -> None:
    from josev_hal.errors import ProfileError
    from josev_hal.plugins import get_plugin_manager
    from josev_hal.profile import load_profile_text

    text = TWO_METER_PROFILE.replace("{port}", "/dev/ttyUSB0").replace(bad, problem, 1)
    with pytest.raises(ProfileError) as exc_info:
        load_profile_text(text, "bad.toml", get_plugin_manager())
    assert any("evse[0].devices.meter.options" in p for p in exc_info.value.problems), exc_info.value.problems


def test_probe_lines_compare_each_meter_with_its_configured_model(line: PtyLine) -> None:
    from josev_hal_modbus import hal_probe_lines

    from josev_hal.board import Board
    from josev_hal.plugins import get_plugin_manager
    from josev_hal.profile import load_profile_text

    pm = get_plugin_manager()
    text = TWO_METER_PROFILE.replace("{port}", line.client_port)
    board = Board.build(load_profile_text(text, "two-meters.toml", pm), pm)
    # unit 1 is really an EM340 (the profile says sdm630); unit 2 is silent
    with ModbusPeer(line.peer_port, [SimulatedMeter("em340", unit=1, values=served_for("em340"))]):
        board.setup()
        try:
            lines = hal_probe_lines(board)
        finally:
            board.release()
    assert lines is not None
    assert lines[0].startswith("rs485 (serial ")
    assert "  unit 1 evse[0].meter: registers match em340, profile says sdm630" in lines
    assert "  unit 2 evse[1].meter: nothing answers (configured em340)" in lines


def test_scan_does_not_take_garbled_frames_for_a_device(line: PtyLine, bus: SerialBus) -> None:
    with ModbusPeer(line.peer_port, [SimulatedMeter("sdm630", unit=1, values=served_for("sdm630"))]):
        line.corrupt_answers(100)  # every answer arrives broken, as at a wrong baud rate
        assert scan(bus, [1], timeout_s=0.05) == []
