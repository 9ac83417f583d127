"""The order of a ListAgents answer, for propeller: it keeps only the last version of a task type it reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Flyte 1's propeller (flyteplugins webapi/connector, getConnectorRegistry) reads the answer into a
# map task type -> {version: agent}, assigning a new one-entry map for every category it reads:
# the last (agent, version) read for a task type is the only one it routes there, with that agent's
# is_sync. A task of any other version goes to the configured defaultConnector as an async task
# (CreateTask). Within one Agent it reads the deprecated supported_task_types (as version 0)
# before supported_task_categories. Flyte 2 keys by (type, version) and keeps every one.


def preferred(agents: Sequence[Any]) -> dict[str, tuple[int, int]]:
    """For each task type, the (agent index, version) propeller should keep.

    A sync version first: the others reach this service through propeller's defaultConnector
    fallback as async tasks, which works for an async connector and never for a sync one. Then the
    lowest version: 0 is what every SDK writes unless a plugin says otherwise, so it is the one most
    tasks use.
    """
    candidates: dict[str, list[tuple[bool, int, int]]] = {}
    for index, agent in enumerate(agents):
        for category in agent.supported_task_categories:
            candidates.setdefault(category.name, []).append((not agent.is_sync, category.version, index))
    chosen = {}
    for name, options in candidates.items():
        _, version, index = min(options)
        chosen[name] = (index, version)
    return chosen


def order_for_propeller(agents: Sequence[Any]) -> list[Any]:
    """``agents`` (flyteidl v1 ``Agent`` messages) reordered so propeller keeps each type's preferred version.

    Each agent lists the preferred version of a task type after its other versions; agents that
    hold the preferred version of a type another agent also serves come after the others. When
    that cannot satisfy every type (two agents that each hold the other's preferred version), one
    more ``Agent`` naming just that category is appended, so the last one propeller reads is right.
    """
    chosen = preferred(agents)
    ordered: list[tuple[int, Any]] = []
    for index, agent in enumerate(agents):

        def position(category: Any, index: int = index) -> tuple[str, bool, int]:
            return (category.name, chosen[category.name] == (index, category.version), category.version)

        copy = type(agent)()
        copy.CopyFrom(agent)
        del copy.supported_task_categories[:]
        copy.supported_task_categories.extend(sorted(agent.supported_task_categories, key=position))
        ordered.append((index, copy))
    holders: dict[str, set[int]] = {}
    for index, agent in enumerate(agents):
        for category in agent.supported_task_categories:
            holders.setdefault(category.name, set()).add(index)
    shared_winners = {chosen[name][0] for name, indexes in holders.items() if len(indexes) > 1}
    ordered.sort(key=lambda pair: pair[0] in shared_winners)  # stable: otherwise the given order
    last: dict[str, tuple[int, int]] = {}
    for index, agent in ordered:
        for category in agent.supported_task_categories:
            last[category.name] = (index, category.version)
    answer = [agent for _, agent in ordered]
    for name in sorted(chosen):
        if last[name] != chosen[name]:
            index, version = chosen[name]
            source = agents[index]
            extra = type(source)(name=source.name, is_sync=source.is_sync, supported_task_types=[name])
            extra.supported_task_categories.add().CopyFrom(
                next(c for c in source.supported_task_categories if (c.name, c.version) == (name, version))
            )
            answer.append(extra)
    return answer
