"""connector_sensor's modules share helpers through public names only (``_text.short``, not ``_short``)."""

from __future__ import annotations

import ast
from pathlib import Path

import connector_sensor

SOURCES = sorted(Path(connector_sensor.__file__).parent.glob("*.py"))


def test_no_module_imports_a_private_name_of_another() -> None:
    private = [
        f"{path.name}: from {'.' * node.level}{node.module} import {alias.name}"
        for path in SOURCES
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level and node.module  # not "from . import _module"
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []
