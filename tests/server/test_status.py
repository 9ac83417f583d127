"""Every row of the status-code table (DESIGN §7), asserted by code and message, over a loopback server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import interface_pb2, types_pb2
from flyteidl2.connector import connector_pb2

from connector import ConnectorOrigin, ConnectorRecord, ConnectorRegistry, RegistrySettings, TaskCategory
from connector.server._status import status_for
from tests.server import sample_plugin
from tests.server.conftest import (
    v1_category,
    v1_inputs,
    v1_template,
    v2_category,
    v2_template,
)
from tests.support.metas import signed


async def _status(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def _until(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def _assert_safe(details: str) -> None:
    assert len(details.encode()) <= 1024
    assert "Traceback" not in details
    assert "/tests/server/" not in details
    assert "site-packages" not in details


# NOT_FOUND


async def test_unknown_category_is_not_found_naming_type_and_version(start_service: Any) -> None:
    running = await start_service()
    error = await _status(running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("nope", 3))))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error.details() == "no connector for task type 'nope' version 3 is installed"
    error = await _status(
        running.v2.GetTask(
            connector_pb2.GetTaskRequest(task_category=v2_category("asyncdo", 0), resource_meta=b"{}")
        )
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error.details() == (
        "no connector for task type 'asyncdo' version 0 (installed versions of 'asyncdo': asyncdo@2)"
    )


async def test_unknown_connector_name_is_not_found(start_service: Any) -> None:
    running = await start_service()
    error = await _status(running.v1_meta.GetAgent(agent_pb2.GetAgentRequest(name="ghost")))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error.details().startswith(
        "no connector is named 'ghost' (connector names: 'Async do', 'Blocking'"
    )
    error = await _status(running.v2_meta.GetConnector(connector_pb2.GetConnectorRequest(name="ghost")))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert error.details() == (
        "no connector is named 'ghost' (connector names: 'Async do', 'Blocking', 'Failing', "
        "'File job connector', 'Sleep connector', 'Sync echo')"
    )


# INVALID_ARGUMENT


async def test_template_without_type_is_invalid(start_service: Any) -> None:
    running = await start_service()
    error = await _status(running.v1.CreateTask(agent_pb2.CreateTaskRequest()))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "the request's task template has no type"


async def test_negative_version_is_invalid(start_service: Any) -> None:
    running = await start_service()
    error = await _status(
        running.v2.CreateTask(connector_pb2.CreateTaskRequest(template=v2_template("asleep", -1)))
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "bad task category: task type version must be an integer >= 0, got -1"


async def test_request_without_category_is_invalid(start_service: Any) -> None:
    running = await start_service()
    error = await _status(running.v2.DeleteTask(connector_pb2.DeleteTaskRequest(resource_meta=b"x")))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "the request names no task category"


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (b"", "the resource meta is empty (task type filejob@0)"),
        (
            b"\xff\xfe",
            "the resource meta is not one task type filejob@0 wrote: "
            "cannot decode FileJob: not a JSON resource meta (Expecting value: line 1 column 1 (char 0))",
        ),
        (
            b'{"v": 1, "data": {"job_id": 5}}',
            "the resource meta is not one task type filejob@0 wrote: "
            "cannot decode FileJob: job_id: expected str, got int",
        ),
        (
            b'{"v": 99, "data": {}}',
            "the resource meta is not one task type filejob@0 wrote: "
            "cannot decode FileJob: format version 99 is newer than this connector-core understands (1); "
            "upgrade connector-core",
        ),
    ],
)
async def test_undecodable_resource_meta_is_invalid(start_service: Any, meta: bytes, expected: str) -> None:
    running = await start_service()
    meta = signed("filejob", meta) if meta else meta  # signed by the service's key: the decode fails
    for call in (
        running.v1.GetTask(
            agent_pb2.GetTaskRequest(task_category=v1_category("filejob"), resource_meta=meta)
        ),
        running.v2.DeleteTask(
            connector_pb2.DeleteTaskRequest(task_category=v2_category("filejob"), resource_meta=meta)
        ),
    ):
        error = await _status(call)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error.details() == expected


async def test_input_that_does_not_fit_its_declared_type_is_invalid_naming_it(start_service: Any) -> None:
    running = await start_service()
    interface = interface_pb2.TypedInterface(
        inputs=interface_pb2.VariableMap(
            variables={
                "x": interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.SimpleType.INTEGER))
            }
        )
    )
    request = agent_pb2.CreateTaskRequest(
        template=v1_template("asleep", interface=interface), inputs=v1_inputs(x="ten")
    )
    error = await _status(running.v1.CreateTask(request))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "input 'x' cannot be converted: expected integer (declared in the task interface), "
        "got a string literal"
    )


async def test_execute_task_sync_needs_the_header_first_and_once(start_service: Any) -> None:
    running = await start_service()

    async def inputs_first() -> Any:
        yield agent_pb2.ExecuteTaskSyncRequest(inputs=v1_inputs(x=1))

    error = await _status(_drain(running.v1_sync.ExecuteTaskSync(inputs_first())))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "the first ExecuteTaskSyncRequest must carry the header"

    header = agent_pb2.CreateRequestHeader(template=v1_template("syncecho"))

    async def two_headers() -> Any:
        yield agent_pb2.ExecuteTaskSyncRequest(header=header)
        yield agent_pb2.ExecuteTaskSyncRequest(header=header)

    error = await _status(_drain(running.v1_sync.ExecuteTaskSync(two_headers())))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "ExecuteTaskSync got a second header; send the header, then the inputs"


async def _drain(call: Any) -> list[Any]:
    return [item async for item in call]


async def test_empty_connector_name_is_invalid(start_service: Any) -> None:
    running = await start_service()
    error = await _status(running.v1_meta.GetAgent(agent_pb2.GetAgentRequest(name="")))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "the request names no connector"


# FAILED_PRECONDITION


def _record(
    name: str, load: Callable[[], object], distribution: str = "connector-bad", version: str = "1.0"
) -> ConnectorRecord:
    return ConnectorRecord(
        origin=ConnectorOrigin(name, f"connector_bad:{name}", distribution, version),
        category=TaskCategory.parse(name),
        load=load,
    )


def _raise(exc: BaseException) -> Callable[[], object]:
    def load() -> object:
        raise exc

    return load


async def test_broken_connector_is_failed_precondition_with_the_reason(start_service: Any) -> None:
    registry = ConnectorRegistry(
        [
            _record("broken", _raise(ImportError("No module named 'warehouse_sdk'"))),
            _record("huge", _raise(ImportError("y" * 5000))),
            _record("asleep", lambda: sample_plugin.AsyncSleepConnector, distribution="connector-ok"),
        ]
    )
    running = await start_service(registry)
    error = await _status(running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("broken"))))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (
        "connector-bad 1.0, entry point 'broken' (connector_bad:broken): "
        "importing connector_bad:broken raised "
        "ImportError: No module named 'warehouse_sdk'"
    )
    error = await _status(running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("huge"))))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    marker = " … (truncated; see the server log)"
    head = (
        "connector-bad 1.0, entry point 'huge' (connector_bad:huge): "
        "importing connector_bad:huge raised ImportError: "
    )
    assert error.details() == head + "y" * (1024 - len(head) - len(marker.encode())) + marker
    # Broken neighbours do not stop the others.
    created = await running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("asleep")))
    assert created.resource_meta


async def test_conflicting_connector_is_failed_precondition_naming_both(start_service: Any) -> None:
    registry = ConnectorRegistry(
        [
            _record(
                "dup", lambda: sample_plugin.AsyncSleepConnector, distribution="connector-a", version="1.0"
            ),
            _record(
                "dup", lambda: sample_plugin.AsyncSleepConnector, distribution="connector-b", version="2.0"
            ),
        ]
    )
    running = await start_service(registry)
    error = await _status(running.v2.CreateTask(connector_pb2.CreateTaskRequest(template=v2_template("dup"))))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (
        "task type dup@0 is claimed by connector-a 1.0 and connector-b 2.0; neither is served. "
        "Uninstall one, or pin one with CONNECTOR_PIN='dup=connector-a'"
    )


async def test_disabled_connector_is_failed_precondition(start_service: Any) -> None:
    registry = ConnectorRegistry(
        [_record("asleep", lambda: sample_plugin.AsyncSleepConnector)],
        settings=RegistrySettings(deny=("asleep",)),
    )
    running = await start_service(registry)
    error = await _status(running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("asleep"))))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert (
        error.details()
        == "task type asleep@0 from connector-bad 1.0 is excluded by CONNECTOR_DENY ('asleep')"
    )


# UNIMPLEMENTED


async def test_missing_optional_hook_is_unimplemented(start_service: Any) -> None:
    running = await start_service()
    meta = sample_plugin.Plain("x").encode()
    stream = running.v1.GetTaskLogs(
        agent_pb2.GetTaskLogsRequest(task_category=v1_category("failing"), resource_meta=meta)
    )
    error = await _status(_drain(stream))
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == "connector for task type failing@0 does not implement get_logs"
    error = await _status(
        running.v2.GetTaskMetrics(
            connector_pb2.GetTaskMetricsRequest(task_category=v2_category("failing"), resource_meta=meta)
        )
    )
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == "connector for task type failing@0 does not implement get_metrics"


async def test_operation_of_the_other_kind_is_unimplemented_with_a_hint(start_service: Any) -> None:
    running = await start_service()
    error = await _status(
        running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("syncecho")))
    )
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == (
        "connector for task type syncecho@0 does not implement create; "
        "it is a sync connector: call SyncAgentService.ExecuteTaskSync"
    )

    async def requests() -> Any:
        yield agent_pb2.ExecuteTaskSyncRequest(
            header=agent_pb2.CreateRequestHeader(template=v1_template("asleep"))
        )

    error = await _status(_drain(running.v1_sync.ExecuteTaskSync(requests())))
    assert error.code() is grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == (
        "connector for task type asleep@0 does not implement do; "
        "it is an async connector: call CreateTask, GetTask and DeleteTask"
    )


# DEADLINE_EXCEEDED and cancellation


async def test_server_time_limit_is_deadline_exceeded_and_cancels_an_async_hook(start_service: Any) -> None:
    running = await start_service(timeout=0.3)
    request = agent_pb2.CreateTaskRequest(template=v1_template("asleep", custom={"create_sleep": 60}))
    error = await _status(running.v1.CreateTask(request))
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details() == "create for task type asleep@0 did not finish within 0.3s"
    await _until(lambda: sample_plugin.CANCELLED == ["create"])


async def test_client_deadline_reaches_an_async_hook(
    start_service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    running = await start_service()
    request = agent_pb2.CreateTaskRequest(template=v1_template("asleep", custom={"create_sleep": 60}))
    with caplog.at_level(logging.INFO, logger="connector"):
        error = await _status(running.v1.CreateTask(request, timeout=0.3))
        assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        await _until(lambda: sample_plugin.CANCELLED == ["create"])
        await _until(lambda: "the client's deadline passed" in caplog.text)
    assert (
        "flyteidl.service.AsyncAgentService/CreateTask for task type asleep@0 ended: "
        "the client's deadline passed"
    ) in caplog.text


async def test_client_deadline_before_the_server_time_limit_reaches_an_async_hook(start_service: Any) -> None:
    running = await start_service(timeout=30)
    request = agent_pb2.CreateTaskRequest(template=v1_template("asleep", custom={"create_sleep": 60}))
    error = await _status(running.v1.CreateTask(request, timeout=0.3))
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    await _until(lambda: sample_plugin.CANCELLED == ["create"])


async def test_server_time_limit_before_the_client_deadline_is_the_services_deadline_exceeded(
    start_service: Any,
) -> None:
    running = await start_service(timeout=0.3)
    request = agent_pb2.CreateTaskRequest(template=v1_template("asleep", custom={"create_sleep": 60}))
    error = await _status(running.v1.CreateTask(request, timeout=30))
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details() == "create for task type asleep@0 did not finish within 0.3s"
    assert sample_plugin.CANCELLED == ["create"]  # cancelled before the answer, in the call's own task


async def test_hook_that_ignores_its_cancellation_is_still_past_the_time_limit(start_service: Any) -> None:
    running = await start_service(timeout=0.3)
    custom = {"create_sleep": 60, "ignore_cancel": True}
    error = await _status(
        running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("asleep", custom=custom)))
    )
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details() == "create for task type asleep@0 did not finish within 0.3s"


async def test_async_hooks_own_timeout_error_is_internal_under_a_time_limit(start_service: Any) -> None:
    running = await start_service(timeout=30)
    request = agent_pb2.CreateTaskRequest(template=v1_template("asleep", custom={"timeout_error": True}))
    error = await _status(running.v1.CreateTask(request, timeout=20))
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details() == (
        "create for task type asleep@0 failed: TimeoutError: the backend did not answer"
    )


async def test_client_cancellation_reaches_an_async_hook(start_service: Any) -> None:
    running = await start_service()
    call = running.v2.CreateTask(
        connector_pb2.CreateTaskRequest(template=v2_template("asleep", custom={"create_sleep": 60}))
    )
    await _until(lambda: sample_plugin.STARTED == ["create"])
    call.cancel()
    await _until(lambda: sample_plugin.CANCELLED == ["create"])
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_client_deadline_on_a_plain_hook_stops_the_wait(start_service: Any) -> None:
    running = await start_service(workers=1)
    error = await _status(
        running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("blocking")), timeout=0.3)
    )
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert running.service.pool.pending == 1  # the thread cannot be interrupted; it still holds its worker
    sample_plugin.RELEASE.set()
    await _until(lambda: running.service.pool.pending == 0)


# RESOURCE_EXHAUSTED


async def test_full_connector_queue_is_resource_exhausted(start_service: Any) -> None:
    running = await start_service(connector_workers=1, queue_size=0)
    first = running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("blocking")))
    await _until(lambda: running.service.pool.pending == 1)
    error = await _status(
        running.v2.CreateTask(connector_pb2.CreateTaskRequest(template=v2_template("blocking")))
    )
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == (
        "task type blocking@0 is overloaded: it has 1 plain-def calls in flight (--connector-workers) "
        "and 0 queued (--queue-size); retry later, raise those limits, or run more replicas"
    )
    # Async hooks do not need a worker: they are still served.
    await running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("asleep")))
    sample_plugin.RELEASE.set()
    assert (await first).resource_meta


# INTERNAL


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("boom", "create for task type failing@0 failed: RuntimeError: boom: the warehouse said no"),
        (
            "path",
            "create for task type failing@0 failed: FileNotFoundError: "
            "[Errno 2] No such file or directory: '…/settings.yaml'",
        ),
        (
            "exit",
            "task type failing@0 from registered connector FailingConnector: create raised SystemExit: 3, "
            "which a hook must not raise (raise an Exception to fail the call)",
        ),
        (
            "not-a-meta",
            "task type failing@0 from registered connector FailingConnector: create returned dict, not an "
            "instance of its metadata_type Plain; return Plain(...)",
        ),
        ("timeout", "create for task type failing@0 failed: TimeoutError: the warehouse did not answer"),
    ],
)
async def test_unexpected_connector_exception_is_internal_with_a_short_message(
    start_service: Any, caplog: pytest.LogCaptureFixture, how: str, expected: str
) -> None:
    running = await start_service()
    with caplog.at_level(logging.INFO, logger="connector"):
        error = await _status(
            running.v1.CreateTask(
                agent_pb2.CreateTaskRequest(template=v1_template("failing", custom={"how": how}))
            )
        )
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details() == expected
    _assert_safe(error.details())
    # The server log keeps the whole story, traceback included.
    record = next(r for r in caplog.records if r.name == "connector.server" and r.levelno == logging.ERROR)
    assert record.exc_info is not None
    if how == "boom":
        assert "second line of detail" in caplog.text
    # The server is still alive.
    assert (await running.v1_meta.ListAgents(agent_pb2.ListAgentsRequest())).agents


async def test_huge_exception_message_is_bounded(start_service: Any) -> None:
    running = await start_service()
    error = await _status(
        running.v2.CreateTask(
            connector_pb2.CreateTaskRequest(template=v2_template("failing", custom={"how": "huge"}))
        )
    )
    assert error.code() is grpc.StatusCode.INTERNAL
    _assert_safe(error.details())
    assert error.details().startswith("create for task type failing@0 failed: RuntimeError: xxx")


async def test_bad_results_are_internal(start_service: Any) -> None:
    running = await start_service()
    category = v1_category("failing")
    error = await _status(
        running.v1.GetTask(
            agent_pb2.GetTaskRequest(
                task_category=category, resource_meta=signed("failing", sample_plugin.Plain("x"))
            )
        )
    )
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details() == (
        "task type failing@0 from registered connector FailingConnector: get returned int, not a "
        "connector.Resource; return Resource(phase=..., message=..., outputs=...)"
    )
    error = await _status(
        running.v1.GetTask(
            agent_pb2.GetTaskRequest(
                task_category=category, resource_meta=signed("failing", sample_plugin.Plain("bad-outputs"))
            )
        )
    )
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details().startswith(
        "get for task type failing@0 failed: LiteralConversionError: output 'y':"
    )
    # A ValueError from the connector is its failure, not the client's: INTERNAL, not INVALID_ARGUMENT.
    error = await _status(
        running.v1.DeleteTask(
            agent_pb2.DeleteTaskRequest(
                task_category=category, resource_meta=signed("failing", sample_plugin.Plain("x"))
            )
        )
    )
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details() == "delete for task type failing@0 failed: ValueError: cannot delete"


def test_a_message_with_a_lone_surrogate_still_goes_out() -> None:
    status = status_for(RuntimeError("bad \ud800 text"), operation="get", target="task type x@0")
    assert status.message == "get for task type x@0 failed: RuntimeError: bad \\ud800 text"
    status.message.encode("utf-8")  # what grpc does with it
