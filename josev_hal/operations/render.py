"""Terminal rendering of ``GET /status`` for ``josev-hal status`` and ``josev-hal monitor``."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

__all__ = ["bridge_line", "evse_table", "status_view"]


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _cp(conn: dict[str, Any]) -> str:
    state = conn.get("cp_state") or "?"
    parts = [f"{conn['id']}:{state}"]
    if conn.get("cp_high_v") is not None:
        low = conn.get("cp_low_v")
        parts.append(f"{conn['cp_high_v']:+.1f}V" + ("" if low is None else f"/{low:+.1f}V"))
    if conn.get("pwm_duty_percent") is not None:
        parts.append(f"{conn['pwm_duty_percent']:.1f}%")
    cable = conn.get("cable")
    if cable:
        if cable.get("ampacity_a") is not None:
            parts.append(f"PP {cable['ampacity_a']}A")
        if cable.get("lock"):
            parts.append(f"lock {cable['lock']}")
    return " ".join(parts)


def _meter(meter: dict[str, Any] | None, rates: dict[str, float] | None = None) -> str:
    if meter is None:
        return "no meter"
    if not meter.get("ok"):
        return "OFFLINE"
    parts = [_fmt(meter.get("power_w"), " W", 0), _fmt(meter.get("energy_wh"), " Wh", 1)]
    if meter.get("current_a"):
        parts.append("/".join(f"{a:.1f}" for a in meter["current_a"]) + " A")
    if meter.get("voltage_v"):
        parts.append("/".join(f"{v:.0f}" for v in meter["voltage_v"]) + " V")
    if meter.get("dc_voltage_v") is not None:
        parts.append(f"{meter['dc_voltage_v']:.0f} V {_fmt(meter.get('dc_current_a'), ' A')}")
    parts.append(f"age {meter.get('age_s', 0):.1f}s")
    return " ".join(parts)


def evse_table(status: dict[str, Any]) -> Table:
    table = Table(title="EVSEs", expand=False, show_lines=True)
    for column in ("EVSE", "status", "CP", "contactor", "meter", "faults / blockers", "wear"):
        table.add_column(column, overflow="fold")
    for evse in status.get("evses", []):
        contactor = evse["contactor"]
        ctext = Text(contactor["status"], style="red" if contactor["status"] == "error" else "")
        if contactor["commanded_closed"] and contactor["status"] != "closed":
            ctext.append(" (cmd closed)")
        state = evse["status_code"]
        if not evse["available"]:
            state += " [inoperative]"
        if evse["rcd_tripped"]:
            state += " [RCD]"
        problems = [
            f"{f['component']}:{f['key']}{' (latched)' if f['latched'] else ''}" for f in evse["faults"]
        ]
        blockers = ", ".join(evse.get("blockers", []))
        ftext = Text("; ".join(problems) or "-", style="red" if problems else "green")
        if blockers:
            ftext.append(f"\nmay not close: {blockers}", style="yellow")
        c = evse.get("counters", {})
        wear = (
            f"contactor {c.get('contactor_operations', 0)} "
            f"({c.get('contactor_openings_under_load', 0)} under load)\n"
            f"lock {c.get('lock_cycles', 0)}, RCD trips {c.get('rcd_trips', 0)} "
            f"tests {c.get('rcd_self_tests', 0)}\n"
            f"{c.get('energy_wh', 0.0) / 1000:.3f} kWh"
        )
        table.add_row(
            f"{evse['evse_id']}\n{evse['kind'].upper()}",
            state,
            "\n".join(_cp(conn) for conn in evse["connectors"]),
            ctext,
            _meter(evse.get("meter")),
            ftext,
            wear,
        )
    return table


def bridge_line(status: dict[str, Any], rates: dict[str, float] | None = None) -> Text:
    b = status.get("bridge")
    head = f"josev-hal {status.get('version', '?')}  board {status.get('board') or '?'}  "
    head += f"up {status.get('uptime_s', 0):.0f}s  "
    if not b:
        return Text(head + "bridge: -")
    text = Text(head)
    text.append(
        "mqtt " + ("connected" if b["connected"] else "DISCONNECTED"),
        style="green" if b["connected"] else "red",
    )
    text.append(
        f"  in {b['messages_in']} out {b['messages_out']} rejects {sum(b['rejects'].values())} "
        f"reconnects {b['reconnects']} queue {b['queue_depth']} p99 {b['handler_p99_ms']:.1f} ms"
    )
    if rates:
        text.append(f"  rate in {rates.get('in', 0.0):.1f}/s out {rates.get('out', 0.0):.1f}/s")
    return text


def status_view(status: dict[str, Any], rates: dict[str, float] | None = None) -> Group:
    return Group(bridge_line(status, rates), evse_table(status))
