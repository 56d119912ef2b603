"""What a Linux board offers: GPIO chips and their lines, PWM chips, IIO channels, 1-wire
sensors -- listed for ``josev-hal probe linux`` (:class:`LinuxProbe`, offered through
``hal_probe_tools``) and turned into a draft board profile.

The draft only names what it found; which line is the contactor coil and which ADC channel
carries CP is board knowledge, so the draft guesses from line names (``RELAY``, ``CONTACTOR``,
``RCD``/``RCM``, ``LOCK``, ``PEAK``, ``CP_STATE_E``) and leaves ``# TODO`` where it cannot.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sysfs import read_attr

if TYPE_CHECKING:
    from josev_hal.plugins import HalPluginManager

__all__ = [
    "LinuxInventory",
    "LinuxProbe",
    "draft_devices",
    "draft_profile",
    "inventory",
    "inventory_lines",
    "merge_linux",
]


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


def _find(inv: LinuxInventory, key: str) -> dict[str, Any] | None:
    for chip in inv.gpio_chips:
        for _offset, name, _used, _consumer in chip.lines:
            if name and _GUESSES[key].search(name):
                return {"chip": chip.name, "line": name}
    return None


def draft_devices(inv: LinuxInventory, bus: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Device tables (role -> ``{driver, bus, options}``) for what ``inv`` shows, and REVIEW notes
    for what had to be guessed. Lines are guessed from their names; without a match a role gets
    ``line = 0`` on the first chip and a note."""
    notes: list[str] = []
    first_chip = inv.gpio_chips[0].name if inv.gpio_chips else "gpiochip0"

    def line(key: str, what: str) -> dict[str, Any]:
        found = _find(inv, key)
        if found is None:
            notes.append(f"{what}: no line named like it; REVIEW: set chip/line")
            return {"chip": first_chip, "line": 0}
        return found

    devices: dict[str, dict[str, Any]] = {}
    if inv.gpio_chips:
        devices["contactor"] = {
            "driver": "gpio-contactor",
            "bus": bus,
            "options": {
                "coil": line("coil", "contactor coil"),
                "feedback": line("feedback", "mirror contact"),
            },
        }
        rcd: dict[str, Any] = {"trip": line("trip", "RCD fault output")}
        if _find(inv, "test") is not None:
            rcd["test"] = line("test", "RCD test input")
        devices["rcd"] = {"driver": "gpio-rcd", "bus": bus, "options": rcd}
        if _find(inv, "lock_a") is not None:
            lock: dict[str, Any] = {"lock": line("lock_a", "lock motor")}
            for key, opt in (("lock_b", "unlock"), ("lock_fb", "feedback")):
                found = _find(inv, key)
                if found is not None:
                    lock[opt] = found
            devices["lock"] = {"driver": "gpio-lock", "bus": bus, "options": lock}
    if inv.pwm_chips and inv.iio_devices:
        iio_name = inv.iio_devices[0][1]
        cp: dict[str, Any] = {
            "pwm_chip": int(inv.pwm_chips[0][0].removeprefix("pwmchip")),
            "pwm_channel": 0,
            "iio_device": iio_name,
            "positive_channel": 0,
            "negative_channel": 1,
            "adc_v_per_cp_v": 0.122,
            "adc_offset_v": 1.7132,
        }
        for key, opt in (
            ("pos_rst", "positive_peak_reset"),
            ("neg_rst", "negative_peak_reset"),
            ("state_e", "state_e"),
        ):
            found = _find(inv, key)
            if found is not None:
                cp[opt] = found
        devices["cp"] = {"driver": "linux-cp", "bus": bus, "options": cp}
        devices["pp"] = {"driver": "iio-pp", "bus": bus, "options": {"iio_device": iio_name, "channel": 2}}
        notes.append(
            f"cp/pp: REVIEW: channels 0/1 (CP peaks) and 2 (PP) of {iio_name} and the reference front end "
            "(0.122 V/V, 1.7132 V) are assumptions"
        )
    if inv.w1_sensors:
        devices["temperature"] = {
            "driver": "linux-temperature",
            "bus": bus,
            "options": {
                "sensors": [
                    {"name": f"w1_{i}", "kind": "ds18b20", "id": serial}
                    for i, serial in enumerate(inv.w1_sensors)
                ]
            },
        }
    return devices, notes


def merge_linux(
    draft: dict[str, Any], inv: LinuxInventory, *, gpio_dev_dir: str, sysfs_root: str
) -> list[str]:
    """Merge a ``linux`` bus and the devices found into a ``josev-hal probe`` draft (the structure
    of :mod:`josev_hal.probe.draft`): into the first AC EVSE missing those roles, or a new one."""
    from josev_hal.probe.draft import draft_bus, evse_for, new_ac_evse

    bus = draft_bus(draft, "linux", {"gpio_dev_dir": gpio_dev_dir, "sysfs_root": sysfs_root}, {}, "soc")
    devices, notes = draft_devices(inv, bus)
    if not devices:
        return []
    evse = evse_for(draft, "ac", next(iter(devices)))
    if evse is None:
        evse = new_ac_evse(draft)
    messages = []
    for role, device in devices.items():
        if role in evse.setdefault("devices", {}):
            continue
        evse["devices"][role] = device
        messages.append(f"{evse['id']} {role}: {device['driver']} on bus {bus}")
    return messages + notes


def draft_profile(inv: LinuxInventory, *, gpio_dev_dir: str = "/dev", sysfs_root: str = "/sys") -> str:
    """A whole draft board profile (TOML text) for what ``inv`` shows."""
    from josev_hal.probe.draft import new_draft, render_draft

    draft = new_draft()
    merge_linux(draft, inv, gpio_dev_dir=gpio_dev_dir, sysfs_root=sysfs_root)
    return render_draft(draft)


class LinuxProbe:
    """List what the kernel offers for a Linux charge controller: every GPIO chip with its line
    names and who holds them (libgpiod), the PWM chips, the IIO ADC channels and the 1-wire
    temperature sensors. Read-only: nothing is requested or exported. With --draft-profile the
    devices guessed from the line names go into the profile."""

    help = "list GPIO chips and lines, PWM chips, IIO channels and 1-wire sensors of this machine"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--gpio-dev-dir", default="/dev", help="where gpiochipN devices are (default /dev)"
        )
        parser.add_argument("--sysfs-root", default="/sys", help="root of the sysfs tree (default /sys)")

    def run(self, args: argparse.Namespace, pm: HalPluginManager) -> int:
        import dataclasses
        import importlib
        import json

        from josev_hal.probe.tool import draft, exit_code

        # libgpiod's bindings are optional (without them the probe reads sysfs); imported by name
        # so the type checker is content with or without them installed.
        gpiod: Any
        try:
            gpiod = importlib.import_module("gpiod")
        except ImportError:
            gpiod = None
        inv = inventory(args.gpio_dev_dir, args.sysfs_root, gpiod)
        if args.json:
            print(json.dumps(dataclasses.asdict(inv), indent=2))
        else:
            for line in inventory_lines(inv):
                print(line)
        drafted = draft(
            args,
            pm,
            lambda data: merge_linux(data, inv, gpio_dev_dir=args.gpio_dev_dir, sysfs_root=args.sysfs_root),
        )
        return exit_code(drafted, bool(inv.gpio_chips or inv.pwm_chips or inv.iio_devices or inv.w1_sensors))
