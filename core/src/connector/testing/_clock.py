"""FakeClock: a clock that only moves when told to, so polling and timeouts are tested without sleeping."""

from __future__ import annotations

import datetime as dt

#: 2023-11-14 22:13:20 UTC: a fixed, recognisable start so test output does not change between runs.
DEFAULT_START = 1_700_000_000.0


class FakeClock:
    """A controllable clock: ``time()`` returns a fixed instant until ``advance`` or ``sleep`` moves it.

    Pass it (or its bound ``time`` method) wherever a connector takes a clock, such as a
    ``clock: Callable[[], float] = time.time`` constructor argument; calling the clock itself is the
    same as ``time()``. ``sleep`` and ``asleep`` advance the clock at once instead of waiting, and
    record each duration in ``sleeps``.
    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._start = float(start)
        #: Every duration passed to ``sleep`` or ``asleep``, in order.
        self.sleeps: list[float] = []

    def __repr__(self) -> str:
        return f"<FakeClock at +{self.elapsed:g}s>"

    def __call__(self) -> float:
        return self._now

    def time(self) -> float:
        """Seconds since the epoch, like ``time.time()``."""
        return self._now

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, like ``time.monotonic()`` (here: equal to ``time()``)."""
        return self._now

    def now(self, tz: dt.tzinfo = dt.timezone.utc) -> dt.datetime:
        """The current instant as an aware ``datetime`` (UTC unless ``tz`` is given)."""
        return dt.datetime.fromtimestamp(self._now, tz)

    @property
    def elapsed(self) -> float:
        """Seconds the clock has moved since it was made."""
        return self._now - self._start

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (which must not be negative)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds!r})")
        self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` at once, as if ``time.sleep(seconds)`` had passed."""
        self.advance(seconds)
        self.sleeps.append(seconds)

    async def asleep(self, seconds: float) -> None:
        """Advance by ``seconds`` and yield to the event loop once, like ``await asyncio.sleep(seconds)``."""
        import asyncio

        self.sleep(seconds)
        await asyncio.sleep(0)
