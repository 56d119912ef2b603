"""A temporary sysfs tree with PWM chips, IIO ADCs and 1-wire sensors.

:class:`SimSysfs` builds ``class/pwm/pwmchipN`` (``npwm``, ``export``/``unexport`` creating
``pwmM/`` with ``period``, ``duty_cycle``, ``polarity``, ``enable``), ``bus/iio/devices/
iio:deviceN`` (``name``, ``in_voltageX_raw``/``_scale``/``_offset``) and
``bus/w1/devices/<id>/temperature`` under a temporary root. The export of a PWM channel appears
after a configurable delay, like udev creating the attributes late (the export race).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = ["SimSysfs"]


def _write_atomic(path: Path, text: str) -> None:
    """Replace a file in one step, so a reader never sees it half-written (sysfs attributes
    are always read whole)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class SimSysfs:
    """A sysfs tree under ``root`` with PWM chips, IIO ADCs and 1-wire sensors."""

    def __init__(self, root: str | Path, *, export_delay_s: float = 0.0) -> None:
        self.root = Path(root)
        self.export_delay_s = export_delay_s
        (self.root / "class" / "pwm").mkdir(parents=True, exist_ok=True)
        (self.root / "bus" / "iio" / "devices").mkdir(parents=True, exist_ok=True)
        (self.root / "bus" / "w1" / "devices").mkdir(parents=True, exist_ok=True)
        self._stop = threading.Event()
        self._pwm_chips: list[Path] = []
        self._removed: set[tuple[Path, int]] = set()
        self._watcher = threading.Thread(target=self._watch_exports, name="sim-sysfs", daemon=True)
        self._watcher.start()

    # -- PWM ----------------------------------------------------------------------------------------
    def add_pwm_chip(self, npwm: int = 2) -> Path:
        chip = self.root / "class" / "pwm" / f"pwmchip{len(self._pwm_chips)}"
        chip.mkdir(parents=True)
        (chip / "npwm").write_text(f"{npwm}\n")
        (chip / "export").write_text("")
        (chip / "unexport").write_text("")
        self._pwm_chips.append(chip)
        return chip

    def pwm(self, chip: int, channel: int) -> dict[str, str] | None:
        """Attributes of an exported channel (``None`` when not exported)."""
        d = self.root / "class" / "pwm" / f"pwmchip{chip}" / f"pwm{channel}"
        if not (d / "enable").exists():
            return None
        out = {}
        for name in ("period", "duty_cycle", "polarity", "enable"):
            try:
                out[name] = (d / name).read_text().strip()
            except FileNotFoundError:
                return None
            if not out[name]:
                raise ValueError(f"pwm{channel}/{name} is being written")
        return out

    def _watch_exports(self) -> None:
        # The kernel creates pwmN/ when N is written to export; here a write into the export file
        # is picked up (and cleared) by this thread, after export_delay_s.
        while not self._stop.wait(0.002):
            for chip in list(self._pwm_chips):
                for verb in ("export", "unexport"):
                    f = chip / verb
                    try:
                        text = f.read_text().strip()
                    except FileNotFoundError:
                        continue
                    if not text:
                        continue
                    f.write_text("")
                    try:
                        channel = int(text.split()[-1])
                    except ValueError:
                        continue
                    if verb == "export":
                        self._export(chip, channel)
                    else:
                        self._unexport(chip, channel)

    def _export(self, chip: Path, channel: int) -> None:
        d = chip / f"pwm{channel}"
        if d.exists():
            return
        if self.export_delay_s:
            time.sleep(self.export_delay_s)
        d.mkdir()
        for name, value in (("period", "0"), ("duty_cycle", "0"), ("polarity", "normal"), ("enable", "0")):
            (d / name).write_text(f"{value}\n")

    def _unexport(self, chip: Path, channel: int) -> None:
        d = chip / f"pwm{channel}"
        if not d.exists():
            return
        for f in d.iterdir():
            f.unlink()
        d.rmdir()

    # -- IIO -----------------------------------------------------------------------------------------
    def add_iio_device(
        self,
        name: str,
        channels: Iterable[int],
        *,
        scale_mv: float,
        bits: int = 12,
        buffer_dev_dir: Path | None = None,
    ) -> Path:
        """An ADC with ``in_voltageN_raw`` per channel. With ``buffer_dev_dir`` it also offers
        buffered capture: ``scan_elements`` (``le:u<bits>/16>>0``), ``buffer/{enable,length}``
        and its character device as a FIFO ``<buffer_dev_dir>/iio:deviceN``."""
        n = len(list((self.root / "bus" / "iio" / "devices").iterdir()))
        d = self.root / "bus" / "iio" / "devices" / f"iio:device{n}"
        d.mkdir()
        (d / "name").write_text(f"{name}\n")
        (d / "in_voltage_scale").write_text(f"{scale_mv:.9f}\n")
        for ch in channels:
            (d / f"in_voltage{ch}_raw").write_text("0\n")
        if buffer_dev_dir is not None:
            (d / "scan_elements").mkdir()
            (d / "buffer").mkdir()
            for ch in channels:
                (d / "scan_elements" / f"in_voltage{ch}_en").write_text("0\n")
                (d / "scan_elements" / f"in_voltage{ch}_index").write_text(f"{ch}\n")
                (d / "scan_elements" / f"in_voltage{ch}_type").write_text(f"le:u{bits}/16>>0\n")
            (d / "buffer" / "enable").write_text("0\n")
            (d / "buffer" / "length").write_text("0\n")
            buffer_dev_dir.mkdir(parents=True, exist_ok=True)
            os.mkfifo(buffer_dev_dir / d.name)
        return d

    def set_iio_mv(
        self, device: Path, channel: int, millivolts: float, *, scale_mv: float, bits: int
    ) -> None:
        """Set a channel's input (a removed channel stays removed until restored)."""
        if (device, channel) in self._removed:
            return
        raw = max(0, min((1 << bits) - 1, round(millivolts / scale_mv)))
        _write_atomic(device / f"in_voltage{channel}_raw", f"{raw}\n")

    def remove_iio_channel(self, device: Path, channel: int) -> None:
        """The channel disappears (ADC driver unbound) until :meth:`restore_iio_channel`."""
        self._removed.add((device, channel))
        (device / f"in_voltage{channel}_raw").unlink(missing_ok=True)

    def restore_iio_channel(self, device: Path, channel: int) -> None:
        self._removed.discard((device, channel))

    # -- 1-wire --------------------------------------------------------------------------------------
    def add_ds18b20(self, serial: str, celsius: float) -> Path:
        d = self.root / "bus" / "w1" / "devices" / serial
        d.mkdir()
        self.set_ds18b20(serial, celsius)
        return d

    def set_ds18b20(self, serial: str, celsius: float | None) -> None:
        """``None``: the sensor disappears from the bus (its directory goes away)."""
        d = self.root / "bus" / "w1" / "devices" / serial
        if celsius is None:
            for f in d.iterdir() if d.exists() else ():
                f.unlink()
            if d.exists():
                d.rmdir()
            return
        d.mkdir(exist_ok=True)
        _write_atomic(d / "temperature", f"{round(celsius * 1000)}\n")

    def close(self) -> None:
        self._stop.set()
        self._watcher.join(timeout=2.0)
