"""Discovery: the ``connector`` entry points of installed distributions, read from metadata only."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
from collections.abc import Callable, Iterable

from ._model import TaskCategory

#: The entry-point group connectors advertise themselves in.
ENTRY_POINT_GROUP = "connector"

# "name-version.dist-info" as wheels install it; see _name_and_version.
_DIST_INFO = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)\.dist-info$")


@dataclasses.dataclass(frozen=True)
class ConnectorRecord:
    """One connector entry point, as found in package metadata, before anything is imported.

    ``category`` is None when the entry-point name is not a valid ``type`` or ``type@version``;
    ``problem`` then says why. ``load`` imports the target.
    """

    entry_point: str
    target: str
    distribution: str | None
    distribution_version: str | None
    category: TaskCategory | None
    load: Callable[[], object] = dataclasses.field(compare=False, repr=False)
    problem: str | None = None


def discover_connectors(group: str = ENTRY_POINT_GROUP) -> list[ConnectorRecord]:
    """Return one record per entry point in ``group``, importing no plugin module."""
    return [_record(ep) for ep in importlib.metadata.entry_points(group=group)]


def _record(ep: importlib.metadata.EntryPoint) -> ConnectorRecord:
    name, version = _name_and_version(getattr(ep, "dist", None))
    category: TaskCategory | None = None
    problem = None
    try:
        category = TaskCategory.parse(ep.name)
    except ValueError as exc:
        problem = (
            f"{name or 'unknown distribution'} {version or ''}".rstrip()
            + f", entry point {ep.name!r} ({ep.value}): the entry-point name is not a task type: {exc}"
        )
    return ConnectorRecord(
        entry_point=ep.name,
        target=ep.value,
        distribution=name,
        distribution_version=version,
        category=category,
        load=ep.load,
        problem=problem,
    )


def _name_and_version(dist: importlib.metadata.Distribution | None) -> tuple[str | None, str | None]:
    """The distribution's name and version.

    Installed wheels name their metadata folder ``name-version.dist-info``, so both are read from
    the folder name; parsing the METADATA file for each of a thousand distributions would dominate
    the cost of ``connector list``. Anything else falls back to the metadata.
    """
    if dist is None:
        return None, None
    path = getattr(dist, "_path", None)
    match = _DIST_INFO.match(getattr(path, "name", ""))
    if match:
        return match["name"].replace("_", "-"), match["version"]
    return dist.metadata["Name"], dist.version


def records_from_objects(objects: Iterable[tuple[TaskCategory, object]]) -> list[ConnectorRecord]:
    """Records for connector objects given directly (tests, ``--modules``), not through metadata."""
    records = []
    for category, obj in objects:
        target = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
        records.append(
            ConnectorRecord(
                entry_point=category.entry_point_name,
                target=str(target),
                distribution=None,
                distribution_version=None,
                category=category,
                load=lambda obj=obj: obj,
            )
        )
    return records
