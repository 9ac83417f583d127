"""A bounded thread pool for plain-``def`` hooks: a fixed number of workers and a bounded queue."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .._exceptions import ServiceOverloadedError

_T = TypeVar("_T")


class WorkerPool(concurrent.futures.Executor):
    """Runs plain hooks on ``workers`` threads; refuses work when ``queue_size`` calls already wait.

    A call counts until its thread returns, even when its caller stopped waiting (deadline or
    cancellation): a thread cannot be interrupted, so the slot is only free once it really is.
    ``submit`` raises ``ServiceOverloadedError`` instead of queueing without limit.
    """

    def __init__(self, workers: int, queue_size: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if queue_size < 0:
            raise ValueError(f"queue_size must be at least 0, got {queue_size}")
        self.workers = workers
        self.queue_size = queue_size
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="connector-worker")
        self._lock = threading.Lock()
        self._pending = 0

    @property
    def pending(self) -> int:
        """Calls running or queued right now."""
        return self._pending

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[_T]:
        """Queue ``fn(*args, **kwargs)``; raise ``ServiceOverloadedError`` when the pool is full."""
        with self._lock:
            if self._pending >= self.workers + self.queue_size:
                raise ServiceOverloadedError(self.workers, self.queue_size)
            self._pending += 1
        try:
            future = self._executor.submit(fn, *args, **kwargs)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    def _release(self, _future: object) -> None:
        with self._lock:
            self._pending -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the threads once their calls return (see ``concurrent.futures.Executor.shutdown``)."""
        self._executor.shutdown(wait=wait, cancel_futures=cancel_futures)
