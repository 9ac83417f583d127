"""The threads that run plain-``def`` hooks: started on demand up to a maximum, retired when idle."""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

logger = logging.getLogger("connector.server")

#: The names of the pool's threads: ``connector-worker_0``, ``connector-worker_1``, ...
THREAD_NAME_PREFIX = "connector-worker"

_R = TypeVar("_R")


class Task(Protocol):
    """Work for a pool thread: ``run`` it there, or ``cancel`` it when the pool shuts down first.

    ``run`` may return a function that hands its outcome to whoever waits for it: the pool calls
    it once the thread is ready for its next task, so the next call that outcome lets in finds
    the thread idle instead of starting another one.
    """

    def run(self) -> Callable[[], None] | None: ...

    def cancel(self) -> None: ...


class WorkerPool:
    """Threads for plain hooks: at most ``max_workers``, started when a task finds none idle.

    A thread idle for ``idle_seconds`` retires, down to ``min_workers`` (which are started on
    demand too, and then kept). A task that finds every thread busy and ``max_workers`` reached
    waits here in order of arrival; the pool never refuses one. Limits and refusals are the lanes'
    (``_lanes.py``): each connector hands the pool at most its own share of tasks, so what waits
    here is bounded by the sum of those shares.

    Threads are daemons: a hook that never returns cannot keep the process from exiting, and
    ``busy_threads`` names those still running one when the service has drained (issue 8).
    """

    def __init__(self, max_workers: int, *, min_workers: int = 0, idle_seconds: float = 60.0) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        if not 0 <= min_workers <= max_workers:
            raise ValueError(f"min_workers must be between 0 and {max_workers}, got {min_workers}")
        if not idle_seconds > 0:
            raise ValueError(f"idle_seconds must be positive, got {idle_seconds}")
        self.max_workers = max_workers
        self.min_workers = min_workers
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._ready: deque[Task] = deque()
        self._threads: set[threading.Thread] = set()
        self._busy: set[threading.Thread] = set()
        # The idle threads, each waiting for its own lock to be released, the latest idle last.
        self._idle: list[threading.Lock] = []
        self._numbers = itertools.count()
        self._shutdown = False
        #: Threads started since the pool was made, those that retired since included.
        self.started = 0

    @property
    def threads(self) -> int:
        """Threads alive now, busy or idle."""
        return len(self._threads)

    @property
    def busy(self) -> int:
        """Threads running a task now."""
        return len(self._busy)

    @property
    def waiting(self) -> int:
        """Tasks waiting for a thread (every thread busy and ``max_workers`` reached)."""
        return len(self._ready)

    @property
    def pending(self) -> int:
        """Tasks running or waiting for a thread."""
        with self._lock:
            return len(self._busy) + len(self._ready)

    def busy_threads(self) -> list[str]:
        """The names of the threads running a task now."""
        with self._lock:
            return sorted(thread.name for thread in self._busy)

    def run(self, task: Task) -> None:
        """Run ``task`` on a thread: an idle one, else a new one, else the first that frees up.

        Raises ``RuntimeError`` after ``shutdown``.
        """
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot run new calls after the worker pool shut down")
            self._ready.append(task)
            if self._idle:
                # The thread idle the shortest time: under a steady load the same few threads work
                # and the others stay idle long enough to retire (a FIFO wake-up would keep every
                # thread warm, and more threads contend for the GIL).
                self._idle.pop().release()
            elif len(self._threads) < self.max_workers:
                try:
                    self._start_thread()
                except RuntimeError:
                    # No thread at all will ever run it: it must not stay queued, or the next thread
                    # started would run a call whose caller was told it failed (issue 13 review).
                    self._ready.remove(task)
                    raise

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{THREAD_NAME_PREFIX}_{next(self._numbers)}", daemon=True
        )
        self._threads.add(thread)
        self.started += 1
        try:
            thread.start()
        except RuntimeError:
            # "can't start new thread": the tasks wait for the threads there are.
            self._threads.discard(thread)
            if not self._threads:
                raise
            logger.warning("could not start a worker thread; %d thread(s) serve", len(self._threads))

    def _work(self) -> None:
        me = threading.current_thread()
        ran = False
        deliver: Callable[[], None] | None = None
        while True:
            task: Task | None = None
            waiter: threading.Lock | None = None
            with self._lock:
                if ran:
                    self._busy.discard(me)
                    ran = False
                if self._ready:
                    task = self._ready.popleft()
                    self._busy.add(me)
                elif self._shutdown:
                    self._threads.discard(me)
                else:
                    waiter = threading.Lock()
                    waiter.acquire()
                    self._idle.append(waiter)
            if deliver is not None:
                # Only now, with this thread ready for the next task: the caller's next call would
                # otherwise find no idle thread and start one more.
                _contained(deliver)
                deliver = None
            if task is not None:
                ran = True
                deliver = _contained(task.run)
                continue
            if waiter is None:
                return  # shut down
            if waiter.acquire(timeout=self.idle_seconds):
                continue
            with self._lock:
                if waiter not in self._idle:
                    continue  # a task woke it just as it timed out
                self._idle.remove(waiter)
                if not self._ready and len(self._threads) > self.min_workers:
                    self._threads.discard(me)
                    return

    def shutdown(self, *, cancel_waiting: bool = True) -> None:
        """Run no new tasks; cancel those waiting for a thread; idle threads exit, busy ones when done."""
        with self._lock:
            self._shutdown = True
            waiting = list(self._ready) if cancel_waiting else []
            if cancel_waiting:
                self._ready.clear()
            idle, self._idle = self._idle, []
        for waiter in idle:
            waiter.release()
        for task in waiting:
            task.cancel()


def _contained(fn: Callable[[], _R]) -> _R | None:
    try:
        return fn()
    except BaseException:  # a task contains its call's outcome; this is a bug of the pool's user
        logger.exception("a worker pool task failed")
        return None
