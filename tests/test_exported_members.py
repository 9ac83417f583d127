"""The public surface of `connector` is exactly `__all__`, sorted, and every name in it imports."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys

import pytest

import connector
from tests.support.venvs import ROOT


def test_all_is_sorted() -> None:
    assert connector.__all__ == sorted(connector.__all__)


def test_all_names_exactly_the_public_objects() -> None:
    for name in connector.__all__:  # the names imported on first use (issue 13) become attributes
        getattr(connector, name)
    # pytest rewrites the asserts of a distribution with a pytest11 entry point (connector.testing),
    # which adds names such as "@py_builtins" to the package: those are not identifiers.
    public = {name for name in vars(connector) if name.isidentifier() and not name.startswith("_")}
    # Submodules are attributes once imported; only `hookspecs` is part of the surface.
    submodules = {"cli", "hookspecs", "registry", "runner", "testing", "server"}
    public.discard("annotations")  # `from __future__ import annotations`
    assert set(connector.__all__) == (public - submodules) | {"hookspecs"}


def test_every_public_object_has_a_docstring() -> None:
    undocumented = [
        name
        for name in connector.__all__
        if callable(getattr(connector, name)) and not (getattr(connector, name).__doc__ or "").strip()
    ]
    assert undocumented == []


@pytest.mark.parametrize("name", connector.__all__)
def test_from_connector_import_works_for_every_name_in_a_fresh_process(name: str) -> None:
    # A fresh interpreter: in this one, earlier tests have imported most modules already.
    code = f"from connector import {name}; print(type({name}).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert (done.returncode, done.stderr) == (0, "")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"^module 'connector' has no attribute 'NoSuchName'$"):
        connector.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ImportError, match=r"cannot import name 'NoSuchName' from 'connector'"):
        exec("from connector import NoSuchName")


def test_dir_lists_every_public_name_before_it_is_imported() -> None:
    assert set(connector.__all__) <= set(dir(connector))


def test_the_type_checking_imports_are_the_names_imported_on_first_use() -> None:
    # Type checkers read the TYPE_CHECKING block, __getattr__ reads _LAZY: they must not drift apart.
    tree = ast.parse(inspect.getsource(connector))
    (block,) = [
        node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
    ]
    imported = {}
    for statement in block.body:
        assert isinstance(statement, ast.ImportFrom)
        module = "." * statement.level + (statement.module or "")
        for alias in statement.names:
            if statement.module is None:  # `from . import hookspecs`: the module itself
                imported[alias.asname or alias.name] = (f"{module}{alias.name}", None)
            else:
                imported[alias.asname or alias.name] = (module, alias.name)
    assert imported == connector._LAZY


def test_each_name_imported_on_first_use_is_its_module_object() -> None:
    for name, (module_name, attribute) in connector._LAZY.items():
        module = importlib.import_module(module_name, "connector")
        expected = module if attribute is None else getattr(module, attribute)
        assert getattr(connector, name) is expected, name
