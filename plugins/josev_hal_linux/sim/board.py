"""A simulated Linux AC charge controller wired from the gpiod double and the sysfs tree.

:class:`SimLinuxAcBoard` is a Tarragon-like AC board: CP generator on a PWM channel, CP
positive/negative peak detectors on IIO channels with reset lines, PP on an IIO channel,
contactor coil and mirror contact, RCD trip/test, connector lock with position switch, an NTC and
a DS18B20. A refresher thread recomputes the ADC files from what the driver wrote into the PWM
attributes and from the EV. The CP/PP front-end physics is the core's
(:mod:`josev_hal.pilots_sim`), shared with the I2C board simulator.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from josev_hal.pilots_sim import EV_STATE_LEVEL_V, REFERENCE_CP_SHIFTER, LevelShifter, SimPpLine

from .gpiod_api import SimGpiod
from .sysfs import SimSysfs

__all__ = ["ADC_BITS", "ADC_SCALE_MV", "SimLinuxAcBoard", "ntc_celsius_to_ohm"]


def ntc_celsius_to_ohm(celsius: float, *, r25_ohm: float = 10_000.0, beta: float = 3950.0) -> float:
    """NTC resistance at ``celsius`` by the Beta equation (the inverse of what the driver uses)."""
    t = celsius + 273.15
    return r25_ohm * math.exp(beta * (1.0 / t - 1.0 / 298.15))


#: IIO ADC of the simulated board: 12 bits, 3.3 V reference (like Tarragon's).
ADC_BITS = 12
ADC_SCALE_MV = 3300.0 / 4096


@dataclass
class _CpModel:
    shifter: LevelShifter = REFERENCE_CP_SHIFTER
    ev_state: str = "A"
    diode_ok: bool = True


class SimLinuxAcBoard:
    """A Linux AC charge controller (one EVSE): see the module docstring and
    ``boards/linux-gpio-iio-pwm.toml`` for the wiring. ``with SimLinuxAcBoard(tmp) as sim:`` then
    give ``sim.gpiod`` to the ``linux`` bus and point its ``sysfs_root`` / ``gpio_dev_dir`` at
    ``sim.sysfs_root`` / ``sim.dev_dir``."""

    #: Line names of the simulated SoC GPIO chip (the profile addresses them by name).
    LINES = (
        "CONTACTOR",
        "CONTACTOR_FEEDBACK",
        "RCD_FAULT",
        "RCD_TEST",
        "LOCK_MOTOR_A",
        "LOCK_MOTOR_B",
        "LOCK_FEEDBACK",
        "CP_POSITIVE_PEAK_RST",
        "CP_NEGATIVE_PEAK_RST",
        "CP_STATE_E",
        None,
        "SPARE_IN",
    )

    def __init__(
        self,
        root: str | Path,
        *,
        contactor_delay_s: float = 0.03,
        export_delay_s: float = 0.02,
        ntc_celsius: float = 25.0,
        ds18b20_celsius: float = 25.0,
    ) -> None:
        self.root = Path(root)
        self.sysfs_root = self.root / "sys"
        self.dev_dir = self.root / "dev"
        self.gpiod = SimGpiod(self.dev_dir)
        self.chip = self.gpiod.add_chip("sim-soc-gpio", self.LINES)
        self.sysfs = SimSysfs(self.sysfs_root, export_delay_s=export_delay_s)
        self.pwm_chip = self.sysfs.add_pwm_chip(npwm=2)
        # Channels 0/1 CP peak detectors, 2 PP, 3 NTC, 4 CP itself (for buffered capture).
        self.adc = self.sysfs.add_iio_device(
            "sim-adc", range(5), scale_mv=ADC_SCALE_MV, bits=ADC_BITS, buffer_dev_dir=self.dev_dir
        )
        #: Trigger rate of the simulated buffered capture (20 samples per 1 kHz CP period).
        self.sample_rate_hz = 20_000
        self.cp = _CpModel()
        self.pp = SimPpLine(pull_up_ohm=1000.0, reference_v=3.3)
        self.ntc_celsius: float | None = ntc_celsius
        self.ds18b20_serial = "28-00000abcdef0"
        self.sysfs.add_ds18b20(self.ds18b20_serial, ds18b20_celsius)
        self.contactor_delay_s = contactor_delay_s
        self.welded = False
        self.stuck_open = False
        self.rcd_tripped = False
        self.rcd_test_trips = True
        self.lock_locked = False
        self.resets: dict[str, int] = {"positive": 0, "negative": 0}
        self._last_generator: tuple[str, float | None] = ("f", None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.chip.on_output(self._on_output)
        # The RCD fault output idles low; the mirror contact with its pull-up reads "main
        # contacts open" (low here: the board inverts it, the profile sets active_low = false).
        self.chip.drive("RCD_FAULT", False)
        self.chip.drive("CONTACTOR_FEEDBACK", False)
        self.chip.drive("LOCK_FEEDBACK", False)
        self._refresher = threading.Thread(target=self._refresh_loop, name="sim-linux-board", daemon=True)
        self._refresher.start()
        self._sampler = threading.Thread(target=self._buffer_loop, name="sim-iio-buffer", daemon=True)
        self._sampler.start()

    # -- the EV and the world -----------------------------------------------------------------------
    def set_ev_state(self, state: str) -> None:
        if state not in EV_STATE_LEVEL_V:
            raise ValueError(f"EV state must be one of {sorted(EV_STATE_LEVEL_V)}")
        self.cp.ev_state = state
        self.refresh()

    def plug(self, rc_ohm: float = 220.0) -> None:
        """Plug a cable (Rc 220 ohm = 32 A) and an EV in state B."""
        self.pp.rc_ohm = rc_ohm
        self.set_ev_state("B")

    def unplug(self) -> None:
        self.pp.rc_ohm = None
        self.set_ev_state("A")

    def trip_rcd(self, tripped: bool = True) -> None:
        self.rcd_tripped = tripped
        self.chip.drive("RCD_FAULT", tripped)

    def set_ntc(self, celsius: float | None) -> None:
        """``None``: the NTC is disconnected (its ADC input reads full scale)."""
        self.ntc_celsius = celsius
        self.refresh()

    def set_ds18b20(self, celsius: float | None) -> None:
        self.sysfs.set_ds18b20(self.ds18b20_serial, celsius)

    def contactor_closed(self) -> bool:
        """The main contacts: follow the coil, unless welded (stay closed) or stuck open."""
        if self.welded:
            return True
        return self.chip.output("CONTACTOR") and not self.stuck_open

    def weld(self, welded: bool = True) -> None:
        """Welded main contacts: closed from now on, whatever the coil does."""
        self.welded = welded
        self.chip.drive("CONTACTOR_FEEDBACK", self.contactor_closed())

    def stick_open(self, stuck: bool = True) -> None:
        """A coil fault: the contactor never closes."""
        self.stuck_open = stuck
        self.chip.drive("CONTACTOR_FEEDBACK", self.contactor_closed())

    def fail_gpio(self, failed: bool = True) -> None:
        """The GPIO chip stops answering (unbound driver, dead expander): every line access is
        an ``OSError(ENODEV)``."""
        self.chip.failed = failed

    # -- what the driver wrote ------------------------------------------------------------------------
    def generator(self) -> tuple[str, float | None]:
        """What the CP output stage outputs: ``("x1"|"pwm"|"f"|"e", duty)``."""
        if self.chip.output("CP_STATE_E"):
            return "e", None
        try:
            attrs = self.sysfs.pwm(0, 0)
        except ValueError:
            return self._last_generator
        if attrs is None or attrs["enable"] != "1":
            return "f", None  # output stage unpowered by PWM: the comparator sits at -12 V
        try:
            period, duty = int(attrs["period"]), int(attrs["duty_cycle"])
        except ValueError:
            # An attribute caught between truncate and write (a plain file here, not a kernel
            # attribute): the output stage keeps doing what it did.
            return self._last_generator
        if period <= 0:
            return "f", None
        fraction = duty / period
        if attrs["polarity"] == "inversed":
            fraction = 1.0 - fraction
        result: tuple[str, float | None]
        if fraction >= 1.0:
            result = ("x1", None)
        elif fraction <= 0.0:
            result = ("f", None)
        else:
            result = ("pwm", fraction * 100.0)
        self._last_generator = result
        return result

    def plateaus(self) -> tuple[float, float]:
        mode, _duty = self.generator()
        if mode == "e" or self.cp.ev_state == "E":
            return 0.0, 0.0
        if mode == "f":
            return -12.0, -12.0
        high = EV_STATE_LEVEL_V[self.cp.ev_state]
        if mode == "x1":
            return high, high
        low = -12.0 if self.cp.diode_ok or self.cp.ev_state == "A" else -high
        return high, low

    # -- plumbing -------------------------------------------------------------------------------------
    def _on_output(self, offset: int, level: bool) -> None:
        name = self.chip.lines[offset].name
        if name == "CONTACTOR":

            def follow() -> None:
                self.chip.drive("CONTACTOR_FEEDBACK", self.contactor_closed())

            if self.welded and not level:
                return
            timer = threading.Timer(self.contactor_delay_s, follow)
            timer.daemon = True
            timer.start()
        elif name == "RCD_TEST" and level and self.rcd_test_trips:
            self.chip.drive("RCD_FAULT", True)

            def release() -> None:
                self.chip.drive("RCD_FAULT", self.rcd_tripped)

            timer = threading.Timer(0.05, release)
            timer.daemon = True
            timer.start()
        elif name in ("LOCK_MOTOR_A", "LOCK_MOTOR_B") and level:
            self.lock_locked = name == "LOCK_MOTOR_A"
            locked = self.lock_locked

            def settle() -> None:
                self.chip.drive("LOCK_FEEDBACK", locked)

            timer = threading.Timer(0.05, settle)
            timer.daemon = True
            timer.start()
        elif name == "CP_POSITIVE_PEAK_RST" and level:
            self.resets["positive"] += 1
        elif name == "CP_NEGATIVE_PEAK_RST" and level:
            self.resets["negative"] += 1
        elif name == "CP_STATE_E":
            self.refresh()

    def refresh(self) -> None:
        """Recompute the ADC inputs from the generator and the EV."""
        with self._lock:
            positive, negative = self.plateaus()
            shifter = self.cp.shifter
            self.sysfs.set_iio_mv(
                self.adc, 0, shifter.adc_v(positive) * 1000, scale_mv=ADC_SCALE_MV, bits=ADC_BITS
            )
            self.sysfs.set_iio_mv(
                self.adc, 1, shifter.adc_v(negative) * 1000, scale_mv=ADC_SCALE_MV, bits=ADC_BITS
            )
            self.sysfs.set_iio_mv(self.adc, 2, self.pp.adc_v() * 1000, scale_mv=ADC_SCALE_MV, bits=ADC_BITS)
            # NTC to GND with a 10 k pull-up to 3.3 V; open = full scale.
            if self.ntc_celsius is None:
                ntc_mv = 3300.0
            else:
                r = ntc_celsius_to_ohm(self.ntc_celsius)
                ntc_mv = 3300.0 * r / (r + 10_000.0)
            self.sysfs.set_iio_mv(self.adc, 3, ntc_mv, scale_mv=ADC_SCALE_MV, bits=ADC_BITS)

    def _refresh_loop(self) -> None:
        last: Any = None
        while not self._stop.wait(0.002):
            now = (self.generator(), self.cp.ev_state, self.pp.rc_ohm, self.ntc_celsius)
            if now != last:
                self.refresh()
                last = now

    def cp_waveform(self, n: int, phase: int) -> list[float]:
        """CP volts at ``n`` sample instants (at ``sample_rate_hz``) starting at sample ``phase``."""
        mode, duty = self.generator()
        positive, negative = self.plateaus()
        per_period = self.sample_rate_hz // 1000
        out = []
        for k in range(phase, phase + n):
            if mode == "pwm" and duty is not None:
                high = (k % per_period) < duty / 100.0 * per_period
                out.append(positive if high else negative)
            else:
                out.append(positive)
        return out

    def _buffer_loop(self) -> None:
        fifo = self.dev_dir / self.adc.name
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # RDWR: never blocks, never sees EOF
        phase = 0
        chunk = max(1, self.sample_rate_hz // 200)  # 5 ms of samples per write
        try:
            while not self._stop.wait(chunk / self.sample_rate_hz):
                scan = self.adc / "scan_elements"
                try:
                    if (self.adc / "buffer" / "enable").read_text().strip() != "1":
                        continue
                    enabled = sorted(
                        int(f.name[len("in_voltage") : -len("_en")])
                        for f in scan.glob("in_voltage*_en")
                        if f.read_text().strip() == "1"
                    )
                except (OSError, ValueError):
                    continue  # attributes being written by the driver
                cp = self.cp_waveform(chunk, phase)
                phase += chunk
                statics = self._static_mv()
                frames = bytearray()
                for i in range(chunk):
                    for ch in enabled:
                        mv = self.cp.shifter.adc_v(cp[i]) * 1000 if ch == 4 else statics.get(ch, 0.0)
                        raw = max(0, min((1 << ADC_BITS) - 1, round(mv / ADC_SCALE_MV)))
                        frames += raw.to_bytes(2, "little")
                try:
                    os.write(fd, bytes(frames))
                except BlockingIOError:
                    pass  # nobody reads: the kernel buffer overruns, samples are lost
        finally:
            os.close(fd)

    def _static_mv(self) -> dict[int, float]:
        positive, negative = self.plateaus()
        return {
            0: self.cp.shifter.adc_v(positive) * 1000,
            1: self.cp.shifter.adc_v(negative) * 1000,
            2: self.pp.adc_v() * 1000,
        }

    def close(self) -> None:
        self._stop.set()
        self._refresher.join(timeout=2.0)
        self._sampler.join(timeout=2.0)
        self.sysfs.close()

    def __enter__(self) -> SimLinuxAcBoard:
        self.refresh()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
