"""The public surface of `connector` is exactly `__all__`, sorted."""

from __future__ import annotations

import connector


def test_all_is_sorted() -> None:
    assert connector.__all__ == sorted(connector.__all__)


def test_all_names_exactly_the_public_objects() -> None:
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
