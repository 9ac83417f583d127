"""``--modules``: which objects of a module are registered, and the errors when none or a bad one is found."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

import connector
from connector import ConfigurationError
from connector.server import register_modules
from connector.server._modules import connectors_in
from connector.testing import registry_of
from tests.server import sample_plugin


@pytest.fixture
def module() -> Iterator[types.ModuleType]:
    """A module registered in ``sys.modules`` under a test name, removed afterwards."""
    made = types.ModuleType("connector_test_module")
    sys.modules[made.__name__] = made
    try:
        yield made
    finally:
        del sys.modules[made.__name__]


def test_instances_classes_defined_here_and_hook_modules(module: types.ModuleType) -> None:
    class Defined(sample_plugin.SyncEcho):
        task_type_name = "defined"

    Defined.__module__ = module.__name__
    instance = sample_plugin.AsyncDo()
    module.Defined = Defined  # type: ignore[attr-defined]
    module.instance = instance  # type: ignore[attr-defined]
    module.Imported = sample_plugin.FileJobConnector  # type: ignore[attr-defined]  # defined elsewhere: skipped
    assert connectors_in(module) == [instance, Defined]

    @connector.hookimpl
    def do(inputs: dict[str, int]) -> connector.Resource:
        return connector.Resource(phase=connector.Phase.SUCCEEDED)

    hooks = types.ModuleType("hooks_module")
    hooks.task_type_name = "hooked"  # type: ignore[attr-defined]
    hooks.do = do  # type: ignore[attr-defined]
    assert connectors_in(hooks) == [hooks]


def test_register_modules_registers_each_connector(module: types.ModuleType) -> None:
    module.instance = sample_plugin.AsyncDo()  # type: ignore[attr-defined]
    registry = registry_of()
    (loaded,) = register_modules(registry, [module.__name__])
    assert str(loaded.category) == "asyncdo@2"
    assert registry.get("asyncdo@2") is loaded


def test_a_module_with_a_broken_connector_is_a_configuration_error(module: types.ModuleType) -> None:
    class NoMeta(connector.AsyncConnector):
        task_type_name = "nometa"
        metadata_type = None  # type: ignore[assignment]

        def create(self) -> None: ...
        def get(self) -> None: ...
        def delete(self) -> None: ...

    NoMeta.__module__ = module.__name__
    module.NoMeta = NoMeta  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match=r"^--modules connector_test_module: .*metadata_type"):
        register_modules(registry_of(), [module.__name__])
