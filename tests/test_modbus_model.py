"""Meter models as data: the register codec, model files, driver options and the serial bus.

No line is needed here; the end-to-end behaviour against a pymodbus peer is in
``tests/test_modbus_meter.py``.
"""

from __future__ import annotations

import struct

import msgspec
import pytest
from josev_hal_modbus import iskra
from josev_hal_modbus.driver import ModbusMeter, ModbusMeterOptions
from josev_hal_modbus.model import (
    DATA_TYPES,
    Batch,
    Register,
    builtin_models,
    decode_register,
    encode_register,
    load_model_file,
    plan_reads,
)

from josev_hal.buses.serial import SerialBus, SerialBusOptions
from josev_hal.devices import DeviceConfig, Role
from josev_hal.errors import ConfigError
from josev_hal.plugins import get_plugin_manager


def reg(type_: str, word_order: str = "big", factor: float = 1.0, **kw: object) -> Register:
    return Register(
        quantity="power_total",
        address=100,
        function=4,
        type=type_,
        word_order=word_order,
        scale=factor,
        unit="W",
        factor=factor,
        **kw,  # type: ignore[arg-type]
    )


def words_of(encoded: dict[int, int], function: int = 4) -> dict[tuple[int, int], int]:
    return {(function, a): w for a, w in encoded.items()}


@pytest.mark.parametrize("type_", sorted(DATA_TYPES))
@pytest.mark.parametrize("word_order", ["big", "little"])
def test_every_data_type_round_trips_in_both_word_orders(type_: str, word_order: str) -> None:
    r = reg(type_, word_order, factor=0.1)
    value = 1234.5 if type_ in ("uint16", "int16") else 123456.7
    decoded = decode_register(r, words_of(encode_register(r, value)))
    assert decoded == pytest.approx(value, rel=1e-6)


def test_word_order_big_puts_the_high_word_first() -> None:
    big, little = reg("int32", "big"), reg("int32", "little")
    assert encode_register(big, 0x00012345) == {100: 0x0001, 101: 0x2345}
    assert encode_register(little, 0x00012345) == {100: 0x2345, 101: 0x0001}
    # a float32 230.0 as an Eastron sends it: 0x4366 0x0000
    assert encode_register(reg("float32"), 230.0) == {100: 0x4366, 101: 0x0000}


def test_iskra_t5_and_t6_decode_exponent_and_mantissa() -> None:
    # T5: exponent -2 (0xFE), mantissa 23010 -> 230.10
    assert decode_register(reg("t5"), {(4, 100): 0xFE00, (4, 101): 23010}) == pytest.approx(230.10)
    # T6: exponent -3, mantissa -1500 (24-bit two's complement) -> -1.5
    m = (-1500) & 0xFFFFFF
    words = {(4, 100): 0xFD00 | (m >> 16), (4, 101): m & 0xFFFF}
    assert decode_register(reg("t6"), words) == pytest.approx(-1.5)


def test_exponent_register_scales_an_energy_counter() -> None:
    r = reg("int32", exponent_register=414)
    words = {(4, 100): 0, (4, 101): 1234, (4, 414): 1}  # 1234 x 10^1
    assert decode_register(r, words) == pytest.approx(12340.0)
    assert decode_register(r, words_of(encode_register(r, 500.0, exponent=2))) == pytest.approx(500.0)


@pytest.mark.parametrize(
    ("dp", "raw", "value"), [(0, 12345, 12.345), (1, 40012, 400.12), (3, 7, 7.0), (5, 125, 12500.0)]
)
def test_decimal_point_register_with_offset_scales_raw_by_ten_to_dp_minus_three(
    dp: int, raw: int, value: float
) -> None:
    r = reg("uint16", exponent_register=101, exponent_offset=-3)
    assert decode_register(r, {(4, 100): raw, (4, 101): dp}) == pytest.approx(value, rel=1e-12)
    assert encode_register(r, value, exponent=dp) == {100: raw, 101: dp}


@pytest.mark.parametrize("word", [0x7FFF, 0x8000, 22])
def test_implausible_decimal_point_decodes_to_not_available(word: int) -> None:
    r = reg("uint16", exponent_register=101, exponent_offset=-3)
    assert decode_register(r, {(4, 100): 1000, (4, 101): word}) is None


def test_not_available_sentinels_decode_to_none_only_when_the_model_uses_them() -> None:
    r = reg("uint32")
    all_ones = {(4, 100): 0xFFFF, (4, 101): 0xFFFF}
    assert decode_register(r, all_ones, sentinels=True) is None
    assert decode_register(r, all_ones, sentinels=False) == float(0xFFFFFFFF)
    signed_max = {(4, 100): 0x7FFF, (4, 101): 0xFFFF}
    assert decode_register(reg("int32"), signed_max, sentinels=True) is None


def test_nan_float_is_not_a_reading() -> None:
    nan = struct.unpack(">HH", struct.pack(">f", float("nan")))
    assert decode_register(reg("float32"), {(4, 100): nan[0], (4, 101): nan[1]}) is None


def test_values_that_do_not_fit_the_register_type_are_refused() -> None:
    with pytest.raises(ValueError, match="does not fit uint16"):
        encode_register(reg("uint16"), -1.0)


def test_reads_are_grouped_per_function_within_the_meter_limits() -> None:
    addrs = [(4, 0), (4, 1), (4, 10), (4, 11), (3, 5), (4, 100)]
    assert plan_reads(addrs, max_count=125, max_gap=0) == [
        Batch(3, 5, 1),
        Batch(4, 0, 2),
        Batch(4, 10, 2),
        Batch(4, 100, 1),
    ]
    assert plan_reads(addrs, max_count=125, max_gap=8) == [Batch(3, 5, 1), Batch(4, 0, 12), Batch(4, 100, 1)]
    assert plan_reads([(4, a) for a in range(60)], max_count=50, max_gap=0) == [
        Batch(4, 0, 50),
        Batch(4, 50, 10),
    ]


def test_shipped_models_cover_the_issue_list() -> None:
    assert {"sdm630", "sdm72dm", "abb_b23", "em340", "wm3m4c", "acrel_djsf1352rn"} <= set(builtin_models())
    for model in builtin_models().values():
        assert all(b.count <= model.max_registers_per_read for b in model.plan()), model.name


def test_sdm630_map_matches_the_hardware_facts() -> None:
    m = builtin_models()["sdm630"]
    assert (m.registers["frequency"].address, m.registers["frequency"].function) == (0x46, 4)
    assert m.registers["energy_import"].address == 0x48
    assert m.registers["energy_import"].factor == 1000.0  # kWh -> Wh
    em = builtin_models()["em340"].registers["voltage_l1"]
    assert (em.type, em.word_order, em.factor) == ("int32", "little", pytest.approx(0.1))
    abb = builtin_models()["abb_b23"].registers["energy_import"]
    assert (abb.address, abb.function, abb.type, abb.factor) == (0x5000, 3, "uint64", pytest.approx(10.0))


ACREL_HEAD = 'name = "x"\ntitle = "t"\n[defaults]\nfunction = 3\ntype = "int16"\n[registers]\n'

#: Decimal-point (exponent) registers a map must refuse, and the key path the error names.
BROKEN_DECIMAL_POINTS = [
    ("dc_voltage = { address = 0, exponent_offset = -3 }", "registers.dc_voltage.exponent_offset"),
    (
        "dc_voltage = { address = 0, exponent_register = 1, exponent_offset = 99 }",
        "registers.dc_voltage.exponent_offset: 99 is out of range",
    ),
    (
        "dc_voltage = { address = 0, exponent_register = 0 }",
        "registers.dc_voltage.exponent_register: 0 (0x0000) is a register of dc_voltage",
    ),
    (
        "dc_voltage = { address = 0, exponent_register = 2 }\ndc_current = { address = 2 }",
        "registers.dc_voltage.exponent_register: 2 (0x0002) is a register of dc_current",
    ),
    (
        "dc_voltage = { address = 0, exponent_register = 100, exponent_offset = -3 }",
        "registers.dc_voltage.exponent_register: 100 (0x0064) is outside the block",
    ),
    (
        "dc_voltage = { address = 0, exponent_register = 70000 }",
        "at `$.registers.dc_voltage.exponent_register`",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'name = "x"\ntitle = "t"\n[registers]\nvoltage_l9 = { address = 0 }',
            "unknown field `voltage_l9` - at `$.registers`",
        ),
        (
            'name = "x"\ntitle = "t"\n[registers]\nvoltage_l1 = { address = 0, unit = "kWh" }',
            "registers.voltage_l1.unit",
        ),
        (
            'name = "x"\ntitle = "t"\n[registers]\nvoltage_l1 = { address = 70000 }',
            "Expected `int` <= 65535 - at `$.registers.voltage_l1.address`",
        ),
        (
            'name = "x"\ntitle = "t"\n[registers]\nvoltage_l1 = { address = 0, type = "f32" }',
            "Invalid enum value 'f32' - at `$.registers.voltage_l1.type`",
        ),
        ('name = "x"\ntitle = "t"\nmax_registers_per_read = 200\n[registers]\n', "max_registers_per_read"),
        (
            'name = "x"\ntitle = "t"\n[registers]\n[[identify]]\nquantity = "frequency"',
            "identify[0].quantity",
        ),
        ('name = "x"\n[registers', "invalid TOML"),
        *[(ACREL_HEAD + body, message) for body, message in BROKEN_DECIMAL_POINTS],
    ],
)
def test_broken_model_files_name_file_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc_info:
        load_model_file(text, "models/x.toml")
    assert str(exc_info.value).startswith("models/x.toml: ")
    assert message in str(exc_info.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "sdm999"}, "Invalid enum value 'sdm999' - at `$.model`"),
        ({}, "give a model"),
        (
            {"registers": {"voltage_l9": {"address": 0}}},
            "unknown field `voltage_l9` - at `$.registers`",
        ),
        ({"model": "sdm630", "max_registers_per_read": 0}, "max_registers_per_read"),
        ({"model": "sdm630", "offline_after": 0}, "offline_after"),
        ({"model": "sdm630", "retries": -1}, "retries"),
        ({"model": "sdm630", "registerz": {}}, "unknown field `registerz`"),
        ({"registers": {"voltage_l1": {"address": 0, "unit": "kWh"}}}, "registers.voltage_l1.unit"),
        (
            {"registers": {"current_l1": {"address": 0, "sign_from": "power_l1"}}},
            "registers.current_l1.sign_from",
        ),
        ({"model": "sdm630", "response_timeout_s": 0}, "response_timeout_s"),
        (
            {"model": "acrel_djsf1352rn", "max_registers_per_read": 1},
            "registers.dc_voltage.exponent_register: 1 (0x0001) is outside the block",
        ),
        (
            {
                "model": "acrel_djsf1352rn",
                "defaults": {"function": 3, "type": "int16"},
                "registers": {"dc_current": {"address": 2, "exponent_register": 0, "exponent_offset": -3}},
            },
            "registers.dc_current.exponent_register: 0 (0x0000) is a register of dc_voltage",
        ),
        (
            {"registers": {"dc_voltage": {"address": 0, "exponent_register": 1, "exponent_offset": -20}}},
            "registers.dc_voltage.exponent_offset",
        ),
    ],
)
def test_bad_driver_options_are_rejected_with_the_key(options: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError) as exc_info:
        msgspec.convert(options, ModbusMeterOptions)
    assert message in str(exc_info.value)


def test_inline_registers_override_a_shipped_model() -> None:
    opts = msgspec.convert(
        {"model": "sdm630", "registers": {"energy_import": {"address": 0x0156, "unit": "kWh"}}},
        ModbusMeterOptions,
    )
    bus = SerialBus("rs485", SerialBusOptions(port="/dev/null-not-opened"))
    meter = ModbusMeter(DeviceConfig("m", opts, bus=bus, address=1))
    assert meter.model.registers["energy_import"].address == 0x0156
    assert meter.model.registers["voltage_l1"].address == 0  # the rest of the model stays


@pytest.mark.parametrize("address", [None, 0, 248])
def test_unit_id_must_be_a_modbus_unit(address: int | None) -> None:
    bus = SerialBus("rs485", SerialBusOptions(port="/dev/null-not-opened"))
    with pytest.raises(ConfigError, match="address"):
        ModbusMeter(DeviceConfig("m", ModbusMeterOptions(model="sdm630"), bus=bus, address=address))


def test_opening_a_missing_port_is_a_bus_error_naming_the_port() -> None:
    from josev_hal.errors import BusError

    bus = SerialBus("rs485", SerialBusOptions(port="/dev/does-not-exist-ttyUSB9"))
    with pytest.raises(BusError, match="does-not-exist-ttyUSB9"):
        bus.setup()
    bus.release()


@pytest.mark.parametrize(
    ("options", "bits", "gap_ms"),
    [
        ({"baudrate": 9600}, 10, 3.5 * 10 / 9600 * 1000),
        ({"baudrate": 9600, "parity": "E"}, 11, 3.5 * 11 / 9600 * 1000),
        ({"baudrate": 9600, "stopbits": 2, "inter_frame_delay_ms": 5}, 11, 3.5 * 11 / 9600 * 1000 + 5),
        ({"baudrate": 115200}, 10, 1.75),
    ],
)
def test_serial_bus_frame_gap_is_three_and_a_half_characters_plus_the_delay(
    options: dict[str, object], bits: int, gap_ms: float
) -> None:
    bus = SerialBus("rs485", msgspec.convert({"port": "/dev/x", **options}, SerialBusOptions))
    assert bus.bits_per_char == bits
    assert bus.frame_gap_s * 1000 == pytest.approx(gap_ms)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"port": "/dev/x", "parity": "X"}, "parity"),
        ({"port": "/dev/x", "baudrate": 0}, "baudrate"),
        ({}, "port"),
    ],
)
def test_serial_bus_options_are_validated(options: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(options, SerialBusOptions)


def test_plugin_manager_offers_the_serial_bus_and_the_meter_driver() -> None:
    pm = get_plugin_manager()
    assert pm.bus_kinds["serial"] is SerialBus
    assert pm.drivers["modbus-meter"] is ModbusMeter
    assert ModbusMeter.role is Role.METER and ModbusMeter.bus_kind == "serial"


def test_zero_padded_der_signature_is_normalised() -> None:
    r, s = b"\x00" * 2 + b"\x7f" + b"\x11" * 31, b"\x00" + b"\x80" + b"\x22" * 31
    padded = (
        b"\x30" + bytes([4 + len(r) + len(s)]) + b"\x02" + bytes([len(r)]) + r + b"\x02" + bytes([len(s)]) + s
    )
    der = iskra.normalize_der_signature(padded)
    assert der[3] == 32 and der[4] == 0x7F  # r: leading zeros removed
    # 0x30 len | 0x02 32 r(32) | 0x02 33 0x00 0x80 ...: s keeps the zero that makes it positive
    assert der[36:40] == b"\x02\x21\x00\x80"
    with pytest.raises(ValueError):
        iskra.normalize_der_signature(b"\x02\x01\x00")


def test_ocmf_metadata_is_compact_and_refuses_separators() -> None:
    text = iskra.metadata_json(gateway_id="gw", evse_id="DE*X*E1", id_token="abc", id_token_type="ISO14443")
    assert " " not in text and text.startswith('{"FV":"1.0","GI":"gw"')
    with pytest.raises(ValueError, match="CI"):
        iskra.metadata_json(gateway_id="gw", evse_id="A|B", id_token=None, id_token_type=None)


def test_meter_on_a_missing_port_raises_bus_errors_then_offline_never_a_value() -> None:
    from josev_hal.errors import BusError, DeviceOffline

    bus = SerialBus("rs485", SerialBusOptions(port="/dev/does-not-exist-ttyUSB9"))
    opts = ModbusMeterOptions(model="sdm630", retries=0, offline_after=2)
    meter = ModbusMeter(DeviceConfig("evse[0].meter", opts, bus=bus, address=1))
    with pytest.raises(BusError) as first:
        meter.read()
    assert first.value.device == "evse[0].meter" and "does-not-exist-ttyUSB9" in str(first.value)
    with pytest.raises(DeviceOffline, match="2 consecutive failed reads"):
        meter.read()
    assert meter.stats["bus_errors"] == 2
