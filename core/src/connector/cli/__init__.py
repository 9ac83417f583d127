"""The ``connector`` command: a click group whose subcommands are imported only when run."""

from __future__ import annotations

import importlib
from typing import Any

import click

from .._exceptions import ConfigurationError

# Subcommand name -> "module:attribute". A subcommand's module (and what it imports, such as
# grpc for `serve`) is imported only when that subcommand runs, so `connector list` stays fast.
_COMMANDS = {
    "check": "connector.cli._inspect:check",
    "jobs": "connector.cli._jobs:jobs",
    "list": "connector.cli._inspect:list_command",
    "new": "connector.cli._new:new",
    "serve": "connector.cli._serve:serve",
    "run": "connector.cli._run:run_command",
    "show": "connector.cli._inspect:show",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="connector-core", prog_name="connector")
def cli() -> None:
    """Find, inspect, run and serve connectors.

    Exit codes: 0 success; 1 a problem was found (`check`) or a job did not succeed (`run`);
    2 bad usage, an unknown task type, or a missing optional dependency; 130 a run or job stopped
    by Ctrl-C or SIGTERM.
    """


def main(args: list[str] | None = None) -> Any:
    """Run the ``connector`` command (the console-script entry point)."""
    try:
        return cli.main(args=args, prog_name="connector")
    except ConfigurationError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
