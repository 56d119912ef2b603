"""Station functions: every OCPP-facing obligation of the CS that is not the power path.

One call wires them all to the bridge (after the station core registered its own handlers)::

    functions = josev_hal.functions.install(station, bridge, pm, profile)
    ...
    functions.close()

======================================  ==========================================================
Module                                  Messages
======================================  ==========================================================
:mod:`~.reset`                          ``reset``
:mod:`~.availability`                   ``change_availability`` (request and the CS's own update)
:mod:`~.connector`                      ``cs_connector``
:mod:`~.firmware`                       ``update_firmware`` + ``firmware_status``
:mod:`~.logs`                           ``upload_logs`` + ``logs_status``
:mod:`~.authorization`                  ``authorization`` (RFID), ``process_authorized_token``,
                                        ``set_variable_validate``
:mod:`~.device_model`                   ``device_model``
:mod:`~.data_transfer`                  ``data_transfer`` (both directions)
:mod:`~.keystore`                       ``generate_csr``, ``private_key_path``,
                                        ``certificate_installation_status``
:mod:`~.ocpp_message`                   ``ocpp_message``
:mod:`~.notify`                         MAY-SEND messages as a Python API
:mod:`~.listen`                         listen-only updates -> ``hal_josev_update``
======================================  ==========================================================

Vendor policy comes from the hooks in :mod:`josev_hal.hookspecs` (``hal_reset``,
``hal_install_firmware``, ``hal_collect_logs``, ``hal_data_transfer``,
``hal_authorize_local_token``, ``hal_key_store``, ``hal_josev_update``); the defaults live in
:mod:`josev_hal.builtin.policies`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from josev_hal.functions.authorization import TokenAuthorizer, process_authorized_token, validate_variable
from josev_hal.functions.availability import AvailabilityManager
from josev_hal.functions.config import FunctionsSettings, settings_from_profile
from josev_hal.functions.connector import ConnectorService
from josev_hal.functions.data_transfer import DataTransferService
from josev_hal.functions.device_model import DeviceModelService
from josev_hal.functions.firmware import FirmwareImage, FirmwareRequest, FirmwareUpdater
from josev_hal.functions.keystore import FileKeyStore, KeyService
from josev_hal.functions.listen import LISTEN_UPDATES, install_listeners, offer_to_plugins
from josev_hal.functions.logs import LogUploader
from josev_hal.functions.notify import Notifier
from josev_hal.functions.ocpp_message import OcppMessageService
from josev_hal.functions.ports import StationEvse, opt
from josev_hal.functions.reset import ResetManager
from josev_hal.hookspecs import FirmwareInstallResult
from josev_hal.messages import Message, MessageType
from josev_hal.messages import payloads as p

__all__ = ["Functions", "FunctionsSettings", "StationEvse", "install", "station_ports"]

log = logging.getLogger(__name__)


@dataclass
class Functions:
    """Everything :func:`install` created; :meth:`close` stops their threads."""

    settings: FunctionsSettings
    evses: list[Any]
    availability: AvailabilityManager
    reset: ResetManager
    connector: ConnectorService
    firmware: FirmwareUpdater
    logs: LogUploader
    authorizer: TokenAuthorizer
    device_model: DeviceModelService | None
    data_transfer: DataTransferService
    keys: KeyService
    ocpp_messages: OcppMessageService
    notify: Notifier
    registered: list[str] = field(default_factory=list)

    def start(self) -> None:
        """Start the background threads (availability watcher, token-reader polling)."""
        self.availability.start()
        self.authorizer.start()

    def close(self) -> None:
        """Stop jobs and threads (HAL shutdown). Idempotent."""
        self.authorizer.close()
        self.reset.close()
        self.firmware.close()
        self.logs.close()
        self.availability.close()


def station_ports(station: Any) -> list[StationEvse]:
    """Wrap the station core's EVSE controllers (``station.controllers``: mapping or sequence)."""
    controllers = getattr(station, "controllers", None)
    if controllers is None:
        controllers = getattr(station, "evses", None)
    if controllers is None:
        raise TypeError(f"{type(station).__name__} has no controllers")
    items = list(controllers.values()) if isinstance(controllers, Mapping) else list(controllers)
    board = getattr(station, "board", None)
    ports: list[StationEvse] = []
    for controller in items:
        board_evse = None
        if board is not None:
            try:
                board_evse = board.evse(controller.evse_id)
            except (KeyError, LookupError, ValueError):  # a board without that EVSE: no lock/reader
                board_evse = None
        ports.append(StationEvse(controller, board_evse))
    return ports


def install(
    station: Any,
    bridge: Any,
    pm: Any,
    profile: Any,
    *,
    settings: FunctionsSettings | None = None,
    evses: Sequence[Any] | None = None,
    restart_hal: Callable[[], None] | None = None,
    start: bool = True,
) -> Functions:
    """Create every station function, register its handlers on ``bridge`` and start it.

    ``station`` is the :class:`josev_hal.station.Station` (its controllers and board are wrapped
    with :func:`station_ports`) unless ``evses`` gives the EVSE objects directly. ``restart_hal``
    is what a reset that restarts the HAL calls (default: SIGTERM to the own process).
    Call it *after* the station core registered its handlers.
    """
    settings = settings or settings_from_profile(profile)
    state_dir = Path(settings.state_dir)
    ports = list(evses) if evses is not None else station_ports(station)
    publish = bridge.publish_update

    def request(payload: Any, timeout: float | None) -> Message:
        result: Message = bridge.request(payload, timeout=timeout)
        return result

    availability = AvailabilityManager(ports, state_dir, publish)
    for port in ports:
        adder = getattr(port, "add_transaction_listener", None)
        if adder is not None:
            adder(lambda *_: availability.transaction_changed())

    def decide_reset(kind: str, evse_id: str | None) -> Any:
        return pm.hook.hal_reset(kind=kind, evse_id=evse_id, profile=profile)

    reset = ResetManager(ports, availability, settings.reset, decide_reset, restart_hal=restart_hal)

    def install_firmware(image: FirmwareImage) -> FirmwareInstallResult | None:
        result: FirmwareInstallResult | None = pm.hook.hal_install_firmware(
            path=image.path, request=image.payload, state_dir=state_dir
        )
        return result

    def firmware_status(request_id: int, status: str) -> None:
        publish(p.FirmwareStatusUpdate(request_id=request_id, status=p.FirmwareStatusStatus(status)))

    firmware = FirmwareUpdater(
        settings.firmware,
        state_dir,
        firmware_status,
        install_firmware,
        idle_gate=availability,
        on_reboot=lambda: (
            None if reset.request(None) == "accepted" else log.error("post-install reset rejected")
        ),
    )

    def collect(since: datetime | None, until: datetime | None, log_type: str) -> list[Path]:
        files: list[Path] | None = pm.hook.hal_collect_logs(
            since=since, until=until, log_type=log_type, state_dir=state_dir
        )
        return list(files or [])

    def logs_status(request_id: int, status: str) -> None:
        publish(p.LogsStatusUpdate(request_id=request_id, status=p.LogsStatusStatus(status)))

    station_info = getattr(profile, "station", None)
    station_name = (
        getattr(station_info, "serial_number", "") or getattr(station_info, "model", "") or "josev-hal"
    )
    logs = LogUploader(settings.logs, collect, logs_status, station_name=station_name)

    def local_token(id_token: str, token_type: str, evse_id: str | None) -> bool | None:
        decided: bool | None = pm.hook.hal_authorize_local_token(
            id_token=id_token, token_type=token_type, evse_id=evse_id
        )
        return decided

    authorizer = TokenAuthorizer(ports, request, local_token)
    store = pm.hook.hal_key_store(state_dir=state_dir, profile=profile) if pm is not None else None
    keys = KeyService(store if store is not None else FileKeyStore(state_dir / "keys"))
    data_transfer = DataTransferService(
        lambda vendor_id, message_id, data: pm.hook.hal_data_transfer(
            vendor_id=vendor_id, message_id=message_id, data=data
        ),
        request,
    )
    device_model = DeviceModelService(profile) if getattr(profile, "device_model", None) is not None else None
    ocpp_messages = OcppMessageService()
    connector = ConnectorService(ports)
    notify = Notifier(publish, request, [e.evse_id for e in ports], availability)

    ocpp_ids: dict[int, Sequence[int]] = {}
    for evse in getattr(profile, "evse", None) or []:
        ocpp_ids[evse.ocpp_id] = [c.id for c in evse.connectors]

    requests: dict[str, Callable[[Message], Any]] = {
        "reset": reset.handle_request,
        "change_availability": availability.handle_request,
        "cs_connector": connector.handle_request,
        "update_firmware": lambda m: _firmware_response(firmware, m),
        "upload_logs": logs.handle_request,
        "process_authorized_token": lambda m: process_authorized_token(m, ports, availability.effective),
        "set_variable_validate": lambda m: validate_variable(m, ocpp_ids),
        "data_transfer": data_transfer.handle_request,
        "generate_csr": keys.handle_generate_csr,
        "private_key_path": keys.handle_private_key_path,
        "ocpp_message": ocpp_messages.handle_request,
    }
    if device_model is not None:
        requests["device_model"] = device_model.handle_request
        if not getattr(profile.device_model, "ocpp_csms_url", None):
            # Said once at start, not only when Josev's OCPP service asks and gets no answer.
            log.warning("device_model cannot be answered: set [device_model] ocpp_csms_url in the profile")
    for name, handler in requests.items():
        bridge.register(name, MessageType.REQUEST, handler)

    controllers = {e.evse_id: getattr(e, "controller", None) for e in ports}

    def transaction_status(message: Message) -> None:
        # Only reached when the station core did not register transaction_status itself.
        data: p.TransactionStatusUpdate = message.data
        evse_id = opt(data.evse_id)
        controller = controllers.get(evse_id) if evse_id else None
        if controller is not None and hasattr(controller, "on_transaction_status"):
            controller.on_transaction_status(data.transaction_id, data.status)
        availability.transaction_changed()

    consumers = {
        "certificate_installation_status": [keys.on_certificate_status],
        "authorization": [authorizer.on_update],
        "transaction_status": [transaction_status],
    }
    listened = install_listeners(bridge, pm, consumers)
    registered = list(requests) + [f"{n}.update" for n in listened]
    # Updates the station core handles itself (authorization, transaction_status, hlc_charging,
    # slac_status) still reach the plugins, through the core's listener interface.
    add_listener = getattr(station, "add_update_listener", None)
    if add_listener is not None:
        for name in LISTEN_UPDATES:
            if name not in listened:
                add_listener(name, _relay(pm))
    bridge.add_snapshot_provider(availability.snapshot)

    functions = Functions(
        settings=settings,
        evses=ports,
        availability=availability,
        reset=reset,
        connector=connector,
        firmware=firmware,
        logs=logs,
        authorizer=authorizer,
        device_model=device_model,
        data_transfer=data_transfer,
        keys=keys,
        ocpp_messages=ocpp_messages,
        notify=notify,
        registered=registered,
    )
    log.info("station functions installed state_dir=%s handlers=%d", state_dir, len(registered))
    if start:
        functions.start()
    return functions


def _firmware_response(firmware: FirmwareUpdater, message: Message) -> p.UpdateFirmwareResponse:
    status = firmware.request(FirmwareRequest.from_payload(message.data))
    return p.UpdateFirmwareResponse(status=p.UpdateFirmwareStatus(status))


def _relay(pm: Any) -> Callable[[Any], None]:
    """A station update listener (it receives the payload) that offers the update to plugins."""

    def relay(payload: Any) -> None:
        offer_to_plugins(pm, Message.update(payload))

    return relay
