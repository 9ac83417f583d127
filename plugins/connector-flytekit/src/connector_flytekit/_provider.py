"""FlytekitProvider: the ``connector.providers`` entry point standing for every flytekit connector."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._exceptions import (
    FlytekitBuiltinDisabledError,
    FlytekitConnectorGoneError,
    FlytekitPluginError,
    FlytekitUnavailableError,
)
from ._settings import BUILTINS_VARIABLE, builtins_enabled

#: What a built-in connector does that the native one it shadows does not, and the native one.
_BUILTIN_RISKS = {
    "sensor": (
        "flytekit's SensorEngine imports the module a task template (and, at every poll, its resource "
        "meta) names and calls a class of it, so anyone who may create tasks runs code here; opted in, "
        "only flytekit's FileSensor and the classes CONNECTOR_SENSORS lists run",
        "connector-sensor",
    ),
    "webhook": (
        "flytekit's WebhookConnector sends a request to any URL a task template names, past "
        "connector-http's egress policy (private and metadata addresses included)",
        "connector-http",
    ),
}

if TYPE_CHECKING:
    import connector


class FlytekitProvider:
    """Provides the connectors flytekit registers: every plugin's, and its own (``sensor``, ``webhook``)
    when ``CONNECTOR_FLYTEKIT_BUILTINS`` names them.

    Advertised as ``flytekit = "connector_flytekit:FlytekitProvider"`` in the entry-point group
    ``connector.providers``. Importing this module imports no flytekit; ``provided`` and ``load``
    do, and the core caches what ``provided`` returns until an install, uninstall or upgrade.
    """

    #: The answer of ``provided`` depends on it: the core learns it again when its value changes.
    environment = (BUILTINS_VARIABLE,)

    def provided(self) -> Iterable[connector.ProvidedConnector | connector.ProviderProblem]:
        """One ``ProvidedConnector`` per task type and version flytekit registers; one problem per failure.

        flytekit is imported without its plugins, then flytekit's webhook module and each entry point
        of ``flytekit.plugins`` are loaded on their own, as ``pyflyte serve connector`` loads them
        (all at once there). A missing or unsupported flytekit is one ``ProviderProblem``; a plugin
        that raises is one ``ProviderProblem`` naming its distribution, and the others still provide.
        """
        import connector

        from ._flytekit import all_sources, import_flytekit, load_source

        try:
            import_flytekit()
        except FlytekitUnavailableError as exc:
            return [
                connector.ProviderProblem(
                    str(exc),
                    distribution="flytekit" if exc.version else None,
                    distribution_version=exc.version,
                )
            ]
        found: list[connector.ProvidedConnector | connector.ProviderProblem] = []
        seen: set[int] = set()
        for source in all_sources():
            try:
                registered = load_source(source)
            except FlytekitPluginError as exc:
                found.append(
                    connector.ProviderProblem(
                        str(exc),
                        distribution=exc.distribution,
                        distribution_version=exc.distribution_version,
                        entry_point=exc.entry_point,
                    )
                )
                continue
            for (task_type, version), flytekit_connector in sorted(registered.items()):
                if id(flytekit_connector) in seen:  # one plugin's module imported by another's
                    continue
                seen.add(id(flytekit_connector))
                if _builtin_of(source) not in (None, *builtins_enabled()):
                    continue  # flytekit's own sensor or webhook, not opted in: not claimed at all
                found.append(_provided(source, task_type, version, flytekit_connector))
        return found

    def load(self, provided: connector.ProvidedConnector) -> object:
        """The adapter of one provided connector (``bridge``), found again from its ``key`` in this process.

        flytekit's own ``sensor`` and ``webhook`` are provided only when ``CONNECTOR_FLYTEKIT_BUILTINS``
        names them, and checked again here at every load (a setting changed since the answer was
        learned): else ``FlytekitBuiltinDisabledError``. Loads the source that registered
        the connector (flytekit, its webhook module or one plugin), then starts loading the other
        plugins in the background (their type transformers: flytekit's service runs with all of
        them), outside the lock, so one that hangs or raises does not hold this one. Raises
        ``FlytekitUnavailableError``, ``FlytekitPluginError`` (the plugin's own message) or
        ``FlytekitConnectorGoneError``, each saying how to fix it.
        """
        from ._adapter import bridge
        from ._flytekit import load_other_plugins_in_background, load_source

        source, category = _source_of(provided)
        _refuse_builtin_not_opted_in(source, category)
        registered = load_source(source)
        load_other_plugins_in_background(but=source)
        flytekit_connector = registered.get(category)
        if flytekit_connector is None:
            raise FlytekitConnectorGoneError(
                f"{source.describe()} no longer registers a connector for task type "
                f"{category[0]}@{category[1]}; run `connector check` to see what it registers now "
                f"(reinstall {provided.distribution} if it should)"
            )
        return bridge(flytekit_connector)


def _builtin_of(source: Any) -> str | None:
    """``"sensor"`` or ``"webhook"`` for the sources of flytekit's own connectors; None for a plugin."""
    from ._flytekit import FLYTEKIT_SOURCE, WEBHOOK_SOURCE

    return {FLYTEKIT_SOURCE: "sensor", WEBHOOK_SOURCE: "webhook"}.get(source)


def _refuse_builtin_not_opted_in(source: Any, category: tuple[str, int]) -> None:
    """Raise ``FlytekitBuiltinDisabledError`` for flytekit's sensor or webhook unless opted in."""
    builtin = _builtin_of(source)
    if builtin is None or builtin in builtins_enabled():
        return
    risk, native = _BUILTIN_RISKS[builtin]
    raise FlytekitBuiltinDisabledError(
        f"flytekit's own {builtin} connector (task type {category[0]}@{category[1]}) is not served unless "
        f"the operator opts in: {risk}. Serve {native}'s {builtin} instead (pip install {native}), or "
        f"set {BUILTINS_VARIABLE}={builtin} to accept that risk",
        builtin=builtin,
    )


def _provided(source: Any, task_type: str, version: int, flytekit_connector: Any) -> Any:
    from flytekit.extend.backend.base_connector import AsyncConnectorBase, SyncConnectorBase

    import connector

    from ._flytekit import PLUGIN_GROUP, distribution_of, flytekit_version

    owner = distribution_of(type(flytekit_connector).__module__)
    if owner is None:
        owner = (source.distribution, source.distribution_version) if source.distribution else None
    if owner is None:
        owner = ("flytekit", flytekit_version() or "")
    if not isinstance(flytekit_connector, (SyncConnectorBase, AsyncConnectorBase)):
        kind = type(flytekit_connector)
        return connector.ProviderProblem(
            f"{source.describe()} registered {kind.__module__}.{kind.__qualname__} for task type "
            f"{task_type}@{version}, which is neither a flytekit SyncConnectorBase nor an "
            f"AsyncConnectorBase; fix or upgrade {owner[0]}",
            distribution=owner[0],
            distribution_version=owner[1],
            entry_point=f"{PLUGIN_GROUP}: {source.name}" if source.kind == "entry_point" else None,
        )
    return connector.ProvidedConnector(
        task_type=task_type,
        task_type_version=version,
        name=str(flytekit_connector.name),
        distribution=owner[0],
        distribution_version=owner[1],
        key=source.key,
        is_sync=isinstance(flytekit_connector, SyncConnectorBase),
    )


def _source_of(provided: Any) -> tuple[Any, tuple[str, int]]:
    """The source a provided connector's key names, as found in this process's metadata, and its category."""
    from ._flytekit import FLYTEKIT_SOURCE, PLUGIN_GROUP, WEBHOOK_SOURCE, Source, plugin_sources

    category = (str(provided.task_type), int(provided.task_type_version))
    key = str(provided.key)
    for builtin in (FLYTEKIT_SOURCE, WEBHOOK_SOURCE):
        if key == builtin.key:
            return builtin, category
    for source in plugin_sources():
        if key == source.key:
            return source, category
    if not key.startswith(f"{PLUGIN_GROUP}: "):
        raise FlytekitConnectorGoneError(
            f"the key {key!r} was not written by this connector-flytekit; run `connector check` to "
            "discover again"
        )
    name, _, value = key.removeprefix(f"{PLUGIN_GROUP}: ").partition(" = ")
    gone = Source("entry_point", name, value, provided.distribution, provided.distribution_version)
    raise FlytekitConnectorGoneError(
        f"{gone.describe()} is no longer installed; reinstall {provided.distribution}, or run "
        "`connector check` to see what is installed now"
    )
