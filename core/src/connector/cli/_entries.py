"""What ``list`` and ``serve`` both say of the installed connectors.

Kept apart from ``_inspect`` (rich tables, docstrings, fields): ``serve`` prints its table before it
binds its port, and importing those delayed the first answer (issue 13's cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..registry._registry import ConnectorEntry

#: What ``list`` and ``serve`` say when nothing is installed.
NO_CONNECTORS = "No connectors installed (no entry points in the 'connector' or 'connector.providers' group)."


def bridged_by(entry: ConnectorEntry) -> str | None:
    """``connector-flytekit 0.1``: the distribution of the provider that bridges the entry, if any."""
    provider = entry.provider
    if provider is None:
        return None
    return f"{provider.distribution or 'unknown distribution'} {provider.distribution_version or ''}".rstrip()
