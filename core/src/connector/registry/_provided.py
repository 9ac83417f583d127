"""Providers: entry points that stand for several connectors (bridges to another SDK's connectors).

A provider is advertised in the ``connector.providers`` entry-point group. What it provides is
learned out of process and cached (``registry/_learn_providers.py``, ``registry/_discovery.py``);
this module holds the contract (``ProvidedConnector``, ``ProviderProblem``, ``ConnectorProvider``),
their JSON form and that of a learning's *outcome*, and ``ProviderHandle``, which loads one
provided connector in the registry's import thread.

An outcome is ``{"provided": [item, ...]}`` (an *answer*: each item as ``item_to_json`` writes it),
or ``{"error": "what failed", "timed_out_after": null}`` (a *failure*; ``timed_out_after`` is the
limit in seconds when the learning process did not finish in time). Answers are cached; failures
are not (issue 11).
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from .._exceptions import ConnectorLoadError
from .._model import ConnectorOrigin, TaskCategory
from .._settings import IMPORT_TIMEOUT_VARIABLE
from ._validation import describe_exception

#: The entry-point group providers advertise themselves in; the entry point's name is the provider's.
PROVIDER_ENTRY_POINT_GROUP = "connector.providers"


@dataclasses.dataclass(frozen=True)
class ProvidedConnector:
    """One connector a provider serves; JSON-serializable so discovery can cache it.

    ``task_type`` and ``task_type_version`` are its category; ``name`` the connector's own name
    (listings, and the metadata services before it is loaded: make it the ``name`` of the object
    ``load`` returns). ``distribution`` and ``distribution_version`` name the distribution that
    brought it (an SDK plugin such as ``flytekitplugins-openai``); pins, allow and deny lists match
    that name. ``key`` is whatever the provider needs to load it again, opaque to the core and shown
    as its target. ``is_sync`` says whether it is a sync connector, when that is known without
    loading it (the metadata services can then list it before its first load).
    """

    task_type: str
    task_type_version: int
    name: str
    distribution: str | None
    distribution_version: str | None
    key: str
    is_sync: bool | None = None

    @property
    def category(self) -> TaskCategory:
        """The task category; ``ValueError`` when the task type or version is not valid."""
        return TaskCategory(self.task_type, self.task_type_version)


@dataclasses.dataclass(frozen=True)
class ProviderProblem:
    """Something a provider found but cannot serve: an SDK plugin whose import fails, a missing SDK.

    ``problem`` is the SDK's own error message and how to fix it. ``distribution`` and
    ``distribution_version`` name the distribution at fault, when there is one; ``entry_point`` the
    SDK's entry point that led to it (``"flytekit.plugins: openai"``). Each becomes a broken entry of
    ``connector list``, and a problem of ``connector check``.
    """

    problem: str
    distribution: str | None = None
    distribution_version: str | None = None
    entry_point: str | None = None


class ConnectorProvider(Protocol):
    """What a ``connector.providers`` entry point gives: an object that lists and loads connectors.

    The entry point's value (``module:attr``) is the provider itself, or a class or zero-argument
    callable that returns one.
    """

    def provided(self) -> Iterable[ProvidedConnector | ProviderProblem]:
        """Everything this provider serves; may import its SDK and the SDK's plugins.

        Called once in a separate process of the same interpreter, under ``CONNECTOR_IMPORT_TIMEOUT``;
        the answer is cached until an installed distribution changes. Anything it raises, or a
        result of another type, makes the provider one broken entry.
        """
        ...

    #: Optional: the names of the environment variables whose values change what ``provided()``
    #: answers (an opt-in setting, say). Their values are kept with the cached answer, which is
    #: learned again when one of them changes.
    environment: Sequence[str]

    def load(self, provided: ProvidedConnector) -> object:
        """The connector object for one of them (an ``AsyncConnector``/``SyncConnector`` instance or
        class, or an object of ``@connector.hookimpl`` functions).

        Called in the serving process the first time its category is asked for. The core validates
        the object as it validates a native connector; its task type and version must be those of
        ``provided``. What it raises marks that one connector broken, with the exception's message.
        """
        ...


# JSON: what the learning process prints and the discovery cache keeps.


def item_to_json(item: object) -> dict[str, Any]:
    """A provided item as a JSON-ready dict; ``ValueError`` when it is neither type or a field is wrong."""
    if isinstance(item, ProvidedConnector):
        document = {"kind": "connector", **dataclasses.asdict(item)}
    elif isinstance(item, ProviderProblem):
        document = {"kind": "problem", **dataclasses.asdict(item)}
    else:
        raise ValueError(
            f"provided() gave {_short_repr(item)} ({type(item).__name__}), "
            "not a connector.ProvidedConnector or connector.ProviderProblem"
        )
    item_from_json(document)  # the same checks as when it is read back
    return document


_CONNECTOR_FIELDS: dict[str, tuple[type, ...]] = {
    "task_type": (str,),
    "task_type_version": (int,),
    "name": (str,),
    "distribution": (str, type(None)),
    "distribution_version": (str, type(None)),
    "key": (str,),
    "is_sync": (bool, type(None)),
}
_PROBLEM_FIELDS: dict[str, tuple[type, ...]] = {
    "problem": (str,),
    "distribution": (str, type(None)),
    "distribution_version": (str, type(None)),
    "entry_point": (str, type(None)),
}


def item_from_json(document: Any) -> ProvidedConnector | ProviderProblem:
    """The item a JSON dict describes; ``ValueError`` saying which field is wrong."""
    if not isinstance(document, dict):
        raise ValueError(f"an item is {type(document).__name__}, not an object")
    kind = document.get("kind")
    if kind == "connector":
        fields, cls, what = _CONNECTOR_FIELDS, ProvidedConnector, "ProvidedConnector"
    elif kind == "problem":
        fields, cls, what = _PROBLEM_FIELDS, ProviderProblem, "ProviderProblem"  # type: ignore[assignment]
    else:
        raise ValueError(f"an item's kind is {kind!r}, not 'connector' or 'problem'")
    values = {k: v for k, v in document.items() if k != "kind"}
    if set(values) != set(fields):
        raise ValueError(f"a {what} has the fields {sorted(values)}, not {sorted(fields)}")
    for name, types in fields.items():
        value = values[name]
        bad_bool = isinstance(value, bool) and bool not in types
        if not isinstance(value, types) or bad_bool:
            wanted = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise ValueError(f"provided() gave a {what} whose {name} is {_short_repr(value)}, not {wanted}")
    if kind == "connector" and not values["key"]:
        raise ValueError(f"provided() gave a ProvidedConnector for {values['task_type']!r} with an empty key")
    return cls(**values)


def timed_out(limit: float) -> dict[str, Any]:
    """The outcome of a provider whose learning did not finish within ``limit`` seconds."""
    return {
        "error": f"learning what it provides did not finish in {limit:g} s; fix the provider's import, "
        f"or raise the limit with {IMPORT_TIMEOUT_VARIABLE} (seconds)",
        "timed_out_after": limit,
    }


def failed(reason: str) -> dict[str, Any]:
    """The outcome of a provider whose learning failed for ``reason``."""
    return {"error": f"learning what it provides failed: {reason}", "timed_out_after": None}


def is_answer(outcome: dict[str, Any]) -> bool:
    """Whether a checked outcome is an answer (what the provider provides), not a failure."""
    return "provided" in outcome


def checked_outcome(outcome: Any) -> dict[str, Any]:
    """``outcome`` if it is a well-formed outcome, else the failure saying why."""
    if isinstance(outcome, dict) and set(outcome) == {"error", "timed_out_after"}:
        limit = outcome["timed_out_after"]
        if isinstance(outcome["error"], str) and (
            limit is None or (isinstance(limit, (int, float)) and not isinstance(limit, bool))
        ):
            return outcome
    elif (
        isinstance(outcome, dict)
        and set(outcome) == {"provided", "environment"}
        and isinstance(outcome["provided"], list)
        and isinstance(outcome["environment"], dict)
        and all(
            isinstance(name, str) and (value is None or isinstance(value, str))
            for name, value in outcome["environment"].items()
        )
    ):
        try:
            for item in outcome["provided"]:
                item_from_json(item)
        except ValueError as exc:
            return failed(str(exc))
        return outcome
    return failed(f"the learning process answered {outcome!r:.300}, not an outcome")


def _short_repr(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Resolving a provider entry point, in the learning process and in the serving process alike.


class ProviderResolutionError(Exception):
    """The provider entry point's target cannot be imported or is no provider; the message says why."""


def resolve_provider(target: str, load_target: Any) -> ConnectorProvider:
    """Import ``target`` with ``load_target`` and return the provider it stands for.

    Raises ``ProviderResolutionError`` (chained to the cause) saying what failed.
    """
    try:
        obj = load_target(target)
    except BaseException as exc:  # a plugin's import may raise anything (issue 8)
        raise ProviderResolutionError(f"importing {target} raised {describe_exception(exc)}") from exc
    if inspect.isclass(obj) or (callable(obj) and not _is_provider(obj)):
        try:
            obj = obj()
        except BaseException as exc:
            raise ProviderResolutionError(f"calling {target} raised {describe_exception(exc)}") from exc
    if not _is_provider(obj):
        raise ProviderResolutionError(
            f"{target} gives {_short_repr(obj)} ({type(obj).__name__}), not a connector.ConnectorProvider "
            "(an object with provided() and load() methods, or a class or function that returns one)"
        )
    provider: ConnectorProvider = obj
    return provider


def _is_provider(obj: object) -> bool:
    return not inspect.isclass(obj) and all(
        callable(getattr(obj, name, None)) for name in ("provided", "load")
    )


class ProviderHandle:
    """One provider entry point in the serving process: resolved once, on the first load it serves.

    Every record the provider stands for shares the handle; ``load`` runs in the registry's import
    thread, so a provider that hangs costs its connectors their import limit and nothing more.
    """

    def __init__(self, origin: ConnectorOrigin, load_target: Any) -> None:
        self.origin = origin
        self._load_target = load_target
        self._lock = threading.Lock()
        self._provider: ConnectorProvider | None = None
        self._failure: ProviderResolutionError | None = None

    def __repr__(self) -> str:
        return f"<ProviderHandle {self.origin.entry_point!r} ({self.origin.target})>"

    def provider(self) -> ConnectorProvider:
        """The provider object, resolved on first use; ``ProviderResolutionError`` again on every use."""
        with self._lock:
            if self._provider is None and self._failure is None:
                try:
                    self._provider = resolve_provider(self.origin.target or "", self._load_target)
                except ProviderResolutionError as exc:
                    self._failure = exc
            if self._failure is not None:
                raise self._failure
            assert self._provider is not None
            return self._provider

    def load(self, provided: ProvidedConnector, origin: ConnectorOrigin, category: TaskCategory) -> object:
        """``provider.load(provided)``; a ``ConnectorLoadError`` naming ``origin`` when anything fails."""
        name = self.origin.entry_point
        try:
            provider = self.provider()
        except ProviderResolutionError as exc:
            raise ConnectorLoadError(
                f"{origin.describe()}: provider {name!r} cannot be loaded: {exc}",
                category=category,
                origin=origin,
            ) from exc.__cause__
        try:
            return provider.load(provided)
        except BaseException as exc:  # in the import thread: anything, as for imports (issue 8)
            raise ConnectorLoadError(
                f"{origin.describe()}: provider {name!r} could not load it: {describe_exception(exc)}",
                category=category,
                origin=origin,
            ) from exc
