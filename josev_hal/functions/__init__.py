"""Station functions: every OCPP-facing obligation of the CS that is not the power path.

One call creates them and binds their handlers through the routing table
(:mod:`josev_hal.routing`, which decides who answers each message; the station core binds its own)::

    router = Router(bridge)
    station.register(router)
    functions = josev_hal.functions.install(station, bridge, pm, profile, router=router)
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
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec

from josev_hal.functions.authorization import TokenAuthorizer, process_authorized_token, validate_variable
from josev_hal.functions.availability import AvailabilityManager
from josev_hal.functions.config import FunctionsSettings, settings_from_profile
from josev_hal.functions.connector import ConnectorService
from josev_hal.functions.data_transfer import DataTransferService
from josev_hal.functions.device_model import DeviceModelService
from josev_hal.functions.firmware import FirmwareImage, FirmwareRequest, FirmwareUpdater
from josev_hal.functions.keystore import FileKeyStore, KeyService
from josev_hal.functions.listen import Relay, listener_routes
from josev_hal.functions.logs import LogUploader
from josev_hal.functions.notify import Notifier
from josev_hal.functions.ocpp_message import OcppMessageService
from josev_hal.functions.ports import StationEvse
from josev_hal.functions.reset import ResetManager
from josev_hal.hookspecs import DataTransferResult, FirmwareInstallResult, KeyStore, ResetAction
from josev_hal.messages import Message, MessageType, Payload
from josev_hal.messages import payloads as p
from josev_hal.routing import ROUTES, Handler, Registrar, RouteKind, Router

if TYPE_CHECKING:
    import pluggy

    from josev_hal.profile import Profile
    from josev_hal.station import Station

__all__ = [
    "Functions",
    "FunctionsBridge",
    "FunctionsSettings",
    "StationEvse",
    "VendorPolicies",
    "install",
    "station_ports",
]

log = logging.getLogger(__name__)

REQ = MessageType.REQUEST


class FunctionsBridge(Registrar, Protocol):
    """What the functions need from :class:`josev_hal.bridge.Bridge`."""

    def publish_update(self, payload: Payload) -> object: ...

    def request(self, payload: Payload, *, timeout: float | None = None) -> Message: ...

    def add_snapshot_provider(self, provider: Callable[[], list[Payload]]) -> None: ...


class VendorPolicies(msgspec.Struct, frozen=True):
    """The vendor-policy hooks as typed calls: the functions call these, never ``pm.hook``."""

    pm: pluggy.PluginManager
    profile: Profile
    state_dir: Path

    def reset(self, kind: str, evse_id: str | None) -> ResetAction | None:
        action: ResetAction | None = self.pm.hook.hal_reset(kind=kind, evse_id=evse_id, profile=self.profile)
        return action

    def install_firmware(self, image: FirmwareImage) -> FirmwareInstallResult | None:
        result: FirmwareInstallResult | None = self.pm.hook.hal_install_firmware(
            path=image.path, request=image.payload, state_dir=self.state_dir
        )
        return result

    def collect_logs(self, since: datetime | None, until: datetime | None, log_type: str) -> list[Path]:
        files: list[Path] | None = self.pm.hook.hal_collect_logs(
            since=since, until=until, log_type=log_type, state_dir=self.state_dir
        )
        return list(files or [])

    def authorize_local(self, id_token: str, token_type: str, evse_id: str | None) -> bool | None:
        decided: bool | None = self.pm.hook.hal_authorize_local_token(
            id_token=id_token, token_type=token_type, evse_id=evse_id
        )
        return decided

    def data_transfer(
        self, vendor_id: str, message_id: str | None, data: object
    ) -> DataTransferResult | None:
        result: DataTransferResult | None = self.pm.hook.hal_data_transfer(
            vendor_id=vendor_id, message_id=message_id, data=data
        )
        return result

    def key_store(self) -> KeyStore:
        """The plugins' key store, or the file store under ``<state_dir>/keys``."""
        store: KeyStore | None = self.pm.hook.hal_key_store(state_dir=self.state_dir, profile=self.profile)
        return store if store is not None else FileKeyStore(self.state_dir / "keys")


class Functions(msgspec.Struct):
    """Everything :func:`install` created; :meth:`close` stops their threads."""

    settings: FunctionsSettings
    evses: list[StationEvse]
    availability: AvailabilityManager
    reset: ResetManager
    connector: ConnectorService
    firmware: FirmwareUpdater
    logs: LogUploader
    authorizer: TokenAuthorizer
    device_model: DeviceModelService
    data_transfer: DataTransferService
    keys: KeyService
    ocpp_messages: OcppMessageService
    notify: Notifier
    relay: Relay
    ocpp_connectors: dict[int, Sequence[int]] = msgspec.field(default_factory=dict)
    registered: list[str] = msgspec.field(default_factory=list)

    def routes(self) -> dict[str, dict[tuple[str, MessageType], Handler]]:
        """Each function module's handlers, keyed by the module's owner name in the routing table."""
        return {
            "functions.reset": {("reset", REQ): self.reset.handle_request},
            "functions.availability": {("change_availability", REQ): self.availability.handle_request},
            "functions.connector": {("cs_connector", REQ): self.connector.handle_request},
            "functions.firmware": {("update_firmware", REQ): self._update_firmware},
            "functions.logs": {("upload_logs", REQ): self.logs.handle_request},
            "functions.authorization": {
                ("process_authorized_token", REQ): self._process_authorized_token,
                ("set_variable_validate", REQ): self._set_variable_validate,
            },
            "functions.data_transfer": {("data_transfer", REQ): self.data_transfer.handle_request},
            "functions.keystore": {
                ("generate_csr", REQ): self.keys.handle_generate_csr,
                ("private_key_path", REQ): self.keys.handle_private_key_path,
            },
            "functions.ocpp_message": {("ocpp_message", REQ): self.ocpp_messages.handle_request},
            "functions.device_model": {("device_model", REQ): self.device_model.handle_request},
            # listen-only updates: the functions' consumers first, then log + plugins
            "functions.listen": listener_routes(
                self.relay, {"certificate_installation_status": [self.keys.on_certificate_status]}
            ),
        }

    def bind(self, router: Router) -> None:
        """Bind every module's handlers through the routing table."""
        for owner, routes in self.routes().items():
            router.bind(owner, routes)
            self.registered += [
                f"{name}.{type_.value}" if type_ is not REQ else name for name, type_ in routes
            ]

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

    def _update_firmware(self, message: Message) -> p.UpdateFirmwareResponse:
        status = self.firmware.request(FirmwareRequest.from_payload(message.data))
        return p.UpdateFirmwareResponse(status=p.UpdateFirmwareStatus(status))

    def _process_authorized_token(self, message: Message) -> p.ProcessAuthorizedTokenResponse:
        return process_authorized_token(message, self.evses, self.availability.effective)

    def _set_variable_validate(self, message: Message) -> p.SetVariableValidateResponse:
        return validate_variable(message, self.ocpp_connectors)


def station_ports(station: Station) -> list[StationEvse]:
    """Wrap the station core's EVSE controllers (with the board EVSE: lock, token reader)."""
    ports: list[StationEvse] = []
    for evse_id, controller in station.controllers.items():
        try:
            board_evse = station.board.evse(evse_id)
        except KeyError:  # a board without that EVSE: no lock/reader
            board_evse = None
        ports.append(StationEvse(controller, board_evse))
    return ports


def install(
    station: Station,
    bridge: FunctionsBridge,
    pm: pluggy.PluginManager,
    profile: Profile,
    *,
    settings: FunctionsSettings | None = None,
    router: Router | None = None,
    restart_hal: Callable[[], None] | None = None,
    start: bool = True,
) -> Functions:
    """Create every station function, bind its handlers through ``router`` and start it.

    ``router`` is the daemon's :class:`~josev_hal.routing.Router` (a new one over ``bridge``
    when omitted). ``restart_hal`` is what a reset that restarts the HAL calls (default: SIGTERM
    to the own process). The routing table, not the call order, decides who answers what.
    """
    settings = settings or settings_from_profile(profile)
    state_dir = Path(settings.state_dir)
    ports = station_ports(station)
    policies = VendorPolicies(pm, profile, state_dir)
    publish = bridge.publish_update

    def request(payload: Payload, timeout: float | None) -> Message:
        return bridge.request(payload, timeout=timeout)

    availability = AvailabilityManager(ports, state_dir, publish)
    for port in ports:
        port.add_transaction_listener(lambda *_: availability.transaction_changed())
    reset = ResetManager(ports, availability, settings.reset, policies.reset, restart_hal=restart_hal)

    def firmware_status(request_id: int, status: str) -> None:
        publish(p.FirmwareStatusUpdate(request_id=request_id, status=p.FirmwareStatusStatus(status)))

    def after_install() -> None:
        if reset.request(None) != "accepted":
            log.error("post-install reset rejected")

    firmware = FirmwareUpdater(
        settings.firmware,
        state_dir,
        firmware_status,
        policies.install_firmware,
        idle_gate=availability,
        on_reboot=after_install,
    )

    def logs_status(request_id: int, status: str) -> None:
        publish(p.LogsStatusUpdate(request_id=request_id, status=p.LogsStatusStatus(status)))

    station_name = profile.station.serial_number or profile.station.model or "josev-hal"
    if not profile.device_model.ocpp_csms_url:
        # Said once at start, not only when Josev's OCPP service asks and gets no answer.
        log.warning("device_model cannot be answered: set [device_model] ocpp_csms_url in the profile")

    functions = Functions(
        settings=settings,
        evses=ports,
        availability=availability,
        reset=reset,
        connector=ConnectorService(ports),
        firmware=firmware,
        logs=LogUploader(settings.logs, policies.collect_logs, logs_status, station_name=station_name),
        authorizer=TokenAuthorizer(ports, request, policies.authorize_local),
        device_model=DeviceModelService(profile),
        data_transfer=DataTransferService(policies.data_transfer, request),
        keys=KeyService(policies.key_store()),
        ocpp_messages=OcppMessageService(),
        notify=Notifier(publish, request, [e.evse_id for e in ports], availability),
        relay=Relay(pm),
        ocpp_connectors={evse.ocpp_id: [c.id for c in evse.connectors] for evse in profile.evse},
    )
    functions.bind(router if router is not None else Router(bridge))
    # Updates the station core owns still reach the plugins: the table names them in ``also``.
    for row in ROUTES:
        if row.kind is RouteKind.STATION and row.type is MessageType.UPDATE and "plugins" in row.also:
            station.add_update_listener(row.name, functions.relay.payload)
    bridge.add_snapshot_provider(availability.snapshot)
    log.info("station functions installed state_dir=%s handlers=%d", state_dir, len(functions.registered))
    if start:
        functions.start()
    return functions
