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
from click.testing import CliRunner

from connector import (
    PROVIDER_ENTRY_POINT_GROUP,
    ConnectorOrigin,
    ConnectorRecord,
    ConnectorRegistry,
    ConnectorState,
    ProvidedConnector,
    TaskCategory,
)
from connector.cli import cli
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


def _interpreter_path() -> list[str]:
    """The standard library's entries of sys.path, and the folder connector is imported from."""
    import subprocess

    import connector

    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", "import json, sys; print(json.dumps(sys.path))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [*json.loads(done.stdout), str(Path(connector.__file__).resolve().parents[1])]


# The learner runs with exactly the discovering process's sys.path (issue 11): the narrowed one must
# still hold the standard library and connector, which hold no distribution's metadata.
INTERPRETER_PATH = _interpreter_path()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    # What this process imports from the site (`connector check` loads connectors) writes no
    # bytecode there, whatever PYTHONDONTWRITEBYTECODE says: pip compiles a real install's at install
    # time, and a __pycache__ made in a watched folder would turn the cache hits asserted here into
    # scans on a machine that writes bytecode.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    sites = narrowed_site(tmp_path, monkeypatch)
    narrowed = next(sites)
    monkeypatch.setattr(sys, "path", [*sys.path, *INTERPRETER_PATH])
    yield narrowed
    for _ in sites:  # its clean-up
        pass


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
        f"open({str(pids)!r} + '.tmp', 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        f"os.replace({str(pids)!r} + '.tmp', {str(pids)!r})\n"
        "time.sleep(600)\n"
    )
    install_provider(site, source)
    # The limit must leave the learner time to write its pids before it is killed: a slow machine
    # gets a larger one (a generous guard), never a failure.
    for limit in LIMITS:
        record = _only(discover_installed(import_timeout=limit)[0])
        if pids.exists():
            break
    else:
        pytest.fail(f"the hung provider never wrote its pids, even with {limit} s")
    assert record.problem == (
        f"{OWN}: learning what it provides did not finish in {limit:g} s; fix the provider's import, or "
        "raise the limit with CONNECTOR_IMPORT_TIMEOUT (seconds)"
    )
    learner, child = map(int, pids.read_text().split())
    # Both were killed: gone, or dead and waiting to be reaped (by whatever adopted the orphan).
    assert [_wait_gone(pid) for pid in (learner, child)] == [True, True]


#: Import limits tried in turn, so that a slow machine is given more time rather than failing.
LIMITS = (1.5, 3, 6, 12, 24, 48)

RUNNING_SOURCE = """\
def running(pid):
    \"\"\"Whether ``pid`` runs: False once it is gone or a zombie (dead, not reaped yet).\"\"\"
    import os, subprocess
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask ps
        done = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
        return done.returncode == 0 and not done.stdout.strip().startswith("Z")
"""
_namespace: dict[str, object] = {}
exec(RUNNING_SOURCE, _namespace)
running = _namespace["running"]


def _wait_gone(pid: int) -> bool:
    """Whether ``pid`` stops running within a generous guard (30 s)."""
    import time

    deadline = time.monotonic() + 30
    while running(pid):  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_hung_provider_times_out_alone(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One shared deadline, but each learner that finished in it is an answer (issue 11)."""
    monkeypatch.setenv(CACHE_VARIABLE, "0")
    marks = tmp_path / "marks"
    marks.mkdir()

    def answering(name: str, prelude: str) -> str:
        return (
            f"import os, sys\nimport connector\n{prelude}"
            "class provider:\n    def provided(self):\n"
            f"        open(os.path.join({str(marks)!r}, {name!r}), 'w').write(str(os.getpid()))\n"
            f"        return [connector.ProviderProblem({name + ' answered'!r})]\n"
            "    def load(self, provided):\n        return None\n"
        )

    # The hung one waits until the others are no longer running, so its limit is known to have left
    # them time; then it hangs (for good: the guard is the learner's kill).
    hang = (
        f"import os, time\n{RUNNING_SOURCE}"
        f"marks = {str(marks)!r}\n"
        "def pid(name):\n"
        "    try:\n        return int(open(os.path.join(marks, name)).read())\n"
        "    except (OSError, ValueError):\n        return None\n"
        "while any(pid(n) is None or running(pid(n)) for n in ('chatty', 'quiet')):\n"
        "    time.sleep(0.01)\n"
        "open(os.path.join(marks, 'others-gone'), 'w').close()\n"
        "time.sleep(600)\n"
    )
    # More than a pipe holds (64 KiB) on stderr, before it answers.
    chatty = answering(
        "chatty", "for _ in range(512):\n    sys.stderr.write('x' * 1023 + '\\n')\nsys.stderr.flush()\n"
    )
    site.add(
        "connector-trio",
        "1.0",
        {"connector.providers": {n: f"trio_{n}:provider" for n in ("hang", "chatty", "quiet")}},
        {"trio_hang": hang, "trio_chatty": chatty, "trio_quiet": answering("quiet", "")},
    )
    for limit in LIMITS:
        for mark in marks.iterdir():
            mark.unlink()
        records, _ = discover_installed(import_timeout=limit)
        if (marks / "others-gone").exists():
            break
    else:
        pytest.fail(f"the chatty and quiet providers were still running after {limit} s")
    own = "connector-trio 1.0, provider '{0}' (trio_{0}:provider)".format
    assert [r.problem for r in records] == [
        f"{own('hang')}: learning what it provides did not finish in {limit:g} s; fix the provider's "
        "import, or raise the limit with CONNECTOR_IMPORT_TIMEOUT (seconds)",
        f"{own('chatty')}: chatty answered",
        f"{own('quiet')}: quiet answered",
    ]


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


def test_the_working_directory_is_not_on_the_learners_path(
    site: Site, log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Modules in the current directory are not imported by the learner (issue 11)."""
    install_provider(site)
    install_plugin(site, "fakesdk-shout", "1.0", "shout")
    here = tmp_path / "here"
    here.mkdir()
    imported = tmp_path / "imported-from-the-working-directory"
    for name in ("argparse", "json", "logging", "fakesdk_shout"):
        (here / f"{name}.py").write_text(f"open({str(imported)!r}, 'a').write({name!r} + ' ')\n")
    monkeypatch.chdir(here)
    records, _ = discover_installed(import_timeout=60)
    assert summary(records) == [("shout@0", "shout", "fakesdk_shout:Shout", "fakesdk-shout", "1.0")]
    assert not imported.exists()


def test_entries_of_sys_path_that_are_not_text(
    site: Site, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PathLike entry is passed as text; others (which importlib.metadata skips too) are left out."""
    from connector.registry._learn_providers import learn_providers

    install_provider(site)
    install_plugin(site, "fakesdk-shout", "1.0", "shout")
    path = [Path(sys.path[0]), *sys.path[1:], 42, b"/nowhere"]
    (outcome,) = learn_providers([("fakesdk", "fakesdk_bridge:provider")], timeout=60, sys_path=path)  # type: ignore[list-item]
    assert [item["task_type"] for item in outcome["provided"]] == ["shout"]


def test_a_learner_that_prints_a_lot_is_quoted_by_its_last_line(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """What a learner prints goes to a file, of which only the end is kept (issue 11)."""
    source = (
        "import os, sys\n"
        "for _ in range(4096):\n    print('x' * 1023, file=sys.stderr)\n"
        "print('fakesdk: no license', flush=True)\n"
        "sys.stderr.flush()\n"
        "os._exit(3)\n"
    )
    install_provider(site, source)
    with caplog.at_level("DEBUG", logger="connector"):
        record = _only(discover_installed(import_timeout=60)[0])
    assert record.problem == (
        f"{OWN}: learning what it provides failed: the learning process exited with code 3 without an "
        "answer; it printed: 'fakesdk: no license'"
    )
    (printed,) = [r.getMessage() for r in caplog.records if "printed" in r.msg]
    assert printed.endswith("fakesdk: no license\n")
    assert len(printed) < 70_000  # the last 64 KiB of 4 MiB


def test_an_answer_over_the_limit_is_refused(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from connector.registry import _learn_providers

    monkeypatch.setattr(_learn_providers, "ANSWER_LIMIT", 2000)
    source = (
        "import connector\n"
        "class provider:\n    def provided(self):\n"
        "        return [connector.ProviderProblem('x' * 3000)]\n"
        "    def load(self, provided):\n        return None\n"
    )
    install_provider(site, source)
    record = _only(discover_installed(import_timeout=60)[0])
    assert record.problem == (
        f"{OWN}: learning what it provides failed: its answer is larger than 2000 bytes (the limit); "
        "make the provider list less"
    )


def test_the_default_answer_limit() -> None:
    from connector.registry._learn_providers import ANSWER_LIMIT

    assert ANSWER_LIMIT == 16 * 1024 * 1024


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


def test_learning_writes_no_bytecode_next_to_a_provider(installed: Site, log: Path) -> None:
    # Whatever this interpreter writes: a __pycache__ made in a folder discovery watches would make
    # the next call scan and learn again.
    from connector.registry._learn_providers import _interpreter_flags

    assert _interpreter_flags()[:1] == ["-B"]
    backdate(installed.root)
    assert discover(installed)[1] == "scan"
    assert learned_now(log) == 1
    assert not list(installed.root.rglob("__pycache__"))


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


FAILURES = {
    "times out": "time.sleep(600)",
    "is killed": "os.kill(os.getpid(), 9)",
    "exits": "os._exit(3)",
    "raises": "raise ImportError('fakesdk needs FAKESDK_HOME')",
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failed_learning_is_not_cached(site: Site, log: Path, tmp_path: Path, failure: str) -> None:
    """A learner that crashed, timed out, was killed or gave no answer is asked again next time (issue 11)."""
    failing = tmp_path / "failing"
    failing.write_text("")
    source = f"import os, time\nif os.path.exists({str(failing)!r}):\n    {FAILURES[failure]}\n"
    install_provider(site, source + PROVIDER_SOURCE)
    backdate(site.root)
    limit = 1 if failure == "times out" else 60  # a hang hits any limit: no timing is asserted
    records, source_of = discover_installed(import_timeout=limit)
    assert (source_of, len(records), records[0].problem is not None) == ("scan", 1, True)
    (path,) = site.cache_files()
    assert json.loads(path.read_text())["providers"][0][4] is None  # not learned
    failing.unlink()  # fixed, though nothing the cache watches changed
    learned_now(log)
    assert discover_installed(import_timeout=limit) == ([], "cache, providers learned")
    assert discover_installed(import_timeout=limit) == ([], "cache")
    assert learned_now(log) == 1


def test_a_provider_problem_is_an_answer_and_cached(site: Site, log: Path, tmp_path: Path) -> None:
    missing = tmp_path / "libfake-missing"
    missing.write_text("")
    install_provider(site)
    plugin = f"import os\nif os.path.exists({str(missing)!r}):\n    raise ImportError('libfake is missing')\n"
    site.add(
        "fakesdk-shout",
        "1.0",
        {"fakesdk.plugins": {"shout": "fakesdk_shout:Shout"}},
        {"fakesdk_shout": plugin + plugin_source("Shout", "shout")},
    )
    backdate(site.root)
    assert discover(site) == ([(None, "fakesdk.plugins: shout", "", "fakesdk-shout", "1.0")], "scan")
    missing.unlink()
    # Still the cached answer: `connector list` does not see a fix that changes no distribution ...
    assert discover(site) == ([(None, "fakesdk.plugins: shout", "", "fakesdk-shout", "1.0")], "cache")
    assert learned_now(log) == 1
    # ... but `connector check` learns afresh (image builds, CI), and caches what it learned.
    result = CliRunner().invoke(cli, ["check"], catch_exceptions=False)
    assert (result.exit_code, result.output) == (0, "1 connector(s) loaded, 0 disabled, 0 problem(s).\n")
    assert learned_now(log) == 1
    assert discover(site) == ([("shout@0", "shout", "fakesdk_shout:Shout", "fakesdk-shout", "1.0")], "cache")


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


def test_an_answer_is_learned_again_when_a_variable_it_depends_on_changes(
    site: Site, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A provider whose answer depends on an opt-in: the cached answer keeps the value it was learned with.
    source = PROVIDER_SOURCE.replace(
        "class Provider:\n",
        "class Provider:\n    environment = ('FAKESDK_EXTRA',)\n",
    ).replace(
        '        _log("provided")\n',
        '        _log("provided")\n'
        "        if os.environ.get('FAKESDK_EXTRA'):\n"
        "            yield connector.ProviderProblem('the extra is on', None, None, 'fakesdk.extra')\n",
    )
    assert source != PROVIDER_SOURCE
    install_provider(site, source)
    backdate(site.root)
    monkeypatch.delenv("FAKESDK_EXTRA", raising=False)
    assert discover(site) == ([], "scan")
    assert discover(site) == ([], "cache")
    assert learned_now(log) == 1
    monkeypatch.setenv("FAKESDK_EXTRA", "1")
    records, source_of = discover(site)
    assert (len(records), source_of) == (1, "cache, providers learned")
    assert discover(site)[1] == "cache"
    assert learned_now(log) == 1
    monkeypatch.delenv("FAKESDK_EXTRA")
    assert discover(site) == ([], "cache, providers learned")


def test_a_provider_environment_that_is_not_names_is_a_broken_record(site: Site) -> None:
    install_provider(
        site, PROVIDER_SOURCE.replace("class Provider:\n", "class Provider:\n    environment = 'X'\n")
    )
    (record,) = discover_installed(import_timeout=60)[0]
    assert record.problem is not None
    assert record.problem.endswith(
        "learning what it provides failed: the provider's environment must be a sequence of variable "
        "names, not 'X'"
    )
