"""connector-sensor: the ``file_sensor`` connector, which waits until a path, glob or fsspec URL exists.

What it may watch is limited to ``CONNECTOR_SENSOR_ROOTS`` (``SensorRoots``).
"""

from __future__ import annotations

from ._exceptions import PathNotAllowedError as PathNotAllowedError
from ._exceptions import SensorRequestError as SensorRequestError
from ._exceptions import SensorRootsError as SensorRootsError
from ._file_sensor import MAX_TIMEOUT as MAX_TIMEOUT
from ._file_sensor import FileSensor as FileSensor
from ._file_sensor import FileSensorMeta as FileSensorMeta
from ._file_sensor import parse_timeout as parse_timeout
from ._roots import ROOTS_VARIABLE as ROOTS_VARIABLE
from ._roots import SensorRoots as SensorRoots
from ._scan import ScanLimits as ScanLimits

__all__ = [
    "MAX_TIMEOUT",
    "ROOTS_VARIABLE",
    "FileSensor",
    "FileSensorMeta",
    "PathNotAllowedError",
    "ScanLimits",
    "SensorRequestError",
    "SensorRoots",
    "SensorRootsError",
    "parse_timeout",
]
