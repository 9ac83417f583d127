"""The hook contract: both ways of writing a connector, def and async def, and every validation rule."""

from __future__ import annotations

import dataclasses
import re
import threading
import types
from collections.abc import Callable
from typing import Any

import pytest

from connector import (
    AsyncConnector,
    Connection,
    ConnectorLoadError,
    ConnectorRegistry,
    ConnectorUnavailable,
    ConnectorValidationError,
    HookNotImplementedError,
    LoadedConnector,
    LogsChunk,
    MetricPoint,
    MetricSeries,
    Phase,
    RegistrySettings,
    Resource,
    ResourceMeta,
    SyncConnector,
    TaskCategory,
    TaskExecutionMetadata,
    TaskTemplate,
    WrapperWarning,
    hookimpl,
    hookspecs,
)
from connector.registry._calls import ConnectorCalls, run_blocking
from tests.support.records import fake_record

PREFIX = "connector-x 1.0, entry point 'job' (pkg.mod:Target): "


@dataclasses.dataclass
class JobMeta(ResourceMeta):
    job_id: str


def installed(target: object, entry_point: str = "job", **kwargs: Any) -> ConnectorRegistry:
    """A registry where ``target`` is installed as distribution connector-x 1.0, at ``pkg.mod:Target``.

    Not the test kit's ``registry_of``: the messages these tests check name that distribution.
    """
    return ConnectorRegistry([fake_record(entry_point, target, value="pkg.mod:Target")], **kwargs)


def load(target: object, entry_point: str = "job", **kwargs: Any) -> LoadedConnector:
    return installed(target, entry_point, **kwargs).get(entry_point)


def call(loaded: LoadedConnector, hook: str, **arguments: Any) -> Any:
    """Call ``hook`` through the call layer from plain code."""
    return run_blocking(acall(loaded, hook, **arguments))


async def acall(loaded: LoadedConnector, hook: str, **arguments: Any) -> Any:
    """Call ``hook`` through the call layer from async code (the chunks of ``get_logs`` as a list)."""
    calls = ConnectorCalls(loaded)
    if hook == "get_logs":
        return [chunk async for chunk in calls.logs(**arguments)]
    method = {"get_metrics": "metrics"}.get(hook, hook)
    return await getattr(calls, method)(**arguments)


def refusal(target: object, entry_point: str = "job") -> ConnectorUnavailable:
    with pytest.raises(ConnectorUnavailable) as info:
        load(target, entry_point)
    return info.value


class Backend:
    """The external system the test connectors drive; it records what each hook received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.threads: list[int] = []

    def record(self, hook: str, **arguments: Any) -> None:
        self.calls.append((hook, arguments))
        self.threads.append(threading.get_ident())


# Six ways to write the same async connector, and six for the same sync one.


def async_subclass(backend: Backend, is_async: bool) -> object:
    if is_async:

        class Job(AsyncConnector):
            task_type_name = "job"
            metadata_type = JobMeta

            async def create(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> JobMeta:
                backend.record("create", task_template=task_template, inputs=inputs)
                return JobMeta(f"job-{inputs['n']}")

            async def get(self, resource_meta: JobMeta) -> Resource:
                backend.record("get", resource_meta=resource_meta)
                return Resource(Phase.SUCCEEDED, outputs={"id": resource_meta.job_id})

            async def delete(self, resource_meta: JobMeta) -> None:
                backend.record("delete", resource_meta=resource_meta)

        return Job

    class PlainJob(AsyncConnector):
        task_type_name = "job"
        metadata_type = JobMeta

        def create(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> JobMeta:
            backend.record("create", task_template=task_template, inputs=inputs)
            return JobMeta(f"job-{inputs['n']}")

        def get(self, resource_meta: JobMeta) -> Resource:
            backend.record("get", resource_meta=resource_meta)
            return Resource(Phase.SUCCEEDED, outputs={"id": resource_meta.job_id})

        def delete(self, resource_meta: JobMeta) -> None:
            backend.record("delete", resource_meta=resource_meta)

    return PlainJob


def async_hookimpl_class(backend: Backend, is_async: bool) -> object:
    if is_async:

        class Hooks:
            metadata_type = JobMeta

            @hookimpl
            async def create(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> JobMeta:
                backend.record("create", task_template=task_template, inputs=inputs)
                return JobMeta(f"job-{inputs['n']}")

            @hookimpl
            async def get(self, resource_meta: JobMeta) -> Resource:
                backend.record("get", resource_meta=resource_meta)
                return Resource(Phase.SUCCEEDED, outputs={"id": resource_meta.job_id})

            @hookimpl
            async def delete(self, resource_meta: JobMeta) -> None:
                backend.record("delete", resource_meta=resource_meta)

        return Hooks

    class PlainHooks:
        metadata_type = JobMeta

        @hookimpl
        def create(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> JobMeta:
            backend.record("create", task_template=task_template, inputs=inputs)
            return JobMeta(f"job-{inputs['n']}")

        @hookimpl
        def get(self, resource_meta: JobMeta) -> Resource:
            backend.record("get", resource_meta=resource_meta)
            return Resource(Phase.SUCCEEDED, outputs={"id": resource_meta.job_id})

        @hookimpl
        def delete(self, resource_meta: JobMeta) -> None:
            backend.record("delete", resource_meta=resource_meta)

    return PlainHooks


def async_module(backend: Backend, is_async: bool) -> object:
    module = types.ModuleType("connector_job", "A job connector written as a module.")
    module.metadata_type = JobMeta  # type: ignore[attr-defined]
    module.task_type_name = "job"  # type: ignore[attr-defined]
    hooks = async_hookimpl_class(backend, is_async)()  # type: ignore[operator]
    for name in ("create", "get", "delete"):
        method = getattr(hooks, name)

        # A module's hooks are plain functions carrying the marker.
        if is_async:

            async def function(*, _method: Callable[..., Any] = method, **kwargs: Any) -> Any:
                return await _method(**kwargs)
        else:

            def function(*, _method: Callable[..., Any] = method, **kwargs: Any) -> Any:
                return _method(**kwargs)

        function.__signature__ = __import__("inspect").signature(method)  # type: ignore[attr-defined]
        setattr(module, name, hookimpl(function))
    return module


def sync_subclass(backend: Backend, is_async: bool) -> object:
    if is_async:

        class Echo(SyncConnector):
            task_type_name = "job"

            async def do(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> Resource:
                backend.record("do", task_template=task_template, inputs=inputs)
                return Resource(Phase.SUCCEEDED, outputs={"echo": inputs["n"]})

        return Echo

    class PlainEcho(SyncConnector):
        task_type_name = "job"

        def do(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> Resource:
            backend.record("do", task_template=task_template, inputs=inputs)
            return Resource(Phase.SUCCEEDED, outputs={"echo": inputs["n"]})

    return PlainEcho


def sync_hookimpl_class(backend: Backend, is_async: bool) -> object:
    if is_async:

        class Hooks:
            @hookimpl
            async def do(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> Resource:
                backend.record("do", task_template=task_template, inputs=inputs)
                return Resource(Phase.SUCCEEDED, outputs={"echo": inputs["n"]})

        return Hooks

    class PlainHooks:
        @hookimpl
        def do(self, task_template: TaskTemplate, inputs: dict[str, Any]) -> Resource:
            backend.record("do", task_template=task_template, inputs=inputs)
            return Resource(Phase.SUCCEEDED, outputs={"echo": inputs["n"]})

    return PlainHooks


def sync_module(backend: Backend, is_async: bool) -> object:
    module = types.ModuleType("connector_echo")
    if is_async:

        @hookimpl
        async def do(task_template: TaskTemplate, inputs: dict[str, Any]) -> Resource:
            backend.record("do", task_template=task_template, inputs=inputs)
            return Resource(Phase.SUCCEEDED, outputs={"echo": inputs["n"]})
    else:

        @hookimpl
        def do(task_template: TaskTemplate, inputs: dict[str, Any]) -> Resource:
            backend.record("do", task_template=task_template, inputs=inputs)
            return Resource(Phase.SUCCEEDED, outputs={"echo": inputs["n"]})

    module.do = do  # type: ignore[attr-defined]
    return module


ASYNC_STYLES = [async_subclass, async_hookimpl_class, async_module]
SYNC_STYLES = [sync_subclass, sync_hookimpl_class, sync_module]
KINDS = pytest.mark.parametrize("is_async", [False, True], ids=["def", "async-def"])


@KINDS
@pytest.mark.parametrize("style", ASYNC_STYLES)
def test_an_async_connector_in_every_style_from_plain_code(
    style: Callable[[Backend, bool], object], is_async: bool
) -> None:
    backend = Backend()
    loaded = load(style(backend, is_async))
    assert loaded.category == TaskCategory("job")
    assert not loaded.is_sync
    assert loaded.hooks == {"create", "get", "delete"}
    assert loaded.metadata_type is JobMeta
    assert loaded.is_async_hook("create") is is_async
    template = TaskTemplate("job")

    meta = call(loaded, "create", task_template=template, inputs={"n": 7})
    resource = call(loaded, "get", resource_meta=meta)
    assert call(loaded, "delete", resource_meta=meta) is None

    assert meta == JobMeta("job-7")
    assert resource == Resource(Phase.SUCCEEDED, outputs={"id": "job-7"})
    assert backend.calls == [
        ("create", {"task_template": template, "inputs": {"n": 7}}),
        ("get", {"resource_meta": JobMeta("job-7")}),
        ("delete", {"resource_meta": JobMeta("job-7")}),
    ]


@KINDS
@pytest.mark.parametrize("style", ASYNC_STYLES)
async def test_an_async_connector_in_every_style_from_async_code(
    style: Callable[[Backend, bool], object], is_async: bool
) -> None:
    backend = Backend()
    loaded = load(style(backend, is_async))
    meta = await acall(loaded, "create", inputs={"n": 3})
    resource = await acall(loaded, "get", resource_meta=meta)
    await acall(loaded, "delete", resource_meta=meta)
    assert resource.outputs == {"id": "job-3"}
    assert [hook for hook, _ in backend.calls] == ["create", "get", "delete"]
    # A plain def runs in a worker thread, off the event loop; an async def on the loop.
    on_loop = threading.get_ident()
    assert all((thread == on_loop) is is_async for thread in backend.threads)


@KINDS
@pytest.mark.parametrize("style", SYNC_STYLES)
def test_a_sync_connector_in_every_style_from_plain_code(
    style: Callable[[Backend, bool], object], is_async: bool
) -> None:
    backend = Backend()
    loaded = load(style(backend, is_async))
    assert loaded.is_sync
    assert loaded.hooks == {"do"}
    assert loaded.metadata_type is None
    assert loaded.is_async_hook("do") is is_async
    template = TaskTemplate("job")
    assert call(loaded, "do", task_template=template, inputs={"n": 1}).outputs == {"echo": 1}
    assert backend.calls == [("do", {"task_template": template, "inputs": {"n": 1}})]


@KINDS
@pytest.mark.parametrize("style", SYNC_STYLES)
async def test_a_sync_connector_in_every_style_from_async_code(
    style: Callable[[Backend, bool], object], is_async: bool
) -> None:
    backend = Backend()
    loaded = load(style(backend, is_async))
    assert (await acall(loaded, "do", inputs={"n": 2})).outputs == {"echo": 2}
    assert [arguments["inputs"] for _, arguments in backend.calls] == [{"n": 2}]
    assert (backend.threads[0] == threading.get_ident()) is is_async


async def test_plain_code_inside_an_event_loop_runs_an_async_hook_on_a_loop_of_its_own() -> None:
    backend = Backend()
    loaded = load(sync_subclass(backend, True))
    assert call(loaded, "do", inputs={"n": 1}).outputs == {"echo": 1}
    assert backend.threads != [threading.get_ident()]  # not on this test's (running) loop


def test_seed_style_signatures_with_defaults_and_kwargs_receive_every_argument() -> None:
    received: dict[str, Any] = {}

    class Seed(AsyncConnector):
        metadata_type = JobMeta

        def __init__(self) -> None:
            super().__init__(task_type_name="job", metadata_type=JobMeta)

        def create(
            self,
            task_template: TaskTemplate,
            output_prefix: str,
            inputs: dict[str, Any] | None = None,
            task_execution_metadata: TaskExecutionMetadata | None = None,
            **kwargs: Any,
        ) -> JobMeta:
            received.update(
                task_template=task_template,
                output_prefix=output_prefix,
                inputs=inputs,
                task_execution_metadata=task_execution_metadata,
                **kwargs,
            )
            return JobMeta("j")

        def get(self, resource_meta: JobMeta, **kwargs: Any) -> Resource:
            received["get"] = sorted(kwargs)
            return Resource(Phase.RUNNING)

        def delete(self, resource_meta: JobMeta, connection: Connection | None = None) -> None:
            received["delete"] = connection

    loaded = load(Seed)
    template, metadata = TaskTemplate("job", custom={"a": 1}), TaskExecutionMetadata(namespace="ns")
    connection = Connection(secrets={"k": "v"})
    call(
        loaded,
        "create",
        task_template=template,
        output_prefix="s3://out",
        inputs={"x": 1},
        task_execution_metadata=metadata,
        connection=connection,
        idempotency_key="key-1",
    )
    call(loaded, "get", resource_meta=JobMeta("j"))
    call(loaded, "delete", resource_meta=JobMeta("j"), connection=connection)
    assert received == {
        "task_template": template,
        "output_prefix": "s3://out",
        "inputs": {"x": 1},
        "task_execution_metadata": metadata,
        "connection": connection,
        "idempotency_key": "key-1",
        "get": ["connection", "task_template"],
        "delete": connection,
    }


def test_arguments_a_caller_leaves_out_get_empty_values() -> None:
    received: dict[str, Any] = {}

    class Everything(SyncConnector):
        task_type_name = "job"
        task_type_version = 2

        def do(self, **kwargs: Any) -> Resource:
            received.update(kwargs)
            return Resource(Phase.SUCCEEDED)

    call(load(Everything, "job@2"), "do")
    # Without an execution id there is nothing to tie a replay to: the key is random.
    assert re.fullmatch(r"ck1-[0-9a-f]{32}", received.pop("idempotency_key"))
    assert received == {
        "task_template": TaskTemplate("job", 2),
        "output_prefix": "",
        "inputs": {},
        "task_execution_metadata": TaskExecutionMetadata(),
        "connection": Connection(),
    }


def test_specname_implements_a_hook_under_another_function_name() -> None:
    class Renamed:
        @hookimpl(specname="do")
        def run_it(self, inputs: dict[str, Any]) -> Resource:
            return Resource(Phase.SUCCEEDED, outputs=dict(inputs))

    loaded = load(Renamed)
    assert loaded.hooks == {"do"}
    assert call(loaded, "do", inputs={"a": 1}).outputs == {"a": 1}


@pytest.mark.parametrize("hook", ["get_logs", "get_metrics"])
def test_a_missing_optional_hook_is_an_error_the_caller_sees(hook: str) -> None:
    loaded = load(async_subclass(Backend(), False))
    with pytest.raises(HookNotImplementedError) as info:
        call(loaded, hook, resource_meta=JobMeta("j"))
    assert str(info.value) == f"connector for task type job@0 does not implement {hook}"
    assert (info.value.category, info.value.hook) == (TaskCategory("job"), hook)


async def test_optional_hooks_mixing_def_and_async_def() -> None:
    class WithLogs(AsyncConnector):
        task_type_name = "job"
        metadata_type = JobMeta

        async def create(self) -> JobMeta:
            return JobMeta("j")

        def get(self) -> Resource:
            return Resource(Phase.RUNNING)

        async def delete(self) -> None:
            return None

        async def get_logs(self, resource_meta: JobMeta, token: str) -> list[str]:
            return [f"{resource_meta.job_id} line after {token!r}"]

        def get_metrics(self, queries: list[str], step: Any) -> list[MetricSeries]:
            return [MetricSeries(query, (MetricPoint(1.0, 0.5),)) for query in [*queries, str(step)]]

    loaded = load(WithLogs)
    assert loaded.hooks == {"create", "get", "delete", "get_logs", "get_metrics"}
    assert [loaded.is_async_hook(h) for h in ("create", "get", "delete", "get_logs", "get_metrics")] == [
        True,
        False,
        True,
        True,
        False,
    ]
    chunks = await acall(loaded, "get_logs", resource_meta=JobMeta("j"), token="t1")
    assert chunks == [LogsChunk(lines=("j line after 't1'",))]
    series = await acall(loaded, "get_metrics", resource_meta=JobMeta("j"), queries=["cpu"])
    assert [s.metric for s in series] == ["cpu", "None"]


def test_a_connector_name_and_doc_are_its_own() -> None:
    class Documented(SyncConnector):
        """Echoes its inputs.

        In two paragraphs.
        """

        name = "Echo connector"
        task_type_name = "job"

        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    class Undocumented(SyncConnector):
        task_type_name = "job"

        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    documented = load(Documented)
    assert (documented.name, documented.doc) == ("Echo connector", "Echoes its inputs.\n\nIn two paragraphs.")
    undocumented = load(Undocumented)
    # Not SyncConnector's docstring: a connector without one has none.
    assert (undocumented.name, undocumented.doc) == (
        "test_a_connector_name_and_doc_are_its_own.<locals>.Undocumented",
        "",
    )
    module = load(async_module(Backend(), False))
    assert (module.name, module.doc) == ("connector_job", "A job connector written as a module.")


def test_properties_are_not_run_while_looking_for_hooks() -> None:
    class Lazy(SyncConnector):
        task_type_name = "job"

        @property
        def client(self) -> object:
            raise RuntimeError("would connect to the network")

        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    assert load(Lazy).hooks == {"do"}


# Wrapper plugins and the trace switch.


class Around:
    """A cross-cutting plugin: a wrapper around every ``do``."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl(wrapper=True)
    def do(self, task_template: TaskTemplate) -> Any:
        self.events.append(f"before {task_template.type}")
        result = yield
        self.events.append("after")
        return result


def test_a_wrapper_plugin_surrounds_a_call() -> None:
    backend, around = Backend(), Around()
    loaded = load(sync_subclass(backend, False), wrappers=[around])
    assert call(loaded, "do", task_template=TaskTemplate("job"), inputs={"n": 5}).outputs == {"echo": 5}
    assert around.events == ["before job", "after"]
    assert len(backend.calls) == 1


def test_a_wrapper_around_an_async_def_hook_is_warned_about_at_load() -> None:
    with pytest.warns(WrapperWarning) as warned:
        load(sync_subclass(Backend(), True), wrappers=[Around()])
    assert [str(w.message) for w in warned] == [
        "wrapper plugin 'Around' wraps do of task type job@0, which connector-x 1.0, entry point 'job' "
        "(pkg.mod:Target) implements as async def: the wrapper sees the coroutine before it runs, "
        "not its result"
    ]


def test_a_wrapper_can_change_the_result() -> None:
    class Stamp:
        @hookimpl(wrapper=True)
        def do(self) -> Any:
            result = yield
            return dataclasses.replace(result, message="stamped")

    loaded = load(sync_subclass(Backend(), False), wrappers=[Stamp()])
    assert call(loaded, "do", inputs={"n": 1}).message == "stamped"


def test_trace_prints_each_call_and_its_result(capsys: pytest.CaptureFixture[str]) -> None:
    loaded = load(sync_subclass(Backend(), True), settings=RegistrySettings(trace=True))
    call(
        loaded,
        "do",
        inputs={"n": 1},
        connection=Connection(secrets={"token": "s3cr3t"}),
        idempotency_key="k1",
    )
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        # The arguments the hook takes, only: the others are never built (issue 13).
        "connector trace: job@0 do(task_template=TaskTemplate(type='job', task_type_version=0, custom={}, "
        "config={}, container_image=None, container_args=[], sql=None, metadata={}, interface=None, id='', "
        "raw=None), inputs={'n': 1})",
        # The result of the async def, not its coroutine.
        "connector trace: job@0 do -> Resource(phase=<Phase.SUCCEEDED: 3>, message='', log_links=[], "
        "outputs={'echo': 1}, custom_info=None)",
    ]


def test_trace_shows_a_connections_secrets_as_stars(capsys: pytest.CaptureFixture[str]) -> None:
    class Secretive(SyncConnector):
        task_type_name = "job"

        def do(self, connection: Connection, idempotency_key: str) -> Resource:
            return Resource(Phase.SUCCEEDED)

    loaded = load(Secretive, settings=RegistrySettings(trace=True))
    call(loaded, "do", connection=Connection(secrets={"token": "s3cr3t"}), idempotency_key="k1")
    first = capsys.readouterr().err.splitlines()[0]
    assert first == (
        "connector trace: job@0 do(connection=Connection(secrets={'token': '***'}, configs={}), "
        "idempotency_key='k1')"
    )


async def test_trace_prints_an_exception(capsys: pytest.CaptureFixture[str]) -> None:
    class Failing(SyncConnector):
        task_type_name = "job"

        def do(self) -> Resource:
            raise RuntimeError("the service is down")

    loaded = load(Failing, settings=RegistrySettings(trace=True))
    with pytest.raises(RuntimeError, match="the service is down"):
        await acall(loaded, "do")
    assert capsys.readouterr().err.splitlines()[1] == (
        "connector trace: job@0 do raised RuntimeError: 'the service is down'"
    )


def test_no_trace_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    call(load(sync_subclass(Backend(), False)), "do", inputs={"n": 1})
    assert capsys.readouterr() == ("", "")


# Validation: each rule refuses with a message naming the distribution, entry point and rule.


@pytest.mark.parametrize("as_module", [False, True], ids=["class", "module"])
def test_an_argument_no_hookspec_has(as_module: bool) -> None:
    if as_module:

        @hookimpl
        def do(task_template: TaskTemplate, retries: int) -> Resource:
            return Resource(Phase.SUCCEEDED)

        target: object = types.ModuleType("connector_bad")
        target.do = do  # type: ignore[attr-defined]
    else:

        class Bad(SyncConnector):
            task_type_name = "job"

            def do(self, task_template: TaskTemplate, retries: int = 3) -> Resource:
                return Resource(Phase.SUCCEEDED)

        target = Bad
    error = refusal(target)
    assert isinstance(error, ConnectorValidationError)
    assert str(error) == PREFIX + (
        "hook 'do' takes an argument 'retries' that the 'do' hookspec does not have; its arguments are: "
        "task_template, output_prefix, inputs, task_execution_metadata, connection, idempotency_key"
    )
    assert (error.rule, error.category, error.entry_point, error.distribution) == (
        "unknown-argument",
        TaskCategory("job"),
        "job",
        "connector-x",
    )


def test_a_positional_only_argument() -> None:
    class Bad(SyncConnector):
        task_type_name = "job"

        def do(self, inputs: dict[str, Any], /) -> Resource:
            return Resource(Phase.SUCCEEDED)

    error = refusal(Bad)
    assert str(error) == PREFIX + (
        "hook 'do' takes 'inputs' as positional-only; hooks are called with keyword arguments"
    )


def test_an_unknown_hook_name() -> None:
    class Typo:
        @hookimpl
        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

        @hookimpl
        def get_log(self) -> list[str]:
            return []

    error = refusal(Typo)
    assert isinstance(error, ConnectorValidationError)
    assert error.rule == "unknown-hook"
    assert str(error) == PREFIX + (
        "'get_log' is marked @connector.hookimpl but no hook is named 'get_log'; "
        "the hooks are: create, get, delete, do, get_logs, get_metrics"
    )


def test_an_unknown_specname() -> None:
    class Typo:
        @hookimpl(specname="run")
        def do_it(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    assert str(refusal(Typo)) == PREFIX + (
        "'do_it' is marked @connector.hookimpl but no hook is named 'run'; "
        "the hooks are: create, get, delete, do, get_logs, get_metrics"
    )


def test_both_sync_and_async_hooks() -> None:
    class Both:
        metadata_type = JobMeta

        @hookimpl
        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

        @hookimpl
        def create(self) -> JobMeta:
            return JobMeta("j")

        @hookimpl
        def get(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    error = refusal(Both)
    assert isinstance(error, ConnectorValidationError)
    assert error.rule == "sync-and-async"
    assert str(error) == PREFIX + (
        "implements both 'do' (sync) and 'create', 'get' (async); a connector is one or the other"
    )


def test_an_async_connector_class_with_do() -> None:
    class Wrong(AsyncConnector):
        task_type_name = "job"
        metadata_type = JobMeta

        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    error = refusal(Wrong)
    assert isinstance(error, ConnectorValidationError)
    assert error.rule == "sync-and-async"
    assert str(error) == PREFIX + "is an AsyncConnector but implements 'do'; subclass SyncConnector instead"


def test_a_sync_connector_class_without_do() -> None:
    class Wrong(SyncConnector):
        task_type_name = "job"
        metadata_type = JobMeta

        def create(self) -> JobMeta:
            return JobMeta("j")

        def get(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

        def delete(self) -> None:
            return None

    error = refusal(Wrong)
    assert isinstance(error, ConnectorValidationError)
    assert error.rule == "missing-hook"
    assert str(error) == PREFIX + "is a SyncConnector but does not implement 'do'"


def test_an_async_connector_missing_a_required_hook() -> None:
    class Incomplete(AsyncConnector):
        task_type_name = "job"
        metadata_type = JobMeta

        def create(self) -> JobMeta:
            return JobMeta("j")

        def get_logs(self) -> list[str]:
            return []

    error = refusal(Incomplete)
    assert isinstance(error, ConnectorValidationError)
    assert error.rule == "missing-hook"
    assert str(error) == PREFIX + (
        "is an async connector without 'get', 'delete'; an async connector implements create, get and delete"
    )


@pytest.mark.parametrize(
    "target",
    [
        type("Plain", (), {"do": lambda self: None}),  # a plain method without the marker is not a hook
        types.ModuleType("connector_empty"),
        object(),
    ],
    ids=["unmarked-class", "empty-module", "instance"],
)
def test_no_hooks_at_all(target: object) -> None:
    error = refusal(target)
    assert isinstance(error, ConnectorValidationError)
    assert error.rule == "no-hooks"
    assert str(error) == PREFIX + (
        "implements none of the hooks (create, get, delete, do, get_logs, get_metrics); subclass "
        "connector.AsyncConnector or connector.SyncConnector, or mark the functions with @connector.hookimpl"
    )


class NotADataclass(ResourceMeta):
    job_id: str


@pytest.mark.parametrize(
    ("metadata_type", "message"),
    [
        (
            None,
            "is an async connector without a 'metadata_type'; set it to the ResourceMeta dataclass that "
            "create returns",
        ),
        (dict, "metadata_type <class 'dict'> is not a subclass of connector.ResourceMeta"),
        (JobMeta("j"), "metadata_type JobMeta(job_id='j') is not a subclass of connector.ResourceMeta"),
        (
            NotADataclass,
            "metadata_type NotADataclass is not a dataclass; decorate it with @dataclasses.dataclass",
        ),
        (
            ResourceMeta,
            "metadata_type is connector.ResourceMeta itself, which has no fields; subclass it with the "
            "fields that find the job again",
        ),
    ],
    ids=["missing", "dict", "an-instance", "not-a-dataclass", "the-base"],
)
def test_a_bad_metadata_type(metadata_type: object, message: str) -> None:
    class Job(AsyncConnector):
        task_type_name = "job"

        def create(self) -> JobMeta:
            return JobMeta("j")

        def get(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

        def delete(self) -> None:
            return None

    Job.metadata_type = metadata_type  # type: ignore[assignment]
    error = refusal(Job)
    assert isinstance(error, ConnectorValidationError)
    assert error.rule == "metadata-type"
    assert str(error) == PREFIX + message


def test_a_forgotten_metadata_type_on_an_async_connector_class_is_refused() -> None:
    # The base class's default is None, not ResourceMeta: jobs would decode into an empty meta.
    assert AsyncConnector.metadata_type is None
    error = refusal(async_subclass(Backend(), False).__mro__[1])  # type: ignore[attr-defined]
    assert isinstance(error, ConnectorValidationError)


def test_a_sync_connector_may_declare_a_valid_metadata_type_but_not_a_bad_one() -> None:
    class Echo(SyncConnector):
        task_type_name = "job"
        metadata_type = JobMeta

        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    assert load(Echo).metadata_type is JobMeta
    Echo.metadata_type = str
    assert (
        str(refusal(Echo))
        == PREFIX + "metadata_type <class 'str'> is not a subclass of connector.ResourceMeta"
    )


@pytest.mark.parametrize(
    ("name", "version", "entry_point", "message"),
    [
        (
            "other",
            0,
            "job",
            "declares task type other@0 but its entry point is named 'job'; rename the entry point to "
            "'other' or fix task_type_name/task_type_version",
        ),
        (
            "job",
            1,
            "job",
            "declares task type job@1 but its entry point is named 'job'; rename the entry point to 'job@1' "
            "or fix task_type_name/task_type_version",
        ),
        (
            "job",
            0,
            "job@2",
            "declares task type job@0 but its entry point is named 'job@2'; rename the entry point to 'job' "
            "or fix task_type_name/task_type_version",
        ),
        # No task_type_name: the entry point's name is taken, but a declared version must still match.
        (
            "",
            3,
            "job",
            "declares task type job@3 but its entry point is named 'job'; rename the entry point to 'job@3' "
            "or fix task_type_name/task_type_version",
        ),
    ],
)
def test_a_declared_category_that_differs_from_the_entry_point(
    name: str, version: int, entry_point: str, message: str
) -> None:
    class Echo(SyncConnector):
        task_type_name = name
        task_type_version = version

        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    error = refusal(Echo, entry_point)
    assert isinstance(error, ConnectorValidationError)
    assert error.rule == "category-mismatch"
    assert str(error) == f"connector-x 1.0, entry point {entry_point!r} (pkg.mod:Target): {message}"


def test_a_declared_category_that_is_not_valid() -> None:
    class Echo(SyncConnector):
        task_type_name = "job"
        task_type_version = "1"  # type: ignore[assignment]

        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    error = refusal(Echo)
    assert isinstance(error, ConnectorValidationError)
    assert (error.rule, str(error)) == (
        "category",
        PREFIX + "task type version must be an integer >= 0, got '1'; fix task_type_name/task_type_version",
    )


def test_a_connector_without_a_declared_category_takes_the_entry_points() -> None:
    loaded = load(sync_module(Backend(), False), "echo@4")
    assert loaded.category == TaskCategory("echo", 4)


@pytest.mark.parametrize("exception", [RuntimeError("no credentials"), SystemExit(3)])
def test_a_constructor_that_raises(exception: BaseException) -> None:
    class Boom(SyncConnector):
        task_type_name = "job"

        def __init__(self) -> None:
            raise exception

        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    error = refusal(Boom)
    assert isinstance(error, ConnectorLoadError)
    boom = "test_a_constructor_that_raises.<locals>.Boom"
    assert str(error) == PREFIX + f"constructing {boom} raised {type(exception).__name__}: {exception}"
    assert error.__cause__ is exception


def test_an_attribute_that_raises_while_the_connector_is_inspected() -> None:
    class Odd(AsyncConnector):
        task_type_name = "job"

        @property  # type: ignore[override]
        def metadata_type(self) -> type[ResourceMeta]:
            raise KeyError("settings")

        def create(self) -> JobMeta:
            return JobMeta("j")

        def get(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

        def delete(self) -> None:
            return None

    error = refusal(Odd)
    assert isinstance(error, ConnectorLoadError)
    assert str(error) == PREFIX + "loading pkg.mod:Target raised KeyError: 'settings'"


# The same rules for register().


def test_register_validates_with_the_same_rules() -> None:
    class Nameless(SyncConnector):
        def do(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

    with pytest.raises(ConnectorValidationError) as info:
        ConnectorRegistry().register(Nameless)
    assert str(info.value) == (
        "registered connector test_register_validates_with_the_same_rules.<locals>.Nameless: "
        "declares no task_type_name; set it to the task type the connector serves"
    )


def test_the_hookspecs_are_what_the_docs_say() -> None:
    assert hookspecs.ALL_HOOKS == ("create", "get", "delete", "do", "get_logs", "get_metrics")
    for name in hookspecs.ALL_HOOKS:
        spec = getattr(hookspecs, name)
        assert spec.__doc__, name
        assert "connection" in spec.__code__.co_varnames[: spec.__code__.co_argcount]
