"""``connector run``: run one task locally with a live progress display, plain lines, or one JSON document."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

from .._exceptions import (
    ConfigurationError,
    ConnectorNotFound,
    ConnectorUnavailable,
    CustomFieldError,
    HookCrashError,
    InputValueError,
    JobNotFoundError,
    JobStateError,
    JournalError,
    MissingExtraError,
)
from ..registry._calls import checked_template
from ..registry._registry import ConnectorRegistry, default_registry
from ..runner._api import prepare_run
from ..runner._handle import RunHandle
from ..runner._options import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    RunOptions,
    RunResult,
)
from ._common import fail_unknown, parse_category
from ._display import Display, exit_now, make_display
from ._errors import fail, json_asked
from ._fields_view import show_run_fields
from ._process import ends_with_command
from ._values import (
    build_template,
    coerce_to_interface,
    load_mapping,
    parse_assignments,
    split_assignments,
)
from ._verbosity import verbosity_options

_F = TypeVar("_F", bound=Callable[..., Any])


def _registry() -> ConnectorRegistry:
    return default_registry()


def _fail(message: str, code: int = 2) -> NoReturn:
    """``Error: message`` on stderr and exit ``code``; one JSON line on stdout under ``--json``."""
    fail(message, as_json=json_asked(), kind="usage" if code == 2 else "failed", exit_code=code)


def _json_value(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


@contextmanager
def _signals_cancel(run: RunHandle, display: Display) -> Iterator[None]:
    """SIGINT and SIGTERM cancel the run (its job is deleted); a second one exits at once with 130.

    Plain ``signal.signal`` handlers, not the loop's: ``loop.close`` puts the default handlers back
    for those it installed, and a Ctrl-C just after that raised KeyboardInterrupt into click
    (``Aborted!``, exit 1). Python runs a handler in the main thread whichever thread the signal
    came to (rich's refresh thread, a hook's worker); a wakeup fd wakes the loop for it. Once the
    run has its result the handlers do nothing, until ``execute`` puts the caller's back (issue 12).
    """
    import asyncio
    import signal
    import socket

    loop = asyncio.get_running_loop()
    finished = False

    def on_signal(name: str) -> None:
        if finished:
            return
        if run.cancel():
            display.note(f"{name}: {_cancelling(run)}")
            return
        if run.deleted:  # the job is deleted: only recording it is left, nothing to cut short
            return
        display.note(f"second {name}: exiting now{_left_behind(run)}")
        display.stop()
        exit_now(130)  # a delete may be hung in a thread: only an immediate exit is "at once"

    def handler(signum: int, frame: Any) -> None:
        if not finished:
            loop.call_soon_threadsafe(on_signal, signal.Signals(signum).name)

    wakeup, woken = socket.socketpair()
    for end in (wakeup, woken):
        end.setblocking(False)
    try:
        loop.add_reader(woken.fileno(), lambda: woken.recv(4096))
        previous_fd = signal.set_wakeup_fd(wakeup.fileno(), warn_on_full_buffer=False)
    except NotImplementedError:  # a loop without add_reader (Windows): the handler still runs
        previous_fd = None
    for name in _SIGNALS:
        signal.signal(getattr(signal, name), handler)
    try:
        yield
    finally:
        finished = True
        if previous_fd is not None:
            signal.set_wakeup_fd(previous_fd)
            loop.remove_reader(woken.fileno())
        wakeup.close()
        woken.close()


def _left_behind(run: RunHandle) -> str:
    """What a second signal leaves behind, for its note: based on whether the job's row was written."""
    if run.in_journal:
        return f"; job {run.job_id} stays in the journal: `connector jobs cancel {run.job_id}`"
    if run.creating:
        return "; create was still running, and the job it starts is not recorded"
    if run.meta is not None and run.journal is None:
        return "; the job is left running (no journal)"
    return ""


def _cancelling(run: RunHandle) -> str:
    """What the first signal does, as the display says it: a sync call has no job to delete."""
    if run.loaded.is_sync:
        return "stopping; do is abandoned, a sync call has no job to delete (again to exit at once)"
    if run.creating:
        return "cancelling; waiting for create, to delete the job it starts (again to exit at once)"
    if run.journal is None:
        return "cancelling; deleting the job (again to exit at once, leaving it running)"
    return "cancelling; deleting the job (again to exit at once, leaving it in the journal)"


def execute(run: RunHandle, display: Display) -> RunResult:
    """Run ``run`` on a new event loop with the signal handlers in place; stop the display after.

    SIGINT and SIGTERM cancel the run while it runs (see ``_signals_cancel``); once it has its
    result they do nothing, and the handlers the caller had are put back as this returns.
    """
    import asyncio

    saved = _handlers()

    async def main() -> RunResult:
        with _signals_cancel(run, display):
            return await run.run()

    with display:
        try:
            return asyncio.run(main())
        finally:
            _restore(saved)


_SIGNALS = ("SIGINT", "SIGTERM")


def _handlers() -> dict[int, Any]:
    import signal

    return {getattr(signal, name): signal.getsignal(getattr(signal, name)) for name in _SIGNALS}


def _restore(handlers: dict[int, Any]) -> None:
    import signal

    for signum, handler in handlers.items():
        if handler is not None:  # None: a handler not set from Python, which cannot be put back
            signal.signal(signum, handler)


def _do_nothing(signum: int, frame: Any) -> None:
    """A handler that ignores the signal; unlike ``SIG_IGN``, a child process does not inherit it."""


@contextmanager
def signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM do nothing inside (``execute`` handles them while the run runs).

    A Ctrl-C once the run has its result is ignored: the command only reports and exits with the
    run's code (issue 12). After, the caller's handlers come back, unless the process ends with
    the command: then they stay ignored (``SIG_IGN``), as Python's shutdown would put the default
    ones back for a handler written in Python, and a late Ctrl-C would kill the process with -2.
    """
    import signal

    saved = _handlers()
    for signum in saved:
        signal.signal(signum, _do_nothing)
    try:
        yield
    finally:
        if ends_with_command():
            for signum in saved:
                signal.signal(signum, signal.SIG_IGN)
        else:
            _restore(saved)


def run_and_report(run: RunHandle, display: Display, *, as_json: bool) -> NoReturn:
    """Run ``run`` (see ``execute``), print how it ended and exit; an unusable journal exits 1.

    A journal that fails once the job's row is written only gets a warning (a ``journal_failed``
    event): the run goes on.
    """
    with signals_ignored():
        try:
            result = execute(run, display)
        except (JournalError, JobNotFoundError) as exc:
            display.stop()
            _fail(str(exc), code=1)
        except JobStateError as exc:  # a resumed job cancelled or finished since it was read
            display.stop()
            _fail(str(exc))
        report(result, as_json=as_json, abandoned=run.abandoned)


def report(result: RunResult, *, as_json: bool, abandoned: bool = False) -> NoReturn:
    """Print the outputs (or the JSON document) and exit with the result's exit code."""
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        if result.ok:
            click.echo(f"{result.describe()} in {result.elapsed:.1f}s", err=True)
            if result.outputs:
                for name, value in result.outputs.items():
                    click.echo(f"{name} = {_json_value(value)}")
        else:
            click.echo(f"Error: {result.describe()}", err=True)
    if abandoned:
        # A plain-def hook given up on after a cancel or timeout may still run in a worker thread,
        # and the interpreter would wait for it at exit.
        exit_now(result.exit_code)
    raise SystemExit(result.exit_code)


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise click.BadParameter(f"must be more than 0 seconds, got {value:g}")
    return value


def poll_options(command: _F) -> _F:
    """The --poll-interval, --max-poll-interval and --timeout options (`run` and `jobs resume`)."""
    options = [
        click.option(
            "--poll-interval",
            type=float,
            default=DEFAULT_POLL_INTERVAL,
            show_default=True,
            metavar="S",
            callback=_positive,
            help="First wait between polls; it doubles after each poll.",
        ),
        click.option(
            "--max-poll-interval",
            type=float,
            default=DEFAULT_MAX_POLL_INTERVAL,
            show_default=True,
            metavar="S",
            callback=_positive,
            help="Longest wait between polls.",
        ),
        click.option(
            "--timeout", type=float, metavar="S", callback=_positive, help="Delete the job after S seconds."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("run")
@click.argument("task_type", metavar="TYPE[@VERSION]")
@click.option(
    "--custom",
    "custom_items",
    multiple=True,
    metavar="KEY=VALUE",
    help="A custom field of the template; a dotted KEY (submit.url) sets a field of an object "
    "when the connector declares its fields.",
)
@click.option(
    "--help-fields", is_flag=True, help="List the connector's custom fields, inputs and outputs, and exit."
)
@click.option("--template", "template_file", metavar="FILE", help="A JSON or YAML task template.")
@click.option("--input", "input_items", multiple=True, metavar="KEY=VALUE", help="An input of the task.")
@click.option("--inputs", "inputs_file", metavar="FILE", help="A JSON or YAML mapping of inputs.")
@click.option("--output-prefix", metavar="P", help="Where the job writes outputs [default: a new directory].")
@poll_options
@click.option("--no-journal", is_flag=True, help="Do not write the job to the journal.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document instead of progress and outputs."
)
@verbosity_options
def run_command(
    task_type: str,
    custom_items: tuple[str, ...],
    template_file: str | None,
    input_items: tuple[str, ...],
    inputs_file: str | None,
    output_prefix: str | None,
    poll_interval: float,
    max_poll_interval: float,
    timeout: float | None,
    no_journal: bool,
    as_json: bool,
    help_fields: bool,
) -> None:
    """Run one task locally through its connector and print its outputs.

    Values of --custom and --input are typed: true/false, integers, decimals, JSON
    (objects, arrays, "strings", null), @FILE for a file's text; anything else is a string.
    Exits 0 when the job succeeds, 1 when it fails or times out, 130 when interrupted
    (the job is deleted first), 2 on bad usage.
    """
    category = parse_category(task_type)
    registry = _registry()
    if help_fields:
        show_run_fields(registry, category, as_json=as_json)
    try:
        loaded = registry.get(category)
    except ConnectorNotFound as exc:
        fail_unknown(registry, exc)
    except ConnectorUnavailable as exc:
        _fail(f"task type {category} cannot be run: {exc}", code=1)
    try:
        document = load_mapping(template_file, option="--template") if template_file else None
        custom = parse_assignments(custom_items, option="--custom")
        template = build_template(
            category.name,
            category.version,
            document=document,
            source=template_file or "",
            custom=custom,
            dotted=loaded.custom_fields is not None,  # an undeclared connector's keys may hold dots
        )
        inputs = load_mapping(inputs_file, option="--inputs") if inputs_file else {}
        cli_inputs = parse_assignments(input_items, option="--input")
        raw = split_assignments(input_items, option="--input")
        inputs = coerce_to_interface({**inputs, **cli_inputs}, raw, template.interface)
    except InputValueError as exc:
        _fail(str(exc))
    try:
        template = checked_template(loaded, template)  # the call layer's own check (issue 12)
    except CustomFieldError as exc:
        fail(str(exc), as_json=as_json, kind="usage")
    except HookCrashError as exc:  # custom_fields_apply raised: exit 1, as for a crashing hook
        fail(str(exc), as_json=as_json, kind="connector", exit_code=1)
    try:
        run = prepare_run(
            registry,
            category,
            template=template,
            inputs=inputs,
            output_prefix=output_prefix,
            options=RunOptions(
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
                timeout=timeout,
                journal=not no_journal,
            ),
        )
    except ConfigurationError as exc:  # the default output directory cannot be made
        _fail(str(exc), code=1)
    except (MissingExtraError, InputValueError) as exc:  # a raw-literals connector's messages (issue 11)
        _fail(str(exc))
    display = make_display(category, as_json=as_json)
    run.on_event = display.handle
    run_and_report(run, display, as_json=as_json)
