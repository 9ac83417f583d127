"""The public surface of `connector.server` is exactly its sorted `__all__`."""

from __future__ import annotations

import connector.server


def test_all_is_sorted_and_names_exactly_the_public_objects() -> None:
    assert connector.server.__all__ == sorted(connector.server.__all__)
    # pytest's assertion rewriting may add "@py_..." names to a module it rewrote: not identifiers.
    names = {name for name in vars(connector.server) if name.isidentifier()}
    public = {name for name in names if not name.startswith("_")} - {"annotations"}
    assert set(connector.server.__all__) == public
