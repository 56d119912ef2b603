"""``power_supply_DC``: the DC power module (group) of a DC EVSE.

EvseManager sets the mode (``Export`` with the charging phase, ``Off``) and the export set-points;
the adapter reports ``voltage_current`` (every ``interval_s`` and when it moved), its ``mode`` and
``capabilities``, and maps the module's fault names to the interface's errors.

As for the board support, commands only record an intent and the adapter's own thread applies
it: the heartbeat watchdog switches the output off from another thread, and a late ``Export``
queued behind it must not switch it on again. ``Export`` is applied only while EVerest's
heartbeat for this module is alive. Per the spec, while the module cannot be reached the last
mode and set-point are kept and applied again once it answers, and only then is
``CommunicationFault`` cleared. ``Import`` (V2G) is refused: the modules are unidirectional
(``capabilities.bidirectional = false``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import ClassVar

from josev_hal.devices import DcPowerModule
from josev_hal.errors import DeviceError
from josev_hal.everest import codec
from josev_hal.everest import messages as m
from josev_hal.everest.link import EverestLink
from josev_hal.everest.loop import AdapterLoop
from josev_hal.everest.monitor import ErrorRegistry
from josev_hal.profile import DcLimits

__all__ = ["PowerSupplyAdapter", "error_for_fault"]

log = logging.getLogger(__name__)

API = codec.ApiType.POWER_SUPPLY_DC.value
E = m.PsuErrorType

_REPORT_EVERY_S = 1.0
_DEADBAND_V = 1.0
_DEADBAND_A = 0.5


def error_for_fault(name: str) -> m.PsuErrorType:
    """The interface error for a module fault name (``output_overvoltage`` ...)."""
    if "temperature" in name and "derating" not in name:
        return E.OVER_TEMPERATURE
    if "input" in name:
        if "overvoltage" in name:
            return E.OVER_VOLTAGE_AC
        if "undervoltage" in name or "phase_lost" in name:
            return E.UNDER_VOLTAGE_AC
    if "overvoltage" in name:
        return E.OVER_VOLTAGE_DC
    if "undervoltage" in name:
        return E.UNDER_VOLTAGE_DC
    if "overcurrent" in name or "short_circuit" in name:
        return E.OVER_CURRENT_DC
    if "derating" in name:
        return E.VENDOR_WARNING
    return E.HARDWARE_FAULT


class PowerSupplyAdapter(AdapterLoop):
    thread_kind: ClassVar[str] = "psu"

    def __init__(
        self,
        link: EverestLink,
        module: DcPowerModule,
        module_id: str,
        *,
        limits: DcLimits | None = None,
        interval_s: float = 0.25,
    ) -> None:
        super().__init__(module_id, interval_s)
        self.link = link
        self.module = module
        self.limits = limits
        self.interval_s = interval_s
        self.errors = ErrorRegistry(link, API, module_id, m.PsuError)
        self._lock = threading.Lock()
        self._want_export = False
        self._setpoint: tuple[float, float] = (0.0, 0.0)
        self._alive = False
        self._applied_export: bool | None = None
        self._applied_setpoint: tuple[float, float] | None = None
        self._reported_mode: m.Mode | None = None
        self._republish_mode = False
        self._offline = False
        self._last_vc: tuple[float, float, float] | None = None  # (V, A, time)
        self._reported_faults: set[str] = set()

    def register(self) -> None:
        self.link.route(API, self.module_id, "mode", self._on_mode)
        self.link.route(API, self.module_id, "export_voltage_current", self._on_export)
        self.link.route(API, self.module_id, "import_voltage_current", self._on_import)

    def stop(self) -> None:
        self._halt_loop()
        try:
            self.module.enable(False)
        except DeviceError as exc:
            log.error("everest psu=%s switch-off on stop failed: %s", self.module_id, exc)

    def capabilities(self) -> m.Capabilities:
        caps = self.module.capabilities
        lim = self.limits
        max_v = min(caps.max_voltage_v, lim.max_voltage_v) if lim else caps.max_voltage_v
        max_a = min(caps.max_current_a, lim.max_current_a) if lim else caps.max_current_a
        max_w = min(caps.max_power_w, lim.max_power_w) if lim else caps.max_power_w
        tolerance = lim.current_reg_tolerance_a if lim and lim.current_reg_tolerance_a is not None else 1.0
        return m.Capabilities(
            bidirectional=False,
            max_export_voltage_V=max_v,
            min_export_voltage_V=caps.min_voltage_v,
            max_export_current_A=max_a,
            min_export_current_A=caps.min_current_a,
            max_export_power_W=max_w,
            current_regulation_tolerance_A=tolerance,
            peak_current_ripple_A=lim.peak_current_ripple_a if lim else 0.0,
            conversion_efficiency_export=0.95,
        )

    def publish_state(self) -> None:
        """Capabilities now; the mode from the adapter's thread (it alone publishes the mode, so
        a re-published one cannot overtake a newer one)."""
        self.link.publish(API, self.module_id, "capabilities", self.capabilities())
        with self._lock:
            self._republish_mode = True
        self._wake.set()

    def on_alive_change(self, alive: bool) -> None:
        with self._lock:
            self._alive = alive
            if not alive:
                self._want_export = False  # EVerest must ask again once it is back
        self._wake.set()

    # -- commands (worker thread) ------------------------------------------------------------------

    def _on_mode(self, request: m.ModeRequest) -> None:
        mode = request.mode
        if mode is m.Mode.IMPORT:
            log.warning(
                "everest psu=%s mode Import refused: the power module is unidirectional", self.module_id
            )
            mode = m.Mode.OFF
        with self._lock:
            self._want_export = mode is m.Mode.EXPORT
        log.info("everest psu=%s mode=%s phase=%s", self.module_id, request.mode, request.charging_phase)
        self._wake.set()

    def _on_export(self, value: m.VoltageCurrent) -> None:
        caps = self.capabilities()
        voltage = min(max(value.voltage_V, 0.0), caps.max_export_voltage_V)
        current = min(max(value.current_A, 0.0), caps.max_export_current_A)
        if (voltage, current) != (value.voltage_V, value.current_A):
            log.warning(
                "everest psu=%s set-point %.1f V %.1f A clamped to %.1f V %.1f A (capabilities)",
                self.module_id,
                value.voltage_V,
                value.current_A,
                voltage,
                current,
            )
        with self._lock:
            self._setpoint = (voltage, current)
        self._wake.set()

    def _on_import(self, value: m.VoltageCurrent) -> None:
        log.warning("everest psu=%s import_voltage_current ignored: no import (V2G) support", self.module_id)

    # -- the adapter's thread ----------------------------------------------------------------------

    def _step(self) -> None:
        try:
            self._cycle()
        except Exception:
            log.exception("everest psu=%s cycle failed; switching off", self.module_id)
            try:
                self.module.enable(False)
            except DeviceError:
                pass

    def _cycle(self) -> None:
        with self._lock:
            export = self._want_export and self._alive
            setpoint = self._setpoint
        try:
            if setpoint != self._applied_setpoint or (self._offline and export):
                low_v = self.module.capabilities.min_voltage_v
                voltage = setpoint[0] if setpoint[0] >= low_v else 0.0
                self.module.set_target(voltage, setpoint[1])
                self._applied_setpoint = setpoint
            if export != self._applied_export or self._offline:
                self.module.enable(export)
                self._applied_export = export
            sample = self.module.read()
        except DeviceError as exc:
            if not self._offline:
                log.error("everest psu=%s unreachable: %s", self.module_id, exc)
            self._offline = True
            self._applied_export = self._applied_setpoint = None  # apply again once back
            self.errors.raise_(E.COMMUNICATION_FAULT, "", str(exc))
            self._report_mode(m.Mode.FAULT)
            return
        if self._offline:
            log.info("everest psu=%s answers again; last mode and set-point applied", self.module_id)
        self._offline = False
        self.errors.clear(E.COMMUNICATION_FAULT)
        faults = set(sample.faults)
        for name in faults - self._reported_faults:
            self.errors.raise_(error_for_fault(name), name, f"power module fault {name}")
        for name in self._reported_faults - faults:
            self.errors.clear(error_for_fault(name), name)
        self._reported_faults = faults
        blocking = any(error_for_fault(f) is not E.VENDOR_WARNING for f in faults)
        if blocking:
            self._report_mode(m.Mode.FAULT)
        else:
            self._report_mode(m.Mode.EXPORT if sample.enabled else m.Mode.OFF)
        now = time.monotonic()
        last = self._last_vc
        if (
            last is None
            or abs(sample.voltage_v - last[0]) > _DEADBAND_V
            or abs(sample.current_a - last[1]) > _DEADBAND_A
            or now - last[2] >= _REPORT_EVERY_S
        ):
            self._last_vc = (sample.voltage_v, sample.current_a, now)
            self.link.publish(
                API,
                self.module_id,
                "voltage_current",
                m.VoltageCurrent(voltage_V=sample.voltage_v, current_A=sample.current_a),
            )

    def _report_mode(self, mode: m.Mode) -> None:
        with self._lock:
            changed = mode != self._reported_mode or self._republish_mode
            self._reported_mode = mode
            self._republish_mode = False
        if changed:
            self.link.publish(API, self.module_id, "mode", mode)
