"""Bounded matching of a sensor's target: whether a path exists, or whether a glob has a match.

A glob is walked entry by entry (never ``glob.glob``, which can neither stop early nor keep out of
symlinks that lead outside the roots) and the walk stops at the first match or when its limits are
spent. Nothing found is ever returned: an answer says whether something matched, never what.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import math
import os
import stat
import time
from collections.abc import Callable, Generator
from typing import Any, Protocol

from ._exceptions import SensorRequestError
from ._roots import LeadsOutside, LocalTarget, SensorRoots, UrlTarget, has_magic

#: Directory entries one ``get`` may look at while matching a glob.
DEFAULT_SCAN_ENTRIES = 10_000
#: Seconds one ``get`` may spend matching a glob.
DEFAULT_SCAN_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class ScanLimits:
    """How much matching one glob may cost per ``get``: ``entries`` directory entries, ``seconds`` of time.

    ``clock`` measures the time (``time.monotonic``; a test may give a fake one). A scan that
    reaches either limit stops and says so; the next ``get`` starts it again from the beginning.
    """

    entries: int = DEFAULT_SCAN_ENTRIES
    seconds: float = DEFAULT_SCAN_SECONDS
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if isinstance(self.entries, bool) or not isinstance(self.entries, int) or self.entries < 1:
            raise ValueError(f"ScanLimits.entries must be a positive integer; got {self.entries!r}")
        if not (isinstance(self.seconds, (int, float)) and math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"ScanLimits.seconds must be a positive number; got {self.seconds!r}")


@dataclasses.dataclass(frozen=True)
class ScanResult:
    """Whether the target matched; ``scanned`` entries were looked at; ``limit`` is what stopped the scan.

    ``limit`` is None when the scan finished (or matched), else the limit reached: ``"10000
    entries"`` or ``"2s"``.
    """

    matched: bool
    scanned: int = 0
    limit: str | None = None


@dataclasses.dataclass(frozen=True)
class _Entry:
    name: str
    path: str
    is_dir: bool
    is_link: bool


class _Tree(Protocol):
    def entries(self, directory: str) -> Generator[_Entry, None, None]: ...
    def child(self, directory: str, name: str) -> tuple[str, bool] | None: ...
    def matches(self, name: str, segment: str) -> bool: ...
    def descends(self, entry: _Entry) -> bool: ...


class _LocalTree:
    """Local directories, read with ``os.scandir``; symlinks resolved by the roots, never followed out."""

    def __init__(self, roots: SensorRoots) -> None:
        self.roots = roots

    def entries(self, directory: str) -> Generator[_Entry, None, None]:
        try:
            iterator = os.scandir(directory)
        except (OSError, ValueError):
            return
        with iterator:
            while True:
                try:
                    entry = next(iterator)
                except (StopIteration, OSError):
                    return
                try:
                    is_link = entry.is_symlink()
                    is_dir = not is_link and entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                yield _Entry(entry.name, entry.path, is_dir, is_link)

    def child(self, directory: str, name: str) -> tuple[str, bool] | None:
        try:
            found = self.roots.real_path(directory, (name,))
        except LeadsOutside:
            return None  # a symlink out of the roots is skipped, as if it were not there
        return None if found is None else (found[0], stat.S_ISDIR(found[1]))

    def matches(self, name: str, segment: str) -> bool:
        # As glob.glob: a wildcard does not match a leading dot.
        if name.startswith(".") and not segment.startswith("."):
            return False
        return fnmatch.fnmatch(name, segment)

    def descends(self, entry: _Entry) -> bool:
        # ``**`` enters neither hidden directories (as glob.glob) nor symlinked ones (no loops, no way out).
        return entry.is_dir and not entry.is_link and not entry.name.startswith(".")


class _FsspecTree:
    """The directories of an fsspec filesystem, read with ``ls``."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs

    def entries(self, directory: str) -> Generator[_Entry, None, None]:
        try:
            infos = self.fs.ls(directory, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return
        own = directory.rstrip("/")
        for info in infos:
            path = str(info["name"]).rstrip("/")
            if path == own:  # some filesystems list a file as itself
                continue
            yield _Entry(path.rsplit("/", 1)[-1], path, info.get("type") == "directory", False)

    def child(self, directory: str, name: str) -> tuple[str, bool] | None:
        path = f"{directory.rstrip('/')}/{name}"
        try:
            info = self.fs.info(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return path, info.get("type") == "directory"

    def matches(self, name: str, segment: str) -> bool:
        return fnmatch.fnmatchcase(name, segment)

    def descends(self, entry: _Entry) -> bool:
        return entry.is_dir


class _Walk:
    """One bounded walk of a glob's pattern components from a directory that exists."""

    def __init__(self, tree: _Tree, limits: ScanLimits) -> None:
        self.tree = tree
        self.limits = limits
        self.scanned = 0
        self.deadline = limits.clock() + limits.seconds

    def _spent(self) -> str | None:
        if self.scanned >= self.limits.entries:
            return f"{self.limits.entries} entries"
        if self.limits.clock() >= self.deadline:
            return f"{self.limits.seconds:g}s"
        return None

    def run(self, start: str, pattern: tuple[str, ...]) -> ScanResult:  # noqa: C901 - one walk, in one place
        last = len(pattern) - 1
        stack = [(start, 0)]
        seen: set[tuple[str, int]] = set()
        while stack:
            directory, index = stack.pop()
            if (directory, index) in seen:
                continue
            seen.add((directory, index))
            segment = pattern[index]
            if segment == "**" and index == last:
                return ScanResult(True, self.scanned)  # as glob.glob: "x/**" matches x itself
            if segment == "**":
                stack.append((directory, index + 1))  # "**" also stands for no directory at all
            elif not has_magic(segment):
                if limit := self._spent():
                    return ScanResult(False, self.scanned, limit)
                self.scanned += 1
                child = self.tree.child(directory, segment)
                if child is not None and index == last:
                    return ScanResult(True, self.scanned)
                if child is not None and child[1]:
                    stack.append((child[0], index + 1))
                continue
            with contextlib.closing(self.tree.entries(directory)) as entries:
                for entry in entries:
                    if limit := self._spent():
                        return ScanResult(False, self.scanned, limit)
                    self.scanned += 1
                    if segment == "**":
                        if self.tree.descends(entry):
                            stack.append((entry.path, index))
                        continue
                    if not self.tree.matches(entry.name, segment):
                        continue
                    if entry.is_link:
                        found = self.tree.child(directory, entry.name)
                    else:
                        found = (entry.path, entry.is_dir)
                    if found is not None and index == last:
                        return ScanResult(True, self.scanned)
                    if found is not None and found[1]:
                        stack.append((found[0], index + 1))
        return ScanResult(False, self.scanned)


def scan_local(roots: SensorRoots, target: LocalTarget, limits: ScanLimits) -> ScanResult:
    """Whether a local path exists, or a local glob has a match; within ``limits``.

    Raises ``LeadsOutside`` when the target's directory part goes through a symlink out of the roots.
    """
    found = roots.real_path(target.root.real, target.base)
    if found is None:
        return ScanResult(False)
    if not target.pattern:
        return ScanResult(True)
    if not stat.S_ISDIR(found[1]):
        return ScanResult(False)
    return _Walk(_LocalTree(roots), limits).run(found[0], target.pattern)


def import_fsspec() -> Any:
    """The fsspec module, or None when it is not installed (it is an optional extra)."""
    try:
        # Imported here: it costs time at import, and most sensors never need it.
        import fsspec  # type: ignore[import-untyped]
    except ImportError:
        return None
    return fsspec


def check_openable(target: UrlTarget) -> None:
    """Raise ``SensorRequestError`` unless fsspec is installed and knows the URL's protocol.

    Called once the URL is known to be under the roots: nothing is opened here.
    """
    fsspec = import_fsspec()
    if fsspec is None:
        raise SensorRequestError(
            f"{target.task}: {target.asked!r} is an fsspec URL and fsspec is not installed; install it "
            "with: pip install 'connector-sensor[fsspec]'",
            field=target.field,
        )
    try:
        fsspec.get_filesystem_class(target.scheme)
    except (ValueError, ImportError) as exc:
        message = f"{target.task}: cannot open {target.asked!r}: {exc}"
        raise SensorRequestError(message, field=target.field) from exc


def scan(roots: SensorRoots, target: LocalTarget | UrlTarget, limits: ScanLimits) -> ScanResult:
    """``scan_url`` or ``scan_local``; a symlink out of the roots raises ``PathNotAllowedError``."""
    if isinstance(target, UrlTarget):
        return scan_url(target, limits)
    try:
        return scan_local(roots, target, limits)
    except LeadsOutside:
        # The same error as a path outside the roots: the answer does not say where the link leads.
        raise roots.refusal(target.asked, task=target.task, field=target.field) from None


def scan_url(target: UrlTarget, limits: ScanLimits) -> ScanResult:
    """Whether an fsspec URL exists, or an fsspec glob has a match; within ``limits`` between entries.

    A listing that a filesystem returns in one call is not interrupted; the limits apply between
    its entries and between listings.
    """
    fsspec = import_fsspec()
    fs, path = fsspec.core.url_to_fs(target.asked)
    if not target.is_glob:
        return ScanResult(bool(fs.exists(path)))
    parts = path.split("/")
    first_magic = next(i for i, part in enumerate(parts) if has_magic(part))
    base = "/".join(parts[:first_magic]) or ("/" if path.startswith("/") else "")
    pattern = tuple(part for part in parts[first_magic:] if part)
    try:
        info = fs.info(base)
    except (FileNotFoundError, NotADirectoryError):
        return ScanResult(False)
    if info.get("type") != "directory":
        return ScanResult(False)
    return _Walk(_FsspecTree(fs), limits).run(base, pattern)
