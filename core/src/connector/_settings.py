"""Registry settings read from ``CONNECTOR_*`` environment variables, and the service's default limits."""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from ._exceptions import ConfigurationError
from ._model import TaskCategory

ALLOW_VARIABLE = "CONNECTOR_ALLOW"
DENY_VARIABLE = "CONNECTOR_DENY"
PIN_VARIABLE = "CONNECTOR_PIN"
TRACE_VARIABLE = "CONNECTOR_TRACE"
IMPORT_TIMEOUT_VARIABLE = "CONNECTOR_IMPORT_TIMEOUT"
#: Seconds that importing and constructing one connector may take (issue 8).
DEFAULT_IMPORT_TIMEOUT = 60.0
#: Where connector keeps its state: the job journal, run outputs and the discovery cache.
HOME_VARIABLE = "CONNECTOR_HOME"

#: ``connector serve``'s default limits (issue 13; docs/operating.md). Threads for plain-``def``
#: hooks: an idle one was measured at 17 KiB of RSS (25 KiB once it made an HTTP call), so a
#: 2-core container affords many of them waiting on remotes.
DEFAULT_MAX_WORKERS = 128
#: Threads kept once started (``--workers``), unless ``--max-workers`` is less.
DEFAULT_WORKERS = 10
#: ``async def`` calls in flight, per connector and in all: above the 1000 concurrent webhook
#: calls one service is meant to take without refusing any.
DEFAULT_CONNECTOR_ASYNC_CALLS = 2000
DEFAULT_MAX_ASYNC_CALLS = 5000

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def connector_home(environ: Mapping[str, str] | None = None) -> Path:
    """connector's state directory: ``$CONNECTOR_HOME``, else the user's state directory.

    That is ``$XDG_STATE_HOME/connector`` (when set to an absolute path), else
    ``~/.local/state/connector`` on POSIX, and ``%LOCALAPPDATA%\\connector`` on Windows.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(HOME_VARIABLE, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "connector"
    xdg = env.get("XDG_STATE_HOME", "").strip()
    if xdg and os.path.isabs(xdg):  # the XDG spec says relative values are to be ignored
        return Path(xdg) / "connector"
    return Path.home() / ".local" / "state" / "connector"


def normalize_distribution(name: str) -> str:
    """A distribution name as PEP 503 compares them: lowercase, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclasses.dataclass(frozen=True)
class RegistrySettings:
    """What the operator chose about which connectors are served.

    ``allow`` and ``deny`` are glob patterns matched against a connector's entry-point name
    (``sensor``, ``sensor@1``), its category (``sensor@0``) and its distribution name (compared as
    PEP 503 normalizes names, so ``connector_foo`` matches ``connector-foo``). When ``allow`` is not
    empty only matching connectors are served; ``deny`` always wins. They apply to each claimant of a
    category before conflicts are looked at, so denying one of two claimants serves the other.
    ``pins`` chooses the distribution that serves a category; it is authoritative, even over a single
    claimant (but not over ``deny``). ``trace`` prints every hook call to stderr.
    ``import_timeout`` is how many seconds importing and constructing one connector may take
    before it is marked broken; a positive number.
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    pins: Mapping[TaskCategory, str] = dataclasses.field(default_factory=dict)
    trace: bool = False
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT

    def __post_init__(self) -> None:
        if not _is_positive_seconds(self.import_timeout):
            raise ConfigurationError(
                f"import_timeout must be a positive number of seconds, got {self.import_timeout!r}"
            )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RegistrySettings:
        """Read CONNECTOR_ALLOW, CONNECTOR_DENY, CONNECTOR_PIN, CONNECTOR_TRACE and CONNECTOR_IMPORT_TIMEOUT.

        Raises ``ConfigurationError`` naming the variable when a value cannot be used.
        """
        env = os.environ if environ is None else environ
        return cls(
            allow=_patterns(env.get(ALLOW_VARIABLE, "")),
            deny=_patterns(env.get(DENY_VARIABLE, "")),
            pins=_pins(env.get(PIN_VARIABLE, "")),
            trace=parse_flag(TRACE_VARIABLE, env.get(TRACE_VARIABLE, "")),
            import_timeout=_seconds(
                IMPORT_TIMEOUT_VARIABLE, env.get(IMPORT_TIMEOUT_VARIABLE, ""), DEFAULT_IMPORT_TIMEOUT
            ),
        )

    def excluded_by(
        self,
        category: TaskCategory | None,
        distribution: str | None,
        entry_point: str | None = None,
        *,
        provider: str | None = None,
    ) -> str | None:
        """Why the allow/deny lists exclude this connector, or None when they let it through.

        ``category`` is None for an entry point whose name is not a task type; its ``entry_point``
        name and distribution are matched then. ``provider`` is the distribution of the provider
        that bridges the connector, if one does: a pattern matching it matches every connector
        that provider provides.
        """
        names = {category.entry_point_name, str(category)} if category else set()
        if entry_point:
            names.add(entry_point)
        distributions = [normalize_distribution(d) for d in (distribution, provider) if d]

        def matches(pattern: str) -> bool:
            if any(fnmatch.fnmatchcase(name, pattern) for name in names):
                return True
            return any(fnmatch.fnmatchcase(d, normalize_distribution(pattern)) for d in distributions)

        denied = next((p for p in self.deny if matches(p)), None)
        if denied is not None:
            return f"excluded by {DENY_VARIABLE} ({denied!r})"
        if self.allow and not any(matches(p) for p in self.allow):
            return f"not in {ALLOW_VARIABLE}"
        return None


def _patterns(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _pins(value: str) -> dict[TaskCategory, str]:
    pins: dict[TaskCategory, str] = {}
    for item in _patterns(value):
        category_text, sep, distribution = item.partition("=")
        if not sep or not category_text.strip() or not distribution.strip():
            raise ConfigurationError(
                f"{PIN_VARIABLE}: {item!r} is not TYPE[@VERSION]=DISTRIBUTION "
                "(for example CONNECTOR_PIN='sensor=connector-sensor,sensor@1=connector-other')"
            )
        try:
            category = TaskCategory.parse(category_text)
        except ValueError as exc:
            raise ConfigurationError(f"{PIN_VARIABLE}: {exc}") from None
        chosen = normalize_distribution(distribution.strip())
        if pins.get(category, chosen) != chosen:
            raise ConfigurationError(
                f"{PIN_VARIABLE}: task type {category} is pinned twice, to {pins[category]} and to {chosen}; "
                "keep one"
            )
        pins[category] = chosen
    return pins


def _seconds(name: str, value: str, default: float) -> float:
    """A positive number of seconds; unset or empty is ``default``."""
    if not value.strip():
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not _is_positive_seconds(seconds):
        raise ConfigurationError(
            f"{name}: {value!r} is not a positive number of seconds (for example {name}=120)"
        )
    return seconds


def _is_positive_seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )


def parse_flag(name: str, value: str) -> bool:
    """Read a boolean setting (1/0, true/false, yes/no, on/off); ConfigurationError names `name`."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}: {value!r} is not a boolean (use 1 or 0)")
