"""``powermeter``: the EVSE's meter, polled at ``[meter] interval_s``, each dataset stamped with
the time the meter was *read* (``MeterReading.utc``), never the send time; a meter that does not
answer sends nothing (EVerest sees the values stop) rather than a stale value with a new time.

``start_transaction`` / ``stop_transaction`` drive the meter's signed (Eichrecht, OCMF) transaction
where the driver signs (``Meter.supports_signed``, the Iskra flow); meters without signing answer
``NOT_SUPPORTED``, which EvseManager treats as "no signed metering". The OCMF dataset goes into the
stop reply as ``signed_meter_value``; its public key is also published on ``m2e/public_key_ocmf``.
Both run on their own thread: a signed stop waits for the meter for seconds, and the meter poll
and other commands must not wait behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from josev_hal.devices import Meter, MeterReading, SignedMeterValue, TransactionInfo
from josev_hal.errors import DeviceError
from josev_hal.everest import codec
from josev_hal.everest import messages as m
from josev_hal.everest.link import EverestLink
from josev_hal.everest.loop import AdapterLoop

__all__ = ["PowermeterAdapter", "powermeter_values"]

log = logging.getLogger(__name__)

API = codec.ApiType.POWERMETER.value


def powermeter_values(reading: MeterReading, meter_id: str) -> m.Powermeter | None:
    """The EVerest dataset of one reading (AC per phase, DC in the ``DC`` fields); ``None`` when
    the reading has no import register, which the API requires (never a made-up 0 Wh)."""
    energy_in = reading.energy_import_wh
    if energy_in is None:
        return None
    values = m.Powermeter(
        timestamp=m.wire_time(reading.utc),
        meter_id=meter_id,
        energy_Wh_import=m.Energy(total=energy_in),
    )
    if reading.energy_export_wh is not None:
        values.energy_Wh_export = m.Energy(total=reading.energy_export_wh)
    if reading.power_w is not None:
        values.power_W = m.Power(total=reading.power_w)
    if reading.dc_voltage_v is not None or reading.dc_current_a is not None:
        if reading.dc_voltage_v is not None:
            values.voltage_V = m.Voltage(DC=reading.dc_voltage_v)
        if reading.dc_current_a is not None:
            values.current_A = m.Current(DC=reading.dc_current_a)
    else:
        if reading.voltage_v is not None:
            v = reading.voltage_v
            values.voltage_V = m.Voltage(L1=v.l1, L2=v.l2, L3=v.l3)
        if reading.current_a is not None:
            i = reading.current_a
            values.current_A = m.Current(L1=i.l1, L2=i.l2, L3=i.l3)
        if reading.frequency_hz is not None:
            values.frequency_Hz = m.Frequency(L1=reading.frequency_hz)
    return values


def _signed(value: SignedMeterValue) -> m.SignedMeterValue:
    return m.SignedMeterValue(
        signed_meter_data=value.signed_meter_data,
        signing_method=value.signing_method,
        encoding_method=value.encoding_method,
        public_key=value.public_key,
    )


class PowermeterAdapter(AdapterLoop):
    """The powermeter API module ``module_id`` for one EVSE's meter."""

    thread_kind: ClassVar[str] = "pm"

    def __init__(
        self, link: EverestLink, meter: Meter, module_id: str, *, interval_s: float, evse_id: str
    ) -> None:
        super().__init__(module_id, interval_s)
        self.link = link
        self.meter = meter
        self.interval_s = interval_s
        self.evse_id = evse_id
        self.public_key: str | None = None
        self.transaction_id: str | None = None
        self.last: m.Powermeter | None = None
        self.failures = 0
        self._no_energy_logged = False
        #: ``fn(reading)`` after every successful read (the board support's overcurrent rule)
        self.listeners: list[Callable[[MeterReading], None]] = []
        self._tx = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"everest-pm-tx-{module_id}")

    def register(self) -> None:
        self.link.route(API, self.module_id, "start_transaction", self._on_start)
        self.link.route(API, self.module_id, "stop_transaction", self._on_stop)

    def stop(self) -> None:
        self._halt_loop()
        self._tx.shutdown(wait=False, cancel_futures=True)

    def publish_state(self) -> None:
        if self.public_key is not None:
            self.link.publish(API, self.module_id, "public_key_ocmf", self.public_key)

    # -- polling ---------------------------------------------------------------------------------

    def _step(self) -> None:
        self.poll_once()

    def poll_once(self) -> None:
        try:
            reading = self.meter.read()
        except DeviceError as exc:
            self.failures += 1
            if self.failures == 1 or self.failures % 30 == 0:
                log.warning(
                    "everest powermeter=%s read failed (%d in a row): %s", self.module_id, self.failures, exc
                )
            return
        if self.failures:
            log.info("everest powermeter=%s answers again after %d failures", self.module_id, self.failures)
        self.failures = 0
        for listener in list(self.listeners):
            listener(reading)
        values = powermeter_values(reading, self.meter.device_id)
        if values is None:
            if not self._no_energy_logged:
                log.error(
                    "everest powermeter=%s: the meter gives no import energy register; "
                    "EVerest's powermeter_values require it, nothing is sent",
                    self.module_id,
                )
                self._no_energy_logged = True
            return
        self.last = values
        self.link.publish(API, self.module_id, "powermeter_values", values)

    # -- transactions ----------------------------------------------------------------------------

    def _on_start(self, request: m.StartTransactionEnvelope) -> None:
        self._tx.submit(self._start, request)

    def _on_stop(self, request: m.StopTransactionEnvelope) -> None:
        self._tx.submit(self._stop_tx, request)

    @staticmethod
    def _reply_to(request: Any) -> str | None:
        headers = request.headers
        if isinstance(headers, m.Headers) and isinstance(headers.replyTo, str):
            return headers.replyTo
        return None

    def _reply(self, request: Any, payload: Any) -> None:
        reply_to = self._reply_to(request)
        if reply_to is not None:
            self.link.publish_raw(reply_to, codec.encode(payload))

    def _start(self, request: m.StartTransactionEnvelope) -> None:
        p = request.payload
        if not self.meter.supports_signed:
            self.transaction_id = p.transaction_id
            self._reply(request, m.StartTransactionReply(status=m.TransactionStatus.NOT_SUPPORTED))
            return
        data = p.identification_data if isinstance(p.identification_data, str) else None
        tx = TransactionInfo(
            transaction_id=p.transaction_id,
            evse_id=p.evse_id or self.evse_id,
            id_token=data,
            id_token_type=p.identification_type.value if data else None,
        )
        try:
            self.meter.begin_transaction(tx)
        except DeviceError as exc:
            log.error("everest powermeter=%s start_transaction failed: %s", self.module_id, exc)
            self._reply(
                request, m.StartTransactionReply(status=m.TransactionStatus.UNEXPECTED_ERROR, error=str(exc))
            )
            return
        self.transaction_id = p.transaction_id
        self._reply(request, m.StartTransactionReply(status=m.TransactionStatus.OK))

    def _stop_tx(self, request: m.StopTransactionEnvelope) -> None:
        tx_id = request.payload.transaction_id
        if not self.meter.supports_signed:
            self.transaction_id = None
            self._reply(request, m.StopTransactionReply(status=m.TransactionStatus.NOT_SUPPORTED))
            return
        if self.transaction_id != tx_id:
            error = f"no signed transaction {tx_id!r} is open on this meter"
            self._reply(
                request, m.StopTransactionReply(status=m.TransactionStatus.UNEXPECTED_ERROR, error=error)
            )
            return
        try:
            signed = self.meter.end_transaction()
        except DeviceError as exc:
            log.error("everest powermeter=%s stop_transaction failed: %s", self.module_id, exc)
            self._reply(
                request, m.StopTransactionReply(status=m.TransactionStatus.UNEXPECTED_ERROR, error=str(exc))
            )
            return
        self.transaction_id = None
        energy = next((s for s in signed if s.measurand.startswith("Energy.Active.Import")), None)
        if energy is None:
            self._reply(
                request,
                m.StopTransactionReply(
                    status=m.TransactionStatus.UNEXPECTED_ERROR,
                    error="the meter returned no signed energy value",
                ),
            )
            return
        if energy.public_key and energy.public_key != self.public_key:
            self.public_key = energy.public_key
            self.link.publish(API, self.module_id, "public_key_ocmf", energy.public_key)
        self._reply(
            request, m.StopTransactionReply(status=m.TransactionStatus.OK, signed_meter_value=_signed(energy))
        )
