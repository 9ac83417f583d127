"""Declared fields over the wire (issue 12): a template that breaks them is INVALID_ARGUMENT, both protocols.

Through a loopback server and the generated stubs of flyteidl (v1) and flyteidl2 (v2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import tasks_pb2
from flyteidl.service import agent_pb2_grpc
from flyteidl2.connector import connector_pb2, service_pb2_grpc
from flyteidl2.core import tasks_pb2 as tasks2_pb2

from connector.testing import registry_of
from tests.server.conftest import serving_in_thread
from tests.test_fields import CRASH, AsyncDeploy, CrashingApply, Deploy, seen

PROTOCOLS = ("v1", "v2")


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    registry = registry_of(Deploy, AsyncDeploy, CrashingApply)
    with (
        serving_in_thread(registry, prometheus_port=None, timeout=10) as address,
        grpc.insecure_channel(address) as channel,
    ):
        yield channel


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    seen.clear()


def create(
    channel: grpc.Channel, protocol: str, custom: dict[str, Any], task_type: str = "async-deploy"
) -> tuple[grpc.StatusCode, str]:
    """CreateTask of ``task_type`` with these custom fields: the status code and its message."""
    if protocol == "v1":
        template: Any = tasks_pb2.TaskTemplate(type=task_type)
        template.custom.update(custom)
        request: Any = agent_pb2.CreateTaskRequest(template=template)
        stub: Any = agent_pb2_grpc.AsyncAgentServiceStub(channel)
    else:
        template = tasks2_pb2.TaskTemplate(type=task_type)
        template.custom.update(custom)
        request = connector_pb2.CreateTaskRequest(template=template)
        stub = service_pb2_grpc.AsyncConnectorServiceStub(channel)
    try:
        stub.CreateTask(request, timeout=10)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


def execute_sync(
    channel: grpc.Channel, custom: dict[str, Any], task_type: str = "deploy"
) -> tuple[grpc.StatusCode, str]:
    """ExecuteTaskSync (flyteidl v1) of ``task_type`` with these custom fields."""
    template = tasks_pb2.TaskTemplate(type=task_type)
    template.custom.update(custom)
    requests = [agent_pb2.ExecuteTaskSyncRequest(header=agent_pb2.CreateRequestHeader(template=template))]
    try:
        list(agent_pb2_grpc.SyncAgentServiceStub(channel).ExecuteTaskSync(iter(requests), timeout=10))
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


GOOD = {"service": "api", "submit": {"url": "http://deploy"}}

CASES = [
    ({**GOOD, "servce": "api"}, "unknown custom field 'servce'; did you mean 'service'?"),
    (
        {**GOOD, "colour": "blue"},
        "unknown custom field 'colour'; the custom fields are: service, replicas, ratio, dry_run, labels, "
        "submit, timeout",
    ),
    ({"submit": {"url": "http://deploy"}}, "the custom field 'service' is required"),
    ({**GOOD, "replicas": 2.5}, "the custom field 'replicas' must be an integer; got a number"),
    (
        {"service": "api", "submit": {"urll": "x"}},
        "unknown custom field 'submit.urll'; did you mean 'submit.url'?",
    ),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("custom", "message"), CASES)
def test_create_with_a_bad_template_is_invalid_argument(
    channel: grpc.Channel, protocol: str, custom: dict[str, Any], message: str
) -> None:
    assert create(channel, protocol, custom) == (grpc.StatusCode.INVALID_ARGUMENT, f"async-deploy: {message}")
    assert seen == []  # refused before the connector ran


@pytest.mark.parametrize(("custom", "message"), CASES)
def test_execute_task_sync_with_a_bad_template_is_invalid_argument(
    channel: grpc.Channel, custom: dict[str, Any], message: str
) -> None:
    assert execute_sync(channel, custom) == (grpc.StatusCode.INVALID_ARGUMENT, f"deploy: {message}")
    assert seen == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_good_template_reaches_the_hook_with_defaults_and_whole_numbers_as_ints(
    channel: grpc.Channel, protocol: str
) -> None:
    # A Struct carries every number as a double: 3 arrives as 3.0, and the int field gives the hook 3.
    assert create(channel, protocol, {**GOOD, "replicas": 3}) == (grpc.StatusCode.OK, "")
    assert seen == [
        {
            "service": "api",
            "submit": {"url": "http://deploy", "method": "POST"},
            "replicas": 3,
            "dry_run": False,
            "labels": {"team": "core"},
        }
    ]
    assert type(seen[0]["replicas"]) is int


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_create_of_a_sync_connector_with_a_bad_template_is_unimplemented_with_its_hint(
    channel: grpc.Channel, protocol: str
) -> None:
    # The hook check comes first: the template is not what is wrong (issue 12).
    code, message = create(channel, protocol, {"servce": 1}, task_type="deploy")
    assert (code, message) == (
        grpc.StatusCode.UNIMPLEMENTED,
        "connector for task type deploy@0 does not implement create; it is a sync connector: call "
        "SyncAgentService.ExecuteTaskSync",
    )
    assert seen == []


def test_a_raising_custom_fields_apply_is_internal_with_the_hook_crash_message(channel: grpc.Channel) -> None:
    assert execute_sync(channel, {"url": "http://x"}, task_type="crashing-apply") == (
        grpc.StatusCode.INTERNAL,
        CRASH,
    )
    assert seen == []
