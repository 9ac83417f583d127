"""A fake job system for the runner's tests: each job is a folder, and the tests steer it with files.

``custom["root"]`` is the folder holding the jobs; every hook call appends a line to
``root/events.log`` (``create ID``, ``get ID N``, ``delete ID``) so a test can wait for a call and
count them. Other custom fields: ``polls`` (gets before the final phase, default 1), ``final``
(the final phase's name, default SUCCEEDED), ``message``, ``wait_for_release`` (stay RUNNING
until ``root/release`` exists), ``delete_blocks`` (delete waits until ``root/unblock`` exists),
``get_blocks`` (get number N logs ``get-started ID N`` and waits until ``root/unget`` exists),
``create_error`` (create raises it), ``create_blocks`` (the async def create logs
``create-started`` and waits until ``root/uncreate`` exists), ``bad_get`` (get returns a
string). The sync ``echo`` logs ``do`` when its custom fields name a ``root``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any

from connector import AsyncConnector, Phase, Resource, ResourceMeta, SyncConnector, TaskLog


@dataclasses.dataclass
class FakeMeta(ResourceMeta):
    """Where a fake job lives."""

    root: str
    job: str


def _event(root: Path, line: str) -> None:
    with open(root / "events.log", "a", encoding="utf-8") as log:
        log.write(line + "\n")


def _start(task_template: Any, inputs: dict[str, Any]) -> FakeMeta:
    custom = task_template.custom
    root = Path(custom["root"])
    if custom.get("create_error"):
        raise RuntimeError(custom["create_error"])
    job = uuid.uuid4().hex[:8]
    folder = root / job
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"custom": custom, "inputs": inputs}))
    _event(root, f"create {job}")
    return FakeMeta(str(root), job)


def _status(meta: FakeMeta) -> Any:
    root = Path(meta.root)
    folder = root / meta.job
    spec = json.loads((folder / "spec.json").read_text())
    custom = spec["custom"]
    counter = folder / "polls"
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    _event(root, f"get {meta.job} {count}")
    if custom.get("bad_get"):
        return "not a resource"
    logs = [TaskLog(uri=f"file://{folder}/log.txt", name="log")]
    if (folder / "deleted").exists():
        return Resource(Phase.ABORTED, "deleted", logs)
    if custom.get("wait_for_release") and not (root / "release").exists():
        return Resource(Phase.RUNNING, f"poll {count}: waiting for release", logs)
    needed = int(custom.get("polls", 1))
    if count < needed:
        return Resource(Phase.RUNNING, f"step {count} of {needed}", logs)
    final = Phase[custom.get("final", "SUCCEEDED")]
    outputs = {"echo": spec["inputs"], "polls": count} if final is Phase.SUCCEEDED else None
    return Resource(final, custom.get("message", final.name.lower()), logs, outputs)


def _blocks(meta: FakeMeta) -> bool:
    """Whether this get is the one ``get_blocks`` names; if so, it is logged as started."""
    folder = Path(meta.root) / meta.job
    wanted = _spec(meta).get("get_blocks")
    counter = folder / "polls"
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    if wanted is None or count != int(wanted):
        return False
    _event(Path(meta.root), f"get-started {meta.job} {count}")
    return True


def _mark_deleted(meta: FakeMeta) -> None:
    root = Path(meta.root)
    _event(root, f"delete {meta.job}")
    (root / meta.job / "deleted").touch()


def _spec(meta: FakeMeta) -> dict[str, Any]:
    return json.loads((Path(meta.root) / meta.job / "spec.json").read_text())["custom"]


class FakeJobs(AsyncConnector):
    """Fake jobs with async def hooks."""

    name = "Fake jobs (async def)"
    task_type_name = "fakejob"
    metadata_type = FakeMeta

    async def create(self, task_template: Any, inputs: dict[str, Any]) -> FakeMeta:
        await asyncio.sleep(0)
        custom = task_template.custom
        if custom.get("create_blocks"):
            _event(Path(custom["root"]), "create-started")
            while not (Path(custom["root"]) / "uncreate").exists():
                await asyncio.sleep(0.01)
        return _start(task_template, inputs)

    async def get(self, resource_meta: FakeMeta) -> Any:
        await asyncio.sleep(0)
        if _blocks(resource_meta):
            while not (Path(resource_meta.root) / "unget").exists():
                await asyncio.sleep(0.01)
        return _status(resource_meta)

    async def delete(self, resource_meta: FakeMeta) -> None:
        # The event is written after an await: a delete coroutine that is never awaited leaves none.
        await asyncio.sleep(0.01)
        if _spec(resource_meta).get("delete_blocks"):
            _event(Path(resource_meta.root), f"delete-started {resource_meta.job}")
            while not (Path(resource_meta.root) / "unblock").exists():
                await asyncio.sleep(0.01)
        _mark_deleted(resource_meta)


class FakeJobsPlain(AsyncConnector):
    """Fake jobs with plain def hooks."""

    name = "Fake jobs (def)"
    task_type_name = "fakejob-plain"
    metadata_type = FakeMeta

    def create(self, task_template: Any, inputs: dict[str, Any]) -> FakeMeta:
        return _start(task_template, inputs)

    def get(self, resource_meta: FakeMeta) -> Any:
        if _blocks(resource_meta):
            while not (Path(resource_meta.root) / "unget").exists():
                time.sleep(0.01)
        return _status(resource_meta)

    def delete(self, resource_meta: FakeMeta) -> None:
        if _spec(resource_meta).get("delete_blocks"):
            _event(Path(resource_meta.root), f"delete-started {resource_meta.job}")
            while not (Path(resource_meta.root) / "unblock").exists():
                time.sleep(0.01)
        _mark_deleted(resource_meta)


class Echo(SyncConnector):
    """A sync connector: do returns its inputs and custom fields."""

    name = "Echo"
    task_type_name = "echo"

    def do(self, task_template: Any, inputs: dict[str, Any], output_prefix: str) -> Resource:
        custom = task_template.custom
        if custom.get("root"):
            _event(Path(custom["root"]), "do")
        if custom.get("sleep"):
            time.sleep(float(custom["sleep"]))
        if custom.get("fail"):
            return Resource(Phase.FAILED, str(custom["fail"]))
        outputs = {"inputs": inputs, "custom": custom, "output_prefix": output_prefix}
        return Resource(Phase.SUCCEEDED, "echoed", outputs=outputs)


class EchoV2(Echo):
    """Version 2 of echo, with an async do."""

    name = "Echo v2"
    task_type_version = 2

    async def do(self, task_template: Any, inputs: dict[str, Any], output_prefix: str) -> Resource:  # type: ignore[override]
        await asyncio.sleep(0)
        return Resource(Phase.SUCCEEDED, "echoed by v2", outputs={"version": 2, "inputs": inputs})
