"""Errors as the caller asked for them: plain text on stderr, or one JSON line on stdout with ``--json``.

An error document is one line: ``{"error": MESSAGE, "kind": KIND, "exit_code": N}`` plus
``"command"`` for usage errors. It goes to stdout, where the program reading ``--json`` output
looks, so ``connector list --json | jq`` sees the error instead of nothing (issue 12).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import IO, Any, NoReturn

import click

JSON_FLAG = "--json"


def json_requested(args: Sequence[str]) -> bool:
    """Whether ``--json`` is among ``args`` before a ``--`` that ends the options."""
    options = list(args)
    if "--" in options:
        options = options[: options.index("--")]
    return JSON_FLAG in options


def error_document(message: str, *, kind: str, exit_code: int = 2, **extra: Any) -> str:
    """The one-line JSON document of an error."""
    return json.dumps({"error": message, "kind": kind, "exit_code": exit_code, **extra}, ensure_ascii=False)


def json_asked() -> bool:
    """Whether the command running now was given ``--json`` (its ``as_json`` parameter)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.params.get("as_json"))


def fail(message: str, *, as_json: bool, kind: str = "configuration", exit_code: int = 2) -> NoReturn:
    """Print ``message`` as ``Error: ...`` on stderr, or as a JSON document on stdout; then exit."""
    if as_json:
        click.echo(error_document(message, kind=kind, exit_code=exit_code))
    else:
        click.echo(f"Error: {message}", err=True)
    raise SystemExit(exit_code)


class JsonUsageError(click.UsageError):
    """A click usage error of a command given ``--json``: shown as a JSON document; exit code 2."""

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message(), error.ctx)

    def show(self, file: IO[Any] | None = None) -> None:
        command = self.ctx.command_path if self.ctx is not None else None
        click.echo(error_document(self.message, kind="usage", exit_code=self.exit_code, command=command))


def json_from_environment(ctx: click.Context | None) -> bool:
    """Whether the command of ``ctx`` has ``--json`` set by its environment variable (``serve``'s)."""
    if ctx is None:
        return False
    for param in ctx.command.params:
        if param.name == "as_json" and isinstance(param.envvar, str):
            value = os.environ.get(param.envvar, "").strip()
            try:
                return bool(value) and bool(click.BOOL.convert(value, param, None))
            except click.BadParameter:  # the bad value is the usage error being reported
                return False
    return False
