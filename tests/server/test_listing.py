"""Listing never waits for an import; what earlier loads learned; the order of ListAgents for propeller."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl2.connector import connector_pb2
from grpc_health.v1 import health_pb2

from connector import ConnectorOrigin, ConnectorRecord, ConnectorRegistry, TaskCategory
from connector.registry._learned import Learned, LearnedMetadata
from connector.testing import registry_of
from tests.server import sample_plugin
from tests.test_discovery import Site, cached, site  # noqa: F401 - site is the fixture

# A deadline for every metadata call: an answer that waited for the held import would miss it
# (DEADLINE_EXCEEDED) rather than hang the test. It is no timing claim: bench/list_agents.py is.
DEADLINE = 20


class Gate(threading.Event):
    """Holds the slow import until set; ``started`` is set when the import begins (and cleared with it)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def clear(self) -> None:
        super().clear()
        self.started.clear()

    async def wait_started(self) -> None:
        """Until the held import has begun: every connector before it is loaded by then."""
        assert await asyncio.to_thread(self.started.wait, 30)


@pytest.fixture
def gate() -> Iterator[Gate]:
    """A ``Gate``, always set at the end, so no import thread stays blocked."""
    event = Gate()
    yield event
    event.set()


def _records(gate: Gate, *, version: str = "1", held: object = None) -> list[ConnectorRecord]:
    """asleep (imports at once), asyncdo@2 (held until ``gate`` is set), syncecho (at once).

    ``held`` replaces what the held import returns.
    """

    def held_import() -> object:
        gate.started.set()
        gate.wait(60)
        if held is not None:
            return held
        return sample_plugin.AsyncDo

    def record(entry_point: str, target: str, load: Callable[[], object]) -> ConnectorRecord:
        origin = ConnectorOrigin(entry_point, target, "connector-svctest", version)
        return ConnectorRecord(origin, TaskCategory.parse(entry_point), load)

    return [
        record("asleep", "connector_svctest:AsyncSleepConnector", lambda: sample_plugin.AsyncSleepConnector),
        record("asyncdo@2", "connector_svctest:AsyncDo", held_import),
        record("syncecho", "connector_svctest:SyncEcho", lambda: sample_plugin.SyncEcho),
    ]


def _agents(response: Any) -> list[tuple[str, bool, list[tuple[str, int]]]]:
    return [
        (a.name, a.is_sync, [(c.name, c.version) for c in a.supported_task_categories])
        for a in response.agents
    ]


def _connectors(response: Any) -> list[tuple[str, list[tuple[str, int]]]]:
    return [(c.name, [(t.name, t.version) for t in c.supported_task_categories]) for c in response.connectors]


async def _list(running: Any) -> tuple[Any, Any]:
    agents = await running.v1_meta.ListAgents(agent_pb2.ListAgentsRequest(), timeout=DEADLINE)
    connectors = await running.v2_meta.ListConnectors(connector_pb2.ListConnectorsRequest(), timeout=DEADLINE)
    return agents, connectors


ALL_AGENTS = [
    ("Sleep connector", False, [("asleep", 0)]),
    ("Async do", True, [("asyncdo", 2)]),
    ("Sync echo", True, [("syncecho", 0)]),
]
ALL_CONNECTORS = [(name, categories) for name, _, categories in ALL_AGENTS]


async def _not_serving(running: Any) -> bool:
    check = await running.health.Check(health_pb2.HealthCheckRequest(), timeout=DEADLINE)
    return bool(check.status == health_pb2.HealthCheckResponse.NOT_SERVING)


async def test_a_held_import_delays_no_listing_and_what_loads_is_learned_for_the_next_start(
    start_service: Any, gate: Gate, tmp_path: Path
) -> None:
    learned_file = str(tmp_path / "learned.json")

    # First start: nothing learned yet. While asyncdo's import is held the answer is what is loaded.
    first = await start_service(
        ConnectorRegistry(_records(gate), learned=LearnedMetadata(learned_file)), wait_ready=False
    )
    await gate.wait_started()
    agents, connectors = await _list(first)
    assert _agents(agents) == [("Sleep connector", False, [("asleep", 0)])]
    assert _connectors(connectors) == [("Sleep connector", [("asleep", 0)])]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await first.v1_meta.GetAgent(agent_pb2.GetAgentRequest(name="Async do"), timeout=DEADLINE)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "no connector is named 'Async do' (connector names: 'Sleep connector')"
    assert await _not_serving(first)
    assert not gate.is_set()  # every answer above came while the import was held
    gate.set()
    await first.service.ready.wait()
    agents, connectors = await _list(first)
    assert (_agents(agents), _connectors(connectors)) == (ALL_AGENTS, ALL_CONNECTORS)
    await first.service.stop(0)

    # Second start, same distributions: the learned names and kinds are listed before the import ends.
    gate.clear()
    second = await start_service(
        ConnectorRegistry(_records(gate), learned=LearnedMetadata(learned_file)), wait_ready=False
    )
    agents, connectors = await _list(second)
    assert (_agents(agents), _connectors(connectors)) == (ALL_AGENTS, ALL_CONNECTORS)
    got = await second.v1_meta.GetAgent(agent_pb2.GetAgentRequest(name="Async do"), timeout=DEADLINE)
    assert (got.agent.is_sync, [(c.name, c.version) for c in got.agent.supported_task_categories]) == (
        True,
        [("asyncdo", 2)],
    )
    got2 = await second.v2_meta.GetConnector(
        connector_pb2.GetConnectorRequest(name="Async do"), timeout=DEADLINE
    )
    assert [(c.name, c.version) for c in got2.connector.supported_task_categories] == [("asyncdo", 2)]
    assert await _not_serving(second)
    assert not gate.is_set()
    gate.set()
    await second.service.ready.wait()
    agents, connectors = await _list(second)
    assert (_agents(agents), _connectors(connectors)) == (ALL_AGENTS, ALL_CONNECTORS)


def _learn_everything(gate: Gate, learned_file: str) -> None:
    gate.set()
    ConnectorRegistry(_records(gate), learned=LearnedMetadata(learned_file)).load_all()
    gate.clear()


async def test_another_distribution_version_is_learned_again(
    start_service: Any, gate: Gate, tmp_path: Path
) -> None:
    learned_file = str(tmp_path / "learned.json")
    _learn_everything(gate, learned_file)
    upgraded = ConnectorRegistry(_records(gate, version="2"), learned=LearnedMetadata(learned_file))
    running = await start_service(upgraded, wait_ready=False)
    await gate.wait_started()
    agents, _ = await _list(running)
    assert _agents(agents) == [("Sleep connector", False, [("asleep", 0)])]
    gate.set()
    await running.service.ready.wait()
    assert _agents((await _list(running))[0]) == ALL_AGENTS
    assert {key[3] for key in _learned_keys(learned_file)} == {"1", "2"}


async def test_a_learned_connector_that_now_fails_to_load_is_listed_only_while_it_loads(
    start_service: Any, gate: Gate, tmp_path: Path
) -> None:
    learned_file = str(tmp_path / "learned.json")
    _learn_everything(gate, learned_file)

    class Gone:
        def __getattr__(self, name: str) -> object:
            raise ImportError("the SDK went away")

    registry = ConnectorRegistry(_records(gate, held=Gone()), learned=LearnedMetadata(learned_file))
    running = await start_service(registry, wait_ready=False)
    assert _agents((await _list(running))[0]) == ALL_AGENTS
    gate.set()
    await running.service.ready.wait()
    agents, connectors = await _list(running)
    assert _agents(agents) == [ALL_AGENTS[0], ALL_AGENTS[2]]
    assert _connectors(connectors) == [ALL_CONNECTORS[0], ALL_CONNECTORS[2]]


def test_known_metadata_takes_no_lock_a_load_holds(gate: Gate, tmp_path: Path) -> None:
    learned_file = str(tmp_path / "learned.json")
    _learn_everything(gate, learned_file)
    registry = ConnectorRegistry(_records(gate), learned=LearnedMetadata(learned_file))
    loader = threading.Thread(target=registry.load_all, daemon=True)
    loader.start()
    assert gate.started.wait(30)
    # The loader holds asyncdo@2's lock while its import is held; listing answers anyway.
    assert [(m.name, m.is_sync, m.categories) for m in registry.known_metadata()] == [
        ("Sleep connector", False, (TaskCategory("asleep"),)),
        ("Async do", True, (TaskCategory("asyncdo", 2),)),
        ("Sync echo", True, (TaskCategory("syncecho"),)),
    ]
    gate.set()
    loader.join(30)
    assert not loader.is_alive()


# The learned-metadata file.


def _learned_keys(path: str) -> list[tuple[str, ...]]:
    return [tuple(row[:4]) for row in json.loads(Path(path).read_text())["connectors"]]


def _origin(version: str = "1", dist: str | None = "connector-x") -> ConnectorOrigin:
    return ConnectorOrigin("x", "connector_x:X", dist, version)


def test_what_is_learned_is_saved_and_read_back(tmp_path: Path) -> None:
    path = str(tmp_path / "cache" / "learned.json")
    first = LearnedMetadata(path)
    first.remember(_origin(), "X", True)
    first.remember(_origin(dist=None), "Registered", False)  # no distribution: nothing to key it by
    assert first.save()
    document = json.loads(Path(path).read_text())
    assert document == {
        "identity": {"format": 1, "executable": sys.executable},
        "connectors": [["x", "connector_x:X", "connector-x", "1", "X", True]],
    }
    again = LearnedMetadata(path)
    assert again.get(_origin()) == Learned("X", True)
    assert again.get(_origin(version="2")) is None
    assert again.get(_origin(dist=None)) is None


def test_saving_merges_what_another_process_wrote_meanwhile(tmp_path: Path) -> None:
    path = str(tmp_path / "learned.json")
    mine, theirs = LearnedMetadata(path), LearnedMetadata(path)
    assert mine.get(_origin()) is None  # read before the other process wrote
    theirs.remember(_origin(version="9"), "X9", False)
    theirs.save()
    mine.remember(_origin(), "X", True)
    mine.save()
    assert set(_learned_keys(path)) == {
        ("x", "connector_x:X", "connector-x", "9"),
        ("x", "connector_x:X", "connector-x", "1"),
    }


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"{}",
        b'{"identity": {"format": 1, "executable": "x"}, "connectors": []}',
        b"[1]",
        b"[" * 100_000,  # nested past the parser's recursion limit
    ],
)
def test_an_unusable_file_is_ignored_and_rewritten(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "learned.json"
    path.write_bytes(content)
    learned = LearnedMetadata(str(path))
    assert learned.get(_origin()) is None
    learned.remember(_origin(), "X", False)
    assert learned.save()
    assert LearnedMetadata(str(path)).get(_origin()) == Learned("X", False)


def test_a_bad_row_makes_the_whole_file_unused(tmp_path: Path) -> None:
    path = tmp_path / "learned.json"
    identity = {"format": 1, "executable": sys.executable}
    rows = [["x", "connector_x:X", "connector-x", "1", "X", True], ["short"]]
    path.write_text(json.dumps({"identity": identity, "connectors": rows}))
    assert LearnedMetadata(str(path)).get(_origin()) is None


def test_a_cache_directory_that_cannot_be_made_only_means_nothing_is_saved(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")  # a file where the directory should be: even root fails
    learned = LearnedMetadata(str(tmp_path / "a-file" / "cache" / "learned.json"))
    learned.remember(_origin(), "X", False)
    assert not learned.save()
    assert learned.get(_origin()) == Learned("X", False)  # still known in this process
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_saving_with_nothing_new_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "learned.json"
    learned = LearnedMetadata(str(path))
    assert learned.save()
    assert not path.exists()
    learned.remember(_origin(), "X", False)
    learned.save()
    stamp = path.stat().st_mtime_ns
    learned.remember(_origin(), "X", False)  # the same again: nothing to write
    assert learned.save()
    assert path.stat().st_mtime_ns == stamp


def test_the_file_lives_beside_the_discovery_cache_and_follows_its_switch(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    learned = LearnedMetadata.for_this_process({"CONNECTOR_HOME": home})
    assert learned is not None
    assert os.path.dirname(learned.path) == os.path.join(home, "cache")
    assert os.path.basename(learned.path).startswith("learned-")
    off = {"CONNECTOR_HOME": home, "CONNECTOR_DISCOVERY_CACHE": "0"}
    assert LearnedMetadata.for_this_process(off) is None


def test_files_of_deleted_interpreters_are_pruned_with_the_discovery_cache(site: Site) -> None:  # noqa: F811
    cache = site.home / "cache"
    cache.mkdir(parents=True)
    gone = {"identity": {"format": 1, "executable": str(site.root / "deleted-venv" / "python")}}
    (cache / "learned-0000000000000001.json").write_text(json.dumps(gone))
    learned = LearnedMetadata.for_this_process()
    assert learned is not None
    learned.remember(_origin(), "X", False)
    learned.save()
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)  # a discovery that writes its cache file prunes
    names = sorted(p.name for p in cache.iterdir())
    assert [n for n in names if n.startswith("learned-")] == [os.path.basename(learned.path)]


def test_entries_are_capped_keeping_the_latest(tmp_path: Path) -> None:
    path = str(tmp_path / "learned.json")
    learned = LearnedMetadata(path)
    for n in range(1030):
        learned.remember(_origin(version=str(n)), "X", False)
    learned.save()
    versions = [key[3] for key in _learned_keys(path)]
    assert (len(versions), versions[0], versions[-1]) == (1024, "6", "1029")


# The order of ListAgents for Flyte 1's propeller, which keeps one version per task type.


def _connector(name: str, task_type: str, version: int, sync: bool) -> type:
    base = sample_plugin.SyncEcho if sync else sample_plugin.BlockingConnector
    attributes = {"name": name, "task_type_name": task_type, "task_type_version": version}
    return type(f"{task_type.title()}V{version}", (base,), attributes)


def propeller_routes(agents: Any) -> dict[str, tuple[int, str, bool]]:
    """What Flyte 1's propeller keeps from a ListAgents answer, per task type: (version, agent, sync).

    As its getConnectorRegistry reads it: agent by agent, the deprecated supported_task_types as
    version 0, then supported_task_categories; each one replaces what the task type had.
    """
    routes: dict[str, tuple[int, str, bool]] = {}
    for agent in agents:
        for name in agent.supported_task_types:
            routes[name] = (0, agent.name, agent.is_sync)
        for category in agent.supported_task_categories:
            routes[category.name] = (category.version, agent.name, agent.is_sync)
    return routes


async def test_v1_lists_the_version_propeller_should_keep_last(start_service: Any) -> None:
    registry = registry_of(
        # One async connector with two versions: version 0, which tasks use unless told otherwise.
        _connector("Multi", "multi", 0, sync=False),
        _connector("Multi", "multi", 1, sync=False),
        # Async version 0 and a sync version 1: the sync one, which a fallback to CreateTask would fail.
        _connector("Mixed", "mixed", 0, sync=False),
        _connector("Mixed sync", "mixed", 1, sync=True),
        # Two connectors that each hold the version the other's type should keep.
        _connector("Cross A", "xcross", 0, sync=False),
        _connector("Cross A", "ycross", 1, sync=False),
        _connector("Cross B", "xcross", 1, sync=False),
        _connector("Cross B", "ycross", 0, sync=False),
        _connector("Plain", "plain", 3, sync=True),
    )
    running = await start_service(registry)
    listed = await running.v1_meta.ListAgents(agent_pb2.ListAgentsRequest())
    assert propeller_routes(listed.agents) == {
        "multi": (0, "Multi", False),
        "mixed": (1, "Mixed sync", True),
        "xcross": (0, "Cross A", False),
        "ycross": (0, "Cross B", False),
        "plain": (3, "Plain", True),
    }
    assert _agents(listed) == [
        ("Mixed", False, [("mixed", 0)]),
        ("Multi", False, [("multi", 1), ("multi", 0)]),
        ("Plain", True, [("plain", 3)]),
        # Agents holding the version another agent's type should keep come after the others.
        ("Mixed sync", True, [("mixed", 1)]),
        ("Cross A", False, [("xcross", 0), ("ycross", 1)]),
        ("Cross B", False, [("xcross", 1), ("ycross", 0)]),
        ("Cross A", False, [("xcross", 0)]),  # read last, so propeller keeps xcross@0
    ]
    assert list(listed.agents[-1].supported_task_types) == ["xcross"]
    # GetAgent lists an agent's categories in the same order; Flyte 2 keeps every version anyway.
    got = await running.v1_meta.GetAgent(agent_pb2.GetAgentRequest(name="Multi"))
    assert [(c.name, c.version) for c in got.agent.supported_task_categories] == [("multi", 1), ("multi", 0)]
    connectors = await running.v2_meta.ListConnectors(connector_pb2.ListConnectorsRequest())
    assert sorted(
        (t.name, t.version) for c in connectors.connectors for t in c.supported_task_categories
    ) == [
        ("mixed", 0),
        ("mixed", 1),
        ("multi", 0),
        ("multi", 1),
        ("plain", 3),
        ("xcross", 0),
        ("xcross", 1),
        ("ycross", 0),
        ("ycross", 1),
    ]
