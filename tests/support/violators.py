"""Connectors that break the contract with what they return, one way each (tests/test_violations.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import connector


@dataclasses.dataclass
class JobMeta(connector.ResourceMeta):
    job_id: str


@dataclasses.dataclass
class OtherMeta(connector.ResourceMeta):
    name: str


class WrongMeta(connector.AsyncConnector):
    """create returns a meta of another class than its metadata_type."""

    task_type_name = "wrongmeta"
    metadata_type = JobMeta

    def create(self) -> Any:
        return OtherMeta("x")

    def get(self, resource_meta: JobMeta) -> connector.Resource:
        return connector.Resource(connector.Phase.SUCCEEDED)

    def delete(self, resource_meta: JobMeta) -> None:
        return None


class WrongGet(WrongMeta):
    """get returns a dict instead of a Resource."""

    task_type_name = "wrongget"

    def create(self) -> Any:
        return JobMeta("j")

    def get(self, resource_meta: JobMeta) -> Any:
        return {"phase": "SUCCEEDED"}


class NotTerminal(connector.SyncConnector):
    """do answers with a phase that does not end the task."""

    task_type_name = "notterminal"

    def do(self) -> connector.Resource:
        return connector.Resource(connector.Phase.RUNNING)


class WrongDo(connector.SyncConnector):
    """do returns a str instead of a Resource."""

    task_type_name = "wrongdo"

    async def do(self) -> Any:
        return "done"


#: Each violator and the one message every driver reports for it.
MESSAGES = {
    WrongMeta: "task type wrongmeta@0 from registered connector WrongMeta: create returned OtherMeta, not an "
    "instance of its metadata_type JobMeta; return JobMeta(...)",
    WrongGet: "task type wrongget@0 from registered connector WrongGet: get returned dict, not a "
    "connector.Resource; return Resource(phase=..., message=..., outputs=...)",
    NotTerminal: "task type notterminal@0 from registered connector NotTerminal: do returned phase RUNNING, "
    "which is not terminal; a sync connector answers with SUCCEEDED, FAILED, ABORTED or RETRYABLE_FAILED",
    WrongDo: "task type wrongdo@0 from registered connector WrongDo: do returned str, not a "
    "connector.Resource; return Resource(phase=..., message=..., outputs=...)",
}
