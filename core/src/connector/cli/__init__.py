"""The ``connector`` command: a click group whose subcommands are imported only when run."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from .._exceptions import ConfigurationError
from ._errors import JsonUsageError, fail, json_from_environment, json_requested
from ._process import process_ends_with_command
from ._verbosity import verbosity_flags

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

    # A usage error of a command given --json is shown as a JSON document (issue 12). Errors come
    # from parsing this group's options, from parsing the subcommand's (in invoke), and from
    # callbacks that raise click.UsageError themselves.

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        as_json = json_requested(args)  # read first: parsing consumes the list
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            if as_json:
                raise JsonUsageError(exc) from exc
            raise

    def invoke(self, ctx: click.Context) -> Any:
        arguments = _arguments(ctx)  # read first: click's invoke takes them out of ctx
        try:
            return super().invoke(ctx)
        except JsonUsageError:
            raise
        except click.UsageError as exc:
            if json_requested(arguments) or json_from_environment(exc.ctx):
                raise JsonUsageError(exc) from exc
            raise


def _arguments(ctx: click.Context) -> list[str]:
    """The arguments after this group's own options (the subcommand's name and its arguments)."""
    # click 8.2 moved them to a private name and deprecated the public one; 8.1 has only that.
    protected: list[str] = ctx.__dict__.get("_protected_args", ctx.__dict__.get("protected_args", []))
    return [*protected, *ctx.args]


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="connector-core", prog_name="connector")
@verbosity_flags
def cli() -> None:
    """Find, inspect, run and serve connectors.

    Exit codes: 0 success; 1 a problem was found (`check`) or a job did not succeed (`run`);
    2 bad usage, an unknown task type, or a missing optional dependency; 130 a run or job stopped
    by Ctrl-C or SIGTERM. With --json, a usage or settings error is one JSON line on stdout.

    -v/-q here or after the subcommand's name set how much of the log goes to stderr.
    """


def main(args: list[str] | None = None) -> Any:
    """Run the ``connector`` command (the console-script entry point)."""
    arguments: Sequence[str] = sys.argv[1:] if args is None else args
    process_ends_with_command()
    try:
        return cli.main(args=args, prog_name="connector")
    except ConfigurationError as exc:
        fail(str(exc), as_json=json_requested(arguments))
