"""``connector serve`` with the pool and limit options: they reach the service, its metrics show them."""

from __future__ import annotations

import urllib.request
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import v1_template

pytestmark = pytest.mark.e2e


def _samples(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_serve_options_set_the_limits(serve: Any) -> None:
    served = serve("--workers", "2", "--max-workers", "6", "--connector-workers", "3", "--queue-size", "0")
    try:
        answer = served.v1_sync.ExecuteTaskSync(
            iter(
                [
                    agent_pb2.ExecuteTaskSyncRequest(
                        header=agent_pb2.CreateRequestHeader(template=v1_template("syncecho"))
                    )
                ]
            ),
            timeout=30,
        )
        assert [response.header.resource.phase for response in answer]
        assert served.metrics_port is not None
        samples = _samples(served.metrics_port)
        assert samples[("connector_worker_threads_max", frozenset())] == 6
        assert samples[("connector_worker_wait_seconds_count", frozenset({("task_type", "syncecho")}))] == 1
        labels = frozenset({("task_type", "syncecho"), ("limit", "queue-size")})
        assert samples[("connector_calls_refused_total", labels)] == 0
    except grpc.RpcError as exc:
        raise AssertionError("stderr:\n" + "\n".join(served.stderr)) from exc
    assert served.terminate()[0] == 0
