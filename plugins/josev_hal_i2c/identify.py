"""Name the chip at an I2C address by how its registers behave, for ``josev-hal probe i2c``.

Rules: identification is **read-only** for the GPIO expanders and the PWM chip (a probe must
never switch a relay); an ADC may run single-shot conversions (harmless, the original config
is written back); the PN532 is asked for its firmware only when the register file at 0x24
reads all zeros — which no configured GPIO expander does, so the frame cannot land in an
MCP23017's configuration registers.

Signatures used:

* ADS1115/ADS1015 (0x48-0x4B): Lo_thresh/Hi_thresh keep their reset values 0x8000/0x7FFF
  (our drivers never write them), config bit pattern sane; the ADS1015 returns 12-bit results
  (low nibble always 0), an ADS1115 does not — undecidable results give ``"ads1x15"``.
* PCA9555/TCA9555 (0x20-0x27): the register pointer toggles within a pair on a block read and
  output pins read back their latch (``input == output ^ polarity``).
* MCP23017 (0x20-0x27): IOCON mirrored at 0x0A and 0x0B, bit 0 (unimplemented) and BANK read 0.
* PCA9685 (0x40-0x7F): SUBADR1-3/ALLCALLADR at their reset values E2/E4/E8/E0, or the power-on
  MODE1/MODE2/PRE_SCALE combination 0x11/0x04/0x1E.
* PN532 (0x24): GetFirmwareVersion answers with IC 0x32.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from josev_hal.buses.i2c import I2cBus, I2cDevice
from josev_hal.errors import DeviceError

from .pn532 import CMD_GET_FIRMWARE_VERSION, pn532_command

__all__ = ["identify", "scan"]

ADS_ADDRESSES = range(0x48, 0x4C)
EXPANDER_ADDRESSES = range(0x20, 0x28)
PCA9685_ADDRESSES = range(0x40, 0x80)
PN532_ADDRESS = 0x24


def _ads(dev: I2cDevice) -> str | None:
    if dev.read_u16_be(0x02) != 0x8000 or dev.read_u16_be(0x03) != 0x7FFF:
        return None
    original = dev.read_u16_be(0x01)
    with dev.lock:
        codes = []
        for channel in range(4):
            # Single-shot, AINx vs GND, ±4.096 V, fastest rate code, comparator off.
            dev.write_u16_be(
                0x01, 0x8000 | (0b100 + channel) << 12 | 0b001 << 9 | 0x0100 | 0b111 << 5 | 0x0003
            )
            for _ in range(50):
                if dev.read_u16_be(0x01) & 0x8000:
                    break
            codes.append(dev.read_u16_be(0x00))
        dev.write_u16_be(0x01, original & 0x7FFF)
    if any(code & 0x000F for code in codes):
        return "ads1115"
    if any(codes):
        return "ads1015"
    return "ads1x15"


def _pca9555(dev: I2cDevice) -> str | None:
    block = dev.read_block(0x00, 8)
    if any(block[i] != block[i % 2] for i in range(8)):
        return None  # the pointer did not toggle within the input-port pair
    regs = [dev.read_u8(r) for r in range(8)]
    for port in (0, 1):
        outputs = ~regs[6 + port] & 0xFF
        if (regs[port] ^ regs[4 + port]) & outputs != regs[2 + port] & outputs:
            return None
    return "pca9555"


def _mcp23017(dev: I2cDevice) -> str | None:
    iocon_a, iocon_b = dev.read_u8(0x0A), dev.read_u8(0x0B)
    if iocon_a != iocon_b or iocon_a & 0x81:
        return None
    iodir = dev.read_u8(0x00) | dev.read_u8(0x01) << 8
    gpio = dev.read_u8(0x12) | dev.read_u8(0x13) << 8
    olat = dev.read_u8(0x14) | dev.read_u8(0x15) << 8
    outputs = ~iodir & 0xFFFF
    if gpio & outputs != olat & outputs:
        return None
    return "mcp23017"


def _all_zero(dev: I2cDevice) -> bool:
    return not any(dev.read_block(0x00, 0x16))


def _pn532(dev: I2cDevice) -> str | None:
    firmware = pn532_command(dev, CMD_GET_FIRMWARE_VERSION, timeout_s=0.2)
    return "pn532" if firmware[:1] == b"\x32" else None


def _pca9685(dev: I2cDevice) -> str | None:
    if bytes(dev.read_block(0x02, 4)) == bytes([0xE2, 0xE4, 0xE8, 0xE0]):
        return "pca9685"
    if (dev.read_u8(0x00), dev.read_u8(0x01), dev.read_u8(0xFE)) == (0x11, 0x04, 0x1E):
        return "pca9685"
    return None


def _attempt(check: Callable[[I2cDevice], str | None], dev: I2cDevice) -> str | None:
    try:
        return check(dev)
    except DeviceError:
        return None


def identify(bus: I2cBus, address: int) -> str | None:
    """The chip at ``address`` (``"ads1115"``, ``"ads1015"``, ``"ads1x15"``, ``"mcp23017"``,
    ``"pca9555"``, ``"pca9685"``, ``"pn532"``) or ``None`` (nothing answers / unknown chip)."""
    dev = bus.device(address, device_id=f"probe@0x{address:02x}")
    checks: list[Callable[[I2cDevice], str | None]] = []
    if address in ADS_ADDRESSES:
        checks.append(_ads)
    if address in EXPANDER_ADDRESSES:
        if address == PN532_ADDRESS and _attempt(lambda d: "zero" if _all_zero(d) else None, dev):
            checks.append(_pn532)
        else:
            checks += [_pca9555, _mcp23017]
    if address in PCA9685_ADDRESSES:
        checks.append(_pca9685)
    for check in checks:
        name = _attempt(check, dev)
        if name:
            return name
    return None


def scan(bus: I2cBus, addresses: Iterable[int] | None = None) -> dict[int, str | None]:
    """Every address that acknowledges a read, with its identified chip (or ``None``)."""
    found: dict[int, str | None] = {}
    for address in addresses if addresses is not None else range(0x03, 0x78):
        dev = bus.device(address, device_id=f"probe@0x{address:02x}")
        try:
            dev.read_raw(1)
        except DeviceError:
            continue
        found[address] = identify(bus, address)
    return found
