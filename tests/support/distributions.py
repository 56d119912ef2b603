"""Throwaway installed distributions for plugin tests: a module plus a ``.dist-info`` directory in
a temporary site directory on ``sys.path``, exactly what pip would leave behind, so
``importlib.metadata`` discovers its entry points like any real plugin's."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from josev_hal.plugins import AUTOLOAD_ENV, BUS_KIND_INDEX_GROUP, DRIVER_INDEX_GROUP, ENTRY_POINT_GROUP

__all__ = ["make_distribution", "plugin_site"]


def make_distribution(
    site: Path,
    dist: str,
    version: str,
    module: str,
    source: str,
    entry: str,
    *,
    drivers: Iterable[str] = (),
    bus_kinds: Iterable[str] = (),
) -> None:
    """Install ``module`` (``source``) as distribution ``dist`` with plugin entry point ``entry``;
    ``drivers``/``bus_kinds`` are declared in the index groups (then the plugin loads lazily)."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = [f"[{ENTRY_POINT_GROUP}]", f"{entry} = {module}", ""]
    if drivers:
        lines += [f"[{DRIVER_INDEX_GROUP}]", *(f"{d} = {entry}" for d in drivers), ""]
    if bus_kinds:
        lines += [f"[{BUS_KIND_INDEX_GROUP}]", *(f"{k} = {entry}" for k in bus_kinds), ""]
    (info / "entry_points.txt").write_text("\n".join(lines))
    (info / "RECORD").write_text("")


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh site directory on sys.path; modules imported from it are forgotten afterwards."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    before = set(sys.modules)
    yield site
    for name in set(sys.modules) - before:
        if str(site) in str(getattr(sys.modules[name], "__file__", "") or ""):
            del sys.modules[name]
