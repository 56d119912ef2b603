"""What a Linux board offers: GPIO chips and their lines, PWM chips, IIO channels, 1-wire
sensors -- listed for ``josev-hal probe`` and turned into a draft board profile.

The draft only names what it found; which line is the contactor coil and which ADC channel
carries CP is board knowledge, so the draft guesses from line names (``RELAY``, ``CONTACTOR``,
``RCD``/``RCM``, ``LOCK``, ``PEAK``, ``CP_STATE_E``) and leaves ``# TODO`` where it cannot.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sysfs import read_attr

__all__ = ["LinuxInventory", "draft_profile", "inventory", "inventory_lines"]


@dataclass
class GpioChipInfo:
    path: str
    name: str
    label: str
    lines: list[tuple[int, str | None, bool, str | None]]  # offset, name, used, consumer


@dataclass
class LinuxInventory:
    gpio_chips: list[GpioChipInfo] = field(default_factory=list)
    pwm_chips: list[tuple[str, int]] = field(default_factory=list)  # pwmchipN, npwm
    iio_devices: list[tuple[str, str, list[str]]] = field(default_factory=list)  # dir, name, channels
    w1_sensors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def inventory(gpio_dev_dir: str | Path, sysfs_root: str | Path, gpiod: Any) -> LinuxInventory:
    """Look at the kernel interfaces (read-only: nothing is requested or exported)."""
    inv = LinuxInventory()
    dev = Path(gpio_dev_dir)
    root = Path(sysfs_root)
    if gpiod is None:
        inv.problems.append("gpiod (libgpiod 2.x bindings) not installed: GPIO chips not listed")
    else:
        try:
            names = sorted((n for n in os.listdir(dev) if n.startswith("gpiochip")), key=_natural)
        except OSError as exc:
            names = []
            inv.problems.append(f"{dev}: {exc}")
        for n in names:
            path = str(dev / n)
            try:
                if not gpiod.is_gpiochip_device(path):
                    continue
                chip = gpiod.Chip(path)
                try:
                    info = chip.get_info()
                    lines = []
                    for offset in range(info.num_lines):
                        li = chip.get_line_info(offset)
                        lines.append((offset, li.name, li.used, li.consumer))
                finally:
                    chip.close()
                inv.gpio_chips.append(GpioChipInfo(path, info.name, info.label, lines))
            except OSError as exc:
                inv.problems.append(f"{path}: {exc}")
    pwm = root / "class" / "pwm"
    for d in sorted(pwm.glob("pwmchip*"), key=lambda p: _natural(p.name)):
        try:
            inv.pwm_chips.append((d.name, int(read_attr(d / "npwm"))))
        except (OSError, ValueError) as exc:
            inv.problems.append(f"{d}: {exc}")
    iio = root / "bus" / "iio" / "devices"
    for d in sorted(iio.glob("iio:device*"), key=lambda p: _natural(p.name)):
        try:
            name = read_attr(d / "name")
        except OSError:
            name = "?"
        channels = sorted((f.name[: -len("_raw")] for f in d.glob("in_voltage*_raw")), key=_natural)
        inv.iio_devices.append((d.name, name, channels))
    w1 = root / "bus" / "w1" / "devices"
    inv.w1_sensors = sorted(d.name for d in w1.glob("28-*") if (d / "temperature").exists())
    return inv


def _natural(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def inventory_lines(inv: LinuxInventory) -> list[str]:
    """Human-readable lines for the probe."""
    out: list[str] = []
    for chip in inv.gpio_chips:
        out.append(f"{chip.name} [{chip.label}] {len(chip.lines)} lines ({chip.path})")
        for offset, name, used, consumer in chip.lines:
            if name is None and not used:
                continue
            state = f"used by {consumer}" if used else "free"
            out.append(f"  line {offset:3d} {name or '-':24s} {state}")
    for name, npwm in inv.pwm_chips:
        out.append(f"{name}: {npwm} PWM channel(s)")
    for d, name, channels in inv.iio_devices:
        out.append(f"{d} [{name}]: {', '.join(channels) or 'no voltage channels'}")
    for serial in inv.w1_sensors:
        out.append(f"1-wire {serial} (DS18B20 family)")
    out.extend(f"! {p}" for p in inv.problems)
    return out


_GUESSES = {
    "coil": re.compile(r"CONTACTOR(?!.*(FB|FEEDBACK|MIRROR))|RELAY(?!.*(FB|FEEDBACK))", re.I),
    "feedback": re.compile(r"(CONTACTOR|RELAY).*(FB|FEEDBACK|MIRROR)", re.I),
    "trip": re.compile(r"(RCD|RCM).*(FAULT|TRIP|ERR)", re.I),
    "test": re.compile(r"(RCD|RCM).*TEST", re.I),
    "lock_a": re.compile(r"LOCK.*(MOTOR_?A|LOCK$|_A$)", re.I),
    "lock_b": re.compile(r"LOCK.*(MOTOR_?B|UNLOCK|_B$)", re.I),
    "lock_fb": re.compile(r"LOCK.*(FB|FEEDBACK|SENSE|SWITCH)", re.I),
    "pos_rst": re.compile(r"POS.*PEAK.*RST|PEAK.*POS.*RST", re.I),
    "neg_rst": re.compile(r"NEG.*PEAK.*RST|PEAK.*NEG.*RST", re.I),
    "state_e": re.compile(r"STATE_?E\b", re.I),
}


def _find(inv: LinuxInventory, key: str) -> tuple[str, str] | None:
    for chip in inv.gpio_chips:
        for _offset, name, _used, _consumer in chip.lines:
            if name and _GUESSES[key].search(name):
                return chip.name, name
    return None


def _line(found: tuple[str, str] | None, todo: str) -> str:
    if found is None:
        return f'{{ chip = "gpiochip0", line = 0 }}  # TODO: {todo}'
    return f'{{ chip = "{found[0]}", line = "{found[1]}" }}'


def draft_profile(inv: LinuxInventory, *, bus: str = "soc") -> str:
    """A ``[buses]`` table and ``[evse.devices]`` tables for what was found (to paste into a
    profile and complete)."""
    iio = inv.iio_devices[0][1] if inv.iio_devices else "TODO-iio-device"
    pwm = inv.pwm_chips[0][0].removeprefix("pwmchip") if inv.pwm_chips else "0"
    lines = [
        f"[buses.{bus}]",
        'kind = "linux"',
        "",
        "  [evse.devices.cp]",
        'driver = "linux-cp"',
        f'bus = "{bus}"',
        "  [evse.devices.cp.options]",
        f"  pwm_chip = {pwm}",
        "  pwm_channel = 0",
        f'  iio_device = "{iio}"',
        "  positive_channel = 0  # TODO: check",
        "  negative_channel = 1  # TODO: check",
        "  adc_v_per_cp_v = 0.122  # TODO: your front end",
        "  adc_offset_v = 1.713  # TODO: your front end",
    ]
    for key, opt in (
        ("pos_rst", "positive_peak_reset"),
        ("neg_rst", "negative_peak_reset"),
        ("state_e", "state_e"),
    ):
        found = _find(inv, key)
        if found is not None:
            lines.append(f"  {opt} = {_line(found, '')}")
    lines += [
        "",
        "  [evse.devices.pp]",
        'driver = "iio-pp"',
        f'bus = "{bus}"',
        f'options = {{ iio_device = "{iio}", channel = 2 }}  # TODO: check the channel',
        "",
        "  [evse.devices.contactor]",
        'driver = "gpio-contactor"',
        f'bus = "{bus}"',
        f"options = {{ coil = {_line(_find(inv, 'coil'), 'coil line')}, "
        f"feedback = {_line(_find(inv, 'feedback'), 'mirror contact')} }}",
        "",
        "  [evse.devices.rcd]",
        'driver = "gpio-rcd"',
        f'bus = "{bus}"',
        f"options = {{ trip = {_line(_find(inv, 'trip'), 'fault output')}, "
        f"test = {_line(_find(inv, 'test'), 'test input')} }}",
    ]
    lock_a, lock_b = _find(inv, "lock_a"), _find(inv, "lock_b")
    if lock_a is not None:
        unlock = f", unlock = {_line(lock_b, '')}" if lock_b is not None else ""
        fb = _find(inv, "lock_fb")
        feedback = f", feedback = {_line(fb, '')}" if fb is not None else ""
        lines += [
            "",
            "  [evse.devices.lock]",
            'driver = "gpio-lock"',
            f'bus = "{bus}"',
            f"options = {{ lock = {_line(lock_a, '')}{unlock}{feedback} }}",
        ]
    return "\n".join(lines) + "\n"
