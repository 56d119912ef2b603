"""``josev-hal probe board``: the core's read-only look at every device of a board profile."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from josev_hal.probe.tool import (
    EXIT_FOUND,
    EXIT_NOTHING,
    EXIT_RUNTIME,
    EXIT_USAGE,
    emit,
    error,
    load_board,
    plugin_lines,
)

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = ["BoardProbe"]


class BoardProbe:
    """Set up every bus and device of a board profile and print, per device, what its driver
    reports (describe), one reading (the RFID reader is not polled), the plugins' notes on it
    (hal_probe_device: for modbus-meter devices the model the meter's registers match next to
    the configured one), and the plugins' probe lines. Read-only: contactors stay open, the CP
    stays at its idle output."""

    help = "set up a board profile and show each device's identification and one reading"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--board", required=True, type=Path, metavar="PROFILE", help="board profile (TOML)"
        )

    def run(self, args: argparse.Namespace, pm: HalPluginManager) -> int:
        from josev_hal.errors import HalError
        from josev_hal.probe.board import probe_board

        if args.draft_profile is not None:
            error("--draft-profile: probe board reads an existing profile, there is nothing to draft")
            return EXIT_USAGE
        board = load_board(args.board, pm)
        if isinstance(board, int):
            return board
        try:
            board.setup()
        except HalError as exc:
            error(f"board setup failed: {exc}")
            return EXIT_RUNTIME
        try:
            found = probe_board(board, pm)
            emit(args, found, f"{args.board} has no devices")
            if not args.json:
                plugin_lines(pm, board)
        finally:
            board.release()
        return EXIT_NOTHING if any(f.notes for f in found) else EXIT_FOUND
