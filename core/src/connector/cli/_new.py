"""``connector new``: scaffold a plugin distribution that installs and passes its tests at once."""

from __future__ import annotations

import re
import string
from importlib import resources
from pathlib import Path

import click

from ._verbosity import verbosity_options

#: What NAME may be: the task type's spelling, lower-case, with '-' or '_' between words.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_NAME_LENGTH = 50


def _template(name: str) -> string.Template:
    text = resources.files("connector.cli").joinpath("_templates").joinpath(name).read_text(encoding="utf-8")
    return string.Template(text)


def check_name(name: str) -> str:
    """Return ``name`` if it can name a connector, else raise ``click.BadParameter`` saying why."""
    if name.startswith(("connector-", "connector_")):
        suggestion = name[len("connector-") :]
        raise click.BadParameter(
            f"{name!r} starts with 'connector-'; give the name alone ({suggestion!r}), the distribution is "
            "named connector-NAME",
            param_hint="NAME",
        )
    if not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise click.BadParameter(
            f"{name!r} is not a connector name: use lower-case letters, digits, and '-' or '_' between "
            f"words, starting with a letter, at most {MAX_NAME_LENGTH} characters (e.g. 'my_service')",
            param_hint="NAME",
        )
    return name


def scaffold_files(name: str, *, sync: bool) -> dict[str, str]:
    """The files of a new ``connector-NAME`` distribution, by path relative to its folder."""
    from .. import __version__

    task_type = name.replace("-", "_")
    package = f"connector_{task_type}"
    words = re.split(r"[-_]", name)
    class_name = "".join(word.capitalize() for word in words) + "Connector"
    meta_name = "".join(word.capitalize() for word in words) + "Meta"
    major, minor = __version__.split(".")[:2]
    values = {
        "distribution": f"connector-{name.replace('_', '-')}",
        "task_type": task_type,
        "package": package,
        "class_name": class_name,
        "meta_name": meta_name,
        "title": " ".join(word.capitalize() for word in words),
        "kind": "sync: one `do` call" if sync else "async: create, get, delete",
        "core_version": f"{major}.{minor}",
        "meta_export": "" if sync else f"from ._connector import {meta_name} as {meta_name}\n",
        "all": f'"{class_name}"' if sync else f'"{class_name}", "{meta_name}"',
        "expected_outputs": '{"x": 1}' if sync else "{}",
    }
    sources = {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        "changelog/1.feature.md": "changelog.md.tmpl",
        f"src/{package}/__init__.py": "__init__.py.tmpl",
        f"src/{package}/_connector.py": "sync_connector.py.tmpl" if sync else "async_connector.py.tmpl",
        "tests/test_contract.py": "test_contract.py.tmpl",
        "tests/test_connector.py": "test_sync_connector.py.tmpl" if sync else "test_async_connector.py.tmpl",
    }
    files = {path: _template(source).substitute(values) for path, source in sources.items()}
    files[f"src/{package}/py.typed"] = ""
    return files


@click.command()
@click.argument("name")
@click.option(
    "--sync", "sync", is_flag=True, help="A sync connector (one `do` call) instead of an async one."
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create the connector-NAME folder.",
)
@verbosity_options
def new(name: str, sync: bool, directory: Path) -> None:
    """Create connector-NAME: a plugin distribution for the task type NAME, ready to install and test.

    It has a pyproject.toml with the entry point and a `test` extra, a src/ package with py.typed,
    a README, a changelog/ folder, and tests that run the connector contract. Exits 2 when NAME is
    not a valid name or the folder exists already.
    """
    check_name(name)
    files = scaffold_files(name, sync=sync)
    distribution = f"connector-{name.replace('_', '-')}"
    target = directory / distribution
    if target.exists():
        click.echo(f"Error: {target} already exists; remove it or choose another --dir", err=True)
        raise SystemExit(2)
    for path, text in files.items():
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text, encoding="utf-8")
    click.echo(f"Created {distribution} ({'sync' if sync else 'async'}) in {target}:")
    for path in sorted(files):
        click.echo(f"  {path}")
    click.echo(f'Next: cd {target} && python -m pip install -e ".[test]" && python -m pytest')
