"""The public surface of `connector` is exactly `__all__`, sorted."""

from __future__ import annotations

import connector


def test_all_is_sorted() -> None:
    assert connector.__all__ == sorted(connector.__all__)


def test_all_names_exactly_the_public_objects() -> None:
    public = {name for name in vars(connector) if not name.startswith("_")}
    # Submodules are attributes once imported; only `hookspecs` is part of the surface.
    submodules = {"cli", "hookspecs", "testing", "server"}
    public.discard("annotations")  # `from __future__ import annotations`
    assert set(connector.__all__) == (public - submodules) | {"hookspecs"}
