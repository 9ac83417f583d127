"""Fake entry-point records: build a ConnectorRegistry from objects without installing anything."""

from __future__ import annotations

import threading
from collections.abc import Callable

from connector import ConnectorOrigin, ConnectorRecord, TaskCategory


class CountingLoader:
    """An entry point's ``load``: returns ``target`` (or raises it) and counts the calls."""

    def __init__(self, target: object, *, before: Callable[[], None] | None = None) -> None:
        self.target = target
        self.before = before
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> object:
        with self._lock:
            self.calls += 1
        if self.before is not None:
            self.before()
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


def fake_record(
    entry_point: str,
    target: object,
    *,
    distribution: str | None = "connector-x",
    version: str | None = "1.0",
    value: str | None = None,
) -> ConnectorRecord:
    """A record as discovery would make it for ``entry_point = value`` in ``distribution version``.

    ``target`` is what loading the entry point gives (or the exception it raises); a
    ``CountingLoader`` is used as it is. ``value`` defaults to ``pkg.<entry point>:Target``.
    """
    load = target if isinstance(target, CountingLoader) else CountingLoader(target)
    try:
        category: TaskCategory | None = TaskCategory.parse(entry_point)
        problem = None
    except ValueError as exc:
        category, problem = None, f"the entry-point name is not a task type: {exc}"
    return ConnectorRecord(
        origin=ConnectorOrigin(
            entry_point, value or f"pkg.{entry_point.replace('@', '_v')}:Target", distribution, version
        ),
        category=category,
        load=load,
        problem=problem,
    )
