"""FlyteConnector's hooks through connector-core's call layer, with Flyte 2 connectors defined here."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_flyte import (
    FlyteBridgeError,
    FlyteConnector,
    FlyteConnectorGone,
    FlyteEntryPoint,
    FlyteEntryPointError,
    FlyteProvider,
    FlyteRequestError,
)
from connector_flyte._adapter import bridge
from connector_flyte._flyte import flyte_sdk
from flyte.connectors import AsyncConnector, Resource
from flyte.connectors import ResourceMeta as FlyteResourceMeta
from flyte_wheels import BROKEN_MESSAGE
from flyteidl2.connector import connector_pb2
from flyteidl2.core import interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flyteidl2.core.execution_pb2 import TaskExecution
from flyteidl2.core.metrics_pb2 import ExecutionMetricResult
from flyteidl2.task import common_pb2

from connector import Connection, LogsChunk, ProvidedConnector, TaskExecutionMetadata, TaskTemplate
from connector.registry._calls import ConnectorCalls
from connector.testing import registry_of

ENTRY_POINT = FlyteEntryPoint("probe", "probe_module:Probe", "probe-flyte", "0.1")


@dataclasses.dataclass
class ProbeMeta(FlyteResourceMeta):
    seen: dict[str, str]


class Probe(AsyncConnector):
    """A probe: its meta records the keyword arguments create got."""

    name = "Probe"
    task_type_name = "probe"
    metadata_type = ProbeMeta

    async def create(
        self, task_template: Any, output_prefix: str, inputs: Any = None, **kwargs: Any
    ) -> ProbeMeta:
        return ProbeMeta(seen={"inputs": repr(inputs), **{k: repr(v) for k, v in kwargs.items()}})

    async def get(self, resource_meta: ProbeMeta, **kwargs: Any) -> Resource:
        return Resource(phase=TaskExecution.SUCCEEDED)

    async def delete(self, resource_meta: ProbeMeta, **kwargs: Any) -> None:
        return None

    async def get_logs(self, resource_meta: ProbeMeta, **kwargs: Any) -> connector_pb2.GetTaskLogsResponse:
        body = connector_pb2.GetTaskLogsResponseBody(results=["one", "two"])
        return connector_pb2.GetTaskLogsResponse(body=body)

    async def get_metrics(
        self, resource_meta: ProbeMeta, **kwargs: Any
    ) -> connector_pb2.GetTaskMetricsResponse:
        result = ExecutionMetricResult(metric="odd")
        result.data.update({"value": 1})
        return connector_pb2.GetTaskMetricsResponse(results=[result])


def calls() -> ConnectorCalls:
    return ConnectorCalls(registry_of(bridge(Probe(), flyte_sdk(), ENTRY_POINT)).get("probe"))


def template(**inputs: int) -> TaskTemplate:
    """A flyteidl2 template declaring integer inputs, as the core hands it to a raw-literals connector."""
    message = tasks_pb2.TaskTemplate(type="probe")
    for name in inputs:
        message.interface.inputs.variables.add(
            key=name, value=interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.INTEGER))
        )
    return TaskTemplate("probe", raw=message)


def integers(**values: Any) -> common_pb2.Inputs:
    literals = []
    for name, value in values.items():
        literal = literals_pb2.Literal()
        if isinstance(value, int):
            literal.scalar.primitive.integer = value
        else:
            literal.scalar.primitive.string_value = value
        literals.append(common_pb2.NamedLiteral(name=name, value=literal))
    return common_pb2.Inputs(literals=literals)


def test_the_loaded_connector_validates_as_a_native_one() -> None:
    loaded = registry_of(bridge(Probe(), flyte_sdk(), ENTRY_POINT)).get("probe")
    assert (loaded.name, loaded.raw_literals, loaded.is_sync) == ("Probe", True, False)
    assert loaded.hooks == {"create", "get", "delete", "get_logs", "get_metrics"}
    assert loaded.doc == "A probe: its meta records the keyword arguments create got."
    assert isinstance(loaded.connector, FlyteConnector)


async def test_create_gets_native_inputs_metadata_and_the_connection_as_keywords() -> None:
    meta = await calls().create(
        template(n=1),
        output_prefix="s3://b/p",
        inputs=integers(n=7),
        task_execution_metadata=TaskExecutionMetadata(namespace="ns"),
        connection=Connection(
            secrets={"token": "secret", "shared": "from-secret"}, configs={"shared": "from-config"}
        ),
    )
    assert ProbeMeta.decode(meta.flyte_meta).seen == {
        "inputs": "{'n': 7}",
        "task_execution_metadata": repr(connector_pb2.TaskExecutionMetadata(namespace="ns")),
        "token": "'secret'",
        "shared": "'from-config'",  # a config replaces a secret of the same name, as in Flyte 2
    }


async def test_inputs_flyte2_cannot_convert_are_a_bad_request() -> None:
    with pytest.raises(FlyteRequestError) as info:
        await calls().create(template(n=1), inputs=integers(n="seven"))
    assert info.value.field == "inputs"
    assert str(info.value) == (
        "the inputs of task type probe@0 cannot be converted by Flyte 2's TypeEngine: "
        "TypeTransformerFailedError: Error converting input 'n': Literal value: scalar { primitive { "
        "string_value: \"seven\" } } Expected Python type: <class 'int'> Exception: Cannot convert literal "
        'scalar { primitive { string_value: "seven" } } to int; send the inputs the template\'s '
        "interface declares"
    )


async def test_a_template_without_its_message_is_a_bad_request() -> None:
    with pytest.raises(FlyteRequestError) as info:
        await calls().create(TaskTemplate("probe"), inputs=common_pb2.Inputs())
    assert str(info.value) == (
        "task type probe@0 is served by the Flyte 2 connector test_adapter.Probe (probe-flyte 0.1, entry "
        "point 'probe' (probe_module:Probe) in group 'flyte.connectors'), which needs the request's "
        "flyteidl2 TaskTemplate; got NoneType in task_template.raw"
    )


async def test_logs_from_a_coroutine_are_one_chunk() -> None:
    probe = calls()
    meta = await probe.create(template(), inputs=common_pb2.Inputs())
    assert [chunk async for chunk in probe.logs(meta)] == [LogsChunk(lines=("one", "two"))]


async def test_metrics_in_another_layout_are_refused_with_the_reason() -> None:
    probe = calls()
    meta = await probe.create(template(), inputs=common_pb2.Inputs())
    with pytest.raises(FlyteBridgeError) as info:
        await probe.metrics(meta)
    assert str(info.value) == (
        "the Flyte 2 connector test_adapter.Probe (probe-flyte 0.1, entry point 'probe' "
        "(probe_module:Probe) in group 'flyte.connectors'): get_metrics returned metric 'odd' whose data "
        "is not a Prometheus range result ({'result': [{'values': [[time, value], ...]}]}), the only "
        "layout connector-core carries"
    )


def test_load_of_a_task_type_no_longer_registered(install: Callable[..., None]) -> None:
    install("acme")
    gone = ProvidedConnector(
        "acme_gone", 0, "Acme Connector", "acme-flyte", "1.0", "acme=acme_flyte.connector:AcmeConnector"
    )
    with pytest.raises(FlyteConnectorGone) as info:
        FlyteProvider().load(gone)
    assert str(info.value) == (
        "acme-flyte 1.0, entry point 'acme' (acme_flyte.connector:AcmeConnector) in group 'flyte.connectors' "
        "no longer registers a connector for task type acme_gone@0 in Flyte 2's ConnectorRegistry; reinstall "
        "the distribution, or run `connector list` to see what it provides now"
    )


def test_load_of_an_entry_point_that_raises(install: Callable[..., None]) -> None:
    install("broken")
    provided = ProvidedConnector(
        "x", 0, "X", "acme-flyte-broken", "0.3", "broken=acme_broken:BrokenConnector"
    )
    with pytest.raises(FlyteEntryPointError) as info:
        FlyteProvider().load(provided)
    assert (info.value.entry_point, info.value.target, info.value.distribution) == (
        "broken", "acme_broken:BrokenConnector", "acme-flyte-broken"
    )  # fmt: skip
    assert str(info.value).endswith(
        f"raised ImportError: {BROKEN_MESSAGE}; install what it needs or upgrade acme-flyte-broken, "
        "or uninstall acme-flyte-broken"
    )
    assert isinstance(info.value.__cause__, ImportError)


@pytest.mark.parametrize(
    ("connection", "kind", "key"),
    [
        (Connection(secrets={"inputs": "x"}), "secret", "inputs"),
        (Connection(configs={"task_template": "x"}), "config", "task_template"),
        (Connection(secrets={"token": "t", "resource_meta": "x"}), "secret", "resource_meta"),
        (Connection(configs={"self": "x"}), "config", "self"),
    ],
)
async def test_a_connection_key_named_as_a_call_argument_is_a_bad_request(
    connection: Connection, kind: str, key: str
) -> None:
    """Issue 11's review: such a key made the call raise TypeError (INTERNAL) for the caller's input."""
    probe = calls()
    meta = await probe.create(template(), inputs=common_pb2.Inputs())
    expected = (
        f"the Connection's {kind} {key!r} is named as an argument Flyte 2 connectors are called with "
        f"(inputs, output_prefix, resource_meta, self, task_execution_metadata, task_template); rename "
        f"the {kind}"
    )
    for call in (
        lambda: probe.create(template(), inputs=common_pb2.Inputs(), connection=connection),
        lambda: probe.get(meta, connection=connection),
        lambda: probe.delete(meta, connection=connection),
    ):
        with pytest.raises(FlyteRequestError) as info:
            await call()
        assert (str(info.value), info.value.field) == (expected, f"connection.{kind}s.{key}")


def test_load_imports_only_an_installed_entry_point(tmp_path: Path, install: Callable[..., None]) -> None:
    """Issue 11's review: a key that names no installed entry point is refused, and nothing is imported."""
    install("acme")
    made = tmp_path / "imported"
    (tmp_path / "not_an_entry_point.py").write_text(f"import os\nos.mkdir({str(made)!r})\n")
    sys.path.insert(0, str(tmp_path))  # the install fixture puts sys.path back
    forged = ProvidedConnector(
        "acme_job", 0, "Acme Connector", "acme-flyte", "1.0", "acme=not_an_entry_point:AcmeConnector"
    )
    with pytest.raises(FlyteConnectorGone) as info:
        FlyteProvider().load(forged)
    assert not made.exists()
    assert str(info.value) == (
        "no installed entry point in group 'flyte.connectors' is 'acme=not_an_entry_point:AcmeConnector' "
        "(listed for task type acme_job@0 of acme-flyte), and connector-flyte imports installed entry "
        "points only; reinstall the distribution, or run `connector list` to see what is installed now"
    )
