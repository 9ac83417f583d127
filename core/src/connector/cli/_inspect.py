"""``connector list``, ``show`` and ``check``: introspection of the installed connectors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from .._exceptions import ConnectorNotFound, ConnectorUnavailable
from .._model import TaskCategory
from .._registry import ConnectorEntry, ConnectorRegistry, ConnectorState, default_registry


def _registry() -> ConnectorRegistry:
    return default_registry()


def _print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2))


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from rich.console import Console  # imported here: rich costs more than the rest of `list`
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(soft_wrap=False).print(table)


def _dist(entry: ConnectorEntry) -> str:
    if entry.distribution is None:
        return "(registered)"
    return f"{entry.distribution} {entry.distribution_version or ''}".rstrip()


def _entry_rows(entries: Sequence[ConnectorEntry]) -> list[list[str]]:
    return [
        [str(e.category) if e.category else e.entry_point, e.state.value, _dist(e), e.target, e.error or ""]
        for e in entries
    ]


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def list_command(as_json: bool) -> None:
    """List every installed connector without importing any of them."""
    entries = _registry().entries()
    if as_json:
        _print_json([e.to_dict() for e in entries])
    elif not entries:
        click.echo("No connectors installed (no entry points in the 'connector' group).")
    else:
        _print_table(["CATEGORY", "STATE", "DISTRIBUTION", "TARGET", "ERROR"], _entry_rows(entries))


def _parse_category(text: str) -> TaskCategory:
    try:
        return TaskCategory.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="TYPE[@VERSION]") from None


def fail_unknown(registry: ConnectorRegistry, exc: ConnectorNotFound) -> None:
    """Exit 2 with the not-found message and the installed categories (for every command)."""
    installed = ", ".join(str(c) for c in registry.categories()) or "none"
    click.echo(f"Error: {exc}. Installed task types: {installed}", err=True)
    raise SystemExit(2)


@click.command()
@click.argument("task_type", metavar="TYPE[@VERSION]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def show(task_type: str, as_json: bool) -> None:
    """Load one connector and describe it.

    Exits 1 when the connector cannot be loaded, 2 when no connector has that task type.
    """
    registry = _registry()
    category = _parse_category(task_type)
    loaded = None
    try:
        loaded = registry.get(category)
    except ConnectorNotFound as exc:
        fail_unknown(registry, exc)
    except ConnectorUnavailable:
        pass  # the entry below carries the state and the reason
    entry = registry.entry(category)
    document: dict[str, Any] = {
        **entry.to_dict(),
        "name": loaded.name if loaded else None,
        "kind": ("sync" if loaded.is_sync else "async") if loaded else None,
        "hooks": sorted(loaded.hooks) if loaded else [],
        "metadata_type": _qualified(loaded.metadata_type) if loaded else None,
        "doc": loaded.doc if loaded else None,
    }
    if as_json:
        _print_json(document)
    else:
        labels = {
            "category": "Category",
            "name": "Name",
            "kind": "Kind",
            "hooks": "Hooks",
            "metadata_type": "Metadata type",
            "distribution": "Distribution",
            "distribution_version": "Version",
            "target": "Target",
            "state": "State",
            "error": "Error",
        }
        for key, label in labels.items():
            value = document[key]
            if value in (None, []):
                continue
            click.echo(f"{label + ':':15}{', '.join(value) if isinstance(value, list) else value}")
        if document["doc"]:
            click.echo("\n" + document["doc"])
    if entry.state is not ConnectorState.LOADED:
        raise SystemExit(1)


def _qualified(cls: type | None) -> str | None:
    return f"{cls.__module__}.{cls.__qualname__}" if cls is not None else None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def check(as_json: bool) -> None:
    """Load every connector and report each problem; exit 1 if there is any (for Docker builds and CI)."""
    entries = _registry().load_all()
    problems = [e for e in entries if e.state is not ConnectorState.LOADED]
    if as_json:
        _print_json(
            {"ok": not problems, "connectors": [e.to_dict() for e in entries], "problems": len(problems)}
        )
    else:
        for entry in problems:
            name = str(entry.category) if entry.category else entry.entry_point
            click.echo(f"{entry.state.value.upper()} {name}: {entry.error}")
        loaded = len(entries) - len(problems)
        click.echo(f"{loaded} connector(s) loaded, {len(problems)} problem(s).")
    if problems:
        raise SystemExit(1)
