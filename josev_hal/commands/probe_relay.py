"""``josev-hal probe relay``: the one probe that switches (the core's; only the board roles)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from josev_hal.probe.tool import (
    EXIT_FOUND,
    EXIT_NOTHING,
    EXIT_RUNTIME,
    EXIT_USAGE,
    draft,
    emit,
    error,
    load_board,
    plugin_lines,
)

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = ["RelayProbe"]


class RelayProbe:
    """Close and open the contactor of one EVSE of a board profile and measure how long its
    mirror contact takes to follow. This switches mains contacts: it runs only with
    --yes-i-know, and refuses while the CP is not in state A (a vehicle is connected), while an
    RCD reports a trip, or when the contactor already reads closed. With --draft-profile the
    measured time sets [contactor] feedback_timeout_ms (the FILE starts as a copy of the board
    profile when it does not exist)."""

    help = "switch one EVSE's contactor without a vehicle and time its feedback (--yes-i-know)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--board", required=True, type=Path, metavar="PROFILE", help="board profile (TOML)"
        )
        parser.add_argument(
            "--evse", required=True, metavar="ID", help="EVSE id (as in the profile's [[evse]] id)"
        )
        parser.add_argument(
            "--yes-i-know", action="store_true", help="confirm that switching the contactor is safe"
        )
        parser.add_argument("--cycles", type=int, default=1, help="close/open cycles (default 1)")
        parser.add_argument(
            "--timeout-ms",
            type=float,
            default=None,
            help="feedback wait (default 4x the profile's feedback_timeout_ms)",
        )

    def run(self, args: argparse.Namespace, pm: HalPluginManager) -> int:
        import tomllib

        from josev_hal.board import Board, BoardEvse
        from josev_hal.devices import Driver, Role
        from josev_hal.errors import HalError
        from josev_hal.probe import ProbeRefused
        from josev_hal.probe.draft import merge_relay, new_draft
        from josev_hal.probe.relay import probe_relay

        if not args.yes_i_know:
            error(
                "relay switches the contactor (mains contacts): make sure nothing is connected to the "
                "output and nobody works on it, then add --yes-i-know"
            )
            return EXIT_USAGE
        if args.cycles < 1 or (args.timeout_ms is not None and args.timeout_ms <= 0):
            error("--cycles must be >= 1 and --timeout-ms > 0")
            return EXIT_USAGE
        draft_path = args.draft_profile
        same = draft_path is not None and draft_path.exists() and args.board.exists()
        if same and draft_path.resolve() == args.board.resolve():
            error("--draft-profile must not be the board profile itself (its comments would be lost)")
            return EXIT_USAGE
        full = load_board(args.board, pm)
        if isinstance(full, int):
            return full
        try:
            evse = full.evse(args.evse)
        except KeyError:
            error(f"no EVSE {args.evse!r} in {args.board} (EVSEs: {', '.join(e.id for e in full.evses)})")
            return EXIT_USAGE
        # Only what the probe needs is set up: a meter on a missing port must not stop a relay test.
        roles = [r for r in (Role.CONTROL_PILOT, Role.CONTACTOR, Role.RCD) if r in evse.devices]
        devices: dict[Role, Driver] = {r: evse.devices[r] for r in roles}
        buses = {
            name: bus
            for name, bus in full.buses.items()
            if any(d.config.bus is bus for d in devices.values())
        }
        board = Board(full.profile, buses, [BoardEvse(evse.index, evse.spec, devices)])
        try:
            board.setup()
        except HalError as exc:
            error(f"board setup failed: {exc}")
            return EXIT_RUNTIME
        try:
            try:
                found = probe_relay(board, args.evse, cycles=args.cycles, timeout_ms=args.timeout_ms)
            except ProbeRefused as exc:
                error(f"refused: {exc}")
                return EXIT_NOTHING
            except HalError as exc:
                error(str(exc))
                return EXIT_RUNTIME
            emit(args, [found], "")
            if not args.json:
                plugin_lines(pm, board)
        finally:
            board.release()

        def start() -> dict[str, Any]:
            data = new_draft()
            data.update(tomllib.loads(args.board.read_text(encoding="utf-8")))
            return data

        failed = draft(args, pm, lambda data: merge_relay(data, found), start=start)
        if failed is not None:
            return failed
        return EXIT_NOTHING if found.notes and found.reading["has_feedback"] else EXIT_FOUND
