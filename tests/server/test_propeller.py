"""A simulated propeller against a real loopback service: replayed creates and transient get failures.

The client below is written from the rules of flyteplugins' webapi connector client (issue 10):
every failed CreateTask burns one of the task's retries and is sent again; every failed GetTask of a
task is counted, the count is never reset, and the sixth failure fails the task for good.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2, identifier_pb2

import connector
from connector.testing import registry_of
from tests.server.conftest import v1_category, v1_template

#: GetTask failures propeller tolerates per task; the next one fails the task for good.
GET_FAILURES_TOLERATED = 5


class RemoteApi:
    """The external system: jobs by id, deduplicated by idempotency key, and a get that can blink."""

    def __init__(self) -> None:
        self.jobs: dict[str, str] = {}  # job id -> state
        self.by_key: dict[str, str] = {}
        self.submits = 0
        self.deletes = 0
        self.blinks = 0  # how many of the next status reads fail
        self.lose_next_answer = False
        self.lock = threading.Lock()

    def submit(self, key: str) -> str:
        with self.lock:
            self.submits += 1
            if key in self.by_key:
                return self.by_key[key]
            job_id = f"job-{len(self.jobs) + 1}"
            self.jobs[job_id] = "RUNNING"
            self.by_key[key] = job_id
            return job_id

    def status(self, job_id: str) -> str:
        with self.lock:
            if self.blinks:
                self.blinks -= 1
                raise connector.TransientError("the job API answered 503 Service Unavailable")
            return self.jobs[job_id]


@dataclasses.dataclass
class RemoteJobMeta(connector.ResourceMeta):
    job_id: str


class RemoteJob(connector.AsyncConnector):
    """Starts a job on its ``remote`` with the idempotency key; reads its state."""

    name = "Remote job"
    task_type_name = "remote_job"
    metadata_type = RemoteJobMeta

    def __init__(self, remote: RemoteApi) -> None:
        super().__init__()
        self.remote = remote

    async def create(self, idempotency_key: str) -> RemoteJobMeta:
        job_id = self.remote.submit(idempotency_key)
        if self.remote.lose_next_answer:
            # The job exists, but this answer never comes: the client's deadline passes first, as
            # when propeller's CreateTask times out.
            self.remote.lose_next_answer = False
            await asyncio.Event().wait()
        return RemoteJobMeta(job_id)

    def get(self, resource_meta: RemoteJobMeta) -> connector.Resource:
        state = self.remote.status(resource_meta.job_id)
        return connector.Resource(connector.convert_to_phase(state))

    def delete(self, resource_meta: RemoteJobMeta) -> None:
        self.remote.deletes += 1
        if self.remote.blinks:
            raise connector.TransientError("the job API answered 503 Service Unavailable")
        self.remote.jobs[resource_meta.job_id] = "ABORTED"


class TaskFailedForGood(Exception):
    """Propeller gave up on the task."""


class Propeller:
    """The connector client of propeller, reduced to the rules that matter to a connector service."""

    def __init__(self, stub: Any, *, max_attempts: int = 3, get_timeout: float = 10.0) -> None:
        self.stub = stub
        self.max_attempts = max_attempts
        self.get_timeout = get_timeout
        self.get_failures = 0  # per task, never reset
        self.create_errors: list[grpc.StatusCode] = []

    @staticmethod
    def metadata(attempt: int) -> agent_pb2.TaskExecutionMetadata:
        run = identifier_pb2.WorkflowExecutionIdentifier(
            project="flytesnacks", domain="development", name="r1"
        )
        node = identifier_pb2.NodeExecutionIdentifier(node_id="n0", execution_id=run)
        ident = identifier_pb2.TaskExecutionIdentifier(node_execution_id=node, retry_attempt=attempt)
        return agent_pb2.TaskExecutionMetadata(task_execution_id=ident)

    async def create(self, *, attempt: int = 0, timeout: float = 10.0) -> bytes:
        """CreateTask, sent again after each failure while the task has retries left."""
        request = agent_pb2.CreateTaskRequest(
            template=v1_template("remote_job"), task_execution_metadata=self.metadata(attempt)
        )
        for _ in range(self.max_attempts):
            try:
                response = await self.stub.CreateTask(request, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                self.create_errors.append(exc.code())
                continue
            return bytes(response.resource_meta)
        raise TaskFailedForGood(f"CreateTask failed {self.max_attempts} times: {self.create_errors}")

    async def get(self, meta: bytes) -> int:
        """One GetTask; a failure is counted, and past the tolerated number the task fails for good."""
        request = agent_pb2.GetTaskRequest(task_category=v1_category("remote_job"), resource_meta=meta)
        try:
            response = await self.stub.GetTask(request, timeout=self.get_timeout)
        except grpc.aio.AioRpcError:
            self.get_failures += 1
            if self.get_failures > GET_FAILURES_TOLERATED:
                raise TaskFailedForGood(f"{self.get_failures} GetTask failures") from None
            raise
        return int(response.resource.phase)


@pytest.fixture
def remote() -> RemoteApi:
    return RemoteApi()


@pytest.fixture
async def propeller(start_service: Any, remote: RemoteApi) -> Propeller:
    running = await start_service(registry_of(RemoteJob(remote)))
    return Propeller(running.v1)


async def test_a_replayed_create_starts_one_remote_job(propeller: Propeller, remote: RemoteApi) -> None:
    remote.lose_next_answer = True
    # The first CreateTask gives up before the answer (the job exists remotely); propeller sends it again.
    meta = await propeller.create(timeout=0.3)
    assert propeller.create_errors[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert remote.submits == 2
    assert list(remote.jobs) == ["job-1"]
    assert await propeller.get(meta) == execution_pb2.TaskExecution.RUNNING


async def test_the_key_is_the_attempts_and_a_new_attempt_gets_a_new_one(
    propeller: Propeller, remote: RemoteApi
) -> None:
    await propeller.create(attempt=0)
    await propeller.create(attempt=0)
    assert list(remote.jobs) == ["job-1"]
    # A retry after the job itself failed is a new attempt: a new key, a new job.
    await propeller.create(attempt=1)
    assert list(remote.jobs) == ["job-1", "job-2"]
    category = connector.TaskCategory("remote_job", 0)
    assert remote.by_key == {
        connector.idempotency_key(category, "flytesnacks/development/r1/n0/0"): "job-1",
        connector.idempotency_key(category, "flytesnacks/development/r1/n0/1"): "job-2",
    }


async def test_transient_get_failures_within_the_deadline_never_reach_propeller(
    propeller: Propeller, remote: RemoteApi
) -> None:
    meta = await propeller.create()
    # More blinks than propeller tolerates over the task's life, spread over a few polls.
    for _ in range(4):
        remote.blinks = 3
        assert await propeller.get(meta) == execution_pb2.TaskExecution.RUNNING
    remote.jobs["job-1"] = "SUCCEEDED"
    assert await propeller.get(meta) == execution_pb2.TaskExecution.SUCCEEDED
    assert propeller.get_failures == 0
    assert remote.blinks == 0


async def test_a_failure_that_outlasts_the_deadline_is_unavailable_and_counted(
    propeller: Propeller, remote: RemoteApi
) -> None:
    meta = await propeller.create()
    propeller.get_timeout = 2.0
    remote.blinks = 1000
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await propeller.get(meta)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert re.fullmatch(
        r"get for task type remote_job@0 failed for now: the job API answered 503 Service Unavailable "
        r"\((\d+) tries failed within [12]\.\ds\)",
        info.value.details(),
    )
    assert propeller.get_failures == 1


async def test_a_transient_create_is_not_retried_by_the_service(
    propeller: Propeller, remote: RemoteApi
) -> None:
    # create may have started a job: the service answers at once and propeller's replay decides.
    def failing_submit(key: str) -> str:
        raise connector.TransientError("the job API is restarting")

    remote.submit = failing_submit  # type: ignore[method-assign]
    with pytest.raises(TaskFailedForGood):
        await propeller.create()
    assert propeller.create_errors == [grpc.StatusCode.UNAVAILABLE] * 3


async def test_a_transient_delete_is_answered_at_once(propeller: Propeller, remote: RemoteApi) -> None:
    meta = await propeller.create()
    remote.blinks = 1
    request = agent_pb2.DeleteTaskRequest(task_category=v1_category("remote_job"), resource_meta=meta)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await propeller.stub.DeleteTask(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert info.value.details() == (
        "delete for task type remote_job@0 failed for now: the job API answered 503 Service Unavailable"
    )
    assert remote.deletes == 1
