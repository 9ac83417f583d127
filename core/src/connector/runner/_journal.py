"""The job journal: every job ``connector run`` creates, kept in a SQLite file that concurrent runs share."""

from __future__ import annotations

import builtins
import dataclasses
import functools
import json
import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sized
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._exceptions import JobNotFoundError, JobStateError, JournalError
from .._model import NameEnum, Phase, TaskCategory
from .._settings import HOME_VARIABLE, connector_home

if TYPE_CHECKING:
    import sqlite3

_T = TypeVar("_T")

#: The journal's file name inside the state directory.
JOURNAL_FILE = "jobs.sqlite3"
#: What ``JobJournal.new_id`` makes: the only ids the journal writes, reads, or names a folder after.
JOB_ID = re.compile(r"[0-9a-f]{12}")
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
    """Where a job run locally stands, as the journal records it (docs/running.md draws the machine)."""

    RUNNING = "running"  #: created; being polled, or its run died (resume or cancel it)
    CANCELLING = "cancelling"  #: a cancel or timeout asked for ``delete``, which has not returned (yet)
    SUCCEEDED = "succeeded"  #: ended in SUCCEEDED
    FAILED = "failed"  #: ended in FAILED, ABORTED or RETRYABLE_FAILED
    CANCELLED = "cancelled"  #: ``delete`` returned after a cancel
    TIMED_OUT = "timed_out"  #: the run's ``--timeout`` passed and ``delete`` returned
    ERROR = "error"  #: a hook raised or returned a bad value; the job may still exist

    @property
    def is_finished(self) -> bool:
        """Whether nothing remains to do for the job: it ended, or it was deleted."""
        return self in _FINISHED


_FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT})

#: The job state machine: for each state a row may be moved to, the states it may be moved from.
#: ``JobJournal.update`` is the only writer of a row after ``add``, and it checks this table in the
#: UPDATE's own WHERE clause, so when two processes race (a run's late poll and `jobs cancel`)
#: SQLite's write lock decides, and the loser is told the state it lost to (issue 12).
TRANSITIONS: Mapping[JobState, frozenset[JobState]] = {
    # The run, after each get that is not terminal; `jobs resume` claiming a job whose run died.
    JobState.RUNNING: frozenset({JobState.RUNNING, JobState.ERROR}),
    # The run, on Ctrl-C, SIGTERM or its timeout; `jobs cancel` (which also retries a cancel whose
    # delete failed or was left by a second Ctrl-C).
    JobState.CANCELLING: frozenset({JobState.RUNNING, JobState.ERROR, JobState.CANCELLING}),
    # The run, after a terminal get, or a hook that raised.
    JobState.SUCCEEDED: frozenset({JobState.RUNNING}),
    JobState.FAILED: frozenset({JobState.RUNNING}),
    JobState.ERROR: frozenset({JobState.RUNNING}),
    # Whoever called delete, once it returned.
    JobState.CANCELLED: frozenset({JobState.CANCELLING}),
    JobState.TIMED_OUT: frozenset({JobState.CANCELLING}),
}


def refusal(job_id: str, state: JobState, wanted: JobState) -> str:
    """Why a job in ``state`` cannot be moved to ``wanted``: the message of its ``JobStateError``."""
    if wanted is JobState.RUNNING:  # a resume
        if state is JobState.CANCELLING:
            return (
                f"job {job_id} is being cancelled; there is nothing to resume "
                f"(`connector jobs cancel {job_id}` finishes the cancel)"
            )
        if state is JobState.CANCELLED:
            return f"job {job_id} was cancelled; there is nothing to resume"
        if state is JobState.TIMED_OUT:
            return f"job {job_id} timed out and was deleted; there is nothing to resume"
        return (
            f"job {job_id} already {state.value}; there is nothing to resume "
            f"(`connector jobs show {job_id}` shows how it ended)"
        )
    return f"job {job_id} is {state.value} in the journal, so it cannot become {wanted.value}"


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
        """The error for a failed SQLite operation, naming its cause and what to do about it."""
        import shlex

        path, quoted = str(self.path), shlex.quote(str(self.path))
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            message = (
                f"the job journal {path!r} is damaged or is not a job journal ({text}); move it aside "
                f"(`mv {quoted} {shlex.quote(path + '.broken')}`) and connector starts a new, empty one"
            )
        elif "readonly" in text:
            message = (
                f"the job journal {path!r} is read-only ({text}); make it and its directory writable "
                f"(`chmod u+w {quoted} {shlex.quote(str(self.path.parent))}`), or point {HOME_VARIABLE} "
                "at a directory of your own"
            )
        elif "locked" in text:
            message = (
                f"the job journal {path!r} stayed locked by another process for {self.busy_timeout:g}s "
                f"({text}); try again once the other connector command has finished"
            )
        elif "full" in text:
            message = (
                f"cannot {action} the job journal {path!r}: the disk is full ({text}); free some space, "
                f"or point {HOME_VARIABLE} at another disk"
            )
        elif self.path.exists() and not self.path.is_file():
            message = (
                f"the job journal {path!r} is not a file ({text}); move it aside "
                f"(`mv {quoted} {shlex.quote(path + '.moved')}`), or point {HOME_VARIABLE} elsewhere"
            )
        elif not self.path.parent.is_dir():
            message = (
                f"cannot {action} the job journal {path!r}: its directory does not exist or is not a "
                f"directory ({text}); point {HOME_VARIABLE} at a directory of your own"
            )
        else:
            # No cause known for sure: SQLite's own words, and the usual suspects.
            message = (
                f"cannot {action} the job journal {path!r} (SQLite: {text}); check that the file and "
                f"its directory are readable and writable by this user, or point {HOME_VARIABLE} "
                "at a directory of your own"
            )
        return JournalError(message, path=path)

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
        if not _is_job_id(job_id):
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
            finished = sorted(s.value for s in _FINISHED)
            query += f" AND state IN ({_marks(finished)})"
            values += finished
        if not self.path.exists():
            return []
        with self._connect(write=True) as db:
            assert db is not None
            # A row whose id new_id did not make is left for `jobs list` to report: its id and
            # output prefix come from the file, and must never name a folder to delete (issue 12).
            rows = [(i, p) for i, p in db.execute(query, values).fetchall() if _is_job_id(i)]
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
            label = f"job {job_id}" if _is_job_id(job_id) else "a job"
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
            id=value("id", job_id, _job_id),
            category=value("category", category, lambda text: TaskCategory.parse(_text(text))),
            connector=value("connector", connector, _text),
            resource_meta=value("resource_meta", meta, _blob),
            template=value("template", template, _template),
            inputs_digest=value("inputs_digest", digest, _text),
            output_prefix=value("output_prefix", prefix, _text),
            created_at=value("created_at", created, _number),
            updated_at=value("updated_at", updated, _number),
            phase=value("phase", phase, lambda name: None if name in (None, "") else Phase[_text(name)]),
            message=value("message", message, _text),
            state=value("state", state, JobState),
            polls=value("polls", polls, _integer),
            pid=value("pid", pid, lambda n: None if n is None else _integer(n)),
            host=value("host", host, _text),
        )


_COLUMNS = (
    "id, category, connector, resource_meta, template, inputs_digest, output_prefix, created_at, "
    "updated_at, phase, message, state, polls, pid, host"
)


def _marks(values: Sized) -> str:
    return ", ".join("?" * len(values))


def _is_job_id(value: object) -> bool:
    return isinstance(value, str) and JOB_ID.fullmatch(value) is not None


def _job_id(value: object) -> str:
    if not _is_job_id(value):
        raise ValueError("a job id is 12 hexadecimal digits (JobJournal.new_id makes them)")
    assert isinstance(value, str)
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"text expected, not {type(value).__name__}")
    return value


def _blob(value: object) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"bytes expected, not {type(value).__name__}")
    return value


def _integer(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"an integer expected, not {type(value).__name__}")
    return value


def _number(value: object) -> float:
    if type(value) not in (int, float):
        raise TypeError(f"a number expected, not {type(value).__name__}")
    assert isinstance(value, (int, float))
    return float(value)


def _template(text: object) -> dict[str, Any]:
    document = json.loads(_text(text))
    if not isinstance(document, dict):
        raise TypeError(f"a template is a JSON object, not {type(document).__name__}")
    return document


def hostname() -> str:
    """This machine's name, as a row's ``host`` records it."""
    import socket

    return socket.gethostname()
