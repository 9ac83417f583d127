"""Reading a service's ``/metrics`` in tests, and waiting for a condition on the event loop."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample at ``url``, by name and labels."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample_value(samples: Samples, name: str, **labels: str) -> float:
    """The value of one sample (0 when it is absent, as an unset counter)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def until(predicate: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for ``predicate`` (no timing is asserted: the limit only stops a broken test)."""
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")
