"""FileSensor: succeeds once a path or glob under the roots matches; fails at its timeout from create."""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import connector

from ._exceptions import SensorRequestError
from ._roots import LocalTarget, SensorRoots, UrlTarget
from ._scan import ScanLimits, ScanResult, check_openable, scan
from ._text import short

_TASK = "file_sensor"
_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The longest timeout a sensor accepts, in seconds: 365 days.
MAX_TIMEOUT = 365 * 86400.0


@dataclasses.dataclass
class FileSensorMeta(connector.ResourceMeta):
    """What a ``file_sensor`` job needs to be polled from any process.

    ``created_at`` is the connector's clock at ``create`` (seconds since the epoch), so the
    timeout is measured from the creation even when another replica answers ``get``. ``get``
    checks every field again (the path against the roots too): the meta comes back from the caller.
    """

    path: str
    created_at: float
    timeout: float | None = None


def parse_timeout(value: object) -> float | None:
    """Seconds from a custom field: a number, or a string like ``"90"``, ``"90s"``, ``"5m"``, ``"1d"``.

    None (or a missing field) means no timeout. Raises ``SensorRequestError`` (a ``ValueError``
    the service answers with INVALID_ARGUMENT) for anything else, for a timeout that is not
    positive, and for one over ``MAX_TIMEOUT`` (365 days).
    """
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        # Clamped as an int: one too large for a float is still a number over the limit.
        seconds = float(max(-1, min(value, int(MAX_TIMEOUT) + 1)))
    elif isinstance(value, float):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match["value"]) * _UNIT_SECONDS[match["unit"] or "s"]
    if seconds is None or not math.isfinite(seconds):
        raise SensorRequestError(
            f"{_TASK}: custom field 'timeout' must be seconds (a number) or a duration like "
            f"'90s', '5m', '2h' or '1d'; got {short(value)}",
            field="timeout",
        )
    if seconds <= 0:
        raise SensorRequestError(
            f"{_TASK}: custom field 'timeout' must be positive; got {short(value)}", field="timeout"
        )
    if seconds > MAX_TIMEOUT:
        raise SensorRequestError(
            f"{_TASK}: custom field 'timeout' must be at most 365d ({MAX_TIMEOUT:.0f}s); got {short(value)}",
            field="timeout",
        )
    return float(seconds)


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _checked_meta(meta: FileSensorMeta) -> tuple[float, float | None]:
    """The creation time and timeout of a meta that came back from a caller, checked like a template's."""
    created_at, timeout = meta.created_at, meta.timeout
    number = isinstance(created_at, (int, float)) and not isinstance(created_at, bool)
    if not number or not math.isfinite(created_at):
        raise SensorRequestError(
            f"{_TASK}: the resource meta's created_at must be a finite number of seconds; got "
            f"{short(created_at)}",
            field="resource_meta.created_at",
        )
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not (0 < timeout <= MAX_TIMEOUT)  # NaN compares false: refused too
    ):
        raise SensorRequestError(
            f"{_TASK}: the resource meta's timeout must be a positive number of seconds, at most "
            f"{MAX_TIMEOUT:.0f}; got {short(timeout)}",
            field="resource_meta.timeout",
        )
    return float(created_at), None if timeout is None else float(timeout)


class FileSensor(connector.AsyncConnector):
    """Waits until a path exists: a local path or glob, or an fsspec URL when fsspec is installed.

    Only what ``CONNECTOR_SENSOR_ROOTS`` lists may be watched (see ``SensorRoots``); anything else
    is refused with ``PathNotAllowedError``, at ``create`` and again at ``get``. The path is the
    input ``path`` or the custom field ``path``. The custom field ``timeout`` (seconds, or
    ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"``; at most 365 days) fails the job once that long has
    passed since ``create``; without it the sensor waits until the workflow engine gives up.

    ``clock`` returns seconds since the epoch (``time.time`` unless a test gives a fake one);
    ``roots`` default to ``SensorRoots.from_environment()``, read here, so a bad setting makes the
    connector broken with a ``SensorRootsError``; ``scan_limits`` bound each ``get``'s glob matching.
    """

    name = "File sensor"
    task_type_name = "file_sensor"
    metadata_type = FileSensorMeta
    custom_fields = (
        connector.Field(
            "path", str, help="The path, glob or fsspec URL to wait for, if the input 'path' is not given."
        ),
        connector.Field(
            "timeout",
            (float, str),
            help="Fail this long after create: seconds, or '90s', '5m', '2h', '1d'; at most 365d.",
        ),
    )
    input_fields = (
        connector.Field("path", str, help="The path to wait for; wins over the custom field 'path'."),
    )

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        roots: SensorRoots | None = None,
        scan_limits: ScanLimits | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.roots = SensorRoots.from_environment() if roots is None else roots
        self.scan_limits = ScanLimits() if scan_limits is None else scan_limits

    def _target(self, path: object, field: str) -> LocalTarget | UrlTarget:
        """The path checked against the roots on its text; an fsspec URL also against what is installed."""
        target = self.roots.target(path, task=_TASK, field=field)
        if isinstance(target, UrlTarget):
            check_openable(target)
        return target

    def _scan(self, target: LocalTarget | UrlTarget) -> ScanResult:
        return scan(self.roots, target, self.scan_limits)

    def create(self, task_template: connector.TaskTemplate, inputs: Mapping[str, Any]) -> FileSensorMeta:
        """Check the path and timeout and remember when the wait started; nothing is started remotely."""
        path = inputs.get("path", task_template.custom.get("path"))
        if path is None:
            raise SensorRequestError(
                f"{_TASK} needs a path: pass the input 'path' or set the custom field 'path'", field="path"
            )
        target = self._target(path, "path")
        if isinstance(target, LocalTarget):
            # A symlink out of the roots is refused now rather than at the first get.
            self._scan(dataclasses.replace(target, pattern=()))
        timeout = parse_timeout(task_template.custom.get("timeout"))
        return FileSensorMeta(target.asked, self.clock(), timeout)

    def get(self, resource_meta: FileSensorMeta) -> connector.Resource:
        """SUCCEEDED once something matches; FAILED once the timeout has passed; RUNNING before.

        The answer never says what matched, only whether something did; a glob whose scan
        reached its limits (``scan_limits``) is RUNNING with a message that says so.
        """
        created_at, timeout = _checked_meta(resource_meta)
        target = self._target(resource_meta.path, "resource_meta.path")
        path = target.asked
        scan = self._scan(target)
        if scan.matched:
            message = f"a path matches {path!r}" if _is_glob(target) else f"{path!r} exists"
            return connector.Resource(connector.Phase.SUCCEEDED, message=message)
        waited = max(0.0, self.clock() - created_at)
        cut = (
            f"; each scan stops at its limit of {scan.limit} ({scan.scanned} looked at), so narrow the glob"
            if scan.limit
            else ""
        )
        if timeout is not None and waited >= timeout:
            return connector.Resource(
                connector.Phase.FAILED,
                message=f"{_TASK} timed out after {_seconds(timeout)}: nothing matches {path!r}{cut}",
            )
        limit = f" of {_seconds(timeout)}" if timeout is not None else ""
        message = f"waiting for {path!r} ({_seconds(round(waited, 3))}{limit}){cut}"
        return connector.Resource(connector.Phase.RUNNING, message=message)

    def delete(self, resource_meta: FileSensorMeta) -> None:
        """Nothing runs remotely, so there is nothing to cancel; always succeeds (touches nothing)."""


def _is_glob(target: LocalTarget | UrlTarget) -> bool:
    return bool(target.pattern) if isinstance(target, LocalTarget) else target.is_glob
