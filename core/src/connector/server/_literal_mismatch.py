"""The failure raised inside the literal conversions (``Mismatch``) and the helpers that word it."""

from __future__ import annotations

# protobuf refuses to parse messages nested deeper than 100; values built in Python get the same limit
# (a list that contains itself must fail with a clear error, not a RecursionError).
MAX_DEPTH = 100


class Mismatch(Exception):
    """A value does not fit a type; ``path`` collects the list indexes and map keys on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[int | str] = []


def shorten(text: str, limit: int) -> str:
    # Keys and enum values come from the request; an error message must stay short whatever they are.
    return text if len(text) <= limit else text[: limit - 3] + "..."


def where(path: list[int | str]) -> str:
    steps = [f"[{shorten(repr(step), 40)}]" for step in reversed(path)]
    if len(steps) > 8:
        steps[4:-3] = ["..."]
    return "".join(steps)


def python_type(value: object) -> str:
    return f"a Python {type(value).__name__}"
