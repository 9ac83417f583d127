"""A journal row as a ``JobRecord``: the record, and the checks each column's value must pass.

The journal trusts no value it reads back (a file edited by hand, or by a hostile process): every
column is parsed here before a record is made (issue 12).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Any

from .._model import Phase, TaskCategory
from ._job_states import JobState

#: What ``JobJournal.new_id`` makes; no other id is written, read back or pruned.
JOB_ID = re.compile(r"[0-9a-f]{12}")


@dataclasses.dataclass(frozen=True)
class JobRecord:
    """One row of the journal: a job created by a local run."""

    id: str
    category: TaskCategory
    connector: str
    resource_meta: bytes
    template: dict[str, Any]
    inputs_digest: str
    output_prefix: str
    created_at: float
    updated_at: float
    phase: Phase | None
    message: str
    state: JobState
    polls: int
    pid: int | None
    host: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this record (times as ISO 8601 UTC, the meta as UTF-8 text)."""
        return {
            "id": self.id,
            "category": str(self.category),
            "connector": self.connector,
            "state": self.state.value,
            "phase": self.phase.name if self.phase is not None else None,
            "message": self.message,
            "polls": self.polls,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "output_prefix": self.output_prefix,
            "inputs_digest": self.inputs_digest,
            "resource_meta": self.resource_meta.decode("utf-8", errors="replace"),
            "template": self.template,
            "pid": self.pid,
            "host": self.host,
        }


def iso_time(timestamp: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and JOB_ID.fullmatch(value) is not None


def parse_job_id(value: object) -> str:
    if not is_job_id(value):
        raise ValueError("a job id is 12 hexadecimal digits (JobJournal.new_id makes them)")
    assert isinstance(value, str)
    return value


def parse_text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"text expected, not {type(value).__name__}")
    return value


def parse_blob(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"bytes expected, not {type(value).__name__}")
    return value


def parse_integer(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"an integer expected, not {type(value).__name__}")
    return value


def parse_number(value: object) -> float:
    if type(value) not in (int, float):
        raise TypeError(f"a number expected, not {type(value).__name__}")
    assert isinstance(value, (int, float))
    return float(value)


def parse_template(text: object) -> dict[str, Any]:
    document = json.loads(parse_text(text))
    if not isinstance(document, dict):
        raise TypeError(f"a template is a JSON object, not {type(document).__name__}")
    return document
