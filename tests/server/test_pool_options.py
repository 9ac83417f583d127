"""The settings of the pool and the per-connector limits: defaults, and exact messages for bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from connector import ConfigurationError
from connector.server import ServiceOptions
from tests.support.venvs import ROOT


def test_defaults() -> None:
    options = ServiceOptions()
    assert (options.kept_threads, options.thread_limit) == (10, 128)
    assert (options.connector_thread_limit, options.connector_queue_limit) == (64, 256)
    assert (options.connector_async_calls, options.max_async_calls) == (2000, 5000)


@pytest.mark.parametrize(
    ("options", "limits"),
    [
        # --workers above the default maximum raises the maximum (it used to be the fixed pool size).
        ({"workers": 200}, (200, 200, 100, 400)),
        ({"workers": 2}, (2, 128, 64, 256)),
        # A maximum below the default --workers lowers the threads kept.
        ({"max_workers": 8}, (8, 8, 4, 16)),
        ({"max_workers": 1, "workers": 1}, (1, 1, 1, 4)),
        ({"connector_workers": 5}, (10, 128, 5, 20)),
        ({"connector_workers": 5, "queue_size": 0}, (10, 128, 5, 0)),
    ],
)
def test_derived_limits(options: dict[str, Any], limits: tuple[int, int, int, int]) -> None:
    made = ServiceOptions(**options)
    derived = (made.kept_threads, made.thread_limit, made.connector_thread_limit, made.connector_queue_limit)
    assert derived == limits


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_workers": 0}, "max workers must be at least 1, got 0"),
        ({"connector_workers": 0}, "connector workers must be at least 1, got 0"),
        ({"connector_async_calls": 0}, "connector async calls must be at least 1, got 0"),
        ({"max_async_calls": -5}, "max async calls must be at least 1, got -5"),
        (
            {"workers": 20, "max_workers": 8},
            "--workers (20) must not be more than --max-workers (8): --workers is how many threads are "
            "kept ready, --max-workers the most there may be",
        ),
        ({"connector_workers": 200}, "--connector-workers (200) must not be more than --max-workers (128)"),
        (
            {"connector_workers": 9, "max_workers": 8},
            "--connector-workers (9) must not be more than --max-workers (8)",
        ),
        ({"worker_idle_seconds": 0}, "worker idle seconds must be a positive number, got 0"),
    ],
)
def test_bad_limits(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        ServiceOptions(**options)
    assert str(info.value) == message


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    environ["CONNECTOR_HOME"] = os.environ["CONNECTOR_HOME"]
    environ["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "connector", "serve", "--port", "0", "--prometheus-port", "off", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-workers", "0"], "Invalid value for '--max-workers': 0 is not in the range x>=1."),
        (
            ["--connector-workers", "0"],
            "Invalid value for '--connector-workers': 0 is not in the range x>=1.",
        ),
        (["--queue-size", "-1"], "Invalid value for '--queue-size': -1 is not in the range x>=0."),
        (
            ["--connector-async-calls", "0"],
            "Invalid value for '--connector-async-calls': 0 is not in the range x>=1.",
        ),
        (
            ["--max-async-calls", "abc"],
            "Invalid value for '--max-async-calls': 'abc' is not a valid integer range.",
        ),
        (
            ["--workers", "20", "--max-workers", "8"],
            "Error: --workers (20) must not be more than --max-workers (8): --workers is how many threads "
            "are kept ready, --max-workers the most there may be",
        ),
        (
            ["--connector-workers", "16", "--max-workers", "8"],
            "Error: --connector-workers (16) must not be more than --max-workers (8)",
        ),
    ],
)
def test_bad_serve_options_exit_2(args: list[str], message: str) -> None:
    done = _serve(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Serving gRPC" not in done.stdout
