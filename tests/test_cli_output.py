"""Output that fits (issue 12): tables on a terminal and piped, ``--wide``, and docstrings as text.

In-process, with rich told it writes to a terminal (``TTY_COMPATIBLE=1``, ``TERM=dumb`` so no escape
codes) or to a pipe (``TTY_COMPATIBLE=0``); tests/test_cli_output_terminal.py runs the same commands
on a real pseudo-terminal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from connector import ConnectorRegistry, JobJournal, JobState, Phase, Resource, SyncConnector, TaskCategory
from connector._settings import RegistrySettings
from connector.cli import _inspect, _jobs, cli
from connector.cli._docstrings import plain_inline, render_docstring
from connector.cli._output import CUT_HINT, column_widths, cut, one_line
from tests.support.records import fake_record

DIST = "connector-acme-enterprise-data-warehouse-integration"
VERSION = "2024.10.3rc1"
MODULE = "connector_acme_enterprise_data_warehouse_integration"
TARGET = f"{MODULE}:WarehouseQuerySubmissionConnector"
CATEGORY = "acme_warehouse_query_submission_with_retries@12"
FORK = "connector-acme-duplicate-fork"
CONFLICT = (
    f"task type acme_duplicate@0 is claimed by {FORK} 0.1 and {DIST} {VERSION}; neither is served. "
    f"Uninstall one, or pin one with CONNECTOR_PIN='acme_duplicate={FORK}'"
)
BROKEN = (
    f"{DIST} {VERSION}, entry point 'acme_broken' ({MODULE}_missing:Nope): importing "
    f"{MODULE}_missing:Nope raised ModuleNotFoundError: No module named '{MODULE}_missing'"
)


class Warehouse(SyncConnector):
    """Submits a query to the **Acme** warehouse and waits for it, as :class:`~connector.SyncConnector`
    does for every ``do`` call.

    The query is read from the template's custom field ``sql``; see :ref:`the guide <guide>`.

    Example::

        connector run acme_warehouse_query_submission_with_retries@12 --custom sql='select 1'

    - retries: how many times a failed query is sent again
    - timeout: seconds to wait
    """

    task_type_name = "acme_warehouse_query_submission_with_retries"
    task_type_version = 12

    def do(self) -> Resource:
        return Resource(Phase.SUCCEEDED)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> ConnectorRegistry:
    """Long distribution, target and category names; a conflict and a broken import (long errors)."""
    registry = ConnectorRegistry(
        [
            fake_record(CATEGORY, Warehouse, distribution=DIST, version=VERSION, value=TARGET),
            fake_record(
                "acme_duplicate", Warehouse, distribution=DIST, version=VERSION, value=f"{MODULE}:Dup"
            ),
            fake_record("acme_duplicate", Warehouse, distribution=FORK, version="0.1", value="fork:Dup"),
            fake_record(
                "acme_broken",
                ModuleNotFoundError(f"No module named '{MODULE}_missing'"),
                distribution=DIST,
                version=VERSION,
                value=f"{MODULE}_missing:Nope",
            ),
        ],
        settings=RegistrySettings(),
    )
    monkeypatch.setattr(_inspect, "_registry", lambda: registry)
    return registry


def terminal(columns: int, *args: str) -> Result:
    """Run ``connector ARGS`` as if on a terminal ``columns`` wide."""
    # rich takes a dumb terminal to be 80 columns wide unless both COLUMNS and LINES are set.
    env = {"TTY_COMPATIBLE": "1", "TERM": "dumb", "COLUMNS": str(columns), "LINES": "25", "FORCE_COLOR": None}
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


def piped(*args: str) -> Result:
    """Run ``connector ARGS`` with stdout on a pipe."""
    env = {"TTY_COMPATIBLE": "0", "COLUMNS": "40", "FORCE_COLOR": None}
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


# connector list


def test_list_piped_is_tab_separated_one_row_per_line(registry: ConnectorRegistry) -> None:
    result = piped("list")
    assert result.exit_code == 0
    # COLUMNS=40 does not matter: nothing is padded, cut or folded when piped.
    assert result.stdout.splitlines() == [
        "CATEGORY\tSTATE\tDISTRIBUTION\tTARGET",
        f"acme_broken@0\tavailable\t{DIST} {VERSION}\t{MODULE}_missing:Nope",
        f"acme_duplicate@0\tconflict\t{FORK} 0.1\tfork:Dup",
        f"acme_duplicate@0\tconflict\t{DIST} {VERSION}\t{MODULE}:Dup",
        f"{CATEGORY}\tavailable\t{DIST} {VERSION}\t{TARGET}",
        "",
        f"acme_duplicate@0: {CONFLICT}",
        f"acme_duplicate@0: {CONFLICT}",
    ]
    assert result.stderr == ""


def test_list_on_a_narrow_terminal_keeps_identifiers_whole_and_wraps_errors(
    registry: ConnectorRegistry,
) -> None:
    result = terminal(40, "list")
    assert result.exit_code == 0
    width = len(CATEGORY)
    dist = len(f"{DIST} {VERSION}")
    # Every column is an identifier: the lines grow past 40 columns rather than cut or fold one.
    assert result.stdout.splitlines() == [
        f"{'CATEGORY':{width}}  STATE      {'DISTRIBUTION':{dist}}  TARGET",
        f"{'acme_broken@0':{width}}  available  {DIST} {VERSION}  {MODULE}_missing:Nope",
        f"{'acme_duplicate@0':{width}}  conflict   {FORK + ' 0.1':{dist}}  fork:Dup",
        f"{'acme_duplicate@0':{width}}  conflict   {DIST} {VERSION}  {MODULE}:Dup",
        f"{CATEGORY}  available  {DIST} {VERSION}  {TARGET}",
        "",
        *[
            "acme_duplicate@0: task type",
            "    acme_duplicate@0 is claimed by",
            f"    {FORK} 0.1",
            "    and",
            f"    {DIST}",
            f"    {VERSION}; neither is served.",
            "    Uninstall one, or pin one with",
            f"    CONNECTOR_PIN='acme_duplicate={FORK}'",
        ]
        * 2,
    ]
    assert result.stderr == ""


def test_list_wide_shows_errors_whole_on_a_terminal(registry: ConnectorRegistry) -> None:
    result = terminal(40, "list", "--wide")
    assert result.stdout.splitlines()[-2:] == [f"acme_duplicate@0: {CONFLICT}"] * 2
    assert result.stderr == ""


def test_list_on_a_wide_terminal_cuts_nothing(registry: ConnectorRegistry) -> None:
    result = terminal(400, "list")
    assert result.stdout.splitlines()[-2:] == [f"acme_duplicate@0: {CONFLICT}"] * 2
    assert "…" not in result.stdout
    assert all(line == line.rstrip() for line in result.stdout.splitlines())


# connector check


def test_check_wraps_each_reason_between_words(registry: ConnectorRegistry) -> None:
    result = terminal(60, "check")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"BROKEN acme_broken@0: {DIST}",
        f"    {VERSION}, entry point 'acme_broken'",
        f"    ({MODULE}_missing:Nope):",
        "    importing",
        f"    {MODULE}_missing:Nope",
        "    raised ModuleNotFoundError: No module named",
        f"    '{MODULE}_missing'",
        "CONFLICT acme_duplicate@0: task type acme_duplicate@0 is",
        f"    claimed by {FORK} 0.1 and",
        f"    {DIST}",
        f"    {VERSION}; neither is served. Uninstall one, or pin",
        "    one with",
        f"    CONNECTOR_PIN='acme_duplicate={FORK}'",
        "1 connector(s) loaded, 0 disabled, 2 problem(s).",
    ]
    assert result.stderr == ""
    # Narrower than the label: the label stays whole, and so does every word after it.
    narrow = terminal(20, "check").stdout
    for word in BROKEN.split() + CONFLICT.split():
        assert f" {word}\n" in narrow or f" {word} " in narrow


def test_check_wide_and_piped_show_each_reason_whole(registry: ConnectorRegistry) -> None:
    expected = [
        f"BROKEN acme_broken@0: {BROKEN}",
        f"CONFLICT acme_duplicate@0: {CONFLICT}",
        "1 connector(s) loaded, 0 disabled, 2 problem(s).",
    ]
    wide = terminal(60, "check", "--wide")
    assert (wide.exit_code, wide.stdout.splitlines(), wide.stderr) == (1, expected, "")
    pipe = piped("check")
    assert (pipe.exit_code, pipe.stdout.splitlines(), pipe.stderr) == (1, expected, "")


# connector show


def test_show_renders_the_docstring_at_the_terminal_width(registry: ConnectorRegistry) -> None:
    result = terminal(50, "show", CATEGORY)
    assert result.exit_code == 0
    assert result.stdout == (
        f"Category:      {CATEGORY}\n"
        "Name:          Warehouse\n"
        "Kind:          sync\n"
        "Hooks:         do\n"
        f"Distribution:  {DIST}\n"
        f"Version:       {VERSION}\n"
        f"Target:        {TARGET}\n"
        "State:         loaded\n"
        "\n"
        "Submits a query to the Acme warehouse and waits\n"
        "for it, as SyncConnector does for every do call.\n"
        "\n"
        "The query is read from the template's custom field\n"
        "sql; see the guide.\n"
        "\n"
        "Example:\n"
        "\n"
        "    connector run acme_warehouse_query_submission_with_retries@12 --custom sql='select 1'\n"
        "\n"
        "- retries: how many times a failed query is sent\n"
        "  again\n"
        "- timeout: seconds to wait\n"
    )


def test_show_wide_keeps_each_paragraph_on_one_line(registry: ConnectorRegistry) -> None:
    lines = terminal(50, "show", CATEGORY, "--wide").stdout.splitlines()
    assert (
        "Submits a query to the Acme warehouse and waits for it, as SyncConnector does for every do call."
        in lines
    )
    assert "- retries: how many times a failed query is sent again" in lines


def test_show_wraps_a_long_error_between_words_under_its_label(registry: ConnectorRegistry) -> None:
    result = terminal(60, "show", "acme_broken")
    assert result.exit_code == 1
    # Each identifier whole on its line, even the ones longer than the terminal.
    assert result.stdout.splitlines()[-8:] == [
        "State:         broken",
        f"Error:         {DIST}",
        f"               {VERSION}, entry point 'acme_broken'",
        f"               ({MODULE}_missing:Nope):",
        "               importing",
        f"               {MODULE}_missing:Nope",
        "               raised ModuleNotFoundError: No module named",
        f"               '{MODULE}_missing'",
    ]
    # Piped or --wide: the error on one line.
    assert f"Error:         {BROKEN}" in piped("show", "acme_broken").stdout.splitlines()
    assert f"Error:         {BROKEN}" in terminal(60, "show", "acme_broken", "--wide").stdout.splitlines()


# connector jobs list


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobJournal:
    """A real SQLite journal with two jobs of a long category, one with a long two-line message."""
    journal = JobJournal(tmp_path / "home" / "jobs.sqlite3")
    for job_id in ("0123456789ab", "ba9876543210"):
        journal.add(
            job_id=job_id,
            category=TaskCategory.parse(CATEGORY),
            resource_meta=b"{}",
            template={},
            inputs={},
            phase=Phase.RUNNING,
        )
    journal.update(
        "0123456789ab",
        state=JobState.RUNNING,
        message="waiting for the warehouse to accept the query\n\tqueue position 7",
    )
    journal.update("ba9876543210", state=JobState.RUNNING, message="short")
    monkeypatch.setattr(_jobs, "_journal", lambda: journal)
    return journal


def test_jobs_list_cuts_only_the_message_on_a_terminal(journal: JobJournal) -> None:
    result = terminal(130, "jobs", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    width = len(CATEGORY)
    assert lines[0] == f"ID            {'CATEGORY':{width}}  STATE    PHASE    UPDATED               MESSAGE"
    long = next(line for line in lines if "0123456789ab" in line)
    # 130 columns leave 27 for the message after the identifiers (93 columns) and the gaps (10).
    assert long.endswith("  waiting for the warehouse…")
    assert len(long) == 129  # the blank before the … is dropped
    assert f"  {CATEGORY}  running  RUNNING  " in long
    assert next(line for line in lines if "ba9876543210" in line).endswith("  short")
    assert result.stderr == CUT_HINT + "\n"
    # Narrower than the identifiers: they stay whole and the message keeps 10 columns.
    narrow = terminal(40, "jobs", "list").stdout.splitlines()
    long = next(line for line in narrow if line.startswith("0123456789ab"))
    assert long.startswith(f"0123456789ab  {CATEGORY}  running  RUNNING  ")
    assert long.endswith("Z  waiting f…")


def test_jobs_list_wide_and_piped_show_the_message_whole_on_one_line(journal: JobJournal) -> None:
    message = "waiting for the warehouse to accept the query queue position 7"
    wide = terminal(100, "jobs", "list", "--wide").stdout.splitlines()
    assert len(wide) == 3
    assert any(line.endswith(f"  {message}") for line in wide)
    pipe = piped("jobs", "list").stdout.splitlines()
    assert pipe[0] == "ID\tCATEGORY\tSTATE\tPHASE\tUPDATED\tMESSAGE"
    assert [line.split("\t")[0] for line in pipe[1:]] == [r.id for r in journal.list()]
    assert all(line.count("\t") == 5 and line == line.rstrip() for line in pipe)
    assert any(line.endswith(f"\t{message}") for line in pipe)


# The helpers


def test_cut_and_one_line() -> None:
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdef", 5) == "abcd…"
    assert cut("ab cdef", 4) == "ab…"  # no blank before the ellipsis
    assert cut("日本語テキスト", 5) == "日本…"  # wide characters count two cells
    assert one_line("a\n  b\tc\r\nd") == "a b c d"
    assert one_line("plain  text") == "plain  text"


def test_free_text_columns_share_what_identifiers_leave() -> None:
    cells = [["ID", "MESSAGE", "NOTE"], ["x" * 10, "m" * 50, "n" * 30]]
    free = [False, True, True]
    headers = cells[0]
    assert column_widths(cells, free, headers, None) == [10, 50, 30]
    assert column_widths(cells, free, headers, 100) == [10, 50, 30]
    # 60 columns: 10 for ID, 4 for the gaps, 46 shared: 23 each.
    assert column_widths(cells, free, headers, 60) == [10, 23, 23]
    # Too narrow: each free column keeps the minimum and the identifiers their width.
    assert column_widths(cells, free, headers, 20) == [10, 10, 10]


DOC = """Poll a job on the remote system, as :py:class:`connector.AsyncConnector` and
    :func:`~connector.hookspecs.create` describe; read `the docs
    <https://example.com/d>`_ (a link over two lines).

    Usage
    -----

    .. note:: This is
       a note.

    .. code-block:: python

        value = compute(1)

    .. a comment that is not shown

    >>> print(1)
    1

    :param task_template: the template, which this line describes at some length
    :returns: the resource

    Args:
        x (int): the first value, described at length over
            two lines.
        y: the second.

    See also ::

        literal
"""


def test_docstrings_are_reflowed_with_their_structure_kept() -> None:
    assert render_docstring(DOC, 40) == (
        "Poll a job on the remote system, as\n"
        "connector.AsyncConnector and create\n"
        "describe; read the docs\n"
        "(https://example.com/d) (a link over two\n"
        "lines).\n"
        "\n"
        "Usage\n"
        "-----\n"
        "\n"
        "Note: This is a note.\n"
        "\n"
        "    value = compute(1)\n"
        "\n"
        ">>> print(1)\n"
        "1\n"
        "\n"
        ":param task_template: the template,\n"
        "    which this line describes at some\n"
        "    length\n"
        ":returns: the resource\n"
        "\n"
        "Args:\n"
        "    x (int): the first value, described\n"
        "        at length over two lines.\n"
        "    y: the second.\n"
        "\n"
        "See also\n"
        "\n"
        "    literal"
    )


def test_docstrings_without_a_width_keep_each_paragraph_on_one_line() -> None:
    text = render_docstring(DOC, None)
    assert text.splitlines()[0] == (
        "Poll a job on the remote system, as connector.AsyncConnector and create describe; read the docs "
        "(https://example.com/d) (a link over two lines)."
    )
    assert "    x (int): the first value, described at length over two lines." in text.splitlines()


def test_a_word_longer_than_the_width_is_never_broken() -> None:
    word = "connector_acme_enterprise_data_warehouse_integration:WarehouseQuerySubmissionConnector"
    assert render_docstring(f"Served by {word} here.", 30) == f"Served by\n{word}\nhere."


@pytest.mark.parametrize(
    ("markup", "plain"),
    [
        ("``x = 1``", "x = 1"),
        (":class:`connector.Phase`", "connector.Phase"),
        (":py:meth:`~connector.Phase.from_state`", "from_state"),
        (":ref:`a guide <guide-target>`", "a guide"),
        ("`Flyte <https://flyte.org>`_", "Flyte (https://flyte.org)"),
        ("`default role`", "default role"),
        ("**bold** and *em*", "bold and em"),
        ("*args and **kwargs", "*args and **kwargs"),
        (r"a \*literal\* star", "a *literal* star"),
    ],
)
def test_inline_markup_is_shown_as_plain_text(markup: str, plain: str) -> None:
    assert plain_inline(markup) == plain
