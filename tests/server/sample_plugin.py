"""Connectors the service tests run: in process, and installed from a real wheel (``connector_svctest``).

The "external system" of ``filejob`` is a directory named in the task's custom fields: all of a
job's state is in that directory and in the resource meta, so any server process can serve any job.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import threading
import time
import uuid

import connector
from connector import LogsChunk, MetricPoint, MetricSeries, Phase, Resource, TaskLog


@dataclasses.dataclass
class FileJob(connector.ResourceMeta):
    """Where a filejob lives: its id, the store directory and how many polls it takes to finish."""

    job_id: str
    store: str
    steps: int = 1


def _path(meta: FileJob) -> str:
    return os.path.join(meta.store, f"{meta.job_id}.json")


class FileJobConnector(connector.AsyncConnector):
    """Plain-def hooks (run in the worker pool); the job's state is a JSON file in ``custom["store"]``."""

    name = "File job connector"
    task_type_name = "filejob"
    metadata_type = FileJob

    def create(self, task_template, inputs, output_prefix, task_execution_metadata, connection):
        custom = task_template.custom
        meta = FileJob(job_id=uuid.uuid4().hex, store=custom["store"], steps=int(custom.get("steps", 1)))
        state = {
            "inputs": dict(inputs),
            "polls": 0,
            "pid": os.getpid(),
            "output_prefix": output_prefix,
            "namespace": task_execution_metadata.namespace,
            "secrets": dict(connection.secrets),
            "configs": dict(connection.configs),
        }
        with open(_path(meta), "w") as f:
            json.dump(state, f)
        return meta

    def get(self, resource_meta, connection):
        with open(_path(resource_meta)) as f:
            state = json.load(f)
        state["polls"] += 1
        state.setdefault("get_pids", []).append(os.getpid())
        with open(_path(resource_meta), "w") as f:
            json.dump(state, f)
        info = {
            "polls": state["polls"],
            "secrets": sorted(state["secrets"]),
            "configs": state["configs"],
            "get_secrets": sorted(connection.secrets),
        }
        links = [TaskLog(uri=f"https://console.example/jobs/{resource_meta.job_id}", name="Console")]
        if state["polls"] < resource_meta.steps:
            return Resource(
                phase=Phase.RUNNING, message=f"poll {state['polls']}", log_links=links, custom_info=info
            )
        x = state["inputs"].get("x", 0)
        return Resource(
            phase=Phase.SUCCEEDED,
            message="done",
            log_links=links,
            outputs={"doubled": x * 2, "greeting": f"hello {state['inputs'].get('name', 'world')}"},
            custom_info=info,
        )

    def delete(self, resource_meta):
        # Idempotent: deleting a finished or gone job is fine.
        with contextlib.suppress(FileNotFoundError):
            os.remove(_path(resource_meta))

    def get_logs(self, resource_meta, token):
        # A plain generator: the service steps it in the worker pool and streams each chunk.
        start = int(token or 0)
        for index in range(start, start + 3):
            yield LogsChunk(lines=[f"{resource_meta.job_id} line {index}"], token=str(index + 1))

    def get_metrics(self, resource_meta, queries, start_time, end_time, step):
        return [
            MetricSeries(
                metric=query,
                points=[MetricPoint(timestamp=1700000000.0 + i, value=float(i)) for i in range(2)],
            )
            for query in queries
        ]


@dataclasses.dataclass
class Sleep(connector.ResourceMeta):
    """A timer job: it succeeds once ``until`` (a Unix time) has passed."""

    until: float
    label: str = ""


#: AsyncSleepConnector notes here when a create starts and when one is cancelled (in-process tests read it).
STARTED: list[str] = []
CANCELLED: list[str] = []


class AsyncSleepConnector(connector.AsyncConnector):
    """``async def`` hooks; ``create`` sleeps ``custom["create_sleep"]`` seconds first (deadline tests).

    ``custom["timeout_error"]`` makes ``create`` raise its own TimeoutError; ``custom["ignore_cancel"]``
    makes it return normally when cancelled (a connector that swallows its cancellation).
    """

    name = "Sleep connector"
    task_type_name = "asleep"
    metadata_type = Sleep

    async def create(self, task_template, inputs):
        delay = float(task_template.custom.get("create_sleep", 0))
        marker = task_template.custom.get("marker")
        STARTED.append("create")
        if task_template.custom.get("timeout_error"):
            raise TimeoutError("the backend did not answer")
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            CANCELLED.append("create")
            if marker:
                with open(marker, "w") as f:
                    f.write("cancelled")
            if not task_template.custom.get("ignore_cancel"):
                raise
        if marker:
            with open(marker, "w") as f:
                f.write("finished")
        return Sleep(
            until=time.time() + float(inputs.get("seconds", 0)),
            label=str(task_template.custom.get("label", "")),
        )

    async def get(self, resource_meta):
        if time.time() < resource_meta.until:
            return Resource(phase=Phase.RUNNING, message="sleeping")
        return Resource(phase=Phase.SUCCEEDED, outputs={"label": resource_meta.label, "ratio": 1})

    async def delete(self, resource_meta):
        await asyncio.sleep(0)

    async def get_logs(self, resource_meta, token):
        for index in range(2):
            await asyncio.sleep(0)
            yield [f"sleep log {index}"]

    async def get_metrics(self, resource_meta, queries):
        return [MetricSeries(metric="remaining", points=[MetricPoint(timestamp=0.0, value=1.5)])]


class SyncEcho(connector.SyncConnector):
    """A plain-def sync connector: doubles ``x``, and says which secrets it got."""

    name = "Sync echo"
    task_type_name = "syncecho"

    def do(self, task_template, inputs, connection):
        return Resource(
            phase=Phase.SUCCEEDED,
            message="echoed",
            outputs={"y": inputs.get("x", 0) * 2, "tag": task_template.custom.get("tag", "")},
        )


class AsyncDo(connector.SyncConnector):
    """An ``async def`` sync connector, version 2."""

    name = "Async do"
    task_type_name = "asyncdo"
    task_type_version = 2

    async def do(self, inputs):
        await asyncio.sleep(0)
        return Resource(phase=Phase.SUCCEEDED, outputs={"n": len(inputs)})


#: Released by tests to let BlockingConnector.create return.
RELEASE = threading.Event()


@dataclasses.dataclass
class Plain(connector.ResourceMeta):
    """A meta with one field."""

    value: str = ""


class BlockingConnector(connector.AsyncConnector):
    """A plain-def create that blocks until ``RELEASE`` is set (worker pool and overload tests)."""

    name = "Blocking"
    task_type_name = "blocking"
    metadata_type = Plain

    def create(self):
        RELEASE.wait(30)
        return Plain("released")

    def get(self, resource_meta):
        return Resource(phase=Phase.SUCCEEDED)

    def delete(self, resource_meta):
        pass


class FailingConnector(connector.AsyncConnector):
    """Every hook fails the way its custom field says (status-mapping tests)."""

    name = "Failing"
    task_type_name = "failing"
    metadata_type = Plain

    def create(self, task_template):
        how = task_template.custom.get("how", "boom")
        if how == "huge":
            raise RuntimeError("x" * 5000)
        if how == "path":
            raise OSError(2, "No such file or directory", "/srv/secret/config/settings.yaml")
        if how == "exit":
            raise SystemExit(3)
        if how == "not-a-meta":
            return {"job": 1}
        if how == "timeout":
            raise TimeoutError("the warehouse did not answer")
        raise RuntimeError("boom: the warehouse said no\nsecond line of detail")

    def get(self, resource_meta):
        if resource_meta.value == "bad-outputs":
            return Resource(phase=Phase.SUCCEEDED, outputs={"y": object()})
        return 42

    def delete(self, resource_meta):
        raise ValueError("cannot delete")
