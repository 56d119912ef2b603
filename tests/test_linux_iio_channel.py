"""IIO channel scale/offset lookup of josev_hal_linux (IioChannel) per the kernel's sysfs ABI:
the channel's own ``<channel>_scale``/``_offset`` win over the device-wide ``<kind>_scale``/
``_offset``; no scale means raw millivolts; an unreadable attribute is a BusError naming the file.
Run on a plain directory laid out as /sys/bus/iio/devices/iio:deviceN."""

from __future__ import annotations

from pathlib import Path

import pytest
from josev_hal_linux.sysfs import IioChannel

from josev_hal.errors import BusError


def _device(tmp_path: Path, files: dict[str, str]) -> Path:
    device = tmp_path / "iio:device0"
    device.mkdir()
    (device / "in_voltage3_raw").write_text("100\n")
    for name, text in files.items():
        (device / name).write_text(text)
    return device


def _mv(device: Path) -> float:
    channel = IioChannel(device, "3")
    channel.open()
    return channel.read_mv()


def test_the_channel_scale_and_offset_win_over_the_device_wide_ones(tmp_path: Path) -> None:
    device = _device(
        tmp_path,
        {
            "in_voltage3_scale": "0.5\n",
            "in_voltage_scale": "2.0\n",
            "in_voltage3_offset": "10\n",
            "in_voltage_offset": "-50\n",
        },
    )
    assert _mv(device) == pytest.approx((100 + 10) * 0.5)


def test_device_wide_scale_and_offset_apply_when_the_channel_has_none(tmp_path: Path) -> None:
    device = _device(tmp_path, {"in_voltage_scale": "2.0\n", "in_voltage_offset": "-50\n"})
    assert _mv(device) == pytest.approx((100 - 50) * 2.0)


def test_without_scale_or_offset_raw_is_millivolts(tmp_path: Path) -> None:
    assert _mv(_device(tmp_path, {})) == pytest.approx(100.0)


@pytest.mark.parametrize("name", ["in_voltage3_scale", "in_voltage_offset"])
def test_an_unreadable_attribute_is_a_bus_error_naming_the_file(tmp_path: Path, name: str) -> None:
    device = _device(tmp_path, {name: "not-a-number\n"})
    with pytest.raises(BusError, match=name):
        IioChannel(device, "3").open()
