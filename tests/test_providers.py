"""Providers with fake distributions: what a provider provides is learned out of process, once, and cached.

Each test narrows ``sys.path`` to a folder of hand-written distributions (``tests/support/sites.py``):
the provider ``connector-fakesdk`` (``tests/support/providers.py``), plugins of its fake SDK in the
``fakesdk.plugins`` group, and native connectors. Learning runs ``python -m
connector.registry._learn_providers`` for real, with that ``sys.path``. The provider logs every
import and every ``provided()`` call with its pid to ``$FAKESDK_LOG``: that is how the tests see
that learning happened in another process, and how often.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector import (
    PROVIDER_ENTRY_POINT_GROUP,
    ConnectorOrigin,
    ConnectorRecord,
    ConnectorRegistry,
    ConnectorState,
    ProvidedConnector,
    TaskCategory,
)
from connector.registry._calls import ConnectorCalls, run_blocking
from connector.registry._discovery import CACHE_VARIABLE, _discover
from connector.registry._provider_discovery import discover_installed
from tests.support.providers import (
    LOG_VARIABLE,
    PROVIDER_DISTRIBUTION,
    PROVIDER_ENTRY_POINTS,
    PROVIDER_MODULE,
    PROVIDER_SOURCE,
    plugin_source,
)
from tests.support.sites import Site, backdate, narrowed_site

PROVIDER = ConnectorOrigin("fakesdk", "fakesdk_bridge:provider", "connector-fakesdk", "0.1")
BRIDGE = "bridged by provider 'fakesdk' of connector-fakesdk 0.1"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield from narrowed_site(tmp_path, monkeypatch)


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "fakesdk.log"
    path.write_text("")
    monkeypatch.setenv(LOG_VARIABLE, str(path))
    return path


def events(log: Path) -> list[tuple[str, bool]]:
    """The provider's log: each event, and whether it happened in this process."""
    lines = [line.rsplit(" ", 1) for line in log.read_text().splitlines()]
    return [(event, int(pid) == os.getpid()) for event, pid in lines]


def install_provider(site: Site, source: str = PROVIDER_SOURCE, *, version: str = "0.1") -> None:
    site.add(PROVIDER_DISTRIBUTION[0], version, PROVIDER_ENTRY_POINTS, {PROVIDER_MODULE: source})


def install_plugin(site: Site, name: str, version: str, task_type: str, *, broken: bool = False) -> None:
    module = f"fakesdk_{task_type.replace('-', '_')}"
    cls = task_type.title().replace("-", "")
    source = "raise ImportError('libfake is missing')\n" if broken else plugin_source(cls, task_type)
    site.add(name, version, {"fakesdk.plugins": {task_type: f"{module}:{cls}"}}, {module: source})


def summary(records: list[ConnectorRecord]) -> list[tuple[object, ...]]:
    return [
        (
            str(r.category) if r.category else None,
            r.entry_point,
            r.target,
            r.distribution,
            r.distribution_version,
        )
        for r in records
    ]


@pytest.fixture
def installed(site: Site, log: Path) -> Site:
    """The provider, two good plugins of its SDK, a broken one, and a native connector."""
    install_provider(site)
    install_plugin(site, "fakesdk-shout", "1.0", "shout")
    install_plugin(site, "fakesdk-count", "2.1", "count")
    install_plugin(site, "fakesdk-broken", "0.3", "broken", broken=True)
    site.add("connector-native", "1.0", {"connector": {"native": "connector_native:Native"}})
    return site


# What a provider provides becomes records.


def test_a_provider_provides_two_connectors_and_reports_a_problem(installed: Site, log: Path) -> None:
    records, source = discover_installed(import_timeout=60)
    assert source == "scan"
    assert summary(records) == [
        ("native@0", "native", "connector_native:Native", "connector-native", "1.0"),
        (None, "fakesdk.plugins: broken", "", "fakesdk-broken", "0.3"),
        ("count@0", "count", "fakesdk_count:Count", "fakesdk-count", "2.1"),
        ("shout@0", "shout", "fakesdk_shout:Shout", "fakesdk-shout", "1.0"),
    ]
    assert [r.provider for r in records] == [None, PROVIDER, PROVIDER, PROVIDER]
    assert records[1].problem == (
        f"fakesdk-broken 0.3, entry point 'fakesdk.plugins: broken', {BRIDGE}: importing the fakesdk "
        "plugin fakesdk_broken:Broken raised ImportError: libfake is missing; fix or uninstall it"
    )
    assert records[3].provided == ProvidedConnector(
        "shout", 0, "Fake shout", "fakesdk-shout", "1.0", "fakesdk_shout:Shout", is_sync=True
    )
    assert records[3].origin.describe() == (
        f"fakesdk-shout 1.0, task type 'shout' (fakesdk_shout:Shout), {BRIDGE}"
    )
    # Learned in another process: this one imported neither the provider nor the SDK's plugins.
    assert events(log) == [("import", False), ("provided", False)]
    assert not {PROVIDER_MODULE, "fakesdk_shout", "fakesdk_broken"} & set(sys.modules)


def test_a_provided_connector_loads_through_its_provider_on_first_use(installed: Site, log: Path) -> None:
    registry = ConnectorRegistry(discover_installed(import_timeout=60)[0])
    states = {str(e.category or e.entry_point): e.state for e in registry.entries()}
    assert states["shout@0"] is ConnectorState.AVAILABLE
    assert states["fakesdk.plugins: broken"] is ConnectorState.BROKEN
    log.write_text("")
    loaded = registry.get("shout")
    assert (loaded.name, loaded.is_sync, loaded.origin.provider) == ("Fake shout", True, PROVIDER)
    assert events(log) == [("import", True), ("load fakesdk_shout:Shout", True)]
    resource = run_blocking(ConnectorCalls(loaded).do(inputs={"n": 1}))
    assert resource.outputs == {"by": "Shout", "n": 1}
    registry.get("count")  # the provider is resolved once per process, for all its connectors
    assert events(log)[2:] == [("load fakesdk_count:Count", True)]


def test_listing_before_any_load_uses_what_the_provider_said() -> None:
    provided = ProvidedConnector("shout", 0, "Fake shout", "fakesdk-shout", "1.0", "k", is_sync=True)
    unknown = ProvidedConnector("count", 0, "Fake count", "fakesdk-count", "1.0", "k", is_sync=None)
    records = [
        ConnectorRecord(
            ConnectorOrigin(p.task_type, "k", p.distribution, "1.0", PROVIDER),
            p.category,
            load=lambda: None,
            provided=p,
        )
        for p in (provided, unknown)
    ]
    metadata = ConnectorRegistry(records).known_metadata()
    # A connector whose kind its provider does not know is left out until it is loaded.
    assert [(m.name, m.is_sync, m.categories) for m in metadata] == [
        ("Fake shout", True, (TaskCategory("shout"),))
    ]


# The provider's own failures: each is one broken record, never the caller's crash.


def _only(records: list[ConnectorRecord]) -> ConnectorRecord:
    (record,) = records
    assert (record.category, record.origin, record.provider) == (
        None,
        ConnectorOrigin(*PROVIDER_ENTRY, provider=PROVIDER),
        PROVIDER,
    )
    return record


PROVIDER_ENTRY = ("fakesdk", "fakesdk_bridge:provider", "connector-fakesdk", "0.1")
OWN = "connector-fakesdk 0.1, provider 'fakesdk' (fakesdk_bridge:provider)"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (
            "raise ImportError('No module named fakesdk')\n",
            "learning what it provides failed: importing fakesdk_bridge:provider raised ImportError: "
            "No module named fakesdk",
        ),
        (
            "provider = 42\n",
            "learning what it provides failed: fakesdk_bridge:provider gives 42 (int), not a "
            "connector.ConnectorProvider (an object with provided() and load() methods, or a class or "
            "function that returns one)",
        ),
        (
            "def provider():\n    raise RuntimeError('no config file')\n",
            "learning what it provides failed: calling fakesdk_bridge:provider raised RuntimeError: "
            "no config file",
        ),
        (
            "class provider:\n    def provided(self):\n        raise KeyError('FAKESDK_HOME')\n"
            "    def load(self, provided):\n        return None\n",
            "learning what it provides failed: provided() raised KeyError: 'FAKESDK_HOME'",
        ),
        (
            "class provider:\n    def provided(self):\n        yield 'shout'\n"
            "    def load(self, provided):\n        return None\n",
            "learning what it provides failed: provided() gave 'shout' (str), not a "
            "connector.ProvidedConnector or connector.ProviderProblem",
        ),
        (
            "import connector\n"
            "class provider:\n    def provided(self):\n"
            "        return [connector.ProvidedConnector('a', 0, 'A', None, None, key=7)]\n"
            "    def load(self, provided):\n        return None\n",
            "learning what it provides failed: provided() gave a ProvidedConnector whose key is 7, not str",
        ),
        (
            "import os, sys\nprint('fakesdk banner')\nsys.stdout.flush()\nos._exit(3)\n",
            "learning what it provides failed: the learning process exited with code 3 without an answer; "
            "it printed: 'fakesdk banner'",
        ),
        (
            "raise SystemExit('fakesdk: no license')\n",
            "learning what it provides failed: importing fakesdk_bridge:provider raised SystemExit: "
            "fakesdk: no license",
        ),
    ],
    ids=[
        "import raises",
        "not a provider",
        "factory raises",
        "provided raises",
        "not an item",
        "bad field",
        "exits",
        "sys.exit",
    ],
)
def test_a_provider_that_fails_is_one_broken_record(site: Site, source: str, problem: str) -> None:
    install_provider(site, source)
    record = _only(discover_installed(import_timeout=60)[0])
    assert record.problem == f"{OWN}: {problem}"


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_provider_that_crashes_is_one_broken_record(site: Site) -> None:
    install_provider(site, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    record = _only(discover_installed(import_timeout=60)[0])
    assert record.problem == (
        f"{OWN}: learning what it provides failed: the learning process was killed by signal 9 without an "
        "answer"
    )


def test_a_provider_that_hangs_is_killed_at_the_import_limit(site: Site, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    source = (
        "import os, subprocess, sys, time\n"
        # A child of its own too, as an SDK may start: it must die with the learning process.
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(600)\n"
    )
    install_provider(site, source)
    record = _only(discover_installed(import_timeout=1.5)[0])
    assert record.problem == (
        f"{OWN}: learning what it provides did not finish in 1.5 s; fix the provider's import, or raise "
        "the limit with CONNECTOR_IMPORT_TIMEOUT (seconds)"
    )
    learner, child = map(int, pids.read_text().split())
    for pid in (learner, child):  # both were killed (and the learner reaped)
        with pytest.raises(ProcessLookupError):
            _wait_gone(pid)


def _wait_gone(pid: int) -> None:
    """Signal 0 to ``pid`` until it is gone (an orphan is reaped by init a moment after its death)."""
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        os.kill(pid, 0)
        time.sleep(0.01)


def test_what_a_provider_prints_is_not_its_answer(site: Site, log: Path) -> None:
    source = PROVIDER_SOURCE.replace('_log("import")', 'print("fakesdk 1.0 ready"); _log("import")')
    install_provider(site, source)
    install_plugin(site, "fakesdk-shout", "1.0", "shout")
    records, _ = discover_installed(import_timeout=60)
    assert summary(records) == [("shout@0", "shout", "fakesdk_shout:Shout", "fakesdk-shout", "1.0")]


def test_an_invalid_task_type_is_a_broken_record(site: Site) -> None:
    source = (
        "import connector\n"
        "class provider:\n    def provided(self):\n"
        "        return [connector.ProvidedConnector('neg', -1, 'Neg', None, None, 'fakesdk:neg')]\n"
        "    def load(self, provided):\n        return None\n"
    )
    install_provider(site, source)
    (record,) = discover_installed(import_timeout=60)[0]
    assert (record.category, record.distribution) == (None, "connector-fakesdk")
    assert record.problem == (
        f"connector-fakesdk 0.1, task type 'neg@-1' (fakesdk:neg), {BRIDGE}: the provider lists a connector "
        "whose task type is not valid: task type version must be an integer >= 0, got -1"
    )


def test_a_problem_of_the_provider_itself_names_the_provider(site: Site) -> None:
    source = (
        "import connector\n"
        "class provider:\n    def provided(self):\n"
        "        return [connector.ProviderProblem('fakesdk is not installed; pip install fakesdk')]\n"
        "    def load(self, provided):\n        return None\n"
    )
    install_provider(site, source)
    record = _only(discover_installed(import_timeout=60)[0])
    assert record.problem == f"{OWN}: fakesdk is not installed; pip install fakesdk"


# Learned once, cached like discovery: a change to what is installed is seen on the next call.


def learned_now(log: Path) -> int:
    """How many times ``provided()`` ran since the last call (and forget them)."""
    count = sum(event == "provided" for event, _ in events(log))
    log.write_text("")
    return count


def discover(site: Site) -> tuple[list[tuple[object, ...]], str]:
    records, source = discover_installed(import_timeout=60)
    return summary(records), source


def test_a_cache_hit_learns_nothing(installed: Site, log: Path) -> None:
    backdate(installed.root)
    first = discover(installed)
    assert (first[1], learned_now(log)) == ("scan", 1)
    for _ in range(2):
        assert discover(installed) == (first[0], "cache")
    assert learned_now(log) == 0


@pytest.mark.parametrize("change", ["install", "uninstall", "upgrade", "provider upgrade"])
def test_a_change_to_what_is_installed_is_learned_at_once(installed: Site, log: Path, change: str) -> None:
    backdate(installed.root)
    discover(installed)
    assert discover(installed)[1] == "cache"
    learned_now(log)
    if change == "install":
        install_plugin(installed, "fakesdk-new", "1.0", "new")
    elif change == "uninstall":
        installed.remove("fakesdk-count", "2.1")
    elif change == "upgrade":
        installed.upgrade("fakesdk-count", "2.1", "3.0")
    else:
        installed.upgrade(*PROVIDER_DISTRIBUTION, "0.2")
    records, source = discover(installed)
    assert (source, learned_now(log)) == ("scan", 1)
    provided = {r[1]: r[4] for r in records if r[0] != "native@0"}
    expected = {"fakesdk.plugins: broken": "0.3", "count": "2.1", "shout": "1.0"}
    if change == "install":
        expected["new"] = "1.0"
    elif change == "uninstall":
        del expected["count"]
    elif change == "upgrade":
        expected["count"] = "3.0"
    assert provided == expected


def test_with_the_cache_off_every_discovery_learns(
    installed: Site, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, "0")
    backdate(installed.root)
    for _ in range(2):
        assert discover(installed)[1] == "scan, cache off"
        assert learned_now(log) == 1
    assert installed.cache_files() == []


def test_a_timed_out_provider_is_learned_again_once_the_limit_is_raised(site: Site, tmp_path: Path) -> None:
    hang = tmp_path / "hang"
    hang.write_text("")
    source = f"import os, time\nif os.path.exists({str(hang)!r}):\n    time.sleep(600)\n" + PROVIDER_SOURCE
    install_provider(site, source)
    backdate(site.root)
    records, source_of = discover_installed(import_timeout=1)
    assert (source_of, records[0].problem is not None) == ("scan", True)
    hang.unlink()  # the provider would answer now, but nothing the cache watches changed
    records, source_of = discover_installed(import_timeout=1)
    assert (source_of, "did not finish in 1 s" in str(records[0].problem)) == ("cache", True)
    records, source_of = discover_installed(import_timeout=0.5)  # a smaller limit would time out too
    assert source_of == "cache"
    records, source_of = discover_installed(import_timeout=60)
    assert (source_of, records) == ("cache, providers learned", [])
    assert discover_installed(import_timeout=60)[1] == "cache"


def test_a_cache_written_by_connector_discovery_alone_learns_the_providers(
    installed: Site, log: Path
) -> None:
    backdate(installed.root)
    assert _discover("connector")[1] == "scan"  # discover_connectors() writes no providers
    assert discover(installed)[1] == "cache, providers learned"
    assert discover(installed)[1] == "cache"
    assert learned_now(log) == 1


@pytest.mark.parametrize(
    "corrupt",
    ["not a list", "short row", "bad outcome", "bad item", "bad limit"],
)
def test_a_corrupted_providers_section_is_learned_again(installed: Site, log: Path, corrupt: str) -> None:
    backdate(installed.root)
    expected = discover(installed)[0]
    learned_now(log)
    (path,) = installed.cache_files()
    document = json.loads(path.read_text())
    row = document["providers"][0]
    if corrupt == "not a list":
        document["providers"] = {"fakesdk": row}
    elif corrupt == "short row":
        document["providers"] = [row[:4]]
    elif corrupt == "bad outcome":
        row[4] = {"provided": "everything"}
    elif corrupt == "bad item":
        row[4]["provided"][0]["task_type_version"] = "0"
    else:
        row[4] = {"error": "x", "timed_out_after": "soon"}
    path.write_text(json.dumps(document))
    assert discover(installed) == (expected, "cache, providers learned")
    assert learned_now(log) == 1


def test_the_learner_can_be_run_by_hand(installed: Site) -> None:
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(installed.root)}
    done = subprocess.run(
        [sys.executable, "-m", "connector.registry._learn_providers", "fakesdk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert [item["kind"] for item in outcome["provided"]] == ["problem", "connector", "connector"]
    assert PROVIDER_ENTRY_POINT_GROUP == "connector.providers"


# Crashes during the load, in the serving process.


def test_a_load_that_raises_marks_that_connector_broken(site: Site, log: Path) -> None:
    install_provider(site)
    install_plugin(site, "fakesdk-shout", "1.0", "shout")
    refusing = plugin_source("Count", "count", extra="    refuse = 'count needs FAKESDK_TOKEN'\n")
    site.add(
        "fakesdk-count",
        "2.1",
        {"fakesdk.plugins": {"count": "fakesdk_count:Count"}},
        {"fakesdk_count": refusing},
    )
    registry = ConnectorRegistry(discover_installed(import_timeout=60)[0])
    (entry,) = [e for e in registry.load_all() if e.entry_point == "count"]
    assert (entry.state, entry.error) == (
        ConnectorState.BROKEN,
        f"fakesdk-count 2.1, task type 'count' (fakesdk_count:Count), {BRIDGE}: provider 'fakesdk' could "
        "not load it: RuntimeError: count needs FAKESDK_TOKEN",
    )
    assert registry.get("shout").name == "Fake shout"
