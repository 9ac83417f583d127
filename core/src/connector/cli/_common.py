"""Helpers the subcommands share: the TYPE[@VERSION] argument, the unknown-type error and output."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

import click

from .._exceptions import ConnectorNotFound
from .._model import TaskCategory
from ..registry._registry import ConnectorRegistry
from ._errors import fail, json_asked
from ._output import fitted
from ._output import print_table as print_table


def parse_category(text: str) -> TaskCategory:
    """The TYPE[@VERSION] argument, or a click usage error (exit 2) saying what is wrong with it."""
    try:
        return TaskCategory.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="TYPE[@VERSION]") from None


def fail_unknown(registry: ConnectorRegistry, exc: ConnectorNotFound) -> NoReturn:
    """Exit 2 with the not-found message and the installed categories (for every command).

    Under ``--json`` the message is one JSON line on stdout, as every error there is.
    """
    installed = ", ".join(str(c) for c in registry.categories()) or "none"
    fail(f"{exc}. Installed task types: {installed}", as_json=json_asked(), kind="not-found")


def print_json(document: Any) -> None:
    """Print ``document`` as indented JSON."""
    click.echo(json.dumps(document, indent=2))


def print_fields(document: Mapping[str, Any], labels: Mapping[str, str], *, wide: bool = False) -> None:
    """Print ``Label:  value`` lines for the keys in ``labels``, skipping empty values; lists joined.

    On a terminal a long value is wrapped between words under itself (unless ``wide``); piped, each
    value stays on its line.
    """
    for key, label in labels.items():
        value = document[key]
        if value is None or value == "" or value == []:
            continue
        text = ", ".join(value) if isinstance(value, list) else str(value)
        click.echo(fitted(f"{label + ':':15}", text, indent=15, wide=wide))
