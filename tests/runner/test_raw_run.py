"""`connector run` of a raw-literals connector: it gets v1 messages, its LiteralMap outputs come back native.

In process (the command with a registry of its own, the runner's API): the same code the installed
command runs; tests/e2e/test_providers_e2e.py runs a bridged raw-literals connector for real.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flyteidl.core import literals_pb2, tasks_pb2, types_pb2
from flyteidl2.task import common_pb2

from connector import (
    AsyncConnector,
    InputValueError,
    JobJournal,
    JobState,
    MissingExtraError,
    Phase,
    Resource,
    ResourceMeta,
    RunEventKind,
    RunOptions,
    SyncConnector,
    TaskCategory,
    TaskInterface,
    TaskTemplate,
    prepare_run,
    resume_job,
    run_connector,
)
from connector.cli import _run, cli
from connector.runner import _raw
from connector.testing import registry_of
from tests.support.metas import signed


@dataclasses.dataclass
class CountMeta(ResourceMeta):
    n: int
    protocol: str = "v1"


class RawCount(AsyncConnector):
    """Doubles ``n``; records the messages it gets. ``custom["answer"] = "v2"`` answers with flyteidl2's."""

    task_type_name = "rawcount"
    metadata_type = CountMeta
    raw_literals = True

    def __init__(self) -> None:
        super().__init__()
        self.created: list[tuple[Any, Any]] = []
        self.got: list[Any] = []
        self.deleted: list[CountMeta] = []

    def create(self, task_template: TaskTemplate, inputs: Any) -> CountMeta:
        self.created.append((task_template.raw, inputs))
        literal = inputs.literals["n"].scalar.primitive
        n = int(literal.integer or literal.float_value)
        return CountMeta(n, task_template.custom.get("answer", "v1"))

    def get(self, task_template: TaskTemplate, resource_meta: CountMeta) -> Resource:
        self.got.append(task_template.raw)
        if resource_meta.protocol == "v2":
            return Resource(Phase.SUCCEEDED, outputs=common_pb2.Outputs())
        outputs = literals_pb2.LiteralMap()
        outputs.literals["total"].scalar.primitive.integer = resource_meta.n * 2
        outputs.literals["label"].scalar.primitive.string_value = "doubled"
        return Resource(Phase.SUCCEEDED, outputs=outputs)

    def delete(self, resource_meta: CountMeta) -> None:
        self.deleted.append(resource_meta)


class RawEcho(SyncConnector):
    """A sync raw-literals connector: answers with the LiteralMap it got."""

    task_type_name = "rawecho"
    raw_literals = True

    def do(self, inputs: Any) -> Resource:
        return Resource(Phase.SUCCEEDED, outputs=inputs)


@pytest.fixture
def raw_count() -> RawCount:
    return RawCount()


@pytest.fixture
def command(raw_count: RawCount, monkeypatch: pytest.MonkeyPatch) -> Any:
    registry = registry_of(raw_count, RawEcho)
    monkeypatch.setattr(_run, "_registry", lambda: registry)

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(cli, ["run", *args], catch_exceptions=False)

    return invoke


def test_run_sends_v1_messages_and_prints_native_outputs(command: Any, raw_count: RawCount) -> None:
    done = command("rawcount", "--input", "n=3", "--custom", "region=eu", "--poll-interval", "0.01")
    assert done.exit_code == 0, done.output
    # A LiteralMap is a protobuf map: its order is not the connector's.
    assert sorted(done.stdout.splitlines()) == ['label = "doubled"', "total = 6"]
    ((template, inputs),) = raw_count.created
    expected_inputs = literals_pb2.LiteralMap()
    expected_inputs.literals["n"].scalar.primitive.integer = 3
    assert inputs == expected_inputs
    expected = tasks_pb2.TaskTemplate(type="rawcount", task_type_version=0)
    expected.custom.update({"region": "eu"})
    assert template == expected
    assert raw_count.got == [template]


def test_inputs_are_typed_by_the_template_interface(
    command: Any, raw_count: RawCount, tmp_path: Path
) -> None:
    template_file = tmp_path / "template.json"
    interface = {"inputs": {"n": "float", "tags": "list"}, "outputs": {"total": "integer", "label": "string"}}
    template_file.write_text(json.dumps({"interface": interface, "config": {"k": "v"}}))
    done = command(
        "rawcount", "--template", str(template_file), "--input", "n=3", "--input", 'tags=["a"]', "--json"
    )
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert (document["state"], document["outputs"]) == ("succeeded", {"total": 6, "label": "doubled"})
    ((template, inputs),) = raw_count.created
    assert inputs.literals["n"].scalar.primitive.float_value == 3.0  # declared float, given 3
    assert [i.scalar.primitive.string_value for i in inputs.literals["tags"].collection.literals] == ["a"]
    assert dict(template.config) == {"k": "v"}
    variables = template.interface.inputs.variables
    assert variables["n"].type == types_pb2.LiteralType(simple=types_pb2.SimpleType.FLOAT)
    assert variables["tags"].type.HasField("collection_type")
    assert template.interface.outputs.variables["total"].type.simple == types_pb2.SimpleType.INTEGER


def test_a_sync_raw_connector(command: Any) -> None:
    done = command("rawecho", "--input", "x=1", "--input", "s=hi", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["outputs"] == {"x": 1, "s": "hi"}


def test_outputs_of_flyteidl2_are_an_error(command: Any) -> None:
    done = command("rawcount", "--input", "n=1", "--custom", "answer=v2", "--poll-interval", "0.01", "--json")
    assert done.exit_code == 1
    document = json.loads(done.stdout)
    assert document["state"] == "error"
    assert document["message"].startswith(
        "task type rawcount@0 from registered connector RawCount: get returned outputs of type "
        "flyteidl2.task.Outputs, but connector run speaks flyteidl v1, whose outputs are a "
        "flyteidl.core.LiteralMap; return the literal map of the protocol of the inputs given; the job may "
        "still be running: `connector jobs resume "
    )


def test_without_the_server_extra_run_says_so_and_exits_2(
    command: Any, raw_count: RawCount, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        _raw.importlib.util, "find_spec", lambda name, *a: None if name == "flyteidl" else real(name, *a)
    )
    done = command("rawcount", "--input", "n=1")
    assert (done.exit_code, done.stdout) == (2, "")
    assert done.stderr == (
        "Error: task type rawcount@0 takes raw literals (flyteidl messages), so running it locally needs "
        "the server extra (module 'flyteidl' is missing). Install it with: "
        'pip install "connector-core[server]"\n'
    )
    assert raw_count.created == []
    with pytest.raises(MissingExtraError) as caught:
        prepare_run(registry_of(RawCount()), "rawcount")
    assert (caught.value.extra, caught.value.module, caught.value.name) == ("server", "flyteidl", "flyteidl")
    assert isinstance(caught.value, ImportError)


def test_an_input_without_a_literal_form_is_refused_before_create(raw_count: RawCount) -> None:
    with pytest.raises(InputValueError) as caught:
        prepare_run(registry_of(raw_count), "rawcount", inputs={"n": 1, "when": object()})
    assert str(caught.value) == (
        "input 'when' cannot be sent as a literal: no Flyte type for a Python object (the task interface "
        "does not declare it); return one of int, float, str, bool, datetime, timedelta, None, list, dict, "
        "BlobRef or StructuredDatasetRef"
    )
    assert raw_count.created == []


# The journal, a cancel and a resume work as for any connector.


def test_a_cancel_deletes_the_job(raw_count: RawCount, tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    run = prepare_run(
        registry_of(raw_count),
        "rawcount",
        inputs={"n": 4},
        options=RunOptions(journal=journal, poll_interval=0.01),
    )
    run.on_event = lambda event: run.cancel() if event.kind is RunEventKind.CREATED else None
    import asyncio

    result = asyncio.run(run.run())
    assert (result.state, raw_count.deleted) == (JobState.CANCELLED, [CountMeta(4)])
    record = journal.get(result.job_id or "")
    assert record.state is JobState.CANCELLED
    assert "raw" not in record.template  # the journal keeps the template's view, not its message


def test_a_resume_gets_the_meta_and_a_v1_template(raw_count: RawCount, tmp_path: Path) -> None:
    journal = JobJournal(tmp_path / "jobs.sqlite3")
    journal.add(
        job_id="abcdef012345",
        category=TaskCategory("rawcount"),
        resource_meta=signed("rawcount", CountMeta(5)),
        template={"type": "rawcount", "custom": {"region": "eu"}},
        inputs={"n": 5},
    )
    result = resume_job(
        registry_of(raw_count), "abcdef", options=RunOptions(journal=journal, poll_interval=0.01)
    )
    assert (result.state, result.outputs) == (JobState.SUCCEEDED, {"total": 10, "label": "doubled"})
    (template,) = raw_count.got
    expected = tasks_pb2.TaskTemplate(type="rawcount")
    expected.custom.update({"region": "eu"})
    assert template == expected
    assert raw_count.created == []


def test_the_api_runs_it_too(raw_count: RawCount) -> None:
    interface = TaskInterface(inputs={"n": "integer"}, outputs={"total": "integer", "label": "string"})
    result = run_connector(
        registry_of(raw_count),
        "rawcount",
        template=TaskTemplate("rawcount", interface=interface),
        inputs={"n": 2},
        options=RunOptions(journal=False, poll_interval=0.01),
    )
    assert (result.state, result.outputs) == (JobState.SUCCEEDED, {"total": 4, "label": "doubled"})
