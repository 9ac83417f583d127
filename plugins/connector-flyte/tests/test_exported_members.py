"""connector_flyte's ``__all__`` is sorted and names exactly its public objects."""

from __future__ import annotations

import connector_flyte


def _isort_key(name: str) -> tuple[int, str]:
    """The order of ruff's RUF022: CONSTANTS, then Classes, then functions; each alphabetical."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in vars(connector_flyte) if not name.startswith("_")} - {"annotations"}
    assert connector_flyte.__all__ == sorted(connector_flyte.__all__, key=_isort_key)
    assert set(connector_flyte.__all__) == public
