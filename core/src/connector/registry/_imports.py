"""Running plugin code that may hang in a fresh daemon thread, so no wait for it is unbounded."""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")
#: The longest a wait blocks without checking for signals, in seconds.
_SLICE = 0.25


class DaemonCall(Generic[_T]):
    """``fn()`` running in a new daemon thread named ``name``, started at once.

    ``wait(seconds)`` waits for it at most that long; ``result()`` then returns what it returned or
    raises what it raised. A call that never finishes is abandoned: a daemon thread cannot keep
    the process from exiting (issue 8: a plugin whose import hung kept a stopped service alive).
    Anything ``fn`` raises is caught in the thread, so nothing reaches ``threading.excepthook``.
    """

    def __init__(self, fn: Callable[[], _T], *, name: str) -> None:
        self._fn = fn
        self._done = threading.Event()
        self._result: _T | None = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._result = self._fn()
        except BaseException as exc:  # handed to the caller by result(), never out of the thread
            self._error = exc
        finally:
            self._done.set()

    def wait(self, seconds: float) -> bool:
        """Wait at most ``seconds`` for the call to finish; return whether it did.

        The wait is interruptible: a Ctrl-C in the waiting (main) thread raises KeyboardInterrupt
        here, and the call goes on; waiting again waits for the same call.
        """
        deadline = time.monotonic() + max(0.0, min(seconds, threading.TIMEOUT_MAX))
        # In slices: a signal that arrives just before the wait blocks has its handler (Ctrl-C's
        # KeyboardInterrupt) run only when the wait returns, so one long wait could hide it.
        while not self._done.wait(min(_SLICE, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
        return True

    def result(self) -> _T:
        """What the finished call returned; what it raised, when that is an ``Exception``.

        Any other ``BaseException`` (KeyboardInterrupt, SystemExit, GeneratorExit, ...) is raised
        as a ``RuntimeError`` chained to it: raised as it is, it would pass for the caller's own.
        """
        if not self._done.is_set():
            raise RuntimeError(f"{self.thread.name} has not finished")
        if self._error is not None:
            raise _contained(self._error)
        return self._result  # type: ignore[return-value]  # set when no error was

    def stack(self) -> str:
        """Where the thread is now, as a traceback prints it; empty once it has finished."""
        frame = sys._current_frames().get(self.thread.ident or -1)
        return "".join(traceback.format_stack(frame)) if frame is not None else ""


async def in_daemon_thread(fn: Callable[..., _T], /, *args: Any) -> _T:
    """Run ``fn(*args)`` in a new daemon thread and await its result from the running event loop.

    Use it instead of ``asyncio.to_thread`` for calls that may run plugin code that hangs (an
    import): ``asyncio.run`` joins the default executor's threads at exit, so one hung import kept a
    stopped service from exiting (issue 8). Cancelling the await abandons the thread. What ``fn``
    raises is raised here, a ``BaseException`` that is no ``Exception`` (and ``StopIteration``,
    which a future cannot hold) as a ``RuntimeError`` chained to it, so it cannot stop the loop.
    """
    import asyncio  # here: the registry imports this module, and `connector list` needs no asyncio

    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if future.done():  # the awaiting task was cancelled
            return
        if error is not None:
            future.set_exception(_contained(error, stop_iteration=True))
        else:
            future.set_result(result)  # type: ignore[arg-type]  # set when no error was

    def run() -> None:
        result, error = None, None
        try:
            result = context.run(fn, *args)
        except BaseException as exc:  # handed to the awaiting task, never out of the thread
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits the result now
            loop.call_soon_threadsafe(settle, result, error)

    context = contextvars.copy_context()  # as asyncio.to_thread does
    name = f"connector-call {getattr(fn, '__qualname__', type(fn).__name__)}"
    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


def _contained(error: BaseException, *, stop_iteration: bool = False) -> Exception:
    if isinstance(error, Exception) and not (stop_iteration and isinstance(error, StopIteration)):
        return error
    what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    contained = RuntimeError(f"a call in a daemon thread raised {what}")
    contained.__cause__ = error
    return contained
