"""The messages the README quotes (its ``text`` blocks) are the ones connector-flytekit gives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cloudpickle
import flytekit_samples as samples
import pytest
from connector_flytekit import FlytekitMeta, FlytekitRequestError, FlytekitUnavailableError, _flytekit, bridge
from flyteidl2.core import tasks_pb2 as v2_tasks_pb2

import connector
from connector.registry._calls import run_blocking
from connector.testing import registry_of

README = Path(__file__).resolve().parents[1] / "README.md"


def quoted() -> list[str]:
    return re.findall(r"```text\n(.*?)\n```", README.read_text(), flags=re.DOTALL)


class BatchEndpointConnector(samples.PickleConnector):
    """Named and typed as flytekitplugins-openai's, with its pickled meta."""

    name = "OpenAI Batch Endpoint Connector"

    def __init__(self) -> None:
        super(samples.PickleConnector, self).__init__(
            task_type_name="openai-batch", metadata_type=samples.PickledMeta
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
    monkeypatch.setenv("CONNECTOR_ACCEPT_UNSIGNED_META", "1")
    monkeypatch.delenv("CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META", raising=False)
    meta = FlytekitMeta.decode(cloudpickle.dumps(samples.PickledMeta(openai_org="o", batch_id="b")))
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls(BatchEndpointConnector()).get(meta))
    return str(info.value)


def flyteidl2() -> str:
    template = connector.TaskTemplate("openai-batch", raw=v2_tasks_pb2.TaskTemplate(type="openai-batch"))
    with pytest.raises(FlytekitRequestError) as info:
        run_blocking(calls(BatchEndpointConnector()).create(template))
    return str(info.value)


def test_the_readme_quotes_the_real_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    assert quoted() == [unsupported(monkeypatch), pickled(monkeypatch), flyteidl2()]
