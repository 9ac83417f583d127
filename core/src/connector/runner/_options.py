"""The values a local run takes and gives: ``RunOptions`` in, ``RunEvent`` as it goes, ``RunResult`` out."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .._model import NameEnum, Phase, Resource, TaskCategory, TaskLog
from ._job_states import JobState
from ._journal import JobJournal

#: The first wait between two ``get`` calls, in seconds; it doubles after each one.
DEFAULT_POLL_INTERVAL = 1.0
#: The longest wait between two ``get`` calls, in seconds.
DEFAULT_MAX_POLL_INTERVAL = 30.0


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a task is run locally, whatever task it is: the poll loop's pace, a deadline, the journal.

    ``get`` is called at once after ``create``, then after ``poll_interval`` seconds, the wait
    doubling after each poll up to ``max_poll_interval`` (a cap below ``poll_interval`` keeps every
    wait at ``poll_interval``). After ``timeout`` seconds (None: no limit) the job is deleted and the
    run ends ``timed_out``. ``journal`` is where the job is recorded: True for the default journal
    under ``$CONNECTOR_HOME``, False for none, or a ``JobJournal``; a resumed job must come from it.
    A sync connector's run ignores the poll settings and the journal.

    Raises ``ValueError`` for a ``poll_interval`` or ``timeout`` that is not more than 0.
    """

    poll_interval: float = DEFAULT_POLL_INTERVAL
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL
    timeout: float | None = None
    journal: JobJournal | bool = True

    def __post_init__(self) -> None:
        if not self.poll_interval > 0:
            raise ValueError(f"poll interval must be more than 0 seconds, got {self.poll_interval}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be more than 0 seconds, got {self.timeout}")

    @property
    def backoff_cap(self) -> float:
        """The longest wait between polls that is used: ``max_poll_interval``, at least ``poll_interval``."""
        return max(self.max_poll_interval, self.poll_interval)


class RunEventKind(NameEnum):
    """What a ``RunEvent`` reports; each member equals its plain string: ``RunEventKind.POLLED == "polled"``.

    A display written before these were members, comparing ``event.kind`` with strings, still works.
    """

    STARTED = "started"  #: before ``create`` (or a sync connector's ``do``)
    CREATED = "created"  #: the job exists and is in the journal (``message`` is "resumed" for a resume)
    POLLED = "polled"  #: ``get`` (or ``do``) answered; see ``resource``
    CANCELLING = "cancelling"  #: a cancel was asked for; ``delete`` follows when there is a job
    DELETED = "deleted"  #: ``delete`` returned
    DELETE_FAILED = "delete_failed"  #: ``delete`` raised; ``message`` says what
    TIMEOUT = "timeout"  #: the deadline passed; the job is deleted next
    FINISHED = "finished"  #: the run ended; the last event of every run
    JOURNAL_FAILED = "journal_failed"  #: the job's row could not be written, or is gone (see ``message``)


@dataclasses.dataclass(frozen=True)
class RunEvent:
    """Something that happened during a local run, for a progress display.

    ``kind`` says what (a ``RunEventKind``); ``elapsed`` is seconds since the run started;
    ``job_id`` is the journal id once there is one; ``resource`` is the connector's last answer
    for ``polled`` and ``finished``; ``message`` is free text (the reason of a ``timeout``,
    ``cancelling``, ``delete_failed`` or ``journal_failed``). After ``journal_failed`` the run goes
    on without updating the job's row.
    """

    kind: RunEventKind
    elapsed: float
    category: TaskCategory
    job_id: str | None = None
    resource: Resource | None = None
    message: str = ""


#: A callback that receives each ``RunEvent`` of a run, as it happens.
EventHandler = Callable[[RunEvent], None]


@dataclasses.dataclass
class RunResult:
    """How a local run ended.

    ``state`` is a ``JobState`` (succeeded, failed, cancelled, timed_out or error); ``phase`` the
    last phase the connector reported (UNDEFINED when it reported none); ``job_id`` the journal id
    (None for a sync connector, which creates no job). ``bad_request`` is set when ``create`` or
    ``do`` refused the template or inputs as the caller's mistake (a ``BadRequestError``, such as
    a ``CustomFieldError``): the run is a usage error.
    """

    category: TaskCategory
    state: JobState
    phase: Phase
    message: str = ""
    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    log_links: list[TaskLog] = dataclasses.field(default_factory=list)
    job_id: str | None = None
    resource_meta: bytes | None = None
    output_prefix: str = ""
    elapsed: float = 0.0
    polls: int = 0
    journal: str | None = None
    bad_request: bool = False

    @property
    def ok(self) -> bool:
        """Whether the job succeeded."""
        return self.state is JobState.SUCCEEDED

    @property
    def exit_code(self) -> int:
        """The exit status of ``connector run``: 0 succeeded, 130 cancelled, 2 a bad request, 1 otherwise."""
        if self.ok:
            return 0
        if self.bad_request:
            return 2
        return 130 if self.state is JobState.CANCELLED else 1

    def describe(self) -> str:
        """One line saying how the run ended, for messages and errors."""
        who = f"job {self.job_id}" if self.job_id else f"task {self.category}"
        if self.state is JobState.SUCCEEDED:
            return f"{who} succeeded"
        if self.state is JobState.FAILED:
            return (
                f"{who} ended {self.phase.name}: {self.message}"
                if self.message
                else f"{who} ended {self.phase.name}"
            )
        return f"{who} {self.state.value.replace('_', ' ')}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the result (``connector run --json`` prints it)."""
        return {
            "ok": self.ok,
            "state": self.state.value,
            "phase": self.phase.name,
            "message": self.message,
            "category": str(self.category),
            "job_id": self.job_id,
            "outputs": self.outputs,
            "log_links": [{"name": link.name, "uri": link.uri} for link in self.log_links],
            "output_prefix": self.output_prefix,
            "elapsed": round(self.elapsed, 3),
            "polls": self.polls,
            "journal": self.journal,
        }
