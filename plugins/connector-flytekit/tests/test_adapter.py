"""``bridge``: the adapter of one flytekit connector, as the core validates and calls it (no gRPC here)."""

from __future__ import annotations

from typing import Any

import cloudpickle
import flytekit_samples as samples
import pytest
from connector_flytekit import (
    FlytekitAsyncConnector,
    FlytekitMeta,
    FlytekitRequestError,
    FlytekitSyncConnector,
    bridge,
)
from flyteidl.core import literals_pb2, tasks_pb2

import connector
from connector.registry._calls import run_blocking
from connector.testing import registry_of


def calls_of(flytekit_connector: Any) -> connector.ConnectorCalls:
    adapter = bridge(flytekit_connector)
    return connector.ConnectorCalls(registry_of(adapter).get(adapter.task_category))


def test_an_async_connector_becomes_an_async_adapter_with_its_name_and_hooks() -> None:
    job = samples.JobConnector()
    adapter = bridge(job)
    assert isinstance(adapter, FlytekitAsyncConnector)
    assert (type(adapter).name, adapter.task_type_name, adapter.task_type_version) == (
        "Job Connector",
        "fk_job",
        0,
    )
    assert adapter.raw_literals is True
    # A FlytekitMeta of its own, which knows how flytekit decodes its metas (decode_unsigned).
    assert adapter.metadata_type is not None
    assert issubclass(adapter.metadata_type, FlytekitMeta)
    assert adapter.metadata_type.__name__ == "FlytekitMeta"
    assert adapter.metadata_type.flytekit_connector is job
    loaded = registry_of(adapter).get("fk_job")
    assert sorted(loaded.hooks) == ["create", "delete", "get", "get_logs", "get_metrics"]
    assert loaded.raw_literals is True


def test_get_logs_and_get_metrics_only_when_the_flytekit_connector_has_them() -> None:
    loaded = registry_of(bridge(samples.PickleConnector())).get(samples.PICKLE_TYPE)
    assert sorted(loaded.hooks) == ["create", "delete", "get"]


def test_a_sync_connector_becomes_a_sync_adapter() -> None:
    adapter = bridge(samples.EchoConnector())
    assert isinstance(adapter, FlytekitSyncConnector)
    assert type(adapter).name == "Echo Connector"
    assert sorted(registry_of(adapter).get(samples.ECHO_TYPE).hooks) == ["do"]


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError) as info:
        bridge(object())
    assert (
        str(info.value) == "builtins.object is neither a flytekit SyncConnectorBase nor an AsyncConnectorBase"
    )


def test_native_inputs_are_refused_with_what_the_adapter_needs() -> None:
    calls = calls_of(samples.JobConnector())
    template = connector.TaskTemplate("fk_job", raw=tasks_pb2.TaskTemplate(type="fk_job"))
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls.create(template, inputs={"x": 1}))
    assert str(info.value) == (
        "task type fk_job@0: flytekit's connector 'Job Connector' needs the request's flyteidl.core inputs "
        "message, and got dict"
    )
    assert info.value.field == "inputs"


def test_a_template_without_its_message_is_refused() -> None:
    calls = calls_of(samples.JobConnector())
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls.create(connector.TaskTemplate("fk_job"), inputs=literals_pb2.LiteralMap()))
    assert str(info.value) == (
        "task type fk_job@0: flytekit's connector 'Job Connector' needs the request's flyteidl.core task "
        "template message, and got NoneType"
    )


def test_no_inputs_give_flytekit_an_empty_literal_map() -> None:
    """flytekit's service tests ``if request.inputs``, which a message always passes."""
    samples.CALLS.clear()
    calls = calls_of(samples.JobConnector())
    template = connector.TaskTemplate("fk_job", raw=tasks_pb2.TaskTemplate(type="fk_job"))
    meta = run_blocking(calls.create(template))
    assert isinstance(meta, FlytekitMeta)
    assert samples.CALLS[0][2]["inputs"] == "flytekit.models.literals.LiteralMap"
    assert samples.CALLS[0][2]["task_execution_metadata"] == "flytekit.models.task.TaskExecutionMetadata"


def pickled_meta() -> FlytekitMeta:
    """A meta as flytekit's own service hands out for a pickling connector: the pickle itself."""
    return FlytekitMeta.decode(cloudpickle.dumps(samples.PickledMeta(openai_org="org", batch_id="b9")))


def test_a_decoded_pickle_reaches_flytekit_whatever_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether a meta may be read at all is decided when it is decoded (test_security.py), not by ``get``."""
    monkeypatch.delenv("CONNECTOR_ACCEPT_UNSIGNED_META", raising=False)
    resource = run_blocking(calls_of(samples.PickleConnector()).get(pickled_meta()))
    assert (resource.phase, resource.message) == (connector.Phase.SUCCEEDED, "batch b9 of org")


def test_bytes_flytekit_cannot_decode_are_a_bad_request() -> None:
    """flytekit's own message (its ``dataclass_from_dict`` raises a KeyError for an unknown field)."""
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls_of(samples.JobConnector()).get(FlytekitMeta(b'{"job": 1}')))
    assert str(info.value) == (
        "flytekit's JobMeta cannot decode the resource meta of task type fk_job@0: KeyError: 'job'"
    )
