"""``-v/-q`` on every command, before or after its name: how much of the ``connector`` log shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.cli._verbosity import level_name
from tests.support.venvs import ROOT

COMMANDS = [
    ["list"],
    ["show"],
    ["check"],
    ["run"],
    ["new"],
    ["serve"],
    ["jobs", "list"],
    ["jobs", "show"],
    ["jobs", "resume"],
    ["jobs", "cancel"],
    ["jobs", "prune"],
]


def _command(path: list[str]) -> click.Command:
    ctx = click.Context(cli)
    command: click.Command | None = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.get_command(ctx, name)
    assert command is not None
    return command


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_v_and_q(path: list[str]) -> None:
    names = {p.name for p in _command(path).params}
    assert {"verbose", "quiet"} <= names
    help_text = CliRunner().invoke(cli, [*path, "--help"]).output
    assert "-v, --verbose" in help_text
    assert "-q, --quiet" in help_text


def test_the_groups_take_them_too() -> None:
    for group in (cli, _command(["jobs"])):
        assert {"verbose", "quiet"} <= {p.name for p in group.params}


@pytest.mark.parametrize(
    ("base", "shift", "level"),
    [
        ("error", 0, "error"),
        ("error", 1, "warning"),
        ("error", 3, "debug"),
        ("error", 9, "debug"),
        ("error", -1, "critical"),
        ("info", 1, "debug"),
        ("info", -2, "error"),
        ("WARNING", -5, "critical"),
    ],
)
def test_each_flag_moves_one_level(base: str, shift: int, level: str) -> None:
    assert level_name(base, shift) == level


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    """Metadata of a distribution whose connector cannot be imported, for PYTHONPATH."""
    info = tmp_path / "connector_broken-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: connector-broken\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[connector]\nbroken = connector_broken:Connector\n")
    (tmp_path / "connector_broken.py").write_text("raise ImportError('the warehouse SDK is missing')\n")
    return tmp_path


WARNING = (
    "WARNING connector: connector broken@0 is broken: connector-broken 0.3, entry point 'broken' "
    "(connector_broken:Connector): importing connector_broken:Connector raised ImportError: "
    "the warehouse SDK is missing"
)


@pytest.mark.parametrize(
    ("args", "warnings"),
    [
        (["check"], 0),  # the table already says why; the log adds nothing by default
        (["check", "-v"], 1),
        (["-v", "check"], 1),
        (["-v", "check", "-q"], 0),
        (["-q", "check", "-vv"], 1),
    ],
)
def test_v_shows_the_warnings_behind_check(broken_site: Path, args: list[str], warnings: int) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    environ["CONNECTOR_HOME"] = os.environ["CONNECTOR_HOME"]
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "core" / "src"), str(ROOT), str(broken_site)])
    result = subprocess.run(
        [sys.executable, "-m", "connector", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1  # check found the broken plugin
    assert result.stderr.count(WARNING) == warnings
    assert result.stderr.count(" WARNING ") == warnings
