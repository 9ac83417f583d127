"""Serialize real flytekit tasks and inputs as ``pyflyte register`` and propeller would send them.

Run with the flytekit virtualenv's python. Request ``{"op": "serialize", "task": {...}, "inputs":
{...}}`` (``task`` as ``flytekit_tasks.build`` reads it); answer ``{"template": base64, "inputs":
base64, "custom": {...}}``: the ``flyteidl.core.TaskTemplate`` of ``get_serializable`` (the
``TaskSpec`` that registration sends) and the ``flyteidl.core.LiteralMap`` that flytekit's
``TypeEngine`` makes of the inputs against the task's Python interface.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from _loop import b64, serve
from flytekit import FlyteContextManager
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.type_engine import TypeEngine
from flytekit.tools.translator import get_serializable
from flytekit_tasks import build, native_inputs

SETTINGS = SerializationSettings(
    image_config=ImageConfig.auto_default_image(), project="compat", domain="development", version="v1"
)


def serialize(request: dict[str, Any]) -> dict[str, Any]:
    task = build(request["task"])
    template = get_serializable(OrderedDict(), SETTINGS, task).template
    ctx = FlyteContextManager.current_context()
    native = native_inputs(request["task"], request.get("inputs") or {})
    inputs = TypeEngine.dict_to_literal_map(ctx, native, task.python_interface.inputs)
    return {
        "template": b64(template.to_flyte_idl().SerializeToString()),
        "inputs": b64(inputs.to_flyte_idl().SerializeToString()),
        "custom": template.custom,
    }


if __name__ == "__main__":
    serve({"serialize": serialize})
