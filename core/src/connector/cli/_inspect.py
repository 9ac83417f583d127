"""``connector list``, ``show`` and ``check``: introspection of the installed connectors."""

from __future__ import annotations

from typing import Any

import click

from .._exceptions import ConnectorNotFound, ConnectorUnavailable
from ..hookspecs import ALL_HOOKS
from ..registry._registry import ConnectorEntry, ConnectorRegistry, ConnectorState, default_registry
from ._common import fail_unknown, parse_category, print_fields, print_json, print_table


def _registry() -> ConnectorRegistry:
    return default_registry()


def _dist(entry: ConnectorEntry) -> str:
    if entry.distribution is None:
        return "(registered)"
    return f"{entry.distribution} {entry.distribution_version or ''}".rstrip()


def _label(entry: ConnectorEntry) -> str:
    return str(entry.category) if entry.category else entry.entry_point


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def list_command(as_json: bool) -> None:
    """List every installed connector without importing any of them.

    Errors are printed under the table, one line each, so they are never cut or wrapped.
    """
    entries = _registry().entries()
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    if not entries:
        click.echo("No connectors installed (no entry points in the 'connector' group).")
        return
    rows = [[_label(e), e.state.value, _dist(e), e.target] for e in entries]
    print_table(["CATEGORY", "STATE", "DISTRIBUTION", "TARGET"], rows)
    errors = [e for e in entries if e.error]
    if errors:
        click.echo()
        for entry in errors:
            click.echo(f"{_label(entry)}: {entry.error}")


@click.command()
@click.argument("task_type", metavar="TYPE[@VERSION]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def show(task_type: str, as_json: bool) -> None:
    """Load one connector and describe it.

    Exits 1 when the connector cannot be loaded, 2 when no connector has that task type.
    """
    registry = _registry()
    category = parse_category(task_type)
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
        "hooks": [h for h in ALL_HOOKS if h in loaded.hooks] if loaded else [],  # in the order of operations
        "metadata_type": _qualified(loaded.metadata_type) if loaded else None,
        "doc": loaded.doc if loaded else None,
    }
    if as_json:
        print_json(document)
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
        print_fields(document, labels)
        if document["doc"]:
            click.echo("\n" + document["doc"])
    if entry.state is not ConnectorState.LOADED:
        raise SystemExit(1)


def _qualified(cls: type | None) -> str | None:
    return f"{cls.__module__}.{cls.__qualname__}" if cls is not None else None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
def check(as_json: bool) -> None:
    """Load every connector and report each problem; exit 1 if there is any (for Docker builds and CI).

    Broken and conflicting connectors are problems (a conflict once, however many claim it);
    disabled ones (CONNECTOR_ALLOW, CONNECTOR_DENY,
    CONNECTOR_PIN) are reported but are not.
    """
    entries = _registry().load_all()
    # One problem per reason: the claimants of one conflict share its message and count once.
    problems = list(dict.fromkeys((_label(e), e.state, e.error) for e in entries if e.is_problem))
    if as_json:
        print_json(
            {"ok": not problems, "connectors": [e.to_dict() for e in entries], "problems": len(problems)}
        )
    else:
        # Disabled connectors are reported but are not problems: the operator left them out.
        reported = dict.fromkeys(
            (_label(e), e.state, e.error)
            for e in entries
            if e.is_problem or e.state is ConnectorState.DISABLED
        )
        for label, state, error in reported:
            click.echo(f"{state.value.upper()} {label}: {error}")
        loaded = sum(e.state is ConnectorState.LOADED for e in entries)
        disabled = sum(e.state is ConnectorState.DISABLED for e in entries)
        click.echo(f"{loaded} connector(s) loaded, {disabled} disabled, {len(problems)} problem(s).")
    if problems:
        raise SystemExit(1)
