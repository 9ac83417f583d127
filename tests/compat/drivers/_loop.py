"""The JSON-lines loop every driver runs: one request per line on stdin, one answer per line on stdout.

Drivers run inside a peer's virtualenv (flytekit's or flyte's), never in the test process. Whatever
the peer prints goes to stderr, so stdout carries answers only. An answer is ``{"ok": ...}`` or
``{"error": "..."}``; bytes travel as base64 text.
"""

from __future__ import annotations

import base64
import json
import sys
import traceback
from collections.abc import Callable
from typing import Any


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def type_tree(value: Any) -> Any:
    """The Python type names of a value, nested as the value is (``{"a": "int", "b": ["str"]}``)."""
    if isinstance(value, dict):
        return {str(key): type_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [type_tree(item) for item in value]
    return type(value).__name__


def serve(handlers: dict[str, Callable[[dict[str, Any]], Any]]) -> None:
    """Answer requests ``{"op": NAME, ...}`` with ``handlers[NAME](request)`` until stdin closes."""
    answers = sys.stdout
    sys.stdout = sys.stderr
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            answer = {"ok": handlers[request["op"]](request)}
        except Exception as exc:  # the test reads the error; the driver keeps serving
            answer = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
