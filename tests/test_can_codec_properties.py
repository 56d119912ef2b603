"""Property tests of the CAN power-module codecs: whatever arrives on the bus, decoding either
yields a value or raises ``ValueError`` (which the drivers log and drop) -- never anything else,
and what we encode decodes back to what we meant."""

from __future__ import annotations

from collections.abc import Callable

import can
import pytest
from hypothesis import given
from hypothesis import strategies as st
from josev_hal_can import infypower_protocol as infy
from josev_hal_can import winline_protocol as winline
from josev_hal_can.infypower import InfyPowerDc, InfyPowerOptions
from josev_hal_can.winline import WinlineDc, WinlineOptions

from josev_hal.devices import DeviceConfig

frames = st.builds(
    lambda aid, data: can.Message(arbitration_id=aid, is_extended_id=True, data=data),
    st.integers(0, 0x1FFFFFFF),
    st.binary(min_size=0, max_size=8),
)


@pytest.mark.parametrize(
    "driver",
    [
        InfyPowerDc(DeviceConfig(device_id="pm", options=InfyPowerOptions(modules=[0, 1]))),
        WinlineDc(DeviceConfig(device_id="pm", options=WinlineOptions(modules=[0, 1]))),
    ],
    ids=["infypower", "winline"],
)
@given(msg=frames)
def test_any_frame_decodes_or_raises_value_error(driver: InfyPowerDc | WinlineDc, msg: can.Message) -> None:
    try:
        driver._decode(msg)
    except ValueError:
        pass


@given(
    device=st.integers(0, 15),
    command=st.integers(0, 63),
    destination=st.integers(0, 255),
    source=st.integers(0, 255),
    error=st.integers(0, 7),
)
def test_infypower_id_round_trips(
    device: int, command: int, destination: int, source: int, error: int
) -> None:
    fid = infy.decode_id(
        infy.encode_id(device=device, command=command, destination=destination, source=source, error=error)
    )
    assert (fid.device, fid.command, fid.destination, fid.source, fid.error) == (
        device,
        command,
        destination,
        source,
        error,
    )


@given(volts=st.floats(0, 4_000_000), amps=st.floats(0, 4_000_000))
def test_infypower_set_point_is_exact_to_the_milli_unit(volts: float, amps: float) -> None:
    mv, ma = (
        int.from_bytes(infy.encode_set_output(volts, amps)[:4], "big"),
        int.from_bytes(infy.encode_set_output(volts, amps)[4:], "big"),
    )
    assert abs(mv / 1000 - volts) <= 0.0005 + 1e-9 * volts
    assert abs(ma / 1000 - amps) <= 0.0005 + 1e-9 * amps


@given(
    destination=st.integers(0, 255), source=st.integers(0, 255), group=st.integers(0, 7), p2p=st.booleans()
)
def test_winline_id_round_trips(destination: int, source: int, group: int, p2p: bool) -> None:
    wid = winline.decode_id(
        winline.encode_id(destination=destination, source=source, group=group, point_to_point=p2p)
    )
    assert (wid.protocol, wid.destination, wid.source, wid.group, wid.point_to_point) == (
        winline.PROTOCOL,
        destination,
        source,
        group,
        p2p,
    )


@given(amps=st.floats(0, 1_000_000))
def test_winline_current_is_amperes_times_1024(amps: float) -> None:
    raw = int.from_bytes(winline.set_current(amps)[4:], "big")
    assert abs(raw / 1024 - amps) <= 0.5 / 1024


@given(word=st.integers(0, 0xFFFFFFFF))
def test_winline_status_bits_are_each_named_once(word: int) -> None:
    faults, states = winline.decode_status(word)
    assert not faults & states
    assert len(faults) + len(states) == bin(word).count("1")


@pytest.mark.parametrize(
    "encode",
    [
        lambda: infy.encode_set_output(5_000_000.0, 1.0),
        lambda: infy.encode_set_output(1.0, 5_000_000.0),
        lambda: winline.set_current(5_000_000.0),
        lambda: winline.set_voltage(float("nan")),
    ],
)
def test_values_the_fields_cannot_carry_raise_value_error(encode: Callable[[], bytes]) -> None:
    with pytest.raises(ValueError):
        encode()
