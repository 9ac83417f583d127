"""``--modules``: import modules the operator names and register the connectors they define."""

from __future__ import annotations

import importlib
import inspect
import types
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._base import AsyncConnector, ConnectorBase, SyncConnector
from .._exceptions import ConfigurationError, ConnectorError
from .._hooks import IMPL_MARKER

if TYPE_CHECKING:  # the service imports this module before its port is bound (issue 13)
    from ..registry._loaded import LoadedConnector
    from ..registry._registry import ConnectorRegistry


def connectors_in(module: types.ModuleType) -> list[object]:
    """The connector objects a module defines, in definition order.

    Instances of ``AsyncConnector``/``SyncConnector`` at module level; classes defined in the module
    that subclass them and set ``task_type_name`` (unless an instance of the class is already
    listed); and the module itself when it has ``task_type_name`` and ``@connector.hookimpl`` functions.
    """
    found: list[object] = []
    instance_types = set()
    for value in vars(module).values():
        if isinstance(value, ConnectorBase) and not inspect.isclass(value):
            found.append(value)
            instance_types.add(type(value))
    for value in vars(module).values():
        if (
            inspect.isclass(value)
            and issubclass(value, (AsyncConnector, SyncConnector))
            and value not in (AsyncConnector, SyncConnector)
            and value.__module__ == module.__name__
            and bool(getattr(value, "task_type_name", None))
            and value not in instance_types
        ):
            found.append(value)
    if getattr(module, "task_type_name", None) and any(
        getattr(v, IMPL_MARKER, None) is not None for v in vars(module).values() if callable(v)
    ):
        found.append(module)
    return found


def register_modules(registry: ConnectorRegistry, modules: Iterable[str]) -> list[LoadedConnector]:
    """Import each module and register its connectors; ``ConfigurationError`` says what went wrong.

    The names come from the operator (``--modules``, ``ConnectorService.run(modules=...)``), never
    from a request.
    """
    registered: list[LoadedConnector] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise ConfigurationError(
                f"--modules {name}: importing it raised {type(exc).__name__}: {exc}"
            ) from exc
        objects = connectors_in(module)
        if not objects:
            raise ConfigurationError(
                f"--modules {name}: the module defines no connector (no AsyncConnector or SyncConnector "
                "instance or subclass with task_type_name, and no module-level hook implementations)"
            )
        for target in objects:
            try:
                registered.append(registry.register(target))
            except ConnectorError as exc:
                raise ConfigurationError(f"--modules {name}: {exc}") from exc
    return registered
