"""Prometheus metrics of the service: per-RPC counts, latency and in-flight calls, and load states."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._exceptions import ConfigurationError
from .._model import TaskCategory
from ..registry._registry import ConnectorRegistry, ConnectorState

# prometheus_client costs about 25 ms to import: it is imported when a ServiceMetrics is made,
# which the service does once its port is bound (issue 3's cold start).
if TYPE_CHECKING:
    from prometheus_client.core import GaugeMetricFamily

#: The ``task_type`` label of a request whose category the registry does not know. Label values
#: come from the registry only, so a client cannot grow the number of series (DESIGN §9).
UNKNOWN_TASK_TYPE = "__unknown__"
#: The ``task_type`` label of RPCs that are not about one task type (ListAgents, ...).
NO_TASK_TYPE = ""

#: How ``flyte_connector_requests_failure_total`` writes ``error_code``: ``grpc`` or ``http``.
ERROR_CODES_VARIABLE = "CONNECTOR_METRICS_ERROR_CODES"
ErrorCodes = Literal["grpc", "http"]
#: The HTTP status of each gRPC status, as grpc-gateway maps them (``runtime.HTTPStatusFromCode``).
#: flytekit wrote HTTP numbers (404 for an unknown connector, 500 for anything else), and its
#: dashboards filter on them (issue 10).
HTTP_STATUS: Mapping[str, str] = {
    "OK": "200",
    "CANCELLED": "499",
    "UNKNOWN": "500",
    "INVALID_ARGUMENT": "400",
    "DEADLINE_EXCEEDED": "504",
    "NOT_FOUND": "404",
    "ALREADY_EXISTS": "409",
    "PERMISSION_DENIED": "403",
    "UNAUTHENTICATED": "401",
    "RESOURCE_EXHAUSTED": "429",
    "FAILED_PRECONDITION": "400",
    "ABORTED": "409",
    "OUT_OF_RANGE": "400",
    "UNIMPLEMENTED": "501",
    "INTERNAL": "500",
    "UNAVAILABLE": "503",
    "DATA_LOSS": "500",
}


def error_codes_from_environ(environ: Mapping[str, str] | None = None) -> ErrorCodes:
    """CONNECTOR_METRICS_ERROR_CODES: ``grpc`` (the default, also when empty) or ``http``.

    Raises ``ConfigurationError`` naming the variable for any other value.
    """
    env = os.environ if environ is None else environ
    raw = env.get(ERROR_CODES_VARIABLE, "")
    value = raw.strip().lower() or "grpc"
    if value == "grpc":
        return "grpc"
    if value == "http":
        return "http"
    raise ConfigurationError(
        f"{ERROR_CODES_VARIABLE}: {raw[:100]!r} is not grpc or http (grpc writes the status name, "
        f"such as NOT_FOUND, in error_code; http writes its HTTP number, such as 404, as flytekit did)"
    )


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def _children(metric: Any) -> Callable[..., Any]:
    """``metric.labels`` with its children kept by label values (prometheus_client re-validates every call).

    The label values are bounded by design (RPC names, status codes, registered task types), and so
    is the cache. prometheus_client's own metric objects are kept on purpose: rendering plain numbers
    at scrape time saved about 3 us per RPC, under 1% of the server's CPU per call (docs/decisions.md,
    "Service review").
    """
    children: dict[tuple[str, ...], Any] = {}

    def child(*values: str) -> Any:
        found = children.get(values)
        if found is None:
            found = children[values] = metric.labels(*values)
        return found

    return child


class _LoadStateCollector:
    """``connector_load_state``: one series per category and state, 1 for the current state."""

    def __init__(self, registry: ConnectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "connector_load_state",
            "State of each connector in the registry (1 for its current state, 0 for the others)",
            labels=["task_type", "task_type_version", "state"],
        )
        seen: set[TaskCategory] = set()
        for entry in self._registry.entries():
            if entry.category is None or entry.category in seen:
                continue
            seen.add(entry.category)
            current = self._registry.entry(entry.category).state
            for state in ConnectorState:
                family.add_metric(
                    [entry.category.name, str(entry.category.version), state.value],
                    1.0 if state is current else 0.0,
                )
        yield family

    def describe(self) -> list[Any]:
        return []


class ServiceMetrics:
    """The metrics of one service, in their own ``CollectorRegistry`` (several services may share a process).

    flytekit's names are kept where the meaning is the same (``flyte_connector_requests_success_total``,
    ``..._failure_total``, ``..._request_latency_seconds``, ``..._input_literal_bytes``), so its
    dashboards keep working. ``error_code`` holds the gRPC status name, or with ``error_codes="http"``
    its HTTP number (``HTTP_STATUS``), as flytekit wrote it.
    """

    def __init__(self, registry: ConnectorRegistry, *, error_codes: ErrorCodes = "grpc") -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

        self._registry = registry
        self._error_code: Mapping[str, str] | None = HTTP_STATUS if error_codes == "http" else None
        self.collectors = CollectorRegistry(auto_describe=True)
        by_task = ["task_type", "operation"]
        self.success = Counter(
            "flyte_connector_requests_success",
            "Total number of successful requests",
            by_task,
            registry=self.collectors,
        )
        self.failure = Counter(
            "flyte_connector_requests_failure",
            "Total number of failed requests",
            [*by_task, "error_code"],
            registry=self.collectors,
        )
        self.latency = Histogram(
            "flyte_connector_request_latency_seconds",
            "Time spent processing connector request",
            by_task,
            buckets=_LATENCY_BUCKETS,
            registry=self.collectors,
        )
        self.input_bytes = Summary(
            "flyte_connector_input_literal_bytes",
            "Size of input literal",
            ["task_type"],
            registry=self.collectors,
        )
        self.rpc_requests = Counter(
            "connector_rpc_requests",
            "gRPC requests by method and status code",
            ["rpc", "code"],
            registry=self.collectors,
        )
        self.rpc_latency = Histogram(
            "connector_rpc_latency_seconds",
            "gRPC request latency by method",
            ["rpc"],
            buckets=_LATENCY_BUCKETS,
            registry=self.collectors,
        )
        self.in_flight = Gauge(
            "connector_rpc_in_flight",
            "gRPC requests being served now, by method",
            ["rpc"],
            registry=self.collectors,
        )
        self.unsigned = Counter(
            "connector_unsigned_meta",
            "Resource metas accepted without a signature (CONNECTOR_ACCEPT_UNSIGNED_META), by task type",
            ["task_type"],
            registry=self.collectors,
        )
        self.collectors.register(_LoadStateCollector(registry))
        self._success = _children(self.success)
        self._failure = _children(self.failure)
        self._latency = _children(self.latency)
        self._input_bytes = _children(self.input_bytes)
        self._rpc_requests = _children(self.rpc_requests)
        self._rpc_latency = _children(self.rpc_latency)
        self._in_flight = _children(self.in_flight)
        # Categories only ever join a registry, so a known one stays known; an unknown one
        # re-reads the registry (a connector may have been register()ed since).
        self._known: frozenset[TaskCategory] = frozenset()

    def task_label(self, category: TaskCategory | None) -> str:
        """The ``task_type`` label of a category: its name when the registry knows it, else a fixed label."""
        if category is None:
            return UNKNOWN_TASK_TYPE
        if category not in self._known:
            self._known = frozenset(self._registry.categories())
            if category not in self._known:
                return UNKNOWN_TASK_TYPE
        return category.name

    def started(self, rpc: str) -> float:
        """Count a call in; returns its start time for ``finished``."""
        self._in_flight(rpc).inc()
        return time.perf_counter()

    def finished(self, rpc: str, operation: str, task_type: str, code: str, start: float) -> None:
        """Count a call out with its status code name; ``operation`` is "" for metadata RPCs."""
        elapsed = time.perf_counter() - start
        self._in_flight(rpc).dec()
        self._rpc_requests(rpc, code).inc()
        self._rpc_latency(rpc).observe(elapsed)
        if not operation:  # metadata RPCs are not about a task type
            return
        self._latency(task_type, operation).observe(elapsed)
        if code == "OK":
            self._success(task_type, operation).inc()
        else:
            error_code = code if self._error_code is None else self._error_code.get(code, "500")
            self._failure(task_type, operation, error_code).inc()

    def unsigned_meta(self, category: TaskCategory) -> None:
        """Count a resource meta accepted without a signature."""
        self.unsigned.labels(self.task_label(category)).inc()

    def observe_input(self, category: TaskCategory, size: int) -> None:
        """Record the size in bytes of a request's input literals."""
        self._input_bytes(self.task_label(category)).observe(size)

    def serve(self, host: str, port: int) -> tuple[Any, int]:
        """Start the ``/metrics`` HTTP endpoint; returns the server and its bound port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.collectors)
        return server, int(server.server_port)
