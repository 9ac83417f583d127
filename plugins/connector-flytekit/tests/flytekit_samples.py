"""flytekit connectors written as a flytekit plugin author writes them, for the adapter tests.

``EchoConnector`` is sync (``do``); ``JobConnector`` is async with ``async def`` methods and
``PlainJobConnector`` the same with plain ``def`` methods (flytekit's service runs those in a worker
thread). Both async ones keep their jobs in ``JOBS`` (a stand-in for the remote system) and
implement ``get_logs`` and ``get_metrics``. ``registered(*connectors)`` puts them in flytekit's
global ``ConnectorRegistry`` and takes them out again afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import cloudpickle
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2
from flytekit import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.extend.backend.base_connector import (
    AsyncConnectorBase,
    ConnectorRegistry,
    Resource,
    ResourceMeta,
    SyncConnectorBase,
    TaskCategory,
)
from flytekit.models.literals import LiteralMap
from google.protobuf import struct_pb2

ECHO_TYPE = "fk_echo"
JOB_TYPE = "fk_job"
PLAIN_JOB_TYPE = "fk_plain_job"
PICKLE_TYPE = "fk_pickle"

#: Every call the sample connectors got: (connector name, method, the keyword arguments' types).
CALLS: list[tuple[str, str, dict[str, str]]] = []
#: The jobs of the async connectors: job id -> {"polls": n, "deleted": bool, "inputs": {...}}.
JOBS: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()


def _record(connector: Any, method: str, kwargs: dict[str, Any]) -> None:
    names = {key: type(value).__module__ + "." + type(value).__qualname__ for key, value in kwargs.items()}
    names["thread"] = "main" if threading.current_thread() is threading.main_thread() else "worker"
    CALLS.append((connector.name, method, names))


class EchoConnector(SyncConnectorBase):
    """Sync: answers SUCCEEDED with ``greeting`` (a dict output flytekit's TypeEngine converts)."""

    name = "Echo Connector"

    def __init__(self) -> None:
        super().__init__(task_type_name=ECHO_TYPE)

    async def do(
        self, task_template: Any, output_prefix: str, inputs: LiteralMap | None = None, **kwargs: Any
    ) -> Resource:
        _record(
            self,
            "do",
            {"task_template": task_template, "inputs": inputs, "output_prefix": output_prefix, **kwargs},
        )
        ctx = FlyteContextManager.current_context()
        native = (
            TypeEngine.literal_map_to_kwargs(ctx, inputs, {"name": str}) if inputs and inputs.literals else {}
        )
        who = native.get("name", "nobody")
        if who == "fail":
            return Resource(phase=execution_pb2.TaskExecution.FAILED, message="asked to fail")
        if who == "raise":
            raise RuntimeError("the echo service is down")
        return Resource(
            phase=execution_pb2.TaskExecution.SUCCEEDED,
            message=f"echoed {who}",
            log_links=[execution_pb2.TaskLog(uri="https://echo.example/log/1", name="Echo log")],
            outputs={"greeting": f"hello {who}", "count": 3, "custom": task_template.custom.get("tag")},
            custom_info={"who": who, "prefix": output_prefix, "n": 1},
        )


@dataclasses.dataclass
class JobMeta(ResourceMeta):
    """flytekit's own JSON meta (its ResourceMeta.encode: ``json.dumps(asdict(self))``)."""

    job_id: str
    polls_to_finish: int = 1


@dataclasses.dataclass
class PickledMeta(ResourceMeta):
    """A meta that encodes itself with cloudpickle, as flytekitplugins-openai's BatchEndpointMetadata does."""

    openai_org: str
    batch_id: str

    def encode(self) -> bytes:
        return cloudpickle.dumps(self)  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, data: bytes) -> PickledMeta:
        return cloudpickle.loads(data)  # type: ignore[no-any-return]


class JobConnector(AsyncConnectorBase):
    """Async, ``async def`` methods: RUNNING until polled ``polls_to_finish`` times, then SUCCEEDED."""

    name = "Job Connector"

    def __init__(self, task_type: str = JOB_TYPE) -> None:
        super().__init__(task_type_name=task_type, metadata_type=JobMeta)

    def _create(
        self, task_template: Any, output_prefix: str, inputs: Any, task_execution_metadata: Any, **kwargs: Any
    ) -> JobMeta:
        _record(
            self,
            "create",
            {
                "task_template": task_template,
                "inputs": inputs,
                "output_prefix": output_prefix,
                "task_execution_metadata": task_execution_metadata,
                **kwargs,
            },
        )
        ctx = FlyteContextManager.current_context()
        native = TypeEngine.literal_map_to_kwargs(ctx, inputs, {"x": int}) if inputs.literals else {}
        with _LOCK:
            job_id = f"{self.task_category.name}-{len(JOBS) + 1}"
            labels = dict(task_execution_metadata.labels or {}) if task_execution_metadata else {}
            JOBS[job_id] = {"polls": 0, "deleted": False, "inputs": native, "labels": labels}
        return JobMeta(job_id=job_id, polls_to_finish=int(task_template.custom.get("polls", 1)))

    def _get(self, resource_meta: JobMeta, **kwargs: Any) -> Resource:
        _record(self, "get", {"resource_meta": resource_meta, **kwargs})
        job = JOBS[resource_meta.job_id]
        job["polls"] += 1
        if job["deleted"]:
            return Resource(phase=execution_pb2.TaskExecution.ABORTED, message="deleted")
        if job["polls"] < resource_meta.polls_to_finish:
            return Resource(
                phase=execution_pb2.TaskExecution.RUNNING,
                message=f"poll {job['polls']}",
                log_links=[
                    execution_pb2.TaskLog(
                        uri=f"https://jobs.example/{resource_meta.job_id}",
                        name="Console",
                        ShowWhilePending=True,
                    )
                ],
            )
        ctx = FlyteContextManager.current_context()
        x = job["inputs"].get("x", 0)
        outputs = LiteralMap(
            {"doubled": TypeEngine.to_literal(ctx, 2 * x, int, TypeEngine.to_literal_type(int))}
        )
        return Resource(
            phase=execution_pb2.TaskExecution.SUCCEEDED,
            outputs=outputs,
            custom_info={"job_id": resource_meta.job_id, "polls": job["polls"], "nested": {"ok": True}},
        )

    def _delete(self, resource_meta: JobMeta, **kwargs: Any) -> None:
        _record(self, "delete", {"resource_meta": resource_meta, **kwargs})
        JOBS[resource_meta.job_id]["deleted"] = True

    def _logs(self, resource_meta: JobMeta, **kwargs: Any) -> agent_pb2.GetTaskLogsResponse:
        _record(self, "get_logs", {"resource_meta": resource_meta, **kwargs})
        body = agent_pb2.GetTaskLogsResponseBody(results=[f"{resource_meta.job_id}: line 1", "line 2"])
        return agent_pb2.GetTaskLogsResponse(body=body)

    def _metrics(self, resource_meta: JobMeta, **kwargs: Any) -> agent_pb2.GetTaskMetricsResponse:
        _record(self, "get_metrics", {"resource_meta": resource_meta, **kwargs})
        data = struct_pb2.Struct()
        data.update(
            {
                "resultType": "matrix",
                "result": [{"metric": {}, "values": [[1700000000, "0.5"], [1700000060, "0.75"]]}],
            }
        )
        return agent_pb2.GetTaskMetricsResponse(results=[{"metric": "cpu", "data": data}])

    async def create(
        self,
        task_template: Any,
        output_prefix: str,
        inputs: Any = None,
        task_execution_metadata: Any = None,
        **kwargs: Any,
    ) -> JobMeta:
        return self._create(task_template, output_prefix, inputs, task_execution_metadata, **kwargs)

    async def get(self, resource_meta: JobMeta, **kwargs: Any) -> Resource:
        return self._get(resource_meta, **kwargs)

    async def delete(self, resource_meta: JobMeta, **kwargs: Any) -> None:
        self._delete(resource_meta, **kwargs)

    async def get_logs(self, resource_meta: JobMeta, **kwargs: Any) -> agent_pb2.GetTaskLogsResponse:
        return self._logs(resource_meta, **kwargs)

    async def get_metrics(self, resource_meta: JobMeta, **kwargs: Any) -> agent_pb2.GetTaskMetricsResponse:
        return self._metrics(resource_meta, **kwargs)


class PlainJobConnector(JobConnector):
    """``JobConnector`` with plain ``def`` methods (flytekit's service runs them in a worker thread)."""

    name = "Plain Job Connector"

    def __init__(self) -> None:
        super().__init__(PLAIN_JOB_TYPE)

    def create(
        self,
        task_template: Any,
        output_prefix: str,
        inputs: Any = None,
        task_execution_metadata: Any = None,
        **kwargs: Any,
    ) -> JobMeta:  # type: ignore[override]
        return self._create(task_template, output_prefix, inputs, task_execution_metadata, **kwargs)

    def get(self, resource_meta: JobMeta, **kwargs: Any) -> Resource:  # type: ignore[override]
        return self._get(resource_meta, **kwargs)

    def delete(self, resource_meta: JobMeta, **kwargs: Any) -> None:  # type: ignore[override]
        self._delete(resource_meta, **kwargs)

    def get_logs(self, resource_meta: JobMeta, **kwargs: Any) -> agent_pb2.GetTaskLogsResponse:  # type: ignore[override]
        return self._logs(resource_meta, **kwargs)

    def get_metrics(self, resource_meta: JobMeta, **kwargs: Any) -> agent_pb2.GetTaskMetricsResponse:  # type: ignore[override]
        return self._metrics(resource_meta, **kwargs)


class PickleConnector(AsyncConnectorBase):
    """Async with a pickled meta (as the OpenAI batch connector), and no get_logs or get_metrics."""

    name = "Pickle Connector"

    def __init__(self) -> None:
        super().__init__(task_type_name=PICKLE_TYPE, metadata_type=PickledMeta)

    async def create(
        self, task_template: Any, output_prefix: str, inputs: Any = None, **kwargs: Any
    ) -> PickledMeta:
        return PickledMeta(openai_org="org", batch_id="batch_1")

    async def get(self, resource_meta: PickledMeta, **kwargs: Any) -> Resource:
        message = f"batch {resource_meta.batch_id} of {resource_meta.openai_org}"
        return Resource(phase=execution_pb2.TaskExecution.SUCCEEDED, message=message)

    async def delete(self, resource_meta: PickledMeta, **kwargs: Any) -> None:
        return None


@contextlib.contextmanager
def registered(*connectors: Any) -> Iterator[None]:
    """Register ``connectors`` in flytekit's global registry (its service finds them there); removed after."""
    added = []
    try:
        for connector in connectors:
            ConnectorRegistry.register(connector)
            added.append(connector)
        yield
    finally:
        for connector in added:
            category = connector.task_category
            ConnectorRegistry._REGISTRY.pop(TaskCategory(category.name, category.version), None)
            ConnectorRegistry._METADATA.pop(connector.name, None)
