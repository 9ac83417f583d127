"""A fake SDK with plugins, and a provider that bridges them: the sources the provider tests install.

The "fakesdk" has no package of its own: a plugin is a distribution advertising a class in the
``fakesdk.plugins`` entry-point group, as flytekit plugins advertise theirs in ``flytekit.plugins``.
The provider (module ``fakesdk_bridge``, distribution ``connector-fakesdk``) lists them, reports a
plugin whose import fails as a ``ProviderProblem``, and loads each as a sync connector. It appends
one line per event to ``$FAKESDK_LOG`` (``import PID``, ``provided PID``, ``load KEY PID``), so a
test can tell which process imported it and how often it was asked.
"""

from __future__ import annotations

PROVIDER_MODULE = "fakesdk_bridge"
PROVIDER_DISTRIBUTION = ("connector-fakesdk", "0.1")
PROVIDER_ENTRY_POINTS = {"connector.providers": {"fakesdk": "fakesdk_bridge:provider"}}
LOG_VARIABLE = "FAKESDK_LOG"

PROVIDER_SOURCE = '''\
"""Bridges the fakesdk's plugins (entry-point group fakesdk.plugins) to connector."""

import importlib
import importlib.metadata
import os

import connector


def _log(event):
    path = os.environ.get("FAKESDK_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(f"{event} {os.getpid()}\\n")


_log("import")


class Bridged(connector.SyncConnector):
    """A fakesdk plugin, run as a sync connector."""

    def __init__(self, plugin):
        super().__init__(task_type_name=plugin.task_type, task_type_version=plugin.version)
        self.plugin = plugin

    def do(self, inputs):
        return connector.Resource(connector.Phase.SUCCEEDED, outputs=self.plugin.run(dict(inputs)))


class Provider:
    def provided(self):
        _log("provided")
        for ep in sorted(importlib.metadata.entry_points(group="fakesdk.plugins"), key=lambda e: e.name):
            try:
                plugin = ep.load()
            except Exception as exc:
                yield connector.ProviderProblem(
                    f"importing the fakesdk plugin {ep.value} raised {type(exc).__name__}: {exc}; "
                    "fix or uninstall it",
                    ep.dist.name,
                    ep.dist.version,
                    f"fakesdk.plugins: {ep.name}",
                )
                continue
            yield connector.ProvidedConnector(
                task_type=plugin.task_type,
                task_type_version=plugin.version,
                name=plugin.title,
                distribution=ep.dist.name,
                distribution_version=ep.dist.version,
                key=ep.value,
                is_sync=True,
            )

    def load(self, provided):
        _log(f"load {provided.key}")
        module, _, attr = provided.key.partition(":")
        plugin = getattr(importlib.import_module(module), attr)()
        if getattr(plugin, "refuse", None):
            raise RuntimeError(plugin.refuse)
        return Bridged(plugin)


provider = Provider()
'''


def plugin_source(cls: str, task_type: str, *, version: int = 0, title: str = "", extra: str = "") -> str:
    """A fakesdk plugin module holding one plugin class."""
    return (
        f"class {cls}:\n"
        f"    task_type = {task_type!r}\n"
        f"    version = {version}\n"
        f"    title = {(title or f'Fake {task_type}')!r}\n"
        f"{extra}"
        "    def run(self, inputs):\n"
        f"        return {{'by': {cls!r}, **inputs}}\n"
    )


# A provider in this process, for registry tests that build records from outcomes directly.


class InProcessProvider:
    """Loads ``Echo`` connectors; the key says how to misbehave (``raise``, ``other-type``, ``named``)."""

    def provided(self) -> list[object]:
        return []

    def load(self, provided: object) -> object:
        import connector

        key = getattr(provided, "key", "")
        task_type = getattr(provided, "task_type", "")
        version = getattr(provided, "task_type_version", 0)
        if key == "raise":
            raise PermissionError(f"no credentials for {task_type}")
        if key == "other-type":
            task_type = "other"

        class Echo(connector.SyncConnector):
            def do(self, inputs: dict[str, object]) -> connector.Resource:
                return connector.Resource(connector.Phase.SUCCEEDED, outputs={"by": key, **inputs})

        if key == "named":
            Echo.name = "Its own name"
        return Echo(task_type_name=task_type, task_type_version=version)


in_process_provider = InProcessProvider()
