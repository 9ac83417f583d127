"""``connector run`` of a bridged flytekit connector interrupted (Ctrl-C) and crashed (SIGKILL), then resumed.

flytekitplugins-openai's batch connector, bridged by connector-flytekit, in the throwaway virtualenv
of ``bridge_support.bridge_venv`` (real flytekit 1.16 from PyPI), against ``FakeOpenAI`` holding the
batch ``in_progress`` until the test releases it. A run is stopped only once the journal shows its
job polled (``connector jobs list --json``); then ``connector jobs show`` and ``connector jobs
resume`` read the journal the run wrote (issue 11, item 4).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.bridge_support import BridgeVenv, FakeOpenAI, bridge_venv
from tests.compat.test_bridge_flytekit import API_KEY, BATCH_CONFIG, ORGANIZATION

pytestmark = pytest.mark.compat

#: How long a run may take to create its job and journal it (a guard against a hang, not a timing test).
GUARD = 120.0


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory, core_wheel: Path) -> BridgeVenv:
    return bridge_venv(tmp_path_factory.mktemp("bridge-run"), core_wheel)


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def remote_env(fake_openai: FakeOpenAI) -> dict[str, str]:
    """The OpenAI client's base URL, and the key flytekit's secrets read."""
    return {"OPENAI_BASE_URL": fake_openai.base_url, "_FSEC_FLYTE_OPENAI_API_KEY": API_KEY}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """This test's CONNECTOR_HOME: its own journal."""
    return tmp_path / "home"


def start_run(
    bridge: BridgeVenv, home: Path, remote_env: dict[str, str], input_file_id: str, tmp_path: Path
) -> subprocess.Popen[str]:
    """``connector run openai-batch`` in the background, its inputs typed by the template's interface."""
    template = tmp_path / "batch.json"
    template.write_text(
        json.dumps(
            {
                "custom": {"openai_organization": ORGANIZATION, "config": BATCH_CONFIG},
                "interface": {"inputs": {"input_file_id": "string"}, "outputs": {"result": "struct"}},
            }
        )
    )
    command = [
        str(bridge.bin / "connector"),
        "run",
        "openai-batch",
        "--template",
        str(template),
        "--input",
        f"input_file_id={input_file_id}",
        "--poll-interval",
        "0.05",
        "--max-poll-interval",
        "0.2",
    ]
    environ = bridge.environ(COLUMNS="200", CONNECTOR_HOME=str(home), **remote_env)
    # Files, not pipes: nobody reads the output until the run has ended.
    stdout = (tmp_path / "run.stdout").open("w")
    stderr = (tmp_path / "run.stderr").open("w")
    with stdout, stderr:
        return subprocess.Popen(command, env=environ, stdout=stdout, stderr=stderr, text=True)


def output_of(tmp_path: Path) -> str:
    return (tmp_path / "run.stdout").read_text() + (tmp_path / "run.stderr").read_text()


def jobs(bridge: BridgeVenv, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``connector jobs ARGS`` on ``home``'s journal."""
    return bridge.connector("jobs", *args, CONNECTOR_HOME=str(home), **env)


def polled_job(bridge: BridgeVenv, home: Path, run: subprocess.Popen[str], tmp_path: Path) -> dict[str, Any]:
    """The run's journal row, once it says ``running`` after at least one poll (the job exists)."""
    deadline = time.monotonic() + GUARD
    while True:
        assert run.poll() is None, f"the run ended ({run.returncode}) first:\n{output_of(tmp_path)}"
        listed = jobs(bridge, home, "list", "--json")
        # Before the run's first write the journal may not exist yet: an empty list or an error.
        rows = json.loads(listed.stdout) if listed.returncode == 0 else []
        if rows and rows[0]["state"] == "running" and rows[0]["polls"] >= 1:
            (row,) = rows
            return dict(row)
        if time.monotonic() > deadline:
            run.kill()
            run.wait()
            pytest.fail(f"no polled job in the journal after {GUARD}s: {listed}\n{output_of(tmp_path)}")
        time.sleep(0.1)


def calls_of(fake: FakeOpenAI) -> list[tuple[str, str, Any, str | None, str | None]]:
    return [
        (c.method, c.path, c.body, c.headers.get("authorization"), c.headers.get("openai-organization"))
        for c in fake.take()
    ]


def test_ctrl_c_deletes_the_bridged_job_and_exits_130(
    bridge: BridgeVenv, fake_openai: FakeOpenAI, remote_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    fake_openai.hold("batch_file-interrupt")
    fake_openai.take()
    run = start_run(bridge, home, remote_env, "file-interrupt", tmp_path)
    try:
        row = polled_job(bridge, home, run, tmp_path)
        assert (row["category"], row["connector"], row["phase"]) == (
            "openai-batch@0",
            f"flytekitplugins-openai {bridge.layer.version_of('flytekitplugins-openai')}",
            "RUNNING",
        )
        run.send_signal(signal.SIGINT)
        returncode = run.wait(timeout=GUARD)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        fake_openai.release("batch_file-interrupt")
    output = output_of(tmp_path)
    assert returncode == 130, output
    assert f"Error: job {row['id']} cancelled: interrupted; the job was deleted" in output
    # Created, polled while in progress, then cancelled once by flytekit's delete; no poll after it.
    calls = calls_of(fake_openai)
    auth = (f"Bearer {API_KEY}", ORGANIZATION)
    assert calls[0] == ("POST", "/v1/batches", {**BATCH_CONFIG, "input_file_id": "file-interrupt"}, *auth)
    assert calls[-1] == ("POST", "/v1/batches/batch_file-interrupt/cancel", None, *auth)
    assert set(calls[1:-1]) == {("GET", "/v1/batches/batch_file-interrupt", None, *auth)}
    assert fake_openai.batches["batch_file-interrupt"]["cancelled"] is True

    shown = jobs(bridge, home, "show", row["id"], "--json")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["id"], record["category"], record["state"], record["phase"], record["message"]) == (
        row["id"],
        "openai-batch@0",
        "cancelled",
        "RUNNING",
        "interrupted; the job was deleted",
    )
    assert record["polls"] >= row["polls"]
    text = jobs(bridge, home, "show", row["id"][:6])
    assert text.returncode == 0, text.stderr
    assert [line.split() for line in text.stdout.splitlines() if line.startswith(("Id:", "State:"))] == [
        ["Id:", row["id"]],
        ["State:", "cancelled"],
    ]
    # A cancelled job is not resumed.
    refused = jobs(bridge, home, "resume", row["id"], **remote_env)
    assert refused.returncode != 0
    assert calls_of(fake_openai) == []


def test_a_killed_run_is_resumed_from_the_journal(
    bridge: BridgeVenv, fake_openai: FakeOpenAI, remote_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    fake_openai.hold("batch_file-resume")
    fake_openai.take()
    run = start_run(bridge, home, remote_env, "file-resume", tmp_path)
    try:
        row = polled_job(bridge, home, run, tmp_path)
        run.kill()  # SIGKILL: a crashed run, which cannot delete its job
        assert run.wait(timeout=GUARD) == -signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    listed = json.loads(jobs(bridge, home, "list", "--state", "running", "--json").stdout)
    assert [(r["id"], r["state"]) for r in listed] == [(row["id"], "running")]
    created = calls_of(fake_openai)
    assert created[0][:2] == ("POST", "/v1/batches")
    assert not [c for c in created if c[1].endswith("/cancel")]

    fake_openai.release("batch_file-resume")  # the remote batch finishes while no one polls it
    resumed = jobs(bridge, home, "resume", row["id"], "--poll-interval", "0.05", **remote_env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"job {row['id']} resumed" in resumed.stderr
    assert f"job {row['id']} succeeded" in resumed.stderr
    # The outputs, one ``name = JSON`` line each: flytekit's Batch struct as connector decodes it.
    names, _, value = resumed.stdout.strip().partition(" = ")
    assert names == "result", resumed.stdout
    assert json.loads(value) == {
        "id": "batch_file-resume",
        "object": "batch",
        "endpoint": BATCH_CONFIG["endpoint"],
        "input_file_id": "file-resume",
        "completion_window": BATCH_CONFIG["completion_window"],
        "status": "completed",
        "created_at": 1_700_000_000,
        "metadata": BATCH_CONFIG["metadata"],
        "output_file_id": "file-out-batch_file-resume",
        "completed_at": 1_700_000_060,
        "request_counts": {"total": 2, "completed": 2, "failed": 0},
    }
    # Polled from the journal's meta: no new batch, nothing cancelled, the same key and organization.
    polls = calls_of(fake_openai)
    assert polls
    assert set(polls) == {("GET", "/v1/batches/batch_file-resume", None, f"Bearer {API_KEY}", ORGANIZATION)}

    record = json.loads(jobs(bridge, home, "show", row["id"], "--json").stdout)
    assert (record["state"], record["phase"], record["message"]) == ("succeeded", "SUCCEEDED", "")
    assert record["polls"] > row["polls"]
