"""The simulated I2C side of the shipped DC board ``boards/dc-infypower-imd.toml``.

The digital IMD has to be wired to the simulated MCP23017 exactly as the board profile's header
says (OK relay on pin 11, low = OK; pre-warning on 12, high = warning; enable on 5, TEST on 6).
Tests of that board under Josev (tests/test_dc_imd_board.py) and under EVerest
(tests/test_everest_real_drivers.py) build it here, so a change of the board's wiring is made once.
"""

from __future__ import annotations

from pathlib import Path

from josev_hal_i2c.sim import SimAcBoard, SimImdModule, build_ac_board

__all__ = ["DC_IMD_BOARD", "build_dc_imd_i2c"]

DC_IMD_BOARD = Path(__file__).resolve().parents[2] / "boards" / "dc-infypower-imd.toml"


def build_dc_imd_i2c() -> tuple[SimAcBoard, SimImdModule]:
    """The register-level I2C chips of the board and its IMD, wired per the profile's header."""
    sim = build_ac_board()
    imd = SimImdModule().wire(
        sim.gpio,
        ok_pin=11,
        warning_pin=12,
        enable_pin=5,
        test_pin=6,
        ok_level=False,
        warning_level=True,
        startup_s=0.02,
        test_delay_s=0.01,
    )
    return sim, imd
