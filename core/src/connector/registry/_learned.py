"""What loading taught about each installed connector (its name, sync or not), so listing needs no import."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import threading
import zlib
from collections.abc import Mapping
from typing import Any

from .._model import ConnectorOrigin
from .._settings import parse_flag
from ._discovery import CACHE_VARIABLE, cache_directory

#: Bumped whenever the file's layout or the meaning of an entry changes.
LEARNED_FORMAT = 1
#: File names start with this (the discovery cache prunes the files of deleted interpreters).
LEARNED_PREFIX = "learned-"
# Entries of other sys.path setups of the same interpreter are kept too, up to this many.
_MAX_ENTRIES = 1024

logger = logging.getLogger("connector")

#: An entry's key: entry point, target, distribution and its version. Another version of the
#: distribution is another key, so an upgrade is learned again.
Key = tuple[str, str, str, str]


@dataclasses.dataclass(frozen=True)
class Learned:
    """A connector's name and kind, as its last load found them."""

    name: str
    is_sync: bool


def key_of(origin: ConnectorOrigin) -> Key | None:
    """The key of an installed connector's origin; None for one that no distribution advertises."""
    if not (origin.entry_point and origin.target and origin.distribution and origin.distribution_version):
        return None
    return (origin.entry_point, origin.target, origin.distribution, origin.distribution_version)


class LearnedMetadata:
    """The learned name and kind of installed connectors, read from and saved to one file.

    ``get`` answers from memory (the file is read on first use); ``remember`` records what a load
    found; ``save`` writes the file when something changed, merged with what other processes of
    the same interpreter wrote meanwhile. A file that cannot be read or written only means
    listing knows less: nothing fails.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._entries: dict[Key, Learned] | None = None
        self._learned: dict[Key, Learned] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_this_process(cls, environ: Mapping[str, str] | None = None) -> LearnedMetadata | None:
        """The file of this interpreter in the cache directory; None when CONNECTOR_DISCOVERY_CACHE=0."""
        env = os.environ if environ is None else environ
        if not parse_flag(CACHE_VARIABLE, env.get(CACHE_VARIABLE, "").strip() or "1"):
            return None
        try:
            directory = cache_directory(env)
        except (OSError, RuntimeError):  # no home directory
            return None
        digest = sys.executable.encode()
        name = f"{LEARNED_PREFIX}{zlib.crc32(digest):08x}{zlib.adler32(digest):08x}.json"
        return cls(os.path.join(directory, name))

    def _loaded(self) -> dict[Key, Learned]:
        entries = self._entries
        if entries is None:
            with self._lock:
                if self._entries is None:
                    self._entries = self._read()
                entries = self._entries
        return entries

    def get(self, origin: ConnectorOrigin) -> Learned | None:
        """What a load of this very connector (same distribution version) found; None if never loaded."""
        key = key_of(origin)
        return None if key is None else self._loaded().get(key)

    def remember(self, origin: ConnectorOrigin, name: str, is_sync: bool) -> None:
        """Record what loading ``origin`` found (kept in memory until ``save``)."""
        key = key_of(origin)
        if key is None:
            return
        learned = Learned(name, is_sync)
        entries = self._loaded()
        with self._lock:
            if entries.get(key) != learned:
                self._learned[key] = learned
                entries[key] = learned

    def save(self) -> bool:
        """Write what was learned since the last save, if anything; True when the file was written."""
        with self._lock:
            learned, self._learned = self._learned, {}
        if not learned:
            return True
        merged = self._read()
        for key in learned:  # what this process learned last, so it survives the cut
            merged.pop(key, None)
        merged.update(learned)
        rows = [[*key, value.name, value.is_sync] for key, value in merged.items()][-_MAX_ENTRIES:]
        document = {
            "identity": {"format": LEARNED_FORMAT, "executable": sys.executable},
            "connectors": rows,
        }
        temporary = f"{self.path}.{os.getpid()}-{threading.get_ident()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as stream:
                json.dump(document, stream, separators=(",", ":"))
            os.replace(temporary, self.path)  # readers see the old file or the new one, never half
        except OSError as exc:  # a read-only cache directory: listing just knows less next time
            logger.debug("cannot write the learned-metadata cache %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return False
        return True

    def _read(self) -> dict[Key, Learned]:
        try:
            with open(self.path, "rb") as stream:
                document = json.loads(stream.read())
            if document["identity"] != {"format": LEARNED_FORMAT, "executable": sys.executable}:
                return {}
            return dict(_checked_row(row) for row in document["connectors"])
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:  # "[[[...": too deep
            logger.debug("learned-metadata cache %s is unreadable, starting afresh: %s", self.path, exc)
            return {}


def _checked_row(row: Any) -> tuple[Key, Learned]:
    """A cached row as a key and its ``Learned``, or ValueError when the file holds something else."""
    if not (
        isinstance(row, list)
        and len(row) == 6
        and all(isinstance(field, str) for field in row[:5])
        and isinstance(row[5], bool)
    ):
        raise ValueError(
            f"a cached row is not [entry point, target, distribution, version, name, sync]: {row!r}"
        )
    return (row[0], row[1], row[2], row[3]), Learned(row[4], row[5])
