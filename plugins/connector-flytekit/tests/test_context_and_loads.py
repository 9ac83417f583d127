"""flytekit's context is built once, never per call (nor its SIGINT handler installed); loads racing
the background import of the other plugins each find what their own plugin registers."""

from __future__ import annotations

import asyncio
import contextvars
import signal
import sys
import threading
import types
from collections.abc import Callable, Coroutine
from typing import Any

import flytekit_samples as samples
import pytest
from connector_flytekit import FlytekitProvider, _flytekit, bridge
from flyteidl.core import literals_pb2, tasks_pb2
from flytekit.core.context_manager import FlyteContextManager, flyte_context_Var

import connector
from connector.testing import registry_of

# 1. flytekit's context in calls that do not inherit it (connector serve imports flytekit in a thread).


def _in_a_context_without_flytekits(run: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``run()`` in the main thread's event loop, in a context where flytekit's variable is unset."""

    def main() -> Any:
        assert not flyte_context_Var.get()
        return asyncio.run(run())

    return contextvars.Context().run(main)


@pytest.mark.parametrize(
    ("make", "task_type"),
    [(samples.JobConnector, samples.JOB_TYPE), (samples.PlainJobConnector, samples.PLAIN_JOB_TYPE)],
)
def test_bridged_calls_neither_rebuild_flytekits_context_nor_install_its_sigint_handler(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], Any], task_type: str
) -> None:
    adapter = bridge(make())
    calls = connector.ConnectorCalls(registry_of(adapter).get(adapter.task_category))
    initialized = []
    original = FlyteContextManager.initialize

    def counted() -> None:
        initialized.append(threading.current_thread().name)
        original()

    monkeypatch.setattr(FlyteContextManager, "initialize", staticmethod(counted))
    before = signal.getsignal(signal.SIGINT)
    template = connector.TaskTemplate(task_type, raw=tasks_pb2.TaskTemplate(type=task_type))
    x = literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=21)))

    async def pairs() -> list[connector.Resource]:
        resources = []
        for _ in range(3):
            meta = await calls.create(template, inputs=literals_pb2.LiteralMap(literals={"x": x}))
            resources.append(await calls.get(meta))
        return resources

    try:
        resources = _in_a_context_without_flytekits(pairs)
        assert [resource.outputs.literals["doubled"].scalar.primitive.integer for resource in resources] == [
            42
        ] * 3
        assert initialized == []
        assert signal.getsignal(signal.SIGINT) is before
    finally:
        signal.signal(signal.SIGINT, before)


def test_the_context_is_built_without_flytekits_sigint_handler_when_this_thread_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """flytekit imported by another thread: the context is built once, in a thread of its own."""
    monkeypatch.setattr(_flytekit, "_context", None)
    before = signal.getsignal(signal.SIGINT)
    try:
        kept = contextvars.Context().run(_flytekit.flytekit_context)
        assert kept is not None
        assert _flytekit.flytekit_context() is kept
        assert signal.getsignal(signal.SIGINT) is before
    finally:
        signal.signal(signal.SIGINT, before)


def test_each_call_gets_a_list_of_its_own() -> None:
    """flytekit pushes and pops on the list its variable holds: two calls never share one."""

    def entered() -> list[Any]:
        _flytekit.enter_flytekit_context()
        return flyte_context_Var.get()

    first, second = contextvars.Context().run(entered), contextvars.Context().run(entered)
    assert first == second == [_flytekit.flytekit_context()]
    assert first is not second


# 2. Loads racing the background import of the other plugins.


class _Plugin:
    """A flytekit plugin module made on import: its connector's class is defined in it."""

    def __init__(self, round_: int, name: str) -> None:
        self.module = f"flytekitplugins.race{round_}_{name}"
        self.task_type = f"race{round_}_{name}"
        self.source = _flytekit.Source(
            "entry_point", f"race{round_}_{name}", self.module, f"fk-{name}", "1.0"
        )
        self.lock = threading.Lock()  # stands for the module's import lock
        self.before_import: Callable[[], None] = lambda: None
        self.after_register: Callable[[], None] = lambda: None

    def load(self) -> object:
        self.before_import()
        with self.lock:
            if self.module in sys.modules:
                return sys.modules[self.module]
            module = types.ModuleType(self.module)
            kind = type("RaceConnector", (samples.JobConnector,), {"__module__": self.module})
            module.RaceConnector = kind  # type: ignore[attr-defined]
            from flytekit.extend.backend.base_connector import ConnectorRegistry

            ConnectorRegistry.register(kind(self.task_type))
            self.after_register()
            sys.modules[self.module] = module
            return module

    def provided(self) -> connector.ProvidedConnector:
        return connector.ProvidedConnector(
            task_type=self.task_type,
            task_type_version=0,
            name="Job Connector",
            distribution="fk",
            distribution_version="1.0",
            key=self.source.key,
            is_sync=False,
        )


def _in_background() -> bool:
    return threading.current_thread().name == "connector-flytekit-plugins"


def _in_thread(target: Callable[..., Any], *args: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(target(*args))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_loads_racing_the_background_import_of_other_plugins_find_their_connectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Forced interleavings, every round: (a) a plugin imported in the background registers while a
    load captures another's; (b) a load waits for the background import of its own plugin."""
    from flytekit.extend.backend.base_connector import ConnectorRegistry, TaskCategory

    provider = FlytekitProvider()
    for round_ in range(20):
        # In this order: loading `first` starts the background import of the others, in order.
        first, captured_meanwhile, waited_for, racing = (
            _Plugin(round_, name) for name in ("first", "meanwhile", "waited", "racing")
        )
        plugins = [first, captured_meanwhile, waited_for, racing]
        in_capture, registered = threading.Event(), threading.Event()
        inside, waiting = threading.Event(), threading.Event()

        # (a) the background import of `captured_meanwhile` registers while `racing` is being captured.
        def meanwhile_starts(in_capture: threading.Event = in_capture) -> None:
            assert in_capture.wait(60)

        def racing_starts(
            in_capture: threading.Event = in_capture, registered: threading.Event = registered
        ) -> None:
            in_capture.set()
            assert registered.wait(60)

        captured_meanwhile.before_import = meanwhile_starts
        captured_meanwhile.after_register = registered.set
        racing.before_import = racing_starts

        # (b) `waited_for` is loaded while its background import holds its module lock.
        def waited_starts(inside: threading.Event = inside, waiting: threading.Event = waiting) -> None:
            if not _in_background():
                assert inside.wait(60)
                waiting.set()

        def waited_registered(inside: threading.Event = inside, waiting: threading.Event = waiting) -> None:
            if _in_background():
                inside.set()
                assert waiting.wait(60)

        waited_for.before_import = waited_starts
        waited_for.after_register = waited_registered
        loaders = {plugin.source: plugin.load for plugin in plugins}
        monkeypatch.setattr(_flytekit, "plugin_sources", lambda plugins=plugins: [p.source for p in plugins])
        monkeypatch.setattr(_flytekit, "_entry_point_loader", lambda source, loaders=loaders: loaders[source])
        monkeypatch.setattr(_flytekit, "_others_started", False)
        try:
            # Loading `first` starts the background import of the three others, in order.
            assert provider.load(first.provided()).task_type_name == first.task_type  # type: ignore[attr-defined]
            racing_thread, racing_result = _in_thread(provider.load, racing.provided())
            racing_thread.join(60)
            assert [type(r).__name__ for r in racing_result] == ["BridgedAsyncConnector"]
            assert set(_flytekit.load_source(racing.source)) == {(racing.task_type, 0)}

            waited_thread, waited_result = _in_thread(provider.load, waited_for.provided())
            meanwhile_thread, meanwhile_result = _in_thread(provider.load, captured_meanwhile.provided())
            for thread in (waited_thread, meanwhile_thread):
                thread.join(60)
            for plugin, result in ((waited_for, waited_result), (captured_meanwhile, meanwhile_result)):
                assert [getattr(r, "task_type_name", r) for r in result] == [plugin.task_type]
                assert set(_flytekit.load_source(plugin.source)) == {(plugin.task_type, 0)}
        finally:
            in_capture.set()
            registered.set()
            waiting.set()
            for thread in threading.enumerate():
                if thread.name == "connector-flytekit-plugins":
                    thread.join(60)
            for plugin in plugins:
                sys.modules.pop(plugin.module, None)
                _flytekit._loaded.pop(plugin.source, None)
                _flytekit._failed.pop(plugin.source, None)
                ConnectorRegistry._REGISTRY.pop(TaskCategory(plugin.task_type, 0), None)
        ConnectorRegistry._METADATA.pop("Job Connector", None)
