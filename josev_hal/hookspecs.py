"""Every pluggy hook of josev-hal (project name ``josev_hal``, prefix ``hal_``).

Plugins implement hooks with :data:`hookimpl`; the plugin manager from
:func:`josev_hal.plugins.get_plugin_manager` validates them against these specs.
Hooks are for *contribution* (driver classes, bus kinds), *lifecycle* (board loaded, startup,
shutdown) and *vendor policies* (what a reset does, how firmware is installed ...). Hot-path work
(sampling the CP, switching a relay, polling a meter) goes through plain driver objects, never
through a hook call per operation.

How a hook is called is stated in each docstring under ``Calling:``

* ``all results`` -- every implementation runs (last registered first) and the caller receives
  the list of non-``None`` results;
* ``firstresult`` -- implementations run until one returns something other than ``None``; that
  value is the result. The defaults in :mod:`josev_hal.builtin.policies` are ``trylast``, so any
  plugin's answer wins over them, and a plugin returns ``None`` to leave a case to the next one
  (e.g. a ``data_transfer`` vendor id it does not own).

Result types of the policy hooks are defined here as well, so a plugin needs only this module.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import msgspec
import pluggy

if TYPE_CHECKING:
    import argparse

    from josev_hal.board import Board
    from josev_hal.buses import Bus
    from josev_hal.devices import Driver
    from josev_hal.messages import Message, Payload
    from josev_hal.messages.payloads import UpdateFirmwareRequest
    from josev_hal.plugins import HalPluginManager
    from josev_hal.profile import Profile

__all__ = [
    "PROJECT",
    "CliTool",
    "DataTransferResult",
    "EvSide",
    "FirmwareInstallResult",
    "FirmwareInstallStatus",
    "HalSpec",
    "KeyStore",
    "RawSubscriber",
    "ResetAction",
    "ResetActionKind",
    "StationHandle",
    "hookimpl",
    "hookspec",
]

PROJECT = "josev_hal"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------------
# Result types of the policy hooks
# --------------------------------------------------------------------------------------------


class ResetActionKind(enum.StrEnum):
    """What the HAL does to carry out a ``reset`` request."""

    RUN_COMMAND = "run_command"  # run ``ResetAction.command`` (e.g. ``systemctl reboot``)
    RESTART_HAL = "restart_hal"  # leave the hardware safe and restart the josev-hal process
    REJECT = "reject"  # answer ``rejected`` (e.g. a per-EVSE reset the product cannot do)


class ResetAction(msgspec.Struct, frozen=True):
    """The answer of :meth:`HalSpec.hal_reset`.

    The functions layer answers ``accepted`` unless ``kind`` is ``REJECT``, opens the affected
    contactors, and then performs the action. ``reason`` goes to the log.
    """

    kind: ResetActionKind
    command: tuple[str, ...] = ()
    reason: str = ""

    def __post_init__(self) -> None:
        # A RUN_COMMAND without a command would silently do nothing; refuse to build it.
        if self.kind is ResetActionKind.RUN_COMMAND and not self.command:
            raise ValueError("ResetAction(RUN_COMMAND) needs a command")


class FirmwareInstallStatus(enum.StrEnum):
    """Outcome of an install, named as the ``firmware_status`` update names it."""

    INSTALLED = "installed"
    INSTALL_SCHEDULED = "install_scheduled"
    INSTALL_REBOOTING = "install_rebooting"
    INSTALLATION_FAILED = "installation_failed"
    INSTALL_VERIFICATION_FAILED = "install_verification_failed"
    INVALID_SIGNATURE = "invalid_signature"


class FirmwareInstallResult(msgspec.Struct, frozen=True):
    """The answer of :meth:`HalSpec.hal_install_firmware`.

    ``installed_path`` is where the image ended up (if it was kept), ``detail`` a log line.
    ``reboot_required`` asks the functions layer to perform a station reset (through
    :meth:`HalSpec.hal_reset`) after reporting ``status``.
    """

    status: FirmwareInstallStatus
    installed_path: Path | None = None
    reboot_required: bool = False
    detail: str = ""


class DataTransferResult(msgspec.Struct, frozen=True):
    """The answer of :meth:`HalSpec.hal_data_transfer`: the ``data_transfer`` response fields.

    ``status`` is one of ``accepted``, ``rejected``, ``unknown_message_id``, ``unknown_vendor_id``;
    ``data`` is any JSON value (``None`` = omitted).
    """

    status: str
    data: object = None


@runtime_checkable
class KeyStore(Protocol):
    """Where the station's private keys live (files, a TPM, an HSM ...).

    ``certificate_type`` is one of ``charging_station_certificate``, ``v2g_certificate``,
    ``v2g20_certificate`` (the Josev API names).
    """

    def generate_csr(
        self,
        certificate_type: str,
        *,
        common_name: str,
        organization_name: str,
        country_name: str,
        algorithm: str | None = None,
    ) -> str:
        """Create a new key pair for ``certificate_type`` and return a PEM PKCS#10 CSR.

        ``algorithm`` is ``ECDSA_SHA256`` / ``ECDSA_SHA512`` / ``RSA_SHA256`` / ``RSA_SHA384``
        (``None``: the store's default for the type). Raise :class:`~josev_hal.errors.HalError`
        when the key cannot be created; the caller answers ``rejected``.
        """
        ...

    def private_key_path(self, certificate_type: str) -> Path | None:
        """The file (or TPM handle path) of the current private key, ``None`` when there is none."""
        ...


class RawSubscriber(Protocol):
    """A connection that also delivers MQTT topics outside the Josev API (e.g. ``sim/cs``)."""

    def subscribe_raw(self, topic: str, callback: Callable[[str, bytes], None]) -> None:
        """``callback(topic, payload)`` for every message on ``topic`` (wildcards allowed)."""
        ...


class StationHandle(Protocol):
    """What :meth:`HalSpec.hal_startup` / :meth:`HalSpec.hal_shutdown` receive: the station core
    (:class:`josev_hal.station.Station`) or, on a board whose EVSEs all run under EVerest, the
    EVerest northbound. Both give the board and a connection for raw topics; anything else a
    plugin needs comes through a hook, not through this object."""

    @property
    def board(self) -> Board: ...

    @property
    def bridge(self) -> RawSubscriber: ...


# --------------------------------------------------------------------------------------------
# Hook specifications
# --------------------------------------------------------------------------------------------


class CliTool(Protocol):
    """A sub-command a plugin adds under ``josev-hal sim`` or ``josev-hal probe``.

    The core command builds one sub-parser per tool (``help`` is its one-line help), lets the
    tool add its options, and calls :meth:`run` with the parsed arguments. ``run`` returns the
    process exit code (0 ok, 2 usage error, 3 runtime error: see ``josev_hal.cli``) and prints its
    own errors; it is the tool's job to stop cleanly on SIGINT/SIGTERM when it serves forever.
    """

    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, pm: HalPluginManager) -> int: ...


@runtime_checkable
class EvSide(Protocol):
    """Whoever puts the EV (or a test adapter) into a CP state during commissioning.

    ``simulated`` is ``True`` for a simulated EV (no person is asked to do anything).
    """

    simulated: bool

    def set_state(self, evse_id: str, connector_id: int, state: str) -> None: ...


class HalSpec:
    """Namespace of the hook specifications."""

    # -- contribution --------------------------------------------------------------------------

    @hookspec
    def hal_register_drivers(self) -> Mapping[str, type[Driver]]:
        """Contribute driver classes by name (the name used as ``driver = "..."`` in profiles).

        When: once per plugin manager, the first time ``pm.drivers`` is read.
        Calling: all results. The mappings are merged; a name registered by two plugins is a
        :class:`~josev_hal.errors.PluginError` naming both. Each value must be a subclass of a
        role class from :mod:`josev_hal.devices`.
        """
        raise NotImplementedError

    @hookspec
    def hal_register_bus_kinds(self) -> Mapping[str, type[Bus]]:
        """Contribute bus classes by kind (``kind = "..."`` in ``[buses.<name>]``).

        When: once per plugin manager, the first time ``pm.bus_kinds`` is read.
        Calling: all results, merged like drivers (duplicates are a PluginError naming both).
        Each value must be a subclass of :class:`josev_hal.buses.Bus`.
        """
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------------

    @hookspec
    def hal_board_loaded(self, profile: Profile, source: str) -> Iterable[str] | None:
        """A board profile was decoded and passed the core checks; read your configuration.

        When: at the end of :func:`josev_hal.profile.load_profile` (so also during
        ``josev-hal check``), before any bus or device is created. ``source`` is the file name.
        A plugin reads its own ``[plugins.<name>]`` table from ``profile.plugins`` here and
        returns problems it finds as ``"<key.path>: <reason>"`` strings (they are reported with
        the file's other problems); return ``None`` or an empty list when all is well.
        Calling: all results (every plugin sees the profile).
        """
        raise NotImplementedError

    @hookspec
    def hal_startup(self, station: StationHandle) -> None:
        """The station is up: board set up, MQTT bridge connected, controllers running.

        When: once, by the station core after :meth:`josev_hal.board.Board.setup`. ``station`` is
        the :class:`josev_hal.station.Station`. Start HMI threads, watchdogs and the like here;
        return quickly (do long work on your own thread). An exception is logged and the
        station keeps running without that plugin.
        Calling: all results (return values are ignored), through
        :func:`josev_hal.plugins.call_each` so one failing plugin does not stop the others.
        """
        raise NotImplementedError

    @hookspec
    def hal_shutdown(self, station: StationHandle) -> None:
        """The station is stopping: contactors are already open, the board is not yet released.

        When: once, by the station core before :meth:`josev_hal.board.Board.release`. Stop what
        ``hal_startup`` started. Must not raise; exceptions are logged and ignored.
        Calling: all results (return values are ignored), through
        :func:`josev_hal.plugins.call_each`.
        """
        raise NotImplementedError

    @hookspec
    def hal_josev_update(self, message: Message) -> None:
        """Josev published an update on ``josev/cs`` (listen-only messages: display texts,
        transaction and SLAC status, cost updates ...); offered to HMI/display plugins.

        When: for every update message the bridge decodes, on a bridge worker thread, after the
        core's own handler. ``message`` is a :class:`josev_hal.messages.Message`. Must return
        quickly and never raise (exceptions are logged).
        Calling: all results (return values are ignored), through
        :func:`josev_hal.plugins.call_each`.
        """
        raise NotImplementedError

    @hookspec
    def hal_probe_lines(self, board: Board) -> Sequence[str] | None:
        """Extra human-readable lines for ``josev-hal probe`` (firmware versions of an MCU,
        the state of a vendor module ...).

        When: once per probe run, after the board was set up and the standard device lines were
        printed. Lines are printed in plugin order, each plugin's under its name.
        Calling: all results, through :func:`josev_hal.plugins.call_each` (a plugin that raises
        is reported, not fatal).
        """
        raise NotImplementedError

    @hookspec
    def hal_probe_device(self, device: Driver) -> Sequence[str] | None:
        """Notes on one configured device for ``josev-hal probe board``: what a plugin can check
        on the hardware beyond the device's own reading (the modbus plugin names a meter whose
        registers match another model than the profile configured). Return ``None`` for devices
        that are not yours.

        When: once per device of the set-up board, after its reading. Every note goes into the
        device's finding (``notes`` in ``--json``) and makes ``probe board`` exit 1.
        Calling: all results, through :func:`josev_hal.plugins.call_each` (a plugin that raises
        is logged, not fatal).
        """
        raise NotImplementedError

    @hookspec
    def hal_claim_messages(self) -> Mapping[tuple[str, str], Callable[[Message], Payload | None]] | None:
        """Answer Josev messages the HAL ignores by design, keyed ``(name, type)``.

        When: once at start-up, after the station core and the station functions bound their
        handlers through the routing table (:mod:`josev_hal.routing`). Only rows the table marks
        ``ignored`` can be claimed (``josev-hal plugins --routes`` lists them); claiming a row
        another component owns, or one a second plugin claimed, fails start-up with an error
        naming both. A request handler returns the response payload, an update handler ``None``.
        Calling: all results; each plugin's mapping is checked on its own.
        """
        raise NotImplementedError

    @hookspec
    def hal_sim_peers(self) -> Mapping[str, CliTool] | None:
        """Simulated peers a plugin can serve: ``josev-hal sim <name>`` (a Modbus meter, a CAN
        power-module group ...), keyed by sub-command name.

        When: only when ``josev-hal sim`` is the command being run (never on ``run``'s start-up).
        Two plugins offering the same name is an error naming both.
        Calling: all results.
        """
        raise NotImplementedError

    @hookspec
    def hal_probe_tools(self) -> Mapping[str, CliTool] | None:
        """Bus probes a plugin offers: ``josev-hal probe <name>`` (scan a serial line for Modbus
        units, an I2C bus for known chips, a CAN channel for power modules ...), keyed by
        sub-command name. The probe reuses the plugin's own protocol code, so the core never
        imports it.

        When: only when ``josev-hal probe`` is the command being run.
        Two plugins offering the same name is an error naming both.
        Calling: all results.
        """
        raise NotImplementedError

    @hookspec(firstresult=True)
    def hal_ev_side(self, board: Board) -> EvSide | None:
        """Who plays the EV for ``josev-hal commission`` on this board: the sim plugin drives its
        simulated EVs; a test-rig plugin can drive a hardware EV simulator.

        When: once per commissioning run, after the board was built.
        Calling: firstresult; return ``None`` when your side does not cover the board's EVSEs
        (the default then is a person with the IEC 61851 test adapter, prompted at the console).
        """
        raise NotImplementedError

    @hookspec(firstresult=True)
    def hal_builtin_board(self, name: str) -> str | None:
        """The profile text (TOML) of a board that ships inside a plugin.

        When: ``josev-hal run`` (and the other commands) without ``--board`` ask for ``"sim"``,
        after loading the plugin that provides it (the sim plugin; ``"sim-pv"`` is its board with
        a 1p/3p switch). The core asks through this hook instead of importing the plugin.
        Calling: firstresult; return ``None`` for names you do not ship.
        """
        raise NotImplementedError

    # -- vendor policies (defaults in josev_hal.builtin.policies) -------------------------------

    @hookspec(firstresult=True)
    def hal_reset(self, kind: str, evse_id: str | None, profile: Profile) -> ResetAction | None:
        """Decide what a ``reset`` request does.

        When: the functions layer received ``reset``; ``kind`` is ``"station"`` (no ``evse_id``)
        or ``"evse"`` (``evse_id`` given). Only *decide* here; the caller answers Josev, makes
        the power path safe and then performs the action.
        Calling: firstresult. Default: run the profile's ``[reset] command`` if set, otherwise
        ``RESTART_HAL`` (a per-EVSE reset restarts that EVSE's controller only).
        """
        raise NotImplementedError

    @hookspec(firstresult=True)
    def hal_install_firmware(
        self, path: Path, request: UpdateFirmwareRequest | None, state_dir: Path
    ) -> FirmwareInstallResult | None:
        """Install a downloaded firmware image.

        When: after the functions layer downloaded (and, when signed, verified) the image of an
        ``update_firmware`` request to ``path``; ``request`` is that request's payload
        (``request_id``, ``location``, ``signature`` ...; ``None`` for an update not started by
        Josev), ``state_dir`` the profile's
        ``[state] dir``. Runs on a worker thread; may take long.
        Calling: firstresult. Default: move the image to ``<state_dir>/firmware/`` and report
        ``installed`` (products with a real update mechanism -- RAUC, swupdate, an MCU
        bootloader -- implement this hook).
        """
        raise NotImplementedError

    @hookspec(firstresult=True)
    def hal_collect_logs(
        self, since: datetime | None, until: datetime | None, log_type: str, state_dir: Path
    ) -> list[Path] | None:
        """Gather the files to upload for an ``upload_logs`` request.

        When: the functions layer received ``upload_logs``; ``log_type`` is ``diagnostics_log``
        or ``security_log``; ``since``/``until`` are the request's oldest/latest timestamps
        (aware UTC, ``None`` = open end). The caller archives the files and uploads them.
        Calling: firstresult. Default: the ``*.log`` files under ``<state_dir>/logs/``
        (``security*.log`` for security logs) not last modified before ``since`` (a file
        modified after ``until`` still holds earlier lines; the window is cut line by line later).
        """
        raise NotImplementedError

    @hookspec(firstresult=True)
    def hal_data_transfer(
        self, vendor_id: str, message_id: str | None, data: object
    ) -> DataTransferResult | None:
        """Answer a vendor-specific ``data_transfer`` request from the CSMS.

        When: the functions layer received ``data_transfer``. Return ``None`` for vendor ids you
        do not own so that other plugins get their turn.
        Calling: firstresult. Default: ``unknown_vendor_id``.
        """
        raise NotImplementedError

    @hookspec(firstresult=True)
    def hal_authorize_local_token(self, id_token: str, token_type: str, evse_id: str | None) -> bool | None:
        """Decide locally about a token read at the station (RFID card, key code ...).

        When: a token was read, before the HAL asks Josev with an ``authorization`` request.
        Return ``True`` (accepted without asking), ``False`` (rejected without asking) or
        ``None`` (no local opinion: ask Josev). Typical use: free-charging or master cards.
        Calling: firstresult. Default: ``None`` (always ask Josev).
        """
        raise NotImplementedError

    @hookspec(firstresult=True)
    def hal_key_store(self, state_dir: Path, profile: Profile) -> KeyStore | None:
        """Provide the station's key store for ``generate_csr`` and ``private_key_path``.

        When: once at startup by the functions layer. Return an object implementing
        :class:`KeyStore` (a TPM-backed one, for instance).
        Calling: firstresult. Default: none is shipped by this module yet -- the functions layer
        falls back to its file-based store under ``<state_dir>/keys`` when no plugin answers.
        """
        raise NotImplementedError
