"""Helpers the subcommands share: the TYPE[@VERSION] argument, the unknown-type error and output."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NoReturn

import click

from .._exceptions import ConnectorNotFound
from .._model import TaskCategory
from ..registry._registry import ConnectorRegistry


def parse_category(text: str) -> TaskCategory:
    """The TYPE[@VERSION] argument, or a click usage error (exit 2) saying what is wrong with it."""
    try:
        return TaskCategory.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="TYPE[@VERSION]") from None


def fail_unknown(registry: ConnectorRegistry, exc: ConnectorNotFound) -> NoReturn:
    """Exit 2 with the not-found message and the installed categories (for every command)."""
    installed = ", ".join(str(c) for c in registry.categories()) or "none"
    click.echo(f"Error: {exc}. Installed task types: {installed}", err=True)
    raise SystemExit(2)


def print_json(document: Any) -> None:
    """Print ``document`` as indented JSON."""
    click.echo(json.dumps(document, indent=2))


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, no_wrap: Collection[str] = ()
) -> None:
    """Print a borderless table; columns named in ``no_wrap`` stay on one line, the others fold."""
    from rich.console import Console  # imported here: rich costs more than the rest of `list`
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        if header in no_wrap:
            table.add_column(header, no_wrap=True)
        else:
            table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(soft_wrap=False).print(table)


def print_fields(document: Mapping[str, Any], labels: Mapping[str, str]) -> None:
    """Print ``Label:  value`` lines for the keys in ``labels``, skipping empty values; lists joined."""
    for key, label in labels.items():
        value = document[key]
        if value is None or value == "" or value == []:
            continue
        click.echo(f"{label + ':':15}{', '.join(value) if isinstance(value, list) else value}")
