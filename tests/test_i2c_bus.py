"""The ``i2c`` bus kind and the chip simulators behind the smbus2 API (the wire level)."""

from __future__ import annotations

import errno
import threading

import msgspec
import pytest
import smbus2
from josev_hal_i2c.pn532_frame import CHIP_TFI, build_frame
from josev_hal_i2c.sim import (
    SimAds1015,
    SimAds1115,
    SimI2cBus,
    SimMcp23017,
    SimPca9555,
    SimPca9685,
    SimPn532,
)

from josev_hal.buses.i2c import I2cBus, I2cBusOptions
from josev_hal.errors import BusError, DeviceTimeout


def open_bus(sim: SimI2cBus, **options: object) -> I2cBus:
    bus = I2cBus("i2c1", msgspec.convert({"bus": 1, **options}, I2cBusOptions), smbus_factory=sim.factory)
    bus.setup()
    return bus


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bus_opens_the_adapter_number_through_the_factory() -> None:
    sim = SimI2cBus({0x20: SimMcp23017()})
    bus = open_bus(sim)
    assert sim.opened_with == [1]
    assert bus.describe() == "i2c i2c1 /dev/i2c-1"
    bus.release()
    assert sim.closed
    bus.release()  # idempotent


def test_bus_accepts_a_device_path() -> None:
    sim = SimI2cBus()
    bus = I2cBus("x", I2cBusOptions(bus="/dev/i2c-3"), smbus_factory=sim.factory)
    bus.setup()
    assert sim.opened_with == ["/dev/i2c-3"]
    assert "/dev/i2c-3" in bus.describe()


def test_missing_adapter_becomes_bus_error() -> None:
    def factory(bus: int | str) -> object:
        raise FileNotFoundError(errno.ENOENT, "No such file", "/dev/i2c-9")

    bus = I2cBus("i2c9", I2cBusOptions(bus=9), smbus_factory=factory)
    with pytest.raises(BusError, match="cannot open I2C adapter 9"):
        bus.setup()


def test_production_factory_opens_smbus2_with_the_profile_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[int | str] = []

    class RecordingSMBus(SimI2cBus):
        def __init__(self, bus: int | str) -> None:
            super().__init__()
            opened.append(bus)

    monkeypatch.setattr(smbus2, "SMBus", RecordingSMBus)
    bus = I2cBus("i2c", I2cBusOptions(bus=7))
    bus.setup()
    assert opened == [7]


def test_production_factory_reports_a_missing_adapter() -> None:
    bus = I2cBus("i2c", I2cBusOptions(bus="/nonexistent/i2c-dev"))
    with pytest.raises(BusError, match="cannot open I2C adapter '/nonexistent/i2c-dev'"):
        bus.setup()


@pytest.mark.parametrize("bad", [{"bus": -1}, {"bus": ""}, {"busy_retries": -1}, {"nope": 1}])
def test_bad_bus_options_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(bad, I2cBusOptions)


@pytest.mark.parametrize("code", [errno.EREMOTEIO, errno.ENXIO, errno.EIO])
def test_nack_becomes_bus_error_with_device_id(code: int) -> None:
    sim = SimI2cBus({0x20: SimMcp23017()})
    dev = open_bus(sim).device(0x20, device_id="evse[0].contactor", plugin="i2c")
    sim.inject_nack(0x20, count=1, code=code)
    with pytest.raises(BusError) as info:
        dev.read_u8(0x00)
    assert info.value.device == "evse[0].contactor"
    assert "no ACK" in str(info.value) and "0x20" in str(info.value)
    assert dev.read_u8(0x00) == 0xFF  # only one transfer was NACKed


def test_absent_chip_nacks() -> None:
    dev = open_bus(SimI2cBus()).device(0x21, device_id="evse[0].rcd")
    with pytest.raises(BusError, match="no ACK"):
        dev.write_u8(0x00, 0)


def test_busy_bus_is_retried_then_succeeds() -> None:
    sim = SimI2cBus({0x20: SimMcp23017()})
    bus = open_bus(sim, busy_retries=3, busy_retry_delay_ms=0)
    sim.inject_busy(count=2)
    assert bus.device(0x20).read_u8(0x00) == 0xFF
    assert bus.errors == 2


@pytest.mark.parametrize("code", [errno.EAGAIN, errno.EBUSY])
def test_persistently_busy_bus_gives_bus_error(code: int) -> None:
    sim = SimI2cBus({0x20: SimMcp23017()})
    bus = open_bus(sim, busy_retries=2, busy_retry_delay_ms=0)
    sim.inject_busy(count=10, code=code)
    with pytest.raises(BusError, match="bus busy"):
        bus.device(0x20, device_id="evse[0].lock").read_u8(0x00)


def test_stuck_bus_timeout_is_device_timeout() -> None:
    sim = SimI2cBus({0x20: SimMcp23017()})
    sim.inject_nack(0x20, count=1, code=errno.ETIMEDOUT)
    with pytest.raises(DeviceTimeout):
        open_bus(sim).device(0x20).read_u8(0x00)


def test_transfer_on_unopened_bus_is_bus_error() -> None:
    bus = I2cBus("i2c1", I2cBusOptions(), smbus_factory=SimI2cBus().factory)
    with pytest.raises(BusError, match="not open"):
        bus.device(0x20).read_u8(0)


def test_chip_lock_is_shared_per_address() -> None:
    bus = open_bus(SimI2cBus())
    assert bus.device(0x48).lock is bus.device(0x48, device_id="other").lock
    assert bus.device(0x48).lock is not bus.device(0x20).lock


def test_concurrent_transfers_are_serialised() -> None:
    sim = SimI2cBus({0x20: SimMcp23017()})
    bus = open_bus(sim)
    dev = bus.device(0x20)
    errors: list[Exception] = []

    def worker(pin: int) -> None:
        try:
            for _ in range(50):
                with dev.lock:
                    value = dev.read_u8(0x14)
                    dev.write_u8(0x14, value ^ (1 << pin))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(pin,)) for pin in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # Each bit was toggled an even number of times: no read-modify-write was lost.
    assert dev.read_u8(0x14) == 0


# -- simulators at the smbus2 level --------------------------------------------------------------


def test_smbus_words_are_lsb_first_while_ads_registers_are_msb_first() -> None:
    sim = SimI2cBus({0x48: SimAds1115()})
    assert sim.read_word_data(0x48, 0x01) == 0x8385  # 0x8583 byte-swapped, as on hardware
    assert sim.read_i2c_block_data(0x48, 0x01, 2) == [0x85, 0x83]


def test_ads1115_single_shot_conversion_polls_busy_then_reads() -> None:
    ads = SimAds1115()
    ads.connect(0, 1.0)
    sim = SimI2cBus({0x48: ads})
    # OS=1, MUX=100 (AIN0-GND), PGA=001 (4.096 V), MODE=1, DR=111, comparator off
    sim.write_i2c_block_data(0x48, 0x01, [0xC3, 0xE3])
    assert sim.read_i2c_block_data(0x48, 0x01, 2)[0] & 0x80 == 0  # busy
    assert sim.read_i2c_block_data(0x48, 0x01, 2)[0] & 0x80  # done
    hi, lo = sim.read_i2c_block_data(0x48, 0x00, 2)
    assert (hi << 8 | lo) == 8000  # 1.0 V / 4.096 V * 32768


def test_ads1015_results_are_left_justified_12_bit() -> None:
    ads = SimAds1015(busy_reads=0)
    ads.connect(0, 1.0)
    sim = SimI2cBus({0x48: ads})
    sim.write_i2c_block_data(0x48, 0x01, [0xC3, 0xE3])
    hi, lo = sim.read_i2c_block_data(0x48, 0x00, 2)
    assert (hi << 8 | lo) == 500 << 4  # 1.0 V / 4.096 V * 2048 = 500


def test_mcp23017_gpio_write_goes_to_olat_and_iocon_is_mirrored() -> None:
    sim = SimI2cBus({0x20: SimMcp23017()})
    sim.write_byte_data(0x20, 0x00, 0xFE)  # GPA0 output
    sim.write_byte_data(0x20, 0x12, 0x01)  # write GPIOA
    assert sim.read_byte_data(0x20, 0x14) == 0x01  # landed in OLATA
    assert sim.read_byte_data(0x20, 0x12) & 0x01
    sim.write_byte_data(0x20, 0x0A, 0x24)
    assert sim.read_byte_data(0x20, 0x0B) == 0x24


def test_pca9555_pointer_toggles_within_register_pair() -> None:
    sim = SimI2cBus({0x20: SimPca9555()})
    sim.write_i2c_block_data(0x20, 0x06, [0x0F, 0xF0])
    assert sim.read_i2c_block_data(0x20, 0x06, 4) == [0x0F, 0xF0, 0x0F, 0xF0]


def test_pca9685_prescale_is_written_only_while_sleeping() -> None:
    pca = SimPca9685()
    sim = SimI2cBus({0x40: pca})
    sim.write_byte_data(0x40, 0x00, 0x01)  # wake up
    sim.write_byte_data(0x40, 0xFE, 5)
    assert pca.regs[0xFE] == 0x1E
    sim.write_byte_data(0x40, 0x00, 0x11)  # sleep
    sim.write_byte_data(0x40, 0xFE, 5)
    assert pca.regs[0xFE] == 5
    assert pca.frequency_hz() == pytest.approx(1017.25, abs=0.01)


def test_delayed_line_follows_output_after_its_delay() -> None:
    from josev_hal_i2c.sim import DelayedLine

    clock = ManualClock()
    mcp = SimMcp23017()
    sim = SimI2cBus({0x20: mcp}, clock=clock)
    line = DelayedLine(mcp, 0, delay_s=0.05)
    mcp.connect_input(8, line)
    sim.write_byte_data(0x20, 0x00, 0xFE)
    sim.write_byte_data(0x20, 0x14, 0x01)
    assert not mcp.pin_level(8)
    clock.now += 0.049
    assert not mcp.pin_level(8)
    clock.now += 0.002
    assert mcp.pin_level(8)
    line.stuck = False  # a broken feedback wire
    assert not mcp.pin_level(8)


def test_pn532_answers_ack_then_firmware_with_status_byte() -> None:
    sim = SimI2cBus({0x24: SimPn532(response_delay_polls=0)})
    frame = bytes([0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00])
    sim.i2c_rdwr(smbus2.i2c_msg.write(0x24, frame))
    ack = smbus2.i2c_msg.read(0x24, 7)
    sim.i2c_rdwr(ack)
    assert bytes(ack) == b"\x01" + bytes([0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00])
    reply = smbus2.i2c_msg.read(0x24, 14)
    sim.i2c_rdwr(reply)
    assert bytes(reply)[1:] == build_frame(CHIP_TFI, bytes([0x03, 0x32, 0x01, 0x06, 0x07]))


def test_pn532_ignores_a_frame_with_a_bad_checksum() -> None:
    chip = SimPn532()
    sim = SimI2cBus({0x24: chip})
    sim.i2c_rdwr(smbus2.i2c_msg.write(0x24, bytes([0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02, 0x2B, 0x00])))
    status = smbus2.i2c_msg.read(0x24, 1)
    sim.i2c_rdwr(status)
    assert bytes(status) == b"\x00" and chip.commands == []
