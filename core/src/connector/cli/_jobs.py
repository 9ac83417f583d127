"""``connector jobs``: list, show, resume, cancel and prune the jobs in the local job journal."""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

import click

from .._exceptions import (
    ConnectorError,
    ConnectorNotFound,
    ConnectorUnavailable,
    JobNotFoundError,
    JobStateError,
    JournalError,
)
from ..registry._registry import ConnectorRegistry, default_registry
from ..registry._signing import unwrap
from ..runner._api import cancel_job, prepare_resume
from ..runner._job_records import JobRecord, iso_time
from ..runner._job_states import JobState
from ..runner._journal import JobJournal
from ..runner._options import RunOptions
from ._common import fail_unknown, print_fields, print_json, print_table
from ._display import make_display
from ._output import hint_cut
from ._run import _fail, poll_options, run_and_report
from ._verbosity import verbosity_flags, verbosity_options

_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _registry() -> ConnectorRegistry:
    return default_registry()


def _journal() -> JobJournal:
    return JobJournal()


def _get(journal: JobJournal, job_id: str) -> JobRecord:
    try:
        return journal.get(job_id)
    except JobNotFoundError as exc:
        _fail(str(exc))
    except JournalError as exc:
        _fail(str(exc), code=1)


def parse_duration(text: str) -> float:
    """``90``, ``30s``, ``15m``, ``12h``, ``7d`` or ``2w`` in seconds; ``ValueError`` otherwise."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; use a number with s, m, h, d or w, such as 7d or 12h")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group("jobs")
@verbosity_flags
def jobs() -> None:
    """The jobs created by `connector run`, kept in the journal under $CONNECTOR_HOME.

    A run that died (killed, machine restarted) leaves its job there: `resume` polls it to the
    end, `cancel` deletes it.
    """


@jobs.command("list")
@click.option("--state", type=click.Choice([s.value for s in JobState]), help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many jobs (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--wide", is_flag=True, help="Show each MESSAGE whole instead of cut to the terminal width.")
@verbosity_options
def list_jobs(state: str | None, limit: int | None, as_json: bool, wide: bool) -> None:
    """List the journal's jobs, newest first.

    On a terminal MESSAGE is cut to fit its width (--wide shows it whole); piped, the table is
    tab-separated, one job per line.
    """
    journal = _journal()
    unreadable: list[JournalError] = []
    try:
        records = journal.list(
            state=JobState(state) if state else None, limit=limit, on_unreadable=unreadable.append
        )
    except JournalError as exc:
        _fail(str(exc), code=1)
    try:
        _print_jobs(journal, records, as_json=as_json, wide=wide)
    finally:
        for error in unreadable:  # the jobs it can read are listed; the command still fails
            click.echo(f"Error: {error}", err=True)
    if unreadable:
        raise SystemExit(1)


def _print_jobs(journal: JobJournal, records: list[JobRecord], *, as_json: bool, wide: bool) -> None:
    if as_json:
        print_json([_summary(r) for r in records])
        return
    if not records:
        click.echo(f"No jobs in {journal.path}.")
        return
    headers = ("ID", "CATEGORY", "STATE", "PHASE", "UPDATED", "MESSAGE")
    rows = [
        (
            r.id,
            str(r.category),
            r.state.value,
            r.phase.name if r.phase else "-",
            iso_time(r.updated_at),
            r.message,
        )
        for r in records
    ]
    hint_cut(print_table(headers, rows, free_text={"MESSAGE"}, wide=wide))


def _summary(record: JobRecord) -> dict[str, Any]:
    document = record.to_dict()
    for key in ("template", "resource_meta"):
        document.pop(key)
    return document


@jobs.command("show")
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
@verbosity_options
def show_job(job_id: str, as_json: bool) -> None:
    """Show one job: its state, last phase and message, template and encoded resource meta."""
    record = _get(_journal(), job_id)
    document = record.to_dict()
    if as_json:
        print_json(document)
        return
    # The meta's own bytes, and the key its envelope names (the envelope spans several lines).
    key_id, payload = unwrap(record.resource_meta)
    document["resource_meta"] = payload.decode(errors="replace")
    document["signed_with"] = f"key {key_id!r}" if key_id else "not signed"
    labels = {
        "id": "Id",
        "category": "Category",
        "connector": "Connector",
        "state": "State",
        "phase": "Phase",
        "message": "Message",
        "polls": "Polls",
        "created_at": "Created",
        "updated_at": "Updated",
        "output_prefix": "Output prefix",
        "inputs_digest": "Inputs digest",
        "resource_meta": "Resource meta",
        "signed_with": "Signed with",
        "pid": "Process",
        "host": "Host",
    }
    print_fields(document, labels)
    click.echo(f"{'Template:':15}{json.dumps(document['template'], sort_keys=True, default=str)}")


@jobs.command("resume")
@click.argument("job_id", metavar="ID")
@poll_options
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of progress and outputs."
)
@verbosity_options
def resume(
    job_id: str, poll_interval: float, max_poll_interval: float, timeout: float | None, as_json: bool
) -> None:
    """Poll a journal job again until it ends, and print its outputs (exit codes as `connector run`)."""
    journal = _journal()
    record = _get(journal, job_id)
    registry = _registry()
    try:
        options = RunOptions(
            poll_interval=poll_interval, max_poll_interval=max_poll_interval, timeout=timeout, journal=journal
        )
        run = prepare_resume(registry, record, options=options)
    except ConnectorError as exc:
        _lookup_failure(registry, exc)
    display = make_display(record.category, as_json=as_json)
    run.on_event = display.handle
    run_and_report(run, display, as_json=as_json)


def _lookup_failure(registry: ConnectorRegistry, exc: ConnectorError) -> NoReturn:
    if isinstance(exc, ConnectorNotFound):
        fail_unknown(registry, exc)
    if isinstance(exc, JobStateError):
        _fail(str(exc))
    if isinstance(exc, ConnectorUnavailable):
        _fail(f"task type {exc.category} cannot be served: {exc}", code=1)
    _fail(str(exc), code=1)


@jobs.command("cancel")
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the job's record as JSON afterwards.")
@verbosity_options
def cancel(job_id: str, as_json: bool) -> None:
    """Delete a journal job's remote job and mark it cancelled (nothing is done for a finished job)."""
    journal = _journal()
    before = _get(journal, job_id)
    registry = _registry()
    try:
        after = cancel_job(registry, before.id, journal=journal)
    except ConnectorError as exc:
        _lookup_failure(registry, exc)
    except Exception as exc:  # delete raised: the connector's error, shown as such
        _fail(
            f"job {before.id}: delete raised {type(exc).__name__}: {exc}; "
            "the job stays 'cancelling' in the journal",
            code=1,
        )
    # Only a job the journal let this command cancel was deleted: its run may have finished it first.
    deleted = after.state is JobState.CANCELLED and not before.state.is_finished
    if as_json:
        print_json({**_summary(after), "deleted": deleted})
    elif not deleted:
        click.echo(f"job {after.id} had already {after.state.value}; nothing to cancel")
    else:
        click.echo(f"job {after.id} cancelled (delete called)")


@jobs.command("prune")
@click.option(
    "--older-than",
    default="7d",
    show_default=True,
    metavar="DURATION",
    callback=_duration,
    help="Remove jobs last updated longer ago than this (30s, 15m, 12h, 7d, 2w).",
)
@click.option(
    "--unfinished", is_flag=True, help="Also remove jobs not finished (running, cancelling, error)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the removed ids as JSON.")
@verbosity_options
def prune(older_than: float, unfinished: bool, as_json: bool) -> None:
    """Remove old finished jobs (succeeded, failed, cancelled, timed out) and their output directories."""
    journal = _journal()
    try:
        removed = journal.prune(older_than=older_than, include_unfinished=unfinished)
    except JournalError as exc:
        _fail(str(exc), code=1)
    if as_json:
        print_json({"removed": removed})
    else:
        click.echo(f"Removed {len(removed)} job(s) from {journal.path}.")
