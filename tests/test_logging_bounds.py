"""Issue #13 item 6: no log line carries a hostile value in full (the safety net under the call
sites; the bridge excerpts rejected values itself, see tests/test_bridge_concurrency.py)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from josev_hal.logging_setup import MAX_MESSAGE_CHARS, setup_logging


def test_a_huge_logged_value_is_cut_in_the_file_and_on_stderr(tmp_path: Path) -> None:
    stderr = io.StringIO()
    files = setup_logging(tmp_path, level="INFO", stderr=stderr, journald=False)
    try:
        hostile = "E" * 200_000
        logging.getLogger("josev_hal.station").warning("update for unknown evse_id=%s ignored", hostile)
        logging.getLogger("josev_hal.station").info("short line %s", "stays")
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert files.diagnostics is not None
        written = files.diagnostics.read_text()
    finally:
        files.close()
    for text in (written, stderr.getvalue()):
        lines = text.splitlines()
        cut = next(line for line in lines if "unknown evse_id" in line)
        assert len(cut) < MAX_MESSAGE_CHARS + 200
        expected = len(f"update for unknown evse_id={hostile} ignored")
        assert cut.endswith(f"(message cut: {expected} chars)")
        assert any(line.endswith("short line stays") for line in lines)
