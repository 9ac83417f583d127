"""The hook names and the pluggy project name, importable without pluggy.

``hookspecs`` re-exports them. A module that needs only the names (the service's, before its port
is bound) imports them from here, and so imports neither pluggy nor the hook specifications (issue 13).
"""

from __future__ import annotations

from ._model import NameEnum

#: The pluggy project name; ``hookspecs.hookimpl`` and ``hookspecs.hookspec`` are markers for it.
PROJECT_NAME = "connector"

#: The attribute ``hookimpl`` sets on a function it marks (pluggy's ``<project>_impl``).
IMPL_MARKER = f"{PROJECT_NAME}_impl"


class Hook(NameEnum):
    """The name of each hook (each member equals its plain string: ``Hook.CREATE == "create"``)."""

    CREATE = "create"
    GET = "get"
    DELETE = "delete"
    DO = "do"
    GET_LOGS = "get_logs"
    GET_METRICS = "get_metrics"


#: The hooks of an async connector that must all be implemented.
ASYNC_HOOKS = (Hook.CREATE, Hook.GET, Hook.DELETE)
#: The hook of a sync connector.
SYNC_HOOKS = (Hook.DO,)
#: Hooks a connector may leave out; calling one that is missing is an error the caller can see.
OPTIONAL_HOOKS = (Hook.GET_LOGS, Hook.GET_METRICS)

#: Every hook, in the order of the operations.
ALL_HOOKS = tuple(Hook)
