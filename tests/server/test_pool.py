"""The worker pool grows on demand and retires idle threads; lanes hold each connector to its share."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connector import ServiceOverloadedError, TaskCategory
from connector.server._lanes import WAIT_BUCKETS, AsyncBudget, Lane, Lanes
from connector.server._pool import WorkerPool

SLOW = TaskCategory("slow")
QUICK = TaskCategory("quick")


def until(predicate: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for a condition (no timing is asserted: the deadline only stops a broken test)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


class Gate:
    """Plain calls that block until released; counts those that started."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = 0
        self._lock = threading.Lock()

    def __call__(self, value: Any = None) -> Any:
        with self._lock:
            self.started += 1
        assert self.release.wait(30)
        return value


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    made = WorkerPool(8, min_workers=2, idle_seconds=30)
    yield made
    made.shutdown()


def lane(pool: WorkerPool, category: TaskCategory = SLOW, **limits: Any) -> Lane:
    limits.setdefault("workers", 2)
    limits.setdefault("queue_size", 1)
    limits.setdefault("async_calls", 3)
    limits.setdefault("budget", AsyncBudget(100))
    limits.setdefault("is_async", lambda hook: hook.startswith("async_"))
    return Lane(category, pool, **limits)


# The pool.


def test_threads_start_on_demand_up_to_the_maximum(pool: WorkerPool) -> None:
    assert pool.threads == 0  # nothing is started before it is needed
    gate = Gate()
    wide = lane(pool, workers=8, queue_size=4)
    futures = [wide.submit(gate, i) for i in range(10)]
    until(lambda: gate.started == 8)
    assert pool.threads == 8
    assert pool.busy == 8
    assert pool.started == 8
    assert wide.waiting == 2  # in the lane's queue: every thread is busy
    gate.release.set()
    assert [f.result(30) for f in futures] == list(range(10))
    assert pool.threads == 8  # the last two ran on threads that freed up, none was added


def test_tasks_past_the_maximum_wait_for_a_thread_and_are_never_refused() -> None:
    pool = WorkerPool(2, idle_seconds=30)
    try:
        gate = Gate()
        lanes = [lane(pool, TaskCategory(f"t{i}"), workers=1, queue_size=0) for i in range(4)]
        futures = [each.submit(gate) for each in lanes]
        until(lambda: gate.started == 2)
        assert pool.threads == 2
        assert pool.waiting == 2
        assert pool.pending == 4
        assert sum(each.waiting for each in lanes) == 2
        gate.release.set()
        for future in futures:
            future.result(30)
        assert pool.threads == 2
    finally:
        pool.shutdown()


def test_idle_threads_retire_down_to_the_minimum() -> None:
    pool = WorkerPool(6, min_workers=2, idle_seconds=0.05)
    try:
        gate = Gate()
        wide = lane(pool, workers=6)
        futures = [wide.submit(gate) for _ in range(6)]
        until(lambda: gate.started == 6)
        assert pool.threads == 6
        gate.release.set()
        for future in futures:
            future.result(30)
        until(lambda: pool.threads == 2)
        # The two kept threads serve the next calls without starting any.
        started = pool.started
        assert wide.submit(lambda: "again").result(30) == "again"
        assert pool.started == started
    finally:
        pool.shutdown()


def test_a_caller_that_waits_for_each_answer_is_served_by_one_thread(pool: WorkerPool) -> None:
    gate = Gate()
    wide = lane(pool, workers=8)
    burst = [wide.submit(gate) for _ in range(6)]
    until(lambda: gate.started == 6)
    gate.release.set()
    for future in burst:
        future.result(30)
    started = pool.started
    # A thread is idle again before its caller hears back, and the latest idle thread is woken
    # first: the others stay idle (and may retire), and no thread is started.
    names = {wide.submit(lambda: threading.current_thread().name).result(30) for _ in range(50)}
    assert len(names) == 1
    assert pool.started == started


def test_a_retired_pool_starts_threads_again() -> None:
    small = WorkerPool(3, idle_seconds=0.02)
    try:
        assert lane(small).submit(lambda: 1).result(30) == 1
        until(lambda: small.threads == 0)
        assert lane(small).submit(lambda: 2).result(30) == 2
        assert small.started == 2
    finally:
        small.shutdown()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_workers": 0}, "max_workers must be at least 1, got 0"),
        ({"max_workers": 2, "min_workers": 3}, "min_workers must be between 0 and 2, got 3"),
        ({"max_workers": 2, "idle_seconds": 0}, "idle_seconds must be positive, got 0"),
    ],
)
def test_bad_pool_arguments(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        WorkerPool(**arguments)


def test_shutdown_cancels_what_waits_and_refuses_new_work() -> None:
    pool = WorkerPool(1, idle_seconds=30)
    gate = Gate()
    lanes = [lane(pool, TaskCategory(f"t{i}"), workers=1, queue_size=1) for i in range(2)]
    running = lanes[0].submit(gate)
    until(lambda: gate.started == 1)
    waiting_for_thread = lanes[1].submit(gate)
    in_queue = lanes[1].submit(gate)
    for each in lanes:
        each.shutdown(wait=False, cancel_futures=True)
    pool.shutdown()
    assert in_queue.cancelled()
    assert waiting_for_thread.cancelled()
    assert (lanes[1].handed, lanes[1].queued) == (0, 0)
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        lanes[0].submit(gate)
    gate.release.set()
    assert running.result(30) is None  # a running call finishes
    until(lambda: pool.threads == 0)


# Lanes: plain hooks.


def test_a_full_lane_queues_then_refuses_with_its_limits_named(pool: WorkerPool) -> None:
    gate = Gate()
    slow = lane(pool, workers=2, queue_size=1)
    running = [slow.submit(gate) for _ in range(2)]
    queued = slow.submit(gate)
    until(lambda: gate.started == 2)
    assert (slow.running, slow.queued, slow.waiting) == (2, 1, 1)
    with pytest.raises(ServiceOverloadedError) as info:
        slow.submit(gate)
    assert str(info.value) == (
        "task type slow@0 is overloaded: it has 2 plain-def calls in flight (--connector-workers) and 1 "
        "queued (--queue-size); retry later, raise those limits, or run more replicas"
    )
    assert (info.value.limit, info.value.value, info.value.category) == ("--queue-size", 1, SLOW)
    assert slow.refused_queue == 1
    gate.release.set()
    for future in [*running, queued]:
        future.result(30)
    assert (slow.running, slow.queued, slow.handed) == (0, 0, 0)
    assert slow.wait_count == 3


def test_a_full_neighbour_never_delays_another_lane(pool: WorkerPool) -> None:
    gate = Gate()
    slow = lane(pool, SLOW, workers=2, queue_size=2)
    quick = lane(pool, QUICK, workers=2, queue_size=0)
    blocked = [slow.submit(gate) for _ in range(4)]
    until(lambda: gate.started == 2)
    with pytest.raises(ServiceOverloadedError):
        slow.submit(gate)
    # The slow lane holds two threads and queues two calls; the quick lane's calls still run now.
    assert [quick.submit(lambda i=i: i * 2).result(30) for i in range(5)] == [0, 2, 4, 6, 8]
    assert quick.refused_queue == 0
    gate.release.set()
    for future in blocked:
        future.result(30)


def test_a_call_holds_its_share_until_its_thread_returns(pool: WorkerPool) -> None:
    gate = Gate()
    slow = lane(pool, workers=1, queue_size=0)
    running = slow.submit(gate)
    until(lambda: gate.started == 1)
    assert not running.cancel()  # a thread cannot be interrupted: the caller may stop waiting, no more
    with pytest.raises(ServiceOverloadedError):
        slow.submit(gate)
    gate.release.set()
    running.result(30)
    assert slow.handed == 0
    assert slow.submit(lambda: "free").result(30) == "free"


def test_a_call_cancelled_in_the_queue_leaves_it(pool: WorkerPool) -> None:
    gate = Gate()
    slow = lane(pool, workers=1, queue_size=1)
    running = slow.submit(gate)
    queued = slow.submit(gate)
    until(lambda: gate.started == 1)
    assert queued.cancel()
    assert (slow.queued, slow.waiting) == (0, 0)
    replacement = slow.submit(lambda: "next")  # the queue has room again
    gate.release.set()
    running.result(30)
    assert replacement.result(30) == "next"
    assert gate.started == 1  # the cancelled call never ran
    assert (slow.handed, slow.queued) == (0, 0)


def test_callers_giving_up_while_a_lane_is_stuck_do_not_pile_up(pool: WorkerPool) -> None:
    gate = Gate()
    slow = lane(pool, workers=1, queue_size=3)
    stuck = slow.submit(gate)
    until(lambda: gate.started == 1)
    for _ in range(20):
        queued = [slow.submit(gate) for _ in range(3)]
        with pytest.raises(ServiceOverloadedError):
            slow.submit(gate)
        for future in queued:
            assert future.cancel()
        assert slow.queued == 0
    assert slow.refused_queue == 20
    gate.release.set()
    stuck.result(30)
    assert gate.started == 1
    assert (slow.handed, slow.queued) == (0, 0)


def test_exceptions_reach_the_caller_and_free_the_share(pool: WorkerPool) -> None:
    slow = lane(pool, workers=1, queue_size=0)

    def fail() -> None:
        raise LookupError("no such job")

    with pytest.raises(LookupError, match="no such job"):
        slow.submit(fail).result(30)
    assert slow.handed == 0
    assert slow.submit(lambda: "ok").result(30) == "ok"


def test_wait_time_is_counted_into_fixed_buckets(pool: WorkerPool) -> None:
    gate = Gate()
    slow = lane(pool, workers=1, queue_size=1)
    first = slow.submit(gate)
    second = slow.submit(lambda: None)
    until(lambda: gate.started == 1)
    time.sleep(0.02)  # lets the second call wait at least this long; only a lower bound is asserted
    gate.release.set()
    first.result(30)
    second.result(30)
    assert slow.wait_count == 2
    assert slow.wait_sum >= 0.02
    assert sum(slow.wait_buckets) == 2
    assert len(slow.wait_buckets) == len(WAIT_BUCKETS) + 1


# Lanes: admission of async hooks.


def test_async_calls_are_admitted_up_to_the_connector_limit(pool: WorkerPool) -> None:
    budget = AsyncBudget(100)
    slow = lane(pool, async_calls=2, budget=budget)
    slow.enter("async_create")
    slow.enter("async_get")
    slow.enter("create")  # a plain hook: limited by submit, not here
    with pytest.raises(ServiceOverloadedError) as info:
        slow.enter("async_create")
    assert str(info.value) == (
        "task type slow@0 is overloaded: it has 2 async calls in flight (--connector-async-calls); "
        "retry later, raise the limit, or run more replicas"
    )
    assert (info.value.limit, info.value.value, info.value.category) == ("--connector-async-calls", 2, SLOW)
    assert (slow.async_in_flight, budget.in_flight, slow.refused_async) == (2, 2, 1)
    slow.leave("create")
    slow.leave("async_get")
    slow.enter("async_get")
    assert (slow.async_in_flight, budget.in_flight) == (2, 2)


def test_async_calls_are_admitted_up_to_the_service_limit(pool: WorkerPool) -> None:
    budget = AsyncBudget(3)
    slow = lane(pool, SLOW, async_calls=10, budget=budget)
    quick = lane(pool, QUICK, async_calls=10, budget=budget)
    for _ in range(3):
        slow.enter("async_get")
    with pytest.raises(ServiceOverloadedError) as info:
        quick.enter("async_get")
    assert str(info.value) == (
        "the service is overloaded: it has 3 async calls in flight (--max-async-calls), refusing one of "
        "task type quick@0; retry later, raise the limit, or run more replicas"
    )
    assert (info.value.limit, info.value.value) == ("--max-async-calls", 3)
    assert (quick.refused_async_total, quick.async_in_flight) == (1, 0)
    slow.leave("async_get")
    quick.enter("async_get")
    assert budget.in_flight == 3


def test_the_lanes_of_a_service_are_one_per_task_type(pool: WorkerPool) -> None:
    lanes = Lanes(pool, connector_workers=3, queue_size=4, connector_async_calls=5, max_async_calls=6)
    first = lanes.lane(SLOW, lambda hook: False)
    assert lanes.lane(SLOW, lambda hook: True) is first
    assert lanes.get(QUICK) is None
    other = lanes.lane(QUICK, lambda hook: False)
    assert list(lanes) == [first, other]
    assert (first.workers, first.queue_size, first.async_calls, first.budget.limit) == (3, 4, 5, 6)
    assert first.budget is other.budget


def test_many_threads_submitting_at_once_keep_the_counts_exact(pool: WorkerPool) -> None:
    slow = lane(pool, workers=3, queue_size=1000)
    results: list[concurrent.futures.Future[int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def submit_many(start: int) -> None:
        barrier.wait()
        for i in range(start, start + 100):
            future = slow.submit(lambda i=i: i)
            with lock:
                results.append(future)

    threads = [threading.Thread(target=submit_many, args=(n * 100,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(f.result(30) for f in results) == list(range(800))
    assert (slow.handed, slow.running, slow.queued, slow.wait_count) == (0, 0, 0, 800)
    assert pool.threads <= pool.max_workers


def test_a_call_no_thread_could_start_for_is_not_run_later(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first thread cannot start (the process is out of threads): the caller is told, and the
    # call must not stay queued for the next thread to run behind its back (issue 13 review).
    pool = WorkerPool(4)
    one = lane(pool, workers=2, queue_size=0)
    ran: list[str] = []
    start = threading.Thread.start

    def cannot_start(thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", cannot_start)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        one.submit(ran.append, "told it failed")
    monkeypatch.setattr(threading.Thread, "start", start)
    try:
        one.submit(ran.append, "second").result(30)
        until(lambda: one.running == 0)
        assert ran == ["second"]
        assert (one.handed, one.waiting) == (0, 0)
    finally:
        pool.shutdown()
