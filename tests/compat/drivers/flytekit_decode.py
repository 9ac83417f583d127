"""Decode a task's outputs with flytekit's ``TypeEngine`` against the task's own Python interface.

Run with the flytekit virtualenv's python. Request ``{"op": "decode", "task": {...}, "outputs":
base64}`` (a ``flyteidl.core.LiteralMap``); answer ``{"values": {...}, "types": {...}}``: the native
values as JSON and their Python type names, nested (``{"info": {"status_code": "int", ...}}``).
"""

from __future__ import annotations

from typing import Any

from _loop import serve, type_tree, unb64
from flyteidl.core import literals_pb2
from flytekit import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap
from flytekit_tasks import build


def decode(request: dict[str, Any]) -> dict[str, Any]:
    task = build(request["task"])
    literal_map = LiteralMap.from_flyte_idl(literals_pb2.LiteralMap.FromString(unb64(request["outputs"])))
    ctx = FlyteContextManager.current_context()
    values = TypeEngine.literal_map_to_kwargs(ctx, literal_map, task.python_interface.outputs)
    return {"values": values, "types": type_tree(values)}


if __name__ == "__main__":
    serve({"decode": decode})
