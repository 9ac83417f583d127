"""connector-flytekit end to end: flytekit's connectors behind ``connector serve``, beside ``pyflyte serve``.

One throwaway virtualenv (``bridge_support.bridge_venv``) holds connector-core[server],
connector-flytekit and connector-http built from this checkout, over a cached layer with real
flytekit 1.16 and flytekitplugins-openai from PyPI. flytekit's own ``pyflyte serve connector`` runs
from that layer, with the same plugins. The same requests (templates and inputs serialized by
flytekit, sent with the generated flyteidl stubs) go to both services and the answers are compared
field by field, outputs decoded by flytekit's TypeEngine against the task's interface.

The OpenAI batch connector talks to ``FakeOpenAI``, a loopback stand-in for the OpenAI batch API
reached through ``OPENAI_BASE_URL``: the real API cannot be reached from here. flytekit's webhook
claims the task type of connector-http's: the conflict is reported, then each side is pinned.
flytekit's webhook and sensor are served only with ``CONNECTOR_FLYTEKIT_BUILTINS`` (``OPT_IN``);
without it they are refused, which is tested too.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core.execution_pb2 import TaskExecution
from flyteidl2.connector import connector_pb2 as v2_connector_pb2
from flyteidl2.core import tasks_pb2 as v2_tasks_pb2

from tests.compat.bridge_support import (
    BridgeVenv,
    FakeOpenAI,
    bridge_driver,
    bridge_venv,
    broken_plugin_wheel,
    pip_install_target,
)
from tests.compat.peers import Driver, FlytekitService, Recorder, b64decode, free_port
from tests.compat.wire import (
    Answer,
    call,
    create_task,
    delete_task,
    execute_sync,
    get_task,
    resource_fields,
    template_of,
)
from tests.server.served import Served

pytestmark = pytest.mark.compat

API_KEY = "sk-compat-bridge-0123456789"
ORGANIZATION = "org-compat"
BATCH_CONFIG = {"endpoint": "/v1/chat/completions", "completion_window": "24h", "metadata": {"run": "compat"}}


def openai_batch(name: str = "compat.batch") -> dict[str, Any]:
    return {"kind": "openai_batch", "name": name, "config": BATCH_CONFIG, "openai_organization": ORGANIZATION}


def webhook(origin: str) -> dict[str, Any]:
    return {
        "kind": "webhook",
        "name": "compat.bridge_hook",
        "url": origin + "/items/{inputs.n}",
        "dynamic_inputs": {"s": "str", "n": "int"},
        "data": {"text": "{inputs.s}"},
        "show_data": True,
        "show_url": True,
    }


FILE_SENSOR = {"kind": "file_sensor", "name": "compat.bridge_wait"}
#: flytekit's own sensor and webhook are served only when the operator opts in to them.
OPT_IN = {"CONNECTOR_FLYTEKIT_BUILTINS": "sensor,webhook"}


# The environment, the peers and the services.


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory, core_wheel: Path) -> BridgeVenv:
    return bridge_venv(tmp_path_factory.mktemp("bridge"), core_wheel)


@pytest.fixture(scope="module")
def flytekit_version(bridge: BridgeVenv) -> str:
    return bridge.layer.version_of("flytekit")


@pytest.fixture(scope="module")
def driver(bridge: BridgeVenv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    started = bridge_driver(bridge.layer, tmp_path_factory.mktemp("bridge-driver"))
    yield started
    started.close()


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def remote_env(fake_openai: FakeOpenAI) -> dict[str, str]:
    """What both services get: the OpenAI client's base URL, and the key flytekit's secrets read."""
    return {"OPENAI_BASE_URL": fake_openai.base_url, "_FSEC_FLYTE_OPENAI_API_KEY": API_KEY}


@pytest.fixture(scope="module")
def pyflyte(bridge: BridgeVenv, remote_env: dict[str, str]) -> Iterator[FlytekitService]:
    """flytekit's own ``pyflyte serve connector``, from the layer: flytekit's webhook and sensor, OpenAI's."""
    service = FlytekitService(bridge.layer, env=remote_env)
    yield service
    service.close()


@pytest.fixture(scope="module")
def ours(bridge: BridgeVenv, remote_env: dict[str, str]) -> Iterator[Served]:
    """``connector serve`` with flytekit's webhook pinned (over connector-http's)."""
    served = bridge.serve(CONNECTOR_PIN="webhook=flytekit", **remote_env, **OPT_IN)
    yield served
    served.stop()


def serialize(driver: Driver, task: dict[str, Any], **inputs: Any) -> tuple[bytes, bytes]:
    made = driver.ask("serialize", task=task, inputs=inputs)
    return b64decode(made["template"]), b64decode(made["inputs"])


def b64(message: Any) -> str:
    return base64.b64encode(message.SerializeToString()).decode()


def same(mine: Answer, theirs: Answer) -> None:
    """Status, then every Resource field (outputs as flytekit's literal map, byte for byte)."""
    assert (mine.code, mine.details) == (theirs.code, theirs.details)
    assert theirs.code == grpc.StatusCode.OK, theirs.details
    assert resource_fields(mine.response.resource) == resource_fields(theirs.response.resource)
    assert mine.response.resource.HasField("outputs") == theirs.response.resource.HasField("outputs")
    assert mine.response.resource.outputs == theirs.response.resource.outputs


def flytekit_bytes(meta: bytes) -> bytes:
    """The flytekit meta inside ours: the signed envelope's payload, then FlytekitMeta's base64 field."""
    assert meta.startswith(b"cm1\n"), meta[:20]
    document = json.loads(meta.split(b"\n", 4)[4])
    assert set(document) == {"v", "data"}
    return base64.b64decode(document["data"]["flytekit_meta"])


# Discovery: the conflict, then each pin.


def test_check_reports_the_webhook_conflict(bridge: BridgeVenv, flytekit_version: str) -> None:
    done = bridge.connector("check", **OPT_IN)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        f"CONFLICT webhook@0: task type webhook@0 is claimed by connector-http 0.1.0 and flytekit "
        f"{flytekit_version}; neither is served. Uninstall one, or pin one with "
        "CONNECTOR_PIN='webhook=connector-http'",
        "4 connector(s) loaded, 0 disabled, 1 problem(s).",
    ]


def test_list_shows_what_is_bridged(bridge: BridgeVenv, flytekit_version: str) -> None:
    done = bridge.connector("list", "--json", **OPT_IN)
    assert done.returncode == 0, done.stderr
    listed = {(item["category"], item["distribution"]): item for item in json.loads(done.stdout)}
    openai_version = bridge.layer.version_of("flytekitplugins-openai")
    assert sorted(listed) == [
        ("chatgpt@0", "flytekitplugins-openai"),
        ("http_job@0", "connector-http"),
        ("openai-batch@0", "flytekitplugins-openai"),
        ("sensor@0", "flytekit"),
        ("webhook@0", "connector-http"),
        ("webhook@0", "flytekit"),
    ]
    batch = listed[("openai-batch@0", "flytekitplugins-openai")]
    assert (batch["distribution_version"], batch["target"]) == (
        openai_version,
        "flytekit.plugins: openai = flytekitplugins.openai",
    )
    assert listed[("sensor@0", "flytekit")]["distribution_version"] == flytekit_version


@pytest.mark.parametrize("pinned", ["flytekit", "connector-http"])
def test_either_pin_serves(bridge: BridgeVenv, pinned: str, flytekit_version: str) -> None:
    version = {"flytekit": flytekit_version, "connector-http": "0.1.0"}[pinned]
    done = bridge.connector("check", CONNECTOR_PIN=f"webhook={pinned}", **OPT_IN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"DISABLED webhook@0: CONNECTOR_PIN chose {pinned} {version}",
        "5 connector(s) loaded, 1 disabled, 0 problem(s).",
    ]
    shown = bridge.connector("show", "webhook", CONNECTOR_PIN=f"webhook={pinned}", **OPT_IN)
    assert f"Distribution:  {pinned}\n" in shown.stdout, shown.stdout


def test_unpinned_the_service_refuses_the_webhook(
    bridge: BridgeVenv, driver: Driver, recorder: Recorder, flytekit_version: str
) -> None:
    """Neither claim is served: FAILED_PRECONDITION with the conflict; the other connectors serve."""
    template, inputs = serialize(driver, webhook(recorder.origin), s="x", n=1)
    served = bridge.serve(**OPT_IN)
    try:
        refused = execute_sync(served.v1_sync, template, inputs)
        listed = served.v1_meta.ListAgents(agent_pb2.ListAgentsRequest(), timeout=60)
    finally:
        served.stop()
    assert (refused.code, refused.details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"task type webhook@0 is claimed by connector-http 0.1.0 and flytekit {flytekit_version}; neither is "
        "served. Uninstall one, or pin one with CONNECTOR_PIN='webhook=connector-http'",
    )
    assert recorder.take() == []
    assert {agent.name for agent in listed.agents} >= {"OpenAI Batch Endpoint Connector", "Sensor"}


def test_without_the_opt_in_flytekits_webhook_and_sensor_are_not_claimed(
    bridge: BridgeVenv, driver: Driver, recorder: Recorder, tmp_path: Path
) -> None:
    """Not opted in: flytekit's own two are not provided at all, so connector-http's webhook serves
    ``webhook`` without a conflict, nothing claims ``sensor``, and no request leaves."""
    sensor_template, sensor_inputs = serialize(driver, FILE_SENSOR, path=str(tmp_path / "never"))
    served = bridge.serve()
    try:
        listed = served.v1_meta.ListAgents(agent_pb2.ListAgentsRequest(), timeout=60)
        sensor = create_task(served.v1, sensor_template, sensor_inputs)
    finally:
        served.stop()
    names = {agent.name for agent in listed.agents}
    assert "OpenAI Batch Endpoint Connector" in names
    assert names.isdisjoint({"Sensor", "Webhook Connector"})
    assert (sensor.code, sensor.details) == (
        grpc.StatusCode.NOT_FOUND,
        "no connector for task type 'sensor' version 0 is installed",
    )
    assert recorder.take() == []


# flytekit's webhook, pinned each way.


def test_webhook_pinned_to_flytekit_answers_as_pyflyte(
    driver: Driver, pyflyte: FlytekitService, ours: Served, recorder: Recorder
) -> None:
    """flytekit's own connector on both sides: the same answer and the same HTTP request, headers included."""
    template, inputs = serialize(driver, webhook(recorder.origin), s="h\u00e9llo", n=42)
    recorder.take()
    theirs = execute_sync(pyflyte.v1_sync, template, inputs)
    (their_request,) = recorder.take()
    mine = execute_sync(ours.v1_sync, template, inputs)
    (my_request,) = recorder.take()
    assert (mine.code, mine.details) == (theirs.code, theirs.details) == (grpc.StatusCode.OK, "")
    assert resource_fields(mine.response) == resource_fields(theirs.response)
    assert mine.response.outputs == theirs.response.outputs
    decoded = driver.ask("decode", task=webhook(recorder.origin), outputs=b64(mine.response.outputs))
    assert decoded["values"]["info"]["status_code"] == 200
    assert decoded["values"]["info"]["url"] == recorder.origin + "/items/42"
    assert decoded == driver.ask(
        "decode", task=webhook(recorder.origin), outputs=b64(theirs.response.outputs)
    )
    assert (my_request.method, my_request.path, my_request.query) == (
        their_request.method,
        their_request.path,
        their_request.query,
    )
    assert json.loads(my_request.body) == json.loads(their_request.body) == {"text": "h\u00e9llo"}
    assert my_request.header_map() == their_request.header_map()  # httpx's, User-Agent included
    assert my_request.header("user-agent").startswith("python-httpx/")  # type: ignore[union-attr]


def test_webhook_pinned_to_connector_http_is_served_by_it(
    bridge: BridgeVenv, driver: Driver, pyflyte: FlytekitService, recorder: Recorder
) -> None:
    template, inputs = serialize(driver, webhook(recorder.origin), s="x", n=7)
    served = bridge.serve(CONNECTOR_PIN="webhook=connector-http", CONNECTOR_HTTP_ALLOW=recorder.origin)
    try:
        recorder.take()
        theirs = execute_sync(pyflyte.v1_sync, template, inputs)
        mine = execute_sync(served.v1_sync, template, inputs)
        their_request, my_request = recorder.take()
    finally:
        served.stop()
    assert (mine.code, theirs.code) == (grpc.StatusCode.OK, grpc.StatusCode.OK), (
        mine.details,
        theirs.details,
    )
    assert resource_fields(mine.response) == resource_fields(theirs.response)
    spec = webhook(recorder.origin)
    assert driver.ask("decode", task=spec, outputs=b64(mine.response.outputs)) == driver.ask(
        "decode", task=spec, outputs=b64(theirs.response.outputs)
    )
    # Both send with httpx; connector-http alone asks for the body as sent (docs/compatibility.md).
    assert my_request.header("accept-encoding") == "identity"  # type: ignore[union-attr]
    assert their_request.header("accept-encoding") != "identity"  # type: ignore[union-attr]


# flytekit's sensor (connector-sensor is not installed here: the bridge serves flytekit's own).


def test_sensor_answers_as_pyflyte(
    driver: Driver, pyflyte: FlytekitService, ours: Served, tmp_path: Path
) -> None:
    path = tmp_path / "landed.csv"
    template, inputs = serialize(driver, FILE_SENSOR, path=str(path))
    theirs, mine = create_task(pyflyte.v1, template, inputs), create_task(ours.v1, template, inputs)
    assert (theirs.code, mine.code) == (grpc.StatusCode.OK, grpc.StatusCode.OK), (
        theirs.details,
        mine.details,
    )
    their_meta, my_meta = theirs.response.resource_meta, mine.response.resource_meta
    # The same job state: flytekit's own meta bytes, inside our signed envelope.
    assert flytekit_bytes(my_meta) == their_meta
    assert json.loads(their_meta)["inputs"] == {"path": str(path)}
    running = get_task(pyflyte.v1, their_meta, "sensor"), get_task(ours.v1, my_meta, "sensor")
    assert running[0].response.resource.phase == TaskExecution.RUNNING
    same(running[1], running[0])
    path.write_text("a,b\n")
    done = get_task(pyflyte.v1, their_meta, "sensor"), get_task(ours.v1, my_meta, "sensor")
    assert done[0].response.resource.phase == TaskExecution.SUCCEEDED
    same(done[1], done[0])
    deleted = delete_task(pyflyte.v1, their_meta, "sensor"), delete_task(ours.v1, my_meta, "sensor")
    assert [answer.code for answer in deleted] == [grpc.StatusCode.OK, grpc.StatusCode.OK]


# The OpenAI batch connector, against the fake API.


def batch_run(
    stub: Any, fake: FakeOpenAI, template: bytes, inputs: bytes, *, polls: int, cancel: bool = False
) -> tuple[bytes, list[Answer], list[Any]]:
    """Create, optionally delete, then poll ``polls`` times; the meta, the answers and the API calls."""
    fake.take()
    created = create_task(stub, template, inputs)
    assert created.code == grpc.StatusCode.OK, created.details
    meta = created.response.resource_meta
    answers = []
    if cancel:
        answers.append(delete_task(stub, meta, "openai-batch"))
    answers += [get_task(stub, meta, "openai-batch") for _ in range(polls)]
    return meta, answers, fake.take()


def api_calls(calls: list[Any]) -> list[tuple[str, str, Any, str | None, str | None]]:
    return [
        (c.method, c.path, c.body, c.headers.get("authorization"), c.headers.get("openai-organization"))
        for c in calls
    ]


def test_openai_batch_runs_as_on_pyflyte(
    driver: Driver, pyflyte: FlytekitService, ours: Served, fake_openai: FakeOpenAI
) -> None:
    template, inputs = serialize(driver, openai_batch(), input_file_id="file-abc")
    parsed = template_of(template)
    assert (parsed.type, dict(parsed.custom)["openai_organization"]) == ("openai-batch", ORGANIZATION)
    their_meta, theirs, their_calls = batch_run(pyflyte.v1, fake_openai, template, inputs, polls=2)
    my_meta, mine, my_calls = batch_run(ours.v1, fake_openai, template, inputs, polls=2)
    for my_answer, their_answer in zip(mine, theirs, strict=True):
        same(my_answer, their_answer)
    assert [a.response.resource.phase for a in theirs] == [TaskExecution.RUNNING, TaskExecution.SUCCEEDED]
    # flytekitplugins-openai pickles its meta (cloudpickle); ours carries the same kind of bytes, signed.
    assert their_meta.startswith(b"\x80")
    assert flytekit_bytes(my_meta).startswith(b"\x80")
    decoded = driver.ask("decode", task=openai_batch(), outputs=b64(mine[1].response.resource.outputs))
    assert decoded == driver.ask(
        "decode", task=openai_batch(), outputs=b64(theirs[1].response.resource.outputs)
    )
    result = decoded["values"]["result"]
    assert (result["id"], result["status"], result["output_file_id"]) == (
        "batch_file-abc",
        "completed",
        "file-out-batch_file-abc",
    )
    assert decoded["types"]["result"]["request_counts"] == {
        "total": "int",
        "completed": "int",
        "failed": "int",
    }
    # The same calls to the API, with flytekit's secret as the key and the template's organization.
    assert api_calls(my_calls) == api_calls(their_calls)
    assert api_calls(my_calls) == [
        (
            "POST",
            "/v1/batches",
            {**BATCH_CONFIG, "input_file_id": "file-abc"},
            f"Bearer {API_KEY}",
            ORGANIZATION,
        ),
        ("GET", "/v1/batches/batch_file-abc", None, f"Bearer {API_KEY}", ORGANIZATION),
        ("GET", "/v1/batches/batch_file-abc", None, f"Bearer {API_KEY}", ORGANIZATION),
    ]


def test_openai_batch_failure_and_delete_as_on_pyflyte(
    driver: Driver, pyflyte: FlytekitService, ours: Served, fake_openai: FakeOpenAI
) -> None:
    bad_template, bad_inputs = serialize(driver, openai_batch(), input_file_id="file-bad")
    _, theirs, _ = batch_run(pyflyte.v1, fake_openai, bad_template, bad_inputs, polls=1)
    _, mine, _ = batch_run(ours.v1, fake_openai, bad_template, bad_inputs, polls=1)
    same(mine[0], theirs[0])
    assert resource_fields(mine[0].response.resource) == {
        "phase": "FAILED",
        "message": "line 1 of the input file is not JSON",
    }

    template, inputs = serialize(driver, openai_batch(), input_file_id="file-cxl")
    _, theirs, their_calls = batch_run(pyflyte.v1, fake_openai, template, inputs, polls=1, cancel=True)
    _, mine, my_calls = batch_run(ours.v1, fake_openai, template, inputs, polls=1, cancel=True)
    assert [a.code for a in mine] == [a.code for a in theirs] == [grpc.StatusCode.OK, grpc.StatusCode.OK]
    same(mine[1], theirs[1])
    assert mine[1].response.resource.phase == TaskExecution.FAILED  # flytekitplugins-openai: cancelled
    assert (
        [c[:2] for c in api_calls(my_calls)]
        == [c[:2] for c in api_calls(their_calls)]
        == [
            ("POST", "/v1/batches"),
            ("POST", "/v1/batches/batch_file-cxl/cancel"),
            ("GET", "/v1/batches/batch_file-cxl"),
        ]
    )


def test_openai_batch_over_flyteidl2_is_invalid_argument(ours: Served) -> None:
    """flytekit connectors speak flyteidl v1 only; flytekit's own service has no flyteidl2 either."""
    request = v2_connector_pb2.CreateTaskRequest(
        template=v2_tasks_pb2.TaskTemplate(type="openai-batch", task_type_version=0)
    )
    answer = call(ours.v2.CreateTask, request)
    assert (answer.code, answer.details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "task type openai-batch@0 is served by flytekit's connector 'OpenAI Batch Endpoint Connector' "
        "(bridged by connector-flytekit), which speaks flyteidl v1 only, as flytekit's own service does: "
        "send the task through Flyte 1 (propeller's AsyncAgentService or SyncAgentService), or serve it for "
        "Flyte 2 with a native or Flyte 2 connector",
    )


# A switch-over: jobs pyflyte created, continued here.


def test_jobs_pyflyte_created_continue_here(
    bridge: BridgeVenv,
    driver: Driver,
    pyflyte: FlytekitService,
    fake_openai: FakeOpenAI,
    remote_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """flytekit's plain metas: JSON (sensor) with the core's opt-in; a pickle (OpenAI) only with ours too."""
    path = tmp_path / "switched"
    template, inputs = serialize(driver, FILE_SENSOR, path=str(path))
    sensor_meta = create_task(pyflyte.v1, template, inputs).response.resource_meta
    template, inputs = serialize(driver, openai_batch(), input_file_id="file-switch")
    batch_meta = create_task(pyflyte.v1, template, inputs).response.resource_meta
    accepting = bridge.serve(
        CONNECTOR_ACCEPT_UNSIGNED_META="1", CONNECTOR_PIN="webhook=flytekit", **remote_env, **OPT_IN
    )
    try:
        path.write_text("")
        polled = get_task(accepting.v1, sensor_meta, "sensor")
        refused = get_task(accepting.v1, batch_meta, "openai-batch")
    finally:
        accepting.stop()
    assert polled.code == grpc.StatusCode.OK, polled.details
    assert polled.response.resource.phase == TaskExecution.SUCCEEDED
    assert (refused.code, refused.details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the resource meta is not one task type openai-batch@0 wrote: cannot decode FlytekitMeta: flytekit's "
        "BatchEndpointConnector (task type openai-batch@0) decodes its metas with its own "
        "BatchEndpointMetadata.decode (not flytekit's JSON one), which may unpickle them, and no signature "
        "of this service vouches for these bytes: any caller may have sent them, and decoding them could run "
        "its code here. Finish the switch-over and unset CONNECTOR_ACCEPT_UNSIGNED_META, or set "
        "CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META=1 to accept that risk as flytekit's own service does",
    )
    trusting = bridge.serve(
        CONNECTOR_ACCEPT_UNSIGNED_META="1",
        CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META="1",
        CONNECTOR_PIN="webhook=flytekit",
        **remote_env,
        **OPT_IN,
    )
    try:
        continued = get_task(trusting.v1, batch_meta, "openai-batch")
    finally:
        trusting.stop()
    assert continued.code == grpc.StatusCode.OK, continued.details
    assert continued.response.resource.phase == TaskExecution.RUNNING


# A flytekit plugin whose import raises, installed beside the good ones.


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """flytekitplugins-warehouse 0.3 (its import raises), installed into a directory put on PYTHONPATH."""
    target = tmp_path_factory.mktemp("broken-site")
    pip_install_target(target, [broken_plugin_wheel(tmp_path_factory.mktemp("broken-wheel"))])
    return target


def test_check_names_the_broken_plugin(bridge: BridgeVenv, broken_site: Path, flytekit_version: str) -> None:
    done = bridge.connector("check", PYTHONPATH=str(broken_site), CONNECTOR_PIN="webhook=flytekit", **OPT_IN)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "BROKEN flytekit.plugins: warehouse: flytekitplugins-warehouse 0.3, entry point "
        "'flytekit.plugins: warehouse', bridged by provider 'flytekit' of connector-flytekit 0.1.0: "
        "the flytekit plugin flytekitplugins-warehouse 0.3 (entry point 'warehouse' = "
        "'flytekitplugins.warehouse' in flytekit.plugins) failed to import: ModuleNotFoundError: "
        "No module named 'warehouse_sdk'; its connectors are not served. To fix it, fix or upgrade "
        "flytekitplugins-warehouse, or uninstall it (pip uninstall flytekitplugins-warehouse)",
        f"DISABLED webhook@0: CONNECTOR_PIN chose flytekit {flytekit_version}",
        "5 connector(s) loaded, 1 disabled, 1 problem(s).",
    ]


def test_the_others_serve_beside_the_broken_plugin(
    bridge: BridgeVenv,
    broken_site: Path,
    driver: Driver,
    fake_openai: FakeOpenAI,
    remote_env: dict[str, str],
    recorder: Recorder,
) -> None:
    template, inputs = serialize(driver, openai_batch(), input_file_id="file-beside")
    hook_template, hook_inputs = serialize(driver, webhook(recorder.origin), s="beside", n=1)
    served = bridge.serve(
        PYTHONPATH=str(broken_site), CONNECTOR_PIN="webhook=flytekit", **remote_env, **OPT_IN
    )
    try:
        _, answers, _ = batch_run(served.v1, fake_openai, template, inputs, polls=2)
        hooked = execute_sync(served.v1_sync, hook_template, hook_inputs)
    finally:
        served.stop()
    assert [a.response.resource.phase for a in answers] == [TaskExecution.RUNNING, TaskExecution.SUCCEEDED]
    assert (hooked.code, hooked.response.phase) == (grpc.StatusCode.OK, TaskExecution.SUCCEEDED)


def test_pyflyte_does_not_start_beside_the_broken_plugin(bridge: BridgeVenv, broken_site: Path) -> None:
    """A difference: ``import flytekit`` loads every plugin, so flytekit's service stops at the broken one."""
    done = subprocess.run(
        [str(bridge.layer.bin / "pyflyte"), "serve", "connector", "--port", str(free_port())],
        env=bridge.environ(PYTHONPATH=str(broken_site)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "No module named 'warehouse_sdk'" in done.stdout + done.stderr


# connector run of a bridged connector, with the journal.


def test_connector_run_of_the_openai_batch_connector(
    bridge: BridgeVenv, fake_openai: FakeOpenAI, remote_env: dict[str, str], tmp_path: Path
) -> None:
    """Inputs typed by the template's interface become the literal map flytekit's connector reads."""
    template = tmp_path / "batch.json"
    template.write_text(
        json.dumps(
            {
                "custom": {"openai_organization": ORGANIZATION, "config": BATCH_CONFIG},
                "interface": {"inputs": {"input_file_id": "string"}, "outputs": {"result": "struct"}},
            }
        )
    )
    home = tmp_path / "home"
    fake_openai.take()
    done = bridge.connector(
        "run",
        "openai-batch",
        "--template",
        str(template),
        "--input",
        "input_file_id=file-run",
        "--poll-interval",
        "0.05",
        "--json",
        CONNECTOR_HOME=str(home),
        **remote_env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert (result["state"], result["phase"], result["category"]) == (
        "succeeded",
        "SUCCEEDED",
        "openai-batch@0",
    )
    assert result["outputs"]["result"]["id"] == "batch_file-run"
    assert result["outputs"]["result"]["status"] == "completed"
    assert result["journal"] == str(home / "jobs.sqlite3")
    assert next((c.method, c.path) for c in fake_openai.take()) == ("POST", "/v1/batches")
    jobs = bridge.connector("jobs", "list", "--json", CONNECTOR_HOME=str(home))
    assert jobs.returncode == 0, jobs.stderr
    (job,) = json.loads(jobs.stdout)
    assert (job["category"], job["state"]) == ("openai-batch@0", "succeeded")
