"""ServiceMetrics keeps plain numbers per call and writes them at scrape time (issue 13).

The samples must be those prometheus_client's own Counter, Histogram, Summary and Gauge write when
fed the same calls, which the service used before: an operator's dashboards and alerts see no change.
"""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from connector import TaskCategory
from connector.registry._registry import ConnectorRegistry
from connector.server._metrics import _LATENCY_BUCKETS, HTTP_STATUS, ServiceMetrics
from connector.testing import registry_of

from .sample_plugin import SyncEcho

CALLS = [
    # rpc, operation, task type, code
    ("v1/CreateTask", "create", "echo", "OK"),
    ("v2/CreateTask", "create", "echo", "OK"),
    ("v1/GetTask", "get", "echo", "NOT_FOUND"),
    ("v1/GetTask", "get", "echo", "OK"),
    ("v1/GetTask", "get", "__unknown__", "INVALID_ARGUMENT"),
    ("v1/ListAgents", "", "", "OK"),
    ("v2/DeleteTask", "delete", "echo", "UNAVAILABLE"),
]


def _samples(registry: CollectorRegistry) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items())), round(s.value, 6))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created") and not s.name.startswith("connector_load_state")
    }


def _reference(
    calls: list[tuple[str, str, str, str, float]], sizes: list[int], http: bool
) -> CollectorRegistry:
    """What prometheus_client's metric objects write for the same calls."""
    registry = CollectorRegistry()
    success = Counter("flyte_connector_requests_success", "", ["task_type", "operation"], registry=registry)
    failure = Counter(
        "flyte_connector_requests_failure", "", ["task_type", "operation", "error_code"], registry=registry
    )
    latency = Histogram(
        "flyte_connector_request_latency_seconds",
        "",
        ["task_type", "operation"],
        buckets=_LATENCY_BUCKETS,
        registry=registry,
    )
    inputs = Summary("flyte_connector_input_literal_bytes", "", ["task_type"], registry=registry)
    rpc_requests = Counter("connector_rpc_requests", "", ["rpc", "code"], registry=registry)
    rpc_latency = Histogram(
        "connector_rpc_latency_seconds", "", ["rpc"], buckets=_LATENCY_BUCKETS, registry=registry
    )
    in_flight = Gauge("connector_rpc_in_flight", "", ["rpc"], registry=registry)
    for rpc, operation, task_type, code, elapsed in calls:
        in_flight.labels(rpc).inc()
        in_flight.labels(rpc).dec()
        rpc_requests.labels(rpc, code).inc()
        rpc_latency.labels(rpc).observe(elapsed)
        if operation:
            latency.labels(task_type, operation).observe(elapsed)
            if code == "OK":
                success.labels(task_type, operation).inc()
            else:
                failure.labels(task_type, operation, HTTP_STATUS[code] if http else code).inc()
    for size in sizes:
        inputs.labels("syncecho").observe(size)
    Counter("connector_unsigned_meta", "", ["task_type"], registry=registry).labels("syncecho").inc(2)
    return registry


@pytest.mark.parametrize("http", [False, True])
def test_the_samples_are_those_prometheus_clients_objects_write(
    http: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(13)
    calls = [(*call, rng.choice([0.0004, 0.001, 0.0031, 0.2, 1.0, 7.5, 500.0])) for call in CALLS * 3]
    clock = iter(value for _, _, _, _, elapsed in calls for value in (0.0, elapsed))
    monkeypatch.setattr("connector.server._metrics.time.perf_counter", lambda: next(clock))
    metrics = ServiceMetrics(registry_of(SyncEcho()), error_codes="http" if http else "grpc")
    for rpc, operation, task_type, code, _ in calls:
        metrics.finished(rpc, operation, task_type, code, metrics.started(rpc))
    for size in (10, 250):
        metrics.input_size(metrics.task_label(TaskCategory("syncecho")), size)
    metrics.unsigned_meta(TaskCategory("syncecho"))
    metrics.unsigned_meta(TaskCategory("syncecho"))
    assert _samples(metrics.collectors) == _samples(_reference(calls, [10, 250], http))


def test_a_category_the_registry_does_not_know_gets_a_fixed_label() -> None:
    metrics = ServiceMetrics(ConnectorRegistry([]))
    metrics.input_size(metrics.task_label(TaskCategory("made-up-by-a-client")), 5)
    assert list(metrics.input_sizes) == ["__unknown__"]


def test_in_flight_counts_a_call_until_it_finishes() -> None:
    metrics = ServiceMetrics(ConnectorRegistry([]))
    start = metrics.started("v1/GetTask")
    assert ("connector_rpc_in_flight", (("rpc", "v1/GetTask"),), 1.0) in _samples(metrics.collectors)
    metrics.finished("v1/GetTask", "get", "x", "OK", start)
    assert ("connector_rpc_in_flight", (("rpc", "v1/GetTask"),), 0.0) in _samples(metrics.collectors)
