"""Per-connector limits of the service: each task type's lane into the worker pool, and its admission."""

from __future__ import annotations

import bisect
import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

from .._exceptions import ServiceOverloadedError
from .._model import TaskCategory
from ._pool import WorkerPool

_T = TypeVar("_T")

#: Upper bounds (seconds) of the buckets of ``connector_worker_wait_seconds``.
WAIT_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0)

# The options whose limits a refusal names (ServiceOverloadedError.limit).
QUEUE_LIMIT = "--queue-size"
ASYNC_LIMIT = "--connector-async-calls"
ASYNC_TOTAL_LIMIT = "--max-async-calls"

_QUEUED, _HANDED, _DROPPED = 0, 1, 2


class AsyncBudget:
    """The ``async def`` hook calls in flight in the whole service, and their limit."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        #: Changed by ``Lane.enter`` and ``leave`` only, on the event loop's thread.
        self.in_flight = 0


class Lane(concurrent.futures.Executor):
    """One connector's calls: its share of the worker pool, its own queue, and its async limit.

    ``ConnectorCalls`` gets a lane both as its ``executor`` and as its ``admission``:

    - ``submit`` (plain hooks) hands a call to the pool while fewer than ``workers`` of this
      connector's calls are running or waiting for a thread there; past that the call waits in the
      lane's queue, and when ``queue_size`` calls wait already it is refused
      (``ServiceOverloadedError``). A call holds its share until its thread returns, also after its
      caller stopped waiting: a thread cannot be interrupted. A call cancelled while queued leaves
      the queue at once.
    - ``enter``/``leave`` (every hook) count the ``async def`` calls in flight, refused past
      ``async_calls`` for this connector or past the ``budget`` shared by every lane.

    Plain counters, read by the metrics collector (``_lane_metrics.py``); nothing is a label but
    the category, which the registry resolved before the lane was made.
    """

    def __init__(
        self,
        category: TaskCategory,
        pool: WorkerPool,
        *,
        workers: int,
        queue_size: int,
        async_calls: int,
        budget: AsyncBudget,
        is_async: Callable[[str], bool],
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if queue_size < 0:
            raise ValueError(f"queue_size must be at least 0, got {queue_size}")
        if async_calls < 1:
            raise ValueError(f"async_calls must be at least 1, got {async_calls}")
        self.category = category
        self.pool = pool
        self.workers = workers
        self.queue_size = queue_size
        self.async_calls = async_calls
        self.budget = budget
        self._is_async = is_async
        self._lock = threading.Lock()
        self._queue: deque[_Call] = deque()
        self._closed = False
        #: Plain calls handed to the pool and not finished (running, or waiting for a thread there).
        self.handed = 0
        #: Plain calls running on a thread now.
        self.running = 0
        #: ``async def`` calls in flight.
        self.async_in_flight = 0
        #: Calls refused, by the limit that was reached.
        self.refused_queue = 0
        self.refused_async = 0
        self.refused_async_total = 0
        #: Seconds plain calls waited from ``submit`` until a thread started them: sum, count, buckets.
        self.wait_sum = 0.0
        self.wait_count = 0
        self.wait_buckets = [0] * (len(WAIT_BUCKETS) + 1)

    def __repr__(self) -> str:
        return f"<Lane {self.category}: {self.running} running, {self.waiting} waiting>"

    @property
    def queued(self) -> int:
        """Plain calls in the lane's own queue."""
        return len(self._queue)

    @property
    def waiting(self) -> int:
        """Plain calls submitted and not started yet: in the lane's queue or waiting for a thread."""
        return self.queued + self.handed - self.running

    # Plain hooks: the executor.

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[_T]:
        """Run ``fn(*args, **kwargs)`` in the pool within this connector's share; queue or refuse past it."""
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        call = _Call(self, future, fn, args, kwargs)
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self.handed < self.workers:
                self.handed += 1
                call.state = _HANDED
            elif len(self._queue) < self.queue_size:
                future.add_done_callback(call.dropped)  # pending: not called here, under the lock
                self._queue.append(call)
                return future
            else:
                self.refused_queue += 1
                raise self._queue_full()
        try:
            self.pool.run(call)
        except BaseException:
            with self._lock:
                self.handed -= 1
            raise
        return future

    def _queue_full(self) -> ServiceOverloadedError:
        return ServiceOverloadedError(
            f"task type {self.category} is overloaded: it has {self.workers} plain-def calls in flight "
            f"(--connector-workers) and {self.queue_size} queued ({QUEUE_LIMIT}); retry later, raise those "
            "limits, or run more replicas",
            limit=QUEUE_LIMIT,
            value=self.queue_size,
            category=self.category,
        )

    def _started(self, waited: float) -> None:
        with self._lock:
            self.running += 1
            self.wait_sum += waited
            self.wait_count += 1
            self.wait_buckets[bisect.bisect_left(WAIT_BUCKETS, waited)] += 1

    def _finished(self, started: bool) -> None:
        """A handed call is over (or was cancelled before it started): its share goes to the next."""
        with self._lock:
            if started:
                self.running -= 1
            if not self._queue:
                self.handed -= 1
                return
            following = self._queue.popleft()
            following.state = _HANDED
        try:
            self.pool.run(following)
        except RuntimeError:  # the pool shut down meanwhile
            following.cancel()

    def _dropped(self, call: _Call) -> None:
        # Removed at once, not skipped later: while a hung remote holds the lane's threads, callers
        # that give up would otherwise pile up in the queue with their requests.
        with self._lock:
            if call.state == _QUEUED:
                call.state = _DROPPED
                self._queue.remove(call)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no new calls; with ``cancel_futures``, cancel those in the queue.

        Calls already handed to the pool are the pool's to run or cancel (``WorkerPool.shutdown``);
        ``wait`` is not supported (the service never waits for a thread it cannot interrupt).
        """
        with self._lock:
            self._closed = True
            queued = [call for call in self._queue if call.state == _QUEUED] if cancel_futures else []
        for call in queued:
            call.future.cancel()

    # Every hook: the admission.

    def enter(self, hook: str) -> None:
        """Admit a call of ``hook``; an ``async def`` one only within the async limits.

        ``enter`` and ``leave`` run on the event loop's thread only (the call layer's, where the
        service's handlers run), so their counters need no lock: each is one step of that thread.
        """
        if not self._is_async(hook):
            return  # plain hooks are limited by ``submit``
        budget = self.budget
        if self.async_in_flight >= self.async_calls or budget.in_flight >= budget.limit:
            raise self._refuse_async()
        self.async_in_flight += 1
        budget.in_flight += 1

    def _refuse_async(self) -> ServiceOverloadedError:
        budget = self.budget
        if self.async_in_flight >= self.async_calls:
            self.refused_async += 1
            return ServiceOverloadedError(
                f"task type {self.category} is overloaded: it has {self.async_calls} async calls in "
                f"flight ({ASYNC_LIMIT}); retry later, raise the limit, or run more replicas",
                limit=ASYNC_LIMIT,
                value=self.async_calls,
                category=self.category,
            )
        self.refused_async_total += 1
        return ServiceOverloadedError(
            f"the service is overloaded: it has {budget.limit} async calls in flight "
            f"({ASYNC_TOTAL_LIMIT}), refusing one of task type {self.category}; retry later, raise "
            "the limit, or run more replicas",
            limit=ASYNC_TOTAL_LIMIT,
            value=budget.limit,
            category=self.category,
        )

    def leave(self, hook: str) -> None:
        """A call that ``enter`` admitted is over."""
        if self._is_async(hook):
            self.async_in_flight -= 1
            self.budget.in_flight -= 1


class _Call:
    """One plain call through a lane: a pool ``Task``."""

    __slots__ = ("args", "fn", "future", "kwargs", "lane", "state", "submitted")

    def __init__(
        self,
        lane: Lane,
        future: concurrent.futures.Future[Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.lane = lane
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.state = _QUEUED
        self.submitted = time.perf_counter()

    def run(self) -> Callable[[], None] | None:
        lane = self.lane
        future = self.future
        if not future.set_running_or_notify_cancel():
            lane._finished(started=False)
            return None
        lane._started(time.perf_counter() - self.submitted)
        try:
            result = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:
            outcome = partial(future.set_exception, exc)
        else:
            outcome = partial(future.set_result, result)
        # The share is free before the caller hears back: a caller that saw the answer sees it free.
        lane._finished(started=True)
        return outcome

    def cancel(self) -> None:
        """The pool shut down before this call started."""
        if self.future.cancel():
            self.lane._finished(started=False)

    def dropped(self, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled():
            self.lane._dropped(self)


class Lanes:
    """The lanes of one service, one per task type, made on first use; and the pool they share."""

    def __init__(
        self,
        pool: WorkerPool,
        *,
        connector_workers: int,
        queue_size: int,
        connector_async_calls: int,
        max_async_calls: int,
    ) -> None:
        self.pool = pool
        self.connector_workers = connector_workers
        self.queue_size = queue_size
        self.connector_async_calls = connector_async_calls
        self.budget = AsyncBudget(max_async_calls)
        self._lanes: dict[TaskCategory, Lane] = {}
        self._lock = threading.Lock()

    def lane(self, category: TaskCategory, is_async: Callable[[str], bool]) -> Lane:
        """The lane of ``category`` (which the registry resolved); made on first use."""
        lane = self._lanes.get(category)
        if lane is None:
            with self._lock:
                lane = self._lanes.get(category)
                if lane is None:
                    lane = self._lanes[category] = Lane(
                        category,
                        self.pool,
                        workers=self.connector_workers,
                        queue_size=self.queue_size,
                        async_calls=self.connector_async_calls,
                        budget=self.budget,
                        is_async=is_async,
                    )
        return lane

    def __iter__(self) -> Iterator[Lane]:
        return iter(list(self._lanes.values()))

    def get(self, category: TaskCategory) -> Lane | None:
        """The lane of ``category``, if a call made one."""
        return self._lanes.get(category)

    def shutdown(self) -> None:
        """Accept no new calls; cancel every call not started yet; threads finish what they run."""
        for lane in self:
            lane.shutdown(wait=False, cancel_futures=True)
        self.pool.shutdown(cancel_waiting=True)
