"""What Flyte 2 (the ``flyte`` package) makes: its resource metas, task templates and inputs.

Run with the flyte virtualenv's python. Requests:

- ``{"op": "facts"}``: what the installed flyte offers for connectors: its version, the commands
  of its CLI and of ``flyte serve``, whether ``flyte.connectors.ConnectorService.run`` exists, the
  entry-point group its connector server loads, and every task type its own sources declare.
- ``{"op": "meta", "fields": {...}}``: ``ResourceMeta.encode()`` of a dataclass with the four
  fields of flytekit's ``SensorMetadata`` (base64), and what ``decode`` gives back.
- ``{"op": "sensor_task", "path": ...}``: a ``flyte.extend.TaskTemplate`` of task type ``sensor``
  whose custom fields are flytekit's FileSensor's, serialized with ``get_proto_task`` (what
  ``flyte deploy`` sends) as a ``flyteidl2.core.TaskTemplate``, and its inputs as Flyte 2 converts
  them (``flyteidl2.task.Inputs``), both base64.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import inspect
import re
from pathlib import Path
from typing import Any

import click
import flyte
import flyte.connectors
from _loop import b64, serve
from flyte.cli.main import main as flyte_cli
from flyte.connectors import ResourceMeta
from flyte.extend import TaskTemplate
from flyte.models import NativeInterface, SerializationContext

_TASK_TYPE = re.compile(r"""task_type(?:\s*:\s*str)?\s*=\s*["']([^"']+)["']""")


@dataclasses.dataclass
class SensorMetadata(ResourceMeta):
    """flytekit's SensorMetadata fields, as a Flyte 2 connector would declare its meta."""

    sensor_module: str
    sensor_name: str
    sensor_config: dict | None = None
    inputs: dict | None = None


@dataclasses.dataclass(kw_only=True)
class SensorTask(TaskTemplate):
    """A Flyte 2 task of type ``sensor`` with flytekit's FileSensor as its custom fields."""

    task_type: str = "sensor"

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        return {
            "sensor_module": "flytekit.sensor.file_sensor",
            "sensor_name": "FileSensor",
            "sensor_config": None,
            "inputs": None,
        }


def _commands(group: Any) -> list[str]:
    with click.Context(group) as ctx:
        return sorted(group.list_commands(ctx))


def facts(request: dict[str, Any]) -> dict[str, Any]:
    package = Path(flyte.__file__).parent
    task_types = sorted(
        {found for source in package.rglob("*.py") for found in _TASK_TYPE.findall(source.read_text())}
    )
    with click.Context(flyte_cli) as ctx:
        serve_group = flyte_cli.get_command(ctx, "serve")
    run = getattr(flyte.connectors.ConnectorService, "run", None)
    return {
        "version": importlib.metadata.version("flyte"),
        "cli": _commands(flyte_cli),
        "serve_help": (serve_group.help or "").strip().splitlines()[0] if serve_group else None,
        "connectors_all": sorted(flyte.connectors.__all__),
        "service_run": str(inspect.signature(run.__wrapped__ if hasattr(run, "__wrapped__") else run))
        if run
        else None,
        "entry_point_group": "flyte.connectors"
        if "flyte.connectors" in inspect.getsource(flyte.connectors.utils)
        else None,
        "task_types": task_types,
    }


def meta(request: dict[str, Any]) -> dict[str, Any]:
    encoded = SensorMetadata(**request["fields"]).encode()
    return {"meta": b64(encoded), "decoded": dataclasses.asdict(SensorMetadata.decode(encoded))}


def sensor_task(request: dict[str, Any]) -> dict[str, Any]:
    from flyte._internal.runtime.convert import convert_from_native_to_inputs
    from flyte._internal.runtime.task_serde import get_proto_task

    interface = NativeInterface.from_types(inputs={"path": (str, inspect.Parameter.empty)}, outputs={})
    # parent_env_name: a Flyte 2 task belongs to a TaskEnvironment, which gives its container.
    task = SensorTask(name="compat.wait_for_file", interface=interface, image=None, parent_env_name="compat")
    context = SerializationContext(version="v1", project="compat", domain="development", org="compat")
    template = get_proto_task(task, context)
    inputs = asyncio.run(convert_from_native_to_inputs(interface, path=request["path"]))
    return {
        "template": b64(template.SerializeToString()),
        "inputs": b64(inputs.proto_inputs.SerializeToString()),
    }


if __name__ == "__main__":
    serve({"facts": facts, "meta": meta, "sensor_task": sensor_task})
