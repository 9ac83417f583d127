"""Real flytekit task objects from a JSON description: ``WebhookTask`` and ``FileSensor``.

``{"kind": "webhook", "name": ..., "url": ..., "method": ..., "headers": ..., "data": ...,
"dynamic_inputs": {"s": "str"}, "show_data": ..., "show_url": ..., "timeout": seconds}`` builds
``flytekit.extras.webhook.WebhookTask`` with exactly those arguments (those left out keep
flytekit's defaults; a ``timeout`` that is a float becomes a ``timedelta``, an int stays an int, as
a user may write either); ``{"kind": "file_sensor", "name": ...}`` builds
``flytekit.sensor.FileSensor``.
"""

from __future__ import annotations

import datetime
from typing import Any

from flytekit.extras.webhook import WebhookTask
from flytekit.sensor import FileSensor

TYPES: dict[str, Any] = {
    "datetime": datetime.datetime,
    "timedelta": datetime.timedelta,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "dict": dict,
    "list[int]": list[int],
    "list[str]": list[str],
}


def native_inputs(spec: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """JSON inputs as the task's Python types: a datetime from ISO 8601 text, a timedelta from seconds."""
    types = spec.get("dynamic_inputs", {})
    native = dict(inputs)
    for name, value in inputs.items():
        if types.get(name) == "datetime":
            native[name] = datetime.datetime.fromisoformat(value)
        elif types.get(name) == "timedelta":
            native[name] = datetime.timedelta(seconds=value)
    return native


def build(spec: dict[str, Any]) -> Any:
    spec = dict(spec)
    kind = spec.pop("kind")
    if kind == "file_sensor":
        return FileSensor(**spec)
    if kind != "webhook":
        raise ValueError(f"unknown task kind {kind!r}")
    if "dynamic_inputs" in spec:
        spec["dynamic_inputs"] = {
            name: TYPES[type_name] for name, type_name in spec["dynamic_inputs"].items()
        }
    if isinstance(spec.get("timeout"), float):
        spec["timeout"] = datetime.timedelta(seconds=spec["timeout"])
    return WebhookTask(**spec)
