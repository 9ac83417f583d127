"""connector-sensor: the ``file_sensor`` connector, which waits until a path, glob or fsspec URL exists."""

from __future__ import annotations

from ._file_sensor import FileSensor as FileSensor
from ._file_sensor import FileSensorMeta as FileSensorMeta
from ._file_sensor import parse_timeout as parse_timeout

__all__ = ["FileSensor", "FileSensorMeta", "parse_timeout"]
