"""Prometheus metrics of the service: per-RPC counts, latency and in-flight calls, and load states."""

from __future__ import annotations

import bisect
import itertools
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .._model import TaskCategory
from .._registry import ConnectorRegistry, ConnectorState

# prometheus_client costs about 25 ms to import: it is imported when a ServiceMetrics is made,
# which the service does once its port is bound (issue 3's cold start).
if TYPE_CHECKING:
    from prometheus_client.metrics_core import GaugeMetricFamily, Metric

#: The ``task_type`` label of a request whose category the registry does not know. Label values
#: come from the registry only, so a client cannot grow the number of series (DESIGN §9).
UNKNOWN_TASK_TYPE = "__unknown__"
#: The ``task_type`` label of RPCs that are not about one task type (ListAgents, ...).
NO_TASK_TYPE = ""

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _Family:
    """One metric's series as plain numbers, keyed by label values, rendered when scraped.

    prometheus_client's metric objects take a lock and check their state on every update, about
    1 us each, five updates per RPC (issue 3's figures). The service updates these from the event
    loop thread only, so a plain ``+=`` is enough; the lock guards adding a series against a scrape
    (from the HTTP server's thread). The exposition is what prometheus_client's own ``Counter``,
    ``Gauge``, ``Histogram`` and ``Summary`` write: same samples, ``_created`` series included
    unless ``PROMETHEUS_DISABLE_CREATED_SERIES`` is set, as for those.

    A series' numbers are ``[value]`` (counter, gauge), ``[count, sum]`` (summary) or one count per
    bucket, ``+Inf`` last, then the sum (histogram).
    """

    def __init__(
        self, kind: str, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float] = ()
    ) -> None:
        self.kind = kind
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.buckets = tuple(buckets)
        self._width = {"counter": 1, "gauge": 1, "summary": 2, "histogram": len(self.buckets) + 2}[kind]
        self._series: dict[tuple[str, ...], list[float]] = {}
        self._created: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def series(self, *values: str) -> list[float]:
        """The numbers of the series with these label values (made on first use)."""
        found = self._series.get(values)
        if found is None:
            with self._lock:
                found = self._series.setdefault(values, [0.0] * self._width)
                self._created.setdefault(values, time.time())
        return found

    def observe(self, amount: float, *values: str) -> None:
        """Add one observation to a histogram or summary series."""
        numbers = self.series(*values)
        if self.kind == "histogram":
            numbers[bisect.bisect_left(self.buckets, amount)] += 1  # buckets are "less or equal"
        else:
            numbers[0] += 1
        numbers[-1] += amount

    def collect(self, created_series: bool) -> Metric:
        """The family as prometheus_client renders it."""
        from prometheus_client.metrics_core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            SummaryMetricFamily,
        )

        with self._lock:
            snapshot = [(key, list(numbers), self._created[key]) for key, numbers in self._series.items()]
        if self.kind == "counter":
            counter = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
            for key, numbers, created in snapshot:
                counter.add_metric(key, numbers[0], created=created if created_series else None)
            return counter
        if self.kind == "gauge":
            gauge = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
            for key, numbers, _ in snapshot:
                gauge.add_metric(key, numbers[0])
            return gauge
        summary = SummaryMetricFamily(self.name, self.documentation, labels=self.labels)
        histogram = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        family: Metric = summary if self.kind == "summary" else histogram
        bounds = [*map(_go_float, self.buckets), "+Inf"]
        for key, numbers, created in snapshot:
            if family is summary:
                summary.add_metric(key, int(numbers[0]), numbers[1])
            else:
                counts = itertools.accumulate(numbers[:-1])
                histogram.add_metric(key, list(zip(bounds, counts, strict=True)), numbers[-1])
            if created_series:  # after each series' samples, where prometheus_client writes it
                family.add_sample(f"{self.name}_created", dict(zip(self.labels, key, strict=True)), created)
        return family


def _go_float(bound: float) -> str:
    from prometheus_client.utils import floatToGoString

    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


class _FamiliesCollector:
    """Renders the service's families for a scrape."""

    def __init__(self, families: Sequence[_Family]) -> None:
        self._families = tuple(families)
        # Read as prometheus_client reads it for its own metrics.
        self._created_series = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in (
            "true",
            "1",
            "t",
        )

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield family.collect(self._created_series)

    def describe(self) -> list[Any]:
        return []


class _LoadStateCollector:
    """``connector_load_state``: one series per category and state, 1 for the current state."""

    def __init__(self, registry: ConnectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from prometheus_client.metrics_core import GaugeMetricFamily

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
    dashboards keep working; ``error_code`` holds the gRPC status name. ``started``, ``finished``
    and ``observe_input`` are called from the event loop's thread only.
    """

    def __init__(self, registry: ConnectorRegistry) -> None:
        from prometheus_client import CollectorRegistry

        self._registry = registry
        self.collectors = CollectorRegistry(auto_describe=True)
        by_task = ("task_type", "operation")
        self.success = _Family(
            "counter", "flyte_connector_requests_success", "Total number of successful requests", by_task
        )
        self.failure = _Family(
            "counter",
            "flyte_connector_requests_failure",
            "Total number of failed requests",
            (*by_task, "error_code"),
        )
        self.latency = _Family(
            "histogram",
            "flyte_connector_request_latency_seconds",
            "Time spent processing connector request",
            by_task,
            _LATENCY_BUCKETS,
        )
        self.input_bytes = _Family(
            "summary", "flyte_connector_input_literal_bytes", "Size of input literal", ("task_type",)
        )
        self.rpc_requests = _Family(
            "counter", "connector_rpc_requests", "gRPC requests by method and status code", ("rpc", "code")
        )
        self.rpc_latency = _Family(
            "histogram",
            "connector_rpc_latency_seconds",
            "gRPC request latency by method",
            ("rpc",),
            _LATENCY_BUCKETS,
        )
        self.in_flight = _Family(
            "gauge", "connector_rpc_in_flight", "gRPC requests being served now, by method", ("rpc",)
        )
        self.collectors.register(
            _FamiliesCollector(
                (
                    self.success,
                    self.failure,
                    self.latency,
                    self.input_bytes,
                    self.rpc_requests,
                    self.rpc_latency,
                    self.in_flight,
                )
            )
        )
        self.collectors.register(_LoadStateCollector(registry))
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
        self.in_flight.series(rpc)[0] += 1
        return time.perf_counter()

    def finished(self, rpc: str, operation: str, task_type: str, code: str, start: float) -> None:
        """Count a call out with its status code name; ``operation`` is "" for metadata RPCs."""
        elapsed = time.perf_counter() - start
        self.in_flight.series(rpc)[0] -= 1
        self.rpc_requests.series(rpc, code)[0] += 1
        self.rpc_latency.observe(elapsed, rpc)
        if not operation:  # metadata RPCs are not about a task type
            return
        self.latency.observe(elapsed, task_type, operation)
        if code == "OK":
            self.success.series(task_type, operation)[0] += 1
        else:
            self.failure.series(task_type, operation, code)[0] += 1

    def observe_input(self, category: TaskCategory, size: int) -> None:
        """Record the size in bytes of a request's input literals."""
        self.input_bytes.observe(size, self.task_label(category))

    def serve(self, host: str, port: int) -> tuple[Any, int]:
        """Start the ``/metrics`` HTTP endpoint; returns the server and its bound port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.collectors)
        return server, int(server.server_port)
