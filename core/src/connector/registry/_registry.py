"""ConnectorRegistry: lazy loading, validation, conflicts, failure isolation and lookup by category."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._exceptions import (
    ConnectorConflictError,
    ConnectorDisabledError,
    ConnectorLoadError,
    ConnectorNotFound,
    ConnectorUnavailable,
    ConnectorValidationError,
    DuplicateConnectorError,
)
from .._model import ConnectorOrigin, FromOrigin, TaskCategory
from .._settings import IMPORT_TIMEOUT_VARIABLE, PIN_VARIABLE, RegistrySettings, normalize_distribution
from ._discovery import ConnectorRecord
from ._imports import DaemonCall
from ._learned import LearnedMetadata
from ._validation import build_connector, describe_exception

if TYPE_CHECKING:  # imported with pluggy when a connector loads, not before the service binds (issue 13)
    from ._loaded import LoadedConnector

logger = logging.getLogger("connector")
# A library does not print unless the application configures logging (`connector serve` does).
logger.addHandler(logging.NullHandler())


class ConnectorState(str, enum.Enum):
    """Where a connector stands in the registry.

    - ``available``: found in metadata, not imported yet;
    - ``loaded``: imported and validated;
    - ``broken``: its import, constructor or validation failed, or the import did not finish in
      time; the entry's ``error`` says why;
    - ``conflict``: several distributions claim its category and no pin chooses, or the pin names a
      distribution that does not provide it;
    - ``disabled``: excluded by CONNECTOR_ALLOW or CONNECTOR_DENY, or not the one CONNECTOR_PIN chose.
    """

    AVAILABLE = "available"
    LOADED = "loaded"
    BROKEN = "broken"
    CONFLICT = "conflict"
    DISABLED = "disabled"


@dataclasses.dataclass(frozen=True)
class ConnectorEntry(FromOrigin):
    """One row of the registry: a connector's origin and state, as ``connector list`` shows it.

    ``provider`` (from the origin) names the provider that bridges it, for a connector a provider
    provides, a problem it reported, or the provider's own entry when learning it failed.
    """

    category: TaskCategory | None
    origin: ConnectorOrigin
    state: ConnectorState
    error: str | None = None

    @property
    def is_problem(self) -> bool:
        """Whether the operator must act: the connector is broken or in conflict.

        A disabled connector is not a problem: the operator chose to leave it out.
        """
        return self.state in (ConnectorState.BROKEN, ConnectorState.CONFLICT)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of this entry."""
        return {
            "category": str(self.category) if self.category else None,
            "task_type": self.category.name if self.category else None,
            "task_type_version": self.category.version if self.category else None,
            "entry_point": self.entry_point,
            "target": self.target,
            "distribution": self.distribution,
            "distribution_version": self.distribution_version,
            "provider": self.origin.provider_dict(),
            "state": self.state.value,
            "error": self.error,
        }


@dataclasses.dataclass(frozen=True)
class ConnectorMetadata:
    """A connector as the metadata services describe it: its name, kind and categories."""

    name: str
    is_sync: bool
    categories: tuple[TaskCategory, ...]


class _Slot:
    """Everything the registry knows about one category: its claimants and its load outcome."""

    def __init__(self, claimants: list[ConnectorRecord]) -> None:
        self.claimants = claimants
        #: Claimants that CONNECTOR_ALLOW or CONNECTOR_DENY leave out (by ``id``), with the reason.
        self.excluded: dict[int, ConnectorDisabledError] = {}
        #: The claimant CONNECTOR_PIN names, if it names exactly one.
        self.pinned: ConnectorRecord | None = None
        #: The claimant that serves the category; None when none can.
        self.chosen: ConnectorRecord | None = None
        #: Why the category cannot be served; set once and raised by every later ``get``.
        self.error: ConnectorUnavailable | None = None
        self.loaded: LoadedConnector | None = None
        #: The import of the chosen claimant, while it runs; ``deadline`` is when it is given up.
        self.loading: DaemonCall[LoadedConnector] | None = None
        self.deadline = 0.0
        self.lock = threading.Lock()


class ConnectorRegistry:
    """The connectors of one process, by ``TaskCategory``.

    Built from records (``discover_connectors()``) without importing any plugin; a connector is
    imported, constructed and validated on its first ``get``, exactly once even when several
    threads ask at the same time. A connector that fails is marked broken with its reason and the
    others keep working. ``learned`` keeps the name and kind each load finds, so that
    ``known_metadata`` can list a connector before it is imported again (issue 10).
    """

    def __init__(
        self,
        records: Iterable[ConnectorRecord] = (),
        *,
        settings: RegistrySettings | None = None,
        wrappers: Iterable[object] = (),
        learned: LearnedMetadata | None = None,
    ) -> None:
        self.settings = settings or RegistrySettings()
        self._wrappers = tuple(wrappers)
        self._learned = learned
        self._problems: list[ConnectorRecord] = []
        self._slots: dict[TaskCategory, _Slot] = {}
        self._lock = threading.Lock()
        by_category: dict[TaskCategory, list[ConnectorRecord]] = {}
        for record in records:
            if record.category is None:
                self._problems.append(record)
            else:
                by_category.setdefault(record.category, []).append(record)
        for category, claimants in sorted(by_category.items()):
            # Sorted, so listings and conflict messages do not change with the order of sys.path.
            claimants.sort(key=lambda r: (r.distribution or "", r.distribution_version or "", r.entry_point))
            self._slots[category] = self._new_slot(category, claimants)

    @classmethod
    def from_entry_points(
        cls, *, settings: RegistrySettings | None = None, wrappers: Iterable[object] = ()
    ) -> ConnectorRegistry:
        """A registry of every connector advertised in the ``connector`` entry-point group, and of
        every connector the providers of the ``connector.providers`` group provide.

        Settings default to those of the ``CONNECTOR_*`` environment variables. What the providers
        provide is learned out of this process, within the import limit, and cached with discovery.
        What loads learn is kept in this interpreter's learned-metadata file, beside the discovery
        cache.
        """
        from ._provider_discovery import discover_installed

        if settings is None:
            settings = RegistrySettings.from_environ()
        records, _ = discover_installed(import_timeout=settings.import_timeout)
        return cls(
            records,
            settings=settings,
            wrappers=wrappers,
            learned=LearnedMetadata.for_this_process(),
        )

    def _new_slot(self, category: TaskCategory, claimants: list[ConnectorRecord]) -> _Slot:
        """Decide which claimant serves ``category``: allow/deny first, then the pin, else the only one."""
        slot = _Slot(claimants)
        for record in claimants:
            reason = self.settings.excluded_by(category, record.distribution, provider=_bridge(record))
            if reason is not None:
                slot.excluded[id(record)] = ConnectorDisabledError(
                    f"task type {category} from {_claimant(record)} is {reason}",
                    category=category,
                    origin=record.origin,
                )
        candidates = [r for r in claimants if id(r) not in slot.excluded]
        pin = self.settings.pins.get(category)
        if pin is not None:
            pinned = [
                r for r in claimants if r.distribution and normalize_distribution(r.distribution) == pin
            ]
            slot.pinned = pinned[0] if len(pinned) == 1 else None
        if not candidates:  # every claimant is left out on purpose
            slot.error = slot.excluded[id(claimants[0])]
        elif len(candidates) > 1 and len({_claimant(r) for r in candidates}) == 1:
            # One distribution advertising the category twice ("x" and "x@0"): a packaging bug of
            # that plugin, which no pin can choose between, rather than a conflict to resolve.
            record = candidates[0]
            slot.error = ConnectorValidationError(
                f"{_claimant(record)} advertises task type {category} under "
                f"{len(candidates)} entry points ({', '.join(repr(r.entry_point) for r in candidates)}); "
                f"keep one, named {category.entry_point_name!r}",
                rule="duplicate-entry-point",
                category=category,
                # The distribution is at fault, not one of its entry points.
                origin=ConnectorOrigin(
                    distribution=record.distribution, distribution_version=record.distribution_version
                ),
            )
        elif slot.pinned is not None:
            denied = slot.excluded.get(id(slot.pinned))  # deny wins over the pin
            slot.chosen, slot.error = (slot.pinned, None) if denied is None else (None, denied)
        elif pin is None and len(candidates) == 1:
            slot.chosen = candidates[0]
        else:  # several claimants, or a pin that names none of them
            slot.error = ConnectorConflictError(
                category,
                [(r.distribution or "(registered)", r.distribution_version or "") for r in candidates],
                pin=pin,
            )
        return slot

    # Introspection: reads metadata only.

    def categories(self) -> list[TaskCategory]:
        """Every category with at least one claimant, sorted."""
        return list(self._slots)

    def entries(self) -> list[ConnectorEntry]:
        """One entry per discovered or registered connector, in category order; imports nothing."""
        entries = [self._problem_entry(r) for r in self._problems]
        for slot in self._slots.values():
            entries.extend(self._slot_entries(slot))
        return entries

    def entry(self, category: TaskCategory) -> ConnectorEntry:
        """The entry of the connector that serves ``category``, or the first claimant's entry."""
        slot = self._slot(category)
        entries = self._slot_entries(slot)
        return next((e for e in entries if slot.chosen and e.target == slot.chosen.target), entries[0])

    def _problem_entry(self, record: ConnectorRecord) -> ConnectorEntry:
        """The entry of an entry point whose name is not a task type: broken, unless left out on purpose."""
        state, error = ConnectorState.BROKEN, record.problem
        reason = self.settings.excluded_by(
            None, record.distribution, record.entry_point, provider=_bridge(record)
        )
        if reason is not None:
            state, error = (
                ConnectorState.DISABLED,
                f"entry point {record.entry_point!r} from {_claimant(record)} is {reason}",
            )
        return ConnectorEntry(None, record.origin, state, error)

    def _slot_entries(self, slot: _Slot) -> list[ConnectorEntry]:
        entries = []
        for record in slot.claimants:
            error: str | None
            excluded = slot.excluded.get(id(record))
            if excluded is not None:
                state, error = ConnectorState.DISABLED, str(excluded)
            elif record is slot.chosen:
                state, error = self._state(slot)
            elif slot.pinned is not None:
                state, error = ConnectorState.DISABLED, f"{PIN_VARIABLE} chose {_claimant(slot.pinned)}"
            elif isinstance(slot.error, ConnectorValidationError):  # advertised twice by one plugin
                state, error = ConnectorState.BROKEN, str(slot.error)
            else:  # a conflict: every claimant in it shares the error
                state, error = ConnectorState.CONFLICT, str(slot.error)
            entries.append(ConnectorEntry(record.category, record.origin, state, error))
        return entries

    @staticmethod
    def _state(slot: _Slot) -> tuple[ConnectorState, str | None]:
        """The state of the chosen claimant."""
        if slot.loaded is not None:
            return ConnectorState.LOADED, None
        if slot.error is None:
            return ConnectorState.AVAILABLE, None
        return ConnectorState.BROKEN, str(slot.error)

    # Lookup: imports on first use.

    def get(self, category: TaskCategory | str) -> LoadedConnector:
        """The connector that serves ``category`` (a ``TaskCategory`` or ``"type[@version]"``).

        Imports and validates it on first use. Raises ``ConnectorNotFound`` when nothing claims the
        category, and a ``ConnectorUnavailable`` (load, validation, conflict or disabled error) when
        it cannot be served; the same error again on later calls.
        """
        if isinstance(category, str):
            category = TaskCategory.parse(category)
        slot = self._slot(category)
        loaded = slot.loaded
        if loaded is None:
            with slot.lock:  # one thread imports; the others wait here and find the outcome
                if slot.loaded is None and slot.error is None:
                    self._load(category, slot)
                if slot.error is not None:
                    raise slot.error
                loaded = slot.loaded
        assert loaded is not None
        return loaded

    def _slot(self, category: TaskCategory) -> _Slot:
        slot = self._slots.get(category)
        if slot is None:
            raise ConnectorNotFound(category, [c for c in self._slots if c.name == category.name])
        return slot

    def _load(self, category: TaskCategory, slot: _Slot) -> None:
        """Import, construct and validate the chosen claimant; on failure set ``slot.error`` for good.

        That runs in a daemon thread, so an import that hangs costs ``import_timeout`` seconds and
        not the process (issue 8). A Ctrl-C while this (main) thread waits interrupts the wait, not
        the import: the next ``get`` waits for the same import, up to the same deadline.
        """
        record = slot.chosen
        assert record is not None
        if slot.loading is None:
            job = functools.partial(_import_and_build, record, category, self._wrappers, self.settings.trace)
            slot.loading = DaemonCall(job, name=f"connector-import {category}")
            slot.deadline = time.monotonic() + self.settings.import_timeout
        loading = slot.loading
        if not loading.wait(slot.deadline - time.monotonic()):
            limit = self.settings.import_timeout
            slot.error = ConnectorLoadError(
                f"{record.origin.describe()}: import did not finish in {limit:g} s; fix the plugin's "
                f"import, or raise the limit with {IMPORT_TIMEOUT_VARIABLE} (seconds)",
                category=category,
                origin=record.origin,
            )
            # The thread is abandoned: a daemon, it cannot keep the process from exiting. Where it
            # hangs is what the plugin's author needs to know.
            logger.warning(
                "connector %s is broken: %s\nits import thread is at:\n%s",
                category,
                slot.error,
                loading.stack().rstrip(),
            )
        else:
            try:
                loaded = loading.result()
            except ConnectorUnavailable as exc:
                slot.error = exc
                logger.warning("connector %s is broken: %s", category, exc, exc_info=exc.__cause__)
            else:
                if self._learned is not None:
                    self._learned.remember(record.origin, loaded.name, loaded.is_sync)
                slot.loaded = loaded
        slot.loading = None

    def load_all(self) -> list[ConnectorEntry]:
        """Try to load every servable connector; return every entry with its final state.

        Then saves what the loads learned (``known_metadata`` lists those connectors at once in the
        next process, before their imports finish).
        """
        for category in self._slots:
            with contextlib.suppress(ConnectorUnavailable):
                self.get(category)
        if self._learned is not None:
            self._learned.save()
        return self.entries()

    # Seed API (flytekit and Flyte 2's ConnectorRegistry).

    def register(self, connector: object, override: bool = False) -> LoadedConnector:
        """Add a connector object (an instance, a class, or a module of hook implementations).

        It is validated at once; its category comes from its ``task_type_name`` and
        ``task_type_version``. Raises ``DuplicateConnectorError`` when the category is taken and
        ``override`` is false, and ``ConnectorValidationError`` when it breaks a rule.
        """
        target = getattr(connector, "__qualname__", None) or getattr(connector, "__name__", None)
        origin = ConnectorOrigin(target=str(target or type(connector).__qualname__))
        loaded = build_connector(connector, origin=origin, wrappers=self._wrappers, trace=self.settings.trace)
        category = loaded.category
        record = ConnectorRecord(
            origin=ConnectorOrigin(entry_point=category.entry_point_name, target=origin.target),
            category=category,
            load=lambda: connector,
        )
        with self._lock:
            existing = self._slots.get(category)
            if existing is not None and not override:
                raise DuplicateConnectorError(category, ", ".join(_claimant(r) for r in existing.claimants))
            slot = _Slot([record])
            slot.chosen, slot.loaded = record, loaded
            self._slots = dict(sorted({**self._slots, category: slot}.items()))
        return loaded

    def get_connector(self, task_type_name: str, task_type_version: int = 0) -> object:
        """The connector object serving a task type and version (seed name); see ``get``."""
        return self.get(TaskCategory(task_type_name, task_type_version)).connector

    def list_connectors(self) -> list[LoadedConnector]:
        """Every connector that can be served, loading each one (seed name)."""
        self.load_all()
        return [slot.loaded for slot in self._slots.values() if slot.loaded is not None]

    def list_metadata(self) -> list[ConnectorMetadata]:
        """Every servable connector grouped by name, as the metadata services list them."""
        grouped: dict[tuple[str, bool], list[TaskCategory]] = {}
        for loaded in self.list_connectors():
            grouped.setdefault((loaded.name, loaded.is_sync), []).append(loaded.category)
        return [ConnectorMetadata(name, is_sync, tuple(cats)) for (name, is_sync), cats in grouped.items()]

    def known_metadata(self) -> list[ConnectorMetadata]:
        """The servable connectors whose name and kind are known now, grouped by name; imports nothing.

        That is every loaded connector, and every one not loaded yet (or still importing) whose name
        and kind a load of the same distribution version found before (see ``learned``). A connector
        never loaded in this interpreter is left out until its load finishes; one that cannot be
        served (broken, in conflict, disabled) is left out. Never waits: no lock a load holds is taken.
        """
        grouped: dict[tuple[str, bool], list[TaskCategory]] = {}
        for category, slot in self._slots.items():
            loaded = slot.loaded
            if loaded is not None:
                key = (loaded.name, loaded.is_sync)
            elif slot.error is None and slot.chosen is not None:
                known = self._known(slot.chosen)
                if known is None:
                    continue
                key = known
            else:
                continue
            grouped.setdefault(key, []).append(category)
        return [ConnectorMetadata(name, is_sync, tuple(cats)) for (name, is_sync), cats in grouped.items()]

    def _known(self, record: ConnectorRecord) -> tuple[str, bool] | None:
        """The name and kind of a connector not loaded yet: learned by an earlier load, or its provider's."""
        learned = self._learned.get(record.origin) if self._learned is not None else None
        if learned is not None:
            return learned.name, learned.is_sync
        provided = record.provided
        if provided is not None and provided.is_sync is not None:
            return provided.name, provided.is_sync
        return None

    def get_connector_metadata(self, name: str) -> ConnectorMetadata:
        """The metadata of the connector named ``name`` (seed name); ``ConnectorNotFound`` if none."""
        everything = self.list_metadata()
        for metadata in everything:
            if metadata.name == name:
                return metadata
        raise ConnectorNotFound(None, sorted({m.name for m in everything}), name=name)


def _import_and_build(
    record: ConnectorRecord, category: TaskCategory, wrappers: tuple[object, ...], trace: bool
) -> LoadedConnector:
    """Import and build ``record``'s connector; in the import thread, so anything raised is the plugin's.

    Whatever that is (KeyboardInterrupt, SystemExit, GeneratorExit, any BaseException) becomes a
    ``ConnectorLoadError``: nothing a plugin raises at import can stop the process (issue 8).
    """
    step = "importing"
    try:
        target = record.load()
        step = "loading"
        return build_connector(
            target,
            origin=record.origin,
            expected=category,
            wrappers=wrappers,
            trace=trace,
            name=record.provided.name if record.provided is not None else None,
        )
    except ConnectorUnavailable:  # the constructor raised, or a rule is broken
        raise
    except BaseException as exc:
        raise ConnectorLoadError(
            f"{record.origin.describe()}: {step} {record.target} raised {describe_exception(exc)}",
            category=category,
            origin=record.origin,
        ) from exc


def _bridge(record: ConnectorRecord) -> str | None:
    """The distribution of the provider that bridges ``record``, if one does."""
    provider = record.origin.provider
    return provider.distribution if provider is not None else None


def _claimant(record: ConnectorRecord) -> str:
    """``distribution version``, as messages name a claimant."""
    if record.distribution is None:
        return f"registered {record.target}"
    return f"{record.distribution} {record.distribution_version}"


@functools.lru_cache(maxsize=1)
def default_registry() -> ConnectorRegistry:
    """The process-wide registry of installed connectors, built on first use from entry points."""
    return ConnectorRegistry.from_entry_points()
