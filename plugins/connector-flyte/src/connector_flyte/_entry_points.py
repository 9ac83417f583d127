"""The ``flyte.connectors`` entry points, and what each registers in Flyte 2's ConnectorRegistry on import."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import threading
from typing import Any

from ._flyte import FlyteSdk

#: The entry-point group Flyte 2's connector service imports connector modules from.
FLYTE_ENTRY_POINT_GROUP = "flyte.connectors"

#: A task type and version, as Flyte 2's registry keys them.
Category = tuple[str, int]


@dataclasses.dataclass(frozen=True)
class FlyteEntryPoint:
    """One ``flyte.connectors`` entry point: its name, its ``module:attr`` value and its distribution."""

    name: str
    value: str
    distribution: str | None = None
    distribution_version: str | None = None

    @property
    def key(self) -> str:
        """``name=value``: what ``ProvidedConnector.key`` holds, so ``load`` imports the same target."""
        return f"{self.name}={self.value}"

    def describe(self) -> str:
        """How messages name it: ``dist 1.0, entry point 'x' (module:attr) in group 'flyte.connectors'``."""
        dist = self.distribution or "an unknown distribution"
        if self.distribution and self.distribution_version:
            dist = f"{self.distribution} {self.distribution_version}"
        return f"{dist}, entry point {self.name!r} ({self.value}) in group {FLYTE_ENTRY_POINT_GROUP!r}"


def flyte_entry_points() -> list[FlyteEntryPoint]:
    """Every installed ``flyte.connectors`` entry point, from metadata (nothing is imported)."""
    found = []
    for ep in importlib.metadata.entry_points(group=FLYTE_ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else None
        found.append(FlyteEntryPoint(ep.name, ep.value, name, dist.version if dist is not None else None))
    return found


# Imports are process-wide, and so is Flyte 2's registry: one import at a time, so what registers
# while an entry point is imported is known to be its own; and what each import registered is kept,
# since importing a module again registers nothing.
_import_lock = threading.Lock()
_imported: dict[str, dict[Category, Any]] = {}


def import_entry_point(sdk: FlyteSdk, entry_point: FlyteEntryPoint) -> dict[Category, Any]:
    """Import ``entry_point``'s target as Flyte 2's service does (``EntryPoint.load``), and return the
    connectors registered meanwhile, by task type and version.

    The import runs against an empty ``ConnectorRegistry``, so a distribution that registers a task
    type another one registered already is seen as a second claimant (the core then reports the
    conflict) instead of failing on Flyte's duplicate check, as it would in Flyte 2's own service
    depending on which was imported first. What registered is added to Flyte's registry afterwards,
    without replacing anything. A module imported before registers nothing again: then the result
    is what its first import registered. Raises what the import raises.
    """
    registry = sdk.ConnectorRegistry
    target = importlib.metadata.EntryPoint(entry_point.name, entry_point.value, FLYTE_ENTRY_POINT_GROUP)
    with _import_lock:
        # The registry's dicts are class attributes, which ConnectorRegistry.register reads by name.
        saved_connectors, saved_metadata = registry._REGISTRY, registry._METADATA
        registry._REGISTRY, registry._METADATA = {}, {}
        try:
            target.load()
        finally:
            connectors, metadata = registry._REGISTRY, registry._METADATA
            registry._REGISTRY, registry._METADATA = saved_connectors, saved_metadata
            _merge(saved_connectors, saved_metadata, connectors, metadata)
        found = {
            (key.task_type_name, key.task_type_version): connector for key, connector in connectors.items()
        }
        if found:
            _imported[entry_point.key] = found
        return dict(_imported.get(entry_point.key, found))


def registered(sdk: FlyteSdk, category: Category) -> Any | None:
    """The connector Flyte 2's registry holds for a task type and version (imported before), or None."""
    for key, connector in sdk.ConnectorRegistry._REGISTRY.items():
        if (key.task_type_name, key.task_type_version) == category:
            return connector
    return None


def _merge(
    connectors: dict[Any, Any],
    metadata: dict[str, Any],
    new_connectors: dict[Any, Any],
    new_metadata: dict[str, Any],
) -> None:
    for key, connector in new_connectors.items():
        connectors.setdefault(key, connector)
    for name, proto in new_metadata.items():
        known = metadata.get(name)
        if known is None:
            metadata[name] = proto
            continue
        for category in proto.supported_task_categories:
            if category not in known.supported_task_categories:
                known.supported_task_categories.append(category)
