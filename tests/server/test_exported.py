"""The public surface of `connector.server` is exactly its sorted `__all__`."""

from __future__ import annotations

import connector.server


def test_all_is_sorted_and_names_exactly_the_public_objects() -> None:
    assert connector.server.__all__ == sorted(connector.server.__all__)
    public = {name for name in vars(connector.server) if not name.startswith("_")} - {"annotations"}
    assert set(connector.server.__all__) == public
