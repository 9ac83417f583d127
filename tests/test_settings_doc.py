"""docs/settings.md names every environment variable the code reads and every option of every command.

The variables are found in the source of the core and the first-party plugins (every
``CONNECTOR_...`` name; one that ends in ``_`` is a prefix, such as ``CONNECTOR_SECRET_<NAME>``),
and in the ``envvar`` of each click option (given, or made by an ``auto_envvar_prefix``). The options
are read from the click commands themselves, each under its command's ``### `connector ...```
heading. The page may not name what does not exist either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from connector.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "docs" / "settings.md"
SOURCES = [ROOT / "core" / "src", *sorted((ROOT / "plugins").glob("*/src"))]
#: Read by the test suite only; the page documents them for developers.
DEVELOPMENT = [ROOT / "tests" / "compat" / "venvs.py", ROOT / "noxfile.py"]
_VARIABLE = re.compile(r"\bCONNECTOR_[A-Z0-9_]*[A-Z0-9_]")


def variables_in(paths: list[Path]) -> set[str]:
    files = [p for path in paths for p in ([path] if path.is_file() else sorted(path.rglob("*.py")))]
    return {name for file in files for name in _VARIABLE.findall(file.read_text())}


def commands(
    command: click.Command = cli, path: str = "connector", prefix: str | None = None
) -> Iterator[tuple[str, click.Command, str | None]]:
    """Every command and subcommand, as ``("connector jobs list", command, its auto_envvar_prefix)``.

    The prefix is the command's own ``auto_envvar_prefix``, else its parent's with ``_NAME`` added, as
    click makes it.
    """
    prefix = command.context_settings.get("auto_envvar_prefix") or prefix
    yield path, command, prefix
    if isinstance(command, click.Group):
        with click.Context(command) as ctx:
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                child = f"{prefix}_{name.upper().replace('-', '_')}" if prefix else None
                yield from commands(sub, f"{path} {name}", child)


def option_envvars(command: click.Command, prefix: str | None) -> set[str]:
    """The environment variables click reads for the command's options."""
    found: set[str] = set()
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        envvar = param.envvar
        if envvar is None and prefix and param.allow_from_autoenv and param.name:
            envvar = f"{prefix}_{param.name.upper()}"
        if isinstance(envvar, str):
            found.add(envvar)
        elif envvar:
            found.update(envvar)
    return found


def sections(text: str) -> dict[str, str]:
    """``"connector jobs list"`` -> the text under its ``### `connector jobs list``` heading."""
    parts = re.split(r"^### `(connector[^`]*)`\n", text, flags=re.M)
    return {parts[i]: re.split(r"^#{1,3} ", parts[i + 1], flags=re.M)[0] for i in range(1, len(parts), 2)}


def documented_options(section: str) -> set[str]:
    """The options in the first column of the section's table rows."""
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `-")]
    return {name for row in rows for name in re.findall(r"`(-[^`]+)`", row)}


def problems(text: str) -> list[str]:
    """What the page ``text`` leaves out or names wrongly; empty when it is complete."""
    found: list[str] = []
    read = variables_in(SOURCES)
    for _, command, prefix in commands():
        read |= option_envvars(command, prefix)
    named = set(re.findall(r"`(CONNECTOR_[A-Z0-9_]+)(?:<[A-Z]+>)?`", text))
    for name in sorted(read):
        # A prefix (CONNECTOR_SECRET_, from "CONNECTOR_SECRET_" + key) is documented by a name it starts.
        if name not in named and not (name.endswith("_") and any(n.startswith(name) for n in named)):
            found.append(f"environment variable {name} is read in the source but not in docs/settings.md")
    known = read | variables_in(DEVELOPMENT)
    found += [f"docs/settings.md names {name}, which nothing reads" for name in sorted(named - known)]
    documented = sections(text)
    for path, command, _ in commands():
        if path not in documented:
            found.append(f"docs/settings.md has no section ### `{path}`")
            continue
        options = {
            opt for param in command.params if isinstance(param, click.Option) for opt in param.opts
        } | {
            opt for param in command.params if isinstance(param, click.Option) for opt in param.secondary_opts
        }
        if path == "connector":
            options |= set(cli.context_settings["help_option_names"])
        shown = documented_options(documented[path])
        found += [f"option {opt} of `{path}` is missing from its section" for opt in sorted(options - shown)]
        found += [f"`{path}` has no option {opt}, which its section shows" for opt in sorted(shown - options)]
    found += [
        f"docs/settings.md has a section for `{path}`, which is not a command"
        for path in sorted(set(documented) - {path for path, _, _ in commands()})
    ]
    return found


def test_the_page_names_every_variable_and_option() -> None:
    assert problems(SETTINGS.read_text()) == []


def test_the_source_scan_finds_the_variables() -> None:
    """The scan is not empty: it sees names from the core, a plugin and a prefix."""
    read = variables_in(SOURCES)
    assert {"CONNECTOR_HOME", "CONNECTOR_PIN", "CONNECTOR_HTTP_ALLOW", "CONNECTOR_SECRET_"} <= read


def test_every_command_is_walked() -> None:
    assert {path for path, _, _ in commands()} >= {
        "connector",
        "connector list",
        "connector serve",
        "connector run",
        "connector jobs",
        "connector jobs prune",
    }


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (
            "| `CONNECTOR_PIN` |",
            "environment variable CONNECTOR_PIN is read in the source but not in docs/settings.md",
        ),
        ("| `--drain-timeout` |", "option --drain-timeout of `connector serve` is missing from its section"),
        ("| `--older-than` |", "option --older-than of `connector jobs prune` is missing from its section"),
    ],
)
def test_a_missing_row_is_caught(cut: str, expected: str) -> None:
    text = SETTINGS.read_text()
    row = next(line for line in text.splitlines() if line.startswith(cut))
    assert problems(text.replace(row + "\n", "")) == [expected]


def test_a_row_for_nothing_is_caught() -> None:
    text = SETTINGS.read_text().replace(
        "| `--json` | | | a JSON array instead of a table ([cli.md]",
        "| `--json`, `--no-such-option` | | | a JSON array instead of a table ([cli.md]",
    )
    unread = "CONNECTOR_" + "NO_SUCH_THING"  # spelled in two parts: the source scan must not find it
    assert problems(text + f"| `{unread}` | | | |\n") == [
        f"docs/settings.md names {unread}, which nothing reads",
        "`connector list` has no option --no-such-option, which its section shows",
    ]


def test_a_missing_section_is_caught() -> None:
    text = SETTINGS.read_text().replace("### `connector jobs show`", "### jobs show")
    assert problems(text) == ["docs/settings.md has no section ### `connector jobs show`"]


def test_option_variables_come_from_click() -> None:
    """An option's own ``envvar``, and the names an ``auto_envvar_prefix`` gives the others."""

    @click.group()
    def group() -> None: ...

    @group.command(context_settings={"auto_envvar_prefix": "CONNECTOR_SERVE"})
    @click.option("--port")
    @click.option("--host", envvar="CONNECTOR_LISTEN_HOST")
    def serve(port: str, host: str) -> None: ...

    found = {path: option_envvars(command, prefix) for path, command, prefix in commands(group, "x")}
    assert found == {"x": set(), "x serve": {"CONNECTOR_SERVE_PORT", "CONNECTOR_LISTEN_HOST"}}
