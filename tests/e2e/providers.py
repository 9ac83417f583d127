"""The distributions of the providers end-to-end test, built as real wheels.

- ``fakesdk`` 1.0: a fake SDK (module ``fakesdk``): plugins subclass ``fakesdk.SyncPlugin`` or
  ``fakesdk.AsyncPlugin`` and advertise themselves in the ``fakesdk.plugins`` entry-point group, as
  flytekit plugins do in ``flytekit.plugins``.
- ``connector-fakesdk`` 0.1: the bridge. Its provider (entry point ``fakesdk`` in
  ``connector.providers``) lists the SDK's plugins and loads each as a raw-literals connector that
  reads the request's own literal map and answers with one of the same protocol, as a bridge to
  an SDK with its own type engine does.
- SDK plugins: ``fakesdk-shout`` (sync ``shout``), ``fakesdk-job`` (async ``fakejob@1``),
  ``fakesdk-echo`` (sync ``echo``, which the native ``connector-echo`` claims too) and
  ``fakesdk-broken`` (its import raises); ``fakesdk-late`` is installed by the test itself.

Each module appends ``NAME ARGV0`` to ``$FAKESDK_LOG`` when imported, so a test sees which process
imported it: the learning process runs ``.../connector/registry/_learn_providers.py``.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.wheels import build_wheel

_MARKER = """\
import os as _os
import sys as _sys

if _os.environ.get("FAKESDK_LOG"):
    with open(_os.environ["FAKESDK_LOG"], "a", encoding="utf-8") as _log:
        _log.write(f"{__name__} {_os.path.basename(_sys.argv[0])}\\n")
"""

SDK = '''\
"""fakesdk: plugins run on native values; the SDK's "type engine" reads and writes literal maps."""

class SyncPlugin:
    task_type = ""
    version = 0
    title = ""

    def run(self, values):
        raise NotImplementedError


class AsyncPlugin(SyncPlugin):
    def submit(self, values):
        raise NotImplementedError

    def result(self, job):
        raise NotImplementedError
'''

BRIDGE = '''\
"""connector-fakesdk: serves fakesdk plugins through connector, one provider for all of them."""

import dataclasses
import importlib
import importlib.metadata
import os
import time

import connector


def _values(inputs):
    """A literal map of either protocol (v1 LiteralMap, v2 Inputs) as {name: primitive value}."""
    entries = inputs.literals
    pairs = entries.items() if hasattr(entries, "items") else [(e.name, e.value) for e in entries]
    values = {}
    for name, literal in pairs:
        primitive = literal.scalar.primitive
        values[name] = getattr(primitive, primitive.WhichOneof("value"))
    return values


def _literal_map(values, protocol):
    """{name: int or str} as the protocol's outputs: a v1 LiteralMap or a v2 Outputs."""
    if protocol == "v1":
        from flyteidl.core import literals_pb2

        outputs = literals_pb2.LiteralMap()
        targets = [(outputs.literals[name], value) for name, value in values.items()]
    else:
        from flyteidl2.core import literals_pb2 as literals2_pb2
        from flyteidl2.task import common_pb2

        outputs = common_pb2.Outputs()
        targets = [(outputs.literals.add(name=name).value, value) for name, value in values.items()]
    for literal, value in targets:
        if isinstance(value, int):
            literal.scalar.primitive.integer = value
        else:
            literal.scalar.primitive.string_value = str(value)
    return outputs


def _protocol(inputs):
    return "v1" if type(inputs).DESCRIPTOR.full_name == "flyteidl.core.LiteralMap" else "v2"


def _hold():
    # The test holds every load until this file is gone (to list connectors before they load).
    hold = os.environ.get("FAKESDK_HOLD_LOAD")
    while hold and os.path.exists(hold):
        time.sleep(0.01)


@dataclasses.dataclass
class JobMeta(connector.ResourceMeta):
    job: str
    protocol: str


class SyncBridge(connector.SyncConnector):
    raw_literals = True

    def __init__(self, plugin):
        super().__init__(task_type_name=plugin.task_type, task_type_version=plugin.version)
        self.plugin = plugin

    def do(self, task_template, inputs):
        values = {**_values(inputs), "template": task_template.raw.type}
        outputs = _literal_map(self.plugin.run(values), _protocol(inputs))
        return connector.Resource(connector.Phase.SUCCEEDED, outputs=outputs)


class AsyncBridge(connector.AsyncConnector):
    raw_literals = True
    metadata_type = JobMeta

    def __init__(self, plugin):
        super().__init__(task_type_name=plugin.task_type, task_type_version=plugin.version)
        self.plugin = plugin

    def create(self, inputs):
        return JobMeta(self.plugin.submit(_values(inputs)), _protocol(inputs))

    def get(self, resource_meta):
        outputs = _literal_map(self.plugin.result(resource_meta.job), resource_meta.protocol)
        return connector.Resource(connector.Phase.SUCCEEDED, outputs=outputs)

    def delete(self, resource_meta):
        return None


class FakesdkProvider:
    def provided(self):
        try:
            import fakesdk
        except ImportError as exc:
            yield connector.ProviderProblem(f"fakesdk is not installed ({exc}); pip install fakesdk")
            return
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
                is_sync=not issubclass(plugin, fakesdk.AsyncPlugin),
            )

    def load(self, provided):
        _hold()
        import fakesdk

        module, _, attr = provided.key.partition(":")
        plugin = getattr(importlib.import_module(module), attr)()
        bridge = AsyncBridge if isinstance(plugin, fakesdk.AsyncPlugin) else SyncBridge
        return bridge(plugin)
'''

SHOUT = '''\
"""A sync fakesdk plugin."""

import fakesdk


class Shout(fakesdk.SyncPlugin):
    task_type = "shout"
    title = "Fake shout"

    def run(self, values):
        return {"text": values["text"].upper(), "template": values["template"]}
'''

JOB = '''\
"""An async fakesdk plugin of task type version 1."""

import fakesdk


class Job(fakesdk.AsyncPlugin):
    task_type = "fakejob"
    version = 1
    title = "Fake job"

    def submit(self, values):
        return f"job-{values['n']}"

    def result(self, job):
        return {"doubled": int(job.split("-")[1]) * 2}
'''

ECHO = '''\
"""A fakesdk plugin of the task type the native connector-echo serves too."""

import fakesdk


class Echo(fakesdk.SyncPlugin):
    task_type = "echo"
    title = "Fake echo"

    def run(self, values):
        return {"by": "fakesdk", **values}
'''

LATE = '''\
"""A fakesdk plugin installed while the test runs."""

import fakesdk


class Late(fakesdk.SyncPlugin):
    task_type = "late"
    title = "Fake late"

    def run(self, values):
        return {}
'''

NATIVE_ECHO = '''\
"""A native connector of task type echo."""

import connector


class Echo(connector.SyncConnector):
    name = "Native echo"
    task_type_name = "echo"

    def do(self, inputs):
        return connector.Resource(connector.Phase.SUCCEEDED, outputs={"by": "native", **inputs})
'''


def _module(source: str) -> str:
    """``source`` with the import marker after its docstring."""
    docstring, _, body = source.partition("\n\n")
    return f"{docstring}\n\n{_MARKER}\n{body}"


def wheels(directory: Path) -> dict[str, Path]:
    """Every wheel of the test, by distribution name."""

    def plugin(name: str, version: str, source: str, entry: str, cls: str) -> Path:
        module = name.replace("-", "_")
        files = {f"{module}.py": _module(source)}
        entry_points = {"fakesdk.plugins": {entry: f"{module}:{cls}"}}
        return build_wheel(directory, name, version, files, entry_points, requires=("fakesdk",))

    return {
        "fakesdk": build_wheel(directory, "fakesdk", "1.0", {"fakesdk.py": _module(SDK)}),
        "connector-fakesdk": build_wheel(
            directory,
            "connector-fakesdk",
            "0.1",
            {"connector_fakesdk.py": _module(BRIDGE)},
            {"connector.providers": {"fakesdk": "connector_fakesdk:FakesdkProvider"}},
        ),
        "fakesdk-shout": plugin("fakesdk-shout", "1.0", SHOUT, "shout", "Shout"),
        "fakesdk-job": plugin("fakesdk-job", "2.0", JOB, "fakejob", "Job"),
        "fakesdk-echo": plugin("fakesdk-echo", "1.0", ECHO, "echo", "Echo"),
        "fakesdk-late": plugin("fakesdk-late", "1.0", LATE, "late", "Late"),
        "fakesdk-broken": build_wheel(
            directory,
            "fakesdk-broken",
            "0.3",
            {"fakesdk_broken.py": "raise ImportError('fakesdk_broken needs libbroken')\n"},
            {"fakesdk.plugins": {"broken": "fakesdk_broken:Broken"}},
        ),
        "connector-echo": build_wheel(
            directory,
            "connector-echo",
            "1.0",
            {"connector_echo.py": _module(NATIVE_ECHO)},
            {"connector": {"echo": "connector_echo:Echo"}},
        ),
    }
