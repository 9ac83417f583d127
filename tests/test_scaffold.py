"""`connector new`: what it writes, what it refuses, and that the result installs and passes its tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import cli
from tests.support.venvs import Venv

EXPECTED_FILES = [
    "README.md",
    "changelog/1.feature.md",
    "pyproject.toml",
    "src/connector_my_service/__init__.py",
    "src/connector_my_service/_connector.py",
    "src/connector_my_service/py.typed",
    "tests/test_connector.py",
    "tests/test_contract.py",
]


def new(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["new", *args])
    return result.exit_code, result.stdout, result.stderr


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_it_writes_a_complete_distribution(tmp_path: Path) -> None:
    code, out, _ = new("my-service", "--dir", str(tmp_path))
    assert code == 0
    target = tmp_path / "connector-my-service"
    assert files_under(target) == EXPECTED_FILES
    assert out.splitlines()[0] == f"Created connector-my-service (async) in {target}:"
    assert (
        out.splitlines()[-1] == f'Next: cd {target} && python -m pip install -e ".[test]" && python -m pytest'
    )
    pyproject = (target / "pyproject.toml").read_text()
    for line in [
        'name = "connector-my-service"',
        '[project.entry-points.connector]\nmy_service = "connector_my_service:MyServiceConnector"',
        'test = ["pytest>=8"]',
        'dependencies = ["connector-core>=0.1"]',
        'packages = ["src/connector_my_service"]',
    ]:
        assert line in pyproject
    for path in EXPECTED_FILES:
        if path.endswith(".py"):
            ast.parse((target / path).read_text(), filename=path)  # every generated module is valid Python
    connector_source = (target / "src/connector_my_service/_connector.py").read_text()
    assert "class MyServiceConnector(connector.AsyncConnector):" in connector_source
    assert 'task_type_name = "my_service"' in connector_source
    # It declares its custom field (issue 12).
    assert 'connector.Field(\n            "some_setting", str, default="value"' in connector_source
    contract = (target / "tests/test_contract.py").read_text()
    assert "class TestMyServiceConnectorContract(ConnectorContract):" in contract


def test_sync_writes_a_sync_connector(tmp_path: Path) -> None:
    code, out, _ = new("echo", "--sync", "--dir", str(tmp_path))
    assert code == 0
    assert out.startswith("Created connector-echo (sync) in ")
    source = (tmp_path / "connector-echo/src/connector_echo/_connector.py").read_text()
    assert "class EchoConnector(connector.SyncConnector):" in source
    assert "def do(" in source
    assert "ResourceMeta" not in source


@pytest.mark.parametrize("kind", [[], ["--sync"]])
def test_generated_code_fits_the_default_line_length(tmp_path: Path, kind: list[str]) -> None:
    """88 columns (ruff's and black's default), so a new project's formatter leaves it alone."""
    assert new("my-service", "--dir", str(tmp_path), *kind)[0] == 0
    target = tmp_path / "connector-my-service"
    long_lines = [
        f"{path.relative_to(target)}:{number}"
        for path in sorted(target.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if len(line) > 88
    ]
    assert long_lines == []


def test_the_default_dir_is_the_current_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert new("here")[0] == 0
    assert (tmp_path / "connector-here/pyproject.toml").is_file()


@pytest.mark.parametrize(
    "name", ["Bad!", "MyService", "1st", "my--service", "x-", "x_", "a b", "é", "a" * 51]
)
def test_a_bad_name_is_refused_with_exit_2(tmp_path: Path, name: str) -> None:
    code, _, err = new(name, "--dir", str(tmp_path))
    assert code == 2
    assert err.splitlines()[-1] == (
        f"Error: Invalid value for NAME: {name!r} is not a connector name: use lower-case letters, digits, "
        "and '-' or '_' between words, starting with a letter, at most 50 characters (e.g. 'my_service')"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_name_with_the_prefix_is_refused(tmp_path: Path) -> None:
    code, _, err = new("connector-foo", "--dir", str(tmp_path))
    assert code == 2
    assert err.splitlines()[-1] == (
        "Error: Invalid value for NAME: 'connector-foo' starts with 'connector-'; give the name alone "
        "('foo'), the distribution is named connector-NAME"
    )


def test_an_existing_folder_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "connector-taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    code, out, err = new("taken", "--dir", str(tmp_path))
    assert code == 2
    assert out == ""
    assert err == f"Error: {target} already exists; remove it or choose another --dir\n"
    assert files_under(target) == ["keep.txt"]


def test_new_is_listed_in_the_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "  new " in result.stdout


@pytest.mark.e2e
def test_a_scaffold_installs_and_passes_its_tests(tmp_path: Path, core_wheel: Path) -> None:
    """Both kinds, generated, pip-installed (not editable) with the core wheel, then their own pytest."""
    assert new("my-service", "--dir", str(tmp_path))[0] == 0
    assert new("echo", "--sync", "--dir", str(tmp_path))[0] == 0
    venv = Venv(tmp_path / "venv")
    venv.install(core_wheel)
    venv.install(f"{tmp_path / 'connector-my-service'}[test]", f"{tmp_path / 'connector-echo'}[test]")
    for folder, passed in (("connector-my-service", 8), ("connector-echo", 5)):
        result = venv.run(
            ["python", "-m", "pytest", str(tmp_path / folder / "tests"), "-q", "-p", "no:cacheprovider"]
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"{passed} passed" in result.stdout
    check = venv.run(["connector", "check"])
    assert check.returncode == 0, check.stdout + check.stderr
    summary = check.stdout.splitlines()[-1]
    assert summary.startswith("2 connector(s) loaded, ")
    assert summary.endswith(" 0 problem(s).")
