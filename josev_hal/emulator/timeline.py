"""A readable, colourful timeline of an emulated session (rich), and its closing summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from josev_hal.emulator.peer import TimelineEvent
from josev_hal.emulator.scenarios import ScenarioResult

__all__ = ["TimelinePrinter", "print_summary"]

_STYLE = {
    "josev->cs": ("Josev → CS", "cyan"),
    "cs->josev": ("CS → Josev", "green"),
    "sim": ("EV (sim)  ", "magenta"),
    "step": ("──        ", "bold"),
}


class TimelinePrinter:
    """Callback for :class:`~josev_hal.emulator.peer.JosevEmulator` that prints one line per event."""

    def __init__(self, console: Console | None = None, *, quiet_updates: bool = False) -> None:
        self.console = console or Console(highlight=False)
        self.quiet_updates = quiet_updates
        self.cp_state: dict[str, str] = {}

    def __call__(self, ev: TimelineEvent) -> None:
        label, style = _STYLE.get(ev.direction, (ev.direction, "white"))
        line = Text()
        line.append(f"{ev.at:7.2f}s ", style="dim")
        line.append(f"{label} ", style=style)
        if ev.direction == "step":
            line.append(ev.title, style="bold")
        else:
            # At least one space after the name, however long (power_electronics_setpoint.request).
            line.append(f"{ev.title:<34} ", style=f"bold {style}")
            line.append(ev.summary)
        if ev.direction == "cs->josev" and ev.title == "cp_status.update" and ev.data is not None:
            previous = self.cp_state.get(ev.data.evse_id)
            self.cp_state[ev.data.evse_id] = ev.data.state.value
            if previous and previous != ev.data.state.value:
                line.append(f"   CP {previous} → {ev.data.state.value}", style="yellow")
        if ev.violation:
            line.append(f"\n           ✗ {ev.violation}", style="bold red")
        self.console.print(line)


def print_summary(console: Console, result: ScenarioResult, elapsed_s: float, extra: dict[str, Any]) -> None:
    table = Table(title="Session summary", show_header=False, title_style="bold")
    table.add_column(style="bold")
    table.add_column()
    verdict = Text("PASSED", style="bold green") if result.ok else Text("FAILED", style="bold red")
    table.add_row("result", verdict)
    table.add_row("scenario", result.scenario)
    if result.evse_id:
        table.add_row("EVSE", result.evse_id)
    table.add_row("session completed", "yes" if result.completed else f"no: {result.failure}")
    if result.energy_wh is not None:
        table.add_row("energy delivered", f"{result.energy_wh:.1f} Wh")
    table.add_row("messages checked against the contract", str(result.checked))
    table.add_row("contract violations", str(len(result.violations)))
    for key, value in extra.items():
        table.add_row(key, str(value))
    table.add_row("duration", f"{elapsed_s:.1f} s")
    console.print(table)
    for v in result.violations:
        console.print(Text(f"✗ {v.where}: {v.reason}\n  {v.payload}", style="red"))
