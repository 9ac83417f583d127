"""Discovery with providers: native entry points, and what each provider was found to provide, as records.

What a provider provides is learned once (``registry/_learn_providers.py``: out of process, in time)
and kept in the discovery cache file beside the native records, so it is used again exactly while
the native records are: until a distribution is installed, removed or upgraded, or an entry-point
file changes (see ``registry/_discovery.py``). ``CONNECTOR_DISCOVERY_CACHE=0`` learns it afresh on
every discovery. An outcome that timed out is learned again once the import limit is raised.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .._model import ConnectorOrigin
from ._discovery import (
    ENTRY_POINT_GROUP,
    ConnectorRecord,
    _DiscoveryCache,
    _load_target,
    _make_record,
    _scan,
    entry_point_fields,
)
from ._learn_providers import learn_providers
from ._provided import (
    PROVIDER_ENTRY_POINT_GROUP,
    ProvidedConnector,
    ProviderHandle,
    ProviderProblem,
    item_from_json,
)


@dataclasses.dataclass(frozen=True)
class ProviderEntry:
    """One entry point of the ``connector.providers`` group, as found in metadata."""

    name: str
    target: str
    distribution: str | None
    distribution_version: str | None

    @property
    def origin(self) -> ConnectorOrigin:
        """The origin of the provider entry point itself."""
        return ConnectorOrigin(self.name, self.target, self.distribution, self.distribution_version)


def discover_installed(
    *, import_timeout: float, environ: Mapping[str, str] | None = None
) -> tuple[list[ConnectorRecord], str]:
    """Every record of the installed connectors: native entry points, then what providers provide.

    And where they came from: ``"cache"``, ``"cache, providers learned"`` (the native records were
    cached, what the providers provide was learned now), ``"scan"`` or ``"scan, cache off"``.
    ``import_timeout`` limits each provider's learning (seconds). Imports no plugin and no provider
    in this process.
    """
    env = os.environ if environ is None else environ
    cache = _DiscoveryCache.for_this_process(ENTRY_POINT_GROUP, env)
    if cache is None:
        records, _ = _scan(ENTRY_POINT_GROUP, watch=False)
        learned = _learn(_provider_entries(), import_timeout)
        return records + provider_records(learned), "scan, cache off"
    document = cache.read_document()
    if document is None:
        records, watched = _scan(ENTRY_POINT_GROUP, watch=True)
        learned = _learn(_provider_entries(), import_timeout)
        cache.write(records, watched, _to_cache(learned))
        return records + provider_records(learned), "scan"
    records = [_make_record(*fields) for fields in document["records"]]
    cached = _from_cache(document["providers"])
    if cached is not None and not _stale(cached, import_timeout):
        return records + provider_records(cached), "cache"
    if cached is None:  # written by a discovery of connectors alone, or unreadable: learn them all
        learned = _learn(_provider_entries(), import_timeout)
    else:  # only what timed out under a smaller limit is learned again
        stale = [entry for entry, outcome in cached if _timed_out_below(outcome, import_timeout)]
        again = dict(_learn(stale, import_timeout))
        learned = [(entry, again.get(entry, outcome)) for entry, outcome in cached]
    # Nothing the cache watches changed (it was just checked), so its watched state still holds.
    cache.write(records, document["watched"], _to_cache(learned))
    return records + provider_records(learned), "cache, providers learned"


def _provider_entries() -> list[ProviderEntry]:
    return [ProviderEntry(*fields) for fields in entry_point_fields(PROVIDER_ENTRY_POINT_GROUP)]


def _learn(entries: Sequence[ProviderEntry], timeout: float) -> list[tuple[ProviderEntry, dict[str, Any]]]:
    outcomes = learn_providers([(e.name, e.target) for e in entries], timeout=timeout)
    return list(zip(entries, (checked_outcome(outcome) for outcome in outcomes), strict=True))


def _stale(cached: list[tuple[ProviderEntry, dict[str, Any]]], timeout: float) -> bool:
    return any(_timed_out_below(outcome, timeout) for _, outcome in cached)


def _timed_out_below(outcome: dict[str, Any], timeout: float) -> bool:
    limit = outcome.get("timed_out_after")
    return limit is not None and timeout > limit


def _to_cache(learned: list[tuple[ProviderEntry, dict[str, Any]]]) -> list[Any]:
    return [[e.name, e.target, e.distribution, e.distribution_version, outcome] for e, outcome in learned]


def _from_cache(rows: Any) -> list[tuple[ProviderEntry, dict[str, Any]]] | None:
    """The cached providers and outcomes; None when there are none yet or they are malformed."""
    if rows is None:
        return None
    try:
        learned = []
        for row in rows:
            name, target, distribution, version, outcome = row
            if not (isinstance(name, str) and isinstance(target, str)):
                raise ValueError(f"a cached provider is not [name, target, ...]: {row!r}")
            if not all(value is None or isinstance(value, str) for value in (distribution, version)):
                raise ValueError(f"a cached provider's distribution is not text: {row!r}")
            if outcome != checked_outcome(outcome):  # learned, so it is well formed, or it was edited
                raise ValueError(f"a cached provider's outcome is malformed: {outcome!r}")
            learned.append((ProviderEntry(name, target, distribution, version), outcome))
        return learned
    except (ValueError, TypeError):
        return None


def checked_outcome(outcome: Any) -> dict[str, Any]:
    """``outcome`` if it is a well-formed answer of the learning process, else the error saying why."""
    from ._learn_providers import failed

    if isinstance(outcome, dict) and set(outcome) == {"error", "timed_out_after"}:
        limit = outcome["timed_out_after"]
        if isinstance(outcome["error"], str) and (
            limit is None or (isinstance(limit, (int, float)) and not isinstance(limit, bool))
        ):
            return outcome
    elif isinstance(outcome, dict) and set(outcome) == {"provided"} and isinstance(outcome["provided"], list):
        try:
            for item in outcome["provided"]:
                item_from_json(item)
        except ValueError as exc:
            return failed(str(exc))
        return outcome
    return failed(f"the learning process answered {outcome!r:.300}, not an outcome")


def provider_records(learned: Sequence[tuple[ProviderEntry, Mapping[str, Any]]]) -> list[ConnectorRecord]:
    """The records of what each provider was found to provide, in the order it listed them.

    A provider whose learning failed is one broken record with its own origin; each
    ``ProviderProblem`` is a broken record; each ``ProvidedConnector`` a record that loads through
    the provider (one ``ProviderHandle`` per provider, shared by its records).
    """
    records = []
    for entry, outcome in learned:
        own = dataclasses.replace(entry.origin, provider=entry.origin)
        if "error" in outcome:
            records.append(_broken(own, f"{own.describe()}: {outcome['error']}"))
            continue
        handle = ProviderHandle(entry.origin, _load_target)
        for document in outcome["provided"]:
            item = item_from_json(document)
            if isinstance(item, ProviderProblem):
                records.append(_problem_record(entry, own, item))
            else:
                records.append(_provided_record(entry, item, handle))
    return records


def _problem_record(entry: ProviderEntry, own: ConnectorOrigin, problem: ProviderProblem) -> ConnectorRecord:
    if problem.entry_point is None and problem.distribution is None:
        origin = own  # the provider's own problem (its SDK is missing, say)
    else:
        origin = ConnectorOrigin(
            entry_point=problem.entry_point or entry.name,
            distribution=problem.distribution or entry.distribution,
            distribution_version=(
                problem.distribution_version if problem.distribution else entry.distribution_version
            ),
            provider=entry.origin,
        )
    return _broken(origin, f"{origin.describe()}: {problem.problem}")


def _provided_record(
    entry: ProviderEntry, provided: ProvidedConnector, handle: ProviderHandle
) -> ConnectorRecord:
    name = provided.task_type
    if provided.task_type_version != 0:
        name = f"{name}@{provided.task_type_version}"
    origin = ConnectorOrigin(
        entry_point=name,
        target=provided.key,
        # Without a distribution of its own, the connector is the provider's: pins name that one.
        distribution=provided.distribution or entry.distribution,
        distribution_version=(
            provided.distribution_version if provided.distribution else entry.distribution_version
        ),
        provider=entry.origin,
    )
    try:
        category = provided.category
    except ValueError as exc:
        return _broken(
            origin, f"{origin.describe()}: the provider lists a connector whose task type is not valid: {exc}"
        )
    origin = dataclasses.replace(origin, entry_point=category.entry_point_name)
    return ConnectorRecord(
        origin=origin,
        category=category,
        load=functools.partial(handle.load, provided, origin, category),
        provided=provided,
    )


def _broken(origin: ConnectorOrigin, problem: str) -> ConnectorRecord:
    return ConnectorRecord(
        origin=origin, category=None, load=functools.partial(_unloadable, problem), problem=problem
    )


def _unloadable(problem: str) -> object:
    raise RuntimeError(problem)
