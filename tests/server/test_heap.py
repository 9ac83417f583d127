"""``serve`` freezes the loaded heap once every connector has loaded, and gives it back when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import re
import signal
import time
import weakref
from collections.abc import AsyncIterator, Iterator

import pytest

from connector.registry._registry import ConnectorEntry
from connector.server import ConnectorService, ServiceOptions, _heap
from connector.testing import registry_of
from tests.server.conftest import ALL_SAMPLES

FROZE = re.compile(r"froze the loaded heap: (\d+) objects no longer scanned by the cyclic GC")


class _Cycle:
    """An object in a reference cycle: only the cyclic GC frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    """The same start on every Python: nothing frozen (Python 3.12 starts with some objects frozen)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


async def _stopped(serving: asyncio.Task[None]) -> None:
    """SIGTERM, as an operator stops it; then the task's end."""
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(serving, 30)


def _service(*connectors: type) -> ConnectorService:
    return ConnectorService(registry_of(*connectors), ServiceOptions(port=0, prometheus_port=None))


@contextlib.asynccontextmanager
async def _serving(service: ConnectorService) -> AsyncIterator[asyncio.Task[None]]:
    """``service.serve()`` in a task, ended (cancelled, if a failed test left it running) on the way out."""
    serving = asyncio.create_task(service.serve())
    try:
        yield serving
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


async def _frozen_soon() -> int:
    for _ in range(500):
        if gc.get_freeze_count():
            break
        await asyncio.sleep(0.01)
    return gc.get_freeze_count()


async def test_serve_freezes_the_loaded_heap_and_unfreezes_it_when_it_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="connector.server")
    service = _service(*ALL_SAMPLES)
    async with _serving(service) as serving:
        await asyncio.wait_for(service.ready.wait(), 30)
        frozen = await _frozen_soon()
        assert frozen > 1000
        # What calls make after the freeze is collected as before.
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert gone() is None
        await _stopped(serving)
    assert gc.get_freeze_count() == 0
    froze = [r.getMessage() for r in caplog.records if FROZE.fullmatch(r.getMessage())]
    assert len(froze) == 1
    # Frozen objects that reference counting frees leave the count: it was at least as high then.
    logged = FROZE.fullmatch(froze[0])
    assert logged is not None
    assert int(logged.group(1)) >= frozen


async def test_serve_puts_back_the_signal_handlers_it_found() -> None:
    """Like the heap, the process's SIGINT and SIGTERM handling is left as serve found it: a SIGINT
    the process ignored (a background job's) is ignored again once it has served."""

    def own_handler(signum: int, frame: object) -> None:
        raise AssertionError("not called")

    found = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, own_handler)
    try:
        service = _service(*ALL_SAMPLES)
        async with _serving(service) as serving:
            await asyncio.wait_for(service.ready.wait(), 30)
            assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # serve's own, meanwhile
            await _stopped(serving)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is own_handler
    finally:
        for sig, handler in found.items():
            signal.signal(sig, handler)


async def test_serve_stopped_before_the_connectors_loaded_froze_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stop that comes while the connectors still import: nothing is frozen, nothing is undone."""
    service = _service(*ALL_SAMPLES)
    original = service.registry.load_all

    def slow_load_all() -> list[ConnectorEntry]:
        time.sleep(1.0)
        return original()

    monkeypatch.setattr(service.registry, "load_all", slow_load_all)
    async with _serving(service) as serving:
        await asyncio.sleep(0.3)
        assert not service.ready.is_set()
        await _stopped(serving)
    assert gc.get_freeze_count() == 0


async def test_a_heap_frozen_before_serve_is_left_as_it_was(caplog: pytest.LogCaptureFixture) -> None:
    """A caller's own freeze (before a fork, say) is neither added to nor undone by serve."""
    caplog.set_level(logging.INFO, logger="connector.server")
    gc.freeze()
    before = gc.get_freeze_count()
    service = _service(*ALL_SAMPLES)
    async with _serving(service) as serving:
        await asyncio.wait_for(service.ready.wait(), 30)
        await asyncio.sleep(0.1)
        await _stopped(serving)
    assert 0 < gc.get_freeze_count() <= before
    messages = [r.getMessage() for r in caplog.records]
    assert not any(FROZE.fullmatch(m) for m in messages)
    assert any(
        re.fullmatch(r"the heap is frozen already \(\d+ objects\): left as it is", m) for m in messages
    )


async def test_a_service_started_without_serve_freezes_nothing() -> None:
    """Only ``serve`` (what ``connector serve`` runs) freezes: a library caller's heap is left as it is."""
    service = _service(*ALL_SAMPLES)
    await service.start()
    try:
        await asyncio.wait_for(service.ready.wait(), 30)
        await asyncio.sleep(0.05)
        assert gc.get_freeze_count() == 0
    finally:
        await service.stop(0)


def test_what_was_frozen_at_import_counts_as_nothing_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.12 starts with objects frozen: serve still freezes the heap it loaded."""
    gc.freeze()
    monkeypatch.setattr(_heap, "_FROZEN_AT_IMPORT", gc.get_freeze_count())
    assert _heap.freeze_loaded_heap() is True
    monkeypatch.setattr(_heap, "_FROZEN_AT_IMPORT", 0)
    assert _heap.freeze_loaded_heap() is False
