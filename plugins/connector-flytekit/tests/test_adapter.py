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
    adapter = bridge(samples.JobConnector())
    assert isinstance(adapter, FlytekitAsyncConnector)
    assert (type(adapter).name, adapter.task_type_name, adapter.task_type_version) == (
        "Job Connector",
        "fk_job",
        0,
    )
    assert adapter.raw_literals is True
    assert adapter.metadata_type is FlytekitMeta
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


def test_a_pickle_is_decoded_when_unsigned_metas_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Then only metas this service signed reach decode: pickles it wrote itself."""
    monkeypatch.delenv("CONNECTOR_ACCEPT_UNSIGNED_META", raising=False)
    resource = run_blocking(calls_of(samples.PickleConnector()).get(pickled_meta()))
    assert (resource.phase, resource.message) == (connector.Phase.SUCCEEDED, "batch b9 of org")


def test_a_pickle_is_refused_while_unsigned_metas_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_ACCEPT_UNSIGNED_META", "1")
    monkeypatch.delenv("CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META", raising=False)
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls_of(samples.PickleConnector()).get(pickled_meta()))
    assert str(info.value) == (
        "the resource meta of task type fk_pickle@0 is a pickle (flytekit's PickleConnector decodes its "
        "metas by unpickling them), and while CONNECTOR_ACCEPT_UNSIGNED_META=1 any caller may send one, "
        "which would run its code here: finish the switch-over and unset CONNECTOR_ACCEPT_UNSIGNED_META, or "
        "set CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META=1 to accept that risk as flytekit's own service does"
    )
    assert info.value.field == "resource_meta"


def test_a_pickle_is_decoded_when_the_operator_accepts_the_risk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_ACCEPT_UNSIGNED_META", "1")
    monkeypatch.setenv("CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META", "1")
    resource = run_blocking(calls_of(samples.PickleConnector()).get(pickled_meta()))
    assert resource.message == "batch b9 of org"


def test_bytes_flytekit_cannot_decode_are_a_bad_request() -> None:
    """flytekit's own message (its ``dataclass_from_dict`` raises a KeyError for an unknown field)."""
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls_of(samples.JobConnector()).get(FlytekitMeta(b'{"job": 1}')))
    assert str(info.value) == (
        "flytekit's JobMeta cannot decode the resource meta of task type fk_job@0: KeyError: 'job'"
    )
