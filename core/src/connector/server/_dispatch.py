"""Finding the connector of a call for the service: lazy lookup off the event loop, one call layer each."""

from __future__ import annotations

from .._exceptions import ConnectorNotFound
from .._model import TaskCategory
from ..registry._calls import ConnectorCalls
from ..registry._imports import in_daemon_thread
from ..registry._registry import ConnectorMetadata, ConnectorRegistry
from ..registry._signing import MetaSigner
from ._lanes import Lanes


class Dispatcher:
    """The service's way to its connectors: each one's ``ConnectorCalls``, built on first use.

    Each connector's calls go through its lane of ``lanes``: the executor of its plain hooks and
    the admission of every hook (the per-connector limits, issue 13). ``timeout`` (seconds, or
    None) limits every call on the server side; ``signer`` signs the metas handed out and checks
    those that come back. A lookup that imports a plugin runs off the event loop, in a daemon
    thread of its own: the service keeps answering, and an import that hangs cannot keep a
    stopped service from exiting.
    """

    def __init__(
        self,
        registry: ConnectorRegistry,
        lanes: Lanes,
        timeout: float | None = None,
        *,
        signer: MetaSigner | None = None,
    ) -> None:
        self.registry = registry
        self.lanes = lanes
        self.timeout = timeout
        self.signer = signer
        self._calls: dict[tuple[str, int], ConnectorCalls] = {}

    def known(self, category: TaskCategory) -> ConnectorCalls | None:
        """The call layer of ``category`` if ``calls`` made it already (None: ``calls`` looks it up)."""
        return self._calls.get((category.name, category.version))

    async def calls(self, category: TaskCategory) -> ConnectorCalls:
        """The call layer of the connector for ``category``; its first lookup imports it."""
        # Keyed by a plain tuple: a TaskCategory's dataclass __hash__ and __eq__ are Python calls.
        key = (category.name, category.version)
        calls = self._calls.get(key)
        if calls is None:
            loaded = await in_daemon_thread(self.registry.get, category)
            lane = self.lanes.lane(category, loaded.async_hooks.__contains__)
            calls = ConnectorCalls(
                loaded, executor=lane, admission=lane, timeout=self.timeout, signer=self.signer
            )
            self._calls[key] = calls
        return calls

    async def list_metadata(self) -> list[ConnectorMetadata]:
        """The connectors whose name and kind are known now; never waits for an import.

        Propeller asks with a deadline of a few seconds and drops every task type of a service that
        misses it until its next poll (issue 10), so the answer is what is loaded plus what earlier
        loads taught (``ConnectorRegistry.known_metadata``), not what a slow import would add.
        """
        return self.registry.known_metadata()

    async def get_metadata(self, name: str) -> ConnectorMetadata:
        """The connector named ``name`` among those listed now; ``ConnectorNotFound`` when there is none."""
        known = self.registry.known_metadata()
        for metadata in known:
            if metadata.name == name:
                return metadata
        raise ConnectorNotFound(None, sorted({m.name for m in known}), name=name)
