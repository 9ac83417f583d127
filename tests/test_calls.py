"""The call layer: every result checked once, and nothing a hook raises escapes it or goes unanswered."""

from __future__ import annotations

import asyncio
import collections.abc
import concurrent.futures
import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from connector import (
    AsyncConnector,
    CallTimeoutError,
    ConnectorCalls,
    HookCrashError,
    HookNotImplementedError,
    HookResultError,
    LoadedConnector,
    LogsChunk,
    MetricPoint,
    MetricSeries,
    Phase,
    Resource,
    ResourceMeta,
    ResourceMetaError,
    SyncConnector,
    TaskLog,
)
from connector.registry._calls import run_blocking
from connector.testing import registry_of


@dataclasses.dataclass
class JobMeta(ResourceMeta):
    job_id: str


@dataclasses.dataclass
class OtherMeta(ResourceMeta):
    name: str


class Custom(BaseException):
    """A BaseException of a plugin's own."""


def raise_(how: str) -> Any:
    """Raise what ``how`` names, as a hook would."""
    if how == "keyboard-interrupt":
        raise KeyboardInterrupt("stop everything")
    if how == "system-exit":
        raise SystemExit(3)
    if how == "stop-iteration":
        return next(iter(()))
    if how == "generator-exit":
        raise GeneratorExit("closing")
    if how == "cancelled":
        raise asyncio.CancelledError("not the caller's")
    if how == "custom":
        raise Custom("my own")
    return Resource(Phase.SUCCEEDED)


RAISED = {
    "keyboard-interrupt": "KeyboardInterrupt: stop everything",
    "system-exit": "SystemExit: 3",
    "stop-iteration": "StopIteration",
    "generator-exit": "GeneratorExit: closing",
    "cancelled": "CancelledError: not the caller's",
    "custom": "Custom: my own",
}


class Raising(SyncConnector):
    task_type_name = "raising"

    def do(self, task_template: Any) -> Resource:
        return raise_(task_template.custom["how"])  # type: ignore[no-any-return]


class AsyncRaising(SyncConnector):
    task_type_name = "raising"
    task_type_version = 1

    async def do(self, task_template: Any) -> Resource:
        await asyncio.sleep(0)
        return raise_(task_template.custom["how"])  # type: ignore[no-any-return]


def calls_of(connector: object, **options: Any) -> ConnectorCalls:
    loaded = registry_of(connector).get(_category(connector))
    return ConnectorCalls(loaded, **options)


def _category(connector: object) -> str:
    return f"{connector.task_type_name}@{getattr(connector, 'task_type_version', 0)}"  # type: ignore[attr-defined]


def template(calls: ConnectorCalls, **custom: Any) -> Any:
    from connector import TaskTemplate

    category = calls.loaded.category
    return TaskTemplate(category.name, category.version, custom=custom)


# Containment.


@pytest.mark.parametrize("connector", [Raising, AsyncRaising], ids=["def", "async-def"])
@pytest.mark.parametrize("how", list(RAISED))
async def test_what_a_hook_must_not_raise_becomes_hook_crash_error(connector: type, how: str) -> None:
    calls = calls_of(connector)
    category = calls.loaded.category
    if how == "stop-iteration" and connector is AsyncRaising:
        # PEP 479: in a coroutine Python itself makes it a RuntimeError, an ordinary exception.
        with pytest.raises(RuntimeError, match="coroutine raised StopIteration"):
            await calls.do(template(calls, how=how))
        return
    with pytest.raises(HookCrashError) as info:
        await calls.do(template(calls, how=how))
    assert str(info.value) == (
        f"task type {category} from registered connector {connector.__qualname__}: do raised "
        f"{RAISED[how]}, which a hook must not raise (raise an Exception to fail the call)"
    )
    assert (info.value.category, info.value.hook, info.value.origin) == (category, "do", calls.loaded.origin)
    assert info.value.__cause__ is info.value.raised
    # The caller's task goes on: the loop and this test are still running.
    assert (await calls.do(template(calls, how="fine"))).phase is Phase.SUCCEEDED


@pytest.mark.parametrize("connector", [Raising, AsyncRaising], ids=["def", "async-def"])
def test_containment_from_plain_code_too(connector: type) -> None:
    calls = calls_of(connector)
    with pytest.raises(HookCrashError, match="do raised KeyboardInterrupt: stop everything"):
        run_blocking(calls.do(template(calls, how="keyboard-interrupt")))


async def test_a_real_cancel_of_the_call_is_a_cancel_not_a_crash() -> None:
    started = asyncio.Event()

    class Slow(SyncConnector):
        task_type_name = "slow"

        async def do(self) -> Resource:
            started.set()
            await asyncio.sleep(60)
            return Resource(Phase.SUCCEEDED)

    calls = calls_of(Slow)
    task = asyncio.ensure_future(calls.do())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_plain_generator_of_logs_that_raises_keyboard_interrupt_is_contained() -> None:
    class Logs(AsyncConnector):
        task_type_name = "logs"
        metadata_type = JobMeta

        def create(self) -> JobMeta:
            return JobMeta("j")

        def get(self) -> Resource:
            return Resource(Phase.RUNNING)

        def delete(self) -> None:
            return None

        def get_logs(self) -> Iterator[str]:
            yield "first"
            raise KeyboardInterrupt("mid-stream")

    calls = calls_of(Logs)
    seen = []
    with pytest.raises(HookCrashError, match="get_logs raised KeyboardInterrupt: mid-stream"):
        await _drain(calls.logs(JobMeta("j")), seen)
    assert seen == [LogsChunk(lines=("first",))]


async def test_an_async_generator_of_logs_that_raises_system_exit_is_contained() -> None:
    class Logs(AsyncConnector):
        task_type_name = "logs"
        metadata_type = JobMeta

        async def create(self) -> JobMeta:
            return JobMeta("j")

        async def get(self) -> Resource:
            return Resource(Phase.RUNNING)

        async def delete(self) -> None:
            return None

        async def get_logs(self) -> AsyncIterator[LogsChunk]:
            yield LogsChunk(lines=("a",), token="t")
            raise SystemExit(2)

    calls = calls_of(Logs)
    seen = []
    with pytest.raises(HookCrashError, match="get_logs raised SystemExit: 2"):
        await _drain(calls.logs(JobMeta("j")), seen)
    assert seen == [LogsChunk(lines=("a",), token="t")]


async def _drain(chunks: AsyncIterator[LogsChunk], into: list[LogsChunk]) -> None:
    async for chunk in chunks:
        into.append(chunk)


# Result checks.


class Job(AsyncConnector):
    """An async connector whose results the test chooses through ``RESULTS``."""

    task_type_name = "job"
    metadata_type = JobMeta
    RESULTS: dict[str, Any] = {}

    def create(self) -> Any:
        return self.RESULTS.get("create", JobMeta("j"))

    def get(self) -> Any:
        return self.RESULTS.get("get", Resource(Phase.SUCCEEDED))

    def delete(self) -> Any:
        return "ignored"

    def get_logs(self) -> Any:
        return self.RESULTS["get_logs"]

    def get_metrics(self) -> Any:
        return self.RESULTS["get_metrics"]


PREFIX = "task type job@0 from registered connector Job: "


@pytest.fixture
def job(monkeypatch: pytest.MonkeyPatch) -> tuple[ConnectorCalls, dict[str, Any]]:
    results: dict[str, Any] = {}
    monkeypatch.setattr(Job, "RESULTS", results)
    return calls_of(Job), results


@pytest.mark.parametrize(
    ("hook", "result", "problem"),
    [
        (
            "create",
            {"job_id": "j"},
            "create returned dict, not an instance of its metadata_type JobMeta; return JobMeta(...)",
        ),
        (
            "create",
            OtherMeta("x"),
            "create returned OtherMeta, not an instance of its metadata_type JobMeta; return JobMeta(...)",
        ),
        (
            "get",
            "done",
            "get returned str, not a connector.Resource; return Resource(phase=..., message=..., "
            "outputs=...)",
        ),
        ("get", Resource(Phase.RUNNING, message=5), "get returned a message of type int, not a str"),  # type: ignore[arg-type]
        (
            "get",
            Resource(Phase.RUNNING, log_links=["http://x"]),
            "get returned a log link of type str, "  # type: ignore[list-item]
            "not a connector.TaskLog",
        ),
        (
            "get",
            Resource(Phase.SUCCEEDED, outputs=[1]),
            "get returned outputs of type list, not a dict of "  # type: ignore[arg-type]
            "output names to values",
        ),
        (
            "get",
            Resource(Phase.SUCCEEDED, outputs={1: "x"}),
            "get returned outputs of type dict, not a dict of "  # type: ignore[dict-item]
            "output names to values",
        ),
        (
            "get",
            Resource(Phase.SUCCEEDED, custom_info=[1]),
            "get returned custom_info of type list, not a dict",
        ),  # type: ignore[arg-type]
        ("get_logs", 5, "get_logs returned int, not a connector.LogsChunk or lines"),
        ("get_logs", [LogsChunk(), 5], "get_logs yielded int, not a connector.LogsChunk, a line or lines"),
        ("get_metrics", "cpu", "get_metrics returned str, not a list of connector.MetricSeries"),
        (
            "get_metrics",
            [MetricSeries("cpu"), "x"],
            "get_metrics returned a str in its list, not a connector.MetricSeries",
        ),
    ],
)
async def test_a_result_that_breaks_the_contract(
    job: tuple[ConnectorCalls, dict[str, Any]], hook: str, result: Any, problem: str
) -> None:
    calls, results = job
    results[hook] = result
    with pytest.raises(HookResultError) as info:
        await _call(calls, hook)
    assert str(info.value) == PREFIX + problem
    assert (info.value.hook, info.value.problem) == (hook, problem.removeprefix(f"{hook} "))


async def _call(calls: ConnectorCalls, hook: str) -> object:
    if hook == "create":
        return await calls.create()
    if hook == "get":
        return await calls.get(JobMeta("j"))
    if hook == "get_logs":
        return [chunk async for chunk in calls.logs(JobMeta("j"))]
    return await calls.metrics(JobMeta("j"))


async def test_good_results_come_back_as_they_are(job: tuple[ConnectorCalls, dict[str, Any]]) -> None:
    calls, results = job
    resource = Resource(Phase.RUNNING, "m", [TaskLog("http://x")], {"a": 1}, {"k": [1]})
    results.update(
        get=resource,
        get_logs=(line for line in ["a", ["b", "c"], LogsChunk(("d",), "t")]),
        get_metrics=(s for s in [MetricSeries("cpu", (MetricPoint(1.0, 2.0),))]),
    )
    assert await calls.create() == JobMeta("j")
    assert await calls.get(JobMeta("j")) == resource  # a copy with plain lists and dicts
    assert await calls.delete(JobMeta("j")) is None  # what delete returns is ignored
    chunks = [chunk async for chunk in calls.logs(JobMeta("j"))]
    assert chunks == [LogsChunk(("a",)), LogsChunk(("b", "c")), LogsChunk(("d",), "t")]
    assert await calls.metrics(JobMeta("j")) == [MetricSeries("cpu", (MetricPoint(1.0, 2.0),))]


async def test_a_non_terminal_do_breaks_the_contract() -> None:
    class Running(SyncConnector):
        task_type_name = "running"

        def do(self) -> Resource:
            return Resource(Phase.RUNNING)

    with pytest.raises(HookResultError) as info:
        await calls_of(Running).do()
    assert str(info.value) == (
        "task type running@0 from registered connector test_a_non_terminal_do_breaks_the_contract.<locals>."
        "Running: do returned phase RUNNING, which is not "
        "terminal; a sync connector answers with SUCCEEDED, FAILED, ABORTED or RETRYABLE_FAILED"
    )


def test_a_meta_that_does_not_survive_encode_decode_breaks_the_contract() -> None:
    @dataclasses.dataclass
    class Lying(ResourceMeta):
        count: int

    class Job2(AsyncConnector):
        task_type_name = "job2"
        metadata_type = Lying

        def create(self) -> Lying:
            return Lying("seven")  # type: ignore[arg-type]

        def get(self) -> Resource:
            return Resource(Phase.SUCCEEDED)

        def delete(self) -> None:
            return None

    calls = calls_of(Job2)
    meta = run_blocking(calls.create())
    with pytest.raises(HookResultError) as info:
        calls.encode_meta(meta)
    assert str(info.value) == (
        "task type job2@0 from registered connector "
        "test_a_meta_that_does_not_survive_encode_decode_breaks_the_contract.<locals>.Job2: create "
        "returned a Lying that does not survive encode/decode: cannot decode Lying: count: expected int, "
        "got str; keep only values ResourceMeta can encode, with matching field annotations"
    )


# Meta decoding, missing hooks, time limits.


def test_decode_meta(job: tuple[ConnectorCalls, dict[str, Any]]) -> None:
    calls, _ = job
    assert calls.decode_meta(JobMeta("j").encode()) == JobMeta("j")
    with pytest.raises(ResourceMetaError) as info:
        calls.decode_meta(b"")
    assert str(info.value) == "the resource meta is empty (task type job@0)"
    with pytest.raises(ResourceMetaError) as info:
        calls.decode_meta(OtherMeta("x").encode())
    assert str(info.value) == (
        "the resource meta is not one task type job@0 wrote: cannot decode JobMeta: field 'job_id' is missing"
    )


async def test_a_missing_hook_is_hook_not_implemented() -> None:
    calls = calls_of(Raising)
    with pytest.raises(HookNotImplementedError, match="does not implement create"):
        await calls.create()
    with pytest.raises(HookNotImplementedError, match="does not implement get"):
        calls.decode_meta(b"{}")


async def test_the_server_side_time_limit() -> None:
    release = threading.Event()

    class Slow(SyncConnector):
        task_type_name = "slow"

        def do(self) -> Resource:
            release.wait(10)
            return Resource(Phase.SUCCEEDED)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        calls = calls_of(Slow, executor=pool, timeout=0.05)
        with pytest.raises(CallTimeoutError, match=r"^do for task type slow@0 did not finish within 0.05s$"):
            await calls.do()
        release.set()
        # A client deadline shorter than the limit arms no timer of the layer's own.
        assert (await calls.do(deadline=0.01)).phase is Phase.SUCCEEDED


async def test_plain_hooks_run_in_the_executor_and_async_ones_on_the_loop() -> None:
    threads: list[int] = []

    class Where(SyncConnector):
        task_type_name = "where"

        def do(self) -> Resource:
            threads.append(threading.get_ident())
            return Resource(Phase.SUCCEEDED)

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="only") as pool:
        await calls_of(Where, executor=pool).do()
    assert threads[0] != threading.get_ident()


def test_run_blocking_inside_a_running_loop_uses_a_thread() -> None:
    async def inside() -> Resource:
        return run_blocking(calls_of(Raising).do(template(calls_of(Raising), how="fine")))

    assert asyncio.run(inside()).phase is Phase.SUCCEEDED


def test_calls_repr() -> None:
    loaded = registry_of(Raising).get("raising")
    assert isinstance(loaded, LoadedConnector)
    assert repr(ConnectorCalls(loaded)) == "<ConnectorCalls <LoadedConnector raising@0 'Raising' sync>>"


# Connector code inside a result runs contained too (found in review: these stopped the server).


def raising_outputs(error: BaseException) -> Any:
    """Outputs whose iteration (the call layer's check reads them) raises ``error``: connector code."""

    class Outputs(collections.abc.Mapping):  # type: ignore[type-arg]
        def __getitem__(self, key: str) -> int:
            return 1

        def __len__(self) -> int:
            return 1

        def __iter__(self) -> Iterator[str]:
            raise error

    return Outputs()


class Sneaky(AsyncConnector):
    """Results whose own code raises what a hook must not: a generator, a dict subclass, iterators."""

    task_type_name = "sneaky"
    metadata_type = JobMeta

    def create(self) -> JobMeta:
        return JobMeta("j")

    def get(self, resource_meta: JobMeta) -> Resource:
        def links() -> Iterator[TaskLog]:
            raise SystemExit(3)
            yield  # pragma: no cover

        if resource_meta.job_id == "links":
            return Resource(Phase.RUNNING, log_links=links())  # type: ignore[arg-type]
        return Resource(Phase.SUCCEEDED, outputs=raising_outputs(Custom("from outputs")))

    def delete(self) -> None:
        return None

    def get_metrics(self) -> Iterator[MetricSeries]:
        raise KeyboardInterrupt("from a metrics generator")
        yield  # pragma: no cover

    async def get_logs(self, resource_meta: JobMeta) -> Any:
        class AIter:
            def __aiter__(self) -> Any:
                if resource_meta.job_id == "aiter":
                    raise KeyboardInterrupt("from __aiter__")
                return self

            def __anext__(self) -> Any:
                raise Custom("from __anext__")

        return AIter()


@pytest.mark.parametrize(
    ("call", "raised"),
    [
        (lambda c: c.get(JobMeta("links")), "get raised SystemExit: 3"),
        (lambda c: c.get(JobMeta("outputs")), "get raised Custom: from outputs"),
        (lambda c: c.metrics(JobMeta("j")), "get_metrics raised KeyboardInterrupt: from a metrics generator"),
        (lambda c: _drain(c.logs(JobMeta("aiter")), []), "get_logs raised KeyboardInterrupt: from __aiter__"),
        (lambda c: _drain(c.logs(JobMeta("anext")), []), "get_logs raised Custom: from __anext__"),
    ],
    ids=["log-links-generator", "outputs-dict-subclass", "metrics-generator", "aiter", "anext"],
)
async def test_connector_code_inside_a_result_is_contained(call: Any, raised: str) -> None:
    with pytest.raises(HookCrashError) as info:
        await call(calls_of(Sneaky))
    assert str(info.value) == (
        f"task type sneaky@0 from registered connector Sneaky: {raised}, which a hook must not raise "
        "(raise an Exception to fail the call)"
    )


class CancelInResult(AsyncConnector):
    """``async def`` hooks whose results run connector code that raises a CancelledError of its own."""

    task_type_name = "cancel_in_result"
    metadata_type = JobMeta

    async def create(self) -> JobMeta:
        return JobMeta("j")

    async def get(self, resource_meta: JobMeta) -> Resource:
        await asyncio.sleep(0)
        return Resource(Phase.SUCCEEDED, outputs=raising_outputs(asyncio.CancelledError("from outputs")))

    async def delete(self) -> None:
        return None


async def test_a_cancel_from_the_check_of_an_async_hook_is_a_crash_not_a_cancel() -> None:
    # The call layer's one-coroutine path for async def hooks: a CancelledError that the caller's
    # task did not get (here, from the result's own code, as the check reads it) is the hook's.
    calls = calls_of(CancelInResult)
    with pytest.raises(HookCrashError) as info:
        await calls.get(JobMeta("j"))
    assert str(info.value).endswith(
        "get raised CancelledError: from outputs, which a hook must not raise "
        "(raise an Exception to fail the call)"
    )
    current = asyncio.current_task()
    assert current is not None
    assert current.cancelling() == 0
    assert (await calls.create()) == JobMeta("j")


# Deferred arguments (issue 13): the service's views of a request are built only for a hook that takes them.


def test_a_deferred_argument_is_made_once_and_only_when_the_hook_takes_it() -> None:
    from connector.hookspecs import Hook
    from connector.registry._calls import Deferred

    made: list[str] = []

    def maker(name: str, value: Any) -> Deferred[Any]:
        return Deferred(lambda: made.append(name) or value)

    class Echo(SyncConnector):
        task_type_name = "echo"

        def do(self, inputs: dict[str, Any], idempotency_key: str) -> Resource:
            return Resource(Phase.SUCCEEDED, outputs={"x": inputs["x"], "key": idempotency_key})

    calls = ConnectorCalls(registry_of(Echo()).get("echo"))
    metadata = maker("metadata", connector_metadata(task_execution_id="p/d/n/n0/0"))
    arguments = calls.task_arguments(
        maker("template", None), "", maker("inputs", {"x": 1}), metadata, maker("connection", None), None
    )
    result = run_blocking(calls.call_task(Hook.DO, arguments))
    # The key is derived from the execution id, so the metadata view is made for it, once.
    assert made == ["inputs", "metadata"]
    assert result.outputs == {"x": 1, "key": connector_idempotency_key("echo", "p/d/n/n0/0")}


def test_every_argument_is_made_for_a_hook_that_takes_kwargs() -> None:
    from connector.hookspecs import Hook
    from connector.registry._calls import Deferred

    seen: dict[str, Any] = {}

    class Greedy(SyncConnector):
        task_type_name = "greedy"

        def do(self, **kwargs: Any) -> Resource:
            seen.update(kwargs)
            return Resource(Phase.SUCCEEDED)

    calls = ConnectorCalls(registry_of(Greedy()).get("greedy"))
    arguments = calls.task_arguments(Deferred(lambda: "T"), "out", Deferred(dict), None, None, "k")
    run_blocking(calls.call_task(Hook.DO, arguments))
    assert sorted(seen) == [
        "connection",
        "idempotency_key",
        "inputs",
        "output_prefix",
        "task_execution_metadata",
        "task_template",
    ]
    assert (seen["task_template"], seen["inputs"], seen["idempotency_key"]) == ("T", {}, "k")


def connector_metadata(**fields: Any) -> Any:
    from connector import TaskExecutionMetadata

    return TaskExecutionMetadata(**fields)


def connector_idempotency_key(task_type: str, execution_id: str) -> str:
    from connector import TaskCategory, idempotency_key

    return idempotency_key(TaskCategory(task_type, 0), execution_id)
