"""The EVerest codec's own behaviour, without the upstream spec: a bad command is a message error
with its JSON path, topics round-trip. (The spec comparison is tests/test_everest_codec.py.)"""

from __future__ import annotations

import pytest

from josev_hal.errors import MessageError
from josev_hal.everest import codec


def test_a_bad_command_is_a_message_error_with_the_json_path() -> None:
    with pytest.raises(MessageError) as info:
        codec.decode(("evse_board_support", "e2m", "allow_power_on"), b'{"allow_power_on": 1, "reason": "X"}')
    assert info.value.path == "$.allow_power_on"
    with pytest.raises(MessageError) as info:
        codec.decode(("evse_board_support", "e2m", "pwm_on"), b"101")
    assert "<= 100" in info.value.reason
    with pytest.raises(MessageError, match="invalid JSON"):
        codec.decode(("evse_board_support", "e2m", "enable"), b"tru")
    with pytest.raises(MessageError, match="invalid JSON"):  # invalid UTF-8 inside a string
        codec.decode(
            ("evse_board_support", "e2m", "allow_power_on"), b'{"allow_power_on": true, "reason": "\xff"}'
        )


def test_topics_round_trip() -> None:
    t = codec.topic("evse_board_support", "bsp_1", "m2e", "event")
    assert t == "everest_api/1/evse_board_support/bsp_1/m2e/event"
    parsed = codec.parse_topic(t)
    assert parsed is not None and (parsed.module_id, parsed.direction, parsed.name) == (
        "bsp_1",
        "m2e",
        "event",
    )
    assert codec.parse_topic("everest_api/1/x/y/zz/event") is None
