"""``linux-temperature``: NTC and PT1000 sensors on IIO ADC channels, DS18B20 on the 1-wire bus.

One device reads every temperature sensor of an EVSE (socket contacts, cable, power stage); the
derating uses the hottest (:mod:`josev_hal.derating`). Each sensor is one entry of ``sensors``::

    options = { sensors = [
        { name = "socket", kind = "ntc", iio_device = "adc", channel = 3, r25_ohm = 10000, beta = 3950 },
        { name = "cable", kind = "ds18b20", id = "28-00000abcdef0" },
        { name = "board", kind = "pt1000", iio_device = "adc", channel = 4, pull_up_ohm = 1000 },
    ] }

* **NTC / PT1000** sit at the bottom of a divider with ``pull_up_ohm`` to ``reference_v``; the
  ADC reads the node (``adc_v_per_v`` for a divider in front of the ADC). An NTC follows the Beta
  equation (``r25_ohm``, ``beta``) or, with ``steinhart_hart = [a, b, c]``, Steinhart-Hart; a
  PT1000 follows Callendar-Van Dusen (IEC 60751, A = 3.9083e-3, B = -5.775e-7; T >= 0 degC form,
  used below 0 as well -- the error there is < 0.1 K down to -40 degC).
* **DS18B20**: ``/sys/bus/w1/devices/<id>/temperature`` (millidegrees, kernels >= 5.x) or the
  older ``w1_slave`` file, whose CRC line must say ``YES``.
* A sensor that is open (node at the reference voltage), shorted (node near 0 V), outside
  ``min_c``..``max_c`` or gone from the bus raises :class:`~josev_hal.errors.DeviceError` naming it:
  a derating never runs on a missing or stale value.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from josev_hal.devices import DeviceConfig, TemperatureSample, TemperatureSensor, now_reading_times
from josev_hal.errors import BusError

from .gpio import linux_bus
from .sysfs import IioChannel, find_iio_device, read_attr

__all__ = ["LinuxTemperature", "LinuxTemperatureOptions", "ntc_celsius", "pt1000_celsius"]

log = logging.getLogger(__name__)

#: IEC 60751 Callendar-Van Dusen coefficients for platinum sensors.
CVD_A = 3.9083e-3
CVD_B = -5.775e-7

_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
_Ohm = Annotated[float, msgspec.Meta(gt=0)]


class _Divider(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind"):
    name: _Name
    iio_device: Annotated[str, msgspec.Meta(min_length=1)]
    channel: str | Annotated[int, msgspec.Meta(ge=0)]
    pull_up_ohm: _Ohm = 10_000.0
    reference_v: _Ohm = 3.3
    adc_v_per_v: _Ohm = 1.0
    min_c: float = -40.0
    max_c: float = 150.0


class NtcSensor(_Divider, tag="ntc", kw_only=True):
    r25_ohm: _Ohm = 10_000.0
    beta: _Ohm = 3950.0
    #: Steinhart-Hart a, b, c (1/T = a + b ln R + c ln^3 R); replaces r25_ohm/beta when given.
    steinhart_hart: tuple[float, float, float] | None = None


class Pt1000Sensor(_Divider, tag="pt1000", kw_only=True):
    pull_up_ohm: _Ohm = 1000.0
    r0_ohm: _Ohm = 1000.0


class Ds18b20Sensor(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="ds18b20"
):
    name: _Name
    #: 1-wire id (``28-...``) as listed in /sys/bus/w1/devices.
    id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{2}-[0-9a-f]{12}$")]
    min_c: float = -55.0
    max_c: float = 125.0


Sensor = NtcSensor | Pt1000Sensor | Ds18b20Sensor


class LinuxTemperatureOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``options`` of ``linux-temperature``."""

    sensors: Annotated[list[Sensor], msgspec.Meta(min_length=1, max_length=16)]

    def __post_init__(self) -> None:
        names = [s.name for s in self.sensors]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"sensors[{i}].name: {name!r} is used twice")


def ntc_celsius(r_ohm: float, sensor: NtcSensor) -> float:
    """NTC resistance -> degC (Beta equation, or Steinhart-Hart when given)."""
    if sensor.steinhart_hart is not None:
        a, b, c = sensor.steinhart_hart
        ln = math.log(r_ohm)
        return 1.0 / (a + b * ln + c * ln**3) - 273.15
    return 1.0 / (1.0 / 298.15 + math.log(r_ohm / sensor.r25_ohm) / sensor.beta) - 273.15


def pt1000_celsius(r_ohm: float, r0_ohm: float = 1000.0) -> float:
    """Platinum resistance -> degC (Callendar-Van Dusen, T >= 0 form solved for T)."""
    ratio = r_ohm / r0_ohm
    disc = CVD_A * CVD_A - 4.0 * CVD_B * (1.0 - ratio)
    return (-CVD_A + math.sqrt(disc)) / (2.0 * CVD_B)


Kind = Literal["ntc", "pt1000", "ds18b20"]


class LinuxTemperature(TemperatureSensor):
    """Every configured sensor read in one call (see the module docstring)."""

    Options: ClassVar[type[msgspec.Struct]] = LinuxTemperatureOptions
    bus_kind: ClassVar[str | None] = "linux"

    def __init__(self, config: DeviceConfig[Any]) -> None:
        super().__init__(config)
        assert isinstance(self.options, LinuxTemperatureOptions)
        self.opts: LinuxTemperatureOptions = self.options
        self._channels: dict[str, IioChannel] = {}
        self._w1: Path | None = None

    def setup(self) -> None:
        bus = linux_bus(self)
        self._w1 = bus.sysfs_root / "bus" / "w1" / "devices"
        channels: dict[str, IioChannel] = {}
        try:
            for s in self.opts.sensors:
                if isinstance(s, NtcSensor | Pt1000Sensor):
                    channel = IioChannel(find_iio_device(bus.sysfs_root, s.iio_device), str(s.channel))
                    channel.open()
                    channels[s.name] = channel
        except BusError as exc:
            raise self.error(exc.detail, BusError) from exc
        self._channels = channels
        # 1-wire sensors are not required at setup: one that is missing shows as a read error.

    def release(self) -> None:
        self._channels = {}

    def describe(self) -> dict[str, Any]:
        return {s.name: type(s).__struct_config__.tag for s in self.opts.sensors}

    def _divider_ohm(self, s: NtcSensor | Pt1000Sensor) -> float:
        channel = self._channels.get(s.name)
        if channel is None:
            raise self.error(f"sensor {s.name}: not set up")
        try:
            node_v = channel.read_mv() / 1000.0 / s.adc_v_per_v
        except BusError as exc:
            raise self.error(f"sensor {s.name}: {exc.detail}", BusError) from exc
        if node_v >= s.reference_v * 0.995:
            raise self.error(f"sensor {s.name}: open circuit (disconnected?) at {node_v:.3f} V")
        if node_v <= s.reference_v * 0.002:
            raise self.error(f"sensor {s.name}: short circuit at {node_v:.3f} V")
        return s.pull_up_ohm * node_v / (s.reference_v - node_v)

    def _ds18b20(self, s: Ds18b20Sensor) -> float:
        assert self._w1 is not None
        d = self._w1 / s.id
        try:
            return int(read_attr(d / "temperature")) / 1000.0
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            raise self.error(f"sensor {s.name}: {d}/temperature unreadable: {exc}", BusError) from exc
        try:
            text = read_attr(d / "w1_slave")
        except OSError as exc:
            raise self.error(f"sensor {s.name}: 1-wire device {s.id} not present: {exc}", BusError) from exc
        lines = text.splitlines()
        if len(lines) < 2 or not lines[0].endswith("YES") or "t=" not in lines[1]:
            raise self.error(f"sensor {s.name}: 1-wire CRC error or bad answer {text!r}", BusError)
        return int(lines[1].rsplit("t=", 1)[1]) / 1000.0

    def read(self) -> TemperatureSample:
        taken_at, utc = now_reading_times()
        out: list[tuple[str, float]] = []
        for s in self.opts.sensors:
            if isinstance(s, Ds18b20Sensor):
                celsius = self._ds18b20(s)
            elif isinstance(s, NtcSensor):
                celsius = ntc_celsius(self._divider_ohm(s), s)
            else:
                celsius = pt1000_celsius(self._divider_ohm(s), s.r0_ohm)
            if not (math.isfinite(celsius) and s.min_c <= celsius <= s.max_c):
                raise self.error(f"sensor {s.name}: {celsius:.1f} degC is outside {s.min_c:g}..{s.max_c:g}")
            out.append((s.name, round(celsius, 3)))
        return TemperatureSample(taken_at=taken_at, utc=utc, celsius=tuple(out))
