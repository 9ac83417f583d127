"""The job journal: every job ``connector run`` creates, kept in a SQLite file that concurrent runs share."""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._exceptions import JobNotFoundError, JournalError
from .._model import NameEnum, Phase, TaskCategory
from .._settings import HOME_VARIABLE, connector_home

if TYPE_CHECKING:
    import sqlite3

#: The journal's file name inside the state directory.
JOURNAL_FILE = "jobs.sqlite3"
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


class JobState(NameEnum):
    """Where a job run locally stands, as the journal records it."""

    RUNNING = "running"  #: created; being polled, or its run died (resume or cancel it)
    CANCELLING = "cancelling"  #: a cancel was asked for and ``delete`` has not returned (yet)
    SUCCEEDED = "succeeded"  #: ended in SUCCEEDED
    FAILED = "failed"  #: ended in FAILED, ABORTED or RETRYABLE_FAILED
    CANCELLED = "cancelled"  #: ``delete`` returned after a cancel
    TIMED_OUT = "timed_out"  #: the run's ``--timeout`` passed; the job was deleted
    ERROR = "error"  #: a hook raised or returned a bad value; the job may still exist

    @property
    def is_finished(self) -> bool:
        """Whether nothing remains to do for the job (it ended, or it was cancelled)."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


def inputs_digest(inputs: Mapping[str, Any]) -> str:
    """A SHA-256 of the inputs as sorted JSON: the journal keeps this, never the inputs themselves."""
    import hashlib

    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class JobRecord:
    """One row of the journal: a job created by a local run."""

    id: str
    category: TaskCategory
    connector: str
    resource_meta: bytes
    template: dict[str, Any]
    inputs_digest: str
    output_prefix: str
    created_at: float
    updated_at: float
    phase: Phase | None
    message: str
    state: JobState
    polls: int
    pid: int | None
    host: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this record (times as ISO 8601 UTC, the meta as UTF-8 text)."""
        return {
            "id": self.id,
            "category": str(self.category),
            "connector": self.connector,
            "state": self.state.value,
            "phase": self.phase.name if self.phase is not None else None,
            "message": self.message,
            "polls": self.polls,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "output_prefix": self.output_prefix,
            "inputs_digest": self.inputs_digest,
            "resource_meta": self.resource_meta.decode("utf-8", errors="replace"),
            "template": self.template,
            "pid": self.pid,
            "host": self.host,
        }


def iso_time(timestamp: float) -> str:
    """A Unix time as ISO 8601 in UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


class JobJournal:
    """The SQLite file that records every job created by ``connector run`` (and the executor mixins).

    A row is written before the first ``get`` and updated after each one, so a run that dies still
    leaves its job findable for ``connector jobs resume`` or ``cancel``. Several processes may use
    one file at a time: it is in WAL mode, each operation is one short transaction on its own
    connection, and a writer waits up to ``busy_timeout`` seconds for the lock.
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

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        import sqlite3  # imported here: `import connector` must stay cheap

        self.ensure()
        try:
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        try:
            # BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that later
            # upgrades can fail with "database is locked" without waiting for the busy timeout.
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
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

    def _error(self, action: str, exc: Exception) -> JournalError:
        return JournalError(
            f"cannot {action} the job journal {str(self.path)!r}: {exc}; check that the directory is "
            f"writable, or point {HOME_VARIABLE} at one that is",
            path=str(self.path),
        )

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
                (version,) = connection.execute("PRAGMA user_version").fetchone()
                if version > SCHEMA_VERSION:
                    connection.execute("ROLLBACK")
                    raise JournalError(
                        f"the job journal {str(self.path)!r} has schema version {version}, newer than this "
                        f"connector-core understands ({SCHEMA_VERSION}); upgrade connector-core",
                        path=str(self.path),
                    )
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
        """Record a newly created job and return its row."""
        now = time.time()
        template_json = json.dumps(template, sort_keys=True, default=str)
        with self._connect(write=True) as db:
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
                    _hostname(),
                ),
            )
        return self.get(job_id)

    def update(
        self,
        job_id: str,
        *,
        phase: Phase | None = None,
        message: str | None = None,
        state: JobState | None = None,
        polled: bool = False,
        claim: bool = False,
    ) -> None:
        """Record a poll's outcome or a change of state (only the values given change).

        ``claim`` records this process as the one polling the job (``resume`` does it).
        """
        sets = ["updated_at = ?"]
        values: list[Any] = [time.time()]
        if phase is not None:
            sets.append("phase = ?")
            values.append(phase.name)
        if message is not None:
            sets.append("message = ?")
            values.append(message)
        if state is not None:
            sets.append("state = ?")
            values.append(state.value)
        if polled:
            sets.append("polls = polls + 1")
        if claim:
            sets += ["pid = ?", "host = ?"]
            values += [os.getpid(), _hostname()]
        with self._connect(write=True) as db:
            cursor = db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*values, job_id))
            if cursor.rowcount == 0:
                raise JobNotFoundError(f"no job {job_id!r} in the journal {str(self.path)!r}", job_id=job_id)

    def get(self, job_id: str) -> JobRecord:
        """The job with this id, or with this unique id prefix (at least 4 characters).

        Raises ``JobNotFoundError`` when there is none, or the prefix matches several jobs.
        """
        with self._connect(write=False) as db:
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
        return _record(rows[0])

    def list(self, *, state: JobState | None = None, limit: int | None = None) -> list[JobRecord]:
        """Jobs, newest first; only those in ``state`` when it is given."""
        query = f"SELECT {_COLUMNS} FROM jobs"
        values: list[Any] = []
        if state is not None:
            query += " WHERE state = ?"
            values.append(state.value)
        query += " ORDER BY created_at DESC, id"
        if limit is not None:
            query += " LIMIT ?"
            values.append(limit)
        with self._connect(write=False) as db:
            return [_record(row) for row in db.execute(query, values).fetchall()]

    def prune(self, *, older_than: float, include_unfinished: bool = False) -> builtins.list[str]:
        """Remove jobs last updated more than ``older_than`` seconds ago; return their ids.

        Only finished jobs (succeeded, failed, cancelled) are removed unless ``include_unfinished``:
        the others may still run somewhere, and their row is the only way to cancel them.
        """
        cutoff = time.time() - older_than
        query = "SELECT id FROM jobs WHERE updated_at <= ?"
        values: list[Any] = [cutoff]
        if not include_unfinished:
            finished = [s.value for s in JobState if s.is_finished]
            query += f" AND state IN ({', '.join('?' * len(finished))})"
            values += finished
        with self._connect(write=True) as db:
            ids = [row[0] for row in db.execute(query, values).fetchall()]
            db.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in ids])
        return ids


_COLUMNS = (
    "id, category, connector, resource_meta, template, inputs_digest, output_prefix, created_at, "
    "updated_at, phase, message, state, polls, pid, host"
)


def _record(row: tuple[Any, ...]) -> JobRecord:
    (job_id, category, connector, meta, template, digest, prefix, created, updated, phase, message, state) = (
        row[:12]
    )
    polls, pid, host = row[12:]
    return JobRecord(
        id=job_id,
        category=TaskCategory.parse(category),
        connector=connector,
        resource_meta=bytes(meta),
        template=json.loads(template),
        inputs_digest=digest,
        output_prefix=prefix,
        created_at=created,
        updated_at=updated,
        phase=Phase[phase] if phase else None,
        message=message,
        state=JobState(state),
        polls=polls,
        pid=pid,
        host=host,
    )


def _hostname() -> str:
    import socket

    return socket.gethostname()
