"""connector-flyte end to end: a third-party Flyte 2 connector behind a real ``connector serve``, side by
side with Flyte 2's own ``ConnectorService`` (issue 11).

One cached virtualenv (``bridge_flyte_support.bridge_venv``) holds real flyte from PyPI,
connector-core[server] and connector-flyte built from this checkout, the acme connector package
(``acme_job`` and ``acme_report@1``, a ``flyte.connectors.AsyncConnector`` registered on import and
advertised in ``flyte.connectors``) and a package whose module raises on import. From it run
``connector serve`` and Flyte 2's ``ConnectorService.run``; the same flyteidl2 requests (a template
and inputs made by Flyte 2, a Connection with a secret and configs) go to both through the
generated stubs, and the answers are compared field by field. What differs on purpose is asserted
as it is (connector-flyte's README lists it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl2.connector import connector_pb2
from flyteidl2.core import types_pb2
from flyteidl2.core.execution_pb2 import TaskExecution
from google.protobuf import json_format

from connector.registry._signing import unwrap
from tests.compat.bridge_flyte_support import (
    BROKEN_MESSAGE,
    OUTPUT_PREFIX,
    SECRET,
    FlyteService,
    acme_request,
    bridge_venv,
    category,
    connection,
    connector_serve_in,
    create_request,
    job_id,
    local_job_id,
    run_in,
    with_task_log_fields,
)
from tests.compat.venvs import CachedVenv
from tests.compat.wire import Answer, call
from tests.server.served import Served

pytestmark = pytest.mark.compat

OK = grpc.StatusCode.OK
BROKEN_ERROR = (
    "acme-flyte-broken 0.3, entry point 'flyte.connectors: broken', bridged by provider 'flyte' of "
    "connector-flyte 0.1.0: importing the Flyte 2 connector module acme_broken:BrokenConnector raised "
    f"ImportError: {BROKEN_MESSAGE}; install what it needs or upgrade acme-flyte-broken, or uninstall "
    "acme-flyte-broken"
)


@pytest.fixture(scope="module")
def venv(core_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> CachedVenv:
    return bridge_venv(core_wheel, tmp_path_factory.mktemp("bridge-wheels"))


@pytest.fixture(scope="module")
def flyte(venv: CachedVenv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlyteService]:
    service = FlyteService(venv, tmp_path_factory.mktemp("flyte-service"))
    yield service
    service.close()


@pytest.fixture(scope="module")
def ours(venv: CachedVenv) -> Iterator[Served]:
    served = connector_serve_in(venv)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def acme(venv: CachedVenv) -> tuple[Any, Any]:
    """The ``acme_job`` template and inputs (n=3, name="ada", weights=[0.5, 1.25]) Flyte 2 makes."""
    return acme_request(venv, n=3, name="ada", weights=[0.5, 1.25])


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """Where the acme jobs leave their files (the Connection's ``state_dir`` config)."""
    return tmp_path


def inner(meta: bytes) -> bytes:
    """The Flyte 2 meta inside a meta ``connector serve`` handed out (signed envelope, FlyteMeta document)."""
    key_id, payload = unwrap(meta)
    assert key_id == "compat"
    document = json.loads(payload)
    assert document.keys() == {"v", "data"}
    return base64.b64decode(document["data"]["flyte_meta"])


def create_both(
    acme: tuple[Any, Any], flyte: FlyteService, ours: Served, state_dir: Path
) -> tuple[bytes, bytes]:
    """CreateTask with the same request to both; each one's resource meta."""
    request = create_request(*acme, state_dir)
    theirs, mine = call(flyte.v2.CreateTask, request), call(ours.v2.CreateTask, request)
    assert (theirs.code, mine.code) == (OK, OK), (theirs.details, mine.details)
    return theirs.response.resource_meta, mine.response.resource_meta


def get_both(
    flyte: FlyteService, ours: Served, metas: tuple[bytes, bytes], state_dir: Path
) -> tuple[Answer, Answer]:
    requests = [
        connector_pb2.GetTaskRequest(
            task_category=category(),
            resource_meta=meta,
            output_prefix=OUTPUT_PREFIX,
            connection=connection(state_dir),
        )
        for meta in metas
    ]
    return call(flyte.v2.GetTask, requests[0]), call(ours.v2.GetTask, requests[1])


def test_the_venv_holds_real_flyte_and_the_bridge(venv: CachedVenv) -> None:
    assert venv.version_of("flyte").startswith("2.")
    assert (venv.version_of("connector-flyte"), venv.version_of("acme-flyte")) == ("0.1.0", "1.0")
    assert venv.version_of("connector-core") == "0.1.0"


def test_check_names_the_broken_package_and_exits_1(venv: CachedVenv) -> None:
    checked = run_in(venv, ["connector", "check"])
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert checked.stdout.splitlines() == [
        f"BROKEN flyte.connectors: broken: {BROKEN_ERROR}",
        "2 connector(s) loaded, 0 disabled, 1 problem(s).",
    ]
    listed = json.loads(run_in(venv, ["connector", "list", "--json"]).stdout)
    assert [
        (item["category"], item["distribution"], item["state"], item["provider"]["distribution"])
        for item in listed
    ] == [
        (None, "acme-flyte-broken", "broken", "connector-flyte"),
        ("acme_job@0", "acme-flyte", "available", "connector-flyte"),
        ("acme_report@1", "acme-flyte", "available", "connector-flyte"),
    ]


def test_create_passes_what_flyte2_passes(
    acme: tuple[Any, Any], flyte: FlyteService, ours: Served, state_dir: Path
) -> None:
    """The same meta bytes, so the same template, inputs, metadata and Connection reached the connector."""
    theirs, mine = create_both(acme, flyte, ours, state_dir)
    assert inner(mine) == theirs
    meta = json.loads(theirs)
    assert (meta["warehouse"], meta["total"], meta["greeting"], meta["weight_sum"], meta["namespace"]) == (
        "wh-1", 6, "hello ada", 1.75, "acme-development"
    )  # fmt: skip
    assert meta["token_sha"] is not None
    assert SECRET.encode() not in mine
    assert json.loads((state_dir / f"{meta['job_id']}.created").read_text()) == ["region", "state_dir"]


def test_get_answers_as_flyte2(
    acme: tuple[Any, Any], flyte: FlyteService, ours: Served, state_dir: Path
) -> None:
    metas = create_both(acme, flyte, ours, state_dir)
    theirs, mine = get_both(flyte, ours, metas, state_dir)
    assert (theirs.code, mine.code) == (OK, OK), (theirs.details, mine.details)
    assert theirs.response.resource.phase == TaskExecution.RUNNING
    assert mine.response.resource == with_task_log_fields(theirs.response.resource)

    (state_dir / f"{job_id(metas[0])}.done").write_text("")
    theirs, mine = get_both(flyte, ours, metas, state_dir)
    assert (theirs.code, mine.code) == (OK, OK), (theirs.details, mine.details)
    resource = theirs.response.resource
    assert resource.phase == TaskExecution.SUCCEEDED
    assert [literal.name for literal in resource.outputs.literals] == [
        "total",
        "greeting",
        "weight_sum",
        "signed",
        "info",
    ]
    assert mine.response.resource.outputs == resource.outputs  # made by Flyte 2's own conversion
    assert mine.response.resource == with_task_log_fields(resource)
    # A difference: connector.TaskLog has no place for a flyteidl2 TaskLog's link_type, ready, icon_uri.
    (link,) = resource.log_links
    assert (link.ready, link.icon_uri) == (True, "https://acme.example/icon.png")
    (link,) = mine.response.resource.log_links
    assert (link.ready, link.icon_uri) == (False, "")


def test_delete_as_flyte2(acme: tuple[Any, Any], flyte: FlyteService, ours: Served, state_dir: Path) -> None:
    metas = create_both(acme, flyte, ours, state_dir)
    deleted = state_dir / f"{job_id(metas[0])}.deleted"
    for stub, meta in ((flyte.v2, metas[0]), (ours.v2, metas[1])):
        deleted.unlink(missing_ok=True)
        request = connector_pb2.DeleteTaskRequest(
            task_category=category(), resource_meta=meta, connection=connection(state_dir)
        )
        answer = call(stub.DeleteTask, request)
        assert (answer.code, answer.response) == (OK, connector_pb2.DeleteTaskResponse()), answer.details
        assert deleted.read_text() == "deleted"


def test_logs_page_as_flyte2s(
    acme: tuple[Any, Any], flyte: FlyteService, ours: Served, state_dir: Path
) -> None:
    metas = create_both(acme, flyte, ours, state_dir)
    pages = []
    for stub, meta in ((flyte.v2, metas[0]), (ours.v2, metas[1])):
        request = connector_pb2.GetTaskLogsRequest(task_category=category(), resource_meta=meta)
        pages.append(list(stub.GetTaskLogs(request, timeout=60)))
    theirs, mine = pages
    assert (
        theirs[0]
        == mine[0]
        == connector_pb2.GetTaskLogsResponse(header=connector_pb2.GetTaskLogsResponseHeader(token="page-2"))
    )
    # A difference: a structured LogLine's text arrives as a text line.
    assert [line.message for line in theirs[1].body.lines] == list(mine[1].body.results)
    assert len(theirs) == len(mine) == 2


def test_list_connectors_as_flyte2(flyte: FlyteService, ours: Served) -> None:
    theirs = call(flyte.v2_meta.ListConnectors, connector_pb2.ListConnectorsRequest())
    mine = call(ours.v2_meta.ListConnectors, connector_pb2.ListConnectorsRequest())
    assert (theirs.code, mine.code) == (OK, OK)
    assert json_format.MessageToDict(theirs.response) == {
        "connectors": [
            {
                "name": "Acme Connector",
                "supportedTaskCategories": [{"name": "acme_job"}, {"name": "acme_report", "version": 1}],
            }
        ]
    }
    assert mine.response == theirs.response


def test_errors(acme: tuple[Any, Any], flyte: FlyteService, ours: Served, state_dir: Path) -> None:
    """The same codes; the wording is each service's own."""
    request = create_request(*acme, state_dir)
    request.connection.configs.pop("state_dir")
    theirs, mine = call(flyte.v2.CreateTask, request), call(ours.v2.CreateTask, request)
    failure = "the Connection has no config 'state_dir', and ACME_STATE_DIR is not set"
    assert (theirs.code, theirs.details) == (
        grpc.StatusCode.INTERNAL,
        f"failed to create acme_job task with error:\n {failure}.",
    )
    assert (mine.code, mine.details) == (
        grpc.StatusCode.INTERNAL,
        f"create for task type acme_job@0 failed: ValueError: {failure}",
    )

    unknown = connector_pb2.GetTaskRequest(task_category=category("nope"), resource_meta=b"{}")
    theirs, mine = call(flyte.v2.GetTask, unknown), call(ours.v2.GetTask, unknown)
    assert (theirs.code, theirs.details) == (
        grpc.StatusCode.NOT_FOUND,
        "Cannot find connector for task type: nope.",
    )
    assert (mine.code, mine.details) == (
        grpc.StatusCode.NOT_FOUND,
        "no connector for task type 'nope' version 0 is installed",
    )


def test_a_job_flyte2_started_goes_on_after_a_switch_over(
    venv: CachedVenv, acme: tuple[Any, Any], flyte: FlyteService, ours: Served, state_dir: Path
) -> None:
    """Flyte 2's plain meta: refused by default, polled and deleted with CONNECTOR_ACCEPT_UNSIGNED_META=1."""
    theirs, _ = create_both(acme, flyte, ours, state_dir)
    request = connector_pb2.GetTaskRequest(
        task_category=category(), resource_meta=theirs, connection=connection(state_dir)
    )
    refused = call(ours.v2.GetTask, request)
    assert (refused.code, refused.details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the resource meta of task type acme_job@0 is not signed by this service; if another service wrote "
        "it before a switch-over, set CONNECTOR_ACCEPT_UNSIGNED_META=1 to accept it",
    )
    accepting = connector_serve_in(venv, CONNECTOR_ACCEPT_UNSIGNED_META="1")
    try:
        (state_dir / f"{job_id(theirs)}.done").write_text("")
        polled, expected = call(accepting.v2.GetTask, request), call(flyte.v2.GetTask, request)
        assert (polled.code, polled.response.resource) == (
            OK,
            with_task_log_fields(expected.response.resource),
        )
        assert polled.response.resource.phase == TaskExecution.SUCCEEDED
        delete = connector_pb2.DeleteTaskRequest(
            task_category=category(), resource_meta=theirs, connection=connection(state_dir)
        )
        assert call(accepting.v2.DeleteTask, delete).code == OK
        assert (state_dir / f"{job_id(theirs)}.deleted").read_text() == "deleted"
    finally:
        accepting.stop()


def test_connector_run(venv: CachedVenv, tmp_path: Path) -> None:
    """``connector run`` of the bridged connector: inputs typed by the template's interface, outputs too."""
    template = tmp_path / "acme.json"
    interface = {
        "inputs": {"n": "integer", "name": "string"},
        "outputs": {
            "total": "integer",
            "greeting": "string",
            "weight_sum": "float",
            "signed": "boolean",
            "info": "struct",
        },
    }
    template.write_text(json.dumps({"interface": interface}))
    prefix = str(tmp_path / "out")
    (tmp_path / f"{local_job_id('wh-1', {'n': 4, 'name': 'bo'}, prefix)}.done").write_text("")
    ran = run_in(
        venv,
        ["connector", "run", "acme_job", "--template", str(template), "--custom", "warehouse=wh-1",
         "--input", "n=4", "--input", "name=bo", "--output-prefix", prefix, "--json"],
        ACME_STATE_DIR=str(tmp_path),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    document = json.loads(ran.stdout)
    assert (document["phase"], document["message"]) == ("SUCCEEDED", "done")
    assert document["outputs"] == {
        "total": 8,
        "greeting": "hello bo",
        "weight_sum": 0.0,
        "signed": False,
        "info": {"warehouse": "wh-1", "rows": 3},
    }


def test_a_pickled_input_is_refused_where_flyte2_unpickles_it(
    acme: tuple[Any, Any], flyte: FlyteService, ours: Served, state_dir: Path
) -> None:
    """Issue 11's review: a BINARY input holding a pickle runs the caller's code in Flyte 2's service;
    ``connector serve`` refuses it with INVALID_ARGUMENT before Flyte 2's TypeEngine sees it."""
    template, inputs = acme
    template = type(template).FromString(template.SerializeToString())
    template.interface.inputs.variables.add(key="payload").value.type.simple = types_pb2.BINARY
    request = create_request(template, inputs, state_dir)
    made = state_dir / "pwned"
    payload = request.inputs.literals.add(name="payload")
    payload.value.scalar.binary.value = f"cos\nmkdir\n(V{made}\ntR.".encode()

    mine = call(ours.v2.CreateTask, request)
    assert (mine.code, mine.details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the input 'payload' of task type acme_job@0 declares a pickle (simple type BINARY at payload), "
        "which Flyte 2's TypeEngine would unpickle, running whatever code the caller put in it; send the "
        "input in a type Flyte 2 serializes without pickle, or have the operator accept pickled inputs "
        "from every caller with CONNECTOR_FLYTE_ACCEPT_PICKLED_INPUTS=1",
    )
    assert not made.exists()
    call(flyte.v2.CreateTask, request)  # whatever it answers, it unpickled the payload first
    assert made.is_dir()


def test_a_connection_key_named_as_an_argument(
    acme: tuple[Any, Any], flyte: FlyteService, ours: Served, state_dir: Path
) -> None:
    """Flyte 2's service fails the call with a TypeError (INTERNAL); connector serve names the key."""
    request = create_request(*acme, state_dir)
    request.connection.secrets["inputs"] = "x"
    theirs, mine = call(flyte.v2.CreateTask, request), call(ours.v2.CreateTask, request)
    assert theirs.code == grpc.StatusCode.INTERNAL
    assert (mine.code, mine.details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "the Connection's secret 'inputs' is named as an argument Flyte 2 connectors are called with "
        "(inputs, output_prefix, resource_meta, self, task_execution_metadata, task_template); rename the "
        "secret",
    )
