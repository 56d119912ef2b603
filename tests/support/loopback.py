"""A test-only plugin: the ``loopback`` bus kind and one small driver per role.

The fake is at the bus level, like every fake in this suite: :class:`LoopbackBus` owns a
:class:`LoopbackPeer`, an in-memory board (relay coils with mirror contacts, an energy register, a
token queue ...) addressed by ``address``; the drivers read and write it under ``bus.lock`` the way
real drivers talk to a chip. Tests use it to exercise profiles, :class:`josev_hal.board.Board` and
the driver-contract checks themselves without any OS handle.

Register it with ``get_plugin_manager(extra_plugins=[loopback])`` (``import tests.support.loopback
as loopback``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec

from josev_hal.buses import Bus
from josev_hal.devices import (
    ConnectorLock,
    Contactor,
    ContactorSample,
    ControlPilot,
    CpMode,
    CpOutput,
    CpSample,
    DcCapabilities,
    DcPowerModule,
    DcSample,
    DeviceConfig,
    IdToken,
    IdTokenReader,
    IsolationMonitor,
    IsolationSample,
    IsolationStatus,
    LockSample,
    Meter,
    MeterReading,
    PhaseValues,
    PpSample,
    ProximityPilot,
    Rcd,
    RcdSample,
)
from josev_hal.errors import DeviceTimeout
from josev_hal.hookspecs import hookimpl

name = "tests.loopback"


@dataclass
class Cell:
    """The hardware behind one address."""

    coil: bool = False  # relay / lock actuator commanded
    welded: bool = False  # mirror contact stays closed whatever the coil does
    stuck_open: bool = False  # contact never closes
    energy_wh: float = 0.0
    tokens: list[str] = field(default_factory=list)
    cp_positive_v: float = 12.0
    cp_output: CpOutput = field(default_factory=lambda: CpOutput(CpMode.X1))
    dc_target: tuple[float, float] = (0.0, 0.0)
    dc_enabled: bool = False
    imd_measuring: bool = False
    tripped: bool = False


class LoopbackPeer:
    """The simulated board behind a loopback bus; ``offline`` makes every transaction time out."""

    def __init__(self) -> None:
        self.cells: dict[int, Cell] = {}
        self.offline = False
        self.transactions = 0

    def cell(self, address: int) -> Cell:
        return self.cells.setdefault(address, Cell())


class LoopbackOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Options of ``kind = "loopback"``."""

    label: str = ""


class LoopbackBus(Bus):
    kind: ClassVar[str] = "loopback"
    Options: ClassVar[type[msgspec.Struct]] = LoopbackOptions
    #: Every bus built in this process, so tests can reach the peer behind a board.
    instances: ClassVar[list[LoopbackBus]] = []

    def __init__(self, name: str, options: msgspec.Struct) -> None:
        super().__init__(name, options)
        self.peer = LoopbackPeer()
        self.is_open = False
        self.setup_calls = 0
        LoopbackBus.instances.append(self)

    def setup(self) -> None:
        self.setup_calls += 1
        self.is_open = True

    def release(self) -> None:
        self.is_open = False


class _Loop:
    bus_kind: ClassVar[str | None] = "loopback"
    requires_address: ClassVar[bool] = True
    config: DeviceConfig[Any]

    def setup(self) -> None:
        # Like a real driver: make sure the chip answers before declaring the device ready.
        self._txn()

    def _txn(self) -> Cell:
        bus: LoopbackBus = self.config.bus
        assert self.config.address is not None
        with bus.lock:
            bus.peer.transactions += 1
            if bus.peer.offline:
                raise DeviceTimeout("no answer", device=self.config.device_id, plugin=self.config.plugin)
            return bus.peer.cell(self.config.address)


class CpOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    channel: int = 0
    gain: int = 1


class LoopControlPilot(_Loop, ControlPilot):
    Options = CpOptions
    address_shareable = True  # one MCU at one address is CP and contactor on real boards

    def read(self) -> CpSample:
        cell = self._txn()
        return CpSample(positive_v=cell.cp_positive_v, negative_v=-12.0)

    def _set(self, output: CpOutput) -> None:
        self._txn().cp_output = output

    def set_pwm(self, duty_percent: float) -> None:
        self._set(CpOutput(CpMode.PWM, duty_percent) if duty_percent < 100 else CpOutput(CpMode.X1))

    def set_x1(self) -> None:
        self._set(CpOutput(CpMode.X1))

    def set_state_e(self) -> None:
        self._set(CpOutput(CpMode.STATE_E))

    def set_state_f(self) -> None:
        self._set(CpOutput(CpMode.STATE_F))

    @property
    def output(self) -> CpOutput:
        return self._txn().cp_output


class LoopProximityPilot(_Loop, ProximityPilot):
    def read(self) -> PpSample:
        self._txn()
        return PpSample(resistance_ohm=220.0)


class LoopContactor(_Loop, Contactor):
    address_shareable = True

    @property
    def has_feedback(self) -> bool:
        return True

    def close(self) -> None:
        self._txn().coil = True

    def open(self) -> None:
        self._txn().coil = False

    def read(self) -> ContactorSample:
        cell = self._txn()
        feedback = cell.welded or (cell.coil and not cell.stuck_open)
        return ContactorSample(commanded_closed=cell.coil, feedback_closed=feedback)


class LiarContactor(LoopContactor):
    """Broken on purpose: reports the command as feedback (for the contract self-test)."""

    def read(self) -> ContactorSample:
        cell = self._txn()
        return ContactorSample(commanded_closed=cell.coil, feedback_closed=cell.coil)


class LoopRcd(_Loop, Rcd):
    def read(self) -> RcdSample:
        return RcdSample(tripped=self._txn().tripped)

    def self_test(self, timeout_s: float = 2.0) -> bool:
        self._txn()
        return True

    def reset(self) -> None:
        self._txn().tripped = False


class MeterOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    baudrate: int = 9600
    model: str = "generic"


class LoopMeter(_Loop, Meter):
    Options = MeterOptions

    def read(self) -> MeterReading:
        cell = self._txn()
        cell.energy_wh += 1.0
        return MeterReading(
            voltage_v=PhaseValues(230.0, 230.0, 230.0),
            current_a=PhaseValues(0.0, 0.0, 0.0),
            power_w=0.0,
            energy_import_wh=cell.energy_wh,
        )


class StaleMeter(LoopMeter):
    """Broken on purpose: returns its last reading when the peer does not answer."""

    _last: MeterReading | None = None

    def read(self) -> MeterReading:
        try:
            self._last = super().read()
        except DeviceTimeout:
            if self._last is None:
                raise
        assert self._last is not None
        return self._last


class LoopLock(_Loop, ConnectorLock):
    def lock(self) -> None:
        self._txn().coil = True

    def unlock(self) -> None:
        self._txn().coil = False

    def read(self) -> LockSample:
        cell = self._txn()
        return LockSample(commanded_locked=cell.coil, locked=cell.coil and not cell.stuck_open)


class LoopIdReader(_Loop, IdTokenReader):
    def poll(self) -> IdToken | None:
        cell = self._txn()
        return IdToken(uid=cell.tokens.pop(0)) if cell.tokens else None


class LoopPowerModule(_Loop, DcPowerModule):
    @property
    def capabilities(self) -> DcCapabilities:
        return DcCapabilities(
            max_voltage_v=1000.0,
            min_voltage_v=150.0,
            max_current_a=100.0,
            min_current_a=0.0,
            max_power_w=30000.0,
        )

    def set_target(self, voltage_v: float, current_a: float) -> None:
        self._txn().dc_target = (voltage_v, current_a)

    def enable(self, on: bool) -> None:
        self._txn().dc_enabled = on

    def read(self) -> DcSample:
        cell = self._txn()
        voltage = cell.dc_target[0] if cell.dc_enabled else 0.0
        return DcSample(voltage_v=voltage, current_a=0.0, enabled=cell.dc_enabled)


class LoopIsolationMonitor(_Loop, IsolationMonitor):
    def start(self) -> None:
        self._txn().imd_measuring = True

    def stop(self) -> None:
        self._txn().imd_measuring = False

    def self_test(self) -> bool:
        self._txn()
        return True

    def read(self) -> IsolationSample:
        measuring = self._txn().imd_measuring
        return IsolationSample(
            resistance_ohm=5e6 if measuring else None,
            status=IsolationStatus.VALID if measuring else IsolationStatus.INVALID,
            measuring=measuring,
        )


DRIVERS: dict[str, type[Any]] = {
    "loop-cp": LoopControlPilot,
    "loop-pp": LoopProximityPilot,
    "loop-contactor": LoopContactor,
    "loop-rcd": LoopRcd,
    "loop-meter": LoopMeter,
    "loop-lock": LoopLock,
    "loop-id": LoopIdReader,
    "loop-power": LoopPowerModule,
    "loop-imd": LoopIsolationMonitor,
}


@hookimpl
def hal_register_drivers() -> dict[str, type[Any]]:
    return dict(DRIVERS)


@hookimpl
def hal_register_bus_kinds() -> dict[str, type[Bus]]:
    return {"loopback": LoopbackBus}


#: A complete AC board on one loopback bus (every test mutates a copy of it).
AC_PROFILE = """\
[station]
vendor = "Acme"
model = "Wallbox 22"
serial_number = "ACME-0001"
sw_version = "1.4.0"
hw_version = "rev-C"

[mqtt]
broker = "mqtt://127.0.0.1:1883"

[safety]
rcd_trip = "hal"
cp_loss_shutdown = "hal"
welding_detection = "hal"
rcd_reset = "manual"

[cp]
debounce_samples = 3

[meter]
interval_s = 1.0
stale_after_s = 3.0

[state]
dir = "/tmp/josev-hal-test-state"

[reset]
command = ["systemctl", "reboot"]

[buses.board]
kind = "loopback"

[[evse]]
id = "DE*ACM*E0001"
ocpp_id = 1
network_interface = "eth1"
supports_eim = true
kind = "ac"
phases = 3
nominal_voltage_v = 230
max_current_a = 32

  [[evse.connectors]]
  id = 1
  ocpp_type = "cType2"
  iso15118_type = "AC_three_phase_core"
  services = ["ac"]
  cable = "socket"

  [evse.devices.cp]
  driver = "loop-cp"
  bus = "board"
  address = 0x10
  options = { channel = 0, gain = 1 }

  [evse.devices.pp]
  driver = "loop-pp"
  bus = "board"
  address = 0x11

  [evse.devices.contactor]
  driver = "loop-contactor"
  bus = "board"
  address = 0x12

  [evse.devices.rcd]
  driver = "loop-rcd"
  bus = "board"
  address = 0x13

  [evse.devices.meter]
  driver = "loop-meter"
  bus = "board"
  address = 0x14
  options = { baudrate = 9600, model = "sdm630" }
"""

#: A DC EVSE appended to :data:`AC_PROFILE` gives a two-EVSE station.
DC_EVSE = """
[[evse]]
id = "DE*ACM*E0002"
ocpp_id = 2
network_interface = "eth2"
kind = "dc"

  [evse.dc]
  max_voltage_v = 920
  min_voltage_v = 150
  max_current_a = 200
  min_current_a = 0
  max_power_w = 150000

  [[evse.connectors]]
  id = 1
  ocpp_type = "cCCS2"
  iso15118_type = "DC_extended"
  services = ["dc"]
  cable = "fixed"
  max_cable_current_a = 200

  [evse.devices.cp]
  driver = "loop-cp"
  bus = "board"
  address = 0x20

  [evse.devices.contactor]
  driver = "loop-contactor"
  bus = "board"
  address = 0x21

  [evse.devices.meter]
  driver = "loop-meter"
  bus = "board"
  address = 0x22

  [evse.devices.power_module]
  driver = "loop-power"
  bus = "board"
  address = 0x23

  [evse.devices.isolation_monitor]
  driver = "loop-imd"
  bus = "board"
  address = 0x24
"""
