"""``isolation_monitor``: start/stop recurring measurements, the self test, results.

While started, the adapter publishes ``isolation_measurement`` every ``interval_s`` once the IMD
has a result. The spec wants resistances, not verdicts ("EvseManager will interpret them
according to the limits"). An IMD that only signals through digital outputs (valid / warning /
fault relays) gives no resistance; for it the adapter reports the *lower bound* its verdict
guarantees under IEC 61851-23 at the EVSE's maximum output voltage ``band_voltage_v``: valid ->
500 ohm/V x V, warning -> 100 ohm/V x V, fault -> 0 ohm. EvseManager applying the same limits then
reaches the IMD's verdict, never a better one. Without ``band_voltage_v`` such an IMD raises
``VendorError`` (sub_type ``no_resistance``) instead. A driver that cannot be read raises
``CommunicationFault`` until it answers again.
"""

from __future__ import annotations

import logging
import threading
from typing import ClassVar

from josev_hal.devices import IsolationMonitor, IsolationStatus
from josev_hal.errors import DeviceError
from josev_hal.everest import codec
from josev_hal.everest import messages as m
from josev_hal.everest.link import EverestLink
from josev_hal.everest.loop import AdapterLoop
from josev_hal.everest.monitor import ErrorRegistry

__all__ = ["IsolationAdapter"]

log = logging.getLogger(__name__)

API = codec.ApiType.ISOLATION_MONITOR.value
E = m.ImdErrorType

# IEC 61851-23 isolation limits: >= 500 ohm/V valid, 100-500 ohm/V warning, below 100 ohm/V fault.
_BAND_OHM_PER_V = {IsolationStatus.VALID: 500.0, IsolationStatus.WARNING: 100.0, IsolationStatus.FAULT: 0.0}


class IsolationAdapter(AdapterLoop):
    thread_kind: ClassVar[str] = "imd"

    def __init__(
        self,
        link: EverestLink,
        imd: IsolationMonitor,
        module_id: str,
        *,
        interval_s: float = 1.0,
        voltage_source: object | None = None,
        band_voltage_v: float | None = None,
    ) -> None:
        super().__init__(module_id, interval_s)
        self.link = link
        self.imd = imd
        self.interval_s = interval_s
        self.voltage_source = voltage_source  # a DcPowerModule whose output voltage is reported
        self.band_voltage_v = band_voltage_v
        self.errors = ErrorRegistry(link, API, module_id, m.ImdError)
        self.active = False
        self.published = 0
        self._lock = threading.Lock()

    def register(self) -> None:
        self.link.route(API, self.module_id, "start", self._on_start)
        self.link.route(API, self.module_id, "stop", self._on_stop)
        self.link.route(API, self.module_id, "start_self_test", self._on_self_test)

    def stop(self) -> None:
        self._halt_loop()
        try:
            self.imd.stop()
        except DeviceError as exc:
            log.error("everest imd=%s stop failed: %s", self.module_id, exc)

    # -- commands (worker thread) ------------------------------------------------------------------

    def _on_start(self, _: None) -> None:
        try:
            self.imd.start()
        except DeviceError as exc:
            self.errors.raise_(E.COMMUNICATION_FAULT, "start", str(exc))
            return
        self.errors.clear(E.COMMUNICATION_FAULT, "start")
        with self._lock:
            self.active = True
        log.info("everest imd=%s measuring", self.module_id)
        self._wake.set()

    def _on_stop(self, _: None) -> None:
        with self._lock:
            self.active = False
        try:
            self.imd.stop()
        except DeviceError as exc:
            self.errors.raise_(E.COMMUNICATION_FAULT, "stop", str(exc))
            return
        self.errors.clear(E.COMMUNICATION_FAULT, "stop")
        log.info("everest imd=%s stopped", self.module_id)

    def _on_self_test(self, voltage_v: float) -> None:
        try:
            passed = self.imd.self_test()
        except DeviceError as exc:
            log.error("everest imd=%s self test failed: %s", self.module_id, exc)
            passed = False
        self.errors.set(not passed, E.DEVICE_FAULT, "self_test", "IMD self test failed")
        log.info("everest imd=%s self_test at %.0f V passed=%s", self.module_id, voltage_v, passed)
        self.link.publish(API, self.module_id, "self_test_result", passed)

    # -- measurements ------------------------------------------------------------------------------

    def _step(self) -> None:
        with self._lock:
            active = self.active
        if active:
            self._measure()

    def _measure(self) -> None:
        try:
            sample = self.imd.read()
        except DeviceError as exc:
            self.errors.raise_(E.COMMUNICATION_FAULT, "read", str(exc))
            return
        self.errors.clear(E.COMMUNICATION_FAULT, "read")
        resistance = sample.resistance_ohm
        if resistance is None:
            if sample.status not in _BAND_OHM_PER_V:
                return  # no result yet
            if self.band_voltage_v is None:
                self.errors.raise_(
                    E.VENDOR_ERROR, "no_resistance", f"IMD reports {sample.status} without a resistance value"
                )
                return
            resistance = _BAND_OHM_PER_V[sample.status] * self.band_voltage_v
        measurement = m.IsolationMeasurement(resistance_F_Ohm=resistance)
        voltage = self._voltage()
        if voltage is not None:
            measurement.voltage_V = voltage
        self.published += 1
        self.link.publish(API, self.module_id, "isolation_measurement", measurement)

    def _voltage(self) -> float | None:
        source = self.voltage_source
        read = getattr(source, "read", None)
        if read is None:
            return None
        try:
            return float(read().voltage_v)
        except (DeviceError, AttributeError):
            return None
