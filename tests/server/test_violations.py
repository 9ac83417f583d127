"""One contract violation, one status and one message: through the service, `connector run` and the test kit.

Each connector in ``tests.support.violators`` breaks the contract one way (a ``create`` meta of
another class, a ``get`` that returns no ``Resource``, a ``do`` that is not terminal or returns no
``Resource``). The call layer checks results once for every driver, so a real loopback server
answers INTERNAL with the message, ``connector run`` exits 1 with it, and the contract suite fails
with a ``ContractViolation`` of it: the same words everywhere.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from flyteidl.admin import agent_pb2

from connector.cli import _run
from connector.testing import registry_of
from tests.server.conftest import v1_category, v1_template
from tests.support import violators

pytest_plugins = ["pytester"]

VIOLATORS = list(violators.MESSAGES)
IDS = [cls.__name__ for cls in VIOLATORS]


async def _service_error(start_service: Any, cls: type) -> grpc.aio.AioRpcError:
    running = await start_service(registry_of(cls))
    task_type = cls.task_type_name  # type: ignore[attr-defined]
    template = v1_template(task_type)
    try:
        if issubclass(cls, violators.connector.SyncConnector):
            header = agent_pb2.ExecuteTaskSyncRequest(header=agent_pb2.CreateRequestHeader(template=template))
            async for _ in running.v1_sync.ExecuteTaskSync(iter([header])):
                pass
        else:
            created = await running.v1.CreateTask(agent_pb2.CreateTaskRequest(template=template))
            request = agent_pb2.GetTaskRequest(
                task_category=v1_category(task_type), resource_meta=created.resource_meta
            )
            await running.v1.GetTask(request)
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError(f"{cls.__name__} was answered OK")


@pytest.mark.parametrize("cls", VIOLATORS, ids=IDS)
async def test_the_service_answers_internal_with_the_message(start_service: Any, cls: type) -> None:
    error = await _service_error(start_service, cls)
    assert (error.code(), error.details()) == (grpc.StatusCode.INTERNAL, violators.MESSAGES[cls])


@pytest.mark.parametrize("cls", VIOLATORS, ids=IDS)
def test_connector_run_exits_1_with_the_message(
    cls: type, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(_run, "_registry", lambda: registry_of(cls))
    task_type = cls.task_type_name  # type: ignore[attr-defined]
    done = CliRunner().invoke(
        _run.run_command,
        [task_type, "--no-journal", "--output-prefix", str(tmp_path), "--poll-interval", "0.01"],
    )
    assert done.exit_code == 1, done.output
    last = done.output.splitlines()[-1]
    message = violators.MESSAGES[cls]
    if cls is violators.WrongGet:  # the job exists: the message says how to find it again
        assert last.startswith("Error: job ")
        assert f" error: {message}; the job may still be running: " in last
    else:
        assert last == f"Error: task {task_type}@0 error: {message}"


@pytest.mark.parametrize("cls", VIOLATORS, ids=IDS)
def test_the_contract_suite_fails_with_the_message(pytester: pytest.Pytester, cls: type) -> None:
    pytester.makepyfile(
        test_violator=f"""
        from connector.testing import ConnectorContract
        from tests.support.violators import {cls.__name__}

        class TestIt(ConnectorContract):
            implementation = {cls.__name__}
            entry_point = {cls.task_type_name!r}
        """  # type: ignore[attr-defined]
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:hypothesispytest")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert f"ContractViolation: {violators.MESSAGES[cls]}\n" in result.stdout.str()
