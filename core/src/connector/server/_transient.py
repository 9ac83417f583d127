"""Transient ``get`` failures retried inside the call's deadline, before propeller counts them (issue 10).

Propeller counts every failed GetTask of a task and never resets the count; the sixth fails the
task for good. A connector that raises ``TransientError`` (its backend blinked) is therefore tried
again here, with backoff, for as long as the caller's deadline leaves room for one more try.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .._exceptions import TransientError

logger = logging.getLogger("connector.server")

_T = TypeVar("_T")

#: The first wait between tries, in seconds; it doubles up to ``MAX_DELAY``.
FIRST_DELAY = 0.1
MAX_DELAY = 2.0
#: The time tries may take when the caller set no deadline (propeller always sets one).
NO_DEADLINE_BUDGET = 10.0


async def with_retries(
    attempt: Callable[..., Awaitable[_T]],
    *,
    deadline: float | None,
    target: object,
) -> _T:
    """``await attempt(deadline=remaining)`` until it does not raise ``TransientError`` or time runs out.

    ``deadline`` is the caller's remaining time in seconds, or None when the caller set none: then
    each try gets None (the service's own ``--timeout`` still bounds it) and the tries together
    get ``NO_DEADLINE_BUDGET``. A try is made only when the wait before it and as long as the last
    try took still fit in the time left; otherwise the last ``TransientError`` is raised, its
    message saying how many tries failed. ``target`` names the call in the log line of a retry
    (anything whose ``str()`` does: it is rendered only if a retry is logged).
    """
    budget = NO_DEADLINE_BUDGET if deadline is None else deadline
    start = began = time.monotonic()
    delay = FIRST_DELAY
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt(deadline=None if deadline is None else budget - (began - start))
        except TransientError as exc:
            took = time.monotonic() - began
            # Jittered, so the replicas a backend's blink hit do not all try again at once.
            wait = max(delay * random.uniform(0.8, 1.0), exc.retry_after or 0.0)
            left = budget - (time.monotonic() - start)
            if wait + took >= left:
                raise TransientError(
                    f"{exc} ({tries} {'try' if tries == 1 else 'tries'} failed within {budget:.1f}s)",
                    retry_after=exc.retry_after,
                ) from exc
            logger.info("get for %s failed for now (try %d), again in %.2fs: %s", target, tries, wait, exc)
            await asyncio.sleep(wait)
            delay = min(delay * 2, MAX_DELAY)
            began = time.monotonic()
