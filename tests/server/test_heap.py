"""``serve`` freezes the loaded heap once every connector has loaded, and gives it back when it stops."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import signal
import weakref

import pytest

from connector.server import ConnectorService, ServiceOptions
from connector.testing import registry_of
from tests.server.conftest import ALL_SAMPLES


class _Cycle:
    """An object in a reference cycle: only the cyclic GC frees it."""

    def __init__(self) -> None:
        self.me = self


async def test_serve_freezes_the_loaded_heap_and_unfreezes_it_when_it_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="connector.server")
    assert gc.get_freeze_count() == 0
    service = ConnectorService(registry_of(*ALL_SAMPLES), ServiceOptions(port=0, prometheus_port=None))
    serving = asyncio.create_task(service.serve())
    try:
        await asyncio.wait_for(service.ready.wait(), 30)
        for _ in range(500):
            if gc.get_freeze_count():
                break
            await asyncio.sleep(0.01)
        frozen = gc.get_freeze_count()
        assert frozen > 1000
        # What calls make after the freeze is collected as before.
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert gone() is None
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, 30)
    finally:
        serving.cancel()
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
    froze = [r.getMessage() for r in caplog.records if r.getMessage().startswith("froze the loaded heap")]
    assert len(froze) == 1
    # Frozen objects that reference counting frees leave the count: it was at least as high then.
    logged = re.fullmatch(
        r"froze the loaded heap: (\d+) objects no longer scanned by the cyclic GC", froze[0]
    )
    assert logged is not None
    assert int(logged.group(1)) >= frozen


async def test_a_service_started_without_serve_freezes_nothing() -> None:
    """Only ``serve`` (what ``connector serve`` runs) freezes: a library caller's heap is left as it is."""
    service = ConnectorService(registry_of(*ALL_SAMPLES), ServiceOptions(port=0, prometheus_port=None))
    await service.start()
    try:
        await asyncio.wait_for(service.ready.wait(), 30)
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() == 0
    finally:
        await service.stop(0)
