"""Sensor classes with flytekit's protocol, for the ``sensor`` task type's tests (flytekit is not installed).

Built as ``cls(name, config=...)``; ``poke(**inputs)`` returns True or False. What each saw is
kept in ``SEEN`` (the tests clear it).
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import connector

#: (sensor class, name, config, poke's inputs, the thread poke ran in, whether an event loop ran there)
SEEN: list[tuple[str, str, Any, dict[str, Any], threading.Thread, bool]] = []


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Recorded:
    def __init__(self, name: str, config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.config = config

    def _seen(self, **inputs: Any) -> None:
        SEEN.append(
            (type(self).__name__, self.name, self.config, inputs, threading.current_thread(), _loop_running())
        )


class MarkerSensor(_Recorded):
    """A plain ``def`` poke: True once the file ``marker`` exists."""

    def poke(self, marker: str) -> bool:
        self._seen(marker=marker)
        return os.path.exists(marker)


class AsyncMarkerSensor(_Recorded):
    """An ``async def`` poke, as flytekit's BaseSensor has: True once the file ``marker`` exists."""

    async def poke(self, marker: str) -> bool:
        self._seen(marker=marker)
        await asyncio.sleep(0)
        return os.path.exists(marker)


class AnswerSensor(_Recorded):
    """Returns its config's ``answer`` as it is (a bool, or anything else)."""

    def poke(self) -> Any:
        self._seen()
        assert self.config is not None
        return self.config["answer"]


class FailingSensor(_Recorded):
    """A poke that raises."""

    async def poke(self, path: str) -> bool:
        raise ValueError(f"the bucket of {path} is gone\nsecond line")


class TransientSensor(_Recorded):
    """A poke that raises the core's TransientError: the service retries it."""

    def poke(self) -> bool:
        raise connector.TransientError("the metastore is restarting")


class RefusingSensor(_Recorded):
    """A poke that refuses its input as the caller's mistake."""

    def poke(self, table: str) -> bool:
        raise connector.BadRequestError(f"no such table {table!r}", field="inputs.table")


class BrokenConstructorSensor:
    """A constructor that raises."""

    def __init__(self, name: str, config: dict[str, Any] | None = None) -> None:
        raise RuntimeError("config needs a 'bucket'")

    def poke(self) -> bool:
        return True


NOT_A_SENSOR = 42
