"""How the commands print tables and long lines: fitted to a terminal, plain (tab-separated) when piped."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

#: A free-text column is never made narrower than this (or its header) to fit a terminal: a message
#: cut to a few characters says nothing, so the line grows past the terminal instead.
MIN_FREE_TEXT_WIDTH = 10
#: The hint printed on stderr once something was cut to fit the terminal.
CUT_HINT = "Some text was cut to fit the terminal (…); --wide shows it whole."
_GAP = "  "
# Whatever would end a line or a tab-separated field inside a cell (issue 12: one row per line).
_BREAKS = re.compile(r"\s*[\t\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")
# The other control characters (ESC among them): a job's message can hold a remote service's text,
# and an escape sequence printed raw could retitle the terminal, write the clipboard (OSC 52) or hide
# a link (OSC 8). They are shown as visible escapes instead.
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")


def console() -> Console:
    """A rich console on stdout; it follows COLUMNS, NO_COLOR, FORCE_COLOR, TTY_COMPATIBLE and TERM=dumb."""
    from rich.console import Console  # imported here: rich costs more than the rest of `list`

    return Console(soft_wrap=True, highlight=False)


def one_line(text: str) -> str:
    """``text`` on one line and safe to print on a terminal.

    Tabs and line breaks (and the blanks around them) become single spaces; other control
    characters become visible escapes such as ``\\x1b``.
    """
    if _BREAKS.search(text):
        text = _BREAKS.sub(" ", text).strip()
    if _CONTROLS.search(text):
        text = _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return text


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells with a final ``…`` (unchanged when it fits)."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(width - 1, 0)).rstrip() + "…"


def column_widths(
    cells: Sequence[Sequence[str]], free: Sequence[bool], headers: Sequence[str], width: int | None
) -> list[int]:
    """The width of each column: identifiers get their longest cell; free text shares what is left.

    ``width`` is the terminal's (``None``: free text whole too). A free-text column gets at least
    ``MIN_FREE_TEXT_WIDTH`` cells (or its header's width, or its longest cell if that is less), even
    when the line then grows past the terminal; identifiers are never narrowed.
    """
    from rich.cells import cell_len

    natural = [max(cell_len(row[i]) for row in cells) for i in range(len(headers))]
    if width is None or not any(free):
        return natural
    left = (
        width - len(_GAP) * (len(headers) - 1) - sum(w for w, f in zip(natural, free, strict=True) if not f)
    )
    widths = list(natural)
    # The narrowest free columns are settled first, so what they leave goes to the wider ones.
    pending = sorted((i for i, is_free in enumerate(free) if is_free), key=lambda i: natural[i])
    for count, index in enumerate(pending):
        floor = min(natural[index], max(MIN_FREE_TEXT_WIDTH, cell_len(headers[index])))
        share = left // (len(pending) - count) if left > 0 else 0
        widths[index] = min(natural[index], max(share, floor))
        left -= widths[index]
    return widths


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    free_text: Collection[str] = (),
    wide: bool = False,
) -> bool:
    """Print a table, one row per line; return whether any cell was cut to fit the terminal.

    On a terminal: aligned columns with a bold header; the columns named in ``free_text`` are cut
    with ``…`` so the line fits the terminal (unless ``wide``), the others (identifiers) are never cut
    or folded, even if the line must then be longer than the terminal. Piped: a header line and one
    line per row, cells separated by a tab, no padding, no styling, no trailing tab.
    """
    table = [list(headers), *([one_line(cell) for cell in row] for row in rows)]
    screen = console()
    if not screen.is_terminal:
        for line in table:
            # No trailing whitespace (issue 12): an empty last cell leaves its row a field short,
            # which cut and awk read as the same empty field.
            click.echo("\t".join(line).rstrip("\t"))
        return False
    from rich.cells import cell_len
    from rich.text import Text

    free = [header in free_text for header in headers]
    widths = column_widths(table, free, headers, None if wide else screen.width)
    was_cut = False
    for number, row in enumerate(table):
        cells = []
        for cell, width in zip(row, widths, strict=True):
            shown = cut(cell, width)
            was_cut = was_cut or shown != cell
            cells.append(shown + " " * (width - cell_len(shown)))
        text = Text(_GAP.join(cells).rstrip(), style="bold" if number == 0 else "")
        screen.print(text, no_wrap=True, overflow="ignore", crop=False)
    return was_cut


def hint_cut(was_cut: bool) -> None:
    """Say on stderr, once, that text was cut and how to see it whole."""
    if was_cut:
        click.echo(CUT_HINT, err=True)


def fitted(head: str, text: str, *, indent: int, wide: bool = False) -> str:
    """``head`` then ``text``; on a terminal, wrapped between words to its width (unless ``wide``).

    Continuation lines are indented by ``indent``. Nothing is cut and no word (an identifier, a
    path) is broken: a longer one overflows its line. Piped, it is one line.
    """
    text = one_line(text)
    screen = console()
    if wide or not screen.is_terminal or not text:
        return head + text
    return textwrap.fill(
        text,
        width=max(screen.width, indent + MIN_FREE_TEXT_WIDTH),
        initial_indent=head,
        subsequent_indent=" " * indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
