"""LoadedConnector: one validated connector and the pluggy plugin manager that dispatches to it."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from .. import hookspecs
from .._exceptions import WrapperWarning
from .._model import ConnectorOrigin, TaskCategory
from .._resource_meta import ResourceMeta
from ..hookspecs import Hook

if TYPE_CHECKING:
    from .._fields import Field, FieldSet

#: The arguments of each hook, in the spec's order, read once from ``hookspecs``.
HOOK_ARGUMENTS: dict[str, tuple[str, ...]] = {
    name: tuple(inspect.signature(getattr(hookspecs, name)).parameters) for name in hookspecs.ALL_HOOKS
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
        idempotency_key: Any,
    ) -> Any:
        return self.forward(Hook.CREATE, _without_self(locals()))

    def get(self, resource_meta: Any, task_template: Any, connection: Any) -> Any:
        return self.forward(Hook.GET, _without_self(locals()))

    def delete(self, resource_meta: Any, connection: Any) -> Any:
        return self.forward(Hook.DELETE, _without_self(locals()))

    def do(
        self,
        task_template: Any,
        output_prefix: Any,
        inputs: Any,
        task_execution_metadata: Any,
        connection: Any,
        idempotency_key: Any,
    ) -> Any:
        return self.forward(Hook.DO, _without_self(locals()))

    def get_logs(self, resource_meta: Any, token: Any, connection: Any) -> Any:
        return self.forward(Hook.GET_LOGS, _without_self(locals()))

    def get_metrics(
        self, resource_meta: Any, queries: Any, start_time: Any, end_time: Any, step: Any, connection: Any
    ) -> Any:
        return self.forward(Hook.GET_METRICS, _without_self(locals()))


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
    ``hooks`` the names of the hooks it implements; ``is_sync`` whether it is a sync connector;
    ``raw_literals`` whether it takes the protocol's own literal messages (its ``raw_literals``
    attribute): its ``inputs`` are the request's literal map as received, and its outputs may be
    one. ``custom_fields`` is the connector's declaration of its custom fields (None when it
    declares none), ``input_fields`` and ``output_fields`` those of its inputs and outputs.
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
        raw_literals: bool = False,
        custom_fields: FieldSet | None = None,
        input_fields: tuple[Field, ...] = (),
        output_fields: tuple[Field, ...] = (),
    ) -> None:
        self.category = category
        self.connector = connector
        self.name = name
        self.hooks = frozenset(functions)
        self.is_sync = "do" in functions
        self.metadata_type = metadata_type
        self.origin = origin
        self.doc = doc
        self.raw_literals = raw_literals
        #: The declared custom fields, checked before create and do; None: templates pass unchecked.
        self.custom_fields = custom_fields
        self.input_fields = input_fields
        self.output_fields = output_fields
        #: The hooks the connector implements as ``async def`` (``is_async_hook`` answers from it).
        self.async_hooks = frozenset(n for n, fn in functions.items() if _is_async(fn))
        #: Whether every call is traced to stderr (CONNECTOR_TRACE).
        self.trace = trace
        self.plugin_manager = _ConnectorPluginManager(hookspecs.PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        adapter = _HookAdapter(functions)
        self.plugin_manager.register(adapter, name=str(category))
        for wrapper in wrappers:
            self.plugin_manager.register(wrapper)
        self._warn_of_async_wrapped()
        #: What ``call`` calls for each hook, with the arguments dict (the call layer calls it directly).
        self.callers: dict[str, Callable[[dict[str, Any]], Any]] = {}
        #: The spec arguments each hook's implementation takes, in the spec's order: what the caller
        #: must build for it (every argument when it takes ``**kwargs`` or a wrapper plugin may look
        #: at them).
        self.wanted: dict[str, tuple[str, ...]] = {}
        for hook in functions:
            self.callers[hook], self.wanted[hook] = self._caller(hook, adapter)

    def _caller(
        self, hook: str, adapter: _HookAdapter
    ) -> tuple[Callable[[dict[str, Any]], Any], tuple[str, ...]]:
        # Through pluggy only when a wrapper plugin wraps the hook; else straight to the connector's
        # function: pluggy's dispatch for one owner cost about 5 us per call (issue 13).
        caller = getattr(self.plugin_manager.hook, hook)
        function, accepted = adapter.functions[hook], adapter.accepts[hook]
        every = HOOK_ARGUMENTS[hook]
        if len(caller.get_hookimpls()) > 1:
            return (lambda arguments: caller(**arguments)), every
        # accepted is None when it takes **kwargs: every argument.
        taken = every if accepted is None else tuple(name for name in every if name in accepted)
        return (lambda arguments: function(**arguments)), taken

    def call(self, hook: str, arguments: dict[str, Any]) -> Any:
        """Call the connector's ``hook`` (pluggy's wrappers, if any, around it).

        ``arguments`` holds exactly the ``wanted[hook]`` names (the call layer builds no others).
        """
        return self.callers[hook](arguments)

    def __repr__(self) -> str:
        kind = "sync" if self.is_sync else "async"
        return f"<LoadedConnector {self.category} {self.name!r} {kind}>"

    def _warn_of_async_wrapped(self) -> None:
        """Warn about each wrapper plugin around an ``async def`` hook: it would see the coroutine."""
        for hook in sorted(self.async_hooks):
            for impl in getattr(self.plugin_manager.hook, hook).get_hookimpls():
                if impl.wrapper or impl.hookwrapper:
                    warnings.warn(
                        f"wrapper plugin {type(impl.plugin).__qualname__!r} wraps {hook} of task type "
                        f"{self.category}, which {self.origin.describe()} implements as async def: the "
                        "wrapper sees the coroutine before it runs, not its result",
                        WrapperWarning,
                        stacklevel=2,
                    )

    def is_async_hook(self, hook: str) -> bool:
        """Whether the connector's implementation of ``hook`` is an ``async def``."""
        return hook in self.async_hooks


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
