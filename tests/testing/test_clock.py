"""FakeClock moves only when told to."""

from __future__ import annotations

import datetime as dt

import pytest

from connector.testing import FakeClock


def test_time_stands_still_until_advanced() -> None:
    clock = FakeClock(start=100.0)
    assert clock.time() == clock() == clock.monotonic() == 100.0
    clock.advance(2.5)
    assert clock.time() == 102.5
    assert clock.elapsed == 2.5
    assert repr(clock) == "<FakeClock at +2.5s>"


def test_sleep_advances_and_records() -> None:
    clock = FakeClock(start=0.0)
    clock.sleep(1)
    clock.sleep(0.5)
    assert clock.time() == 1.5
    assert clock.sleeps == [1, 0.5]


async def test_asleep_advances_without_waiting() -> None:
    clock = FakeClock(start=0.0)
    await clock.asleep(3600)
    assert clock.time() == 3600
    assert clock.sleeps == [3600]


def test_now_is_an_aware_datetime() -> None:
    clock = FakeClock()
    assert clock.now() == dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc)


def test_it_cannot_go_back() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match=r"^a clock cannot go back: advance\(-1\)$"):
        clock.advance(-1)


def test_the_fixture_is_fresh_per_test(connector_clock: FakeClock) -> None:
    assert connector_clock.elapsed == 0
    assert connector_clock.sleeps == []
