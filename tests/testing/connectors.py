"""Small connectors the kit's tests drive: a job that takes a few polls, and a sync echo."""

from __future__ import annotations

import dataclasses
from typing import Any

import connector


@dataclasses.dataclass
class CountdownMeta(connector.ResourceMeta):
    """The job's id and how many polls it still needs."""

    job_id: str
    polls_left: int


class Countdown(connector.AsyncConnector):
    """Succeeds after ``custom["polls"]`` gets; the job table is per instance, like a remote system."""

    task_type_name = "countdown"
    metadata_type = CountdownMeta

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, int] = {}
        self.deleted: list[str] = []

    def create(self, task_template: connector.TaskTemplate) -> CountdownMeta:
        job_id = f"job-{len(self.jobs) + 1}"
        self.jobs[job_id] = 0
        return CountdownMeta(job_id, int(task_template.custom.get("polls", 3)))

    def get(self, resource_meta: CountdownMeta) -> connector.Resource:
        self.jobs[resource_meta.job_id] += 1
        if self.jobs[resource_meta.job_id] >= resource_meta.polls_left:
            return connector.Resource(
                connector.Phase.SUCCEEDED, outputs={"polls": self.jobs[resource_meta.job_id]}
            )
        return connector.Resource(connector.Phase.RUNNING, message=f"poll {self.jobs[resource_meta.job_id]}")

    def delete(self, resource_meta: CountdownMeta) -> None:
        self.deleted.append(resource_meta.job_id)


class AsyncCountdown(Countdown):
    """The same job with ``async def`` hooks."""

    task_type_name = "async-countdown"

    async def create(self, task_template: connector.TaskTemplate) -> CountdownMeta:  # type: ignore[override]
        return Countdown.create(self, task_template)

    async def get(self, resource_meta: CountdownMeta) -> connector.Resource:  # type: ignore[override]
        return Countdown.get(self, resource_meta)

    async def delete(self, resource_meta: CountdownMeta) -> None:  # type: ignore[override]
        Countdown.delete(self, resource_meta)


class Echo(connector.SyncConnector):
    """Returns its inputs as outputs."""

    task_type_name = "echo"
    task_type_version = 2

    def do(self, inputs: dict[str, Any]) -> connector.Resource:
        return connector.Resource(connector.Phase.SUCCEEDED, outputs=dict(inputs))
