"""``-v/--verbose`` and ``-q/--quiet``: how much of the ``connector`` log a command writes to stderr."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., Any])

#: The log levels from the most to the least verbose; each -v moves one step left, each -q one right.
LEVELS = ("debug", "info", "warning", "error", "critical")
#: Where commands other than ``serve`` start: their output already says what the log would (the
#: table shows a broken plugin's reason, ``run`` shows a journal problem), so by default the log
#: adds nothing and -v is the way to see the warnings behind it (issue 12).
COMMAND_LEVEL = "error"
_COUNT = "connector.verbosity"
_HANDLER = "connector.log-handler"
_LOGGER = "connector"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _count(sign: int) -> Callable[[click.Context, click.Parameter, int], None]:
    def add(ctx: click.Context, param: click.Parameter, value: int) -> None:
        # Context.meta is shared by a command and the groups above it: `connector -v list -v` is 2.
        ctx.meta[_COUNT] = ctx.meta.get(_COUNT, 0) + sign * (value or 0)

    return add


def verbosity_flags(f: F) -> F:
    """Add ``-v/--verbose`` and ``-q/--quiet`` (repeatable) to a command or group; nothing else."""
    quiet = click.option(
        "-q",
        "--quiet",
        count=True,
        expose_value=False,
        callback=_count(-1),
        help="Show less of the log on stderr: one level less per -q.",
    )
    verbose = click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_count(+1),
        help="Show more of the log on stderr: one level more per -v.",
    )
    return verbose(quiet(f))


def verbosity_options(f: F) -> F:
    """Give a command ``-v``/``-q`` and run it with the ``connector`` log on stderr at that level.

    The level starts at ``error`` (``serve`` moves the start to its ``--log-level`` with
    ``set_base_level``) and counts the flags given before and after the subcommand's name.
    """

    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        with connector_log(click.get_current_context()):
            return f(*args, **kwargs)

    return verbosity_flags(cast(F, run))


def verbosity(ctx: click.Context) -> int:
    """How many more -v than -q were given, on the groups and the command together."""
    count: int = ctx.meta.get(_COUNT, 0)
    return count


def level_name(base: str, shift: int) -> str:
    """``base`` moved ``shift`` steps towards debug (positive) or critical (negative), clamped."""
    index = LEVELS.index(base.lower()) - shift
    return LEVELS[min(max(index, 0), len(LEVELS) - 1)]


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The stderr handler a command installs (a class of its own, to be found and replaced)."""


@contextmanager
def connector_log(ctx: click.Context) -> Iterator[None]:
    """Log ``connector`` records to stderr at the command's level while the command runs.

    The logger's own level is only ever lowered (so a level chosen by whoever embeds the command,
    or pytest's capture, keeps seeing what it saw) and both are put back afterwards.
    """
    logger = logging.getLogger(_LOGGER)
    before = logger.level
    for handler in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(handler)
    handler = _Handler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    ctx.meta[_HANDLER] = handler
    set_base_level(ctx, COMMAND_LEVEL)
    try:
        yield
    finally:
        handler.flush()
        logger.removeHandler(handler)
        logger.setLevel(before)


def set_base_level(ctx: click.Context, base: str) -> str:
    """Set the command's log level to ``base`` shifted by its -v/-q; the level's name."""
    name = level_name(base, verbosity(ctx))
    level = logging.getLevelName(name.upper())
    handler: logging.Handler | None = ctx.meta.get(_HANDLER)
    if handler is not None:
        handler.setLevel(level)
    logger = logging.getLogger(_LOGGER)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    return name
