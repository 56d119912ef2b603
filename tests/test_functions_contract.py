"""Every request the station functions answer, sent by a Josev stand-in over a real mosquitto,
gets a response with the request's id that satisfies the contract's own JSON Schema; the CS's
own messages (MAY SEND) are schema-valid too, and listen-only updates reach plugins."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from josev_hal.embedded_broker import EmbeddedBroker
from josev_hal.hookspecs import DataTransferResult, hookimpl
from josev_hal.messages import Message
from tests.support.contract import Contract
from tests.support.functions_rig import AC, DC, FunctionsRig, wait_until

REQUESTS: list[tuple[str, dict[str, Any], str | None]] = [
    # (name, data, expected status field value or None)
    ("reset", {"evse_id": "DE*XXX*E9999"}, "rejected"),
    ("change_availability", {"operational_status": "operative", "evse_id": AC}, "accepted"),
    ("change_availability", {"operational_status": "inoperative", "evse_id": "DE*XXX*E9999"}, "rejected"),
    ("cs_connector", {"evse_id": AC, "connector_id": 1, "action": "status"}, "unlocked"),
    ("cs_connector", {"evse_id": DC, "connector_id": 1, "action": "lock"}, "unknown"),
    ("cs_connector", {"evse_id": "DE*XXX*E9999", "connector_id": 1, "action": "status"}, "error"),
    (
        "update_firmware",
        {
            "request_id": 7,
            "location": "ftps://fw.example/fw.bin",
            "retrieve_datetime": "2026-01-01T00:00:00Z",
        },
        "rejected",
    ),
    (
        "update_firmware",
        {
            "request_id": 8,
            "location": "https://fw.example/fw.bin",
            "retrieve_datetime": "2026-01-01T00:00:00Z",
            "signing_certificate": "not a certificate",
            "signature": "AAAA",
        },
        "invalid_certificate",
    ),
    (
        "upload_logs",
        {"request_id": 3, "log_type": "diagnostics_log", "remote_location": "sftp://logs.example/in/"},
        "rejected",
    ),
    (
        "process_authorized_token",
        {"token_type": "ISO14443", "id_token": "04a1b2c3", "evse_id": AC},
        "accepted",
    ),
    ("process_authorized_token", {"token_type": "central", "evse_id": "DE*XXX*E9999"}, "discarded"),
    (
        "set_variable_validate",
        {
            "component": {"name": "EVSE", "evse_id": "1"},
            "variable": {"name": "Power"},
            "attribute_value": "11000",
        },
        None,
    ),
    (
        "set_variable_validate",
        {
            "component": {"name": "EVSE", "evse_id": "9"},
            "variable": {"name": "Power"},
            "attribute_value": "1",
        },
        None,
    ),
    ("device_model", {}, None),
    (
        "data_transfer",
        {"vendor_id": "com.example.unknown", "message_id": "Hello", "data": {"a": 1}},
        "unknown_vendor_id",
    ),
    ("data_transfer", {"vendor_id": "com.acme", "message_id": "Echo", "data": [1, "two"]}, "accepted"),
    (
        "generate_csr",
        {
            "certificate_type": "charging_station_certificate",
            "common_name": "SIM-0001",
            "organization_name": "Acme",
            "country_name": "DE",
        },
        "accepted",
    ),
    (
        "generate_csr",
        {
            "certificate_type": "v2g_certificate",
            "common_name": "SIM-0001",
            "organization_name": "Acme",
            "country_name": "DE",
            "algorithm": "RSA_SHA256",
        },
        "rejected",
    ),
    ("private_key_path", {"certificate_type": "v2g20_certificate"}, "failed_not_found"),
    (
        "ocpp_message",
        {"ocpp_version": "ocpp2.0.1", "message_name": "GetVariables", "payload": {"getVariableData": []}},
        None,
    ),
]


class AcmeDataTransfer:
    """A vendor plugin that owns one vendor id and echoes the data back."""

    @hookimpl
    def hal_data_transfer(
        self, vendor_id: str, message_id: str | None, data: Any
    ) -> DataTransferResult | None:
        if vendor_id != "com.acme":
            return None
        return DataTransferResult("accepted", {"echo": data, "message_id": message_id})


class UpdateRecorder:
    """An HMI-like plugin recording every Josev update it is offered."""

    def __init__(self) -> None:
        self.seen: list[Message] = []
        self.lock = threading.Lock()

    @hookimpl
    def hal_josev_update(self, message: Any) -> None:
        with self.lock:
            self.seen.append(message)

    def names(self) -> list[str]:
        with self.lock:
            return [m.name for m in self.seen]


@pytest.fixture
def recorder() -> UpdateRecorder:
    return UpdateRecorder()


@pytest.fixture
def rig(broker: EmbeddedBroker, tmp_path: Path, recorder: UpdateRecorder) -> Iterator[FunctionsRig]:
    (tmp_path / "state").mkdir()
    instance = FunctionsRig(broker, tmp_path / "state", extra_plugins=(AcmeDataTransfer(), recorder))
    yield instance
    instance.close()


def test_every_station_function_request_gets_a_schema_valid_response(
    rig: FunctionsRig, contract: Contract
) -> None:
    for name, data, expected in REQUESTS:
        response = rig.request(name, data)
        assert response["name"] == name
        contract.validate(response)
        if expected is not None:
            status = response["data"]["status"]
            assert status == expected, f"{name} {data}: {status} != {expected}"


def test_set_variable_validate_rejects_components_of_evses_the_station_lacks(rig: FunctionsRig) -> None:
    base = {"variable": {"name": "Power"}, "attribute_value": "11000"}
    known = rig.request("set_variable_validate", {**base, "component": {"name": "EVSE", "evse_id": "1"}})
    unknown = rig.request("set_variable_validate", {**base, "component": {"name": "EVSE", "evse_id": "9"}})
    bad_connector = rig.request(
        "set_variable_validate",
        {**base, "component": {"name": "Connector", "evse_id": "1", "connector_id": 4}},
    )
    assert known["data"] == {"result": "accepted"}
    assert unknown["data"] == {"result": "rejected"}
    assert bad_connector["data"] == {"result": "rejected"}


def test_device_model_answers_identity_password_and_evse_inventory_from_the_profile(
    rig: FunctionsRig,
) -> None:
    data = rig.request("device_model")["data"]
    assert data["identity"] == "SIM-0001"
    assert data["basic_auth_password"] == "s3cret"  # read from the password file, not the profile
    assert data["firmware_version"] == "0.1.0"
    evses = {e["iso15118_id"]: e for e in data["evses"]}
    assert evses[AC]["ocpp_id"] == 1 and evses[AC]["supply_phases"] == 3
    assert evses[AC]["power_kw"] == pytest.approx(3 * 230 * 32 / 1000)
    assert evses[DC]["supply_phases"] == 0 and evses[DC]["power_kw"] == 50.0
    assert evses[DC]["connectors"] == [{"id": 1, "connector_type": "cCCS2"}]


def test_data_transfer_is_answered_by_the_owning_plugin_and_passes_data_unchanged(rig: FunctionsRig) -> None:
    response = rig.request(
        "data_transfer", {"vendor_id": "com.acme", "message_id": "Echo", "data": [1, "two"]}
    )
    assert response["data"] == {"status": "accepted", "data": {"echo": [1, "two"], "message_id": "Echo"}}


def test_ocpp_message_without_an_oem_handler_is_answered_with_a_call_error(rig: FunctionsRig) -> None:
    data = rig.request(
        "ocpp_message", {"ocpp_version": "ocpp2.0.1", "message_name": "SetVariables", "payload": {}}
    )["data"]
    assert data["message_type"] == "CallError"
    assert data["error_code"] == "NotSupported"
    assert "SetVariables" in data["error_description"]


def test_may_send_updates_are_schema_valid_on_the_wire(rig: FunctionsRig, contract: Contract) -> None:
    notify = rig.functions.notify
    notify.notify_event(4711, tech_code="DoorOpen", tech_info="service door opened", evse_id=AC)
    notify.parking_bay(AC, occupied=True)
    notify.parking_bay(AC, occupied=False)
    notify.device_model_update(firmware_version="0.2.0")
    notify.change_availability(False, AC, 1)
    names = ["notify_event", "parking_bay", "device_model_update", "change_availability"]
    msgs = rig.peer.wait_for(lambda ms: all(any(m["name"] == n for m in ms) for n in names))
    for message in msgs:
        if message["name"] in names:
            contract.validate(message)
    parking = [m["data"]["status"] for m in msgs if m["name"] == "parking_bay"]
    assert parking == ["ev_detected", "ev_departed"]


def test_notify_api_refuses_unknown_evses_before_sending(rig: FunctionsRig) -> None:
    with pytest.raises(ValueError, match="unknown evse_id"):
        rig.functions.notify.parking_bay("DE*XXX*E9999", occupied=True)
    with pytest.raises(ValueError, match="unknown evse_id"):
        rig.functions.notify.change_availability(False, "DE*XXX*E9999")


@pytest.mark.josev_contract  # answers with the official contract's example responses
def test_may_send_requests_return_josevs_answer(rig: FunctionsRig, contract: Contract) -> None:
    """Every CS -> Josev request of the Python API goes out schema-valid; Josev's answer (the
    contract's example response) comes back decoded."""
    peer = rig.peer
    notify = rig.functions.notify

    def answer_when_asked(name: str, data: dict[str, Any], start: int) -> None:
        # Only requests sent after ``start`` count: each case answers its own request.
        msgs = peer.wait_for(lambda ms: any(m["name"] == name and m["type"] == "request" for m in ms[start:]))
        req = next(m for m in msgs[start:] if m["name"] == name and m["type"] == "request")
        contract.validate(req)
        peer.send({"id": req["id"], "name": name, "type": "response", "data": data})

    examples = {(doc["name"], doc["type"]): doc["data"] for _, doc in contract.examples()}
    cases: list[tuple[str, Any]] = [
        ("websocket_status", notify.websocket_status),
        ("service_status", lambda: notify.service_status("ocpp")),
        (
            "set_ocpp_network_connection",
            lambda: notify.set_ocpp_network_connection("wss://csms.example/ocpp", 2),
        ),
        ("device_model_reset", notify.device_model_reset),
        ("slac_link_status", lambda: notify.slac_link_status(AC)),
        ("slac_network_info", lambda: notify.slac_network_info(AC)),
        ("sdp", lambda: notify.sdp(AC, tls=True)),
        ("data_transfer", lambda: rig.functions.data_transfer.send("com.acme", "Ping", {"x": 1})),
        ("authorization", lambda: rig.functions.authorizer.authorize("", "no_authorization", AC)),
    ]
    for name, call in cases:
        answer = examples[(name, "response")]
        thread = threading.Thread(target=answer_when_asked, args=(name, answer, len(peer.messages())))
        thread.start()
        result = call()
        thread.join(5)
        assert not thread.is_alive()
        if name == "authorization":
            assert result is (answer["status"] == "accepted")
        elif name == "data_transfer":
            assert (result.status, result.data) == (answer["status"], answer.get("data"))
        else:
            assert msgspec.to_builtins(result) == answer, name


@pytest.mark.josev_contract  # sends the official contract's example updates
def test_every_listen_only_update_is_offered_to_plugins(
    rig: FunctionsRig, recorder: UpdateRecorder, contract: Contract
) -> None:
    from josev_hal.functions.listen import LISTEN_UPDATES

    for _, doc in contract.examples():
        if doc["type"] == "update" and doc["name"] in LISTEN_UPDATES:
            rig.peer.send(doc)
    wait_until(lambda: set(LISTEN_UPDATES) <= set(recorder.names()))


def test_transaction_status_reaches_the_station_core_and_the_plugins(
    rig: FunctionsRig, recorder: UpdateRecorder
) -> None:
    rig.send_update("transaction_status", {"transaction_id": "t-9", "evse_id": AC, "status": "started"})
    wait_until(lambda: "transaction_status" in recorder.names())
    assert rig.controller(AC).is_transaction_active()
