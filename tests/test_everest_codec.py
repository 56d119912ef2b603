"""Oracle tests: the EVerest API Structs against the upstream AsyncAPI payload schemas (read with
PyYAML from ``EVEREST_API_DIR``, default ``../shared/everest-api``): every spec message of the
served interfaces is in the codec table, every example decodes, and generated mutants get the same
verdict from msgspec and jsonschema. Without the spec this module is one skip with one reason; the
codec's own behaviour is tested in tests/test_everest_codec_commands.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from josev_hal.errors import MessageError
from josev_hal.everest import codec
from josev_hal.everest import messages as m
from tests.support.everest_spec import (
    EVEREST_DIR_PRESENT,
    FILES,
    SKIP_REASON,
    SpecMessage,
    messages,
    require_spec,
    validator,
)

if not EVEREST_DIR_PRESENT:  # an oracle module: one skip, one reason
    pytest.skip(SKIP_REASON, allow_module_level=True)

# A valid instance for each message the spec gives no example for (what EVerest sends).
SAMPLES: dict[tuple[str, str, str], Any] = {
    ("evse_board_support", "e2m", "reset"): {"headers": {"replyTo": "everest_api/1/x/y/e2m/reset/1"}},
    ("evse_board_support", "reply", "reset"): True,
    ("powermeter", "e2m", "start_transaction"): {
        "headers": {"replyTo": "r/1"},
        "payload": {
            "evse_id": "DE*JHL*E0001",
            "transaction_id": "tx-1",
            "identification_status": "ASSIGNED",
            "identification_level": "HEARSAY",
            "identification_flags": ["RFID_PLAIN"],
            "identification_type": "ISO14443",
            "identification_data": "04a2b3c4",
            "tariff_text": "0.40 EUR/kWh",
        },
    },
    ("powermeter", "e2m", "stop_transaction"): {
        "headers": {"replyTo": "r/2"},
        "payload": {"transaction_id": "t"},
    },
    ("isolation_monitor", "e2m", "start_self_test"): 500.0,
    ("power_supply_DC", "e2m", "mode"): {"mode": "Export", "charging_phase": "CableCheck"},
    ("power_supply_DC", "e2m", "export_voltage_current"): {"voltage_V": 500.0, "current_A": 2.0},
    ("power_supply_DC", "e2m", "import_voltage_current"): {"voltage_V": 400.0, "current_A": 10},
}

WRONG_VALUES: tuple[Any, ...] = ("x", 7, 1.5, True, None, [], {}, -1, 101, 4, 0, "NotAValue", "yesterday")


def all_messages() -> list[SpecMessage]:
    require_spec()
    return [msg for api, file in FILES.items() for msg in messages(file, api)]


def _ids(msg: SpecMessage) -> str:
    return f"{msg.api_type}/{msg.direction}/{msg.name}"


def _spec_params() -> list[Any]:
    return [pytest.param(msg, id=_ids(msg)) for msg in all_messages()]


def _msgspec_ok(tp: Any, instance: Any) -> bool:
    try:
        codec.decode_as(tp, json.dumps(instance).encode())
    except MessageError:
        return False
    return True


def _mutants(instance: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, mutated whole instance): every leaf and object replaced by wrong values, every key
    removed, one unknown key added per object."""

    def replaced(value: Any) -> Any:
        root = copy.deepcopy(instance_root)
        if not path_here:
            return value
        target = root
        for part in path_here[:-1]:
            target = target[part]
        target[path_here[-1]] = value
        return root

    instance_root = instance
    stack: list[tuple[tuple[Any, ...], Any]] = [((), instance)]
    while stack:
        path_here, value = stack.pop()
        for wrong in WRONG_VALUES:
            if wrong != value or type(wrong) is not type(value):
                yield path_here, replaced(wrong)
        if isinstance(value, dict):
            for key, sub in value.items():
                stack.append(((*path_here, key), sub))
                without = {k: v for k, v in value.items() if k != key}
                yield (*path_here, key), replaced(without)
            yield (*path_here, "extra"), replaced({**value, "x_vendor": 1})
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                stack.append(((*path_here, index), sub))
            yield path_here, replaced(value * 5)


@pytest.mark.parametrize("msg", _spec_params())
def test_every_spec_message_of_the_served_interfaces_is_in_the_codec_table(msg: SpecMessage) -> None:
    key = (msg.api_type, msg.direction, msg.name)
    assert key in codec.PAYLOADS, f"{key} missing from josev_hal.everest.codec.PAYLOADS"
    assert (codec.PAYLOADS[key] is None) == (msg.payload is None), "payload-less in one and not the other"


def test_the_codec_table_has_no_message_the_spec_does_not_define() -> None:
    spec = {(x.api_type, x.direction, x.name) for x in all_messages()}
    assert set(codec.PAYLOADS) - spec == set()


@pytest.mark.parametrize("msg", _spec_params())
def test_spec_examples_and_samples_are_accepted_by_both(msg: SpecMessage) -> None:
    if msg.payload is None:
        pytest.skip("the message has no payload")
    if msg.external_ref:
        pytest.skip(
            f"payload schema lives in {msg.external_ref}, which the shared spec copy does not contain"
        )
    key = (msg.api_type, msg.direction, msg.name)
    instances = list(msg.examples) + ([SAMPLES[key]] if key in SAMPLES else [])
    assert instances, f"no example in the spec and no sample here for {key}"
    check = validator(FILES[msg.api_type], msg.message)
    for instance in instances:
        assert check.is_valid(instance), list(check.iter_errors(instance))
        assert _msgspec_ok(codec.PAYLOADS[key], instance), instance


@pytest.mark.parametrize("msg", _spec_params())
def test_mutants_get_the_same_verdict_from_msgspec_and_jsonschema(msg: SpecMessage) -> None:
    if msg.payload is None or msg.external_ref:
        pytest.skip("no payload" if msg.payload is None else f"schema in missing {msg.external_ref}")
    key = (msg.api_type, msg.direction, msg.name)
    base = SAMPLES.get(key, msg.examples[0] if msg.examples else None)
    check = validator(FILES[msg.api_type], msg.message)
    tp = codec.PAYLOADS[key]
    disagreements = []
    rejected = 0
    for path, mutant in _mutants(base):
        expected = check.is_valid(mutant)
        rejected += not expected
        if _msgspec_ok(tp, mutant) != expected:
            disagreements.append((path, json.dumps(mutant)[:200], "jsonschema says", expected))
    assert not disagreements, disagreements[:5]
    assert rejected > 0, "no mutant was invalid: the generator did not exercise the schema"


def test_messages_we_send_validate_against_the_spec() -> None:
    require_spec()
    from datetime import UTC, datetime

    now = datetime(2026, 12, 6, 2, 0, 0, 123000, tzinfo=UTC)
    sent = {
        ("evse_board_support", "send_event"): m.BspEvent(event=m.BspEventKind.POWER_ON),
        ("evse_board_support", "send_capabilities"): m.HardwareCapabilities(
            max_current_A_import=32,
            min_current_A_import=6,
            max_phase_count_import=3,
            min_phase_count_import=1,
            max_current_A_export=0,
            min_current_A_export=0,
            max_phase_count_export=3,
            min_phase_count_export=1,
            supports_changing_phases_during_charging=False,
            supports_cp_state_E=True,
            connector_type=m.ConnectorType.SOCKET,
        ),
        ("evse_board_support", "send_ac_pp_ampacity"): m.ProximityPilot(ampacity=m.Ampacity.A_32),
        ("evse_board_support", "send_raise_error"): m.BspError(
            type=m.BspErrorType.MREC17_EVSE_CONTACTOR_FAULT,
            sub_type="welded",
            message="mirror contact closed",
        ),
        ("powermeter", "send_powermeter_values"): m.Powermeter(
            timestamp=m.wire_time(now),
            meter_id="SIM",
            energy_Wh_import=m.Energy(total=12.5, L1=4.0, L2=4.0, L3=4.5),
            power_W=m.Power(total=11040.0),
            voltage_V=m.Voltage(L1=230.0, L2=230.0, L3=230.0),
            current_A=m.Current(L1=16.0, L2=16.0, L3=16.0),
            frequency_Hz=m.Frequency(L1=50.0),
        ),
        ("powermeter", "send_reply_stop_transaction"): m.StopTransactionReply(
            status=m.TransactionStatus.OK,
            signed_meter_value=m.SignedMeterValue(
                signed_meter_data="OCMF|{}|{}",
                signing_method="ECDSA-secp256r1-SHA256",
                encoding_method="OCMF",
            ),
        ),
        ("isolation_monitor", "send_isolation_measurement"): m.IsolationMeasurement(
            resistance_F_Ohm=5e6, voltage_V=500.0
        ),
        ("power_supply_DC", "send_capabilities"): m.Capabilities(
            bidirectional=False,
            max_export_voltage_V=920,
            min_export_voltage_V=150,
            max_export_current_A=125,
            min_export_current_A=0,
            max_export_power_W=50000,
            current_regulation_tolerance_A=1,
            peak_current_ripple_A=0.5,
        ),
        ("power_supply_DC", "send_mode"): m.Mode.EXPORT,
    }
    for (api, message), payload in sent.items():
        check = validator(FILES[api], message)
        instance = msgspec.json.decode(codec.encode(payload))
        assert check.is_valid(instance), (message, list(check.iter_errors(instance)))
