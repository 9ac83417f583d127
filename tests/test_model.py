"""Value types: TaskCategory, Phase and its state strings, Resource, templates, Connection."""

from __future__ import annotations

import dataclasses
import re

import pytest

import connector
from connector import (
    Connection,
    Phase,
    Resource,
    TaskCategory,
    TaskTemplate,
    convert_to_phase,
    is_terminal_phase,
    render_task_template,
)


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern that only the whole message matches."""
    return f"^{re.escape(message)}$"


# TaskCategory.


def test_a_category_is_a_name_and_a_version() -> None:
    assert TaskCategory("sensor") == TaskCategory("sensor", 0)
    assert str(TaskCategory("sensor")) == "sensor@0"
    assert str(TaskCategory("sensor", 2)) == "sensor@2"


def test_the_entry_point_name_drops_version_zero() -> None:
    assert TaskCategory("sensor").entry_point_name == "sensor"
    assert TaskCategory("sensor", 1).entry_point_name == "sensor@1"


def test_categories_are_frozen_hashable_and_ordered() -> None:
    category = TaskCategory("b", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        category.version = 2  # type: ignore[misc]
    assert {category: 1}[TaskCategory("b", 1)] == 1
    assert sorted([TaskCategory("b", 1), TaskCategory("a", 3), TaskCategory("b", 0)]) == [
        TaskCategory("a", 3),
        TaskCategory("b", 0),
        TaskCategory("b", 1),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sensor", TaskCategory("sensor", 0)),
        ("sensor@0", TaskCategory("sensor", 0)),
        ("sensor@1", TaskCategory("sensor", 1)),
        ("sensor@12", TaskCategory("sensor", 12)),
        (" sensor@1 ", TaskCategory("sensor", 1)),
        ("sensor @ 1", TaskCategory("sensor", 1)),
        ("sensor@01", TaskCategory("sensor", 1)),
        ("my-task_type.v2", TaskCategory("my-task_type.v2", 0)),
    ],
)
def test_parse(text: str, expected: TaskCategory) -> None:
    assert TaskCategory.parse(text) == expected


def test_parse_and_str_round_trip() -> None:
    for category in (TaskCategory("a"), TaskCategory("a", 7)):
        assert TaskCategory.parse(str(category)) == category
        assert TaskCategory.parse(category.entry_point_name) == category


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sensor@", "bad task category 'sensor@': the version after '@' must be a whole number"),
        ("sensor@v1", "bad task category 'sensor@v1': the version after '@' must be a whole number"),
        ("sensor@-1", "bad task category 'sensor@-1': the version after '@' must be a whole number"),
        ("sensor@1.5", "bad task category 'sensor@1.5': the version after '@' must be a whole number"),
        ("sensor@1@2x", "bad task category 'sensor@1@2x': the version after '@' must be a whole number"),
        ("@1", "task type must be a non-empty string, got ''"),
        ("", "task type must be a non-empty string, got ''"),
        ("   ", "task type must be a non-empty string, got ''"),
    ],
)
def test_parse_refuses_bad_text(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        TaskCategory.parse(text)


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("", 0, "task type must be a non-empty string, got ''"),
        (None, 0, "task type must be a non-empty string, got None"),
        (3, 0, "task type must be a non-empty string, got 3"),
        ("x", -1, "task type version must be an integer >= 0, got -1"),
        ("x", "1", "task type version must be an integer >= 0, got '1'"),
        ("x", True, "task type version must be an integer >= 0, got True"),
        ("x", 1.0, "task type version must be an integer >= 0, got 1.0"),
    ],
)
def test_a_category_refuses_bad_fields(name: object, version: object, message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        TaskCategory(name, version)  # type: ignore[arg-type]


# Phase.


def test_phases_are_numbered_as_flyte_task_execution_phases() -> None:
    assert {p.name: p.value for p in Phase} == {
        "UNDEFINED": 0,
        "QUEUED": 1,
        "RUNNING": 2,
        "SUCCEEDED": 3,
        "ABORTED": 4,
        "FAILED": 5,
        "INITIALIZING": 6,
        "WAITING_FOR_RESOURCES": 7,
        "RETRYABLE_FAILED": 8,
    }


TERMINAL = {Phase.SUCCEEDED, Phase.ABORTED, Phase.FAILED, Phase.RETRYABLE_FAILED}


@pytest.mark.parametrize("phase", list(Phase))
def test_is_terminal_phase(phase: Phase) -> None:
    assert is_terminal_phase(phase) is (phase in TERMINAL)
    assert is_terminal_phase(int(phase)) is (phase in TERMINAL)
    assert phase.is_terminal is (phase in TERMINAL)


def test_is_terminal_phase_refuses_an_unknown_number() -> None:
    with pytest.raises(ValueError, match=r"^9 is not a valid Phase$"):
        is_terminal_phase(9)


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("pending", Phase.QUEUED),
        ("queued", Phase.QUEUED),
        ("submitted", Phase.QUEUED),
        ("starting", Phase.INITIALIZING),
        ("waiting", Phase.WAITING_FOR_RESOURCES),
        ("running", Phase.RUNNING),
        ("in_progress", Phase.RUNNING),
        ("done", Phase.SUCCEEDED),
        ("success", Phase.SUCCEEDED),
        ("completed", Phase.SUCCEEDED),
        ("cancelled", Phase.ABORTED),
        ("canceled", Phase.ABORTED),
        ("killed", Phase.ABORTED),
        ("failed", Phase.FAILED),
        ("error", Phase.FAILED),
        ("timed_out", Phase.FAILED),
        ("retryable", Phase.RETRYABLE_FAILED),
        # Case, spaces and dashes do not matter.
        ("DONE", Phase.SUCCEEDED),
        ("Done", Phase.SUCCEEDED),
        ("  done\n", Phase.SUCCEEDED),
        ("In Progress", Phase.RUNNING),
        ("in-progress", Phase.RUNNING),
        ("IN - PROGRESS", Phase.RUNNING),
        ("Timed-Out", Phase.FAILED),
        ("Waiting For Resources", Phase.WAITING_FOR_RESOURCES),
        ("retryable-failed", Phase.RETRYABLE_FAILED),
    ],
)
def test_state_strings_become_phases(state: str, phase: Phase) -> None:
    assert Phase.from_state(state) is phase
    assert convert_to_phase(state) is phase
    assert connector.convert_to_flyte_phase(state) is phase


@pytest.mark.parametrize("phase", list(Phase))
def test_every_phase_name_is_a_state(phase: Phase) -> None:
    assert Phase.from_state(phase.name) is phase
    assert Phase.from_state(phase.name.lower().replace("_", " ")) is phase


# The whole vocabulary, so a change to it is a visible change to this test.
KNOWN_STATES = [
    "aborted",
    "accepted",
    "active",
    "blocked",
    "canceled",
    "canceling",
    "cancelled",
    "cancelling",
    "complete",
    "completed",
    "created",
    "done",
    "error",
    "errored",
    "executing",
    "failed",
    "failure",
    "finished",
    "in_progress",
    "initializing",
    "internal_error",
    "killed",
    "ok",
    "pending",
    "preparing",
    "processing",
    "provisioning",
    "queued",
    "retryable",
    "retryable_failed",
    "retrying",
    "running",
    "scheduled",
    "started",
    "starting",
    "submitted",
    "succeeded",
    "success",
    "successful",
    "terminating",
    "timedout",
    "timed_out",
    "timeout",
    "waiting",
    "waiting_for_resources",
]


@pytest.mark.parametrize("state", ["bogus", "", "done!", "half-done"])
def test_an_unknown_state_is_an_error_listing_the_known_ones(state: str) -> None:
    message = f"unknown job state {state!r}; known states: {', '.join(sorted(KNOWN_STATES))}"
    with pytest.raises(ValueError, match=exactly(message)):
        Phase.from_state(state)


# Resource, TaskTemplate, render_task_template, Connection.


def test_a_resource_turns_a_phase_number_into_a_phase() -> None:
    resource = Resource(3)  # type: ignore[arg-type]
    assert resource.phase is Phase.SUCCEEDED
    assert resource.message == ""
    assert resource.log_links == []
    assert resource.outputs is None
    with pytest.raises(ValueError, match=r"^42 is not a valid Phase$"):
        Resource(42)  # type: ignore[arg-type]


def test_a_template_knows_its_category() -> None:
    assert TaskTemplate("sensor", 2).category == TaskCategory("sensor", 2)


def test_render_task_template_fills_flyte_placeholders() -> None:
    template = TaskTemplate(
        "shell",
        container_args=[
            "pyflyte-execute",
            "--inputs",
            "{{.input}}",
            "--output-prefix",
            "{{.outputPrefix}}",
            "--raw-output-data-prefix",
            "{{.rawOutputDataPrefix}}",
            "both={{.input}},{{.outputPrefix}}",
            "{{.unknown}}",
        ],
    )
    rendered = render_task_template(template, "s3://bucket/run/")
    assert rendered.container_args == [
        "pyflyte-execute",
        "--inputs",
        "s3://bucket/run/inputs.pb",
        "--output-prefix",
        "s3://bucket/run/output",
        "--raw-output-data-prefix",
        "s3://bucket/run/raw_output",
        "both=s3://bucket/run/inputs.pb,s3://bucket/run/output",
        "{{.unknown}}",
    ]
    assert template.container_args[2] == "{{.input}}"  # the original is not changed
    assert rendered.type == "shell"


def test_a_connection_never_shows_secret_values() -> None:
    connection = Connection(secrets={"token": "s3cr3t"}, configs={"region": "eu"})
    assert repr(connection) == "Connection(secrets={'token': '***'}, configs={'region': 'eu'})"
    assert "s3cr3t" not in str(connection)
    assert connection.secrets["token"] == "s3cr3t"


def test_execution_metadata_never_shows_environment_values() -> None:
    metadata = connector.TaskExecutionMetadata(
        task_execution_id="run-1",
        namespace="ns",
        environment_variables={"API_TOKEN": "s3cr3t"},
        raw=b"API_TOKEN=s3cr3t",
    )
    assert repr(metadata) == (
        "TaskExecutionMetadata(task_execution_id='run-1', namespace='ns', labels={}, annotations={}, "
        "k8s_service_account='', environment_variables={'API_TOKEN': '***'}, max_attempts=0, "
        "interruptible=False)"
    )
    assert metadata.environment_variables["API_TOKEN"] == "s3cr3t"


def test_a_lazy_template_read_from_two_threads_at_once_never_fails() -> None:
    """The second reader of a view whose fields are being made makes them too, and never fails."""
    import threading
    import time

    from connector._model import lazy_task_template

    started = threading.Event()

    def slow_fill() -> dict[str, object]:
        started.set()
        time.sleep(0.2)
        return {"custom": {"a": 1}, "config": {}, "container_args": [], "metadata": {}}

    view = lazy_task_template(slow_fill, type="echo")
    seen: list[object] = []
    first = threading.Thread(target=lambda: seen.append(view.custom))
    first.start()
    started.wait(5)
    seen.append(view.metadata)  # while the first thread is still in slow_fill
    first.join(5)
    assert sorted(map(repr, seen)) == ["{'a': 1}", "{}"]  # custom and metadata, in either order
    assert "_fill" not in vars(view)
