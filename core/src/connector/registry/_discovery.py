"""Discovery: the ``connector`` entry points of installed distributions, from metadata only, and cached."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.machinery
import json
import logging
import os
import re
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._model import ConnectorOrigin, FromOrigin, TaskCategory
from .._settings import HOME_VARIABLE, parse_flag

if TYPE_CHECKING:
    import importlib.metadata

    from ._provided import ProvidedConnector

#: The entry-point group connectors advertise themselves in.
ENTRY_POINT_GROUP = "connector"
#: Set to 0 to turn the discovery cache off (it is on by default).
CACHE_VARIABLE = "CONNECTOR_DISCOVERY_CACHE"
#: Bumped whenever the cache file's layout or the meaning of a record changes.
CACHE_FORMAT = 2

logger = logging.getLogger("connector")

# Patterns as text, compiled by re on first use: a discovery served from the cache matches neither,
# and `serve` binds sooner without compiling them (issue 13).
# "name-version.dist-info" as wheels install it; see _name_and_version.
_DIST_INFO = r"^(?P<name>[^-]+)-(?P<version>[^-]+)\.dist-info$"
# An entry point's value, as the packaging specification defines it: "module[:attr[.attr]] [extras]".
_TARGET = r"^\s*(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?(\[[^\]]*\]\s*)?$"
# A cache written while a watched file was this fresh could miss a change made in the same
# timestamp tick (file systems keep mtimes in ticks of up to 2 s), so it is not written then.
_RACY_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class ConnectorRecord(FromOrigin):
    """One connector entry point, as found in package metadata, before anything is imported.

    ``origin`` names the entry point, its target and its distribution. ``category`` is None when the
    entry-point name is not a valid ``type`` or ``type@version``; ``problem`` then says why.
    ``load`` imports the target. For a connector a provider provides, ``provided`` is what the
    provider said about it (``origin.provider`` names the provider), and ``load`` asks the provider
    for it; a problem a provider reported is a record with no category, like a bad entry point.
    """

    origin: ConnectorOrigin
    category: TaskCategory | None
    load: Callable[[], object] = dataclasses.field(compare=False, repr=False)
    problem: str | None = None
    provided: ProvidedConnector | None = None


def discover_connectors(group: str = ENTRY_POINT_GROUP) -> list[ConnectorRecord]:
    """Return one record per entry point in ``group``, importing no plugin module.

    The records are those of ``importlib.metadata.entry_points(group=group)``, in its order. They
    are kept in a cache file that is used again only while nothing it was read from changed (see
    ``docs/performance.md``); ``CONNECTOR_DISCOVERY_CACHE=0`` turns the cache off. Raises
    ``ConfigurationError`` when that variable is not a boolean.
    """
    return _discover(group)[0]


def _discover(group: str, environ: Mapping[str, str] | None = None) -> tuple[list[ConnectorRecord], str]:
    """The records, and where they came from: ``"cache"``, ``"scan"`` or ``"scan, cache off"``."""
    env = os.environ if environ is None else environ
    cache = _DiscoveryCache.for_this_process(group, env)
    if cache is None:
        records, _ = _scan(group, watch=False)
        return records, "scan, cache off"
    cached = cache.read()
    if cached is not None:
        return cached, "cache"
    records, watched = _scan(group, watch=True)
    cache.write(records, watched)
    return records, "scan"


def _scan(group: str, *, watch: bool) -> tuple[list[ConnectorRecord], list[list[Any]]]:
    """Read the entry points from metadata; with ``watch``, also the state of every file read.

    The state is taken before the entry points are read, so a change made during the scan makes
    the cache look stale next time rather than the other way round.
    """
    import importlib.metadata  # here, not at the top: a cache hit never needs it (about 20 ms)

    watched = _watched_state(importlib.metadata.distributions()) if watch else []
    records = [_record(ep) for ep in importlib.metadata.entry_points(group=group)]
    return records, watched


def entry_point_fields(group: str) -> list[tuple[str, str, str | None, str | None]]:
    """``(name, value, distribution, version)`` of each entry point in ``group``, from metadata only."""
    import importlib.metadata

    return [
        (ep.name, ep.value, *_name_and_version(getattr(ep, "dist", None)))
        for ep in importlib.metadata.entry_points(group=group)
    ]


def _record(ep: importlib.metadata.EntryPoint) -> ConnectorRecord:
    name, version = _name_and_version(getattr(ep, "dist", None))
    return _make_record(ep.name, ep.value, name, version)


def _make_record(
    entry_point: str, target: str, distribution: str | None, distribution_version: str | None
) -> ConnectorRecord:
    origin = ConnectorOrigin(entry_point, target, distribution, distribution_version)
    category: TaskCategory | None = None
    problem = None
    try:
        category = TaskCategory.parse(entry_point)
    except ValueError as exc:
        problem = f"{origin.describe()}: the entry-point name is not a task type: {exc}"
    return ConnectorRecord(
        origin=origin,
        category=category,
        load=functools.partial(_load_target, target),
        problem=problem,
    )


def _load_target(target: str) -> object:
    """Import an entry point's ``module:attr.attr`` target, as ``EntryPoint.load`` does."""
    match = re.match(_TARGET, target)
    if match is None:
        raise ValueError(f"the entry point's value {target!r} is not 'module' or 'module:attribute'")
    obj: object = importlib.import_module(match["module"])
    for attr in (match["attr"] or "").split("."):
        if attr:
            obj = getattr(obj, attr)
    return obj


def _name_and_version(dist: importlib.metadata.Distribution | None) -> tuple[str | None, str | None]:
    """The distribution's name and version.

    Installed wheels name their metadata folder ``name-version.dist-info``, so both are read from
    the folder name; parsing the METADATA file for each of a thousand distributions would dominate
    the cost of ``connector list``. Anything else falls back to the metadata.
    """
    if dist is None:
        return None, None
    path = getattr(dist, "_path", None)
    match = re.match(_DIST_INFO, getattr(path, "name", ""))
    if match:
        return match["name"].replace("_", "-"), match["version"]
    return dist.metadata["Name"], dist.version


def records_from_objects(objects: Iterable[tuple[TaskCategory, object]]) -> list[ConnectorRecord]:
    """Records for connector objects given directly (tests, ``--modules``), not through metadata."""
    records = []
    for category, obj in objects:
        target = (
            getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
        )
        records.append(
            ConnectorRecord(
                origin=ConnectorOrigin(entry_point=category.entry_point_name, target=str(target)),
                category=category,
                load=functools.partial(_given, obj),
            )
        )
    return records


def _given(obj: object) -> object:
    return obj


# The discovery cache.
#
# What `entry_points()` returns is a function of sys.path and of the files it reads: the listing
# of every sys.path directory (which distributions exist, and, from the folder names, their names
# and versions) and each distribution's entry_points.txt (and METADATA or PKG-INFO when the name
# does not come from the folder name). The cache stores the records together with the stat
# (mtime, size, inode) of each of those, taken before the scan; a reader uses the records only if
# every stat is still the same. Installing, upgrading or uninstalling anything creates, removes or
# renames an entry of a sys.path directory and so changes that directory's mtime; an in-place
# edit of an entry_points.txt changes the file's own stat.


def cache_directory(environ: Mapping[str, str] | None = None) -> str:
    """Where discovery cache files go: ``$CONNECTOR_HOME/cache``, else the user's cache directory.

    That is ``$XDG_CACHE_HOME/connector`` (when set to an absolute path), else
    ``~/Library/Caches/connector`` on macOS, ``%LOCALAPPDATA%\\connector\\cache`` on Windows and
    ``~/.cache/connector`` elsewhere.
    """
    env = os.environ if environ is None else environ
    home = env.get(HOME_VARIABLE, "").strip()
    if home:
        return os.path.join(os.path.expanduser(home), "cache")
    if sys.platform == "win32" and env.get("LOCALAPPDATA"):
        return os.path.join(env["LOCALAPPDATA"], "connector", "cache")
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    if xdg and os.path.isabs(xdg):  # the XDG spec says relative values are to be ignored
        return os.path.join(xdg, "connector")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Caches", "connector")
    return os.path.join(os.path.expanduser("~"), ".cache", "connector")


def _stat(path: str) -> list[Any]:
    """``[path, mtime_ns, size, inode]``, or ``[path, None]`` when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return [path, None]
    return [path, st.st_mtime_ns, st.st_size, st.st_ino]


def _watched_state(distributions: Iterable[importlib.metadata.Distribution]) -> list[list[Any]]:
    """The stat of every metadata file a scan reads (the sys.path entries are in the identity)."""
    watched = []
    for dist in distributions:
        path = getattr(dist, "_path", None)
        if path is None or not os.path.isdir(str(path)):
            # A distribution inside a zip file on sys.path: the zip file's stat covers it.
            continue
        folder = str(path)
        watched.append(_stat(os.path.join(folder, "entry_points.txt")))
        if not re.match(_DIST_INFO, os.path.basename(folder)):
            # The name and version come from the metadata file, which may be rewritten in place
            # (``setup.py develop`` does that to an .egg-info folder).
            watched.append(_stat(os.path.join(folder, "METADATA")))
            watched.append(_stat(os.path.join(folder, "PKG-INFO")))
    return watched


def _metadata_is_patched() -> bool:
    """Whether someone (a test, typically) replaced importlib.metadata's lookups in this process."""
    module = sys.modules.get("importlib.metadata")
    if module is None:
        return False
    functions = (getattr(module, "entry_points", None), getattr(module, "distributions", None))
    return any(getattr(f, "__module__", None) != "importlib.metadata" for f in functions)


class _DiscoveryCache:
    """One cache file for one interpreter, entry-point group and sys.path."""

    def __init__(self, directory: str, identity: dict[str, Any], path_state: list[list[Any]]) -> None:
        self.directory = directory
        self.identity = identity
        self.path_state = path_state
        digest = json.dumps(identity, sort_keys=True).encode()
        self.file = os.path.join(
            directory, f"discovery-{zlib.crc32(digest):08x}{zlib.adler32(digest):08x}.json"
        )

    @classmethod
    def for_this_process(cls, group: str, env: Mapping[str, str]) -> _DiscoveryCache | None:
        """The cache for this process, or None when it is turned off or cannot be trusted here."""
        if not parse_flag(CACHE_VARIABLE, env.get(CACHE_VARIABLE, "").strip() or "1"):  # unset or empty: on
            return None
        # Another finder that provides distributions (zipapps, custom importers) reads metadata
        # the cache knows nothing about.
        if any(
            hasattr(finder, "find_distributions") and finder is not importlib.machinery.PathFinder
            for finder in sys.meta_path
        ):
            return None
        if _metadata_is_patched() or not all(isinstance(entry, str) for entry in sys.path):
            return None
        try:
            directory = cache_directory(env)
            # "" on sys.path is the current directory, which importlib.metadata scans too.
            paths = [os.path.abspath(entry or os.curdir) for entry in sys.path]
        except (OSError, RuntimeError):  # no home directory, or a deleted working directory
            return None
        identity = {
            "format": CACHE_FORMAT,
            "group": group,
            "executable": sys.executable,
            "python": sys.version,
            "path": paths,
        }
        return cls(directory, identity, [_stat(p) for p in paths])

    def read(self) -> list[ConnectorRecord] | None:
        """The cached records if the file exists, is well formed and nothing it watches changed."""
        document = self.read_document()
        if document is None:
            return None
        return [_make_record(*fields) for fields in document["records"]]

    def read_document(self) -> dict[str, Any] | None:
        """The cache file's document if it is well formed and nothing it watches changed.

        Its ``records`` are checked ``[entry point, target, distribution, version]`` lists; its
        ``providers`` (None until a discovery learned them) are for ``registry/_provider_discovery.py``
        to check.
        """
        try:
            with open(self.file, "rb") as stream:
                document = json.loads(stream.read())
            if (
                document["identity"] != self.identity
                or document["path_state"] != self.path_state
                or any(_stat(item[0]) != item for item in document["watched"])
            ):
                return None
            document["records"] = [_checked_fields(fields) for fields in document["records"]]
            document.setdefault("providers", None)
            return document  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
            logger.debug("discovery cache %s is unreadable, rebuilding it: %s", self.file, exc)
            return None

    def write(
        self, records: list[ConnectorRecord], watched: list[list[Any]], providers: list[Any] | None = None
    ) -> bool:
        """Write the records atomically; False (and nothing written) when that is unsafe or fails.

        ``providers`` is what was learned about the provider entry points (None: nothing yet).
        """
        newest = max((item[1] for item in [*self.path_state, *watched] if item[1] is not None), default=0)
        if newest / 1e9 > time.time() - _RACY_SECONDS:
            return False
        document = {
            "identity": self.identity,
            "path_state": self.path_state,
            "watched": watched,
            "records": [[r.entry_point, r.target, r.distribution, r.distribution_version] for r in records],
            "providers": providers,
        }
        temporary = f"{self.file}.{os.getpid()}-{threading.get_ident()}.tmp"
        try:
            os.makedirs(self.directory, exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as stream:
                json.dump(document, stream, separators=(",", ":"))
            os.replace(temporary, self.file)  # readers see the old file or the new one, never half
        except OSError as exc:  # a read-only home or cache directory: discovery just is not cached
            logger.debug("cannot write the discovery cache %s: %s", self.file, exc)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return False
        self._prune()
        return True

    def _prune(self) -> None:
        """Remove the cache files of interpreters that no longer exist (deleted virtualenvs).

        The learned-metadata files (``registry/_learned.py``) go with them: they name their
        interpreter the same way.
        """
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            path = os.path.join(self.directory, name)
            if not name.startswith(("discovery-", "learned-")) or path == self.file:
                continue
            try:
                if name.endswith(".json"):
                    with open(path, "rb") as stream:
                        executable = json.loads(stream.read())["identity"]["executable"]
                    if os.path.exists(executable):
                        continue
                elif time.time() - os.stat(path).st_mtime < 3600:
                    continue  # a temporary file another process may still be writing
                os.unlink(path)
            except (OSError, ValueError, TypeError, KeyError, RecursionError):
                continue


def _checked_fields(fields: Any) -> tuple[str, str, str | None, str | None]:
    """A cached record's four fields, or ValueError when the file holds something else."""
    if not (
        isinstance(fields, list)
        and len(fields) == 4
        and isinstance(fields[0], str)
        and isinstance(fields[1], str)
        and all(f is None or isinstance(f, str) for f in fields[2:])
    ):
        raise ValueError(f"a cached record is not [entry point, target, distribution, version]: {fields!r}")
    return fields[0], fields[1], fields[2], fields[3]
