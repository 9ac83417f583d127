"""``Touched``: a recorder of what the sensor touches (filesystem paths, fsspec URLs, connections)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec.core
import pytest


class Touched:
    """What the code under test touched while ``recording``: filesystem paths, fsspec URLs, connections.

    Local paths are those of every ``os`` call the sensor (and ``os.path``) makes to look at a file:
    ``stat``, ``lstat``, ``scandir``, ``listdir``, ``readlink``. URLs are those given to
    ``fsspec.core.url_to_fs``; connections are the addresses of every socket ``connect``.
    """

    _OS_CALLS = ("stat", "lstat", "scandir", "listdir", "readlink")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[Any] = []
        self.calls: list[tuple[str, Any]] = []
        self.urls: list[str] = []
        self.connections: list[Any] = []
        self._active = False
        for name in self._OS_CALLS:
            monkeypatch.setattr(os, name, self._wrap(name, getattr(os, name)))
        url_to_fs = fsspec.core.url_to_fs

        def recorded_url_to_fs(url: str, *args: Any, **kwargs: Any) -> Any:
            if self._active:
                self.urls.append(url)
            return url_to_fs(url, *args, **kwargs)

        monkeypatch.setattr(fsspec.core, "url_to_fs", recorded_url_to_fs)
        for name in ("connect", "connect_ex"):
            monkeypatch.setattr(socket.socket, name, self._wrap_connect(getattr(socket.socket, name)))

    def _wrap(self, name: str, original: Any) -> Any:
        def recorded(path: Any = ".", *args: Any, **kwargs: Any) -> Any:
            if self._active:
                shown = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else path
                self.paths.append(shown)
                self.calls.append((name, shown))
            return original(path, *args, **kwargs)

        return recorded

    def _wrap_connect(self, original: Any) -> Any:
        def recorded(sock: socket.socket, address: Any) -> Any:
            if self._active:
                self.connections.append(address)
            return original(sock, address)

        return recorded

    @contextlib.contextmanager
    def recording(self) -> Iterator[Touched]:
        """Record while the block runs (also calls made in worker threads meanwhile)."""
        self._active = True
        try:
            yield self
        finally:
            self._active = False

    def listed(self) -> list[Any]:
        """The directories listed (``scandir``, ``listdir``)."""
        return [path for name, path in self.calls if name in ("scandir", "listdir")]

    def clear(self) -> None:
        self.calls.clear()
        self.paths.clear()
        self.urls.clear()
        self.connections.clear()

    def outside(self, *roots: str | Path) -> list[Any]:
        """The recorded local paths that are not a root nor under one (real paths of the roots)."""
        real = [os.path.realpath(root) for root in roots]
        return [
            path
            for path in self.paths
            if not isinstance(path, str) or not any(path == r or path.startswith(r + os.sep) for r in real)
        ]
