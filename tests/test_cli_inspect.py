"""`connector list | show | check` in-process, on registries the end-to-end tests cannot easily build.

The installed-plugin paths are tested for real in tests/e2e/; these cover an empty registry and
connectors added with ``register()``.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from connector import ConnectorRegistry, Phase, Resource, SyncConnector
from connector.cli import _inspect, cli
from connector.testing import registry_of


class Echo(SyncConnector):
    """Echoes its inputs."""

    task_type_name = "echo"

    def do(self, inputs: dict[str, object]) -> Resource:
        return Resource(Phase.SUCCEEDED, outputs=dict(inputs))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> ConnectorRegistry:
    """A fresh, empty registry the commands use instead of the process-wide one."""
    fresh = registry_of()
    monkeypatch.setattr(_inspect, "_registry", lambda: fresh)
    return fresh


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_an_empty_registry(registry: ConnectorRegistry) -> None:
    assert invoke("list") == (
        0,
        "No connectors installed (no entry points in the 'connector' or 'connector.providers' group).\n",
    )
    assert invoke("list", "--json") == (0, "[]\n")
    assert invoke("check") == (0, "0 connector(s) loaded, 0 disabled, 0 problem(s).\n")
    assert json.loads(invoke("check", "--json")[1]) == {"ok": True, "connectors": [], "problems": 0}


def test_show_of_an_unknown_type_in_an_empty_registry(registry: ConnectorRegistry) -> None:
    result = CliRunner().invoke(cli, ["show", "echo"])
    assert result.exit_code == 2
    assert result.output == (
        "Error: no connector for task type 'echo' version 0 is installed. Installed task types: none\n"
    )


def test_a_registered_connector(registry: ConnectorRegistry) -> None:
    registry.register(Echo)
    code, output = invoke("list", "--json")
    assert code == 0
    assert json.loads(output) == [
        {
            "category": "echo@0",
            "task_type": "echo",
            "task_type_version": 0,
            "entry_point": "echo",
            "target": "Echo",
            "distribution": None,
            "distribution_version": None,
            "provider": None,
            "state": "loaded",
            "error": None,
        }
    ]
    assert invoke("show", "echo") == (
        0,
        "Category:      echo@0\n"
        "Name:          Echo\n"
        "Kind:          sync\n"
        "Hooks:         do\n"
        "Target:        Echo\n"
        "State:         loaded\n"
        "\n"
        "Echoes its inputs.\n",
    )
    assert invoke("check") == (0, "1 connector(s) loaded, 0 disabled, 0 problem(s).\n")


def test_the_group_lists_its_commands_and_exit_codes() -> None:
    code, output = invoke("--help")
    assert code == 0
    assert "Exit codes: 0 success; 1 a problem was found" in output
    for command in ("check", "list", "show"):
        assert f"\n  {command} " in output
