"""FlyteProvider: the ``connector.providers`` entry point that lists and loads Flyte 2 connectors."""

from __future__ import annotations

from collections.abc import Iterator

from connector import ProvidedConnector, ProviderProblem

from ._adapter import FlyteConnector, bridge, display_name
from ._entry_points import (
    FLYTE_ENTRY_POINT_GROUP,
    FlyteEntryPoint,
    flyte_entry_points,
    import_entry_point,
    registered,
)
from ._exceptions import FlyteConnectorGone, FlyteEntryPointError, FlyteUnavailableError
from ._flyte import flyte_sdk, flyte_version, version_problem


class FlyteProvider:
    """Serves every connector that installed ``flyte.connectors`` entry points register with Flyte 2.

    ``provided`` imports flyte and each entry point, one by one, and lists one ``ProvidedConnector``
    per task type and version registered in Flyte 2's ``ConnectorRegistry``, owned by the
    distribution that advertises the entry point. ``load`` finds that entry point among the
    installed ones, imports it again (in the serving process) and returns a ``FlyteConnector``
    around the Flyte 2 connector.
    """

    def provided(self) -> Iterator[ProvidedConnector | ProviderProblem]:
        """The Flyte 2 connectors installed, and a ``ProviderProblem`` for each thing that fails.

        A missing or unsupported flyte is one problem (naming the supported releases and the pip
        command); an entry point whose import raises is one problem naming its distribution, with
        the exception's own message; the other entry points still provide.
        """
        version = flyte_version()
        problem = version_problem(version)
        if problem is None:
            try:
                sdk = flyte_sdk()
            except FlyteUnavailableError as exc:
                problem = str(exc)
        if problem is not None:
            yield ProviderProblem(problem, distribution="flyte", distribution_version=version)
            return
        for entry_point in flyte_entry_points():
            try:
                connectors = import_entry_point(sdk, entry_point)
            except BaseException as exc:  # a plugin's import may raise anything, as in the core
                yield ProviderProblem(
                    import_problem(entry_point, exc),
                    distribution=entry_point.distribution,
                    distribution_version=entry_point.distribution_version,
                    entry_point=f"flyte.connectors: {entry_point.name}",
                )
                continue
            for (task_type, task_type_version), connector in sorted(connectors.items()):
                yield ProvidedConnector(
                    task_type=task_type,
                    task_type_version=task_type_version,
                    name=display_name(connector),
                    distribution=entry_point.distribution,
                    distribution_version=entry_point.distribution_version,
                    key=entry_point.key,
                    is_sync=False,
                )

    def load(self, provided: ProvidedConnector) -> FlyteConnector:
        """The ``FlyteConnector`` for one connector ``provided`` listed.

        Raises ``FlyteUnavailableError`` (flyte missing or unsupported), ``FlyteEntryPointError``
        (its entry point's import raises) or ``FlyteConnectorGone`` (it no longer registers the
        task type); the core marks that one connector broken with the message.
        """
        sdk = flyte_sdk()
        entry_point = installed_entry_point(provided)
        try:
            connectors = import_entry_point(sdk, entry_point)
        except BaseException as exc:
            raise FlyteEntryPointError(
                import_problem(entry_point, exc),
                entry_point=entry_point.name,
                target=entry_point.value,
                distribution=entry_point.distribution,
            ) from exc
        category = (provided.task_type, provided.task_type_version)
        connector = connectors.get(category)
        if connector is None:  # its module was imported before (by another entry point): Flyte kept it
            connector = registered(sdk, category)
        if connector is None:
            raise FlyteConnectorGone(
                f"{entry_point.describe()} no longer registers a connector for task type "
                f"{provided.task_type}@{provided.task_type_version} in Flyte 2's ConnectorRegistry; "
                "reinstall the distribution, or run `connector list` to see what it provides now"
            )
        return bridge(connector, sdk, entry_point)


def installed_entry_point(provided: ProvidedConnector) -> FlyteEntryPoint:
    """The installed ``flyte.connectors`` entry point whose key is ``provided.key``.

    Only an installed entry point is ever imported, whatever the key says (issue 11's review): a key
    that is none of them raises ``FlyteConnectorGone``.
    """
    installed = [ep for ep in flyte_entry_points() if ep.key == provided.key]
    for entry_point in installed:
        if entry_point.distribution == provided.distribution:
            return entry_point
    if installed:
        return installed[0]
    raise FlyteConnectorGone(
        f"no installed entry point in group {FLYTE_ENTRY_POINT_GROUP!r} is {provided.key!r} (listed for task "
        f"type {provided.task_type}@{provided.task_type_version} of {provided.distribution}), and "
        "connector-flyte imports installed entry points only; reinstall the distribution, or run "
        "`connector list` to see what is installed now"
    )


def import_problem(entry_point: FlyteEntryPoint, exc: BaseException) -> str:
    """What to say when importing an entry point raised ``exc``: what was imported, the error, the fix.

    The core names the distribution and the entry point before it.
    """
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    owner = entry_point.distribution or "the distribution that advertises it"
    return (
        f"importing the Flyte 2 connector module {entry_point.value} raised {error}; install what it "
        f"needs or upgrade {owner}, or uninstall {owner}"
    )
