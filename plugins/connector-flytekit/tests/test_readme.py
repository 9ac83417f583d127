"""The messages the README quotes (its ``text`` blocks) are the ones connector-flytekit gives."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import cloudpickle
import flytekit_samples as samples
import pytest
from connector_flytekit import (
    FlytekitBuiltinDisabledError,
    FlytekitProvider,
    FlytekitRequestError,
    FlytekitUnavailableError,
    _flytekit,
    bridge,
)
from flyteidl.core import interface_pb2, tasks_pb2, types_pb2
from flyteidl2.core import tasks_pb2 as v2_tasks_pb2
from flytekit.sensor.sensor_engine import SensorEngine

import connector
from connector.registry._calls import run_blocking
from connector.testing import registry_of

README = Path(__file__).resolve().parents[1] / "README.md"


def quoted() -> list[str]:
    return re.findall(r"```text\n(.*?)\n```", README.read_text(), flags=re.DOTALL)


@dataclasses.dataclass
class BatchEndpointMetadata(samples.PickledMeta):
    """Named as flytekitplugins-openai's meta, which decodes itself with ``cloudpickle.loads``."""

    @classmethod
    def decode(cls, data: bytes) -> BatchEndpointMetadata:
        return cloudpickle.loads(data)  # type: ignore[no-any-return]


class BatchEndpointConnector(samples.PickleConnector):
    """Named and typed as flytekitplugins-openai's, with its pickled meta."""

    name = "OpenAI Batch Endpoint Connector"

    def __init__(self) -> None:
        super(samples.PickleConnector, self).__init__(
            task_type_name="openai-batch", metadata_type=BatchEndpointMetadata
        )


def calls(flytekit_connector: Any) -> connector.ConnectorCalls:
    adapter = bridge(flytekit_connector)
    return connector.ConnectorCalls(registry_of(adapter).get(adapter.task_category))


def unsupported(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(_flytekit, "flytekit_version", lambda: "1.15.4")
    with pytest.raises(FlytekitUnavailableError) as info:
        _flytekit.import_flytekit()
    return str(info.value)


def pickled(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META", raising=False)
    adapter = bridge(BatchEndpointConnector())
    assert adapter.metadata_type is not None
    with pytest.raises(connector.ResourceMetaError) as info:
        adapter.metadata_type.decode_unsigned(
            cloudpickle.dumps(samples.PickledMeta(openai_org="o", batch_id="b"))
        )
    return str(info.value)


def pickled_input(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_INPUTS", raising=False)
    blob = types_pb2.LiteralType(blob=types_pb2.BlobType(format="PythonPickle"))
    interface = interface_pb2.TypedInterface(
        inputs=interface_pb2.VariableMap(variables={"path": interface_pb2.Variable(type=blob)})
    )
    raw = tasks_pb2.TaskTemplate(type="sensor", interface=interface)
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls(SensorEngine()).create(connector.TaskTemplate("sensor", raw=raw)))
    return str(info.value)


def builtin_refused(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("CONNECTOR_FLYTEKIT_BUILTINS", raising=False)
    provided = connector.ProvidedConnector("sensor", 0, "Sensor", "flytekit", "1.16.31", "flytekit")
    with pytest.raises(FlytekitBuiltinDisabledError) as info:
        FlytekitProvider().load(provided)
    return str(info.value)


def flyteidl2() -> str:
    template = connector.TaskTemplate("openai-batch", raw=v2_tasks_pb2.TaskTemplate(type="openai-batch"))
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls(BatchEndpointConnector()).create(template))
    return str(info.value)


def test_the_readme_quotes_the_real_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    assert quoted() == [
        unsupported(monkeypatch),
        builtin_refused(monkeypatch),
        pickled_input(monkeypatch),
        pickled(monkeypatch),
        flyteidl2(),
    ]
