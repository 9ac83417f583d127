"""LoadedConnector: one validated connector and the pluggy plugin manager that dispatches to it."""

from __future__ import annotations

import functools
import inspect
import reprlib
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from .. import hookspecs
from .._exceptions import HookNotImplementedError
from .._model import Connection, ConnectorOrigin, TaskCategory, TaskExecutionMetadata, TaskTemplate
from .._resource_meta import ResourceMeta

if TYPE_CHECKING:
    import concurrent.futures

#: The arguments of each hook, in the spec's order, read once from ``hookspecs``.
HOOK_ARGUMENTS: dict[str, tuple[str, ...]] = {
    name: tuple(inspect.signature(getattr(hookspecs, name)).parameters) for name in hookspecs.ALL_HOOKS
}

_ARGUMENT_SETS = {name: frozenset(arguments) for name, arguments in HOOK_ARGUMENTS.items()}

#: A new empty value for each hook argument a caller may leave out (``task_template`` aside).
_EMPTY_ARGUMENTS: dict[str, Callable[[], Any]] = {
    "output_prefix": str,
    "inputs": dict,
    "task_execution_metadata": TaskExecutionMetadata,
    "connection": Connection,
    "token": str,
    "queries": tuple,
    "start_time": lambda: None,
    "end_time": lambda: None,
    "step": lambda: None,
}


class _HookAdapter:
    """The plugin registered for a connector: one method per implemented hook.

    pluggy passes an implementation only the arguments without defaults, so seed-style signatures
    (``inputs=None``, ``**kwargs``) would silently get nothing. Each adapter method takes the spec's
    arguments and forwards those the connector's function accepts.
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]]) -> None:
        self.functions = dict(functions)
        self.accepts: dict[str, tuple[str, ...] | None] = {
            name: _accepted_arguments(fn, HOOK_ARGUMENTS[name]) for name, fn in functions.items()
        }

    def forward(self, hook: str, kwargs: dict[str, Any]) -> Any:
        accepted = self.accepts[hook]
        if accepted is not None:
            kwargs = {name: kwargs[name] for name in accepted}
        return self.functions[hook](**kwargs)

    def create(
        self,
        task_template: Any,
        output_prefix: Any,
        inputs: Any,
        task_execution_metadata: Any,
        connection: Any,
    ) -> Any:
        return self.forward("create", _without_self(locals()))

    def get(self, resource_meta: Any, task_template: Any, connection: Any) -> Any:
        return self.forward("get", _without_self(locals()))

    def delete(self, resource_meta: Any, connection: Any) -> Any:
        return self.forward("delete", _without_self(locals()))

    def do(
        self,
        task_template: Any,
        output_prefix: Any,
        inputs: Any,
        task_execution_metadata: Any,
        connection: Any,
    ) -> Any:
        return self.forward("do", _without_self(locals()))

    def get_logs(self, resource_meta: Any, token: Any, connection: Any) -> Any:
        return self.forward("get_logs", _without_self(locals()))

    def get_metrics(
        self, resource_meta: Any, queries: Any, start_time: Any, end_time: Any, step: Any, connection: Any
    ) -> Any:
        return self.forward("get_metrics", _without_self(locals()))


def _without_self(frame_locals: dict[str, Any]) -> dict[str, Any]:
    """The arguments of an adapter method, read from its ``locals()``, without ``self``."""
    return {k: v for k, v in frame_locals.items() if k != "self"}


def _accepted_arguments(fn: Callable[..., Any], spec_arguments: tuple[str, ...]) -> tuple[str, ...] | None:
    """The spec arguments ``fn`` takes by name, or None when it takes ``**kwargs`` (all of them)."""
    parameters = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    names = {p.name for p in parameters}
    return tuple(name for name in spec_arguments if name in names)


class _ConnectorPluginManager(pluggy.PluginManager):
    """A plugin manager that takes the adapter's methods for the hooks it implements."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        if isinstance(plugin, _HookAdapter):
            if name not in plugin.functions:
                return None
            return pluggy.HookimplOpts(
                wrapper=False,
                hookwrapper=False,
                optionalhook=False,
                tryfirst=False,
                trylast=False,
                specname=None,
            )
        return super().parse_hookimpl_opts(plugin, name)


class LoadedConnector:
    """A connector that passed validation, ready to be called.

    ``connector`` is the author's object (an instance, or a module of hook implementations);
    ``hooks`` the names of the hooks it implements; ``is_sync`` whether it is a sync connector.
    """

    def __init__(
        self,
        *,
        category: TaskCategory,
        connector: object,
        name: str,
        functions: Mapping[str, Callable[..., Any]],
        metadata_type: type[ResourceMeta] | None,
        origin: ConnectorOrigin,
        doc: str = "",
        wrappers: tuple[object, ...] = (),
        trace: bool = False,
    ) -> None:
        self.category = category
        self.connector = connector
        self.name = name
        self.hooks = frozenset(functions)
        self.is_sync = "do" in functions
        self.metadata_type = metadata_type
        self.origin = origin
        self.doc = doc
        self._async_hooks = frozenset(n for n, fn in functions.items() if _is_async(fn))
        self._trace = trace
        self.plugin_manager = _ConnectorPluginManager(hookspecs.PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        self.plugin_manager.register(_HookAdapter(functions), name=str(category))
        for wrapper in wrappers:
            self.plugin_manager.register(wrapper)

    def __repr__(self) -> str:
        kind = "sync" if self.is_sync else "async"
        return f"<LoadedConnector {self.category} {self.name!r} {kind}>"

    def is_async_hook(self, hook: str) -> bool:
        """Whether the connector's implementation of ``hook`` is an ``async def``."""
        return hook in self._async_hooks

    def complete_arguments(self, hook: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """Fill the arguments a caller left out with empty values, so every hook gets its full set."""
        if hook not in self.hooks:
            raise HookNotImplementedError(self.category, hook)
        unknown = kwargs.keys() - _ARGUMENT_SETS[hook]
        if unknown:
            raise TypeError(f"{hook}() got unexpected arguments: {', '.join(sorted(unknown))}")
        return {
            name: kwargs[name] if name in kwargs else self._default_argument(name)
            for name in HOOK_ARGUMENTS[hook]
        }

    def _default_argument(self, name: str) -> Any:
        # Made only when missing: the service passes every argument, and building a TaskTemplate
        # and TaskExecutionMetadata it throws away costs on every call (issue 3's figures).
        if name == "task_template":
            return TaskTemplate(self.category.name, self.category.version)
        return _EMPTY_ARGUMENTS[name]()

    async def call(
        self, hook: str, /, *, executor: concurrent.futures.Executor | None = None, **kwargs: Any
    ) -> Any:
        """Call a hook from async code: awaited if it is ``async def``, else run in ``executor``.

        Missing arguments get empty values. Raises ``HookNotImplementedError`` for a hook the
        connector does not implement, and whatever the connector raises.
        """
        import asyncio  # not at module level: `connector list` never needs it

        arguments = self.complete_arguments(hook, kwargs)
        caller = getattr(self.plugin_manager.hook, hook)
        self._trace_call(hook, arguments)
        try:
            if hook in self._async_hooks:
                result = caller(**arguments)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(executor, functools.partial(caller, **arguments))
            if inspect.isawaitable(result):
                result = await result
        except BaseException as exc:
            self._trace_raise(hook, exc)
            raise
        self._trace_return(hook, result)
        return result

    def call_blocking(self, hook: str, /, **kwargs: Any) -> Any:
        """Call a hook from plain code: run directly, or to completion on a new loop if ``async def``.

        Must not be called from a running event loop when the hook is ``async def`` (use ``call``).
        """
        arguments = self.complete_arguments(hook, kwargs)
        if hook in self._async_hooks and _loop_is_running():
            raise RuntimeError(
                f"call_blocking cannot run the async def hook {hook!r} of {self.category} inside a "
                "running event loop; use 'await LoadedConnector.call(...)' there"
            )
        self._trace_call(hook, arguments)
        try:
            result = getattr(self.plugin_manager.hook, hook)(**arguments)
            if inspect.isawaitable(result):
                import asyncio

                result = asyncio.run(_await(result))
        except BaseException as exc:
            self._trace_raise(hook, exc)
            raise
        self._trace_return(hook, result)
        return result

    # CONNECTOR_TRACE: one line to stderr before and after every call. Done here rather than with
    # pluggy's call monitoring, which sees an async hook's coroutine instead of its result.

    def _trace_call(self, hook: str, arguments: Mapping[str, Any]) -> None:
        if self._trace:
            shown = ", ".join(f"{k}={_SHORT.repr(v)}" for k, v in arguments.items())
            print(f"connector trace: {self.category} {hook}({shown})", file=sys.stderr)

    def _trace_return(self, hook: str, result: Any) -> None:
        if self._trace:
            print(f"connector trace: {self.category} {hook} -> {_SHORT.repr(result)}", file=sys.stderr)

    def _trace_raise(self, hook: str, exc: BaseException) -> None:
        if self._trace:
            message = _SHORT.repr(str(exc))
            print(
                f"connector trace: {self.category} {hook} raised {type(exc).__name__}: {message}",
                file=sys.stderr,
            )


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _loop_is_running() -> bool:
    import asyncio  # not at module level: `connector list` never needs it

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxstring = short.maxother = 240
    return short


_SHORT = _short_repr()


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
