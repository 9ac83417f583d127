"""Which asyncio event loop ``connector serve`` runs on: uvloop when installed, else asyncio's own.

The service's work per call is mostly the event loop's: grpc.aio wakes it, schedules callbacks and
runs a task for every RPC. asyncio's loop does that in Python (about 7,000 of a bridged
CreateTask+GetTask pair's 23,000 bytecodes); uvloop does it in C, and an HTTP client's sockets
(connector-http) run on its transports. The server extra installs uvloop where it builds (not on
Windows); ``--event-loop asyncio`` keeps asyncio's loop, for a plugin that misbehaves on uvloop.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from .._exceptions import ConfigurationError


@dataclass(frozen=True)
class EventLoop:
    """The loop chosen: its name, its package's version ("" for asyncio's) and how to run on it."""

    name: str
    version: str
    #: Runs a coroutine to completion on a new loop of this kind, as ``asyncio.run`` does.
    run: Callable[[Coroutine[Any, Any, Any]], Any]

    def describe(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


ASYNCIO = EventLoop("asyncio", "", asyncio.run)


def choose(choice: str) -> EventLoop:
    """The loop for ``--event-loop CHOICE`` (auto, uvloop or asyncio); ``uvloop`` when it cannot be
    imported is a ConfigurationError, ``auto`` then falls back to asyncio's own loop."""
    if choice == "asyncio":
        return ASYNCIO
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        if choice == "auto":
            return ASYNCIO
        raise ConfigurationError(
            f"--event-loop uvloop needs the uvloop package, which cannot be imported ({exc}). "
            "Install it with: pip install uvloop (it does not build on Windows), or choose "
            "--event-loop asyncio"
        ) from None
    # uvloop.run is asyncio.run on a new uvloop loop, on every Python supported here. The version
    # from uvloop.__version__: importing importlib.metadata for it cost 14 ms of the cold start.
    return EventLoop("uvloop", str(uvloop.__version__), uvloop.run)


def running_loop_name() -> str:
    """The name of the running loop's package: ``uvloop`` or ``asyncio``."""
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]
