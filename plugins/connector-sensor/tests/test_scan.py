"""Glob matching is bounded per get (entries and time) and says when it was cut short (issue 9)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from connector_sensor import FileSensor, ScanLimits
from touched import Touched

import connector
from connector.testing import FakeClock, LifecycleDriver

Phase = connector.Phase


def ticking(step: float) -> Callable[[], float]:
    """A monotonic clock that moves ``step`` seconds each time it is read."""
    counter = itertools.count()
    return lambda: next(counter) * step


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A ``/usr``-like tree of 20 directories of 20 files each (420 entries), none named ``wanted``."""
    for d in range(20):
        directory = tmp_path / f"dir{d:02}"
        directory.mkdir()
        for f in range(20):
            (directory / f"file{f:02}.txt").write_text("")
    return tmp_path


def driver_with(limits: ScanLimits, clock: FakeClock | None = None) -> LifecycleDriver:
    sensor = FileSensor(clock=clock or FakeClock(), scan_limits=limits)
    return LifecycleDriver(sensor, clock=clock, poll_interval=5)


def test_a_glob_stops_at_its_entry_limit_and_says_so(tree: Path, touched: Touched) -> None:
    driver = driver_with(ScanLimits(entries=100))
    pattern = str(tree / "**" / "wanted")
    meta = driver.create(inputs={"path": pattern})
    with touched.recording():
        resource = driver.get(meta)
    assert resource.phase is Phase.RUNNING
    assert resource.message == (
        f"waiting for {pattern!r} (0s); each scan stops at its limit of 100 entries (100 looked at), so "
        "narrow the glob"
    )
    # It stopped: it listed only a few of the 21 directories.
    assert 1 <= len(touched.listed()) < 21


def test_a_glob_stops_at_its_time_limit_and_says_so(tree: Path) -> None:
    """On a clock that moves 0.25 s per reading, a 1 s limit is spent after three entries."""
    driver = driver_with(ScanLimits(seconds=1, clock=ticking(0.25)))
    pattern = str(tree / "*" / "wanted")
    resource = driver.get(driver.create(inputs={"path": pattern}))
    assert resource.phase is Phase.RUNNING
    assert resource.message == (
        f"waiting for {pattern!r} (0s); each scan stops at its limit of 1s (3 looked at), so narrow the glob"
    )


def test_a_cut_short_scan_that_times_out_says_why_nothing_matched(tree: Path) -> None:
    clock = FakeClock()
    driver = driver_with(ScanLimits(entries=50), clock)
    pattern = str(tree / "**" / "wanted")
    lifecycle = driver.run(driver.template({"path": pattern, "timeout": "10s"}))
    assert lifecycle.final.phase is Phase.FAILED
    assert lifecycle.final.message == (
        f"file_sensor timed out after 10s: nothing matches {pattern!r}; each scan stops at its limit of "
        "50 entries (50 looked at), so narrow the glob"
    )


def test_within_its_limits_a_scan_is_complete(tree: Path) -> None:
    driver = driver_with(ScanLimits(entries=1000))
    pattern = str(tree / "**" / "wanted")
    assert driver.get(driver.create(inputs={"path": pattern})).message == f"waiting for {pattern!r} (0s)"
    (tree / "dir19" / "wanted").write_text("")
    assert driver.get(driver.create(inputs={"path": pattern})).phase is Phase.SUCCEEDED


def test_a_scan_stops_at_the_first_match(tree: Path, touched: Touched) -> None:
    driver = driver_with(ScanLimits(entries=1000))
    meta = driver.create(inputs={"path": str(tree / "*" / "file*.txt")})
    with touched.recording():
        assert driver.get(meta).phase is Phase.SUCCEEDED
    assert len(touched.listed()) == 2  # the root and one directory


def test_a_symlink_loop_ends(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    driver = driver_with(ScanLimits(entries=1000))
    for path in ("**/wanted", "*/*/*/*/*/*/wanted", "a/x", "loop/loop/loop/loop/wanted"):
        assert driver.get(driver.create(inputs={"path": str(tmp_path / path)})).phase is Phase.RUNNING
    (tmp_path / "wanted").write_text("")
    assert (
        driver.get(driver.create(inputs={"path": str(tmp_path / "loop/loop/wanted")})).phase
        is Phase.SUCCEEDED
    )


@pytest.mark.skipif(not os.path.isdir("/usr"), reason="needs a /usr directory")
def test_a_usr_glob_is_bounded(monkeypatch: pytest.MonkeyPatch, touched: Touched) -> None:
    """The measured fault: ``/usr/**`` kept scanning past the deadline. Now one get stops at its limit."""
    monkeypatch.setenv("CONNECTOR_SENSOR_ROOTS", "/usr")
    driver = driver_with(ScanLimits(entries=200))
    meta = driver.create(inputs={"path": "/usr/**/no-such-file-for-the-sensor"})
    with touched.recording():
        resource = driver.get(meta)
    assert resource.phase is Phase.RUNNING
    assert "each scan stops at its limit of 200 entries (200 looked at)" in resource.message
    assert touched.outside(os.path.realpath("/usr")) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"entries": 0}, "ScanLimits.entries must be a positive integer; got 0"),
        ({"entries": True}, "ScanLimits.entries must be a positive integer; got True"),
        ({"seconds": 0}, "ScanLimits.seconds must be a positive number; got 0"),
        ({"seconds": float("nan")}, "ScanLimits.seconds must be a positive number; got nan"),
    ],
)
def test_scan_limits_are_checked(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        ScanLimits(**options)  # type: ignore[arg-type]


def test_the_default_limits(tmp_path: Path) -> None:
    assert ScanLimits() == ScanLimits(entries=10_000, seconds=2.0)
    assert FileSensor().scan_limits == ScanLimits()
