"""Profile variants: ``extends = "base.toml"`` merges a profile over a base profile.

A board variant states only what differs from its base::

    extends = "acme-22kw.toml"          # relative to this file; the base may extend another

    [station]
    model = "Wallbox 11"                # one key of a table: the rest of [station] stays

    [[evse]]
    id = "DE*ACM*E0001"                 # same id as the base's EVSE: merged into it
    max_current_a = 16

Merge rules, applied from the first base to the variant:

* tables merge key by key (the later file wins per key);
* arrays of tables whose entries all have an ``id`` (``[[evse]]``, ``[[evse.connectors]]``) merge
  entry by entry on ``id``; an entry with a new id is appended;
* everything else (values, plain arrays such as ``services`` or ``[[pp.windows]]``) is replaced.

The merged document is validated as one profile. Every problem names the file and line that set
the value (the base's line for a value the variant did not touch). A cycle or an unreadable base
is reported at the ``extends`` line.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from josev_hal.errors import ProfileError
from josev_hal.profile.lines import KeyPath, Origins, key_lines

__all__ = ["EXTENDS_KEY", "Layer", "decode_toml", "merge_layers", "read_layers"]

EXTENDS_KEY = "extends"


@dataclass
class Layer:
    """One file of a chain: its name, text and decoded document (without ``extends``)."""

    source: str
    text: str
    raw: dict[str, Any]


def decode_toml(text: str, source: str) -> dict[str, Any]:
    """The TOML document ``text``; a syntax error is a :class:`ProfileError` at its line."""
    try:
        raw = msgspec.toml.decode(text.encode())
    except msgspec.DecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        where = f"{source}:{m.group(1)}" if m else source
        raise ProfileError([f"{where}: TOML syntax error: {exc}"], path=source) from exc
    assert isinstance(raw, dict)
    return raw


def read_layers(raw: dict[str, Any], text: str, source: str) -> list[Layer]:
    """The chain of files ``source`` extends, first base first (``raw`` is ``source``'s document)."""
    top = Layer(source, text, dict(raw))
    chain = [top]
    seen = {Path(source).resolve()}
    current = top
    while EXTENDS_KEY in current.raw:
        target = current.raw.pop(EXTENDS_KEY)
        line = key_lines(current.text).get((EXTENDS_KEY,))
        where = f"{current.source}:{line}" if line else current.source
        if not isinstance(target, str) or not target.strip():
            raise ProfileError([f"{where}: extends: expected a file name (string)"], path=current.source)
        path = Path(current.source).parent / target
        if path.resolve() in seen:
            raise ProfileError(
                [f"{where}: extends: {target!r} is already in the chain (a cycle)"], path=source
            )
        seen.add(path.resolve())
        try:
            base_text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError([f"{where}: extends: cannot read {path}: {exc}"], path=source) from exc
        current = Layer(str(path), base_text, decode_toml(base_text, str(path)))
        chain.insert(0, current)
    return chain


def _merge_by_id(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "id" in i for i in items)


class _Merge:
    def __init__(self) -> None:
        self.remap: dict[KeyPath, dict[int, int]] = {}
        self.replaced: list[KeyPath] = []

    def value(self, base: Any, over: Any, path: KeyPath) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            result = dict(base)
            for key, item in over.items():
                result[key] = (
                    self.value(base[key], item, (*path, key)) if key in base else copy.deepcopy(item)
                )
            return result
        if isinstance(base, list) and isinstance(over, list) and _merge_by_id(base) and _merge_by_id(over):
            result_list = list(base)
            index = {item["id"]: i for i, item in enumerate(result_list)}
            mapping = self.remap.setdefault(path, {})
            for j, item in enumerate(over):
                i = index.get(item["id"])
                if i is None:
                    result_list.append(copy.deepcopy(item))
                    i = len(result_list) - 1
                    index[item["id"]] = i
                else:
                    result_list[i] = self.value(result_list[i], item, (*path, i))
                mapping[j] = i
            return result_list
        if isinstance(base, list | dict):
            self.replaced.append(path)
        return copy.deepcopy(over)


def _translate(path: KeyPath, remap: dict[KeyPath, dict[int, int]]) -> KeyPath:
    out: KeyPath = ()
    for part in path:
        if isinstance(part, int) and out in remap:
            part = remap[out].get(part, part)
        out = (*out, part)
    return out


def merge_layers(layers: list[Layer]) -> tuple[dict[str, Any], Origins]:
    """Merge the chain (first base first) into one document, with the file and line that set
    each key path of the result."""
    merged: dict[str, Any] = {}
    origins: Origins = {}
    for layer in layers:
        merge = _Merge()
        merged = merge.value(merged, layer.raw, ())
        for gone in merge.replaced:
            for key in [k for k in origins if k[: len(gone)] == gone and len(k) > len(gone)]:
                del origins[key]
        for path, line in key_lines(layer.text).items():
            if path and path[0] == EXTENDS_KEY:
                continue
            origins[_translate(path, merge.remap)] = (layer.source, line)
    return merged, origins
