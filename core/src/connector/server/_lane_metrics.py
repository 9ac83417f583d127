"""Prometheus series of the worker pool and the per-connector lanes, read from their counters."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._lanes import WAIT_BUCKETS, Lanes

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric


class LaneCollector:
    """A custom collector: the lanes keep plain counters, and nothing is done per call for metrics.

    ``task_type`` is the name of a category the registry resolved (a lane exists only for those),
    never a request string; versions of one task type are summed, as the request series do.
    """

    def __init__(self, lanes: Lanes) -> None:
        self._lanes = lanes

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        pool = self._lanes.pool
        threads = GaugeMetricFamily(
            "connector_worker_threads",
            "Threads of the worker pool for plain-def hooks, by state",
            labels=["state"],
        )
        busy = pool.busy
        threads.add_metric(["busy"], busy)
        threads.add_metric(["idle"], max(0, pool.threads - busy))
        yield threads
        yield GaugeMetricFamily(
            "connector_worker_threads_max",
            "Most threads the worker pool may start (--max-workers)",
            pool.max_workers,
        )

        by_type: dict[str, _Totals] = {}
        for lane in self._lanes:
            # Read without the lane's lock: each number is exact, the set of them is a moment apart.
            totals = by_type.get(lane.category.name)
            if totals is None:
                totals = by_type[lane.category.name] = _Totals([0] * len(lane.wait_buckets))
            totals.waiting += lane.waiting
            totals.running += lane.running
            totals.async_in_flight += lane.async_in_flight
            totals.refused_queue += lane.refused_queue
            totals.refused_async += lane.refused_async
            totals.refused_async_total += lane.refused_async_total
            totals.wait_sum += lane.wait_sum
            for i, count in enumerate(lane.wait_buckets):
                totals.wait_buckets[i] += count

        queued = GaugeMetricFamily(
            "connector_queue_depth",
            "Plain-def calls waiting for a worker thread, by task type (in its queue, or for a free thread)",
            labels=["task_type"],
        )
        in_flight = GaugeMetricFamily(
            "connector_calls_in_flight",
            "Hook calls running now, by task type and kind (plain: on a worker thread; async: on the loop)",
            labels=["task_type", "kind"],
        )
        refused = CounterMetricFamily(
            "connector_calls_refused",
            "Calls refused with RESOURCE_EXHAUSTED, by task type and the limit reached",
            labels=["task_type", "limit"],
        )
        waited = HistogramMetricFamily(
            "connector_worker_wait_seconds",
            "Time plain-def calls waited from arrival until a worker thread started them, by task type",
            labels=["task_type"],
        )
        for task_type, totals in sorted(by_type.items()):
            queued.add_metric([task_type], totals.waiting)
            in_flight.add_metric([task_type, "plain"], totals.running)
            in_flight.add_metric([task_type, "async"], totals.async_in_flight)
            refused.add_metric([task_type, "queue-size"], totals.refused_queue)
            refused.add_metric([task_type, "connector-async-calls"], totals.refused_async)
            refused.add_metric([task_type, "max-async-calls"], totals.refused_async_total)
            cumulative = 0
            buckets = []
            for bound, count in zip((*WAIT_BUCKETS, float("inf")), totals.wait_buckets, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            # The count is the +Inf bucket's, so the series stay consistent even read mid-update.
            waited.add_metric([task_type], buckets, totals.wait_sum)
        yield queued
        yield in_flight
        yield refused
        yield waited

    def describe(self) -> list[Any]:
        return []


@dataclasses.dataclass
class _Totals:
    """One task type's numbers, summed over its lanes (one per version)."""

    wait_buckets: list[int]
    waiting: int = 0
    running: int = 0
    async_in_flight: int = 0
    refused_queue: int = 0
    refused_async: int = 0
    refused_async_total: int = 0
    wait_sum: float = 0.0
