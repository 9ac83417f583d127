"""``connector list``, ``show`` and ``check``: introspection of the installed connectors."""

from __future__ import annotations

from typing import Any

import click

from .._exceptions import ConnectorNotFound, ConnectorUnavailable
from .._hooks import ALL_HOOKS
from ..registry._registry import ConnectorEntry, ConnectorRegistry, ConnectorState, default_registry
from ._common import fail_unknown, parse_category, print_fields, print_json, print_table
from ._docstrings import render_docstring
from ._entries import NO_CONNECTORS, bridged_by
from ._fields_view import echo_fields, fields_document
from ._output import console, fitted
from ._verbosity import verbosity_options


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
@click.option("--wide", is_flag=True, help="Print each error on one line, not wrapped to the terminal.")
@verbosity_options
def list_command(as_json: bool, wide: bool) -> None:
    """List every installed connector without importing any of them.

    Connectors a provider bridges (connector.providers entry points) are listed with the provider's
    distribution under BRIDGED BY. Errors are printed under the table; on a terminal each is
    wrapped between words to its width (--wide: one line each). Piped, the table is tab-separated.
    """
    entries = _registry().entries()
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    if not entries:
        click.echo(NO_CONNECTORS)
        return
    rows = [[_label(e), e.state.value, _dist(e), e.target] for e in entries]
    headers = ["CATEGORY", "STATE", "DISTRIBUTION", "TARGET"]
    if any(e.provider is not None for e in entries):  # the column appears once a provider is installed
        headers.append("BRIDGED BY")
        rows = [[*row, bridged_by(e) or ""] for row, e in zip(rows, entries, strict=True)]
    print_table(headers, rows)
    errors = [e for e in entries if e.error]
    if errors:
        click.echo()
        for entry in errors:
            click.echo(fitted(f"{_label(entry)}: ", entry.error or "", indent=4, wide=wide))


@click.command()
@click.argument("task_type", metavar="TYPE[@VERSION]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
@click.option("--wide", is_flag=True, help="Keep long values and paragraphs on one line each.")
@verbosity_options
def show(task_type: str, as_json: bool, wide: bool) -> None:
    """Load one connector and describe it.

    Its docstring is shown as plain text reflowed to the terminal width (80 columns when piped,
    or COLUMNS).

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
        "raw_literals": loaded.raw_literals if loaded else None,
        "doc": loaded.doc if loaded else None,
        **fields_document(loaded),
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
            "raw_literals": "Raw literals",
            "distribution": "Distribution",
            "distribution_version": "Version",
            "target": "Target",
            "bridged_by": "Bridged by",
            "state": "State",
            "error": "Error",
        }
        provider = entry.provider
        bridged = f"provider {provider.entry_point!r} of {bridged_by(entry)}" if provider else None
        raw = "yes" if document["raw_literals"] else None
        print_fields({**document, "bridged_by": bridged, "raw_literals": raw}, labels, wide=wide)
        echo_fields(document, wide=wide)
        if document["doc"]:
            click.echo("\n" + render_docstring(document["doc"], None if wide else console().width))
    if entry.state is not ConnectorState.LOADED:
        raise SystemExit(1)


def _qualified(cls: type | None) -> str | None:
    return f"{cls.__module__}.{cls.__qualname__}" if cls is not None else None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
@click.option("--wide", is_flag=True, help="Print each problem on one line, not wrapped to the terminal.")
@verbosity_options
def check(as_json: bool, wide: bool) -> None:
    """Load every connector and report each problem; exit 1 if there is any (for Docker builds and CI).

    Broken and conflicting connectors are problems (a conflict once, however many claim it);
    disabled ones (CONNECTOR_ALLOW, CONNECTOR_DENY,
    CONNECTOR_PIN) are reported but are not. On a terminal each reason is wrapped between words
    to its width (--wide: one line each). What the providers provide is learned afresh, not
    read from the discovery cache (which it then updates).
    """
    from ..registry._provider_discovery import learning_afresh

    with learning_afresh():  # an image build or CI job checks what is installed now (issue 11)
        registry = _registry()
    entries = registry.load_all()
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
            click.echo(fitted(f"{state.value.upper()} {label}: ", error or "", indent=4, wide=wide))
        loaded = sum(e.state is ConnectorState.LOADED for e in entries)
        disabled = sum(e.state is ConnectorState.DISABLED for e in entries)
        click.echo(f"{loaded} connector(s) loaded, {disabled} disabled, {len(problems)} problem(s).")
    if problems:
        raise SystemExit(1)
