"""Isolated registries from connector objects: the `connector_registry` fixture and `registry_of`."""

from __future__ import annotations

import pytest

import connector
from connector.testing import registry_of

from .connectors import Countdown, Echo


def test_the_fixture_starts_empty_and_takes_registrations(
    connector_registry: connector.ConnectorRegistry,
) -> None:
    assert connector_registry.entries() == []
    loaded = connector_registry.register(Echo)
    assert connector_registry.get("echo@2") is loaded
    assert [str(c) for c in connector_registry.categories()] == ["echo@2"]


def test_each_test_gets_its_own_registry(connector_registry: connector.ConnectorRegistry) -> None:
    assert connector_registry.categories() == []


def test_registry_of_registers_objects_at_once() -> None:
    registry = registry_of(Countdown, Echo)
    assert [str(c) for c in registry.categories()] == ["countdown@0", "echo@2"]
    assert registry.get("countdown").name == "Countdown"


def test_registry_of_refuses_an_invalid_connector_at_once() -> None:
    class NoHooks:
        task_type_name = "empty"

    with pytest.raises(connector.ConnectorValidationError, match="implements none of the hooks"):
        registry_of(NoHooks)


def test_entry_points_load_lazily_and_a_broken_one_is_isolated() -> None:
    class Raises(Countdown):
        task_type_name = "raises"

        def __init__(self) -> None:
            raise RuntimeError("no credentials")

    registry = registry_of(entry_points={"countdown": Countdown, "raises": Raises, "wrong@3": Echo})
    states = {str(e.category): e.state for e in registry.entries()}
    assert states == dict.fromkeys(["countdown@0", "raises@0", "wrong@3"], connector.ConnectorState.AVAILABLE)
    assert registry.get("countdown").category == connector.TaskCategory("countdown")
    with pytest.raises(
        connector.ConnectorLoadError, match=r"constructing .*Raises raised RuntimeError: no credentials"
    ):
        registry.get("raises")
    with pytest.raises(
        connector.ConnectorValidationError, match="declares task type echo@2 but its entry point"
    ):
        registry.get("wrong@3")
    assert registry.entry(connector.TaskCategory("countdown")).state is connector.ConnectorState.LOADED


def test_operator_settings_in_the_environment_do_not_leak_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_DENY", "*")
    registry = registry_of(entry_points={"countdown": Countdown})
    assert registry.get("countdown").name == "Countdown"
