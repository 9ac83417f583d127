"""A folder of hand-written installed distributions (``*.dist-info``) on a narrowed sys.path."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from connector.registry._discovery import CACHE_VARIABLE, HOME_VARIABLE


def backdate(*roots: Path) -> None:
    """Set the mtime of every folder and file under ``roots`` to 10 s ago (a new value each call).

    The discovery cache is not written while the newest metadata is under 2 s old.
    """
    then = time.time_ns() - 10_000_000_000
    for root in roots:
        for path in [root, *root.rglob("*")]:
            os.utime(path, ns=(then, then), follow_symlinks=False)


class Site:
    """A site folder of distributions as an installer leaves them, and the cache home of its tests."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        root.mkdir()

    def _info(self, name: str, version: str) -> Path:
        return self.root / f"{name.replace('-', '_')}-{version}.dist-info"

    def add(
        self,
        name: str,
        version: str,
        entry_points: Mapping[str, Mapping[str, str]],
        modules: Mapping[str, str] | None = None,
    ) -> Path:
        """Install ``name`` ``version``: its metadata, ``entry_points`` by group, ``modules`` by name."""
        folder = self._info(name, version)
        folder.mkdir()
        (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = []
        for group, items in entry_points.items():
            lines += [f"[{group}]", *(f"{k} = {v}" for k, v in items.items()), ""]
        (folder / "entry_points.txt").write_text("\n".join(lines))
        for module, source in (modules or {}).items():
            (self.root / f"{module}.py").write_text(source)
        return folder

    def remove(self, name: str, version: str) -> None:
        """Uninstall ``name`` ``version`` (its metadata folder; its modules stay, as they do not matter)."""
        shutil.rmtree(self._info(name, version))

    def upgrade(self, name: str, version: str, new_version: str) -> None:
        """Rename the metadata folder and its version, as an upgrade does (a new folder, the old one gone)."""
        folder = self._info(name, new_version)
        self._info(name, version).rename(folder)
        (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {new_version}\n")

    def cache_files(self) -> list[Path]:
        return sorted((self.home / "cache").glob("discovery-*.json"))


def narrowed_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """sys.path narrowed to one empty site folder; the discovery cache under tmp_path/home.

    For a fixture: ``yield from narrowed_site(tmp_path, monkeypatch)``.
    """
    site = Site(tmp_path / "site", tmp_path / "home")
    monkeypatch.setattr(sys, "path", [str(site.root)])
    monkeypatch.setenv(HOME_VARIABLE, str(site.home))
    monkeypatch.delenv(CACHE_VARIABLE, raising=False)
    before = set(sys.modules)
    yield site
    for name in set(sys.modules) - before:  # modules of the fake distributions
        if (site.root / f"{name.partition('.')[0]}.py").exists():
            del sys.modules[name]
