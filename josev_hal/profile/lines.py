"""Problems of a profile and where they are: key paths, TOML line numbers, ``file:line:`` text.

Every problem is recorded as (key path, reason) while loading; :func:`format_problems` turns them
into the lines ``josev-hal check`` prints::

    boards/x.toml:42: evse[0].devices.meter.options.baudrate: expected int, got "fast"

Line numbers are found by scanning the TOML text for the key path (best effort: a problem about a
missing key points at its table's header).
"""

from __future__ import annotations

import json
import re

__all__ = ["KeyPath", "Origins", "Problems", "format_path", "format_problems", "key_lines", "show"]

KeyPath = tuple[str | int, ...]
#: For a profile with ``extends``: the file and line that set each key path.
Origins = dict[KeyPath, tuple[str, int]]


def format_path(path: KeyPath) -> str:
    """``("evse", 0, "devices", "meter")`` -> ``evse[0].devices.meter``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def show(value: object) -> str:
    """How a problem names a wrong value: JSON for scalars, "a table" / "an array" for the rest."""
    if isinstance(value, bool | int | float | str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


class Problems:
    """(key path, reason) pairs in the order they were found."""

    def __init__(self) -> None:
        self.items: list[tuple[KeyPath, str]] = []

    def add(self, path: KeyPath, reason: str) -> None:
        self.items.append((path, reason))

    def __bool__(self) -> bool:
        return bool(self.items)


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map key paths to the line that defines them, by scanning the TOML text (best effort)."""
    lines: dict[KeyPath, int] = {}
    counters: dict[KeyPath, int] = {}
    current: KeyPath = ()
    in_multiline: str | None = None

    def split_keys(dotted: str) -> list[str]:
        return [k.strip().strip("\"'") for k in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', dotted)]

    def resolve(keys: list[str]) -> KeyPath:
        out: KeyPath = ()
        for key in keys:
            out = (*out, key)
            if out in counters:
                out = (*out, counters[out])
        return out

    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if in_multiline:
            if in_multiline in stripped:
                in_multiline = None
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            keys = split_keys(stripped[2 : stripped.find("]]")])
            base = (*resolve(keys[:-1]), keys[-1])
            counters[base] = counters.get(base, -1) + 1
            current = (*base, counters[base])
            lines.setdefault(base, lineno)
            lines[current] = lineno
            continue
        if stripped.startswith("["):
            current = resolve(split_keys(stripped[1 : stripped.find("]")]))
            lines.setdefault(current, lineno)
            continue
        m = re.match(r'\s*((?:"[^"]*"|\'[^\']*\'|[A-Za-z0-9_\-.\s])+?)\s*=(.*)$', line)
        if not m:
            continue
        keypath = (*current, *split_keys(m.group(1)))
        lines.setdefault(keypath, lineno)
        value = m.group(2).strip()
        if value.startswith("{"):
            for inner in re.finditer(r"([A-Za-z0-9_\-]+)\s*=", value):
                lines.setdefault((*keypath, inner.group(1)), lineno)
        for quote in ('"""', "'''"):
            if value.startswith(quote) and value.count(quote) == 1:
                in_multiline = quote
    return lines


def format_problems(source: str, text: str, problems: Problems, origins: Origins | None = None) -> list[str]:
    """``file:line: key.path: reason`` lines in file order. ``origins`` (a profile with
    ``extends``) says which file and line set each key path; else all come from ``text``."""
    if origins is None:
        origins = {path: (source, line) for path, line in key_lines(text).items()}
    files: dict[str, int] = {}
    rendered: list[tuple[int, int, int, str]] = []
    for order, (path, reason) in enumerate(problems.items):
        found = next((origins[path[:cut]] for cut in range(len(path), 0, -1) if path[:cut] in origins), None)
        file, line = found if found is not None else (source, 0)
        where = f"{file}:{line}" if line else file
        rank = files.setdefault(file, len(files) if file != source else -1)
        rendered.append((rank, line, order, f"{where}: {format_path(path)}: {reason}"))
    return [text for *_, text in sorted(rendered)]


# --------------------------------------------------------------------------------------------
# Decoding: table by table, so that every problem of a file is found in one run
# --------------------------------------------------------------------------------------------
