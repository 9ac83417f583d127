"""Running one hook: awaited or in a worker thread, within a time limit, with nothing escaping it.

The call layer (``_calls.py``) is the only user. Containment lives here: whatever a hook raises
that is not an ordinary ``Exception`` (``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit``, its
own ``CancelledError``, a custom ``BaseException``), and a ``StopIteration`` that escapes a plain
``def`` hook, becomes a ``HookCrashError``. Left alone, the first two stop the event loop (and the
server with it), and the others leave the caller's future unresolved for good (issue 8).
"""

from __future__ import annotations

import inspect
import reprlib
import sys
from collections.abc import Awaitable, Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, TypeVar

from .._exceptions import CallTimeoutError, HookCrashError

if TYPE_CHECKING:
    import concurrent.futures

    from ._loaded import LoadedConnector

# asyncio is imported inside the functions: `import connector` (and `connector list`) never needs it.

_T = TypeVar("_T")


def crash(
    loaded: LoadedConnector, hook: str, raised: BaseException, rule: str | None = None
) -> HookCrashError:
    """The error that stands for ``raised``, chained to it (``rule``: see ``HookCrashError``)."""
    error = HookCrashError(raised, category=loaded.category, hook=hook, origin=loaded.origin, rule=rule)
    error.__cause__ = raised
    return error


def guarded(loaded: LoadedConnector, hook: str, fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)`` (plain connector code, often in a worker thread); only ordinary exceptions leave it.

    A ``StopIteration`` cannot be set on an asyncio future (it would be lost, and the call never
    answered), and a ``KeyboardInterrupt`` or ``SystemExit`` set on one is re-raised by the event
    loop, which stops.
    """
    try:
        return fn(*args)
    except StopIteration as exc:
        raise crash(loaded, hook, exc) from exc
    except Exception:
        raise
    except BaseException as exc:
        raise crash(loaded, hook, exc) from exc


async def invoke(
    loaded: LoadedConnector,
    hook: str,
    arguments: dict[str, Any],
    *,
    executor: concurrent.futures.Executor | None,
    check: Callable[[Any], _T],
) -> _T:
    """Call ``hook`` with ``arguments`` (those it takes): awaited if ``async def``, else in ``executor``.

    A plain hook that returns an awaitable has it awaited too. ``check`` then turns the result
    into what the caller gets; it runs where the hook ran (a plain hook's worker thread), contained
    like the hook, since it runs the connector's code too (a generator it returned, a ``dict``
    subclass). Raises what the hook raises, with what must not escape turned into ``HookCrashError``.
    The call layer calls ``awaited`` instead for an ``async def`` hook that is not traced.
    """
    import asyncio

    if loaded.trace:
        _trace(loaded, hook, "(" + ", ".join(f"{k}={_SHORT.repr(v)}" for k, v in arguments.items()) + ")")

    def call_and_check() -> Any:
        result = loaded.call(hook, arguments)
        return result if inspect.isawaitable(result) else _Checked(check(_traced(loaded, hook, result)))

    try:
        if loaded.is_async_hook(hook):
            # Calling an async def (or async generator) hook runs nothing yet: no thread needed.
            outcome = guarded(loaded, hook, call_and_check)
        else:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(executor, guarded, loaded, hook, call_and_check)
        if isinstance(outcome, _Checked):
            return outcome.value  # type: ignore[no-any-return]
        result = _traced(loaded, hook, await contained(loaded, hook, outcome))
        return guarded(loaded, hook, lambda: check(result))
    except BaseException as exc:
        if loaded.trace:
            _trace(loaded, hook, f" raised {type(exc).__name__}: {_SHORT.repr(str(exc))}")
        raise


if sys.version_info >= (3, 11):

    async def awaited(
        loaded: LoadedConnector, hook: str, arguments: dict[str, Any], check: Callable[[Any], _T]
    ) -> _T:
        """``invoke`` of an ``async def`` hook that is not traced: the service's common path.

        What ``guarded`` (the call), ``contained`` (its coroutine) and ``guarded`` (the check) do,
        in one coroutine (issue 13: each was a Python call, and ``contained`` a coroutine, on every
        call). Calling an ``async def`` hook only makes its coroutine; an async generator hook
        (get_logs) gives its generator, which the check takes as it is.
        """
        import asyncio

        callers_cancel = False
        try:
            made = loaded.callers[hook](arguments)
            if type(made) is CoroutineType:
                task = asyncio.current_task()
                assert task is not None
                cancelling = task.cancelling()
                try:
                    made = await made
                except asyncio.CancelledError:
                    # The caller's (the client went away, a deadline or a Ctrl-C) when this task
                    # is being cancelled; the hook's own otherwise.
                    callers_cancel = task.cancelling() > cancelling
                    raise
            return check(made)
        except StopIteration as exc:  # from the call or the check: see guarded
            raise crash(loaded, hook, exc) from exc
        except Exception:
            raise
        except BaseException as exc:
            if callers_cancel:
                raise
            raise crash(loaded, hook, exc) from exc

else:

    async def awaited(
        loaded: LoadedConnector, hook: str, arguments: dict[str, Any], check: Callable[[Any], _T]
    ) -> _T:
        """``invoke`` of an ``async def`` hook that is not traced (on 3.11 and later, one coroutine)."""
        made = guarded(loaded, hook, loaded.call, hook, arguments)
        result = await contained(loaded, hook, made) if inspect.iscoroutine(made) else made
        return guarded(loaded, hook, check, result)


class _Checked:
    """A checked result (as opposed to an awaitable still to await), handed out of the worker thread."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _traced(loaded: LoadedConnector, hook: str, result: Any) -> Any:
    if loaded.trace:
        _trace(loaded, hook, f" -> {_SHORT.repr(result)}")
    return result


if sys.version_info >= (3, 11):

    async def contained(loaded: LoadedConnector, hook: str, awaitable: Awaitable[_T]) -> _T:
        """Await connector code in this task; what must not escape it becomes ``HookCrashError``.

        A ``CancelledError`` is the caller's (the client went away, a deadline or a Ctrl-C) when
        this task is being cancelled, and the hook's own otherwise.
        """
        import asyncio

        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        try:
            return await awaitable
        except asyncio.CancelledError as exc:
            if task.cancelling() > cancelling:
                raise
            raise crash(loaded, hook, exc) from exc
        except Exception:
            raise
        except BaseException as exc:
            raise crash(loaded, hook, exc) from exc

else:

    async def contained(loaded: LoadedConnector, hook: str, awaitable: Awaitable[_T]) -> _T:
        """As on Python 3.11+, which alone can tell a cancel of this task from the hook's own.

        Here the hook runs in a task of its own: a cancel of the caller's task arrives at
        ``asyncio.wait`` (which never cancels what it waits for), so a cancelled hook task that
        nobody cancelled raised its own ``CancelledError``.
        """
        import asyncio

        own: list[asyncio.CancelledError] = []  # Python 3.10's task drops the one the hook raised

        async def alone() -> _T:
            try:
                return await awaitable
            except asyncio.CancelledError as exc:
                own.append(exc)
                raise
            except Exception:
                raise
            except BaseException as exc:  # a task would re-raise it out of the event loop
                raise crash(loaded, hook, exc) from exc

        inner = asyncio.ensure_future(alone())
        try:
            await asyncio.wait({inner})
        except asyncio.CancelledError:
            inner.cancel()
            raise
        if inner.cancelled():
            raised = own[0] if own else asyncio.CancelledError()
            raise crash(loaded, hook, raised) from raised
        return inner.result()


def within(
    awaitable: Awaitable[_T], loaded: LoadedConnector, hook: str, limit: float | None, deadline: float | None
) -> Awaitable[_T]:
    """``awaitable``, bounded by the server-side ``limit`` (``CallTimeoutError``) if it is set.

    ``deadline`` is the client's remaining time: when it ends first, no timer is armed here, since
    grpc cancels the RPC's task when it passes (the handler answers DEADLINE_EXCEEDED) and the
    cancellation reaches the hook. Propeller sends a deadline with every call: the common path, on
    which ``awaitable`` itself is returned (no coroutine around it).
    """
    if limit is None or (deadline is not None and deadline <= limit):
        return awaitable
    return _timed(awaitable, limit, lambda: CallTimeoutError(hook, loaded.category, limit))


if sys.version_info >= (3, 11):

    async def _timed(awaitable: Awaitable[_T], seconds: float, timed_out: Callable[[], Exception]) -> _T:
        import asyncio

        # In the caller's own task: no new task, no asyncio.wait, no extra trip through the loop.
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                result = await awaitable
        except TimeoutError:
            if scope.expired():
                raise timed_out() from None
            raise  # the connector's own TimeoutError: INTERNAL, not the service's time limit
        if scope.expired():  # the hook caught its cancellation and returned anyway
            raise timed_out()
        return result

else:

    async def _timed(awaitable: Awaitable[_T], seconds: float, timed_out: Callable[[], Exception]) -> _T:
        import asyncio

        # Python 3.10 has no asyncio.timeout, and wait_for's asyncio.TimeoutError cannot be told
        # apart from a connector's own: run the call as a task and wait for it with a timeout.
        task = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            raise timed_out()
        return task.result()


# CONNECTOR_TRACE: one line to stderr before and after every call. Done here rather than with
# pluggy's call monitoring, which sees an async hook's coroutine instead of its result.


def _trace(loaded: LoadedConnector, hook: str, text: str) -> None:
    print(f"connector trace: {loaded.category} {hook}{text}", file=sys.stderr)


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxstring = short.maxother = 240
    return short


_SHORT = _short_repr()
