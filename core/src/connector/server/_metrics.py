"""Prometheus metrics of the service: per-RPC counts, latency and in-flight calls, and load states."""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Iterator, Mapping
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
#: The `le` label of each bucket, as prometheus_client writes it.
_BUCKET_LABELS = (*(str(float(bound)) for bound in _LATENCY_BUCKETS), "+Inf")


class _Calls:
    """The calls of one (rpc, code, operation, task type): a latency histogram in plain numbers.

    ``counts[i]`` is the number of calls in bucket ``i`` (not cumulative; the last is past every
    bound) and ``total`` the sum of their latencies. The count is the sum of ``counts``, so a scrape
    that reads them while a call is recorded still sees a consistent histogram.
    """

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(_LATENCY_BUCKETS) + 1)
        self.total = 0.0


class _Sizes:
    """Input sizes of one task type: a summary's count and sum."""

    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0


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

    A call costs at most four updates of plain numbers (issue 13): in-flight up and down, one
    record of its latency under (rpc, code, operation, task type), and for a create its input size.
    Every family is derived from those at scrape time and written by prometheus_client
    (``_Collector``), so the per-RPC and per-task-type series of one call are one record, not two
    sets of locked counters. Updates come from the event loop's thread only, as every RPC handler
    runs there; a scrape (in the ``/metrics`` thread) reads copies.
    """

    def __init__(self, registry: ConnectorRegistry, *, error_codes: ErrorCodes = "grpc") -> None:
        from prometheus_client import CollectorRegistry

        self._registry = registry
        self._error_code: Mapping[str, str] | None = HTTP_STATUS if error_codes == "http" else None
        self.collectors = CollectorRegistry(auto_describe=True)
        #: Calls by (rpc, code, operation, task type label); operation is "" for metadata RPCs.
        self.calls: dict[tuple[str, str, str, str], _Calls] = {}
        #: RPCs being served now, by rpc.
        self.in_flight: dict[str, int] = {}
        #: Input sizes by task type label.
        self.input_sizes: dict[str, _Sizes] = {}
        #: Metas accepted without a signature, by task type label.
        self.unsigned: dict[str, int] = {}
        self.collectors.register(_Collector(self))
        self.collectors.register(_LoadStateCollector(registry))
        # Categories only ever join a registry, so a known one stays known; an unknown one
        # re-reads the registry (a connector may have been register()ed since).
        self._known: frozenset[tuple[str, int]] = frozenset()

    def failure_code(self, code: str) -> str:
        """The ``error_code`` label of a failed call's gRPC status name."""
        return code if self._error_code is None else self._error_code.get(code, "500")

    def task_label(self, category: TaskCategory | None) -> str:
        """The ``task_type`` label of a category: its name when the registry knows it, else a fixed label."""
        if category is None:
            return UNKNOWN_TASK_TYPE
        # Keyed by a plain tuple: TaskCategory's dataclass __hash__ runs Python code on every lookup.
        key = (category.name, category.version)
        if key not in self._known:
            self._known = frozenset((known.name, known.version) for known in self._registry.categories())
            if key not in self._known:
                return UNKNOWN_TASK_TYPE
        return category.name

    def started(self, rpc: str) -> float:
        """Count a call in; returns its start time for ``finished``."""
        in_flight = self.in_flight
        in_flight[rpc] = in_flight.get(rpc, 0) + 1
        return time.perf_counter()

    def finished(self, rpc: str, operation: str, task_type: str, code: str, start: float) -> None:
        """Count a call out with its status code name; ``operation`` is "" for metadata RPCs."""
        elapsed = time.perf_counter() - start
        self.in_flight[rpc] -= 1
        key = (rpc, code, operation, task_type)
        calls = self.calls.get(key)
        if calls is None:
            calls = self.calls[key] = _Calls()
        # Recorded here, not in a method of _Calls: one Python call fewer on every RPC.
        calls.counts[bisect.bisect_left(_LATENCY_BUCKETS, elapsed)] += 1
        calls.total += elapsed

    def unsigned_meta(self, category: TaskCategory) -> None:
        """Count a resource meta accepted without a signature."""
        label = self.task_label(category)
        self.unsigned[label] = self.unsigned.get(label, 0) + 1

    def input_size(self, label: str, size: int) -> None:
        """Record the size in bytes of a request's input literals under its ``task_type`` label."""
        sizes = self.input_sizes.get(label)
        if sizes is None:
            sizes = self.input_sizes[label] = _Sizes()
        sizes.count += 1
        sizes.total += size

    def serve(self, host: str, port: int) -> tuple[Any, int]:
        """Start the ``/metrics`` HTTP endpoint; returns the server and its bound port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.collectors)
        return server, int(server.server_port)


class _Collector:
    """Writes the families of a ``ServiceMetrics`` at scrape time, from copies of its numbers."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            SummaryMetricFamily,
        )

        metrics = self._metrics
        # Copies first: the event loop's thread keeps recording while this thread writes.
        records = [(key, list(calls.counts), calls.total) for key, calls in list(metrics.calls.items())]
        success: dict[tuple[str, str], int] = {}
        failure: dict[tuple[str, str, str], int] = {}
        by_task: dict[tuple[str, str], tuple[list[int], float]] = {}
        by_code: dict[tuple[str, str], int] = {}
        by_rpc: dict[str, tuple[list[int], float]] = {}
        for (rpc, code, operation, task_type), counts, total in records:
            count = sum(counts)
            by_code[rpc, code] = by_code.get((rpc, code), 0) + count
            _merge(by_rpc, rpc, counts, total)
            if not operation:  # metadata RPCs are not about a task type
                continue
            _merge(by_task, (task_type, operation), counts, total)
            if code == "OK":
                success[task_type, operation] = success.get((task_type, operation), 0) + count
            else:
                failed = (task_type, operation, metrics.failure_code(code))
                failure[failed] = failure.get(failed, 0) + count

        family = CounterMetricFamily(
            "flyte_connector_requests_success",
            "Total number of successful requests",
            labels=["task_type", "operation"],
        )
        for labels, count in success.items():
            family.add_metric(labels, count)
        yield family
        family = CounterMetricFamily(
            "flyte_connector_requests_failure",
            "Total number of failed requests",
            labels=["task_type", "operation", "error_code"],
        )
        for failed, count in failure.items():
            family.add_metric(failed, count)
        yield family
        yield _histogram(
            HistogramMetricFamily(
                "flyte_connector_request_latency_seconds",
                "Time spent processing connector request",
                labels=["task_type", "operation"],
            ),
            by_task,
        )
        summary = SummaryMetricFamily(
            "flyte_connector_input_literal_bytes", "Size of input literal", labels=["task_type"]
        )
        for task_type, sizes in list(metrics.input_sizes.items()):
            summary.add_metric([task_type], sizes.count, sizes.total)
        yield summary
        family = CounterMetricFamily(
            "connector_rpc_requests", "gRPC requests by method and status code", labels=["rpc", "code"]
        )
        for labels, count in by_code.items():
            family.add_metric(labels, count)
        yield family
        yield _histogram(
            HistogramMetricFamily(
                "connector_rpc_latency_seconds", "gRPC request latency by method", labels=["rpc"]
            ),
            {(rpc,): value for rpc, value in by_rpc.items()},
        )
        gauge = GaugeMetricFamily(
            "connector_rpc_in_flight", "gRPC requests being served now, by method", labels=["rpc"]
        )
        for rpc, running in list(metrics.in_flight.items()):
            gauge.add_metric([rpc], running)
        yield gauge
        family = CounterMetricFamily(
            "connector_unsigned_meta",
            "Resource metas accepted without a signature (CONNECTOR_ACCEPT_UNSIGNED_META), by task type",
            labels=["task_type"],
        )
        for task_type, count in list(metrics.unsigned.items()):
            family.add_metric([task_type], count)
        yield family


def _merge(into: dict[Any, tuple[list[int], float]], key: Any, counts: list[int], total: float) -> None:
    found = into.get(key)
    if found is None:
        into[key] = (list(counts), total)
    else:
        merged = [a + b for a, b in zip(found[0], counts, strict=True)]
        into[key] = (merged, found[1] + total)


def _histogram(family: Any, series: Mapping[Any, tuple[list[int], float]]) -> Any:
    for labels, (counts, total) in series.items():
        cumulative, buckets = 0, []
        for bound, count in zip(_BUCKET_LABELS, counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric(list(labels), buckets, total)
    return family
