"""Discovery and its cache: records come from metadata only, and a cached answer is never stale.

Most tests narrow ``sys.path`` to a folder of hand-written ``*.dist-info`` / ``*.egg-info``
distributions, so each case is exact and fast; the last ones pip-install real wheels into a
throwaway virtualenv. A cache is not written while the newest metadata is under 2 s old, so tests
that need one written first set the mtimes of their folders back ("backdate") instead of sleeping.
"""

from __future__ import annotations

import importlib.metadata  # imported before any test narrows sys.path
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from connector import ConfigurationError, TaskCategory
from connector.registry._discovery import (
    CACHE_VARIABLE,
    HOME_VARIABLE,
    ConnectorRecord,
    _discover,
    _load_target,
    cache_directory,
    discover_connectors,
)
from tests.support.venvs import Venv
from tests.support.wheels import build_wheel


def fields(records: list[ConnectorRecord]) -> list[tuple[object, ...]]:
    """What a record says, without its loader (which is a fresh callable each time)."""
    return [
        (r.entry_point, r.target, r.distribution, r.distribution_version, r.category, r.problem)
        for r in records
    ]


def backdate(*roots: Path) -> None:
    """Set the mtime of every folder and file under ``roots`` to 10 s ago (a new value each call)."""
    then = time.time_ns() - 10_000_000_000
    for root in roots:
        for path in [root, *root.rglob("*")]:
            os.utime(path, ns=(then, then), follow_symlinks=False)


class Site:
    """A folder of installed-looking distributions, and the discovery cache of a narrowed sys.path."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        root.mkdir()

    def add(
        self,
        name: str,
        version: str,
        entry_points: Mapping[str, str],
        *,
        egg_info: bool = False,
        module: str | None = None,
    ) -> Path:
        """Write a distribution's metadata folder (and optionally a module) as an installer would."""
        folder = self.root / (
            f"{name}.egg-info" if egg_info else f"{name.replace('-', '_')}-{version}.dist-info"
        )
        folder.mkdir()
        (folder / ("PKG-INFO" if egg_info else "METADATA")).write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        lines = ["[connector]", *(f"{k} = {v}" for k, v in entry_points.items())]
        (folder / "entry_points.txt").write_text("\n".join(lines) + "\n")
        if module is not None:
            package = self.root / name.replace("-", "_")
            package.mkdir()
            (package / "__init__.py").write_text(module)
        return folder

    def cache_files(self) -> list[Path]:
        return sorted((self.home / "cache").glob("discovery-*.json"))

    def cache_file(self) -> Path:
        (path,) = self.cache_files()
        return path


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """sys.path narrowed to one empty site folder; the cache under tmp_path/home."""
    site = Site(tmp_path / "site", tmp_path / "home")
    monkeypatch.setattr(sys, "path", [str(site.root)])
    monkeypatch.setenv(HOME_VARIABLE, str(site.home))
    monkeypatch.delenv(CACHE_VARIABLE, raising=False)
    before = set(sys.modules)
    yield site
    for name in set(sys.modules) - before:  # modules of the fake distributions
        if name.startswith("connector_"):
            del sys.modules[name]


def cached(site: Site) -> list[ConnectorRecord]:
    """Discover once so that the cache is written, and check that the next discovery is a hit."""
    backdate(site.root)
    records, source = _discover("connector")
    assert source == "scan"
    again, source = _discover("connector")
    assert (source, fields(again)) == ("cache", fields(records))
    return records


# Discovery itself.


def test_records_are_those_of_importlib_metadata(site: Site) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A", "a@2": "connector_a:A2"})
    site.add("connector-old", "0.3", {"old": "connector_old.hooks"}, egg_info=True)
    site.add("connector-bad", "2.0", {"bad@x": "connector_bad:B"})
    records = discover_connectors()
    expected = [(ep.name, ep.value) for ep in importlib.metadata.entry_points(group="connector")]
    assert sorted((r.entry_point, r.target) for r in records) == sorted(expected)
    by_name = {r.entry_point: r for r in records}
    assert by_name["a@2"].category == TaskCategory("a", 2)
    assert (by_name["a"].distribution, by_name["a"].distribution_version) == ("connector-a", "1.0")
    # An .egg-info folder has no version in its name: both come from PKG-INFO.
    assert (by_name["old"].distribution, by_name["old"].distribution_version) == ("connector-old", "0.3")
    assert by_name["bad@x"].category is None
    assert by_name["bad@x"].problem == (
        "connector-bad 2.0, entry point 'bad@x' (connector_bad:B): the entry-point name is not a task "
        "type: bad task category 'bad@x': the version after '@' must be a whole number"
    )


def test_a_cache_hit_gives_the_same_records_and_they_still_load(site: Site) -> None:
    site.add(
        "connector-a", "1.0", {"a": "connector_a:Impl.Inner"}, module="class Impl:\n    class Inner: pass\n"
    )
    scanned = cached(site)
    records, source = _discover("connector")
    assert source == "cache"
    assert fields(records) == fields(scanned)
    loaded = records[0].load()
    assert isinstance(loaded, type)
    assert loaded.__qualname__ == "Impl.Inner"


def test_the_cached_records_are_what_a_hit_returns(site: Site) -> None:
    # Proves that a hit really reads the file (and so that the invalidation tests below test something).
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)
    document = json.loads(site.cache_file().read_text())
    document["records"][0][1] = "edited_in_the_cache:A"
    site.cache_file().write_text(json.dumps(document))
    records, source = _discover("connector")
    assert (source, records[0].target) == ("cache", "edited_in_the_cache:A")


def test_listing_imports_no_plugin_on_a_scan_or_a_hit(site: Site) -> None:
    site.add("connector-boom", "1.0", {"boom": "connector_boom:X"}, module="raise RuntimeError('imported')\n")
    cached(site)
    assert _discover("connector")[1] == "cache"
    assert "connector_boom" not in sys.modules
    with pytest.raises(RuntimeError, match="imported"):
        discover_connectors()[0].load()


# Invalidation: every change that can alter the answer is seen by the next discovery.


def test_a_new_distribution_is_seen_at_once(site: Site) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)
    site.add("connector-b", "1.0", {"b": "connector_b:B"})
    records, source = _discover("connector")
    assert source == "scan"
    assert sorted(r.entry_point for r in records) == ["a", "b"]


def test_a_removed_distribution_is_gone_at_once(site: Site) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    folder = site.add("connector-b", "1.0", {"b": "connector_b:B"})
    cached(site)
    shutil.rmtree(folder)
    records, source = _discover("connector")
    assert (source, [r.entry_point for r in records]) == ("scan", ["a"])


def test_an_upgrade_is_seen_at_once(site: Site) -> None:
    folder = site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)
    folder.rename(site.root / "connector_a-2.0.dist-info")
    records, source = _discover("connector")
    assert (source, records[0].distribution_version) == ("scan", "2.0")


def test_an_in_place_edit_of_entry_points_txt_is_seen(site: Site) -> None:
    folder = site.add("connector-a", "1.0", {"a": "connector_a:A"})
    site.add("connector-quiet", "1.0", {})
    cached(site)
    # Same size, same folder: only the file's own mtime changes.
    (folder / "entry_points.txt").write_text("[connector]\nz = connector_a:A\n")
    records, source = _discover("connector")
    assert (source, [r.entry_point for r in records]) == ("scan", ["z"])


def test_an_entry_points_txt_added_to_another_distribution_is_seen(site: Site) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    quiet = site.add("helper-lib", "1.0", {})
    (quiet / "entry_points.txt").unlink()
    cached(site)
    (quiet / "entry_points.txt").write_text("[connector]\nlate = helper_lib:Late\n")
    records, source = _discover("connector")
    assert (source, sorted(r.entry_point for r in records)) == ("scan", ["a", "late"])


def test_an_egg_info_rewritten_in_place_is_seen(site: Site) -> None:
    # `setup.py develop` rewrites PKG-INFO in place; the folder name has no version in it.
    folder = site.add("connector-dev", "0.1", {"dev": "connector_dev:D"}, egg_info=True)
    cached(site)
    (folder / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: connector-dev\nVersion: 0.2\n")
    records, source = _discover("connector")
    assert (source, records[0].distribution_version) == ("scan", "0.2")


def test_another_sys_path_has_its_own_cache(site: Site, tmp_path: Path) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)
    other = Site(tmp_path / "other", site.home)
    other.add("connector-b", "1.0", {"b": "connector_b:B"})
    backdate(other.root)
    sys.path.append(str(other.root))
    records, source = _discover("connector")
    assert (source, sorted(r.entry_point for r in records)) == ("scan", ["a", "b"])
    assert len(site.cache_files()) == 2


def test_no_cache_is_written_while_the_metadata_is_fresh(site: Site) -> None:
    # A change within the same mtime tick as the scan could otherwise go unseen (as in "racy git").
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    assert _discover("connector")[1] == "scan"
    assert _discover("connector")[1] == "scan"
    assert site.cache_files() == []


# A cache file that cannot be used is rebuilt, never trusted and never an error.


def _valid_then(site: Site, corrupt: str) -> bytes:
    valid = json.loads(site.cache_file().read_text())
    if corrupt == "record fields":
        valid["records"][0] = [1, "x", None, None]
        return json.dumps(valid).encode()
    if corrupt == "record length":
        valid["records"][0] = valid["records"][0][:3]
        return json.dumps(valid).encode()
    if corrupt == "watched entry":
        valid["watched"][0] = None
        return json.dumps(valid).encode()
    if corrupt == "format":
        valid["identity"]["format"] = 999
        return json.dumps(valid).encode()
    return {
        "empty": b"",
        "not json": b"{not json",
        "truncated": site.cache_file().read_bytes()[:50],
        "invalid utf-8": b"\xff\xfe\x00garbage",
        "a list": b"[]",
        "missing keys": b'{"identity": {}}',
        "too deep": b"[" * 100_000,
    }[corrupt]


@pytest.mark.parametrize(
    "corrupt",
    [
        "empty",
        "not json",
        "truncated",
        "invalid utf-8",
        "a list",
        "missing keys",
        "too deep",
        "record fields",
        "record length",
        "watched entry",
        "format",
    ],
)
def test_a_corrupted_cache_file_is_rebuilt(site: Site, corrupt: str) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    scanned = cached(site)
    site.cache_file().write_bytes(_valid_then(site, corrupt))
    records, source = _discover("connector")
    assert (source, fields(records)) == ("scan", fields(scanned))
    records, source = _discover("connector")  # the rebuilt file is good again
    assert (source, fields(records)) == ("cache", fields(scanned))


def test_a_cache_directory_that_cannot_be_created_is_not_an_error(
    site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(HOME_VARIABLE, str(blocker / "home"))
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    backdate(site.root)
    for _ in range(2):
        records, source = _discover("connector")
        assert (source, [r.entry_point for r in records]) == ("scan", ["a"])


def test_a_directory_where_the_cache_file_goes_is_not_an_error(site: Site) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)
    path = site.cache_file()
    path.unlink()
    path.mkdir()
    for _ in range(2):
        records, source = _discover("connector")
        assert (source, [r.entry_point for r in records]) == ("scan", ["a"])
    assert path.is_dir()


_PROBE = """
import importlib.metadata, json, sys
from connector.registry._discovery import _discover
sys.path[:] = [sys.argv[1]]
records, source = _discover("connector")
print(json.dumps({"source": source, "entry_points": sorted(r.entry_point for r in records)}))
"""


def _probe(site: Site, home: Path, *, read_only: bool) -> dict[str, object]:
    """Discover in a fresh process whose HOME is ``home``, read-only when asked (really, not mocked)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "XDG_"))}
    env["HOME"] = str(home)
    command = [sys.executable, "-c", _PROBE, str(site.root)]
    folders = [home, *(p for p in home.rglob("*") if p.is_dir())]
    if read_only and os.geteuid() == 0:
        # root writes through any permission bits, so the home becomes a read-only mount instead.
        script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
        command = ["unshare", "--mount", "sh", "-c", script, "sh", str(home), *command]
    elif read_only:
        for folder in folders:
            folder.chmod(0o555)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert (done.returncode, done.stderr) == (0, "")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_read_only_home_reads_its_cache_and_discovers_without_one(site: Site, tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    backdate(site.root)
    assert _probe(site, home, read_only=False) == {"source": "scan", "entry_points": ["a"]}
    assert len(list((home / ".cache" / "connector").glob("discovery-*.json"))) == 1
    assert _probe(site, home, read_only=True) == {"source": "cache", "entry_points": ["a"]}
    site.add("connector-b", "1.0", {"b": "connector_b:B"})
    backdate(site.root)  # so that a cache would be written, were the home writable
    for _ in range(2):
        assert _probe(site, home, read_only=True) == {"source": "scan", "entry_points": ["a", "b"]}
    empty_home = tmp_path / "empty-user"
    empty_home.mkdir()
    assert _probe(site, empty_home, read_only=True) == {"source": "scan", "entry_points": ["a", "b"]}
    assert list(empty_home.iterdir()) == []


# When the cache is not used at all.


def test_the_cache_can_be_turned_off(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, "0")
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    backdate(site.root)
    assert _discover("connector")[1] == "scan, cache off"
    assert not site.home.exists()


@pytest.mark.parametrize("value", ["", " ", "1", "yes", "ON"])
def test_the_cache_is_on_unless_turned_off(site: Site, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, value)
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)


@pytest.mark.parametrize("value", ["0", "false", "No", "off"])
def test_the_cache_off_values(site: Site, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, value)
    assert _discover("connector")[1] == "scan, cache off"


def test_a_bad_cache_setting_exits_2_from_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.update({CACHE_VARIABLE: "sometimes", HOME_VARIABLE: str(tmp_path)})
    done = subprocess.run(
        [sys.executable, "-m", "connector", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "Error: CONNECTOR_DISCOVERY_CACHE: 'sometimes' is not a boolean (use 1 or 0)\n"


def test_a_bad_cache_setting_is_a_configuration_error(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_VARIABLE, "sometimes")
    with pytest.raises(ConfigurationError) as caught:
        discover_connectors()
    assert str(caught.value) == "CONNECTOR_DISCOVERY_CACHE: 'sometimes' is not a boolean (use 1 or 0)"


def test_a_patched_entry_points_function_bypasses_the_cache(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)
    fake = importlib.metadata.EntryPoint("fake", "fake_module:F", "connector")
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [fake])
    records, source = _discover("connector")
    assert (source, [r.entry_point for r in records]) == ("scan, cache off", ["fake"])


class _OtherDistributionFinder:
    """A meta-path finder that provides distributions of its own (as zipapp importers do)."""

    def find_spec(self, *args: object) -> None:
        return None

    def find_distributions(self, *args: object) -> list[importlib.metadata.Distribution]:
        return []


def test_another_distribution_finder_bypasses_the_cache(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)
    monkeypatch.setattr(sys, "meta_path", [_OtherDistributionFinder(), *sys.meta_path])
    assert _discover("connector")[1] == "scan, cache off"


def test_files_of_deleted_interpreters_are_pruned(site: Site) -> None:
    cache = site.home / "cache"
    cache.mkdir(parents=True)
    gone = {"identity": {"executable": str(site.root / "deleted-venv" / "python")}}
    (cache / "discovery-0000000000000001.json").write_text(json.dumps(gone))
    alive = {"identity": {"executable": sys.executable}}
    (cache / "discovery-0000000000000002.json").write_text(json.dumps(alive))
    (cache / "discovery-0000000000000003.json.1-1.tmp").write_text("left by a killed writer")
    (cache / "discovery-0000000000000004.json.2-2.tmp").write_text("being written right now")
    old = time.time() - 7200
    os.utime(cache / "discovery-0000000000000003.json.1-1.tmp", (old, old))
    (cache / "unrelated.txt").write_text("not ours")
    planted = {p.name for p in cache.iterdir()}
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)
    names = {p.name for p in cache.iterdir()}
    (written,) = names - planted
    assert written.startswith("discovery-")
    assert sorted(names - {written}) == [
        "discovery-0000000000000002.json",
        "discovery-0000000000000004.json.2-2.tmp",
        "unrelated.txt",
    ]


# Where the cache lives.


def test_cache_directory(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert (
        cache_directory({"CONNECTOR_HOME": "/srv/connector", "XDG_CACHE_HOME": "/x"})
        == "/srv/connector/cache"
    )
    if sys.platform.startswith("linux"):
        assert cache_directory({"XDG_CACHE_HOME": "/var/cache/me"}) == "/var/cache/me/connector"
        expected = os.path.join(os.path.expanduser("~"), ".cache", "connector")
        assert cache_directory({"XDG_CACHE_HOME": "relative/ignored"}) == expected
        assert cache_directory({}) == expected
    assert cache_directory({"CONNECTOR_HOME": home}) == os.path.join(home, "cache")


# Loading a target, the same way on a scan and on a hit.


def test_load_target(site: Site) -> None:
    site.add("connector-t", "1.0", {}, module="class Outer:\n    class Inner: pass\n")
    assert _load_target("connector_t:Outer.Inner").__qualname__ == "Outer.Inner"  # type: ignore[attr-defined]
    assert _load_target("connector_t").__name__ == "connector_t"  # type: ignore[attr-defined]
    assert _load_target(" connector_t : Outer [extra] ").__name__ == "Outer"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="has no attribute 'Missing'"):
        _load_target("connector_t:Missing")
    with pytest.raises(ModuleNotFoundError, match="No module named 'connector_nowhere'"):
        _load_target("connector_nowhere:X")
    message = "the entry point's value 'not a target!' is not 'module' or 'module:attribute'"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _load_target("not a target!")


# End to end: real wheels, a real pip, a real `connector list`.


def _connector_list(venv: Venv, home: Path) -> dict[str, tuple[str, str, str | None]]:
    done = venv.run(["connector", "list", "--json"], env={HOME_VARIABLE: str(home)})
    assert (done.returncode, done.stderr) == (0, "")
    return {
        e["entry_point"]: (e["target"], e["state"], e["distribution_version"])
        for e in json.loads(done.stdout)
    }


def _tamper(home: Path, entry_point: str) -> None:
    """Rewrite one target in the (single) cache file, so a hit is visible in the output."""
    (path,) = (home / "cache").glob("discovery-*.json")
    document = json.loads(path.read_text())
    for record in document["records"]:
        if record[0] == entry_point:
            record[1] = "from_the_cache:X"
    path.write_text(json.dumps(document))


@pytest.mark.e2e
def test_pip_install_upgrade_and_uninstall_are_seen_at_once(tmp_path: Path, core_wheel: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # Each plugin module raises when imported: listing must never import it, cached or not.
    module = {"connector_{0}/__init__.py": "raise RuntimeError('listing imported me')\n"}

    def wheel(name: str, version: str) -> Path:
        files = {path.format(name): text for path, text in module.items()}
        return build_wheel(
            wheels, f"connector-{name}", version, files, {"connector": {name: f"connector_{name}:C"}}
        )

    venv = Venv(tmp_path / "venv")
    venv.install(core_wheel, wheel("alpha", "1.0"))
    home = tmp_path / "home"

    backdate(venv.path)
    assert _connector_list(venv, home) == {"alpha": ("connector_alpha:C", "available", "1.0")}
    _tamper(home, "alpha")
    assert _connector_list(venv, home)["alpha"][0] == "from_the_cache:X"  # a hit

    venv.install(wheel("beta", "1.0"), no_deps=True)
    assert _connector_list(venv, home) == {
        "alpha": ("connector_alpha:C", "available", "1.0"),
        "beta": ("connector_beta:C", "available", "1.0"),
    }

    backdate(venv.path)
    _connector_list(venv, home)
    _tamper(home, "alpha")
    assert _connector_list(venv, home)["alpha"][0] == "from_the_cache:X"
    venv.install(wheel("alpha", "2.0"), no_deps=True)
    assert _connector_list(venv, home)["alpha"] == ("connector_alpha:C", "available", "2.0")

    backdate(venv.path)
    _connector_list(venv, home)
    _tamper(home, "alpha")
    assert _connector_list(venv, home)["alpha"][0] == "from_the_cache:X"
    done = venv.run([str(venv.python), "-m", "pip", "uninstall", "--yes", "--quiet", "connector-beta"])
    assert done.returncode == 0, done.stderr
    assert _connector_list(venv, home) == {"alpha": ("connector_alpha:C", "available", "2.0")}


def test_a_too_deep_file_of_another_interpreter_does_not_stop_pruning(site: Site) -> None:
    site.add("connector-a", "1.0", {"a": "connector_a:A"})
    cached(site)
    directory = site.cache_file().parent
    (directory / "learned-0000000000000000.json").write_bytes(b"[" * 100_000)
    site.add("connector-b", "1.0", {"b": "connector_b:B"})  # a new scan writes, then prunes
    records, source = _discover("connector")
    assert (source, len(records)) == ("scan", 2)
