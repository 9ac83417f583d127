"""The job state machine: the states of a job run locally, and which moves between them are allowed.

``JobJournal.update`` enforces ``TRANSITIONS`` in one place, its conditional UPDATE (issue 12).
"""

from __future__ import annotations

from collections.abc import Mapping

from .._model import NameEnum


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
        return self in FINISHED


FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT})

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
