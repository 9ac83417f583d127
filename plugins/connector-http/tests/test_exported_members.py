"""The public surface of `connector_http` is exactly `__all__`, sorted and documented."""

from __future__ import annotations

import types

import connector_http


def test_all_is_sorted() -> None:
    assert connector_http.__all__ == sorted(connector_http.__all__)


def test_all_names_exactly_the_public_objects() -> None:
    public = {
        name
        for name, value in vars(connector_http).items()
        if name.isidentifier() and not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.discard("annotations")  # `from __future__ import annotations`
    assert set(connector_http.__all__) == public


def test_every_public_object_has_a_docstring() -> None:
    assert [
        name for name in connector_http.__all__ if not (getattr(connector_http, name).__doc__ or "").strip()
    ] == []
