"""Discovery with providers: native entry points, and what each provider was found to provide, as records.

What a provider provides is learned once (``registry/_learn_providers.py``: out of process, in time)
and kept in the discovery cache file beside the native records, so it is used again exactly while
the native records are: until a distribution is installed, removed or upgraded, or an entry-point
file changes (see ``registry/_discovery.py``). Only answers are kept: a learning that failed (timed
out, crashed, raised, answered junk) is kept as ``null`` and learned again at the next discovery
(issue 11). ``CONNECTOR_DISCOVERY_CACHE=0`` learns every provider afresh on every discovery, and so
does a discovery inside ``learning_afresh()`` (``connector check``), which then caches what it learned.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import os
from collections.abc import Iterator, Mapping, Sequence
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
    checked_outcome,
    is_answer,
    item_from_json,
)

# Set by learning_afresh(): a parameter of the discoveries made in a block, not a registry.
_AFRESH: contextvars.ContextVar[bool] = contextvars.ContextVar("connector_learn_afresh", default=False)


@contextlib.contextmanager
def learning_afresh() -> Iterator[None]:
    """Discoveries in this block learn every provider again, whatever the cache holds (``check``)."""
    token = _AFRESH.set(True)
    try:
        yield
    finally:
        _AFRESH.reset(token)


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
    ``import_timeout`` limits each provider's learning (seconds). A provider whose learning failed
    is learned again at each discovery; inside ``learning_afresh()`` every provider is. Imports no
    plugin and no provider in this process.
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
    if cached is None or _AFRESH.get():  # none cached (a discovery of connectors alone wrote it), or check
        learned = _learn(_provider_entries(), import_timeout)
    else:
        # An answer learned under other values of the variables it depends on is learned again.
        cached = [(entry, outcome if _same_environment(outcome, env) else None) for entry, outcome in cached]
        answers = [(entry, outcome) for entry, outcome in cached if outcome is not None]
        if len(answers) == len(cached):
            return records + provider_records(answers), "cache"
        # Only what failed to be learned, or depends on a changed variable, is learned again.
        again = dict(_learn([entry for entry, outcome in cached if outcome is None], import_timeout))
        learned = [(entry, again[entry] if outcome is None else outcome) for entry, outcome in cached]
    # Nothing the cache watches changed (it was just checked), so its watched state still holds.
    cache.write(records, document["watched"], _to_cache(learned))
    return records + provider_records(learned), "cache, providers learned"


def _same_environment(outcome: dict[str, Any] | None, env: Mapping[str, str]) -> bool:
    """Whether the variables an answer depends on still have the values it was learned with."""
    if outcome is None:
        return False
    return all(env.get(name) == value for name, value in outcome["environment"].items())


def _provider_entries() -> list[ProviderEntry]:
    return [ProviderEntry(*fields) for fields in entry_point_fields(PROVIDER_ENTRY_POINT_GROUP)]


def _learn(entries: Sequence[ProviderEntry], timeout: float) -> list[tuple[ProviderEntry, dict[str, Any]]]:
    outcomes = learn_providers([(e.name, e.target) for e in entries], timeout=timeout)
    return list(zip(entries, (checked_outcome(outcome) for outcome in outcomes), strict=True))


def _to_cache(learned: list[tuple[ProviderEntry, dict[str, Any]]]) -> list[Any]:
    """The providers' rows of the cache file: a failure is ``null``, to be learned again (issue 11)."""
    return [
        [e.name, e.target, e.distribution, e.distribution_version, outcome if is_answer(outcome) else None]
        for e, outcome in learned
    ]


def _from_cache(rows: Any) -> list[tuple[ProviderEntry, dict[str, Any] | None]] | None:
    """The cached providers and answers (None: not learned); None when none are cached, or malformed."""
    if rows is None:
        return None
    try:
        learned: list[tuple[ProviderEntry, dict[str, Any] | None]] = []
        for row in rows:
            name, target, distribution, version, outcome = row
            if not (isinstance(name, str) and isinstance(target, str)):
                raise ValueError(f"a cached provider is not [name, target, ...]: {row!r}")
            if not all(value is None or isinstance(value, str) for value in (distribution, version)):
                raise ValueError(f"a cached provider's distribution is not text: {row!r}")
            if outcome is not None and outcome != checked_outcome(outcome):  # learned, or it was edited
                raise ValueError(f"a cached provider's outcome is malformed: {outcome!r}")
            entry = ProviderEntry(name, target, distribution, version)
            # A failure cached by an earlier version is not an answer either.
            learned.append((entry, outcome if outcome is not None and is_answer(outcome) else None))
        return learned
    except (ValueError, TypeError):
        return None


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
