"""Linux PWM (``/sys/class/pwm``) and IIO ADC (``/sys/bus/iio/devices``) through sysfs.

PWM: a channel ``pwmchipN/pwmM`` appears after ``M`` is written to ``pwmchipN/export``. The
directory (and write permission on its attributes, which udev fixes up afterwards) can come
later than the write returns: :meth:`SysfsPwm.export` waits for it instead of failing on the
first ``ENOENT``/``EACCES`` (the export race), and treats ``EBUSY`` from ``export`` as "already
exported" (by us before a crash, or by the boot scripts). Attribute order matters to the kernel:
``duty_cycle`` must never exceed ``period``, and ``polarity`` only changes while disabled.

IIO: a channel value in millivolts is ``(raw + offset) * scale`` with ``in_voltageX_raw``, the
channel's ``in_voltageX_scale`` or the device-wide ``in_voltage_scale``, and the optional
``_offset`` file (ABI: Documentation/ABI/testing/sysfs-bus-iio). A device is named by its
directory (``iio:device0``) or by the content of its ``name`` file.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import select
import time
from pathlib import Path

from josev_hal.errors import BusError

__all__ = ["IioBuffer", "IioChannel", "SysfsPwm", "find_iio_device", "read_attr", "write_attr"]

log = logging.getLogger(__name__)


def read_attr(path: Path) -> str:
    """One sysfs attribute, stripped. Raises OSError."""
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def write_attr(path: Path, value: str) -> None:
    """Write one attribute in a single write (sysfs takes the whole value per write)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode("ascii"))
    finally:
        os.close(fd)


class SysfsPwm:
    """One PWM channel."""

    def __init__(self, root: Path, chip: int, channel: int, *, export_timeout_s: float = 2.0) -> None:
        self.chip_dir = root / "class" / "pwm" / f"pwmchip{chip}"
        self.channel = channel
        self.dir = self.chip_dir / f"pwm{channel}"
        self.export_timeout_s = export_timeout_s
        self._period_ns = 0
        self._duty_ns = -1
        self._enabled: bool | None = None
        self._polarity: str | None = None

    def describe(self) -> str:
        return f"{self.chip_dir.name}/pwm{self.channel}"

    def export(self) -> None:
        """Export the channel and wait until its attributes are writable. Raises BusError."""
        if not self.chip_dir.is_dir():
            raise BusError(f"{self.chip_dir}: no such PWM chip")
        try:
            npwm = int(read_attr(self.chip_dir / "npwm"))
        except (OSError, ValueError) as exc:
            raise BusError(f"{self.chip_dir}/npwm unreadable: {exc}") from exc
        if not 0 <= self.channel < npwm:
            raise BusError(f"{self.describe()}: the chip has {npwm} channels")
        if not self.dir.is_dir():
            try:
                write_attr(self.chip_dir / "export", str(self.channel))
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise BusError(f"{self.describe()}: export failed: {exc}") from exc
        deadline = time.monotonic() + self.export_timeout_s
        while True:
            enable = self.dir / "enable"
            if enable.exists() and os.access(enable, os.W_OK) and os.access(self.dir / "period", os.W_OK):
                break
            if time.monotonic() > deadline:
                raise BusError(
                    f"{self.describe()}: exported but its attributes did not become writable within "
                    f"{self.export_timeout_s} s (udev rule for the pwm group missing?)"
                )
            time.sleep(0.005)
        self._period_ns, self._duty_ns, self._enabled, self._polarity = 0, -1, None, None

    def configure(self, frequency_hz: float, *, inverted: bool) -> None:
        """Disable, set polarity and period (duty 0). Raises BusError."""
        period = round(1e9 / frequency_hz)
        try:
            self._write("enable", "0")
            self._enabled = False
            current_period = int(read_attr(self.dir / "period") or 0)
            if current_period and current_period < int(read_attr(self.dir / "duty_cycle") or 0):
                self._write("duty_cycle", "0")
            self._write("duty_cycle", "0")
            self._write("period", str(period))
            self._write("polarity", "inversed" if inverted else "normal")
        except (OSError, ValueError) as exc:
            raise BusError(f"{self.describe()}: configure failed: {exc}") from exc
        self._period_ns, self._duty_ns, self._polarity = period, 0, "inversed" if inverted else "normal"

    @property
    def period_ns(self) -> int:
        return self._period_ns

    def set(self, fraction: float) -> None:
        """Duty as a fraction of the period (0..1), enabled. Raises BusError."""
        duty = max(0, min(self._period_ns, round(self._period_ns * fraction)))
        try:
            if duty != self._duty_ns:
                self._write("duty_cycle", str(duty))
                self._duty_ns = duty
            if self._enabled is not True:
                self._write("enable", "1")
                self._enabled = True
        except OSError as exc:
            self._duty_ns = -1  # unknown now: rewrite next time
            self._enabled = None
            raise BusError(f"{self.describe()}: setting duty failed: {exc}") from exc

    def disable(self) -> None:
        try:
            self._write("enable", "0")
            self._enabled = False
        except OSError as exc:
            self._enabled = None
            raise BusError(f"{self.describe()}: disable failed: {exc}") from exc

    def _write(self, name: str, value: str) -> None:
        write_attr(self.dir / name, value)


def find_iio_device(root: Path, device: str) -> Path:
    """The directory of IIO device ``device`` (``iio:device0`` or its ``name``). Raises BusError."""
    base = root / "bus" / "iio" / "devices"
    direct = base / device
    if direct.is_dir():
        return direct
    try:
        entries = sorted(base.iterdir())
    except OSError as exc:
        raise BusError(f"{base}: {exc}") from exc
    for entry in entries:
        try:
            if read_attr(entry / "name") == device:
                return entry
        except OSError:
            continue
    names = []
    for entry in entries:
        try:
            names.append(f"{entry.name} ({read_attr(entry / 'name')})")
        except OSError:
            names.append(entry.name)
    raise BusError(f"no IIO device {device!r} under {base} (found: {', '.join(names) or 'none'})")


class IioChannel:
    """One IIO voltage channel of a device, read as millivolts."""

    def __init__(self, device_dir: Path, channel: str) -> None:
        self.device_dir = device_dir
        self.channel = channel if channel.startswith("in_") else f"in_voltage{channel}"
        self.raw_path = device_dir / f"{self.channel}_raw"
        self._scale: float | None = None
        self._offset = 0.0

    def describe(self) -> str:
        return f"{self.device_dir.name}/{self.channel}"

    def open(self) -> None:
        """Check the channel exists and read its (static) scale and offset. Raises BusError."""
        if not self.raw_path.exists():
            raise BusError(f"{self.describe()}: no such channel ({self.raw_path} missing)")
        scale = self._channel_or_device_attr("scale")
        if scale is not None:
            self._scale = scale
        if self._scale is None:
            self._scale = 1.0  # the ABI's default when a device gives no scale: raw is mV
        offset = self._channel_or_device_attr("offset")
        if offset is not None:
            self._offset = offset

    def _channel_or_device_attr(self, what: str) -> float | None:
        """``<channel>_<what>`` or else the device-wide ``<kind>_<what>`` (the IIO ABI allows
        both for scale and offset); ``None`` when neither exists. Raises BusError when unreadable."""
        kind = self.channel.rstrip("0123456789")  # in_voltage3 -> in_voltage (device-wide files)
        for candidate in (self.device_dir / f"{self.channel}_{what}", self.device_dir / f"{kind}_{what}"):
            try:
                return float(read_attr(candidate))
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                raise BusError(f"{candidate}: unreadable {what}: {exc}") from exc
        return None

    def to_mv(self, raw: int) -> float:
        """A raw sample of this channel (from a buffer) in millivolts."""
        if self._scale is None:
            raise BusError(f"{self.describe()}: not opened")
        return (raw + self._offset) * self._scale

    def read_mv(self) -> float:
        """Convert now. Raises BusError (a channel that vanished is an error, never a stale value)."""
        if self._scale is None:
            raise BusError(f"{self.describe()}: not opened")
        try:
            raw = int(read_attr(self.raw_path))
        except (OSError, ValueError) as exc:
            raise BusError(f"{self.describe()}: read failed: {exc}") from exc
        return (raw + self._offset) * self._scale


_SCAN_TYPE = re.compile(r"^(be|le):([su])(\d+)/(\d+)(?:X\d+)?>>(\d+)$")


class _ScanElement:
    def __init__(self, name: str, index: int, type_text: str) -> None:
        match = _SCAN_TYPE.match(type_text)
        if match is None:
            raise BusError(f"scan element {name}: unsupported type {type_text!r}")
        self.name = name
        self.index = index
        self.big_endian = match.group(1) == "be"
        self.signed = match.group(2) == "s"
        self.bits = int(match.group(3))
        self.storage = int(match.group(4)) // 8
        self.shift = int(match.group(5))
        self.offset = 0

    def decode(self, frame: bytes) -> int:
        raw = int.from_bytes(
            frame[self.offset : self.offset + self.storage], "big" if self.big_endian else "little"
        )
        raw = (raw >> self.shift) & ((1 << self.bits) - 1)
        if self.signed and raw & (1 << (self.bits - 1)):
            raw -= 1 << self.bits
        return raw


class IioBuffer:
    """Buffered (triggered) capture of IIO channels through the device's character device.

    :meth:`open` enables the channels' scan elements, sets ``buffer/length`` and
    ``buffer/enable``; :meth:`read` drops what is queued (old samples) and returns the next
    ``frames`` samples per channel as raw values (convert with the channel's scale / offset).
    The frame layout follows the ABI: enabled elements by index, each aligned to its storage size.
    """

    def __init__(self, device_dir: Path, dev_dir: Path, channels: list[str], *, length: int = 1024) -> None:
        self.device_dir = device_dir
        self.dev_path = dev_dir / device_dir.name
        self.channels = [c if c.startswith("in_") else f"in_voltage{c}" for c in channels]
        self.length = length
        self._fd: int | None = None
        self._elements: list[_ScanElement] = []
        self.frame_size = 0

    def describe(self) -> str:
        return f"{self.device_dir.name} buffer ({', '.join(self.channels)})"

    def open(self) -> None:
        scan = self.device_dir / "scan_elements"
        if not scan.is_dir() or not (self.device_dir / "buffer" / "enable").exists():
            raise BusError(f"{self.device_dir.name}: the device offers no buffered capture")
        try:
            write_attr(self.device_dir / "buffer" / "enable", "0")
            for ch in self.channels:
                write_attr(scan / f"{ch}_en", "1")
            elements = []
            for en in sorted(scan.glob("*_en")):
                if read_attr(en) != "1":
                    continue
                name = en.name[: -len("_en")]
                elements.append(
                    _ScanElement(
                        name, int(read_attr(scan / f"{name}_index")), read_attr(scan / f"{name}_type")
                    )
                )
            write_attr(self.device_dir / "buffer" / "length", str(self.length))
            write_attr(self.device_dir / "buffer" / "enable", "1")
        except (OSError, ValueError) as exc:
            raise BusError(f"{self.device_dir.name}: enabling the buffer failed: {exc}") from exc
        elements.sort(key=lambda e: e.index)
        offset, largest = 0, 1
        for e in elements:
            offset = (offset + e.storage - 1) // e.storage * e.storage
            e.offset = offset
            offset += e.storage
            largest = max(largest, e.storage)
        self.frame_size = (offset + largest - 1) // largest * largest
        self._elements = elements
        missing = set(self.channels) - {e.name for e in elements}
        if missing:
            raise BusError(f"{self.device_dir.name}: scan elements not enabled: {', '.join(sorted(missing))}")
        try:
            self._fd = os.open(self.dev_path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise BusError(f"{self.dev_path}: {exc}") from exc

    def read(self, frames: int, timeout_s: float) -> dict[str, list[int]]:
        """The next ``frames`` samples of every channel. Raises BusError (stalled trigger,
        device gone): never old samples."""
        if self._fd is None:
            raise BusError(f"{self.describe()}: not open")
        fd = self._fd
        try:
            while True:  # what is queued was sampled before this call: drop it
                if not os.read(fd, 65536):
                    break
        except BlockingIOError:
            pass
        except OSError as exc:
            raise BusError(f"{self.dev_path}: read failed: {exc}") from exc
        need = frames * self.frame_size
        data = bytearray()
        deadline = time.monotonic() + timeout_s
        while len(data) < need:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BusError(
                    f"{self.describe()}: {len(data) // self.frame_size} of {frames} samples in {timeout_s} s"
                )
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(fd, need - len(data))
            except BlockingIOError:
                continue
            except OSError as exc:
                raise BusError(f"{self.dev_path}: read failed: {exc}") from exc
            data += chunk
        out: dict[str, list[int]] = {e.name: [] for e in self._elements}
        for i in range(frames):
            frame = bytes(data[i * self.frame_size : (i + 1) * self.frame_size])
            for e in self._elements:
                out[e.name].append(e.decode(frame))
        return out

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        try:
            write_attr(self.device_dir / "buffer" / "enable", "0")
        except OSError:
            log.debug("disabling the IIO buffer failed", exc_info=True)
