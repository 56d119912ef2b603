"""The PN532 frame codec the ``pn532-reader`` driver and the simulated chip share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from josev_hal_i2c.pn532_frame import (
    ACK,
    CHIP_TFI,
    ERROR_FRAME,
    HOST_TFI,
    NACK,
    Pn532Frame,
    build_frame,
    command_frame,
    parse_frame,
    response_frame,
)


def test_a_command_frame_has_the_datasheet_layout() -> None:
    # GetFirmwareVersion as the PN532 user manual spells it: 00 00 FF 02 FE D4 02 2A 00.
    assert command_frame(0x02) == bytes.fromhex("0000ff02fed4022a00")


def test_a_response_frame_carries_the_command_code_plus_one() -> None:
    frame = response_frame(0x02, bytes([0x32, 0x01, 0x06, 0x07]))
    assert frame == bytes.fromhex("0000ff06fad50332010607e800")
    assert parse_frame(frame) == Pn532Frame(CHIP_TFI, 0x03, bytes([0x32, 0x01, 0x06, 0x07]))


@given(tfi=st.integers(0, 255), command=st.integers(0, 255), data=st.binary(max_size=253))
def test_every_frame_that_fits_decodes_to_what_was_built(tfi: int, command: int, data: bytes) -> None:
    assert parse_frame(build_frame(tfi, bytes([command]) + data)) == Pn532Frame(tfi, command, data)


def test_leading_padding_before_the_start_code_is_skipped() -> None:
    # The I2C status byte and preamble zeros may precede the start code.
    frame = parse_frame(b"\x01\x00" + command_frame(0x4A, b"\x01\x00"))
    assert frame == Pn532Frame(HOST_TFI, 0x4A, b"\x01\x00")


def test_a_frame_too_long_for_the_normal_format_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 255"):
        build_frame(HOST_TFI, bytes(255))
    assert len(build_frame(HOST_TFI, bytes(254))) == 255 + 7


def test_a_wrong_length_checksum_is_not_a_frame() -> None:
    frame = bytearray(command_frame(0x14, b"\x01\x00\x00"))
    frame[4] ^= 0x01  # LCS
    assert parse_frame(bytes(frame)) is None


def test_a_wrong_data_checksum_is_not_a_frame() -> None:
    frame = bytearray(command_frame(0x14, b"\x01\x00\x00"))
    frame[-2] ^= 0x01  # DCS
    assert parse_frame(bytes(frame)) is None


def test_a_corrupted_data_byte_is_caught_by_the_data_checksum() -> None:
    frame = bytearray(response_frame(0x4A, b"\x01\x01\x00\x04\x08\x04\xde\xad\xbe\xef"))
    frame[10] ^= 0x40
    assert parse_frame(bytes(frame)) is None


def test_a_truncated_frame_is_not_a_frame() -> None:
    frame = command_frame(0x32, b"\x05\xff\x01\x01")
    for cut in range(len(frame) - 1):
        assert parse_frame(frame[:cut]) is None, cut


def test_ack_nack_and_the_error_frame_carry_no_command() -> None:
    assert bytes.fromhex("0000ff00ff00") == ACK
    assert bytes.fromhex("0000ffff0000") == NACK
    # Error frame: LEN 1, LCS FF, TFI 7F, DCS 81 -- both checksums hold, but there is no command.
    assert (ERROR_FRAME[3] + ERROR_FRAME[4]) & 0xFF == 0 and (ERROR_FRAME[5] + ERROR_FRAME[6]) & 0xFF == 0
    for frame in (ACK, NACK, ERROR_FRAME):
        assert parse_frame(frame) is None


def test_the_driver_and_the_simulated_chip_speak_through_the_codec() -> None:
    from josev_hal_i2c.sim import SimPn532

    chip = SimPn532(response_delay_polls=0)
    chip.present(bytes.fromhex("04a1b2c3d4e5f6"))
    chip.write(command_frame(0x4A, b"\x01\x00"))
    assert chip.read(1 + len(ACK)) == b"\x01" + ACK
    reply = parse_frame(chip.read(40)[1:])
    assert reply is not None and reply.tfi == CHIP_TFI and reply.command == 0x4B
    nbtg, _tg, _sens1, _sens2, _sel, uid_len = reply.data[:6]
    assert (nbtg, reply.data[6 : 6 + uid_len].hex()) == (1, "04a1b2c3d4e5f6")


def test_the_simulated_chip_ignores_a_command_with_a_bad_checksum() -> None:
    from josev_hal_i2c.sim import SimPn532

    chip = SimPn532(response_delay_polls=0)
    frame = bytearray(command_frame(0x02))
    frame[-2] ^= 0xFF
    chip.write(bytes(frame))
    assert chip.commands == [] and chip.read(7) == bytes(7)  # never ready: no ACK follows
