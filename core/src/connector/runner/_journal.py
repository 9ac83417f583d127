"""The job journal: every job ``connector run`` creates, kept in a SQLite file that concurrent runs share."""

from __future__ import annotations

import builtins
import functools
import json
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sized
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._exceptions import JobNotFoundError, JobStateError, JournalError
from .._model import Phase, TaskCategory
from .._settings import connector_home
from ._job_records import (
    JobRecord,
    is_job_id,
    parse_blob,
    parse_integer,
    parse_job_id,
    parse_number,
    parse_template,
    parse_text,
)
from ._job_states import FINISHED, TRANSITIONS, JobState, refusal
from ._journal_errors import journal_error

if TYPE_CHECKING:
    import sqlite3

_T = TypeVar("_T")

#: The journal's file name inside the state directory.
JOURNAL_FILE = "jobs.sqlite3"
#: What ``JobJournal.new_id`` makes: the only ids the journal writes, reads, or names a folder after.
#: The schema version this code writes (SQLite ``PRAGMA user_version``); newer files are refused.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    connector TEXT NOT NULL DEFAULT '',
    resource_meta BLOB NOT NULL,
    template TEXT NOT NULL,
    inputs_digest TEXT NOT NULL,
    output_prefix TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    phase TEXT,
    message TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    polls INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    host TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_updated_at ON jobs (updated_at);
"""


def inputs_digest(inputs: Mapping[str, Any]) -> str:
    """A SHA-256 of the inputs as sorted JSON: the journal keeps this, never the inputs themselves."""
    import hashlib

    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


class JobJournal:
    """The SQLite file that records every job created by ``connector run`` (and the executor mixins).

    A row is written before the first ``get`` and updated after each one, so a run that dies still
    leaves its job findable for ``connector jobs resume`` or ``cancel``. Several processes may use
    one file at a time: it is in WAL mode, each operation is one short transaction on its own
    connection, and a writer waits up to ``busy_timeout`` seconds for the lock. Reading never
    writes: a journal that does not exist yet reads as empty, and a read-only one can be listed.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path) if path is not None else connector_home() / JOURNAL_FILE
        self.busy_timeout = busy_timeout
        self._ready = False

    def __repr__(self) -> str:
        return f"JobJournal({str(self.path)!r})"

    @staticmethod
    def new_id() -> str:
        """A fresh job id: 12 random hexadecimal digits."""
        import secrets

        return secrets.token_hex(6)

    @property
    def outputs(self) -> Path:
        """The folder of the runs' default output directories: ``outputs/`` beside the journal."""
        return self.path.parent / "outputs"

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection | None]:
        """One transaction; a reader gets None when there is no journal (nothing was ever written)."""
        import sqlite3  # imported here: `import connector` must stay cheap

        if write:
            self.ensure()
        elif not self.path.exists():
            yield None
            return
        if write:
            try:
                connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            except sqlite3.Error as exc:
                raise self._error("open", exc) from exc
        else:
            connection = self._reader()
        try:
            if write:
                # BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that later
                # upgrades can fail with "database is locked" without waiting for the busy timeout.
                connection.execute("BEGIN IMMEDIATE")
            yield connection
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise self._error("write to" if write else "read", exc) from exc
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def _reader(self) -> sqlite3.Connection:
        """A read-only connection in a transaction, to a journal of a schema this code reads."""
        import sqlite3
        from urllib.parse import quote

        # Read-only, so listing works on a journal the user may not write (issue 12). A WAL reader
        # still makes the -shm file beside the journal: in a directory it cannot write, the file is
        # read as immutable, which needs no -shm (and then no process can be writing it either).
        for query in ("mode=ro", "mode=ro&immutable=1"):
            uri = f"file:{quote(str(self.path))}?{query}"
            try:
                connection = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout, isolation_level=None)
            except sqlite3.Error as exc:
                raise self._error("open", exc) from exc
            try:
                connection.execute("BEGIN")
                self._check_version(connection)
                return connection
            except sqlite3.Error as exc:
                connection.close()
                text = str(exc)
                if "immutable" in query or ("readonly" not in text and "unable to open" not in text):
                    raise self._error("read", exc) from exc
            except BaseException:
                connection.close()
                raise
        raise AssertionError("unreachable: the immutable attempt returns or raises")

    def _error(self, action: str, exc: Exception) -> JournalError:
        return journal_error(self.path, self.busy_timeout, action, exc)

    def _check_version(self, connection: sqlite3.Connection) -> int:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the job journal {str(self.path)!r} has schema version {version}, newer than this "
                f"connector-core understands ({SCHEMA_VERSION}); upgrade connector-core",
                path=str(self.path),
            )
        return int(version)

    def ensure(self) -> None:
        """Create the directory and the file's schema if needed; refuse a file from a newer version."""
        if self._ready:
            return
        import sqlite3

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise self._error("create the directory of", exc) from exc
        try:
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            try:
                self._use_wal(connection)
                connection.execute("BEGIN IMMEDIATE")
                try:
                    self._check_version(connection)
                except JournalError:
                    connection.execute("ROLLBACK")
                    raise
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                connection.execute("COMMIT")
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        self._ready = True

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        import sqlite3

        # Switching a new file to WAL takes an exclusive lock, and SQLite fails at once rather than
        # wait for it: runs that open a new journal together retry, within the busy timeout.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def add(
        self,
        *,
        job_id: str,
        category: TaskCategory,
        resource_meta: bytes,
        template: Mapping[str, Any],
        inputs: Mapping[str, Any],
        connector: str = "",
        output_prefix: str = "",
        phase: Phase | None = None,
        state: JobState = JobState.RUNNING,
    ) -> JobRecord:
        """Record a newly created job and return its row; ``ValueError`` for an id ``new_id`` did not make."""
        if not is_job_id(job_id):
            raise ValueError(f"bad job id {job_id!r}: a job id is 12 hexadecimal digits (see new_id)")
        now = time.time()
        template_json = json.dumps(template, sort_keys=True, default=str)
        with self._connect(write=True) as db:
            assert db is not None
            db.execute(
                "INSERT INTO jobs (id, category, connector, resource_meta, template, inputs_digest, "
                "output_prefix, created_at, updated_at, phase, message, state, polls, pid, host) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, 0, ?, ?)",
                (
                    job_id,
                    str(category),
                    connector,
                    bytes(resource_meta),
                    template_json,
                    inputs_digest(inputs),
                    output_prefix,
                    now,
                    now,
                    phase.name if phase is not None else None,
                    state.value,
                    os.getpid(),
                    hostname(),
                ),
            )
        return self.get(job_id)

    def update(
        self,
        job_id: str,
        *,
        state: JobState,
        phase: Phase | None = None,
        message: str | None = None,
        polled: bool = False,
        claim: bool = False,
        only_from: Collection[JobState] | None = None,
    ) -> None:
        """Move a job to ``state`` (it may be the state it is in) and record a poll's outcome.

        Only the other values given change. ``claim`` records this process as the one polling the
        job (``resume`` does it). The move must be one ``TRANSITIONS`` allows from the state the
        row is in when the write lock is taken, and that state among ``only_from`` when it is
        given (a run moves only its own ``running`` row; `jobs cancel` may retry a ``cancelling``
        one): otherwise nothing is written and ``JobStateError`` says the state found (its
        ``state``). ``JobNotFoundError`` when the row is gone.
        """
        sets = ["updated_at = ?", "state = ?"]
        values: list[Any] = [time.time(), state.value]
        if phase is not None:
            sets.append("phase = ?")
            values.append(phase.name)
        if message is not None:
            sets.append("message = ?")
            values.append(message)
        if polled:
            sets.append("polls = polls + 1")
        if claim:
            sets += ["pid = ?", "host = ?"]
            values += [os.getpid(), hostname()]
        sources = TRANSITIONS[state] if only_from is None else TRANSITIONS[state] & frozenset(only_from)
        allowed = sorted(s.value for s in sources) or [""]  # "": no state matches, the move is refused
        with self._connect(write=True) as db:
            assert db is not None
            cursor = db.execute(
                f"UPDATE jobs SET {', '.join(sets)} WHERE id = ? AND state IN ({_marks(allowed)})",
                (*values, job_id, *allowed),
            )
            if cursor.rowcount == 1:
                return
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"no job {job_id!r} in the journal {str(self.path)!r}", job_id=job_id)
        found = self._value(job_id, "state", row[0], JobState)
        raise JobStateError(refusal(job_id, found, state), job_id=job_id, state=found.value)

    def get(self, job_id: str) -> JobRecord:
        """The job with this id, or with this unique id prefix (at least 4 characters).

        Raises ``JobNotFoundError`` when there is none, or the prefix matches several jobs, and
        ``JournalError`` when its row holds a value this connector-core cannot read.
        """
        rows: builtins.list[tuple[Any, ...]] = []
        with self._connect(write=False) as db:
            if db is not None and self._has_table(db):
                row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
                rows = [row] if row is not None else []
                if not rows and len(job_id) >= 4:
                    pattern = job_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                    rows = db.execute(
                        f"SELECT {_COLUMNS} FROM jobs WHERE id LIKE ? ESCAPE '\\' LIMIT 3", (pattern,)
                    ).fetchall()
        if not rows:
            raise JobNotFoundError(
                f"no job {job_id!r} in the journal {str(self.path)!r}; `connector jobs list` shows its jobs",
                job_id=job_id,
            )
        if len(rows) > 1:
            matches = ", ".join(r[0] for r in rows)
            raise JobNotFoundError(
                f"job id prefix {job_id!r} matches several jobs ({matches}); give more of the id",
                job_id=job_id,
            )
        return self._record(rows[0])

    def list(
        self,
        *,
        state: JobState | None = None,
        limit: int | None = None,
        on_unreadable: Callable[[JournalError], None] | None = None,
    ) -> builtins.list[JobRecord]:
        """Jobs, newest first; only those in ``state`` when it is given.

        A row holding a value this connector-core cannot read raises ``JournalError``, or, when
        ``on_unreadable`` is given, is passed to it as that error and left out.
        """
        query = f"SELECT {_COLUMNS} FROM jobs"
        values: builtins.list[Any] = []
        if state is not None:
            query += " WHERE state = ?"
            values.append(state.value)
        query += " ORDER BY created_at DESC, id"
        if limit is not None:
            query += " LIMIT ?"
            values.append(limit)
        with self._connect(write=False) as db:
            rows = db.execute(query, values).fetchall() if db is not None and self._has_table(db) else []
        records = []
        for row in rows:
            try:
                records.append(self._record(row))
            except JournalError as exc:
                if on_unreadable is None:
                    raise
                on_unreadable(exc)
        return records

    def prune(self, *, older_than: float, include_unfinished: bool = False) -> builtins.list[str]:
        """Remove jobs last updated more than ``older_than`` seconds ago; return their ids.

        Only finished jobs (succeeded, failed, cancelled, timed out) are removed unless
        ``include_unfinished``: the others may still run somewhere, and their row is the only way to
        cancel them. Each removed job's default output directory (``outputs/ID`` beside the journal)
        goes with it; an output prefix chosen by the user is never touched.
        """
        cutoff = time.time() - older_than
        query = "SELECT id, output_prefix FROM jobs WHERE updated_at <= ?"
        values: builtins.list[Any] = [cutoff]
        if not include_unfinished:
            finished = sorted(s.value for s in FINISHED)
            query += f" AND state IN ({_marks(finished)})"
            values += finished
        if not self.path.exists():
            return []
        with self._connect(write=True) as db:
            assert db is not None
            # A row whose id new_id did not make is left for `jobs list` to report: its id and
            # output prefix come from the file, and must never name a folder to delete (issue 12).
            rows = [(i, p) for i, p in db.execute(query, values).fetchall() if is_job_id(i)]
            db.executemany("DELETE FROM jobs WHERE id = ?", [(job_id,) for job_id, _ in rows])
        import shutil

        for job_id, prefix in rows:
            default = self._default_outputs(job_id)
            if default is not None and prefix == str(default):
                shutil.rmtree(default, ignore_errors=True)
        return [job_id for job_id, _ in rows]

    def _default_outputs(self, job_id: str) -> Path | None:
        """``outputs/ID`` when it is a real folder right inside ``outputs``; None when it is anything else."""
        default = self.outputs / job_id
        if default.parent != self.outputs or default.is_symlink() or not default.is_dir():
            return None
        if default.resolve().parent != self.outputs.resolve():
            return None
        return default

    @staticmethod
    def _has_table(db: sqlite3.Connection) -> bool:
        return (
            db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone()
            is not None
        )

    def _value(self, job_id: str, column: str, value: Any, parse: Callable[[Any], _T]) -> _T:
        """``parse(value)``, or the ``JournalError`` naming the row, the column and the fix."""
        try:
            return parse(value)
        except Exception as exc:  # whatever the parser raises for a value it does not know
            # A bad id is shown only as the value it is: printed raw it could be anything.
            label = f"job {job_id}" if is_job_id(job_id) else "a job"
            raise JournalError(
                f"{label} in the job journal {str(self.path)!r} has the {column} {value!r}, which this "
                f"connector-core cannot read ({type(exc).__name__}: {exc}); a newer connector-core wrote "
                "it (upgrade connector-core) or the file was edited (restore it from a backup)",
                path=str(self.path),
            ) from exc

    def _record(self, row: tuple[Any, ...]) -> JobRecord:
        (job_id, category, connector, meta, template, digest, prefix, created, updated, phase, message) = row[
            :11
        ]
        state, polls, pid, host = row[11:]
        value = functools.partial(self._value, str(job_id))
        # Every column is checked: a file edited by hand or by a newer version may hold anything,
        # and it must be reported like any other bad value, not crash `jobs list` (issue 12).
        return JobRecord(
            id=value("id", job_id, parse_job_id),
            category=value("category", category, lambda text: TaskCategory.parse(parse_text(text))),
            connector=value("connector", connector, parse_text),
            resource_meta=value("resource_meta", meta, parse_blob),
            template=value("template", template, parse_template),
            inputs_digest=value("inputs_digest", digest, parse_text),
            output_prefix=value("output_prefix", prefix, parse_text),
            created_at=value("created_at", created, parse_number),
            updated_at=value("updated_at", updated, parse_number),
            phase=value("phase", phase, lambda name: None if name in (None, "") else Phase[parse_text(name)]),
            message=value("message", message, parse_text),
            state=value("state", state, JobState),
            polls=value("polls", polls, parse_integer),
            pid=value("pid", pid, lambda n: None if n is None else parse_integer(n)),
            host=value("host", host, parse_text),
        )


_COLUMNS = (
    "id, category, connector, resource_meta, template, inputs_digest, output_prefix, created_at, "
    "updated_at, phase, message, state, polls, pid, host"
)


def _marks(values: Sized) -> str:
    return ", ".join("?" * len(values))


def hostname() -> str:
    """This machine's name, as a row's ``host`` records it."""
    import socket

    return socket.gethostname()
