"""Values quoted in messages: their repr, cut to a length a message can carry."""

from __future__ import annotations


def short(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (an int too long to print says so)."""
    try:
        text = repr(value)
    except ValueError:  # an int over sys.get_int_max_str_digits()
        return "a number too long to print"
    return text if len(text) <= limit else text[: limit - 1] + "…"
