"""The Acme warehouse connectors (a test double: a job is a file under the ``state_dir`` config).

``acme_job``: create records the job; get answers RUNNING until ``<job_id>.done`` exists in
``state_dir`` (a Connection config, else the environment variable ``ACME_STATE_DIR``), then
SUCCEEDED with outputs; delete writes ``<job_id>.deleted``; get_logs pages.
``acme_report@1``: finishes at once and has metrics, no logs. Both register on import, as
flyteplugins' connectors do.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from dataclasses import dataclass
from typing import Any

from flyte.connectors import AsyncConnector, ConnectorRegistry, Resource, ResourceMeta
from flyteidl2.connector.connector_pb2 import (
    GetTaskLogsResponse,
    GetTaskLogsResponseBody,
    GetTaskLogsResponseHeader,
    GetTaskMetricsResponse,
)
from flyteidl2.core.execution_pb2 import TaskExecution, TaskLog
from flyteidl2.core.metrics_pb2 import ExecutionMetricResult
from flyteidl2.logs.dataplane.payload_pb2 import LogLine
from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct


@dataclass
class AcmeJobMeta(ResourceMeta):
    job_id: str
    warehouse: str
    total: int
    greeting: str
    weight_sum: float
    namespace: str
    token_sha: str | None = None


def _state_dir(state_dir: str | None) -> pathlib.Path:
    found = state_dir or os.environ.get("ACME_STATE_DIR")
    if not found:
        raise ValueError("the Connection has no config 'state_dir', and ACME_STATE_DIR is not set")
    return pathlib.Path(found)


def _console(meta: AcmeJobMeta) -> TaskLog:
    return TaskLog(
        uri=f"https://acme.example/{meta.warehouse}/jobs/{meta.job_id}",
        name="Acme console",
        ready=True,
        link_type=TaskLog.DASHBOARD,
        icon_uri="https://acme.example/icon.png",
        ShowWhilePending=True,
    )


class AcmeConnector(AsyncConnector):
    """Runs a query job in an Acme warehouse."""

    name = "Acme Connector"
    task_type_name = "acme_job"
    metadata_type = AcmeJobMeta

    async def create(
        self,
        task_template,
        output_prefix: str,
        inputs: dict[str, Any] | None = None,
        task_execution_metadata=None,
        acme_token: str | None = None,
        **kwargs,
    ) -> AcmeJobMeta:
        custom = json_format.MessageToDict(task_template.custom)
        state_dir = _state_dir(kwargs.get("state_dir"))
        inputs = inputs or {}
        job = json.dumps([custom["warehouse"], inputs, output_prefix], sort_keys=True)
        meta = AcmeJobMeta(
            job_id=hashlib.sha256(job.encode()).hexdigest()[:12],
            warehouse=custom["warehouse"],
            total=inputs["n"] * 2,
            greeting=f"hello {inputs['name']}",
            weight_sum=sum(inputs.get("weights", [])),
            namespace=task_execution_metadata.namespace if task_execution_metadata is not None else "",
            token_sha=hashlib.sha256(acme_token.encode()).hexdigest()[:8] if acme_token else None,
        )
        (state_dir / f"{meta.job_id}.created").write_text(json.dumps(sorted(kwargs)))
        return meta

    async def get(self, resource_meta: AcmeJobMeta, state_dir: str | None = None, **kwargs) -> Resource:
        meta = resource_meta
        info = {"job_id": meta.job_id, "namespace": meta.namespace, "kwargs": sorted(kwargs)}
        if not (_state_dir(state_dir) / f"{resource_meta.job_id}.done").exists():
            return Resource(
                phase=TaskExecution.RUNNING,
                message="queued in acme",
                log_links=[_console(resource_meta)],
                custom_info=info,
            )
        return Resource(
            phase=TaskExecution.SUCCEEDED,
            message="done",
            log_links=[_console(resource_meta)],
            outputs={
                "total": resource_meta.total,
                "greeting": resource_meta.greeting,
                "weight_sum": resource_meta.weight_sum,
                "signed": resource_meta.token_sha is not None,
                "info": {"warehouse": resource_meta.warehouse, "rows": 3},
            },
            custom_info=info,
        )

    async def delete(self, resource_meta: AcmeJobMeta, state_dir: str | None = None, **kwargs) -> None:
        (_state_dir(state_dir) / f"{resource_meta.job_id}.deleted").write_text("deleted")

    async def get_logs(self, resource_meta: AcmeJobMeta, token: str = "", **kwargs):
        if not token:
            yield GetTaskLogsResponse(header=GetTaskLogsResponseHeader(token="page-2"))
            yield GetTaskLogsResponse(
                body=GetTaskLogsResponseBody(lines=[LogLine(message=f"job {resource_meta.job_id} started")])
            )
        else:
            yield GetTaskLogsResponse(body=GetTaskLogsResponseBody(results=[f"{token}: job finished"]))


@dataclass
class AcmeReportMeta(ResourceMeta):
    report: str


class AcmeReportConnector(AsyncConnector):
    name = "Acme Connector"
    task_type_name = "acme_report"
    task_type_version = 1
    metadata_type = AcmeReportMeta

    async def create(self, task_template, output_prefix, inputs=None, **kwargs) -> AcmeReportMeta:
        return AcmeReportMeta(report=json_format.MessageToDict(task_template.custom).get("report", "daily"))

    async def get(self, resource_meta: AcmeReportMeta, **kwargs) -> Resource:
        return Resource(phase=TaskExecution.SUCCEEDED, message=f"report {resource_meta.report} ready")

    async def delete(self, resource_meta: AcmeReportMeta, **kwargs) -> None:
        return None

    async def get_metrics(self, resource_meta: AcmeReportMeta, **kwargs) -> GetTaskMetricsResponse:
        data = Struct()
        values = [[1700000000, "1.5"], [1700000060, "2"]]
        data.update({"resultType": "matrix", "result": [{"metric": {}, "values": values}]})
        return GetTaskMetricsResponse(results=[ExecutionMetricResult(metric="rows_per_second", data=data)])


ConnectorRegistry.register(AcmeConnector())
ConnectorRegistry.register(AcmeReportConnector())
