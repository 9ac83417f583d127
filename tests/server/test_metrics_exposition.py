"""The service's metrics render exactly as prometheus_client's own Counter, Gauge, Histogram and Summary."""

from __future__ import annotations

import re
from typing import Any

import prometheus_client.metrics
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest

from connector import ConnectorRegistry
from connector.server import _metrics
from connector.server._metrics import _LATENCY_BUCKETS, ServiceMetrics
from tests.server import sample_plugin

CREATE = "flyteidl.service.AsyncAgentService/CreateTask"
GET = "flyteidl2.connector.AsyncConnectorService/GetTask"
LIST = "flyteidl.service.AgentMetadataService/ListAgents"


def _reference() -> tuple[CollectorRegistry, dict[str, Any]]:
    """The same metrics made with prometheus_client's classes, as the service made them before."""
    registry = CollectorRegistry(auto_describe=True)
    by_task = ["task_type", "operation"]
    metrics = {
        "success": Counter(
            "flyte_connector_requests_success",
            "Total number of successful requests",
            by_task,
            registry=registry,
        ),
        "failure": Counter(
            "flyte_connector_requests_failure",
            "Total number of failed requests",
            [*by_task, "error_code"],
            registry=registry,
        ),
        "latency": Histogram(
            "flyte_connector_request_latency_seconds",
            "Time spent processing connector request",
            by_task,
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
        "input_bytes": Summary(
            "flyte_connector_input_literal_bytes", "Size of input literal", ["task_type"], registry=registry
        ),
        "rpc_requests": Counter(
            "connector_rpc_requests",
            "gRPC requests by method and status code",
            ["rpc", "code"],
            registry=registry,
        ),
        "rpc_latency": Histogram(
            "connector_rpc_latency_seconds",
            "gRPC request latency by method",
            ["rpc"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
        "in_flight": Gauge(
            "connector_rpc_in_flight", "gRPC requests being served now, by method", ["rpc"], registry=registry
        ),
    }
    return registry, metrics


def _lines(text: bytes) -> list[str]:
    """Exposition lines without the load-state family (the reference has none), ``_created`` masked."""
    return [
        re.sub(r"(_created\{.*\}) \S+$", r"\1 <time>", line)
        for line in text.decode().splitlines()
        if "connector_load_state" not in line
    ]


@pytest.mark.parametrize("created_series", [True, False])
def test_exposition_equals_prometheus_clients(monkeypatch: pytest.MonkeyPatch, created_series: bool) -> None:
    if not created_series:
        monkeypatch.setenv("PROMETHEUS_DISABLE_CREATED_SERIES", "True")
        monkeypatch.setattr(prometheus_client.metrics, "_use_created", False)
    clock = [1000.0]
    monkeypatch.setattr(_metrics.time, "perf_counter", lambda: clock[0])
    registry = ConnectorRegistry([])
    category = registry.register(sample_plugin.AsyncSleepConnector()).category
    ours = ServiceMetrics(registry)
    reference_registry, reference = _reference()

    # (rpc, operation, code, seconds): every bucket edge case, a failure, a metadata RPC.
    calls = [
        (CREATE, "create", "OK", 0.0004),
        (CREATE, "create", "OK", 0.001),  # on a bucket's upper bound: counted in it
        (CREATE, "create", "OK", 3.0),
        (GET, "get", "NOT_FOUND", 0.03),
        (GET, "get", "OK", 500.0),  # past the last bucket: +Inf only
        (LIST, "", "OK", 0.2),
    ]
    for rpc, operation, code, seconds in calls:
        start = ours.started(rpc)
        clock[0] += seconds
        seconds = clock[0] - start  # what the service measures, float rounding included
        task_type = ours.task_label(category) if operation else ""
        ours.finished(rpc, operation, task_type, code, start)
        reference["in_flight"].labels(rpc).inc()
        reference["in_flight"].labels(rpc).dec()
        reference["rpc_requests"].labels(rpc, code).inc()
        reference["rpc_latency"].labels(rpc).observe(seconds)
        if operation:
            reference["latency"].labels("asleep", operation).observe(seconds)
            if code == "OK":
                reference["success"].labels("asleep", operation).inc()
            else:
                reference["failure"].labels("asleep", operation, code).inc()
    ours.started(CREATE)  # still in flight
    reference["in_flight"].labels(CREATE).inc()
    for size in (42, 7):
        ours.observe_input(category, size)
        reference["input_bytes"].labels("asleep").observe(size)

    got = _lines(generate_latest(ours.collectors))
    assert got == _lines(generate_latest(reference_registry))
    assert any("_created" in line for line in got) is created_series
    create_bucket = f'connector_rpc_latency_seconds_bucket{{le="0.001",rpc="{CREATE}"}} 2.0'
    assert create_bucket in got


def test_families_without_series_render_as_prometheus_clients() -> None:
    ours = ServiceMetrics(ConnectorRegistry([]))
    reference_registry, _ = _reference()
    got = _lines(generate_latest(ours.collectors))
    assert got == _lines(generate_latest(reference_registry))
    assert all(line.startswith("#") for line in got)  # headers only: no series before the first call
