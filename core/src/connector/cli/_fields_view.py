"""A connector's declared fields as ``connector show`` and ``connector run --help-fields`` print them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .._exceptions import ConnectorNotFound, ConnectorUnavailable
from ._common import fail_unknown
from ._errors import fail
from ._output import hint_cut, print_table

if TYPE_CHECKING:  # `connector list` imports this module and must not import pluggy (issue 13)
    from .._model import TaskCategory
    from ..registry._loaded import LoadedConnector
    from ..registry._registry import ConnectorRegistry

#: The document keys of the three declarations, with their headings.
SECTIONS = {"custom_fields": "Custom fields", "input_fields": "Inputs", "output_fields": "Outputs"}


def fields_document(loaded: LoadedConnector | None) -> dict[str, Any]:
    """The declarations as JSON-ready lists; ``custom_fields`` is None when the connector declares none."""
    if loaded is None:
        return dict.fromkeys(SECTIONS)
    custom = loaded.custom_fields
    return {
        "custom_fields": [f.to_dict() for f in custom.fields] if custom is not None else None,
        "input_fields": [f.to_dict() for f in loaded.input_fields],
        "output_fields": [f.to_dict() for f in loaded.output_fields],
    }


def _kind(field: Mapping[str, Any]) -> str:
    what: str = field["type"]
    if field["required"]:
        return f"{what}, required"
    if field["default"] is not None:
        return f"{what}, default {json.dumps(field['default'], ensure_ascii=False)}"
    return what


def print_field_sections(document: Mapping[str, Any], *, wide: bool) -> bool:
    """Print the three sections of a ``fields_document``; return whether any text was cut.

    Each section is a table (FIELD, TYPE, HELP) with the rules of every table: a field's name is
    never cut or folded; on a terminal its type and help are cut with ``…`` to fit (unless ``wide``);
    piped, rows are tab-separated.
    """
    was_cut = False
    for key, heading in SECTIONS.items():
        fields = document.get(key)
        if not fields:
            unchecked = " (custom fields are passed on unchecked)" if key == "custom_fields" else ""
            click.echo(f"{heading}: none declared{unchecked}")
            continue
        click.echo(f"{heading}:")
        rows = [(f["name"], _kind(f), f["help"]) for f in fields]
        was_cut = (
            print_table(("FIELD", "TYPE", "HELP"), rows, free_text={"TYPE", "HELP"}, wide=wide) or was_cut
        )
    return was_cut


def echo_fields(document: Mapping[str, Any], *, wide: bool = False) -> None:
    """Print the sections of a ``fields_document`` after a blank line (``connector show``).

    Nothing for a connector that declares nothing (or did not load): its output stays as it was.
    """
    if not any(document.get(key) is not None and document.get(key) != [] for key in SECTIONS):
        return
    click.echo()
    hint_cut(print_field_sections(document, wide=wide))


def show_run_fields(
    registry: ConnectorRegistry, category: TaskCategory, *, as_json: bool = False
) -> NoReturn:
    """``connector run TYPE --help-fields``: print the declarations and exit 0 (1 when it cannot load).

    With ``as_json``, one JSON document: the connector's name, its task type and ``fields_document``.
    """
    try:
        loaded = registry.get(category)
    except ConnectorNotFound as exc:
        fail_unknown(registry, exc)
    except ConnectorUnavailable as exc:
        fail(f"task type {category} cannot be run: {exc}", as_json=as_json, kind="connector", exit_code=1)
    if as_json:
        document = {"name": loaded.name, "category": str(category), **fields_document(loaded)}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        raise SystemExit(0)
    click.echo(f"{loaded.name} ({category}):")
    if print_field_sections(fields_document(loaded), wide=False):
        click.echo(
            f"Some text was cut to fit the terminal (…); `connector show {category} --wide` shows it whole.",
            err=True,
        )
    raise SystemExit(0)
