"""How tests start the ``josev-hal`` command in a child process."""

from __future__ import annotations

import sys
from pathlib import Path


def josev_hal_command() -> list[str]:
    """The console script installed next to this interpreter, else ``python -m josev_hal.cli``
    with the same interpreter (a checkout run without installing the script)."""
    script = Path(sys.executable).with_name("josev-hal")
    return [str(script)] if script.exists() else [sys.executable, "-m", "josev_hal.cli"]
