"""Isolated registries built from connector objects, with nothing installed."""

from __future__ import annotations

from collections.abc import Mapping

from .._model import TaskCategory
from .._settings import RegistrySettings
from ..registry._discovery import records_from_objects
from ..registry._registry import ConnectorRegistry


def registry_of(*connectors: object, entry_points: Mapping[str, object] | None = None) -> ConnectorRegistry:
    """A fresh ``ConnectorRegistry`` holding the given connectors, unaffected by ``CONNECTOR_*`` variables.

    ``connectors`` (instances, classes or modules) are registered at once with ``register()``, so a
    broken one raises its ``ConnectorValidationError`` here. ``entry_points`` maps entry-point names
    (``"sensor"``, ``"sensor@1"``) to connector objects as if a distribution advertised them: those
    load lazily on the first ``get``, and a broken one is marked broken like an installed plugin.
    """
    records = records_from_objects(
        (TaskCategory.parse(name), target) for name, target in (entry_points or {}).items()
    )
    registry = ConnectorRegistry(records, settings=RegistrySettings())
    for connector in connectors:
        registry.register(connector)
    return registry
