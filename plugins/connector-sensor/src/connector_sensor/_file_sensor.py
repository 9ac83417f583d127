"""FileSensor: succeeds once a path or glob matches, fails at its timeout counted from create."""

from __future__ import annotations

import dataclasses
import glob
import math
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import connector

_URL = re.compile(r"^(?P<protocol>[A-Za-z][A-Za-z0-9+.\-]*)://")
_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: At most this many matches are listed in the resource's custom info.
MAX_LISTED_MATCHES = 100


@dataclasses.dataclass
class FileSensorMeta(connector.ResourceMeta):
    """What a ``file_sensor`` job needs to be polled from any process.

    ``created_at`` is the connector's clock at ``create`` (seconds since the epoch), so the
    timeout is measured from the creation even when another replica answers ``get``.
    """

    path: str
    created_at: float
    timeout: float | None = None


def parse_timeout(value: object) -> float | None:
    """Seconds from a custom field: a number, or a string like ``"90"``, ``"90s"``, ``"5m"``, ``"1d"``.

    None (or a missing field) means no timeout. Raises ``ValueError`` for anything else, and for a
    timeout that is not positive.
    """
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match["value"]) * _UNIT_SECONDS[match["unit"] or "s"]
    if seconds is None or not math.isfinite(seconds):
        raise ValueError(
            "file_sensor: custom field 'timeout' must be seconds (a number) or a duration like "
            f"'90s', '5m', '2h' or '1d'; got {value!r}"
        )
    if seconds <= 0:
        raise ValueError(f"file_sensor: custom field 'timeout' must be positive; got {value!r}")
    return seconds


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _has_magic(path: str) -> bool:
    return any(char in path for char in "*?[")


def _protocol(path: str) -> str | None:
    match = _URL.match(path)
    return match["protocol"].lower() if match else None


def _fsspec() -> Any:
    try:
        import fsspec  # imported here: it is an optional extra and costs time at import
    except ImportError:
        return None
    return fsspec


def _local_path(url: str) -> str:
    """The local path of a ``file://`` URL (percent-decoded); another host's is refused."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(
            f"file_sensor: {url!r} names the host {parts.netloc!r}; a file:// URL must be local "
            "(file:///path)"
        )
    return urllib.request.url2pathname(parts.path)


def _check_path(path: str) -> None:
    """Refuse at create what get could never look at: a URL without fsspec or with an unknown protocol."""
    protocol = _protocol(path)
    if protocol == "file":
        _local_path(path)
    if protocol in (None, "file"):
        return
    fsspec = _fsspec()
    if fsspec is None:
        raise ValueError(
            f"file_sensor: {path!r} is an fsspec URL and fsspec is not installed; install it with: "
            "pip install 'connector-sensor[fsspec]'"
        )
    try:
        fsspec.get_filesystem_class(protocol)
    except (ValueError, ImportError) as exc:
        raise ValueError(f"file_sensor: cannot open {path!r}: {exc}") from exc


def find_matches(path: str) -> list[str]:
    """The paths that exist and match ``path`` (a local path, a glob, or an fsspec URL), sorted."""
    protocol = _protocol(path)
    if protocol == "file":
        path = _local_path(path)
        protocol = None
    if protocol is None:
        local = os.path.expanduser(path)
        if _has_magic(local):
            return sorted(glob.glob(local, recursive=True))
        return [local] if os.path.exists(local) else []
    fsspec = _fsspec()
    if fsspec is None:  # create refused this already; a replica without fsspec says so again
        _check_path(path)
    fs, root = fsspec.core.url_to_fs(path)
    if _has_magic(root):
        return sorted(fs.unstrip_protocol(p) for p in fs.glob(root))
    return [path] if fs.exists(root) else []


class FileSensor(connector.AsyncConnector):
    """Waits until a path exists: a local path or glob, or any fsspec URL when fsspec is installed.

    The path is the input ``path`` or the custom field ``path``. The custom field ``timeout``
    (seconds, or ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"``) fails the job once that long has passed
    since ``create``; without it the sensor waits until the workflow engine gives up. ``clock``
    returns seconds since the epoch (``time.time`` unless a test gives a fake one).
    """

    name = "File sensor"
    task_type_name = "file_sensor"
    metadata_type = FileSensorMeta

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.clock = clock

    def create(self, task_template: connector.TaskTemplate, inputs: Mapping[str, Any]) -> FileSensorMeta:
        """Check the path and timeout and remember when the wait started; nothing is started remotely."""
        path = inputs.get("path", task_template.custom.get("path"))
        if path is None:
            raise ValueError("file_sensor needs a path: pass the input 'path' or set the custom field 'path'")
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"file_sensor: the path must be a non-empty string; got {path!r}")
        _check_path(path)
        return FileSensorMeta(path, self.clock(), parse_timeout(task_template.custom.get("timeout")))

    def get(self, resource_meta: FileSensorMeta) -> connector.Resource:
        """SUCCEEDED once something matches; FAILED once the timeout has passed; RUNNING before."""
        path, timeout = resource_meta.path, resource_meta.timeout
        matches = find_matches(path)
        if matches:
            shown = f"{path!r} exists" if matches == [path] else f"{len(matches)} path(s) match {path!r}"
            return connector.Resource(
                connector.Phase.SUCCEEDED,
                message=shown,
                custom_info={"matches": matches[:MAX_LISTED_MATCHES]},
            )
        waited = max(0.0, self.clock() - resource_meta.created_at)
        if timeout is not None and waited >= timeout:
            return connector.Resource(
                connector.Phase.FAILED,
                message=f"file_sensor timed out after {_seconds(timeout)}: nothing matches {path!r}",
            )
        limit = f" of {_seconds(timeout)}" if timeout is not None else ""
        return connector.Resource(
            connector.Phase.RUNNING, message=f"waiting for {path!r} ({_seconds(round(waited, 3))}{limit})"
        )

    def delete(self, resource_meta: FileSensorMeta) -> None:
        """Nothing runs remotely, so there is nothing to cancel; always succeeds."""
