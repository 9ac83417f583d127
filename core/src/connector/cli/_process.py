"""Whether this process ends when the ``connector`` command returns (the console script says so)."""

from __future__ import annotations

_ends_with_command = False


def process_ends_with_command() -> None:
    """Say that nothing runs after the command (``main`` does): ``run`` keeps late signals ignored."""
    global _ends_with_command
    _ends_with_command = True


def ends_with_command() -> bool:
    """Whether ``process_ends_with_command`` was called: False when the CLI is invoked in process."""
    return _ends_with_command
